"""Distances between contours and between mask surfaces, in mm.

Contours are (n, 2) arrays of pixel (x, y); ``spacing_mm`` is (row, col)
as in DICOM PixelSpacing and is keyword-only everywhere, so anisotropic
pixels are handled and never confused.  Contour distances are computed on
the polygons (edges densified to 0.2 mm), not just on their vertices.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.measure import points_in_poly

from myomap.geometry.polygon import densify


def surface_distances(a_xy: np.ndarray, b_xy: np.ndarray, *, spacing_mm: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Distances (mm) from each densified point of contour a to contour b, and from b to a."""
    a = densify(a_xy, spacing_mm=spacing_mm)
    b = densify(b_xy, spacing_mm=spacing_mm)
    return cKDTree(b).query(a)[0], cKDTree(a).query(b)[0]


def hausdorff_mm(a_xy: np.ndarray, b_xy: np.ndarray, *, spacing_mm: tuple[float, float]) -> float:
    """Symmetric Hausdorff distance between two closed contours, in mm.

    Examples
    --------
    >>> square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    >>> round(hausdorff_mm(square, square + [1, 0], spacing_mm=(1.0, 2.0)), 6)
    2.0
    """
    ab, ba = surface_distances(a_xy, b_xy, spacing_mm=spacing_mm)
    return float(max(ab.max(), ba.max()))


def mean_surface_distance_mm(a_xy: np.ndarray, b_xy: np.ndarray, *, spacing_mm: tuple[float, float]) -> float:
    """Mean surface distance: the average of both directed mean distances, in mm."""
    ab, ba = surface_distances(a_xy, b_xy, spacing_mm=spacing_mm)
    return float((ab.mean() + ba.mean()) / 2.0)


def contour_distances_mm(pred_xy: np.ndarray, ref_xy: np.ndarray, *, spacing_mm: tuple[float, float]) -> tuple[float, float, float]:
    """Hausdorff, mean and signed mean surface distance (see the single functions) in one pass."""
    pred = densify(pred_xy, spacing_mm=spacing_mm)
    ref = densify(ref_xy, spacing_mm=spacing_mm)
    pred_to_ref = cKDTree(ref).query(pred)[0]
    ref_to_pred = cKDTree(pred).query(ref)[0]
    outside = ~points_in_poly(pred, np.asarray(ref_xy, float) * np.array([spacing_mm[1], spacing_mm[0]]))
    return (
        float(max(pred_to_ref.max(), ref_to_pred.max())),
        float((pred_to_ref.mean() + ref_to_pred.mean()) / 2.0),
        float(np.mean(np.where(outside, pred_to_ref, -pred_to_ref))),
    )


def signed_mean_surface_distance_mm(pred_xy: np.ndarray, ref_xy: np.ndarray, *, spacing_mm: tuple[float, float]) -> float:
    """Mean distance from the predicted to the reference contour, positive where it lies outside.

    Positive values mean the prediction is too large (over-segmentation),
    negative too small.

    Examples
    --------
    >>> t = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    >>> circle = lambda r: np.column_stack([r * np.cos(t), r * np.sin(t)])
    >>> round(signed_mean_surface_distance_mm(circle(11), circle(10), spacing_mm=(1, 1)), 2)
    1.0
    """
    return contour_distances_mm(pred_xy, ref_xy, spacing_mm=spacing_mm)[2]


def mask_surface_distance_mm(a: np.ndarray, b: np.ndarray, *, spacing_mm: tuple[float, float], percentile: float = 95.0) -> float:
    """Percentile of the symmetric distances between the surfaces of two masks (HD95 by default), mm.

    A surface pixel is a pixel of the mask with a neighbour outside it.
    Distances are between pixel centres, with the anisotropic spacing.
    Returns NaN when both masks are empty and ``inf`` when only one is
    (the convention of scikit-image's ``hausdorff_distance``).
    """
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if not a.any() and not b.any():
        return float("nan")
    if not a.any() or not b.any():
        return float("inf")
    surface_a = a & ~ndimage.binary_erosion(a)
    surface_b = b & ~ndimage.binary_erosion(b)
    to_b = ndimage.distance_transform_edt(~surface_b, sampling=spacing_mm)
    to_a = ndimage.distance_transform_edt(~surface_a, sampling=spacing_mm)
    distances = np.concatenate([to_b[surface_a], to_a[surface_b]])
    return float(np.percentile(distances, percentile))
