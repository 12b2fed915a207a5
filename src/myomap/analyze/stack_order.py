"""An exam's map stacks ordered base to apex, with their slice levels and AHA direction (called by discovery and ``import-contours``).

A stack is one map type in one contrast state (:func:`order_slices`).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from myomap.analyze.contrast import with_contrast
from myomap.conventions import CONTRASTS, MAP_TYPES
from myomap.geometry.aha import apical_normal, long_axis_direction, segments_run_clockwise
from myomap.geometry.levels import axis_crossings_mm, exam_levels
from myomap.geometry.plane import image_centre_mm

if TYPE_CHECKING:
    from myomap.analyze.discover import MapSlice


def order_slices(slices: list[MapSlice]) -> list[MapSlice]:
    """Call each series native or post, then order each stack base to apex and label its levels.

    A stack is one map type in one contrast state.  The levels of the
    stacks whose slices all have geometry come from the extent of the
    exam's largest stack (:func:`myomap.geometry.levels.exam_levels`),
    each slice's position being where the line along the slices' mean
    normal through the middle of their images crosses its plane
    (:func:`~myomap.geometry.levels.axis_crossings_mm`), so that a slice at
    one plane has one level in every stack even when a stack was replanned
    a few degrees about the LV (ImagePositionPatient, the top-left pixel
    150-250 mm from the heart, moves 10-16 mm along the axis at 6-9
    degrees).  Slices without ImageOrientationPatient or ImagePositionPatient
    keep their file order (the level is then a guess, recorded in
    ``level_basis``).
    """
    slices = with_contrast(slices)
    stacks = [[s for s in slices if s.map_type == map_type and s.contrast == state] for map_type in MAP_TYPES for state in CONTRASTS]
    stacks = [group for group in stacks if group]
    placed = [s for group in stacks if all(_placed(s) for s in group) for s in group]
    along = _mean_normal(placed)
    through = np.mean([_image_centre(s) for s in placed], axis=0) if placed else np.zeros(3)
    distances = [
        axis_crossings_mm([s.orientation for s in group], [s.position_mm for s in group], along, through).tolist()
        if all(_placed(s) for s in group)
        else [math.nan] * len(group)
        for group in stacks
    ]
    for k, group in enumerate(stacks):
        if all(_placed(s) for s in group):  # a cine's phases at one position in the order of their trigger delays
            order = sorted(range(len(group)), key=lambda j: (round(distances[k][j], 1), group[j].trigger_time_ms is not None,
                                                             group[j].trigger_time_ms or 0.0))  # fmt: skip
            stacks[k], distances[k] = [group[j] for j in order], [distances[k][j] for j in order]
    ordered: list[MapSlice] = []
    for group, (levels, basis) in zip(stacks, exam_levels(distances)):
        axis, axis_basis = long_axis_direction([s.orientation for s in group], [s.position_mm for s in group])
        for k, (item, level) in enumerate(zip(group, levels)):
            clockwise = item.orientation is not None and segments_run_clockwise(item.orientation, axis)
            ordered.append(replace(item, slice_position=level, order=k, level_basis=basis, clockwise=clockwise, axis_basis=axis_basis))
    return ordered


def _image_centre(item: MapSlice) -> np.ndarray:
    """The patient point (LPS, mm) at the middle of a placed map's image; its ImagePositionPatient when its size is unknown."""
    if item.pixels is not None:
        rows, cols = item.pixels.shape[:2]
    else:
        rows, cols = (item.source.rows, item.source.columns) if item.source else item.image_shape or (0, 0)
    if item.orientation is None or item.position_mm is None:
        raise ValueError(f"{item.path}: a map without orientation or position has no place in the patient")  # callers pass placed maps
    if not rows or not cols:
        return np.asarray(item.position_mm, dtype=float)
    return image_centre_mm((rows, cols), item.orientation, item.position_mm, item.spacing_mm)


def _placed(item: MapSlice) -> bool:
    return item.orientation is not None and item.position_mm is not None


def _mean_normal(slices: list[MapSlice]) -> np.ndarray:
    """The mean of the slices' normals, each pointed toward the apex: one long axis for all the exam's stacks."""
    mean = np.sum([apical_normal(s.orientation) for s in slices], axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)
