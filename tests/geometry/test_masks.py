import numpy as np
import pytest

from myomap.geometry.masks import contours_to_mask
from myomap.geometry.polygon import polygon_mask


def _circle(cx, cy, r, n=400):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)])


@pytest.mark.parametrize("r", [5.3, 12.7, 30.1])
def test_pixel_centre_sampling_matches_the_area(r):
    mask = polygon_mask(_circle(40.2, 41.7, r), (90, 90))
    assert mask.sum() == pytest.approx(np.pi * r**2, rel=0.04)


def test_mask_uses_x_as_column():
    square = np.array([[10, 2], [14, 2], [14, 4], [10, 4]], float)
    mask = polygon_mask(square, (20, 20))
    rows, cols = np.nonzero(mask)
    assert rows.min() >= 2 and rows.max() <= 4 and cols.min() >= 10 and cols.max() <= 14


def test_three_classes():
    mask = contours_to_mask(_circle(20, 20, 10), _circle(20, 20, 5), (41, 41))
    assert mask[20, 20] == 2 and mask[20, 27] == 1 and mask[0, 0] == 0


def test_too_few_points():
    with pytest.raises(ValueError, match="at least 3"):
        polygon_mask(np.array([[0, 0], [1, 1]], float), (4, 4))


def test_unclosed_and_explicitly_closed_contours_give_the_same_mask():
    ring = _circle(20, 20, 9, n=40)
    np.testing.assert_array_equal(polygon_mask(ring, (40, 40)), polygon_mask(np.vstack([ring, ring[:1]]), (40, 40)))


def test_self_intersecting_contour_uses_the_even_odd_rule():
    t = np.deg2rad(np.arange(5) * 144 + 90)
    pentagram = np.column_stack([20 + 15 * np.cos(t), 20 + 15 * np.sin(t)])
    mask = polygon_mask(pentagram, (41, 41))
    assert not mask[20, 20]  # the doubly wound centre is outside
    assert mask.sum() > 0
