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
its slices lie among all the exam's short-axis planes.  Labelled on its
own, a lone post-contrast slice at the base was "mid" and its segments
were paired with the native mid slice's for ECV.
"""

from __future__ import annotations

import numpy as np

from myomap.conventions import SLICE_POSITIONS

# Slices of different stacks within this distance along the long axis lie on one plane (mm): planned on the
# same plane, or replanned by a millimetre or two; short-axis stacks leave 6-10 mm or more between slices.
SAME_PLANE_MM = 2.0


def slice_levels(apical_distances_mm) -> tuple[list[str], str]:
    """Level of each slice and the evidence used, from positions along the long axis (growing toward the apex).

    ``basis`` is ``"thirds-of-extent"`` (three or more slices at distinct
    positions), ``"one-slice-assumed-mid"``, ``"two-slices-assumed-basal-mid"``
    (the more basal one basal) or ``"no-geometry-file-order"`` (positions
    unknown, given as NaN: three or more slices labelled by thirds of their
    count in the given order).  Slices at one position (the same distance
    rounded to 0.1 mm: the cardiac phases of a cine, a repeated map) count
    as one and share its level.

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
    """
    distances = np.asarray(apical_distances_mm, dtype=float)
    if distances.size and np.all(np.isfinite(distances)):
        positions, which = np.unique(np.round(distances, 1), return_inverse=True)
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


def exam_levels(apical_distances_mm, tolerance_mm: float = SAME_PLANE_MM) -> tuple[list[str], str]:
    """Levels of all an exam's short-axis slices (every stack) from the planes they lie on; the same ``basis`` words.

    Slices within ``tolerance_mm`` of a plane's first slice lie on it (its
    position the mean of theirs), and :func:`slice_levels` labels the
    planes: the extent is the exam's, whichever stack a slice belongs to.

    Examples
    --------
    >>> exam_levels([0.0, 10.0, 20.0, 0.4, 19.0])  # native base, mid, apex; post base and apex replanned by 1 mm
    (['basal', 'mid', 'apical', 'basal', 'apical'], 'thirds-of-extent')
    >>> exam_levels([0.0, 10.0, 20.0, 0.0])[0][-1]  # a lone post slice at the base is basal, not "mid"
    'basal'
    """
    distances = np.asarray(apical_distances_mm, dtype=float)
    if distances.size == 0 or not np.all(np.isfinite(distances)):
        return slice_levels(distances)
    order = np.argsort(distances, kind="stable")
    plane = np.empty(distances.size, int)
    first, count = -np.inf, -1
    for k in order:
        if distances[k] - first > tolerance_mm:
            first, count = distances[k], count + 1
        plane[k] = count
    centres = [float(distances[plane == p].mean()) for p in range(count + 1)]
    levels, basis = slice_levels(centres)
    return [levels[p] for p in plane], basis
