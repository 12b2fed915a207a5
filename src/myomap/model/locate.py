"""Finding the left ventricle: from a coarse view of the whole field of view to a window on the heart.

A model trained at a fixed pixel size (``window_spacing_mm`` in its
metadata) segments in two passes:

1. **Coarse.** The whole image is fitted into one window (at the model's
   pixel size or coarser when the field of view is larger) and segmented.
   :func:`locate_lv` keeps the connected myocardium + blood-pool region with
   the most myocardium whose area is plausible for a short-axis LV, and
   returns its centre.  No such region: no left ventricle.
2. **Fine.** A window at the model's pixel size is centred there and
   segmented, with test-time augmentation if asked.  If the LV found in it
   lies more than ``RECENTRE_MM`` from the window centre (a poor coarse
   guess), the window is moved once and segmented again.

The result is mapped back to the native grid by :mod:`myomap.model.window`.
"""

from __future__ import annotations

import cv2
import numpy as np

from myomap.model.window import Window, points_to_native

NO_LV = "no left ventricle found"
# Plausible short-axis LV myocardium: an apical ring of a small heart has ~150 mm^2;
# 12000 mm^2 is far beyond a dilated basal slice (epicardial radius 45 mm, wall 15 mm).
MIN_MYOCARDIUM_MM2 = 80.0
MAX_MYOCARDIUM_MM2 = 12000.0
RECENTRE_MM = 12.0


def locate_lv(labels: np.ndarray, probabilities: np.ndarray, spacing_mm: float) -> tuple[float, float] | None:
    """Centre (x, y) in the labels' pixels of the most convincing LV, or None.

    ``labels`` is a (S, S) class image (0 background, 1 myocardium, 2 blood
    pool) and ``probabilities`` the (C, S, S) class probabilities it came
    from; ``spacing_mm`` is the pixel size.  A candidate is a connected
    region of myocardium and blood pool; its score is its summed myocardium
    probability.  Regions whose myocardium area lies outside
    [``MIN_MYOCARDIUM_MM2``, ``MAX_MYOCARDIUM_MM2``] are ignored.
    """
    heart = (labels > 0).astype(np.uint8)
    count, components = cv2.connectedComponents(heart, connectivity=8)
    pixel_mm2 = spacing_mm**2
    best, best_score = None, 0.0
    for k in range(1, count):
        region = components == k
        myocardium = region & (labels == 1)
        area = myocardium.sum() * pixel_mm2
        if not MIN_MYOCARDIUM_MM2 <= area <= MAX_MYOCARDIUM_MM2:
            continue
        score = float(probabilities[1][region].sum())
        if score > best_score:
            rows, cols = np.nonzero(region)
            best, best_score = (float(cols.mean()), float(rows.mean())), score
    return best


def lv_centre_native(labels: np.ndarray, probabilities: np.ndarray, window: Window) -> tuple[float, float] | None:
    """:func:`locate_lv` on a window's prediction, returned in native pixels."""
    centre = locate_lv(labels, probabilities, window.spacing_mm)
    if centre is None:
        return None
    x, y = points_to_native(np.array([centre]), window)[0]
    return float(x), float(y)


def offset_mm(window: Window, centre_xy: tuple[float, float]) -> float:
    """Distance in mm between a window's centre and a native point."""
    dx = (centre_xy[0] - window.centre_xy[0]) * window.native_spacing_mm[1]
    dy = (centre_xy[1] - window.centre_xy[1]) * window.native_spacing_mm[0]
    return float(np.hypot(dx, dy))


def predict_physical(segmenter, images: list[np.ndarray], spacings_mm: list[tuple[float, float]], *, tta: bool, batch_size: int):
    """The two passes for a fixed-pixel-size model; returns ``(predictions, reasons)`` like ``Segmenter.predict_each``."""
    from myomap.model.inference import check_image
    from myomap.model.window import cut_window, normalise_inside, whole_image_window

    meta = segmenter.meta
    size, spacing = meta.input_size, float(meta.window_spacing_mm)
    reasons: list[str | None] = [None] * len(images)
    coarse: dict[int, tuple[np.ndarray, Window]] = {}
    for k, (image, pixel_mm) in enumerate(zip(images, spacings_mm)):
        try:
            check_image(image)
            if not np.isfinite(image).any():
                raise ValueError("image contains only NaN or infinite pixels")
            window = whole_image_window(np.shape(image), tuple(float(v) for v in pixel_mm), size, spacing)
            coarse[k] = (normalise_inside(*cut_window(image, window)), window)
        except ValueError as exc:
            reasons[k] = str(exc)
    centres: dict[int, tuple[float, float]] = {}
    if coarse:
        keys = list(coarse)
        probabilities = segmenter.probabilities(np.stack([coarse[k][0] for k in keys]), batch_size=batch_size)[0]
        for k, p in zip(keys, probabilities):
            centre = lv_centre_native(p.argmax(axis=0), p, coarse[k][1])
            if centre is None:
                reasons[k] = NO_LV
            else:
                centres[k] = centre
    predictions: list = [None] * len(images)
    _fine(segmenter, images, centres, coarse, predictions, tta=tta, batch_size=batch_size)
    moved = {}
    for k in centres:
        pixel_mm = float(np.sqrt(np.prod(coarse[k][1].native_spacing_mm)))  # the area test is what needs it
        centre = locate_lv(predictions[k].labels, predictions[k].probabilities, pixel_mm)
        if centre is not None and offset_mm(_fine_window(coarse[k][1], centres[k], spacing, size), centre) > RECENTRE_MM:
            moved[k] = centre
    _fine(segmenter, images, moved, coarse, predictions, tta=tta, batch_size=batch_size)
    for k in centres:
        if _myocardium_mm2(predictions[k].labels, coarse[k][1].native_spacing_mm) < MIN_MYOCARDIUM_MM2:
            predictions[k], reasons[k] = None, NO_LV
    return predictions, reasons


def _fine(segmenter, images, centres: dict, coarse: dict, predictions: list, *, tta: bool, batch_size: int) -> None:
    """Segment a fine window around each centre; results go into ``predictions``."""
    from myomap.model.window import cut_window, normalise_inside

    if not centres:
        return
    meta = segmenter.meta
    prepared, keys = [], list(centres)
    for k in keys:
        window = _fine_window(coarse[k][1], centres[k], float(meta.window_spacing_mm), meta.input_size)
        prepared.append((normalise_inside(*cut_window(images[k], window)), window))
    for k, prediction in zip(keys, segmenter.predict_prepared(prepared, tta=tta, batch_size=batch_size)):
        predictions[k] = prediction


def _fine_window(coarse: Window, centre_xy: tuple[float, float], spacing_mm: float, size: int) -> Window:
    return Window(centre_xy, coarse.native_spacing_mm, coarse.native_shape, spacing_mm, size)


def _myocardium_mm2(labels: np.ndarray, spacing_mm: tuple[float, float]) -> float:
    return float((labels == 1).sum() * spacing_mm[0] * spacing_mm[1])
