"""A region of one map found on another map of its slice: other contrast, other breath-hold."""

import numpy as np
import pytest
from scipy import ndimage

from myomap.mapping.register import match_region


def _scene(rng, heart_at=(48, 52), shape=(96, 96)):
    """Smooth random 'anatomy' with a ring (myocardium 1, blood 2) at ``heart_at``: tissue codes, not values."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    r = np.hypot(rows - heart_at[0], cols - heart_at[1])
    labels = np.where(r < 7, 2, np.where(r < 12, 1, 0))
    texture = ndimage.gaussian_filter(rng.normal(size=shape), 3.0)
    return labels, texture


def test_the_shift_is_found_across_a_change_of_contrast_while_the_body_stays():
    rng = np.random.default_rng(0)
    labels, texture = _scene(rng)
    # native: blood bright, myocardium mid-grey; the surroundings a texture that stays where it is
    native = np.where(labels == 2, 1600.0, np.where(labels == 1, 1000.0, 700.0 + 800.0 * texture)) + rng.normal(0, 20, labels.shape)
    moved_labels, _ = _scene(rng, heart_at=(48 + 5, 52 - 3))  # the heart moved by (5, -3) pixels, the body not
    post = np.where(moved_labels == 2, 420.0, np.where(moved_labels == 1, 460.0, 350.0 + 300.0 * texture)) + rng.normal(0, 10, labels.shape)
    region = ndimage.binary_dilation(labels > 0, iterations=3)
    shift, trusted = match_region(native, post, region, (10, 10))
    assert trusted and shift == (5, -3)
    # the same maps without a move: no shift
    still = np.where(labels == 2, 420.0, np.where(labels == 1, 460.0, 350.0 + 300.0 * texture)) + rng.normal(0, 10, labels.shape)
    assert match_region(native, still, region, (10, 10)) == ((0, 0), True)


def test_a_match_on_the_border_of_the_search_or_of_one_value_is_not_trusted():
    rng = np.random.default_rng(1)
    labels, texture = _scene(rng)
    native = np.where(labels == 2, 1600.0, np.where(labels == 1, 1000.0, 700.0 + 800.0 * texture))
    far_labels, _ = _scene(rng, heart_at=(48 + 9, 52))
    post = np.where(far_labels == 2, 420.0, np.where(far_labels == 1, 460.0, 350.0 + 300.0 * texture))
    region = ndimage.binary_dilation(labels > 0, iterations=3)
    assert match_region(native, post, region, (9, 9)) == ((0, 0), False)  # the best shift, 9 rows, is the search's edge
    assert match_region(native, post, region, (12, 12)) == ((9, 0), True)
    assert match_region(np.ones((96, 96)), post, region, (5, 5)) == ((0, 0), False)
    assert match_region(native, post, np.zeros((96, 96), bool), (5, 5)) == ((0, 0), False)
    assert match_region(native, np.full((96, 96), 400.0), region, (5, 5)) == ((0, 0), False)  # a map of one value


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_values_that_are_not_finite_count_as_zero_in_both_maps(bad):
    rng = np.random.default_rng(2)
    labels, texture = _scene(rng)
    native = np.where(labels == 2, 1600.0, np.where(labels == 1, 1000.0, 700.0 + 800.0 * texture))
    moved_labels, _ = _scene(rng, heart_at=(48 - 4, 52 + 2))
    post = np.where(moved_labels == 2, 420.0, np.where(moved_labels == 1, 460.0, 350.0 + 300.0 * texture))
    post[60:66] = bad  # failed fits across the region and the search
    native[30:33] = bad
    region = ndimage.binary_dilation(labels > 0, iterations=3)
    assert match_region(native, post, region, (8, 8)) == ((-4, 2), True)
