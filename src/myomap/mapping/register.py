"""In-plane rigid (translation) registration: weighted images before fitting, and one map's region onto another map.

Weighted images of one map change contrast from image to image (MOLLI even
inverts it), so intensities cannot be matched directly.  Edges stay where
the anatomy is, so each image's gradient magnitude is aligned to that of a
reference image by phase correlation (scikit-image), with sub-pixel
precision, and the image is shifted by the estimated offset
(:func:`register_translation`).

A region of one map is matched on another map of the same slice, acquired
in another breath-hold and with other contrast (a native and a
post-contrast T1 map), by mutual information over that region only
(:func:`match_region`): edges fail there, as on a post-contrast map of a
diffusely diseased heart the myocardium and the blood have nearly the same
values, and the whole field of view fails, as the chest wall and the spine
stay where they were while the heart moves with the diaphragm.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.metrics import normalized_mutual_information
from skimage.registration import phase_cross_correlation


def _edges(image: np.ndarray) -> np.ndarray:
    smooth = ndimage.gaussian_filter(np.asarray(image, dtype=float), 1.0)
    return np.hypot(ndimage.sobel(smooth, 0), ndimage.sobel(smooth, 1))


def register_translation(images: np.ndarray, *, reference: int = -1, max_shift_px: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """Align every image of ``images`` (n, rows, cols) to ``images[reference]``.

    Returns the registered stack and the applied shifts (n, 2) in pixels
    (row, col).  Estimated shifts larger than ``max_shift_px`` are not
    trusted and left at zero.
    """
    images = np.asarray(images, dtype=float)
    target = _edges(images[reference])
    out = images.copy()
    shifts = np.zeros((images.shape[0], 2))
    for k in range(images.shape[0]):
        if k == reference % images.shape[0]:
            continue
        shift, _, _ = phase_cross_correlation(target, _edges(images[k]), upsample_factor=20, normalization=None)
        if np.hypot(*shift) <= max_shift_px:
            shifts[k] = shift
            out[k] = ndimage.shift(images[k], shift, order=1, mode="nearest")
    return out, shifts


def match_region(
    reference: np.ndarray, moving: np.ndarray, region: np.ndarray, max_shift_px: tuple[int, int], *, bins: int = 32
) -> tuple[tuple[int, int], bool]:
    """The whole-pixel shift (rows, cols) that carries ``region`` of ``reference`` onto the same anatomy in ``moving``.

    ``reference`` and ``moving`` are images of one grid (NaN counts as 0,
    each clipped to its 1st-99th percentile over the region, so that the
    random extremes of a fit's lung speckle take no histogram of their
    own); ``region`` (bool) the pixels to match.  Every shift within
    ``max_shift_px`` is tried and the one whose moved pixels share the most
    information with the region's (scikit-image's normalised mutual
    information, ``bins`` per image) wins, ties going to the shorter shift
    in pixels.  Returns the shift and whether it is trusted: False, with
    (0, 0), when the best shift lies on the border of the search (the true
    one may lie beyond; so at most ``max_shift_px - 1`` per axis is
    trusted), or the region is empty, or the region or ``moving`` holds one
    value only.  The exhaustive search is written here:
    scikit-image registers by phase correlation or optical flow, neither
    restricted to a region nor made for a contrast that changes between
    the images; a masked mutual-information optimiser is SimpleITK's, a
    large dependency for one translation.
    """
    rows, cols = np.nonzero(region)
    if rows.size == 0:
        return (0, 0), False
    dy_max, dx_max = (max(1, int(m)) for m in max_shift_px)
    template = _clipped(reference, region)[rows, cols]
    shifted = np.pad(_clipped(moving, region), ((dy_max, dy_max), (dx_max, dx_max)), mode="edge")
    if np.ptp(template) == 0 or np.ptp(shifted) == 0:
        return (0, 0), False  # a region, or a map, of one value matches anywhere
    candidates = sorted(
        ((dy, dx) for dy in range(-dy_max, dy_max + 1) for dx in range(-dx_max, dx_max + 1)), key=lambda s: s[0] ** 2 + s[1] ** 2
    )
    best, best_score = (0, 0), -np.inf
    for dy, dx in candidates:  # nearest first: a later shift must do strictly better
        score = normalized_mutual_information(template, shifted[rows + dy + dy_max, cols + dx + dx_max], bins=bins)
        if score > best_score:
            best, best_score = (dy, dx), score
    if abs(best[0]) == dy_max or abs(best[1]) == dx_max:
        return (0, 0), False
    return best, True


def _clipped(image: np.ndarray, region: np.ndarray) -> np.ndarray:
    values = np.nan_to_num(np.asarray(image, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = np.percentile(values[region], (1.0, 99.0))
    return np.clip(values, low, high)
