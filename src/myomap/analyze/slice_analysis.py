"""The pure per-slice step of ``analyze``: a prediction becomes contours, QC, the AHA reference point and values.

:func:`analyse_slice` works in memory only: it reads and writes no file.
What it needs to know about the slice besides its pixels (map type, level,
contrast, AHA direction, orientation, a reference point given with the
map) travels in :class:`SliceFacts`; the per-run settings in
:class:`SliceSettings`.  A slice that cannot be measured is a result with
``error`` set, not an exception.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from types import MappingProxyType

import numpy as np
from skimage.measure import points_in_poly

from myomap.analyze.qc import SPREAD_THRESHOLD_MM, QualityReport, assess
from myomap.conventions import Contrast, MapType, SlicePosition
from myomap.geometry.contours import ON_EDGES, SliceContours, mask_to_contours
from myomap.geometry.masks import contours_to_mask
from myomap.io.contours import Contours
from myomap.quantify.plausibility import plausibility_reasons
from myomap.quantify.reference import RV_ACROSS_THE_HEADER, estimate_rv_insertion, insertion_at_angle, insertion_from_header
from myomap.quantify.values import DEFAULT_EROSION_MARGIN_PX, VALID_RANGE_MS, blood_like_segments, slice_values

GIVEN_REFERENCE = "contours-json"  # the reference method of a point given with the map
NATIVE_REFERENCE = "native-map"  # the reference method of a post-contrast map given its slice's native map's direction
MIRRORED = (
    "the RV lies where the DICOM orientation puts the lateral wall: pixels mirrored against their header "
    "(or a heart on the right)? AHA segments follow the header and would be mirrored"
)
"""The review reason of a slice whose RV blood pool lies against its header (:data:`~myomap.quantify.reference.RV_ACROSS_THE_HEADER`)."""


@dataclass(frozen=True)
class SliceSettings:
    """The settings of a run that change how one slice is analysed (see :class:`~myomap.analyze.settings.AnalyzeConfig`)."""

    erosion_margin_px: float = DEFAULT_EROSION_MARGIN_PX
    spread_threshold_mm: float = SPREAD_THRESHOLD_MM


@dataclass(frozen=True)
class SliceFacts:
    """What the header says about a slice, as far as its analysis needs it.

    ``clockwise``: the image is seen from the base (AHA segments run
    clockwise on screen).  ``orientation`` is the DICOM
    ImageOrientationPatient (None: unknown).  ``given_reference`` is an
    anterior RV insertion point (pixel x, y) that came with the map, e.g.
    from a contours JSON beside it; it is used unless it lies inside the
    predicted blood pool (it was drawn on other contours).  ``body_plane``
    names the body plane (transverse, coronal, sagittal) the image lies in
    by its header (:func:`myomap.geometry.view_plane.body_plane`; None: an
    oblique plane, as a short-axis one, or unknown); the slice is then
    flagged for review.  ``native_reference_deg`` is the direction
    (degrees counter-clockwise on this image, about the LV centre) of the
    RV insertion found on a native map of the same slice: a post-contrast
    map's own estimate is less sure (its blood and myocardium lie close
    together), and native and post values of one segment must come from
    one wall.  ``native_left_out`` are the segments that held blood on that
    native map (:func:`myomap.quantify.values.blood_like_segments`): left
    out here too, where blood and myocardium are too close to tell.
    ``cine``: a cardiac phase of a cine given ``--map-type``, whose pixels
    are signal, not ms (their level is not held to the map type's range,
    and no pixel is out of range).  ``dicom_geometry``: the orientation is
    a DICOM header's, not a NIfTI affine (often a converter's placeholder).
    """

    map_type: MapType
    slice_position: SlicePosition = "mid"
    contrast: Contrast = "native"
    clockwise: bool = False
    orientation: tuple[float, ...] | None = None
    given_reference: tuple[float, float] | None = None
    body_plane: str | None = None
    native_reference_deg: float | None = None
    native_left_out: tuple[int, ...] = ()
    cine: bool = False
    dicom_geometry: bool = True


@dataclass(frozen=True)
class RegionValues:
    """T1 or T2 statistics of one region of one slice (a row of :func:`~myomap.quantify.values.slice_values`).

    ``stats`` holds the :func:`~myomap.quantify.values.region_stats` keys
    (``median_ms``, ``n_pixels``...) and ``few_pixels``; ``values_ms`` the
    region's usable pixel values, for pooling over a patient's slices.
    """

    slice_position: str
    region: str
    segment: int | None
    eroded: bool
    stats: Mapping[str, float | bool]
    values_ms: np.ndarray = field(repr=False)

    @classmethod
    def from_row(cls, row: Mapping) -> RegionValues:
        fixed = ("slice", "region", "segment", "eroded", "values_ms")
        stats = MappingProxyType({k: v for k, v in row.items() if k not in fixed})
        return cls(row["slice"], row["region"], row["segment"], row["eroded"], stats, row["values_ms"])

    def get(self, key: str, default=math.nan):
        """A statistic by name (``default`` when the region has none of that name)."""
        return self.stats.get(key, default)

    @property
    def median_ms(self) -> float:
        return self.stats["median_ms"]

    def as_row(self) -> dict:
        """The row as :func:`~myomap.quantify.values.slice_values` gives it (for :func:`~myomap.quantify.values.patient_values`)."""
        return {"slice": self.slice_position, "region": self.region, "segment": self.segment, "eroded": self.eroded,
                **self.stats, "values_ms": self.values_ms}  # fmt: skip


@dataclass(frozen=True)
class SliceAnalysis:
    """What one slice gave: the model's labels, the fitted contours, QC, the AHA reference and the values.

    ``error`` says why the slice could not be measured (None: it was).
    ``contours`` (the fitted ones, with the reference point and spacing)
    is None when no complete pair of contours was found or the reference
    point could not be placed; ``measured_labels`` is the region the
    values are measured in (the fitted contours rasterised: 0 background,
    1 myocardium, 2 blood pool), None without contours.  ``left_out`` are
    the AHA segments whose pixels count in no value: they held blood, not
    wall, here or on the native map of the slice.
    """

    labels: np.ndarray
    fitted: SliceContours
    qc: QualityReport
    contours: Contours | None = None
    reference_method: str = ""
    values: tuple[RegionValues, ...] = ()
    error: str | None = None
    left_out: tuple[int, ...] = ()

    @property
    def measured_labels(self) -> np.ndarray | None:
        if self.contours is None:
            return None
        return contours_to_mask(self.contours.epi, self.contours.endo, self.labels.shape)

    def global_values(self, *, eroded: bool = True) -> RegionValues | None:
        """The ``global`` myocardial row (eroded or not), None without values."""
        return next((v for v in self.values if v.region == "global" and v.eroded == eroded), None)


def analyse_slice(
    pixels: np.ndarray, spacing_mm: tuple[float, float], prediction, settings: SliceSettings, facts: SliceFacts
) -> SliceAnalysis:
    """Contours, QC, AHA reference point and values of one slice from the model's prediction; no file is read or written.

    ``pixels`` is the map in ms, ``spacing_mm`` (row, col); ``prediction``
    has ``labels`` (0 background, 1 myocardium, 2 blood pool) and, with
    test-time augmentation, ``agreement`` and ``members`` (see
    :class:`~myomap.model.inference.Prediction`).  A slice whose labels
    give no complete pair of contours, or whose regions cannot be measured,
    gives a result with ``error`` set.
    """
    fitted = mask_to_contours(prediction.labels, ON_EDGES)
    qc = assess(
        prediction.labels, fitted, spacing_mm=spacing_mm, agreement=prediction.agreement, members=prediction.members,
        spread_threshold_mm=settings.spread_threshold_mm,
    )  # fmt: skip
    doubts = getattr(prediction, "doubts", ())
    if doubts:  # the image check kept the ring but doubted it (myomap.model.evidence)
        qc = replace(qc, review=True, reasons=qc.reasons + ("is this the left ventricle? " + "; ".join(doubts),))
    if facts.body_plane:
        reason = (
            f"{facts.body_plane} image plane, not a short-axis view: check that it shows the heart (AHA segments assume a short-axis slice)"
        )
        qc = replace(qc, review=True, reasons=qc.reasons + (reason,))
    analysis = SliceAnalysis(prediction.labels, fitted, qc)
    if not fitted.complete:
        return replace(analysis, error="no myocardium found on this slice (" + "; ".join(qc.reasons) + ")")
    epi, endo = fitted.epi.points, fitted.endo.points
    try:
        reference, method = _reference_point(pixels, epi, endo, spacing_mm, facts)
    except ValueError as exc:
        return replace(analysis, error=str(exc))
    analysis = replace(analysis, contours=fitted.to_contours(reference, spacing_mm), reference_method=method)
    if method == RV_ACROSS_THE_HEADER:
        qc = replace(qc, review=True, reasons=qc.reasons + (MIRRORED,))
        analysis = replace(analysis, qc=qc)
    measure = partial(
        slice_values, pixels, epi, endo, reference, facts.slice_position, spacing_mm=spacing_mm,
        erosion_margin_px=settings.erosion_margin_px, clockwise=facts.clockwise, valid_range_ms=None if facts.cine else VALID_RANGE_MS[facts.map_type],
        return_pixels=True,
    )  # fmt: skip
    try:
        rows = measure(left_out=facts.native_left_out)
        # Segments holding blood (a basal ring closed across the outflow tract) count in no region.
        left_out = tuple(sorted({*facts.native_left_out, *(blood_like_segments(rows) if facts.contrast == "native" else ())}))
        rows = measure(left_out=left_out) if left_out != facts.native_left_out else rows
    except ValueError as exc:
        return replace(analysis, error=str(exc))
    values = tuple(RegionValues.from_row(row) for row in rows)
    return replace(analysis, values=values, qc=with_plausibility(qc, facts, values), left_out=left_out)


def with_plausibility(qc: QualityReport, facts: SliceFacts, values: tuple[RegionValues, ...]) -> QualityReport:
    """``qc`` flagged for review when the myocardial values do not fit the map type and contrast, or look contaminated.

    A cine's values are signal, not ms: their level is not held to a map type's range (their spread still is).
    """
    stats = next((v.stats for v in values if v.region == "global" and v.eroded), {})
    reasons = plausibility_reasons(facts.map_type, facts.contrast, stats, cine=facts.cine)
    return replace(qc, review=True, reasons=qc.reasons + reasons) if reasons else qc


def _reference_point(
    pixels: np.ndarray, epi: np.ndarray, endo: np.ndarray, spacing_mm: tuple[float, float], facts: SliceFacts
) -> tuple[tuple[float, float] | None, str]:
    """The anterior RV insertion point: the given one unless it lies inside the predicted blood pool, else the native map's, else estimated."""
    given = facts.given_reference
    if given is not None and not points_in_poly(np.array([given], float), np.asarray(endo, float))[0]:
        return given, GIVEN_REFERENCE
    if facts.native_reference_deg is not None:
        return insertion_at_angle(epi, endo, facts.native_reference_deg, spacing_mm=spacing_mm), NATIVE_REFERENCE
    point, method = estimate_rv_insertion(pixels, epi, endo, spacing_mm=spacing_mm, orientation=facts.orientation)
    if facts.cine and facts.dicom_geometry and method == RV_ACROSS_THE_HEADER:
        # A bSSFP cine's fat is as bright as its blood: a "pool" where a DICOM header puts the lateral wall is most
        # likely epicardial fat, not mirrored pixels (8 of 36 phantom cine frames off by over 30 degrees, 4 of them
        # this way; 1 of 36 of the same slices' T1 maps), so the header decides.  A NIfTI affine may be a
        # placeholder: there the image's pool stands, flagged.
        return insertion_from_header(epi, endo, spacing_mm=spacing_mm, orientation=facts.orientation)
    return point, method
