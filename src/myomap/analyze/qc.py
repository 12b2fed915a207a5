"""Quality control of one segmented slice: model disagreement and contour sanity, combined into a review flag.

The model's doubt is read from test-time augmentation (copies of the
slice turned and mirrored, or shifted for the older share-of-image models,
each with an intensity change; see :mod:`myomap.model.inference`):

- ``contour_spread_mm``: the largest Hausdorff distance between the
  contours fitted to one augmentation's prediction and the consensus
  contours (infinite when an augmentation finds no contour).  This drives
  the flag: it measures disagreement in the unit the accuracy is judged in.
- ``confidence``: the mean Dice of each augmentation's myocardium with the
  consensus (1 = all agree), reported for information.

Sanity checks catch what a confident model can still get wrong:

- both contours found, the endocardium inside the epicardium;
- the myocardium closes around the blood pool (a ring, not a "C");
- mean wall thickness and epicardial area within physiological ranges
  (:data:`WALL_MM`, :data:`EPI_AREA_MM2`);
- the epicardium is roughly round, as a short-axis LV is: the ratio of its
  principal axes is at most :data:`MAX_EPI_AXIS_RATIO`.  The guard is for
  maps without a header to tell the view (NIfTI; DICOM long-axis maps are
  left out before segmentation, :mod:`myomap.geometry.view_plane`).  A
  short-axis LV epicardium is near circular, even at the base with the
  outflow tract (a "C" around a round cavity) or with a septum flattened by
  RV pressure overload; on a 2-, 3- or 4-chamber view the LV is about
  twice as long (base to apex, about 80-100 mm) as it is wide (about
  50 mm).  1.6 lies between; the phantom's short-axis epicardia, reference
  and predicted, stay below 1.2.  It catches a ring drawn along a long-axis
  LV, not one drawn on a round part of a long-axis image.

A slice is flagged for review when a check fails or the contour spread
exceeds :data:`SPREAD_THRESHOLD_MM`, calibrated on phantom validation
subjects with ``benchmarks/analyze_phantom.py`` (the figures are in the
model card).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from skimage.draw import polygon2mask
from skimage.measure import points_in_poly, regionprops

from myomap.geometry.aha import screen_angle_deg
from myomap.geometry.contours import ON_EDGES, SliceContours, mask_to_contours
from myomap.geometry.polygon import densify, perimeter_mm, polygon_area, polygon_centroid
from myomap.metrics.distance import hausdorff_mm

SPREAD_THRESHOLD_MM = 3.5  # calibrated for the embedded model on the phantom validation subjects (benchmarks/analyze_phantom.py)
WALL_MM = (2.0, 20.0)
EPI_AREA_MM2 = (250.0, 9000.0)
CROSSING_SHARE = 0.02  # endocardial points allowed outside the epicardium (spline overshoot at a thin wall)
CROSSING_TOLERANCE_MM = 1.0  # ...not counting those this close to it: where the contours coincide (a ring open to the outflow tract)
RING_COVERAGE = 0.9  # share of 10-degree sectors around the blood pool that must hold myocardium
MAX_EPI_AXIS_RATIO = 1.6  # major over minor principal axis of the epicardium (module docstring)


@dataclass(frozen=True)
class QualityReport:
    """``review`` is True when the slice needs a human look; ``reasons`` says why (empty when fine).

    ``confidence`` and ``contour_spread_mm`` are NaN without test-time augmentation;
    ``epi_axis_ratio`` (major over minor principal axis of the epicardium) is NaN without contours.
    """

    confidence: float
    contour_spread_mm: float
    review: bool
    reasons: tuple[str, ...]
    wall_mm: float
    epi_area_mm2: float
    ring_coverage: float
    epi_axis_ratio: float = math.nan

    @property
    def sanity_failed(self) -> bool:
        """A reason other than the augmentations' disagreement."""
        return any(not r.startswith("augmentations disagree") for r in self.reasons)


def contour_spread_mm(members: Sequence[np.ndarray], consensus: SliceContours, *, spacing_mm: tuple[float, float]) -> float:
    """Largest Hausdorff distance (mm) between any member's fitted contours and the consensus contours.

    ``inf`` when a member lacks a contour the consensus has; NaN without
    members or without consensus contours (nothing to compare with).
    """
    if not members or not consensus.complete:
        return math.nan
    worst = 0.0
    for labels in members:
        fitted = mask_to_contours(labels, ON_EDGES)
        for own, agreed in ((fitted.epi.points, consensus.epi.points), (fitted.endo.points, consensus.endo.points)):
            if own is None or agreed is None:
                return math.inf
            worst = max(worst, hausdorff_mm(own, agreed, spacing_mm=spacing_mm))
    return worst


def ring_coverage(labels: np.ndarray, centre_xy: tuple[float, float], *, spacing_mm: tuple[float, float], myocardium: int = 1) -> float:
    """Share of 36 sectors around ``centre_xy`` that contain myocardium pixels (1 for a closed ring)."""
    rows, cols = np.nonzero(labels == myocardium)
    if rows.size == 0:
        return 0.0
    angles = screen_angle_deg(cols, rows, centre_xy, spacing_mm=spacing_mm)
    return float(np.unique((np.asarray(angles) % 360.0 // 10.0).astype(int)).size / 36.0)


def principal_axis_ratio(points_xy: np.ndarray, shape: tuple[int, int], *, spacing_mm: tuple[float, float]) -> float:
    """Major over minor principal axis (mm, >= 1) of the pixels inside a closed contour; NaN when fewer than 3 pixels are inside."""
    mask = polygon2mask(shape, np.asarray(points_xy, dtype=float)[:, ::-1])
    if np.count_nonzero(mask) < 3:
        return math.nan
    (region,) = regionprops(mask.astype(np.uint8), spacing=spacing_mm)
    return float(region.axis_major_length / region.axis_minor_length) if region.axis_minor_length > 0 else math.inf


def _share_outside(endo: np.ndarray, epi: np.ndarray, spacing_mm: tuple[float, float]) -> float:
    """Share of endocardial points outside the epicardium by more than ``CROSSING_TOLERANCE_MM``."""
    out = ~points_in_poly(endo, epi)
    if not out.any():
        return 0.0
    gap_mm = cKDTree(densify(epi, spacing_mm=spacing_mm)).query(endo[out] * np.array([spacing_mm[1], spacing_mm[0]]))[0]
    return float(np.count_nonzero(gap_mm > CROSSING_TOLERANCE_MM)) / len(endo)


def assess(
    labels: np.ndarray,
    contours: SliceContours,
    *,
    spacing_mm: tuple[float, float],
    agreement: float | None = None,
    members: Sequence[np.ndarray] = (),
    spread_threshold_mm: float = SPREAD_THRESHOLD_MM,
) -> QualityReport:
    """Check one slice; ``agreement`` and ``members`` come from TTA (without them only the sanity checks flag)."""
    reasons: list[str] = []
    confidence = math.nan if agreement is None else float(agreement)
    spread = contour_spread_mm(members, contours, spacing_mm=spacing_mm)
    if spread > spread_threshold_mm:  # NaN (no TTA) compares False
        reasons.append(
            f"augmentations disagree: contours up to {spread:.1f} mm apart"
            if math.isfinite(spread)
            else "augmentations disagree: one finds no contour"
        )
    epi, endo = contours.epi.points, contours.endo.points
    wall = area = coverage = ratio = math.nan
    if epi is None or endo is None:
        missing = [name for name, c in (("epicardial", contours.epi), ("endocardial", contours.endo)) if c.points is None]
        reasons.append(
            "no " + " and no ".join(missing) + " contour (" + "; ".join(c.reason for c in (contours.epi, contours.endo) if c.reason) + ")"
        )
    else:
        pixel_mm2 = spacing_mm[0] * spacing_mm[1]
        area = polygon_area(epi) * pixel_mm2
        inner = polygon_area(endo) * pixel_mm2
        outside = _share_outside(endo, epi, spacing_mm)
        if outside > CROSSING_SHARE:
            reasons.append(f"endocardium crosses the epicardium ({outside:.0%} of its points outside)")
        # Mean wall thickness of an annulus: area between the contours over the mean perimeter.
        perimeter = 0.5 * (perimeter_mm(epi, spacing_mm) + perimeter_mm(endo, spacing_mm))
        wall = (area - inner) / perimeter if perimeter > 0 else math.nan
        if not WALL_MM[0] <= wall <= WALL_MM[1]:
            reasons.append(f"mean wall thickness {wall:.1f} mm outside {WALL_MM[0]:g}-{WALL_MM[1]:g} mm")
        if not EPI_AREA_MM2[0] <= area <= EPI_AREA_MM2[1]:
            reasons.append(f"epicardial area {area:.0f} mm² outside {EPI_AREA_MM2[0]:g}-{EPI_AREA_MM2[1]:g} mm²")
        coverage = ring_coverage(labels, polygon_centroid(endo), spacing_mm=spacing_mm)
        if coverage < RING_COVERAGE:
            reasons.append(f"myocardium does not close around the blood pool ({coverage:.0%} of the circumference)")
        ratio = principal_axis_ratio(epi, labels.shape, spacing_mm=spacing_mm)
        if ratio > MAX_EPI_AXIS_RATIO:
            reasons.append(f"not a short-axis ring (long-axis view?): the epicardium is {ratio:.1f} times as long as wide")
    return QualityReport(confidence, spread, bool(reasons), tuple(reasons), wall, area, coverage, ratio)
