"""Closed polygons in pixel coordinates: the helpers every contour computation shares.

A polygon is an (n, 2) array of pixel (x = column, y = row), the centre of
the top-left pixel at (0, 0), closed by the edge from its last point back
to the first.  A pixel belongs to a polygon when its centre lies inside
(the contour's vertices joined by straight lines): with sub-pixel vertex
coordinates this is the exact pixel-centre sampling of the drawn region,
independent of how many vertices the contour has.  A self-intersecting
polygon is filled by the even-odd rule, so doubly wound parts are outside.
"""

from __future__ import annotations

import numpy as np
from skimage.draw import polygon2mask


def polygon_mask(points_xy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of the pixels whose centre is inside the closed polygon ``points_xy`` ((n, 2), x = column)."""
    points_xy = np.asarray(points_xy, dtype=float)
    if points_xy.ndim != 2 or points_xy.shape[1] != 2 or len(points_xy) < 3:
        raise ValueError(f"a contour needs at least 3 (x, y) points, got array of shape {points_xy.shape}")
    return polygon2mask(shape, points_xy[:, ::-1])


def polygon_area(points: np.ndarray) -> float:
    """Shoelace area of a closed polygon ((n, 2) points), in squared pixels."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def polygon_centroid(points_xy: np.ndarray) -> tuple[float, float]:
    """Area centroid (x, y) of a closed polygon; the mean of its points when its area is zero."""
    x, y = np.asarray(points_xy, float).T
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    area = cross.sum() / 2.0
    if abs(area) < 1e-12:
        return float(x.mean()), float(y.mean())
    return float(((x + np.roll(x, -1)) * cross).sum() / (6 * area)), float(((y + np.roll(y, -1)) * cross).sum() / (6 * area))


def perimeter_mm(points: np.ndarray, spacing_mm: tuple[float, float]) -> float:
    """Length in mm of a closed polygon's outline (``spacing_mm`` is (row, col))."""
    steps = np.diff(np.vstack([points, points[:1]]), axis=0) * np.array([spacing_mm[1], spacing_mm[0]])
    return float(np.hypot(steps[:, 0], steps[:, 1]).sum())


def densify(points_xy: np.ndarray, *, spacing_mm: tuple[float, float], step_mm: float = 0.2) -> np.ndarray:
    """Closed contour resampled along its edges to at most ``step_mm`` apart, returned in mm (x, y).

    The distance to the nearest sample overestimates the distance to the
    polygon by at most ``step² / (8 d)``: below 0.01 mm from d = 0.5 mm on.
    """
    points = np.asarray(points_xy, dtype=float) * np.array([spacing_mm[1], spacing_mm[0]])
    closed = np.vstack([points, points[:1]])
    segments = np.diff(closed, axis=0)
    counts = np.maximum(1, np.ceil(np.linalg.norm(segments, axis=1) / step_mm).astype(int))
    starts = np.repeat(closed[:-1], counts, axis=0)
    steps = np.repeat(segments, counts, axis=0)
    first = np.repeat(np.cumsum(counts) - counts, counts)  # index of each sample's segment start
    fractions = (np.arange(counts.sum()) - first) / np.repeat(counts, counts)
    return starts + steps * fractions[:, None]
