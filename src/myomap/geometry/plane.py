"""Pixels and patient coordinates of an image plane: where a point of one map lies on another map of the same patient.

DICOM places the centre of pixel (column x, row y) at
``ImagePositionPatient + x * PixelSpacing[1] * r + y * PixelSpacing[0] * c``,
``r`` and ``c`` being the first and last three ImageOrientationPatient
numbers: the directions in which the column and the row index grow (PS3.3
C.7.6.2.1.1).  Spacings here are (row, col) as everywhere in myomap.

Two maps of one exam planned at the same slice (a native and a
post-contrast T1 map, a T1 and a T2 map) share their plane within a
breath-hold's difference; a point found on one can then be looked up on
the other (:func:`point_on_plane`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from myomap.geometry.aha import slice_normal

# Planes closer than this along their normal, and normals closer than this angle, are one slice position.
SAME_SLICE_MM = 5.0
SAME_SLICE_DEG = 10.0


def pixel_to_patient(
    xy: ArrayLike, orientation: Sequence[float], position_mm: Sequence[float], spacing_mm: tuple[float, float]
) -> np.ndarray:
    """Patient coordinates (mm, LPS) of the pixel point ``xy`` = (column, row).

    >>> pixel_to_patient((2, 1), (1, 0, 0, 0, 1, 0), (10, 20, 30), (0.5, 2.0)).tolist()
    [14.0, 20.5, 30.0]
    """
    axes = np.asarray(orientation, float).reshape(2, 3)
    x, y = np.asarray(xy, float)
    return np.asarray(position_mm, float) + x * spacing_mm[1] * axes[0] + y * spacing_mm[0] * axes[1]


def image_centre_mm(
    shape: tuple[int, int], orientation: Sequence[float], position_mm: Sequence[float], spacing_mm: tuple[float, float]
) -> np.ndarray:
    """Patient coordinates (mm, LPS) of the middle of an image of ``shape`` (rows, columns).

    >>> image_centre_mm((3, 5), (1, 0, 0, 0, 1, 0), (10, 20, 30), (0.5, 2.0)).tolist()
    [14.0, 20.5, 30.0]
    """
    rows, cols = shape
    return pixel_to_patient(((cols - 1) / 2, (rows - 1) / 2), orientation, position_mm, spacing_mm)


def patient_to_pixel(
    point_mm: ArrayLike, orientation: Sequence[float], position_mm: Sequence[float], spacing_mm: tuple[float, float]
) -> tuple[np.ndarray, float]:
    """The pixel point (column, row) of the plane nearest to ``point_mm``, and the point's distance from the plane (mm).

    >>> xy, off = patient_to_pixel((14.0, 20.5, 33.0), (1, 0, 0, 0, 1, 0), (10, 20, 30), (0.5, 2.0))
    >>> xy.tolist(), off
    ([2.0, 1.0], 3.0)
    """
    axes = np.asarray(orientation, float).reshape(2, 3)
    offset = np.asarray(point_mm, float) - np.asarray(position_mm, float)
    xy = np.array([offset @ axes[0] / spacing_mm[1], offset @ axes[1] / spacing_mm[0]])
    return xy, abs(float(offset @ slice_normal(orientation)))


def point_on_plane(
    xy: ArrayLike,
    source: tuple[Sequence[float], Sequence[float], tuple[float, float]],
    target: tuple[Sequence[float], Sequence[float], tuple[float, float]],
    target_shape: tuple[int, int],
) -> np.ndarray | None:
    """The pixel point (column, row) on ``target`` of the point ``xy`` on ``source``, if the two are one slice position.

    ``source`` and ``target`` are (ImageOrientationPatient, ImagePositionPatient,
    (row, col) spacing) each.  None when the planes are not parallel within
    ``SAME_SLICE_DEG``, lie more than ``SAME_SLICE_MM`` apart, the point
    falls outside the target image, or a geometry is degenerate.
    """
    try:
        normals = slice_normal(source[0]), slice_normal(target[0])
    except ValueError:
        return None
    if abs(float(normals[0] @ normals[1])) < np.cos(np.deg2rad(SAME_SLICE_DEG)):
        return None
    point = pixel_to_patient(xy, *source)
    found, distance = patient_to_pixel(point, *target)
    rows, cols = target_shape
    if distance > SAME_SLICE_MM or not (-0.5 <= found[0] <= cols - 0.5 and -0.5 <= found[1] <= rows - 0.5):
        return None
    return found
