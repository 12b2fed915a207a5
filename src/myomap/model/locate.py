"""Finding the left ventricle: from coarse views of the whole field of view to a window on the heart.

A model trained at a fixed pixel size (``window_spacing_mm`` in its
metadata) segments in two stages:

1. **Locate.** The whole image is fitted into one view of up to
   ``search_size`` pixels (256: a 380 mm field of view at ~1.5 mm; never
   finer than the model's pixel size) and segmented; the network is fully
   convolutional, so the larger view costs one pass of four times the
   area.  :func:`best_candidate` keeps the connected myocardium +
   blood-pool region with the most myocardium whose area is plausible for
   a short-axis LV.  When that view shows none (a small apical heart in a
   450 mm torso), the field of view is searched again with overlapping
   tiles of the model's input size at half that pixel size, down to the
   model's own (:func:`search_levels`), and the best candidate of the
   first level that has one wins.  No candidate at any level: no left
   ventricle.  (The search used to start from a 128-pixel view of the
   whole field of view, about 3 mm per pixel: on unseen phantom maps it
   placed the LV within 15 mm on 48 of 72, the 256-pixel view on 72 of 72,
   and most maps then needed nine more tiles.)
   (Checking the best few candidates again at the model's pixel size was
   tried and made the robustness benchmark worse: the largest myocardium at
   fine scale is not always the LV.)
2. **Segment.** A window at the model's pixel size is centred on the LV
   and segmented, with test-time augmentation if asked.  If the LV found in
   it lies more than ``RECENTRE_MM`` from the window centre (a poor coarse
   guess), the window is moved once and segmented again.  A result with
   less than ``MIN_MYOCARDIUM_MM2`` of myocardium is "no left ventricle".

The result is mapped back to the native grid by :mod:`myomap.model.window`.
"""

from __future__ import annotations

import cv2
import numpy as np

from myomap.model.data import check_image
from myomap.model.window import Window, points_to_native, whole_image_window

NO_LV = "no left ventricle found"
# Plausible short-axis LV myocardium: an apical ring of a small heart has ~150 mm^2;
# 12000 mm^2 is far beyond a dilated basal slice (epicardial radius 45 mm, wall 15 mm).
MIN_MYOCARDIUM_MM2 = 80.0
MAX_MYOCARDIUM_MM2 = 12000.0
RECENTRE_MM = 12.0


def best_candidate(labels: np.ndarray, probabilities: np.ndarray, spacing_mm: float) -> tuple[tuple[float, float], float] | None:
    """Centre (x, y) in the labels' pixels and score of the most convincing LV in a prediction, or None.

    ``labels`` is a (S, S) class image (0 background, 1 myocardium, 2 blood
    pool) and ``probabilities`` the (C, S, S) class probabilities it came
    from; ``spacing_mm`` is the pixel size.  A candidate is a connected
    region of myocardium and blood pool; its score is its summed myocardium
    probability times the pixel area (mm², so that scores of views at
    different pixel sizes compare).  Regions whose myocardium area lies
    outside [``MIN_MYOCARDIUM_MM2``, ``MAX_MYOCARDIUM_MM2``] are ignored.
    """
    count, components = cv2.connectedComponents((labels > 0).astype(np.uint8), connectivity=8)
    pixel_mm2 = spacing_mm**2
    best = None
    for k in range(1, count):
        region = components == k
        area = np.count_nonzero(region & (labels == 1)) * pixel_mm2
        score = float(probabilities[1][region].sum()) * pixel_mm2
        if MIN_MYOCARDIUM_MM2 <= area <= MAX_MYOCARDIUM_MM2 and (best is None or score > best[1]):
            rows, cols = np.nonzero(region)
            best = ((float(cols.mean()), float(rows.mean())), score)
    return best


def locate_lv(labels: np.ndarray, probabilities: np.ndarray, spacing_mm: float) -> tuple[float, float] | None:
    """Centre (x, y) of :func:`best_candidate`, or None."""
    found = best_candidate(labels, probabilities, spacing_mm)
    return None if found is None else found[0]


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


def predict_physical(segmenter, images: list[np.ndarray], spacings_mm: list[tuple[float, float]], *, tta: bool, batch_size: int):
    """Locate, then segment, for a fixed-pixel-size model; returns ``(predictions, reasons)`` like ``Segmenter.predict_each``."""
    size, spacing = segmenter.meta.input_size, float(segmenter.meta.window_spacing_mm)
    reasons: list[str | None] = [None] * len(images)
    levels: dict[int, list[list[Window]]] = {}
    for k, (image, pixel_mm) in enumerate(zip(images, spacings_mm)):
        try:
            check_image(image)
            finite = np.asarray(image)[np.isfinite(image)]
            if finite.size == 0:
                raise ValueError("image contains only NaN or infinite pixels")
            if finite.min() == finite.max():
                raise ValueError("image has a single constant value")
            levels[k] = search_levels(np.shape(image), (float(pixel_mm[0]), float(pixel_mm[1])), size, spacing, segmenter.search_size)
        except ValueError as exc:
            reasons[k] = str(exc)
    centres = _locate(segmenter, images, levels, reasons, batch_size)
    predictions: list = [None] * len(images)
    windows = {k: _fine_window(levels[k][0][0], centres[k], spacing, size) for k in centres}
    _fine(segmenter, images, windows, predictions, tta=tta, batch_size=batch_size)
    moved = {}
    for k, window in windows.items():
        pixel_mm = float(np.sqrt(np.prod(window.native_spacing_mm)))  # the area test is what needs it
        centre = locate_lv(predictions[k].labels, predictions[k].probabilities, pixel_mm)
        if centre is not None and offset_mm(window, centre) > RECENTRE_MM:
            moved[k] = _fine_window(window, centre, spacing, size)
    _fine(segmenter, images, moved, predictions, tta=tta, batch_size=batch_size)
    for k, window in windows.items():
        if _myocardium_mm2(predictions[k].labels, window.native_spacing_mm) < MIN_MYOCARDIUM_MM2:
            predictions[k], reasons[k] = None, NO_LV
    return predictions, reasons


def _locate(segmenter, images, levels: dict[int, list[list[Window]]], reasons: list, batch_size: int) -> dict[int, tuple[float, float]]:
    """LV centre (native pixels) per image, searching level by level; images without one get ``NO_LV`` in ``reasons``."""
    from myomap.model.window import cut_window, normalise_inside

    centres: dict[int, tuple[float, float]] = {}
    pending = set(levels)
    for depth in range(max((len(v) for v in levels.values()), default=0)):
        inputs, usable = [], []
        for k, window in ((j, w) for j in sorted(pending) if depth < len(levels[j]) for w in levels[j][depth]):
            pixels, inside = cut_window(images[k], window)
            if inside.mean() < 0.05:  # a tile that is almost all outside the image cannot show an LV
                continue
            try:
                inputs.append(normalise_inside(pixels, inside))
            except ValueError:  # a tile of one value (an empty corner) shows no LV either
                continue
            usable.append((k, window))
        best: dict[int, tuple[tuple[float, float], float]] = {}
        for side in sorted({len(x) for x in inputs}):  # whole-field views differ in size between images
            group = [j for j, x in enumerate(inputs) if len(x) == side]
            probabilities = segmenter.probabilities(np.stack([inputs[j] for j in group]), batch_size=batch_size)[0]
            for (k, window), p in zip([usable[j] for j in group], probabilities):
                found = best_candidate(p.argmax(axis=0), p, window.spacing_mm)
                if found is not None and found[1] > best.get(k, (None, 0.0))[1]:
                    x, y = points_to_native(np.array([found[0]]), window)[0]
                    best[k] = ((float(x), float(y)), found[1])
        for k, (centre, _) in best.items():
            centres[k] = centre
            pending.discard(k)
    for k in pending:
        reasons[k] = NO_LV
    return centres


def _fine(segmenter, images, windows: dict[int, Window], predictions: list, *, tta: bool, batch_size: int) -> None:
    """Segment each image's window; results go into ``predictions``."""
    from myomap.model.window import cut_window, normalise_inside

    if not windows:
        return
    keys = list(windows)
    prepared = [(normalise_inside(*cut_window(images[k], windows[k])), windows[k]) for k in keys]
    for k, prediction in zip(keys, segmenter.predict_prepared(prepared, tta=tta, batch_size=batch_size)):
        predictions[k] = prediction


def _fine_window(like: Window, centre_xy: tuple[float, float], spacing_mm: float, size: int) -> Window:
    return Window(centre_xy, like.native_spacing_mm, like.native_shape, spacing_mm, size)


def _myocardium_mm2(labels: np.ndarray, spacing_mm: tuple[float, float]) -> float:
    return float((labels == 1).sum() * spacing_mm[0] * spacing_mm[1])
