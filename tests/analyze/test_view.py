"""The network sees a map as the standard display shows it, however its rows and columns are stored."""

import numpy as np
import pytest

from myomap.analyze.view import View, from_view, point_in_view, spacing_in_view, standard_view, to_view
from myomap.geometry.aha import segments_run_clockwise

VIEWS = [View(turns, mirror) for turns in range(4) for mirror in (False, True)]
# A short-axis-like plane: rows run to the patient's left and a little anterior, columns down and posterior.
ROW, COL = np.array([0.8, -0.6, 0.0]), np.array([0.36, 0.48, -0.8])


def _stored(image: np.ndarray, view: View, row=ROW, col=COL):
    """``image`` (whose pixel (r, c) lies at r * COL + c * ROW) stored another way, with the header that stays true."""
    rows, cols = image.shape
    pixels = to_view(image, view)
    # Where the stored pixels' row and column directions point: follow the unit steps through the same view.
    origin = np.array(point_in_view((0.0, 0.0), (rows, cols), view))
    step_x = np.array(point_in_view((1.0, 0.0), (rows, cols), view)) - origin
    step_y = np.array(point_in_view((0.0, 1.0), (rows, cols), view)) - origin
    # Stored point p = origin + x * step_x + y * step_y; solve for the directions of a stored column and row step.
    inverse = np.linalg.inv(np.column_stack([step_x, step_y]))
    new_row = inverse[0, 0] * row + inverse[1, 0] * col
    new_col = inverse[0, 1] * row + inverse[1, 1] * col
    return pixels, tuple(new_row) + tuple(new_col)


@pytest.mark.parametrize("view", VIEWS)
def test_images_and_points_go_there_and_back_exactly(view):
    image = np.arange(12.0).reshape(3, 4)
    assert np.array_equal(from_view(to_view(image, view), view), image)
    shown = to_view(image, view)
    x, y = point_in_view((3.0, 1.0), image.shape, view)  # the pixel holding 7
    assert shown[int(y), int(x)] == image[1, 3]
    assert spacing_in_view((1.0, 2.0), view) == ((2.0, 1.0) if view.turns % 2 else (1.0, 2.0))


def test_every_way_of_storing_a_map_is_shown_alike():
    image = np.random.default_rng(0).normal(size=(5, 7))
    shown = []
    for view in VIEWS:
        pixels, orientation = _stored(image, view)
        standard = standard_view(orientation, segments_run_clockwise(orientation))
        shown.append(to_view(pixels, standard))
    assert all(np.array_equal(s, shown[0]) for s in shown[1:])


def test_a_map_without_orientation_is_shown_as_stored():
    assert standard_view(None, False) == View()
    image = np.arange(6.0).reshape(2, 3)
    assert np.array_equal(to_view(image, View()), image)
