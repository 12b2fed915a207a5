"""AHA 16-segment model, septal ROI and ROI erosion on one short-axis slice.

Conventions (Cerqueira et al., Circulation 2002, the AHA 17-segment model
without the apex cap):

- Angles are measured about the centroid of the epicardial contour,
  starting at the anterior RV insertion point, counter-clockwise as seen
  on the screen in the standard short-axis display (the slice seen from
  the apex: anterior up, septum left).  An image stored mirrored (seen
  from the base: a flipped row or column direction) shows the same
  segments running clockwise; :func:`segments_run_clockwise` tells which
  from ImageOrientationPatient and the LV long axis.  A rotation keeps
  the direction and only moves the reference point.
- Basal and mid slices have six 60° segments.  Going counter-clockwise
  from the anterior insertion point: anteroseptal (2 / 8), inferoseptal
  (3 / 9), inferior (4 / 10), inferolateral (5 / 11), anterolateral
  (6 / 12), anterior (1 / 7).
- Apical slices have four 90° segments centred on the septum, taken 60°
  counter-clockwise from the anterior insertion point (the middle of the
  two basal septal segments): septal (14), inferior (15), lateral (16),
  anterior (13).

The transmural position of a myocardial pixel is ``s = d_endo / (d_endo +
d_epi)``, 0 at the endocardium and 1 at the epicardium, with ``d`` the
distances in mm to the blood pool and to the outside of the epicardium.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.measure import points_in_poly

from myomap.geometry.masks import padded_box
from myomap.geometry.polygon import densify, polygon_centroid, polygon_mask

APEX_DIRECTION_LPS = np.array([1.0, -1.0, -1.0]) / np.sqrt(3.0)
"""Anatomical prior: the LV apex points to the patient's left, anterior and inferior (DICOM LPS frame)."""
FIRST_SEGMENT = {"basal": 1, "mid": 7, "apical": 13}
SEPTAL_SEGMENTS = {"basal": (2, 3), "mid": (8, 9), "apical": (14,)}
_SIX = (2, 3, 4, 5, 6, 1)  # basal order counter-clockwise from the anterior insertion
_FOUR = (14, 15, 16, 13)


def screen_angle_deg(x: np.ndarray, y: np.ndarray, centre: tuple[float, float], *, spacing_mm: tuple[float, float]) -> np.ndarray:
    """Angle in degrees, counter-clockwise on screen (y points down), of points about ``centre``, in mm."""
    dx = (np.asarray(x, float) - centre[0]) * spacing_mm[1]
    dy = (np.asarray(y, float) - centre[1]) * spacing_mm[0]
    return np.rad2deg(np.arctan2(-dy, dx)) % 360.0


def slice_normal(orientation) -> np.ndarray:
    """Unit normal (row direction x column direction) of a slice from its 6 ImageOrientationPatient numbers.

    Raises ValueError for anything but 6 finite numbers with a non-degenerate cross product.
    """
    values = np.asarray(orientation, dtype=float)
    if values.shape != (6,) or not np.all(np.isfinite(values)):
        raise ValueError(f"ImageOrientationPatient must hold 6 finite numbers, got {orientation!r}")
    normal = np.cross(values[:3], values[3:])
    norm = float(np.linalg.norm(normal))
    if norm < 1e-6:
        raise ValueError(f"ImageOrientationPatient {tuple(values)} has parallel row and column directions")
    return normal / norm


def apical_normal(orientation) -> np.ndarray:
    """The unit slice normal pointed toward the apex (:data:`APEX_DIRECTION_LPS`); ValueError as :func:`slice_normal`."""
    normal = slice_normal(orientation)
    return normal if normal @ APEX_DIRECTION_LPS >= 0 else -normal


def long_axis_direction(orientations, positions_mm) -> tuple[np.ndarray | None, str]:
    """The LV long axis (unit vector, base to apex, LPS) of one stack of slices, and how it was found.

    With two or more slices at different positions: the line through the
    slice positions (``"stack"``), pointed toward the apex by
    :data:`APEX_DIRECTION_LPS` (the stack tells the axis, anatomy only which
    end is the apex).  With one slice, or slices at one position: the slice
    normal pointed the same way (``"anatomical-prior"``).  Without geometry:
    ``(None, "no-geometry")``.  Slices whose normals differ by more than
    10 degrees are not one stack: ``(None, "mixed-orientations")``.

    Examples
    --------
    >>> axis, how = long_axis_direction([(1, 0, 0, 0, 1, 0)] * 2, [(0, 0, 0), (0, 0, -10)])
    >>> (axis + 0.0).tolist(), how
    ([0.0, 0.0, -1.0], 'stack')
    """
    if not orientations or any(o is None for o in orientations):
        return None, "no-geometry"
    normals = [slice_normal(o) for o in orientations]
    if any(abs(float(n @ normals[0])) < np.cos(np.deg2rad(10.0)) for n in normals):
        return None, "mixed-orientations"
    axis, how = normals[0], "anatomical-prior"
    if positions_mm is not None and all(p is not None for p in positions_mm) and len(positions_mm) > 1:
        points = np.asarray(positions_mm, dtype=float)
        along = (points - points.mean(axis=0)) @ normals[0]
        if np.ptp(along) > 1e-3:  # the through-plane spread of the stack, not its in-plane offsets
            axis, how = normals[0], "stack"
    return (axis if axis @ APEX_DIRECTION_LPS >= 0 else -axis), how


def segments_run_clockwise(orientation, long_axis_lps=None) -> bool:
    """True when the AHA segments run clockwise on screen: the image shows the slice seen from the base.

    The screen's x axis is the row direction and y (down) the column
    direction, so the viewer looks along ``row x column``.  The standard
    display looks from the apex toward the base, against the long axis;
    looking along it mirrors the image.  ``long_axis_lps`` defaults to
    :data:`APEX_DIRECTION_LPS`.  Without orientation the standard display
    is assumed (False).

    Examples
    --------
    An axial image (row = left, column = posterior) is seen from the feet, as
    the apex sees it: standard.  The same image flipped left-right is not.

    >>> segments_run_clockwise((1, 0, 0, 0, 1, 0)), segments_run_clockwise((-1, 0, 0, 0, 1, 0))
    (False, True)
    """
    if orientation is None:
        return False
    axis = APEX_DIRECTION_LPS if long_axis_lps is None else np.asarray(long_axis_lps, dtype=float)
    return bool(slice_normal(orientation) @ axis > 0)


def aha_segments(
    epi_xy: np.ndarray,
    endo_xy: np.ndarray,
    rv_insertion_xy: tuple[float, float],
    shape: tuple[int, int],
    slice_position: str,
    *,
    spacing_mm: tuple[float, float],
    clockwise: bool = False,
) -> np.ndarray:
    """Label image of AHA segment numbers (1-16) on the myocardial pixels, 0 elsewhere.

    ``clockwise`` numbers the segments clockwise on screen from the
    reference point, for an image seen from the base (see
    :func:`segments_run_clockwise`); the default is the standard display.

    Raises
    ------
    ValueError
        Unknown slice position, or a reference point inside the blood pool
        (it must be the anterior RV insertion point, on the epicardium).
    """
    if slice_position not in FIRST_SEGMENT:
        raise ValueError(f"slice position must be one of {', '.join(FIRST_SEGMENT)}, got {slice_position!r}")
    if points_in_poly(np.array([rv_insertion_xy], float), np.asarray(endo_xy, float))[0]:
        raise ValueError(f"reference point {tuple(rv_insertion_xy)} lies inside the blood pool; expected the anterior RV insertion point")
    epi = polygon_mask(epi_xy, shape)
    endo = polygon_mask(endo_xy, shape)
    myo = epi & ~endo
    centre = polygon_centroid(epi_xy)
    rows, cols = np.nonzero(myo)
    reference = float(screen_angle_deg(np.array(rv_insertion_xy[0]), np.array(rv_insertion_xy[1]), centre, spacing_mm=spacing_mm))
    angle = (screen_angle_deg(cols, rows, centre, spacing_mm=spacing_mm) - reference) % 360.0
    if clockwise:
        angle = (360.0 - angle) % 360.0
    if slice_position == "apical":
        # x % 360.0 rounds up to 360.0 for a tiny negative x (a pixel at the reference angle): that is the last sector.
        sector = np.minimum((angle - 60.0 + 45.0) % 360.0 // 90.0, 3).astype(int)
        numbers = np.array(_FOUR)[sector]
    else:
        numbers = np.array(_SIX)[np.minimum(angle // 60.0, 5).astype(int)] + (FIRST_SEGMENT[slice_position] - 1)
    labels = np.zeros(shape, dtype=np.uint8)
    labels[rows, cols] = numbers
    return labels


def transmural_position(
    epi_xy: np.ndarray, endo_xy: np.ndarray, shape: tuple[int, int], *, spacing_mm: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(s, d_endo_mm, d_epi_mm)`` for every pixel; meaningful on the myocardium only (NaN far from it).

    Distances are from pixel centres to the nearest pixel centre of the
    blood pool and of the outside of the epicardium.  A blood pool too small
    to hold a pixel centre (a tiny apical cavity) is measured from its
    contour instead.  They are computed in the box around both contours
    grown by one pixel, which gives the whole image's values there
    (:func:`~myomap.geometry.masks.padded_box`).
    """
    epi = polygon_mask(epi_xy, shape)
    endo = polygon_mask(endo_xy, shape)
    box = padded_box(epi | endo)
    d_endo, d_epi = np.full(shape, np.nan), np.full(shape, np.nan)
    if endo.any():
        d_endo[box] = ndimage.distance_transform_edt(~endo[box], sampling=spacing_mm)
    else:
        from scipy.spatial import cKDTree

        rows, cols = np.indices(shape)
        centres = np.column_stack([cols[box].ravel() * spacing_mm[1], rows[box].ravel() * spacing_mm[0]])
        d_endo[box] = cKDTree(densify(endo_xy, spacing_mm=spacing_mm)).query(centres)[0].reshape(d_endo[box].shape)
    d_epi[box] = ndimage.distance_transform_edt(epi[box], sampling=spacing_mm)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(epi & ~endo, d_endo / (d_endo + d_epi), np.nan)
    return s, d_endo, d_epi


def eroded_myocardium(
    epi_xy: np.ndarray,
    endo_xy: np.ndarray,
    shape: tuple[int, int],
    *,
    spacing_mm: tuple[float, float],
    margin_px: float = 0.0,
    fraction: float = 0.0,
) -> np.ndarray:
    """Myocardial pixels kept after removing partial-volume borders.

    ``margin_px`` removes the pixels within that many pixels of the blood
    pool or the outside: 1 removes the border pixels (those touching either
    along a row or column), 2 the next layer too.  For anisotropic pixels
    the larger spacing is the pixel size.  ``fraction`` keeps only the
    transmural positions within ``[fraction, 1 - fraction]`` of the local
    wall thickness.  Both 0 give the whole myocardium; the result may be
    empty for a thin wall and a large margin.
    """
    s, d_endo, d_epi = transmural_position(epi_xy, endo_xy, shape, spacing_mm=spacing_mm)
    margin_mm = margin_px * max(spacing_mm) + 1e-9
    return np.isfinite(s) & (d_endo > margin_mm) & (d_epi > margin_mm) & (s >= fraction) & (s <= 1.0 - fraction)


def septal_roi(
    epi_xy: np.ndarray,
    endo_xy: np.ndarray,
    rv_insertion_xy: tuple[float, float],
    shape: tuple[int, int],
    slice_position: str,
    *,
    spacing_mm: tuple[float, float],
    band: tuple[float, float] = (0.25, 0.75),
    clockwise: bool = False,
) -> np.ndarray:
    """Conservative septal ROI (SCMR 2020): the mid-wall band of the septal segments.

    ``band`` is the kept range of transmural position, so the ROI stays
    away from blood pool and epicardium; ``clockwise`` as in :func:`aha_segments`.
    """
    segments = aha_segments(epi_xy, endo_xy, rv_insertion_xy, shape, slice_position, spacing_mm=spacing_mm, clockwise=clockwise)
    s, _, _ = transmural_position(epi_xy, endo_xy, shape, spacing_mm=spacing_mm)
    return np.isin(segments, SEPTAL_SEGMENTS[slice_position]) & (s >= band[0]) & (s <= band[1])
