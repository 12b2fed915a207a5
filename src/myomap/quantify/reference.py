"""The AHA reference point (anterior RV insertion) estimated from one image.

The AHA segments (:func:`myomap.geometry.aha.aha_segments`) start at the
anterior insertion point of the right ventricle on the LV epicardium.  When
the contours do not provide it, :func:`estimate_rv_insertion` finds it, in
this order:

``"rv-blood-pool"``
    From the image.  The RV blood pool is the region just outside the LV
    epicardium whose values are closer to the LV blood pool's than to the
    myocardium's (bright on native T1 and T2 maps, dark on post-contrast T1
    maps: only the LV's own values are used), leaving out blood joined to
    the LV cavity (the outflow tract of a basal ring open towards it).  The
    two ends of its contact with the epicardium, seen from the LV centre,
    are extended by where the RV free wall (which cannot be told from
    myocardium on a map) meets the LV: by its thickness where the pool ends
    square, by more where the pool's horn tapers at a shallow angle.  The
    extended ends are the insertion points.  The anterior one is
    the end closer to the anterior direction.
``"dicom-orientation"``
    When no RV blood pool is found but the DICOM ImageOrientationPatient is
    known: the septum faces the patient's right-anterior
    (:data:`SEPTAL_DIRECTION_LPS`), and the anterior insertion lies 60° from
    the septal centre toward anterior.
``"image-axes"``
    Otherwise the standard short-axis display is assumed (anterior up,
    septum left): the insertion point at 120° counter-clockwise from the
    image's +x axis.

The anterior direction on the image is the patient's anterior (0, -1, 0) in
LPS projected onto the image plane when the orientation is given, image-up
otherwise.  Angles are in degrees, counter-clockwise on screen, about the
centroid of the epicardial contour, as in :mod:`myomap.geometry.aha`.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.measure import points_in_poly

from myomap.geometry.aha import screen_angle_deg
from myomap.geometry.polygon import polygon_area, polygon_centroid, polygon_mask

SEPTAL_DIRECTION_LPS = (-np.sqrt(0.5), -np.sqrt(0.5), 0.0)
"""Direction from the LV centre to the septum in the patient frame (LPS): right-anterior."""
ANTERIOR_LPS = (0.0, -1.0, 0.0)
INSERTION_FROM_SEPTUM_DEG = 60.0
"""Angle between the septal centre and the anterior insertion (half the two septal segments)."""
SEARCH_BAND_MM = 15.0
"""How far outside the epicardium the RV blood pool is looked for."""
CONTACT_MM = 4.0
"""Distance from the epicardium within which a region counts as touching it."""
RV_WALL_MM = 3.0
"""Typical RV free-wall thickness: the wall's outer border runs this far outside the blood pool."""
HORN_DEG = 20
"""Angular stretch at each end of the contact over which the taper of the pool's horn is measured."""
HORN_DEPTH_MM = 8.0
"""Only the part of the horn shallower than this (its tapering tip) is used for the taper."""
MAX_HORN_EXTENSION_MM = 8.0
"""Longest extension of the contact beyond the blood pool's tip, for an almost tangent horn."""
MIN_CONTRAST = 0.1
"""Least |blood - myocardium| / |myocardium| contrast for the image method."""
MIN_CONTACT_PX = 3
"""Least number of blood-like pixels touching the epicardium for a region to count as RV."""
MIN_SPAN_DEG = 30.0
"""Least angular extent of the RV contact with the epicardium for the image method."""
MAX_SPAN_DEG = 270.0
"""Largest: blood-like fluid all around the LV (a pericardial effusion on T2) is not an RV."""
MIRRORED_RV_DEG = 110.0
"""The RV pool's middle this far (degrees) from the septal direction the header gives: the image is mirrored against its header.

On 228 phantom native and post-contrast maps the pool's middle lay at most 88 degrees
from the header's septal direction (median 30); with the pixels mirrored left to right
and the header left as it was, 99 % lay beyond 100 degrees (median 138).  A mirror
about the image's horizontal axis keeps the RV on the septal side and is not seen.
"""
RV_ACROSS_THE_HEADER = "rv-blood-pool-against-header"
"""The method of a point found from an RV blood pool that lies where the header puts the lateral wall."""
OPEN_RING_MARGIN_MM = 0.5
"""How far outside the blood pool the point goes where the epi- and endocardial contours coincide (mm)."""


def estimate_rv_insertion(
    map_ms: np.ndarray,
    epi_xy: np.ndarray,
    endo_xy: np.ndarray,
    *,
    spacing_mm: tuple[float, float],
    orientation: tuple[float, ...] | None = None,
) -> tuple[tuple[float, float] | None, str]:
    """Estimate the anterior RV insertion point of one short-axis slice.

    Parameters
    ----------
    map_ms : (rows, cols) array
        T1 or T2 map in ms (any map whose blood pool differs from the
        myocardium works).  NaN and inf pixels are never taken for blood.
    epi_xy, endo_xy : (n, 2) arrays
        Epi- and endocardial contours, pixel (x = column, y = row).
    spacing_mm : (float, float)
        Pixel spacing (row, col) in mm.
    orientation : 6 floats, optional
        DICOM ImageOrientationPatient: the row direction then the column
        direction, in the LPS patient frame.

    Returns
    -------
    point : (float, float) or None
        The point (x, y) in pixels on the epicardial contour at the
        estimated angle; None only when the epicardial contour encloses no
        area (then no direction about its centre is defined).
    method : str
        ``"rv-blood-pool"``, ``"dicom-orientation"`` or ``"image-axes"``
        (see the module docstring), or ``"none"`` with a None point;
        :data:`RV_ACROSS_THE_HEADER` when the RV blood pool lies more than
        :data:`MIRRORED_RV_DEG` from the septal direction the orientation
        gives (pixels mirrored against their header, or a heart on the right).

    Notes
    -----
    Never raises for an image without a visible RV (an apical slice, a
    flat background, a uniform map): it falls back and names the fallback.
    Raises ValueError only for unusable input: a map that is not 2-D,
    contours with fewer than 3 points, an orientation without 6 numbers.

    Examples
    --------
    A ring on a flat background has no RV: the standard display is assumed.

    >>> t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    >>> circle = lambda r: np.column_stack([20 + r * np.cos(t), 20 + r * np.sin(t)])
    >>> ring = np.full((41, 41), 1000.0)
    >>> point, method = estimate_rv_insertion(ring, circle(10), circle(6), spacing_mm=(1.5, 1.5))
    >>> method, round(point[0], 1), round(point[1], 1)
    ('image-axes', 15.0, 11.3)
    """
    map_ms = np.asarray(map_ms, dtype=float)
    if map_ms.ndim != 2:
        raise ValueError(f"map must be a 2-D array, got shape {map_ms.shape}")
    if orientation is not None and len(orientation) != 6:
        raise ValueError(f"orientation must hold 6 numbers (ImageOrientationPatient), got {len(orientation)}")
    epi_xy = np.asarray(epi_xy, dtype=float)
    epi = polygon_mask(epi_xy, map_ms.shape)
    endo = polygon_mask(endo_xy, map_ms.shape)
    if polygon_area(epi_xy) < 1e-6:
        return None, "none"
    centre = polygon_centroid(epi_xy)

    # Image-up unless the orientation says otherwise (or has anterior along the normal).
    projected = None if orientation is None else projected_angle(ANTERIOR_LPS, orientation)
    anterior_deg = 90.0 if projected is None else projected

    ends = _rv_contact_ends(map_ms, epi, endo, centre, spacing_mm)
    if ends is None:
        return insertion_from_header(epi_xy, endo_xy, spacing_mm=spacing_mm, orientation=orientation)
    angle = _closest(ends, anterior_deg)
    method = "rv-blood-pool"
    septum_deg = None if orientation is None else projected_angle(SEPTAL_DIRECTION_LPS, orientation)
    if septum_deg is not None and _angular_distance(ends[0] + ((ends[1] - ends[0]) % 360.0) / 2.0, septum_deg) > MIRRORED_RV_DEG:
        method = RV_ACROSS_THE_HEADER
    return insertion_at_angle(epi_xy, endo_xy, angle, spacing_mm=spacing_mm), method


def insertion_from_header(
    epi_xy: np.ndarray, endo_xy: np.ndarray, *, spacing_mm: tuple[float, float], orientation: tuple[float, ...] | None = None
) -> tuple[tuple[float, float], str]:
    """The anterior RV insertion point without the image: ``"dicom-orientation"``, else ``"image-axes"`` (module docstring).

    Also for an image whose RV blood pool cannot be told from other bright tissue (a bSSFP cine's fat).
    """
    septum_deg = None if orientation is None else projected_angle(SEPTAL_DIRECTION_LPS, orientation)
    if septum_deg is not None:
        projected = projected_angle(ANTERIOR_LPS, orientation)
        anterior_deg, method = (90.0 if projected is None else projected), "dicom-orientation"
    else:
        septum_deg, anterior_deg, method = 180.0, 90.0, "image-axes"
    step = INSERTION_FROM_SEPTUM_DEG
    angle = _closest((septum_deg - step, septum_deg + step), anterior_deg)
    return insertion_at_angle(epi_xy, endo_xy, angle, spacing_mm=spacing_mm), method


def insertion_at_angle(
    epi_xy: np.ndarray, endo_xy: np.ndarray, angle_deg: float, *, spacing_mm: tuple[float, float]
) -> tuple[float, float]:
    """The point (x, y) on the epicardial contour at ``angle_deg`` (counter-clockwise on screen) about its centroid.

    Where a basal ring is open towards the outflow tract the epicardial
    contour runs along the endocardial one there: the point then lies just
    outside the blood pool on the same ray (:data:`OPEN_RING_MARGIN_MM`).
    """
    epi_xy = np.asarray(epi_xy, dtype=float)
    centre = polygon_centroid(epi_xy)
    point = _point_on_contour(epi_xy, centre, angle_deg % 360.0, spacing_mm)
    if points_in_poly(np.array([point]), np.asarray(endo_xy, dtype=float))[0]:
        point = _point_on_contour(endo_xy, centre, angle_deg % 360.0, spacing_mm, margin_mm=OPEN_RING_MARGIN_MM)
    return point


def _rv_contact_ends(
    map_ms: np.ndarray,
    epi: np.ndarray,
    endo: np.ndarray,
    centre: tuple[float, float],
    spacing_mm: tuple[float, float],
) -> tuple[float, float] | None:
    """Angles of the two ends of the RV's contact with the epicardium, or None."""
    finite = np.isfinite(map_ms)
    myo = epi & ~endo
    if not (endo & finite).any() or not (myo & finite).any():
        return None
    blood = float(np.median(map_ms[endo & finite]))
    muscle = float(np.median(map_ms[myo & finite]))
    contrast = blood - muscle
    if abs(contrast) < MIN_CONTRAST * max(abs(muscle), 1e-9):
        return None
    # A 3 x 3 median keeps the (noisy on T2 maps) blood pool whole and removes
    # isolated blood-like noise pixels in lung and air.
    smooth = ndimage.median_filter(np.where(finite, map_ms, muscle), size=3)
    blood_like = np.abs(smooth - blood) < 0.5 * abs(contrast)
    # Blood joined to the LV cavity past the myocardium is the LV's own (the outflow tract
    # through a basal ring open towards it, and the aortic root beyond), not the RV.
    joined, _ = ndimage.label(blood_like & ~myo)
    lv_own = np.isin(joined, np.unique(joined[endo & blood_like])) & (joined > 0)
    outside_mm = ndimage.distance_transform_edt(~epi, sampling=spacing_mm)
    labels, n = ndimage.label(blood_like & ~epi & ~lv_own & (outside_mm <= SEARCH_BAND_MM))
    contact = np.bincount((labels * (outside_mm <= CONTACT_MM)).ravel(), minlength=n + 1)
    contact[0] = 0
    if contact.max() < MIN_CONTACT_PX:
        return None
    # A dark band (off-resonance, flow) can cut the pool in pieces: keep every
    # piece that hugs the epicardium.
    keep = np.flatnonzero(contact >= max(MIN_CONTACT_PX, 0.25 * contact.max()))
    pool = np.isin(labels, keep)
    rows, cols = np.nonzero(pool)
    angles = screen_angle_deg(cols, rows, centre, spacing_mm=spacing_mm)
    depth_mm = outside_mm[rows, cols]
    touching = np.sort(angles[depth_mm <= CONTACT_MM])
    gaps = np.diff(np.concatenate([touching, touching[:1] + 360.0]))
    widest = int(np.argmax(gaps))
    # The contact runs counter-clockwise from after the widest gap to before it.
    first, last = float(touching[(widest + 1) % len(touching)]), float(touching[widest])
    # The RV free wall reaches the LV beyond the blood pool's tip: by its thickness where the pool
    # ends square, and by more where the horn meets the LV at a shallow angle.
    radius_mm = float(np.sqrt(epi.sum() * spacing_mm[0] * spacing_mm[1] / np.pi))
    first -= _horn_extension_deg(angles, depth_mm, first, +1.0, radius_mm)
    last += _horn_extension_deg(angles, depth_mm, last, -1.0, radius_mm)
    if not MIN_SPAN_DEG <= (last - first) % 360.0 <= MAX_SPAN_DEG:
        return None
    return first % 360.0, last % 360.0


def _horn_extension_deg(angles, depth_mm, end_deg: float, inward: float, radius_mm: float) -> float:
    """How far (degrees) the RV wall's outer border reaches past the pool's end at ``end_deg``.

    ``inward`` is +1 when the pool lies at larger angles than the end.  The
    pool's depth beyond the epicardium grows from its tip with slope
    tan(alpha); an outer border ``RV_WALL_MM`` further out meets the
    epicardium ``RV_WALL_MM / sin(alpha)`` beyond the tip (written here: no
    library measures the taper of a crescent's horn).
    """
    offset_deg = ((angles - end_deg) * inward) % 360.0
    near = offset_deg < HORN_DEG
    depth = np.zeros(HORN_DEG)
    np.maximum.at(depth, offset_deg[near].astype(int), depth_mm[near])
    arc_mm = (np.arange(HORN_DEG) + 0.5) * np.deg2rad(1.0) * radius_mm
    taper = (depth > 0) & (depth < HORN_DEPTH_MM) & (np.maximum.accumulate(depth) < HORN_DEPTH_MM)
    slope = np.polyfit(arc_mm[taper], depth[taper], 1)[0] if taper.sum() >= 3 else np.inf
    reach_mm = RV_WALL_MM if slope <= 0 or not np.isfinite(slope) else RV_WALL_MM / np.sin(np.arctan(slope))
    return float(np.rad2deg(min(reach_mm, MAX_HORN_EXTENSION_MM) / radius_mm))


def projected_angle(direction_lps, orientation) -> float | None:
    """Screen angle of a patient-frame (LPS) direction seen on the image plane.

    None when the direction is (almost) normal to the plane.
    """
    d = np.asarray(direction_lps, float)
    along_x = float(d @ np.asarray(orientation[:3], float))  # along the columns' axis
    along_y = float(d @ np.asarray(orientation[3:], float))  # along the rows', down
    if np.hypot(along_x, along_y) < 0.1:
        return None
    return float(np.rad2deg(np.arctan2(-along_y, along_x)) % 360.0)


def _angular_distance(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def _closest(angles, target_deg: float) -> float:
    return min(angles, key=lambda a: _angular_distance(a, target_deg))


def _point_on_contour(
    points_xy: np.ndarray,
    centre: tuple[float, float],
    angle_deg: float,
    spacing_mm: tuple[float, float],
    *,
    margin_mm: float = 0.0,
) -> tuple[float, float]:
    """Farthest crossing of the ray from ``centre`` at ``angle_deg`` with the contour, ``margin_mm`` beyond it.

    Computed in mm; returned as pixel (x, y).
    """
    p = (points_xy - centre) * np.array([spacing_mm[1], spacing_mm[0]])
    edge = np.roll(p, -1, axis=0) - p
    d = np.array([np.cos(np.deg2rad(angle_deg)), -np.sin(np.deg2rad(angle_deg))])
    denom = d[0] * edge[:, 1] - d[1] * edge[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        along_ray = (p[:, 0] * edge[:, 1] - p[:, 1] * edge[:, 0]) / denom
        along_edge = (p[:, 0] * d[1] - p[:, 1] * d[0]) / denom
    hit = np.isfinite(along_ray) & (along_ray >= 0) & (along_edge >= 0) & (along_edge <= 1)
    if hit.any():
        radius = float(along_ray[hit].max())
    else:  # centroid outside a very concave contour: the vertex closest in angle
        vertex_deg = np.rad2deg(np.arctan2(-p[:, 1], p[:, 0]))
        nearest = int(np.argmin([_angular_distance(v, angle_deg) for v in vertex_deg]))
        radius = float(np.hypot(*p[nearest]))
    x_mm, y_mm = (radius + margin_mm) * d
    return float(centre[0] + x_mm / spacing_mm[1]), float(centre[1] + y_mm / spacing_mm[0])
