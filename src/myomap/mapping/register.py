"""In-plane rigid (translation) registration of weighted images before fitting.

Weighted images of one map change contrast from image to image (MOLLI even
inverts it), so intensities cannot be matched directly.  Edges stay where
the anatomy is, so each image's gradient magnitude is aligned to that of a
reference image by phase correlation (scikit-image), with sub-pixel
precision, and the image is shifted by the estimated offset.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
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
