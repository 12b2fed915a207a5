import math

import numpy as np
import pytest
from scipy.spatial.distance import directed_hausdorff

from myomap.geometry.contours import ContourSteps, mask_to_contours
from myomap.geometry.masks import contours_to_mask
from myomap.geometry.polygon import densify
from myomap.metrics.compare import best_achievable_hausdorff_mm, compare, compare_masks, summarise
from myomap.metrics.distance import (
    hausdorff_mm,
    mask_surface_distance_mm,
    mean_surface_distance_mm,
    signed_mean_surface_distance_mm,
)
from myomap.metrics.overlap import dice, iou

SPACINGS = [(1.0, 1.0), (1.5, 1.5), (0.5, 0.5), (0.4, 0.6), (2.0, 1.25)]


def _ellipse_px(a_mm, b_mm, spacing, centre_mm=(60.3, 58.7), n=2000):
    """An ellipse with semi-axes in mm (a along x), as pixel coordinates of a grid with ``spacing`` (row, col)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x_mm = centre_mm[0] + a_mm * np.cos(t)
    y_mm = centre_mm[1] + b_mm * np.sin(t)
    return np.column_stack([x_mm / spacing[1], y_mm / spacing[0]])


def _shape(spacing):
    return (int(125 / spacing[0]), int(125 / spacing[1]))


def test_dice_and_iou_of_known_masks():
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[:, :5] = True
    b[:, :4] = True
    assert dice(a, b) == pytest.approx(2 * 40 / 90)
    assert iou(a, b) == pytest.approx(40 / 50)
    assert np.isnan(dice(np.zeros(3, bool), np.zeros(3, bool)))


@pytest.mark.parametrize("spacing", SPACINGS)
def test_ring_and_disc_dice_match_closed_forms(spacing):
    # Reference ring 12-25 mm, prediction ring 12.5-26 mm, concentric.
    ref = contours_to_mask(_ellipse_px(25, 25, spacing), _ellipse_px(12, 12, spacing), _shape(spacing))
    pred = contours_to_mask(_ellipse_px(26, 26, spacing), _ellipse_px(12.5, 12.5, spacing), _shape(spacing))
    ring = 2 * (25**2 - 12.5**2) / ((25**2 - 12**2) + (26**2 - 12.5**2))
    disc = 2 * 12**2 / (12**2 + 12.5**2)
    # Pixel-centre sampling of a binary mask: within 0.5 % Dice except at 1.5 mm, where it reaches 0.7 %.
    tolerance = 0.01 if spacing == (1.5, 1.5) else 0.005
    assert dice(pred == 1, ref == 1) == pytest.approx(ring, abs=tolerance)
    assert dice(pred == 2, ref == 2) == pytest.approx(disc, abs=tolerance)


@pytest.mark.parametrize("spacing", SPACINGS)
def test_circle_distances_match_closed_forms(spacing):
    a, b = _ellipse_px(20.0, 20.0, spacing), _ellipse_px(23.0, 23.0, spacing)
    assert hausdorff_mm(a, b, spacing_mm=spacing) == pytest.approx(3.0, abs=0.05)
    assert mean_surface_distance_mm(a, b, spacing_mm=spacing) == pytest.approx(3.0, abs=0.05)
    assert signed_mean_surface_distance_mm(b, a, spacing_mm=spacing) == pytest.approx(3.0, abs=0.05)
    assert signed_mean_surface_distance_mm(a, b, spacing_mm=spacing) == pytest.approx(-3.0, abs=0.05)


@pytest.mark.parametrize("spacing", SPACINGS)
def test_ellipse_to_circle_hausdorff(spacing):
    # Concentric ellipse (a=26, b=18) and circle r=21: the farthest points are on the axes.
    ellipse, circle = _ellipse_px(26.0, 18.0, spacing), _ellipse_px(21.0, 21.0, spacing)
    assert hausdorff_mm(ellipse, circle, spacing_mm=spacing) == pytest.approx(5.0, abs=0.05)


def test_hausdorff_agrees_with_scipy_on_random_contours():
    rng = np.random.default_rng(0)
    for _ in range(5):
        a, b = rng.uniform(0, 30, (12, 2)), rng.uniform(0, 30, (9, 2))
        spacing = tuple(rng.uniform(0.8, 2.0, 2))
        da, db = densify(a, spacing_mm=spacing), densify(b, spacing_mm=spacing)
        expected = max(directed_hausdorff(da, db)[0], directed_hausdorff(db, da)[0])
        assert hausdorff_mm(a, b, spacing_mm=spacing) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_mask_distances_agree_with_scipy_on_random_masks(seed):
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    a = ndimage.binary_opening(rng.random((40, 50)) > 0.6, iterations=1)
    b = ndimage.binary_opening(rng.random((40, 50)) > 0.6, iterations=1)
    spacing = (1.3, 0.9)
    surface = lambda m: np.argwhere(m & ~ndimage.binary_erosion(m)) * np.array(spacing)  # noqa: E731
    sa, sb = surface(a), surface(b)
    expected = max(directed_hausdorff(sa, sb)[0], directed_hausdorff(sb, sa)[0])
    assert mask_surface_distance_mm(a, b, spacing_mm=spacing, percentile=100) == pytest.approx(expected, abs=1e-9)


def test_mask_distance_edge_cases():
    empty, full = np.zeros((5, 5), bool), np.ones((5, 5), bool)
    assert math.isnan(mask_surface_distance_mm(empty, empty, spacing_mm=(1, 1)))
    assert math.isinf(mask_surface_distance_mm(empty, full, spacing_mm=(1, 1)))


def test_compare_counts_a_missing_prediction_instead_of_dropping_it():
    spacing = (1.0, 1.0)
    epi, endo = _ellipse_px(20, 20, spacing, (40, 40)), _ellipse_px(12, 12, spacing, (40, 40))
    good = contours_to_mask(epi, endo, (80, 80))
    no_pool = np.where(good == 2, 1, good)  # the model found no blood pool
    rows = [compare_masks(good, epi, endo, spacing_mm=spacing), compare_masks(no_pool, epi, endo, spacing_mm=spacing)]
    assert not rows[0].endocardial.missing and rows[1].endocardial.missing and not rows[1].complete
    assert math.isnan(rows[1].endocardial.hd_mm) and rows[1].endocardial.missing_reason == "empty region"
    summary = summarise(rows)
    assert summary["missing_endocardial"] == 1 and summary["images"] == 2
    assert summary["hd95_mask_endocardial_mm_infinite"] == 1  # counted, not averaged
    assert summary["hd_endocardial_mm"] == pytest.approx(rows[0].endocardial.hd_mm)
    assert rows[0].epicardial.dice > 0.95 and rows[0].epicardial.hd_mm < 1.0
    assert rows[0].as_row()["hd_epicardial_mm"] == rows[0].epicardial.hd_mm and rows[0].contour("endocardial") == rows[0].endocardial


def test_best_achievable_hausdorff_is_below_a_pixel_for_smooth_shapes():
    spacing = (1.5, 1.5)
    ref = _ellipse_px(24, 19, spacing, (60, 60))
    assert 0 < best_achievable_hausdorff_mm(ref, (80, 80), spacing_mm=spacing) < 1.5
    no_spline = ContourSteps(spline=False)
    assert best_achievable_hausdorff_mm(ref, (80, 80), spacing_mm=spacing, steps=no_spline) > 0


def test_compare_uses_the_fitted_contours():
    spacing = (1.0, 1.0)
    epi, endo = _ellipse_px(20, 20, spacing, (40, 40)), _ellipse_px(12, 12, spacing, (40, 40))
    mask = contours_to_mask(epi, endo, (80, 80))
    row = compare(mask, mask_to_contours(mask), epi, endo, spacing_mm=spacing)
    assert row.epicardial.smsd_mm < 0  # boundary-pixel centres lie inside the drawn border
