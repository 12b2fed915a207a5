"""Basal/mid/apical levels as real exams place their slices: repeats a millimetre apart, post-contrast maps replanned."""

import numpy as np
import pytest

from myomap.geometry.levels import SAME_PLANE_MM, axis_crossings_mm, exam_levels, plane_positions, slice_levels


@pytest.mark.parametrize(
    "distances, levels, basis",
    [
        # A basal map repeated after a failed breath-hold, 1 mm away (or float noise across a 0.1 mm step):
        # two planes, not three spanning 10 mm (the mid slice was "apical").
        ([0.0, 1.0, 10.0], ["basal", "basal", "mid"], "two-slices-assumed-basal-mid"),
        ([0.04, 0.06, 10.0], ["basal", "basal", "mid"], "two-slices-assumed-basal-mid"),
        # A lone mid map and its repeat are one slice (they were "basal" and "mid").
        ([10.0, 10.6], ["mid", "mid"], "one-slice-assumed-mid"),
        # Three planes, the mid one acquired twice: the repeat shares the mid level.
        ([0.0, 10.0, 10.8, 20.0], ["basal", "mid", "mid", "apical"], "thirds-of-extent"),
        # Distinct slices stay distinct at the tolerance.
        ([0.0, SAME_PLANE_MM, 30.0], ["basal", "basal", "apical"], "thirds-of-extent"),
    ],
)
def test_a_repeated_plane_is_one_position(distances, levels, basis):
    assert slice_levels(distances) == (levels, basis)
    assert slice_levels(distances[::-1]) == (levels[::-1], basis)


@pytest.mark.parametrize("offset_mm", [-2.0, 1.5, 2.0, 3.0])
@pytest.mark.parametrize("n, gap_mm", [(4, 8.0), (5, 10.0), (3, 10.0), (6, 8.0)])
def test_post_contrast_maps_replanned_a_few_mm_take_their_native_slices_levels(n, gap_mm, offset_mm):
    native = [k * gap_mm for k in range(n)]
    post = [d + offset_mm for d in native]
    (native_levels, _), (post_levels, basis) = exam_levels([native, post])
    assert post_levels == native_levels and basis == "thirds-of-extent"
    # Apex first (the normal the other way round) gives the same pairing.
    (native_levels, _), (post_levels, _) = exam_levels([[-d for d in native], [-d for d in post]])
    assert post_levels == native_levels


def test_a_slice_between_the_reference_planes_still_goes_by_thirds():
    (_, _), (levels, _) = exam_levels([[0.0, 8.0, 16.0, 24.0], [4.0, 12.0, 28.0]])
    assert levels == ["basal", "mid", "apical"]


def test_plane_positions_do_not_chain_along_a_dense_stack():
    planes, which = plane_positions(np.arange(0.0, 6.0, 1.0))
    assert planes.tolist() == [0.5, 2.5, 4.5] and which.tolist() == [0, 0, 1, 1, 2, 2]
    assert plane_positions([])[0].size == 0


def _plane(normal, row_hint, centre_mm, shape=(192, 256), spacing_mm=(1.4, 1.4)):
    """ImageOrientationPatient and ImagePositionPatient of a plane with ``centre_mm`` at the image centre."""
    normal = np.asarray(normal, float) / np.linalg.norm(normal)
    row = np.asarray(row_hint, float) - (np.asarray(row_hint, float) @ normal) * normal
    row /= np.linalg.norm(row)
    col = -np.cross(normal, row)
    corner = np.asarray(centre_mm) - (shape[1] - 1) / 2 * spacing_mm[1] * row - (shape[0] - 1) / 2 * spacing_mm[0] * col
    return tuple(row) + tuple(col), tuple(corner)


@pytest.mark.parametrize("tilt_deg", [-9.0, -6.0, 6.0, 9.0])
def test_a_stack_replanned_a_few_degrees_about_the_lv_keeps_its_levels_when_measured_at_the_heart(tilt_deg):
    axis = np.array([0.6, -0.45, -0.65]) / np.linalg.norm([0.6, -0.45, -0.65])
    heart = np.array([20.0, -10.0, -30.0])
    left = np.array([1.0, 0.0, 0.0]) - axis[0] * axis
    left /= np.linalg.norm(left)
    a = np.deg2rad(tilt_deg)
    tilted = np.cos(a) * axis + np.sin(a) * np.cross(axis, left)  # about the row direction: the corner moves along the axis
    centres = [heart + d * axis for d in (-12.0, 0.0, 12.0)]
    native = [_plane(axis, (1, 0, 0), c) for c in centres]
    post = [_plane(tilted, (1, 0, 0), c) for c in centres]
    through = np.mean(centres, axis=0)
    crossings = [axis_crossings_mm(*zip(*stack), axis, through) for stack in (native, post)]
    assert np.allclose(crossings[0], crossings[1]) and np.allclose(crossings[0], [-12.0, 0.0, 12.0])
    (native_levels, _), (post_levels, _) = exam_levels(crossings)
    assert native_levels == post_levels == ["basal", "mid", "apical"]
    # ImagePositionPatient along the axis, as the levels were measured: the replanned corners lie 10-20 mm off.
    corners = [np.array([np.asarray(p) @ axis for _, p in stack]) for stack in (native, post)]
    assert np.abs(corners[1] - corners[0]).min() > 10.0
    assert exam_levels(corners)[1][0] != ["basal", "mid", "apical"]
