"""One patient of ``myomap analyze``: predict every slice, analyse each (:func:`analyse_slice`), write its exports.

The run around it (output folder, tables, reports, de-identification) is
:mod:`myomap.analyze.run`.  A slice that fails gives one error line and the
rest go on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

from myomap.analyze.discover import MapSlice
from myomap.analyze.exports import SegWriter, write_slice
from myomap.analyze.settings import AnalyzeConfig
from myomap.analyze.slice_analysis import MIRRORED, RegionValues, SliceAnalysis, SliceFacts, analyse_slice
from myomap.analyze.view import point_in_view, prediction_from_view, spacing_in_view, standard_view, to_view
from myomap.geometry.aha import screen_angle_deg, slice_normal
from myomap.geometry.masks import grow
from myomap.geometry.plane import SAME_SLICE_DEG, SAME_SLICE_MM, patient_to_pixel, pixel_to_patient, point_on_plane
from myomap.geometry.polygon import polygon_centroid
from myomap.geometry.view_plane import body_plane
from myomap.io.contours import ContourError, Contours, read_contours
from myomap.mapping.register import match_region
from myomap.metrics.overlap import dice
from myomap.model.inference import Prediction
from myomap.model.locate import NO_LV
from myomap.quantify.reference import RV_ACROSS_THE_HEADER


@dataclass(frozen=True)
class SliceResult:
    """Everything analyze learned about one slice (``error`` set when it could not be analysed).

    ``analysis`` is None when the model gave no prediction (an unreadable,
    constant or tiny image); ``overlay`` the overlay PNG written (for the
    report); ``export_error`` an export that failed (e.g. the SEG) while
    the slice was analysed.
    """

    slice: MapSlice
    patient: str
    folder: str
    number: int = 1  # 1, 2... within the patient (the SEG series number)
    analysis: SliceAnalysis | None = None
    overlay: bytes = b""
    error: str | None = None
    export_error: str | None = None

    @property
    def labels(self) -> np.ndarray | None:
        return None if self.analysis is None else self.analysis.labels

    @property
    def contours(self):
        return None if self.analysis is None else self.analysis.contours

    @property
    def qc(self):
        return None if self.analysis is None else self.analysis.qc

    @property
    def reference_method(self) -> str:
        return "" if self.analysis is None else self.analysis.reference_method

    @property
    def values(self) -> tuple[RegionValues, ...]:
        return () if self.analysis is None else self.analysis.values


def slice_facts(item: MapSlice, *, use_json: bool, native: tuple[float, tuple[int, ...]] | None = None) -> SliceFacts:
    """The facts :func:`analyse_slice` needs, with the RV insertion point of a contours JSON beside the map when ``use_json``.

    An unreadable contours JSON gives no point (the point is then estimated).  The body-plane check reads
    DICOM orientations only: a NIfTI's affine is often a converter's placeholder.
    """
    given = None
    path = item.contours_json if use_json else None
    if path is not None:
        try:
            given = read_contours(path).rv_insertion
        except ContourError:
            given = None
    plane = body_plane(item.orientation) if item.origin != "nifti" else None
    angle, left_out = native if native is not None else (None, ())
    return SliceFacts(
        item.map_type, item.slice_position, item.contrast, item.clockwise, item.orientation, given, plane, angle, left_out,
        item.cine, item.origin != "nifti",
    )  # fmt: skip


NATIVE_REFERENCE_METHODS = ("rv-blood-pool", "contours-json")
"""How a native map's AHA reference point must have been found for a post-contrast map of its slice to take its direction."""


def from_native_map(item: MapSlice, natives: list[tuple[MapSlice, Contours, tuple[int, ...]]]) -> tuple[float, tuple[int, ...]] | None:
    """For a post-contrast map, the direction of the RV insertion found on a native map of its slice, seen on this map,
    and the segments left out there as blood (:attr:`SliceAnalysis.left_out`); else None.

    ``natives`` are the native maps analysed so far with their contours
    (reference point included) and left-out segments, native T1 first.  The LV centre and the
    point are carried through the patient frame onto this map's plane
    (:func:`myomap.geometry.plane.point_on_plane`); the direction, not the
    point, is kept, since the heart shifts a few mm between breath-holds.
    On the phantom, post-contrast maps' own estimates were 39-124 degrees
    off on 4 of 9 basal and mid slices, where their native maps were within 6.
    """
    if item.contrast != "post" or not _placed(item) or item.pixels is None:
        return None
    target = (item.orientation, item.position_mm, item.spacing_mm)
    for other, contours, left_out in natives:
        source = (other.orientation, other.position_mm, other.spacing_mm)
        centre = point_on_plane(polygon_centroid(contours.epi), source, target, item.pixels.shape)
        point = point_on_plane(contours.rv_insertion, source, target, item.pixels.shape)
        if centre is not None and point is not None:
            angle = float(screen_angle_deg(point[0], point[1], (centre[0], centre[1]), spacing_mm=item.spacing_mm))
            return angle, _renumbered(left_out, other.slice_position, item.slice_position)
    return None


MIRRORED_SLICE = f"another map of this slice: {MIRRORED}"


def on_a_mirrored_slice(item: MapSlice, mirrored: list[tuple[MapSlice, tuple[float, float]]]) -> bool:
    """Whether a map analysed before ``item`` on its slice had its RV against its header (exported the same way, so likely mirrored too).

    ``mirrored`` holds those maps with their LV centres; a map without
    orientation and position is on no one's slice.
    """
    if not _placed(item) or item.pixels is None:
        return False
    target = (item.orientation, item.position_mm, item.spacing_mm)
    return any(
        other is not item
        and point_on_plane(centre, (other.orientation, other.position_mm, other.spacing_mm), target, item.pixels.shape) is not None
        for other, centre in mirrored
    )


def _renumbered(segments: tuple[int, ...], level: str, other_level: str) -> tuple[int, ...]:
    """AHA segments of a slice at ``level`` as numbered at ``other_level``: each stack labels its own levels.

    Basal and mid slices share their six sectors (segments 1-6 and 7-12); an
    apical slice has four, which match no six: nothing is carried there.
    """
    if level == other_level:
        return segments
    shift = {("basal", "mid"): 6, ("mid", "basal"): -6}.get((level, other_level))
    return () if shift is None else tuple(s + shift for s in segments)


def predict_native_first(segmenter, slices: list[MapSlice], config: AnalyzeConfig) -> tuple[list, list]:
    """Segment the native T1 maps, then the other native maps (T2), then the post-contrast ones.

    Each later map is searched first where the LV lies on a map of its
    slice segmented before it (:func:`same_slice_hints`).  A ring on a
    native T1 map is the best vetted: only there must its blood pool be
    brighter than its myocardium (:mod:`myomap.model.evidence`), which rules
    out the dark-centred round structures that pass for an LV elsewhere.  On
    a T2 map every fluid is bright (stomach, gallbladder, an effusion), and on
    a post-contrast map blood and myocardium come close and a vertebral body
    looks alike.  A hint is only the first candidate: its ring must pass the
    image check on the map itself, and the search goes on where it fails.
    """
    predictions: list = [None] * len(slices)
    reasons: list = [None] * len(slices)
    native = [k for k, s in enumerate(slices) if s.contrast != "post"]
    segment_hinted(segmenter, slices, predictions, reasons, [k for k in native if slices[k].map_type == "T1"], config)
    segment_hinted(segmenter, slices, predictions, reasons, [k for k in native if slices[k].map_type != "T1"], config)
    segment_hinted(segmenter, slices, predictions, reasons, [k for k, s in enumerate(slices) if s.contrast == "post"], config)
    return predictions, reasons


def segment_hinted(
    segmenter, slices: list[MapSlice], predictions: list, reasons: list, batch: list[int], config: AnalyzeConfig, *, post_too: bool = False
) -> None:
    """Segment the maps ``batch`` (indices into ``slices``), each searched first where another map of its slice shows the LV
    (:func:`same_slice_hints`); ``predictions`` and ``reasons`` are set in place."""
    if not batch:
        return
    hints = same_slice_hints(slices, predictions, batch, post_too=post_too)
    # Shown as the standard display shows them, so that how a map is stored does not change its contours.
    views = [standard_view(slices[k].orientation, slices[k].clockwise) for k in batch]
    shown_hints = [None if hints[k] is None else point_in_view(hints[k], np.shape(slices[k].pixels), view) for k, view in zip(batch, views)]
    found, why = segmenter.predict_each(
        [to_view(slices[k].pixels, view) for k, view in zip(batch, views)],
        [spacing_in_view(slices[k].spacing_mm, view) for k, view in zip(batch, views)],
        tta=config.tta, batch_size=config.batch_size, kinds=[slices[k].kind for k in batch], hints=shown_hints,
    )  # fmt: skip
    for k, view, prediction, reason in zip(batch, views, found, why):
        predictions[k], reasons[k] = prediction_from_view(prediction, view), reason


SECOND_SEARCH_DOUBT = "found only on a second search, where another map of its slice shows the LV"
"""Why a ring of :func:`search_native_t1_again` is doubted: it lends, hints and witnesses nothing, and is flagged for review."""


def search_native_t1_again(segmenter, slices: list[MapSlice], predictions: list, reasons: list, config: AnalyzeConfig) -> None:
    """Search each native T1 map on which no LV was found again where another map of its slice shows it.

    The native T1 map is segmented first and with no hint
    (:func:`predict_native_first`), yet on a real scan the network may lose
    it where the T2 or post-contrast map of the same slice shows the LV
    plainly.  That map's LV (a native one before a post-contrast one, the
    nearest plane first; a ring with the image check's doubts gives none)
    is tried first on the T1 map, in a window centred on it.  It is a
    first candidate only: the T1 map's own ring must pass a native T1 map's
    image check (:mod:`myomap.model.evidence`: its blood pool brighter than
    its myocardium).  That check rules out a vertebral body, not a kidney
    (a cortex like myocardium around a medulla like blood): where the other
    map's ring lay on one, the T1 ring can follow it.  So a ring found here
    carries :data:`SECOND_SEARCH_DOUBT`: it is flagged for review, and as
    any doubted ring it gives no hint, lends to no other map and is no
    witness of where the exam's LV lies.  ``predictions`` and ``reasons``
    are updated in place.
    """
    lost = [
        k for k, s in enumerate(slices) if s.contrast != "post" and s.map_type == "T1" and predictions[k] is None and reasons[k] == NO_LV
    ]
    hinted = [k for k, hint in same_slice_hints(slices, predictions, lost, post_too=True).items() if hint is not None]
    segment_hinted(segmenter, slices, predictions, reasons, hinted, config, post_too=True)
    for k in hinted:
        if predictions[k] is not None:
            predictions[k] = replace(predictions[k], doubts=predictions[k].doubts or (SECOND_SEARCH_DOUBT,))


def same_slice_hints(
    slices: list[MapSlice], predictions: list, targets: list[int], *, post_too: bool = False
) -> dict[int, tuple[float, float] | None]:
    """For each map in ``targets``, the centre of the LV (myocardium and blood pool) segmented on a native map of its slice, or None.

    The native map is one whose plane is the target map's within
    :data:`myomap.geometry.plane.SAME_SLICE_MM`: a native T1 map before any
    other, then the nearest; with ``post_too``, a post-contrast map after
    the native ones.  Only rings without the image check's doubts
    give hints (a doubted ring may lie on a round organ, not the LV), and
    maps without orientation and position give and get none, nor do a
    cine's phases give any (their heart is at another cardiac phase).
    """
    found_lv = []  # (native map, LV centre on it), each worked out once
    for other, prediction in zip(slices, predictions):
        if (other.contrast == "post" and not post_too) or other.cine or prediction is None or getattr(prediction, "doubts", ()):
            continue
        if _placed(other) and prediction.labels.any():
            found_lv.append((other, _centre(prediction.labels)))
    hints: dict[int, tuple[float, float] | None] = {}
    for k in targets:
        item, best = slices[k], None
        if item.orientation is not None and item.position_mm is not None:
            target = (item.orientation, item.position_mm, item.spacing_mm)
            shape = item.pixels.shape if item.pixels is not None else (0, 0)
            for other, centre in found_lv:
                point = point_on_plane(centre, (other.orientation, other.position_mm, other.spacing_mm), target, shape)
                if point is None or other is item:  # not the same slice (or the map itself: an API guard)
                    continue
                rank = (
                    other.contrast == "post",
                    other.map_type != "T1",
                    _offset_mm(centre, other, item),
                )  # T1 first: float noise in two headers must not decide
                if best is None or rank < best[0]:
                    best = (rank, (float(point[0]), float(point[1])))
        hints[k] = None if best is None else best[1]
    return hints


STACK_AGREE_MM = 25.0
"""The other slices of an exam show where its LV lies when most of them, two at least, are within this (mm, in plane) of one another."""
STACK_FAR_MM = 45.0
"""A ring whose centre lies farther than this (mm, in plane) from where the other slices show the LV is not taken for it."""


def stack_lv(slices: list[MapSlice], predictions: list, k: int) -> tuple[tuple[float, float], int] | None:
    """Where (column, row on map ``k``) the exam's other slice positions show the LV, and how many do; or None.

    Short-axis planes are cut across the LV's long axis, so the LV of every
    slice of the exam, base to apex, lies at about the same place in plane:
    the rings' centres, moved along the slice normal onto map ``k``'s plane,
    differ by the axis's tilt and the breath-holds (a few to about 20 mm).
    The witnesses are rings without the image check's doubts on the native
    maps (a post-contrast ring is never doubted) of the same study and, for
    NIfTI maps, the same file (another visit, or another file's affine, puts
    the patient elsewhere), in planes parallel to map ``k``'s within
    :data:`~myomap.geometry.plane.SAME_SLICE_DEG`.  They are counted by slice
    position, not by map, and map ``k``'s own position is left out: a T2 map
    is searched where the native T1 map of its slice found the LV
    (:func:`same_slice_hints`), so the maps of one position err together.
    The LV is where most positions, two at least, lie within
    :data:`STACK_AGREE_MM` of one another (the median of that group), inside
    map ``k``; elsewhere there is no answer.  For every map of an exam, use
    one :class:`ExamStack`: this builds one for map ``k`` alone.
    """
    return ExamStack(slices, predictions).lv(slices[k])


@dataclass(frozen=True)
class _Witness:
    """A ring that may show the other maps of its exam where the LV lies: its map, plane normal and centre (mm, patient frame)."""

    item: MapSlice
    normal: np.ndarray
    point: np.ndarray


class ExamStack:
    """Where the other slice positions of an exam show its LV on each of its maps (:func:`stack_lv`).

    Each ring's centre is found once, and the answer once per plane: the
    maps of one plane (the phases of a cine) have the same witnesses, a
    map's own ring lying on its plane, at its own position.  A cine of 300
    frames then costs 12 answers, not 300 with 300 centres each.  Built on
    ``predictions`` as they are: after they change, build another.
    """

    def __init__(self, slices: list[MapSlice], predictions: list):
        self._witnesses: list[_Witness] = []
        for other, prediction in zip(slices, predictions):
            if other.contrast == "post" or prediction is None or prediction.doubts:
                continue
            normal = _normal(other)
            if normal is None or not prediction.labels.any():
                continue
            point = pixel_to_patient(_centre(prediction.labels), other.orientation, other.position_mm, other.spacing_mm)
            self._witnesses.append(_Witness(other, normal, point))
        self._nifti = any(w.item.origin == "nifti" for w in self._witnesses)
        self._answers: dict[tuple, tuple[tuple[float, float], int] | None] = {}

    def lv(self, item: MapSlice) -> tuple[tuple[float, float], int] | None:
        """Where (column, row on ``item``) the exam's slice positions other than ``item``'s show the LV, and how many do; or None."""
        normal = _normal(item)
        if normal is None or item.pixels is None:
            return None
        plane = (tuple(map(float, item.orientation)), tuple(map(float, item.position_mm)), tuple(map(float, item.spacing_mm)))
        path = item.path if item.origin == "nifti" or self._nifti else None  # witnesses of a NIfTI map come from its file
        key = (*plane, item.pixels.shape, item.study, item.origin, path)
        if key not in self._answers:
            self._answers[key] = self._lv(item, normal, item.pixels.shape)
        return self._answers[key]

    def _lv(self, item: MapSlice, normal: np.ndarray, shape: tuple[int, ...]) -> tuple[tuple[float, float], int] | None:
        by_position: dict[float, tuple[bool, np.ndarray]] = {}  # distance along the normal from the map: (not a T1 map, point on it)
        for witness in self._witnesses:
            other = witness.item
            if not _same_frame(other, item):
                continue
            if abs(float(witness.normal @ normal)) < np.cos(np.deg2rad(SAME_SLICE_DEG)):
                continue
            xy = patient_to_pixel(witness.point, item.orientation, item.position_mm, item.spacing_mm)[0]
            level = float((witness.point - np.asarray(item.position_mm, float)) @ normal)
            if not (np.all(np.isfinite(xy)) and np.isfinite(level)) or abs(level) <= SAME_SLICE_MM:  # the map's own position
                continue
            ranked = (other.map_type != "T1", xy)
            same = next((at for at in by_position if abs(at - level) <= SAME_SLICE_MM), level)
            if same not in by_position or ranked[0] < by_position[same][0]:  # a position's native T1 ring first (the best vetted)
                by_position[same] = ranked
        points = [xy for _, xy in by_position.values()]
        near = [[q for q in points if _apart_mm(p, q, item) <= STACK_AGREE_MM] for p in points]
        best = max(near, key=len, default=[])
        if len(best) < 2 or 2 * len(best) <= len(points):
            return None
        where = np.median(best, axis=0)
        rows, cols = shape
        if not (0 <= where[0] <= cols - 1 and 0 <= where[1] <= rows - 1):
            return None
        return (float(where[0]), float(where[1])), len(best)


def check_against_stack(segmenter, slices: list[MapSlice], predictions: list, reasons: list, config: AnalyzeConfig) -> dict[int, str]:
    """Search again where the exam's other slices show the LV, on each map without a ring or with one far from it.

    Each map is segmented on its own, and on a slice without a heart (below
    the apex, above the base) or with a small LV the search may take a round
    organ for it: a fluid-filled stomach on a T2 map, a kidney on a native
    T1 map (model card).  Where the other slice positions of the exam agree
    on where the LV lies (:func:`stack_lv`), a map on which no LV was found,
    or whose ring lies more than :data:`STACK_FAR_MM` from there, is
    searched again with that place tried first (its ring must pass the
    image check as any other).  A ring found within :data:`STACK_FAR_MM` of
    it is taken, and the slice flagged for review; a far ring is dropped
    ("no left ventricle found", so that a post-contrast or T2 map can still
    borrow its native ring, :func:`borrow_native_rings`).  ``predictions``
    and ``reasons`` are updated in place; returns a note per map changed:
    why to review its new ring, or why its ring was dropped.
    """
    again: dict[int, tuple[tuple[float, float], int, float | None]] = {}
    stack = ExamStack(slices, predictions)
    for k, (item, prediction) in enumerate(zip(slices, predictions)):
        ring = prediction is not None and prediction.labels.any()
        if item.pixels is None or (not ring and reasons[k] != NO_LV):
            continue
        found = stack.lv(item)
        if found is None:
            continue
        where, positions = found
        off = _apart_mm(_centre(prediction.labels), where, item) if ring else None
        if off is None or off > STACK_FAR_MM:
            again[k] = (where, positions, off)
    notes: dict[int, str] = {}
    if not again:
        return notes
    batch = sorted(again)
    found_again, _ = segmenter.predict_each(
        [slices[k].pixels for k in batch], [slices[k].spacing_mm for k in batch], tta=config.tta, batch_size=config.batch_size,
        kinds=[slices[k].kind for k in batch], hints=[again[k][0] for k in batch],
    )  # fmt: skip
    for k, prediction in zip(batch, found_again):
        where, positions, off = again[k]
        there = f"where {positions} other slice positions of the exam show the LV"
        if prediction is not None and prediction.labels.any() and _apart_mm(_centre(prediction.labels), where, slices[k]) <= STACK_FAR_MM:
            predictions[k], reasons[k] = prediction, None
            first = "no ring was found at first" if off is None else f"the ring found first lay {off:.0f} mm away"
            notes[k] = f"left ventricle found on a second search {there} ({first}); check that it is the LV"
        elif off is not None:
            predictions[k], reasons[k] = None, NO_LV
            notes[k] = f"{NO_LV}: the only ring found lies {off:.0f} mm from {there}"
    return notes


def _normal(item: MapSlice) -> np.ndarray | None:
    """The unit normal of a placed map's plane; None for a map without a usable geometry."""
    if not _placed(item):
        return None
    try:
        normal = slice_normal(item.orientation)
    except ValueError:
        return None
    return normal if np.all(np.isfinite(normal)) and np.all(np.isfinite(item.position_mm)) else None


def _apart_mm(xy, other_xy, item: MapSlice) -> float:
    """Distance (mm) between two pixel points (column, row) of map ``item``."""
    return float(np.hypot((xy[0] - other_xy[0]) * item.spacing_mm[1], (xy[1] - other_xy[1]) * item.spacing_mm[0]))


BREATH_HOLD_SHIFT_MM = 15.0
"""In-plane shift (mm, per axis) between two breath-holds that a borrowed ring is searched over on its new map."""
MATCH_MARGIN_MM = 5.0
"""A borrowed ring is matched on its new map over its myocardium and blood pool grown by this much (mm)."""


def borrow_native_rings(slices: list[MapSlice], predictions: list, reasons: list) -> dict[int, str]:
    """Give each post-contrast or T2 map on which no LV was found, or whose ring contradicts it, the ring of a native T1 map
    of its slice; returns why to review them.

    On a post-contrast T1 map of a diseased heart the myocardium can come
    as close to the blood as the image check's or the network's limits
    (an extracellular volume of 40-50 %, as in amyloidosis: probe of the
    model card), while the native T1 map of the same slice shows it
    plainly.  Readers then draw on the native map and copy the contours, as
    ECV needs the same region on both.  A T2 map is the noisier of the two
    native maps, and its myocardium lies close in value to the liver and
    the chest wall: blurred and noisy, it can lose its LV where the T1 map
    keeps it (the model card's probe: 1 of 36 T2 maps with noise of 30 %
    of their myocardium had no ring even with the T1 map's LV as a hint;
    the T1 ring lent to it brought the 36 maps' mean Dice from 0.784 to
    0.810).  The
    native ring (one without the image check's doubts, the nearest plane
    first) is moved onto the borrowing map's grid through both maps' DICOM
    geometry, then shifted in plane to where that map shows the same
    anatomy (:func:`myomap.mapping.register.match_region`, over the ring
    grown by :data:`MATCH_MARGIN_MM`, within :data:`BREATH_HOLD_SHIFT_MM`
    per axis):
    the two maps were acquired in different breath-holds, and the heart
    moves with the diaphragm.  On the robustness benchmark's native T1
    maps made post-contrast with an ECV of about 48 % and the heart alone
    moved 3-10 mm (``benchmarks/robustness_probes.py``), the 36 borrowed
    rings had a mean Dice of 0.400 where the slice geometry put them and
    0.906 after the match.  A cine's phases (``MapSlice.cine``) neither lend
    nor borrow: the heart's shape changes with the cardiac phase, and a
    map is acquired in one.  A map with a ring of its own keeps it unless a
    cheap screen (:func:`_unlike`: centre or areas) finds it unlike the
    native ring and, the native ring matched onto this map, their
    myocardium overlaps less than :data:`MIN_RING_AGREEMENT` (Dice): the
    ring then lies elsewhere, or is a sliver of wall, while the best-vetted
    map of the slice shows the LV (on the model card's probes: 1 of 36
    post-contrast maps with an ECV of about 48 % replaced, for the better;
    none of the noisy T2 maps, the T2 maps as simulated nor the
    post-contrast maps at an ECV of about 25 %; 2 of 36 T2 maps with noise
    of up to 93 % of the myocardium, the probe's until 4 December 2026,
    each for the better).  The slice is flagged
    for review with the reason returned here.  ``predictions`` and
    ``reasons`` (from :func:`predict_native_first`) are updated in place.
    """
    notes: dict[int, str] = {}
    lenders = [(other, p, _centre(p.labels)) for other, p in zip(slices, predictions) if other.contrast != "post" and not other.cine
               and other.map_type == "T1" and p is not None and not p.doubts and p.labels.any() and _placed(other)]  # fmt: skip
    for k, item in enumerate(slices):
        own = predictions[k]
        borrower = (item.contrast == "post" or item.map_type == "T2") and not item.cine
        if not borrower or item.pixels is None or not _placed(item) or (own is None and reasons[k] != NO_LV):
            continue
        same_frame = [lender for lender in lenders if _same_frame(lender[0], item)]
        nearest_first = sorted(same_frame, key=lambda lender: _offset_mm(lender[2], lender[0], item))
        if own is not None and (not nearest_first or not _unlike(own.labels, *nearest_first[0][:2], item)):
            continue  # a ring of its own that the nearest native ring does not contradict
        found = next(((other, moved) for other, p, _ in nearest_first if (moved := _moved_ring(p.labels, other, item)) is not None), None)
        if found is None:
            continue
        other, (labels, how) = found
        agreement = None if own is None else dice(own.labels == 1, labels == 1)
        if agreement is not None and agreement >= MIN_RING_AGREEMENT:
            continue  # matched onto this map's anatomy, the two rings agree after all
        probabilities = np.stack([labels == c for c in range(3)]).astype(np.float32)
        predictions[k], reasons[k] = Prediction(probabilities, labels), None
        found_here = (
            "no left ventricle found on this map"
            if agreement is None
            else f"the ring found on this map overlapped the native T1 ring of its slice only {agreement:.2f} (Dice)"
        )
        notes[k] = (
            f"{found_here}: contours from the native T1 map of its slice ({other.path.name}), "
            f"acquired in another breath-hold, {how}; check that they fit"
        )
    return notes


MIN_RING_AGREEMENT = 0.6
"""Dice of the myocardium below which a post-contrast or T2 ring and the native T1 ring of its slice, matched onto it, disagree."""
UNLIKE_AREA_RATIO = 1.6
"""A ring whose myocardial or blood-pool area differs from the native ring's by more than this factor is compared in full."""


def _unlike(labels: np.ndarray, lender: MapSlice, lender_prediction, item: MapSlice) -> bool:
    """Whether a ring on map ``item`` may not be the LV that the native ring (of ``lender``) shows: a cheap screen.

    Its centre lies farther than :data:`BREATH_HOLD_SHIFT_MM` from where the
    slice geometry puts the native ring's, or its myocardium or blood pool
    (mm²) is more than :data:`UNLIKE_AREA_RATIO` times larger or smaller.
    Matching the native map onto this one (:func:`_moved_ring`, about half
    a second) is left to the rings this screen does not clear.
    """
    if not labels.any():
        return True
    native = lender_prediction.labels
    placed = patient_to_pixel(pixel_to_patient(_centre(native), lender.orientation, lender.position_mm, lender.spacing_mm),
                              item.orientation, item.position_mm, item.spacing_mm)[0]  # fmt: skip
    if _apart_mm(_centre(labels), placed, item) > BREATH_HOLD_SHIFT_MM:
        return True
    for label in (1, 2):
        here = (labels == label).sum() * item.spacing_mm[0] * item.spacing_mm[1]
        there = (native == label).sum() * lender.spacing_mm[0] * lender.spacing_mm[1]
        if min(here, there) <= 0 or max(here, there) / min(here, there) > UNLIKE_AREA_RATIO:
            return True
    return False


def _same_frame(a: MapSlice, b: MapSlice) -> bool:
    """Whether the two maps' geometries place one patient alike: one study and, for NIfTI maps, one file (a converter's
    placeholder affine puts every file's patient in the same place)."""
    return a.study == b.study and ((a.origin != "nifti" and b.origin != "nifti") or a.path == b.path)


def _offset_mm(xy, source: MapSlice, target: MapSlice) -> float:
    """How far (mm) the point ``xy`` (column, row) of map ``source`` lies from map ``target``'s plane."""
    return patient_to_pixel(pixel_to_patient(xy, source.orientation, source.position_mm, source.spacing_mm), target.orientation,
                            target.position_mm, target.spacing_mm)[1]  # fmt: skip


def _placed(item: MapSlice) -> bool:
    return item.orientation is not None and item.position_mm is not None


def _centre(labels: np.ndarray) -> tuple[float, float]:
    """The centre (column, row) of the labelled pixels."""
    rows, cols = np.nonzero(labels)
    return float(cols.mean()), float(rows.mean())


def _moved_ring(labels: np.ndarray, source: MapSlice, target: MapSlice) -> tuple[np.ndarray, str] | None:
    """``labels`` of map ``source`` on map ``target``'s grid, matched to its anatomy, and how they were moved; or None.

    None unless both maps are placed, one slice position at the LV, and at
    least 90 % of the LV's myocardium (in mm²) and some of its blood pool
    land inside the target map, after the match (a ring the match moves
    out of the map is not lent at all).
    """
    geometry = [(m.orientation, m.position_mm, m.spacing_mm) for m in (source, target)]
    if target.pixels is None or source.pixels is None:
        return None
    shape = target.pixels.shape
    if point_on_plane(_centre(labels), geometry[0], geometry[1], shape) is None:
        return None  # not one slice position, or the LV falls outside the target map
    corners = np.array([(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)])
    moved = [patient_to_pixel(pixel_to_patient(xy, *geometry[0]), *geometry[1])[0] for xy in corners]
    to_target = cv2.getAffineTransform(corners.astype(np.float32), np.asarray(moved, np.float32))
    size = (shape[1], shape[0])
    out = cv2.warpAffine(labels.astype(np.uint8), to_target, size, flags=cv2.INTER_NEAREST, borderValue=0)
    how = "placed by the scanner's slice geometry, where this map shows the same anatomy"
    if out.any():
        native = cv2.warpAffine(np.nan_to_num(source.pixels).astype(np.float32), to_target, size, flags=cv2.INTER_LINEAR)
        region = grow(out > 0, MATCH_MARGIN_MM, target.spacing_mm)
        reach = (int(round(BREATH_HOLD_SHIFT_MM / target.spacing_mm[0])), int(round(BREATH_HOLD_SHIFT_MM / target.spacing_mm[1])))
        (dy, dx), trusted = match_region(native, target.pixels, region, reach)
        if trusted and (dy, dx) != (0, 0):
            out = ndimage.shift(out, (dy, dx), order=0, mode="constant", cval=0)
            how = f"moved {np.hypot(dy * target.spacing_mm[0], dx * target.spacing_mm[1]):.1f} mm to where this map shows the same anatomy"
        elif not trusted:
            how = f"placed by the scanner's slice geometry (not matched on this map within {BREATH_HOLD_SHIFT_MM:.0f} mm)"
    myocardium_mm2 = [(mask == 1).sum() * m.spacing_mm[0] * m.spacing_mm[1] for mask, m in ((labels, source), (out, target))]
    return (out, how) if myocardium_mm2[1] >= 0.9 * myocardium_mm2[0] and (out == 2).any() else None


def analyze_patient(
    patient,
    slices: list[MapSlice],
    segmenter,
    out: Path,
    config: AnalyzeConfig,
    errors: list[str],
    progress,
    shared: set[Path],
    seg_writer: SegWriter | None = None,
) -> list[SliceResult]:
    """Segment, measure and export every slice of one patient (pixels loaded); error lines go to ``errors``.

    ``shared`` are folders holding several maps: a contours JSON there
    belongs to none of them in particular, so its reference point is not used.
    ``progress(1)``, when given, follows each slice as it is written (or
    found unusable); the search itself runs over all slices first.
    """
    results = [SliceResult(s, patient, f"{s.stack}_{s.order + 1:02d}_{s.slice_position}", k + 1) for k, s in enumerate(slices)]
    predictions, reasons = predict_native_first(segmenter, slices, config)
    search_native_t1_again(segmenter, slices, predictions, reasons, config)
    checked = check_against_stack(segmenter, slices, predictions, reasons, config)
    borrowed = borrow_native_rings(slices, predictions, reasons)
    done: list[SliceResult] = []
    natives: list[tuple[MapSlice, Contours, tuple[int, ...]]] = []
    mirrored: list[tuple[MapSlice, tuple[float, float]]] = []  # maps whose RV lies against their header, and their LV centre

    def finish(result: SliceResult) -> None:  # progress moves as each slice is written, not once the patient is
        done.append(result)
        errors.extend(e for e in (result.error, result.export_error) if e)
        if progress is not None:
            progress(1)

    for k, (result, prediction, reason) in enumerate(zip(results, predictions, reasons)):
        if prediction is None:  # NaN, constant or tiny image, or no left ventricle found (nor borrowed)
            finish(replace(result, error=f"{result.slice.where}: {checked.get(k, reason)}"))
            continue
        item = result.slice
        use_json = config.reference_point == "auto" and item.path.parent not in shared
        facts = slice_facts(item, use_json=use_json, native=from_native_map(item, natives))
        analysis = analyse_slice(item.pixels, item.spacing_mm, prediction, config.slice_settings, facts)
        if (
            item.contrast == "native"
            and not item.cine
            and analysis.contours is not None
            and analysis.reference_method in NATIVE_REFERENCE_METHODS
        ):
            natives.append((item, analysis.contours, analysis.left_out))  # slices come native T1 first (stack_order.order_slices)
        if analysis.reference_method == RV_ACROSS_THE_HEADER and analysis.contours is not None:
            mirrored.append((item, polygon_centroid(analysis.contours.epi)))
        review = tuple(notes[k] for notes in (checked, borrowed) if k in notes)  # a ring dropped by the check, then borrowed: both
        if analysis.reference_method != RV_ACROSS_THE_HEADER and on_a_mirrored_slice(item, mirrored):
            review += (MIRRORED_SLICE,)
        if review:
            analysis = replace(analysis, qc=replace(analysis.qc, review=True, reasons=analysis.qc.reasons + review))
        result = replace(result, analysis=analysis, error=None if analysis.error is None else f"{item.where}: {analysis.error}")
        try:
            overlay, export_error = write_slice(out / patient / result.folder, item, analysis, seg_writer=seg_writer if config.seg else None,
                                                patient=patient, number=result.number, keep_phi=config.keep_phi)  # fmt: skip
            result = replace(result, overlay=overlay, export_error=export_error)
        except OSError as exc:
            result = replace(result, error=f"{out / patient / result.folder}: cannot write ({exc.strerror or exc})")
        finish(result)
    return done
