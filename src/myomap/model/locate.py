"""Finding the left ventricle: from coarse views of the whole field of view to a window on the heart.

A model trained at a fixed pixel size (``window_spacing_mm`` in its
metadata) segments in two stages:

1. **Locate.** The whole image is fitted into one view of up to
   ``search_size`` pixels (256: a 380 mm field of view at ~1.5 mm; never
   finer than the model's pixel size) and segmented; the network is fully
   convolutional, so the larger view costs one pass of four times the
   area.  :func:`candidates` lists the connected myocardium + blood-pool
   regions whose myocardium area is plausible for a short-axis LV, the one
   with the most myocardium first.  When that view shows none (a small
   apical heart in a 450 mm torso), the field of view is searched again
   with overlapping tiles of the model's input size at half that pixel
   size, down to the model's own (:func:`search_levels`), and the
   candidates of the first level that has any are kept.  (The search used
   to start from a 128-pixel view of the whole field of view, about 3 mm
   per pixel: on unseen phantom maps it placed the LV within 15 mm on 48 of
   72, the 256-pixel view on 72 of 72, and most maps then needed nine more
   tiles.)
   Failed fits scattered in tissue (NaN, at the top of the range, or at 0
   on a map blanked at 0) are shown to the network as the tissue around them
   (:func:`myomap.model.window.fill_failed_fits`), and solid regions of the
   image's lowest, highest or most common value (a blanked background,
   failed fits stored at the top of the range) as the speckle it learned
   lungs and air from (:func:`myomap.model.window.fill_blank_regions`); the
   check of step 3 looks at the image as it is.
2. **Segment.** A window at the model's pixel size is centred on the first
   candidate and segmented, with test-time augmentation if asked.  If the
   ring found in it lies more than ``RECENTRE_MM`` from the window centre
   (a poor coarse guess), the window is moved once and segmented again.
3. **Check.** The ring must look like an LV in the image itself
   (:mod:`myomap.model.evidence`: a myocardium unlike its surroundings
   and its blood pool, and on a native T1 map a blood pool brighter than
   the ring; the map kinds come from the caller).  If it is not a sure LV, the next candidates are
   segmented in turn, and when a level's candidates run out the next
   level is searched, up to ``MAX_SEGMENTED`` rings in all; the first sure
   LV wins.  Where none is sure, the first ring within the outer limits is
   kept; where none is within them (or no ring has at least
   ``MIN_MYOCARDIUM_MM2`` of myocardium): "no left ventricle found".
   Ranking candidates by their myocardium at the model's pixel size
   instead was tried and made the robustness benchmark worse: the largest
   myocardium at fine scale is not always the LV.  The check costs nothing
   when the first ring passes, which it did on 718 of the robustness
   benchmark's 720 maps.

The result is mapped back to the native grid by :mod:`myomap.model.window`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from myomap.model.data import check_image
from myomap.model.evidence import looks_like_lv, ring_evidence
from myomap.model.window import Window, as_network_sees, points_to_native, whole_image_window

logger = logging.getLogger(__name__)

NO_LV = "no left ventricle found"
# Plausible short-axis LV myocardium: an apical ring of a small heart has ~150 mm^2;
# 12000 mm^2 is far beyond a dilated basal slice (epicardial radius 45 mm, wall 15 mm).
MIN_MYOCARDIUM_MM2 = 80.0
MAX_MYOCARDIUM_MM2 = 12000.0
RECENTRE_MM = 12.0
# Candidates segmented per image at most, and the distance below which a candidate is a ring already segmented.
MAX_SEGMENTED = 5
SAME_PLACE_MM = 15.0


@dataclass(frozen=True, eq=False)
class Candidate:
    """One possible LV in a prediction: centre (x, y) in the labels' pixels, score (mm²) and region (bool mask)."""

    centre_xy: tuple[float, float]
    score: float
    region: np.ndarray


def candidates(labels: np.ndarray, probabilities: np.ndarray, spacing_mm: float) -> list[Candidate]:
    """The possible LVs in a prediction, the most convincing first.

    ``labels`` is a (S, S) class image (0 background, 1 myocardium, 2 blood
    pool) and ``probabilities`` the (C, S, S) class probabilities it came
    from; ``spacing_mm`` is the pixel size.  A candidate is a connected
    region of myocardium and blood pool; its score is its summed myocardium
    probability times the pixel area (mm², so that scores of views at
    different pixel sizes compare).  Regions whose myocardium area lies
    outside [``MIN_MYOCARDIUM_MM2``, ``MAX_MYOCARDIUM_MM2``] are left out.
    """
    count, components = cv2.connectedComponents((labels > 0).astype(np.uint8), connectivity=8)
    pixel_mm2 = spacing_mm**2
    found = []
    for k in range(1, count):
        region = components == k
        area = np.count_nonzero(region & (labels == 1)) * pixel_mm2
        if MIN_MYOCARDIUM_MM2 <= area <= MAX_MYOCARDIUM_MM2:
            rows, cols = np.nonzero(region)
            found.append(Candidate((float(cols.mean()), float(rows.mean())), float(probabilities[1][region].sum()) * pixel_mm2, region))
    return sorted(found, key=lambda c: -c.score)


def locate_lv(labels: np.ndarray, probabilities: np.ndarray, spacing_mm: float) -> tuple[float, float] | None:
    """Centre (x, y) of the first of :func:`candidates`, or None."""
    found = candidates(labels, probabilities, spacing_mm)
    return found[0].centre_xy if found else None


def search_levels(
    shape: tuple[int, int], spacing_mm: tuple[float, float], size: int, model_mm: float, search_size: int | None = None
) -> list[list[Window]]:
    """The windows to look for the LV in, level by level: the whole field of view, then finer overlapping tiles.

    Level 0 is one window holding the whole image, ``search_size`` pixels a
    side (default ``size``) or fewer when the field of view fits at the
    model's pixel size (a multiple of 32, at least ``size``).  Each further
    level halves the pixel size, down to the model's own, and tiles the
    field of view with windows of ``size`` that overlap by half.
    """
    fov_px = max(shape[0] * spacing_mm[0], shape[1] * spacing_mm[1]) / model_mm
    whole_size = int(np.clip(32 * np.ceil(fov_px / 32), size, max(search_size or size, size)))
    whole = whole_image_window(shape, spacing_mm, whole_size, model_mm)
    levels, pixel_mm = [[whole]], whole.spacing_mm
    extent_mm = (shape[1] * spacing_mm[1], shape[0] * spacing_mm[0])  # x, y
    while pixel_mm > model_mm * 1.01:
        pixel_mm = max(pixel_mm / 2.0, model_mm)
        side_mm = size * pixel_mm
        axes = [_tile_centres_mm(extent, side_mm) for extent in extent_mm]
        levels.append([
            Window((float(x / spacing_mm[1] - 0.5), float(y / spacing_mm[0] - 0.5)), tuple(spacing_mm), tuple(shape), pixel_mm, size)
            for y in axes[1] for x in axes[0]
        ])  # fmt: skip
    return levels


def _tile_centres_mm(extent_mm: float, side_mm: float) -> list[float]:
    """Centres (mm from the image edge) of windows of ``side_mm`` covering ``extent_mm`` with half overlap."""
    if extent_mm <= side_mm:
        return [extent_mm / 2.0]
    count = int(np.ceil((extent_mm - side_mm) / (side_mm / 2.0))) + 1
    return list(np.linspace(side_mm / 2.0, extent_mm - side_mm / 2.0, count))


def offset_mm(window: Window, centre_xy: tuple[float, float]) -> float:
    """Distance in mm between a window's centre and a native point."""
    dx = (centre_xy[0] - window.centre_xy[0]) * window.native_spacing_mm[1]
    dy = (centre_xy[1] - window.centre_xy[1]) * window.native_spacing_mm[0]
    return float(np.hypot(dx, dy))


def predict_physical(
    segmenter,
    images: list[np.ndarray],
    spacings_mm: list[tuple[float, float]],
    *,
    tta: bool,
    batch_size: int,
    kinds=None,
    hints=None,
):
    """Locate, then segment, for a fixed-pixel-size model; returns ``(predictions, reasons)`` like ``Segmenter.predict_each``.

    ``kinds`` (one stack name or ``"cine"`` or None per image, or None for all unknown)
    says what is asked of a ring's blood pool, and which maps' predictions
    carry the check's doubts (:mod:`myomap.model.evidence`).  ``hints``
    (one native (x, y) pixel point or None per image) are where the LV is
    expected, e.g. where it was found on a map of the same slice: a hint
    is the first candidate, before any found by the search.

    Candidates are segmented in turn, at most ``MAX_SEGMENTED`` per image,
    until one is a sure LV (:func:`myomap.model.evidence.looks_like_lv`);
    when the candidates of one search level run out, the next level is
    searched.  Where none is sure, the first within the outer limits is
    kept; where none is within them, "no left ventricle found".
    """
    size, spacing = segmenter.meta.input_size, float(segmenter.meta.window_spacing_mm)
    reasons, searches = _plan(images, spacings_mm, size, spacing, segmenter.search_size)
    shown = [as_network_sees(image) if k in searches else image for k, image in enumerate(images)]
    for k, hint in enumerate(hints or []):
        if hint is not None and k in searches:
            searches[k].queue = [(float(hint[0]), float(hint[1]))]  # tried before the search's level 0 is segmented
    predictions: list = [None] * len(images)
    fallback: dict[int, object] = {}  # the first ring within the outer limits, for images where no ring is a sure LV
    pending = set(searches)
    for _ in range(MAX_SEGMENTED):
        centres = _next_centres(segmenter, shown, searches, pending, batch_size)
        pending = set(centres)
        segmented = _segment(segmenter, shown, images, searches, centres, tta=tta, batch_size=batch_size, kinds=kinds)
        for k, (prediction, evidence, where) in segmented.items():
            searches[k].tried.append(where)
            if looks_like_lv(evidence):
                predictions[k] = replace(prediction, doubts=evidence.doubts())
                pending.discard(k)
                continue
            if looks_like_lv(evidence, strict=False):
                fallback.setdefault(k, replace(prediction, doubts=evidence.doubts()))
            logger.debug("image %d: ring at (%.0f, %.0f): %s", k, *where, "none" if evidence is None else evidence.problem())
    for k in searches:
        if predictions[k] is None:
            predictions[k] = fallback.get(k)
        if predictions[k] is None:
            reasons[k] = NO_LV
    return predictions, reasons


@dataclass
class _Search:
    """Where one image's LV search stands: its levels, the next level to search, centres still to try, rings seen."""

    levels: list[list[Window]]
    depth: int = 0
    queue: list[tuple[float, float]] = field(default_factory=list)
    tried: list[tuple[float, float]] = field(default_factory=list)

    def next_centre(self) -> tuple[float, float] | None:
        """The next candidate centre (native pixels) at least ``SAME_PLACE_MM`` from every ring already segmented."""
        row_mm, col_mm = self.levels[0][0].native_spacing_mm
        while self.queue:
            x, y = self.queue.pop(0)
            if all(np.hypot((x - sx) * col_mm, (y - sy) * row_mm) >= SAME_PLACE_MM for sx, sy in self.tried):
                return (x, y)
        return None


def _plan(images, spacings_mm, size: int, spacing: float, search_size: int) -> tuple[list[str | None], dict[int, _Search]]:
    """Reasons for the images that cannot be segmented, and the search levels of the others."""
    reasons: list[str | None] = [None] * len(images)
    searches: dict[int, _Search] = {}
    for k, (image, pixel_mm) in enumerate(zip(images, spacings_mm)):
        try:
            check_image(image)
            finite = np.asarray(image)[np.isfinite(image)]
            if finite.size == 0:
                raise ValueError("image contains only NaN or infinite pixels")
            if finite.min() == finite.max():
                raise ValueError("image has a single constant value")
            levels = search_levels(np.shape(image), (float(pixel_mm[0]), float(pixel_mm[1])), size, spacing, search_size)
            searches[k] = _Search(levels)
        except ValueError as exc:
            reasons[k] = str(exc)
    return reasons, searches


def _next_centres(segmenter, images, searches: dict[int, _Search], pending: set[int], batch_size: int) -> dict:
    """The next candidate centre of each pending image, searching deeper levels where its candidates ran out."""
    centres, waiting = {}, set(pending)
    while waiting:
        for k in list(waiting):
            centre = searches[k].next_centre()
            if centre is not None or searches[k].depth >= len(searches[k].levels):
                waiting.discard(k)
            if centre is not None:
                centres[k] = centre
        _refill(segmenter, images, {k: searches[k] for k in waiting}, batch_size)
    return centres


def _refill(segmenter, images, searches: dict[int, _Search], batch_size: int) -> None:
    """Search the next levels of these images, level by level, until each has candidates or no level is left."""
    from myomap.model.window import cut_window, normalise_inside

    pending = {k for k, s in searches.items() if s.depth < len(s.levels)}
    while pending:
        inputs, usable = [], []
        for k in sorted(pending):
            for window in searches[k].levels[searches[k].depth]:
                pixels, inside = cut_window(images[k], window)
                if inside.mean() < 0.05:  # a tile that is almost all outside the image cannot show an LV
                    continue
                try:
                    inputs.append(normalise_inside(pixels, inside))
                except ValueError:  # a tile of one value (an empty corner) shows no LV either
                    continue
                usable.append((k, window))
        found: dict[int, list[tuple[float, tuple[float, float]]]] = {k: [] for k in pending}
        for side in sorted({len(x) for x in inputs}):  # whole-field views differ in size between images
            group = [j for j, x in enumerate(inputs) if len(x) == side]
            probabilities = segmenter.probabilities(np.stack([inputs[j] for j in group]), batch_size=batch_size)[0]
            for (k, window), p in zip([usable[j] for j in group], probabilities):
                for candidate in candidates(p.argmax(axis=0), p, window.spacing_mm):
                    x, y = points_to_native(np.array([candidate.centre_xy]), window)[0]
                    found[k].append((candidate.score, (float(x), float(y))))
        for k in list(pending):
            searches[k].depth += 1
            searches[k].queue = [centre for _, centre in sorted(found[k], key=lambda f: -f[0])]
            if searches[k].queue or searches[k].depth >= len(searches[k].levels):
                pending.discard(k)


def _segment(segmenter, shown, images, searches: dict[int, _Search], centres: dict, *, tta: bool, batch_size: int, kinds) -> dict:
    """Segment a window on each centre (moved once onto the ring if it lies off-centre); ``(prediction, evidence, ring centre)`` per image.

    The network segments ``shown`` (the images as it sees them: :func:`~myomap.model.window.as_network_sees`); the rings are checked against ``images``.
    """
    size, spacing = segmenter.meta.input_size, float(segmenter.meta.window_spacing_mm)
    windows = {k: _fine_window(searches[k].levels[0][0], centre, spacing, size) for k, centre in centres.items()}
    predictions = _fine(segmenter, shown, windows, tta=tta, batch_size=batch_size)
    rings = {k: _ring(predictions[k], windows[k]) for k in windows}
    moved = {}
    for k, window in windows.items():
        ring = rings[k]
        if ring is not None and offset_mm(window, ring.centre_xy) > RECENTRE_MM:
            moved[k] = _fine_window(window, ring.centre_xy, spacing, size)
    predictions.update(_fine(segmenter, shown, moved, tta=tta, batch_size=batch_size))
    rings.update({k: _ring(predictions[k], w) for k, w in moved.items()})
    results = {}
    for k, window in {**windows, **moved}.items():
        ring = rings[k]
        evidence = None
        if ring is not None:
            kind = kinds[k] if kinds is not None else None
            evidence = ring_evidence(
                images[k],
                ring.region,
                predictions[k].labels,
                window.native_spacing_mm,
                kind=kind,
                probabilities=predictions[k].probabilities,
                agreement=predictions[k].agreement,
            )
        results[k] = (predictions[k], evidence, window.centre_xy if ring is None else ring.centre_xy)
    return results


def _ring(prediction, window: Window) -> Candidate | None:
    """The most convincing LV ring of a prediction on the native grid."""
    pixel_mm = float(np.sqrt(np.prod(window.native_spacing_mm)))  # the area test is what needs it
    found = candidates(prediction.labels, prediction.probabilities, pixel_mm)
    return found[0] if found else None


def _fine(segmenter, images, windows: dict[int, Window], *, tta: bool, batch_size: int) -> dict:
    """Segment each image's window."""
    from myomap.model.window import cut_window, normalise_inside

    if not windows:
        return {}
    keys = list(windows)
    prepared = [(normalise_inside(*cut_window(images[k], windows[k])), windows[k]) for k in keys]
    return dict(zip(keys, segmenter.predict_prepared(prepared, tta=tta, batch_size=batch_size)))


def _fine_window(like: Window, centre_xy: tuple[float, float], spacing_mm: float, size: int) -> Window:
    return Window(centre_xy, like.native_spacing_mm, like.native_shape, spacing_mm, size)
