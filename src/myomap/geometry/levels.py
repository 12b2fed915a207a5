"""Basal, mid and apical labels of a short-axis stack from the slices' positions along the LV long axis.

The AHA model divides the LV into thirds along its long axis (Cerqueira et
al., Circulation 2002).  A stack of three or more slices spans the LV from
base to apex, so its extent stands for the LV's: it is the range of the
slice positions widened by half a slice gap at each end, and each slice is
labelled by the third its centre falls in.  With fewer slices the positions
say nothing about the LV's extent and the labels are assumptions, recorded
as such in ``basis``.

An exam's stacks share one extent (:func:`exam_levels`): a post-contrast
or T2 stack of fewer slices than the native T1 one is labelled by where
its slices lie in the extent of the exam's largest stack.  Labelled on its
own, a lone post-contrast slice at the base was "mid" and its segments
were paired with the native mid slice's for ECV.

Slices closer than :data:`SAME_PLANE_MM` along the axis show one plane (a
map repeated after a failed breath-hold, replanned by a millimetre; float
noise in two headers) and count as one position.  Counted apart, a basal
slice repeated 1 mm away turned a two-slice stack (basal, mid) into three
positions spanning 10 mm, and its mid slice became "apical".  A slice of
another stack within :data:`~myomap.geometry.plane.SAME_SLICE_MM` of one of
the reference stack's planes is that slice and takes its level: by the
thirds alone, post-contrast maps acquired 2 mm off a 5-slice native stack
were labelled basal, mid, mid, apical, apical against the native basal,
basal, mid, apical, apical, and their segments' ECV paired different slices.
"""

from __future__ import annotations

import numpy as np

from myomap.conventions import SLICE_POSITIONS
from myomap.geometry.plane import SAME_SLICE_MM

SAME_PLANE_MM = 2.0
"""Slices closer than this (mm along the long axis) show one plane: one position, one level (as ``analyze`` pools them once)."""


def plane_positions(distances_mm, *, tolerance_mm: float = SAME_PLANE_MM) -> tuple[np.ndarray, np.ndarray]:
    """The distinct planes of finite positions (ascending, each the mean of its slices) and the plane of each slice.

    Slices join a plane while they lie less than ``tolerance_mm`` from its
    first (lowest) slice, so that planes never chain along a dense stack.

    >>> planes, which = plane_positions([10.0, 0.06, 0.04, 11.0])
    >>> planes.round(2).tolist(), which.tolist()
    ([0.05, 10.5], [1, 0, 0, 1])
    """
    distances = np.asarray(distances_mm, dtype=float).ravel()
    order = np.argsort(distances, kind="stable")
    which = np.zeros(distances.size, dtype=int)
    starts: list[float] = []
    for k in order:
        if not starts or distances[k] - starts[-1] >= tolerance_mm:
            starts.append(float(distances[k]))
        which[k] = len(starts) - 1
    planes = np.array([distances[which == j].mean() for j in range(len(starts))])
    return planes, which


def axis_crossings_mm(orientations, positions_mm, axis, through_mm) -> np.ndarray:
    """Where the line through ``through_mm`` along ``axis`` (LPS, unit) crosses each slice plane: mm along ``axis`` from ``through_mm``.

    The position of a slice along the long axis, measured near the heart
    (``through_mm``: e.g. the mean of the slices' image centres).  The
    ImagePositionPatient of a plane tilted against ``axis`` is no such
    position: it is the top-left pixel, 150-250 mm from the heart, and a
    post-contrast stack replanned 6 degrees about the LV put its corners 11
    mm along the axis from its slices, so that its mid slice was labelled
    basal.  A plane that (almost) contains ``axis`` (a long-axis view) gives NaN.

    >>> axis_crossings_mm([(1, 0, 0, 0, 1, 0)], [(-100.0, -100.0, 7.0)], (0, 0, 1), (0.0, 0.0, 2.0)).tolist()
    [5.0]
    """
    direction = np.asarray(axis, dtype=float)
    through = np.asarray(through_mm, dtype=float)
    out = []
    for orientation, position in zip(orientations, positions_mm):
        values = np.asarray(orientation, dtype=float)
        normal = np.cross(values[:3], values[3:])
        along = float(normal @ direction)
        out.append(float(normal @ (np.asarray(position, dtype=float) - through)) / along if abs(along) > 1e-6 else np.nan)
    return np.asarray(out, dtype=float)


def slice_levels(apical_distances_mm) -> tuple[list[str], str]:
    """Level of each slice and the evidence used, from positions along the long axis (growing toward the apex).

    ``basis`` is ``"thirds-of-extent"`` (three or more slices at distinct
    positions), ``"one-slice-assumed-mid"``, ``"two-slices-assumed-basal-mid"``
    (the more basal one basal) or ``"no-geometry-file-order"`` (positions
    unknown, given as NaN: three or more slices labelled by thirds of their
    count in the given order).  Slices at one position (closer than
    :data:`SAME_PLANE_MM`: the cardiac phases of a cine, a repeated map)
    count as one and share its level.

    Examples
    --------
    >>> slice_levels([0.0, 10.0, 20.0, 30.0])
    (['basal', 'mid', 'mid', 'apical'], 'thirds-of-extent')
    >>> slice_levels([5.0])
    (['mid'], 'one-slice-assumed-mid')
    >>> slice_levels([0.0, 0.0, 10.0, 10.0, 20.0])  # slices at one position share its level
    (['basal', 'basal', 'mid', 'mid', 'apical'], 'thirds-of-extent')
    >>> slice_levels([0.0, 10.0, 10.0])  # two positions, not three slices spanning the LV
    (['basal', 'mid', 'mid'], 'two-slices-assumed-basal-mid')
    >>> slice_levels([0.0, 1.0, 10.0])  # the basal map repeated 1 mm away: still two positions
    (['basal', 'basal', 'mid'], 'two-slices-assumed-basal-mid')
    """
    distances = np.asarray(apical_distances_mm, dtype=float)
    if distances.size and np.all(np.isfinite(distances)):
        positions, which = plane_positions(distances)
        if positions.size < distances.size:  # several slices at one position (a cine's phases, a repeat): one level each
            levels, basis = slice_levels(positions)
            return [levels[k] for k in which.ravel()], basis
    n = distances.size
    if n == 0:
        return [], "thirds-of-extent"
    if n == 1:
        return ["mid"], "one-slice-assumed-mid"
    if n == 2:
        first = int(np.argmin(distances)) if np.all(np.isfinite(distances)) else 0
        return ["basal" if k == first else "mid" for k in range(2)], "two-slices-assumed-basal-mid"
    if not np.all(np.isfinite(distances)) or np.ptp(distances) < 1e-6:
        return [SLICE_POSITIONS[min(2, 3 * k // n)] for k in range(n)], "no-geometry-file-order"
    gap = np.ptp(distances) / (n - 1)
    start, extent = distances.min() - gap / 2, np.ptp(distances) + gap
    thirds = np.clip(((distances - start) / extent * 3).astype(int), 0, 2)
    return [SLICE_POSITIONS[t] for t in thirds], "thirds-of-extent"


def exam_levels(stacks) -> list[tuple[list[str], str]]:
    """Levels of each stack of an exam (positions along one long axis per stack), and their ``basis`` words.

    The stack with the most distinct positions (:func:`plane_positions`) is
    the reference.  With three or more, its extent (as in
    :func:`slice_levels`) labels the other stacks' slices too: a slice
    within :data:`~myomap.geometry.plane.SAME_SLICE_MM` (and half a gap) of
    one of its planes takes that plane's level, any other the third its
    position falls in (beyond its ends: the nearer end's level).  With
    two, a slice within half their gap of one of its planes takes that
    plane's level; a stack with a slice elsewhere keeps its own labels.  With one, every stack keeps its own
    labels: single slices a few millimetres apart say nothing of the extent.

    Examples
    --------
    >>> exam_levels([[0.0, 10.0, 20.0], [1.0]])  # native base, mid, apex; a lone post slice at the base is basal, not "mid"
    [(['basal', 'mid', 'apical'], 'thirds-of-extent'), (['basal'], 'thirds-of-extent')]
    >>> exam_levels([[0.0], [3.0], [6.0]])  # one mid slice per stack, replanned by a few mm: each stays mid
    [(['mid'], 'one-slice-assumed-mid'), (['mid'], 'one-slice-assumed-mid'), (['mid'], 'one-slice-assumed-mid')]
    >>> exam_levels([[0.0, 10.0], [9.0]])[1]  # two native slices (basal, mid); T2 at the second
    (['mid'], 'two-slices-assumed-basal-mid')
    >>> exam_levels([[0.0, 8.0, 16.0, 24.0], [1.5, 9.5, 17.5, 25.5]])[1][0]  # post-contrast maps 1.5 mm off the native ones
    ['basal', 'mid', 'mid', 'apical']
    """
    arrays = [np.asarray(d, dtype=float) for d in stacks]
    own = [slice_levels(d) for d in arrays]
    placed = [k for k, d in enumerate(arrays) if d.size and np.all(np.isfinite(d))]
    if not placed:
        return own
    planes = {k: plane_positions(arrays[k])[0] for k in placed}
    ref = max(placed, key=lambda k: (planes[k].size, -k))
    positions = planes[ref]
    if positions.size < 2:
        return own
    out = list(own)
    if positions.size >= 3:
        gap = np.ptp(positions) / (positions.size - 1)
        start, extent = positions.min() - gap / 2, np.ptp(positions) + gap
        plane_levels = slice_levels(positions)[0]  # the reference planes, by the same thirds
        for k in placed:
            thirds = np.clip(np.floor((arrays[k] - start) / extent * 3).astype(int), 0, 2)
            offset = np.abs(arrays[k][:, None] - positions[None, :])
            nearest = offset.argmin(axis=1)
            at_plane = offset.min(axis=1) < min(SAME_SLICE_MM, gap / 2)  # one of the reference's slices, replanned
            levels = [plane_levels[j] if near else SLICE_POSITIONS[t] for j, near, t in zip(nearest, at_plane, thirds)]
            out[k] = (levels, "thirds-of-extent")
        return out
    plane_levels, basis = slice_levels(positions)
    half_gap = float(np.ptp(positions)) / 2.0
    for k in placed:
        nearest = np.abs(arrays[k][:, None] - positions[None, :])
        if np.all(nearest.min(axis=1) < half_gap):
            out[k] = ([plane_levels[j] for j in nearest.argmin(axis=1)], basis)
    return out
