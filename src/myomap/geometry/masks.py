"""Contours to label masks.

A pixel belongs to a region when its centre lies inside the polygon (the
contour's vertices joined by straight lines).  With sub-pixel vertex
coordinates this is the exact pixel-centre sampling of the drawn region,
independent of how many vertices the contour has.

Edge cases, by design: a contour is always closed by the segment from its
last point back to the first (repeating the first point at the end changes
nothing); a self-intersecting contour is filled by the even-odd rule, so
doubly wound parts are outside; fewer than three points raise ValueError.
"""

from __future__ import annotations

import numpy as np
from skimage.draw import polygon2mask

BACKGROUND, MYOCARDIUM, BLOOD_POOL = 0, 1, 2
CLASS_NAMES = ("background", "myocardium", "blood_pool")


def polygon_mask(points_xy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of the pixels whose centre is inside the closed polygon ``points_xy`` ((n, 2), x = column)."""
    points_xy = np.asarray(points_xy, dtype=float)
    if points_xy.ndim != 2 or points_xy.shape[1] != 2 or len(points_xy) < 3:
        raise ValueError(f"a contour needs at least 3 (x, y) points, got array of shape {points_xy.shape}")
    return polygon2mask(shape, points_xy[:, ::-1])


def contours_to_mask(epi_xy: np.ndarray, endo_xy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Three-class label image: 0 background, 1 LV myocardium (between the contours), 2 LV blood pool.

    The blood pool is everything inside the endocardial contour; the
    myocardium is inside the epicardial but not the endocardial contour.

    Examples
    --------
    >>> t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    >>> circle = lambda r: np.column_stack([10 + r * np.cos(t), 10 + r * np.sin(t)])
    >>> mask = contours_to_mask(circle(8), circle(4), (21, 21))
    >>> int(mask[10, 10]), int(mask[10, 16]), int(mask[0, 0])
    (2, 1, 0)
    """
    epi = polygon_mask(epi_xy, shape)
    endo = polygon_mask(endo_xy, shape)
    mask = np.zeros(shape, dtype=np.uint8)
    mask[epi] = MYOCARDIUM
    mask[endo] = BLOOD_POOL
    return mask
