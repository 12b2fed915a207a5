import numpy as np
import pytest
from scipy.spatial.distance import directed_hausdorff

from myomap.metrics.distance import densify, hausdorff_mm, mean_surface_distance_mm
from myomap.metrics.overlap import dice, iou


def _circle(r, n=720, cx=0.0, cy=0.0):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)])


def test_dice_and_iou_of_known_masks():
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[:, :5] = True
    b[:, :4] = True
    assert dice(a, b) == pytest.approx(2 * 40 / 90)
    assert iou(a, b) == pytest.approx(40 / 50)
    assert np.isnan(dice(np.zeros(3, bool), np.zeros(3, bool)))


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (1.5, 1.5), (2.0, 1.25)])
def test_concentric_circles_in_mm(spacing):
    # Circles in mm, converted to pixel coordinates of an anisotropic grid.
    to_px = lambda c: c / np.array([spacing[1], spacing[0]])  # noqa: E731
    a, b = to_px(_circle(20.0)), to_px(_circle(23.0))
    assert hausdorff_mm(a, b, spacing_mm=spacing) == pytest.approx(3.0, abs=0.05)
    assert mean_surface_distance_mm(a, b, spacing_mm=spacing) == pytest.approx(3.0, abs=0.05)


def test_hausdorff_agrees_with_scipy_on_random_contours():
    rng = np.random.default_rng(0)
    for _ in range(5):
        a, b = rng.uniform(0, 30, (12, 2)), rng.uniform(0, 30, (9, 2))
        da, db = densify(a, spacing_mm=(1, 1)), densify(b, spacing_mm=(1, 1))
        expected = max(directed_hausdorff(da, db)[0], directed_hausdorff(db, da)[0])
        assert hausdorff_mm(a, b, spacing_mm=(1, 1)) == pytest.approx(expected, abs=1e-9)
