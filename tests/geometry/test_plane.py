"""Pixels and patient coordinates: a point found on one map looked up on another map of the same slice."""

import numpy as np
import pytest

from myomap.geometry.plane import SAME_SLICE_MM, patient_to_pixel, pixel_to_patient, point_on_plane

OBLIQUE = (0.6, 0.8, 0.0, -0.48, 0.36, 0.8)  # a double-oblique short-axis plane (unit, orthogonal rows)


def test_pixel_and_patient_coordinates_are_inverse_on_an_oblique_plane():
    position, spacing = (-80.0, 40.0, 12.5), (1.4, 0.9)
    for xy in ((0.0, 0.0), (37.5, 102.25), (255.0, 3.0)):
        point = pixel_to_patient(xy, OBLIQUE, position, spacing)
        back, off = patient_to_pixel(point, OBLIQUE, position, spacing)
        np.testing.assert_allclose(back, xy, atol=1e-9)
        assert off == pytest.approx(0.0, abs=1e-9)


def test_a_point_moves_to_the_same_anatomy_on_a_map_with_another_field_of_view():
    # The post-contrast map of the slice: zoomed (finer pixels), shifted, 1 mm along the normal; and one 8 mm away.
    native = (OBLIQUE, (-80.0, 40.0, 12.5), (1.4, 1.4))
    point = pixel_to_patient((60.0, 70.0), *native)
    normal = np.cross(OBLIQUE[:3], OBLIQUE[3:])
    post_position = tuple(pixel_to_patient((20.0, 10.0), *native) + 1.0 * normal)
    post = (OBLIQUE, post_position, (0.7, 0.7))
    found = point_on_plane((60.0, 70.0), native, post, (256, 256))
    np.testing.assert_allclose(found, ((60 - 20) * 2, (70 - 10) * 2), atol=1e-6)
    np.testing.assert_allclose(pixel_to_patient(found, *post), point + 1.0 * normal, atol=1e-6)
    elsewhere = (OBLIQUE, tuple(np.add(post_position, (SAME_SLICE_MM + 3.0) * normal)), (0.7, 0.7))
    assert point_on_plane((60.0, 70.0), native, elsewhere, (256, 256)) is None


def test_no_point_on_another_view_outside_the_image_or_without_a_plane():
    native = ((1.0, 0.0, 0.0, 0.0, 1.0, 0.0), (0.0, 0.0, 0.0), (1.0, 1.0))
    long_axis = ((1.0, 0.0, 0.0, 0.0, 0.0, 1.0), (0.0, 0.0, 0.0), (1.0, 1.0))  # a plane at 90 degrees through the point
    assert point_on_plane((10.0, 0.0), native, long_axis, (64, 64)) is None
    assert point_on_plane((100.0, 10.0), native, native, (64, 64)) is None  # off the target image
    assert point_on_plane((10.0, 10.0), ((1.0, 0, 0, 1.0, 0, 0), (0, 0, 0), (1.0, 1.0)), native, (64, 64)) is None
