"""Distances between contours in mm."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def densify(points_xy: np.ndarray, *, spacing_mm: tuple[float, float], step_mm: float = 0.1) -> np.ndarray:
    """Closed contour resampled along its edges to at most ``step_mm`` apart, returned in mm (x, y)."""
    points = np.asarray(points_xy, dtype=float) * np.array([spacing_mm[1], spacing_mm[0]])
    closed = np.vstack([points, points[:1]])
    out = []
    for p, q in zip(closed[:-1], closed[1:]):
        n = max(1, int(np.ceil(np.linalg.norm(q - p) / step_mm)))
        out.append(p + (q - p) * (np.arange(n) / n)[:, None])
    return np.vstack(out)


def surface_distances(a_xy: np.ndarray, b_xy: np.ndarray, *, spacing_mm: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Distances (mm) from each densified point of contour a to contour b, and back."""
    a = densify(a_xy, spacing_mm=spacing_mm)
    b = densify(b_xy, spacing_mm=spacing_mm)
    return cKDTree(b).query(a)[0], cKDTree(a).query(b)[0]


def hausdorff_mm(a_xy: np.ndarray, b_xy: np.ndarray, *, spacing_mm: tuple[float, float]) -> float:
    """Symmetric Hausdorff distance between two closed contours given in pixels, in mm.

    Examples
    --------
    >>> square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    >>> round(hausdorff_mm(square, square + [1, 0], spacing_mm=(1.0, 2.0)), 6)
    2.0
    """
    ab, ba = surface_distances(a_xy, b_xy, spacing_mm=spacing_mm)
    return float(max(ab.max(), ba.max()))


def mean_surface_distance_mm(a_xy: np.ndarray, b_xy: np.ndarray, *, spacing_mm: tuple[float, float]) -> float:
    """Mean of both directed mean distances between two closed contours, in mm."""
    ab, ba = surface_distances(a_xy, b_xy, spacing_mm=spacing_mm)
    return float((ab.mean() + ba.mean()) / 2.0)
