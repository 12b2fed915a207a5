import numpy as np
import pytest

from myomap.geometry.contours import ON_EDGES, ContourSteps, fit_contour, mask_to_contours
from myomap.geometry.masks import contours_to_mask
from myomap.geometry.polygon import polygon_area, polygon_mask
from myomap.metrics.distance import hausdorff_mm


def _circle(cx, cy, r, n=400):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)])


def test_all_steps_recover_a_disc_within_a_pixel():
    ref = _circle(32.3, 30.8, 14.2)
    fitted = fit_contour(polygon_mask(ref, (64, 64)))
    assert fitted.points.shape == (100, 2)
    # Boundary-pixel centres lie up to half a pixel inside the drawn border.
    assert hausdorff_mm(fitted.points, ref, spacing_mm=(1, 1)) < 1.0


@pytest.mark.parametrize("r_epi, r_endo", [(14.2, 9.1), (7.3, 3.8), (4.6, 2.2)])
def test_contours_on_the_edges_give_back_the_region_they_came_from(r_epi, r_endo):
    from myomap.metrics.overlap import dice

    mask = contours_to_mask(_circle(30.3, 29.6, r_epi), _circle(30.3, 29.6, r_endo), (60, 60))
    ring = mask == 1

    def round_trip(steps):
        fitted = mask_to_contours(mask, steps)
        return dice(contours_to_mask(fitted.epi.points, fitted.endo.points, mask.shape) == 1, ring)

    assert round_trip(ON_EDGES) > 0.97
    assert round_trip(ON_EDGES) > round_trip(ContourSteps()) + 0.02  # through the pixel centres the ring moves inward
    # On the pixel edges a contour encloses about as many px² as its region has pixels; through their centres, fewer.
    for region in (mask == 2, mask > 0):
        on_edges, through_centres = (polygon_area(fit_contour(region, steps).points) for steps in (ON_EDGES, ContourSteps()))
        assert abs(on_edges - region.sum()) < abs(through_centres - region.sum())
        assert region.sum() < 40 or abs(on_edges / region.sum() - 1) < 0.07


def test_each_step_can_be_switched_off():
    mask = polygon_mask(_circle(30, 30, 12), (60, 60))
    none = fit_contour(mask, ContourSteps(chain=False, filter=False, hull=False, spline=False))
    chain = fit_contour(mask, ContourSteps(filter=False, hull=False, spline=False))
    assert len(chain.points) < len(none.points)  # Teh-Chin drops collinear boundary points
    # Without the spline the contour keeps the traced vertices: all on pixel centres.
    traced = fit_contour(mask, ContourSteps(spline=False)).points
    np.testing.assert_array_equal(traced, np.round(traced))
    assert not np.allclose(fit_contour(mask).points, np.round(fit_contour(mask).points))


def test_filter_keeps_the_largest_round_region():
    mask = polygon_mask(_circle(40, 40, 10), (80, 80))
    mask[72:75, 5:60] = True  # a long thin false positive, listed first by OpenCV
    assert fit_contour(mask, ContourSteps(spline=False)).points[:, 1].max() < 55
    unfiltered = fit_contour(mask, ContourSteps(filter=False, spline=False))
    assert unfiltered.points[:, 1].min() >= 72


def test_convex_hull_closes_a_c_shape():
    mask = polygon_mask(_circle(30, 30, 12), (60, 60)) & ~polygon_mask(_circle(42, 30, 7), (60, 60))
    plain = fit_contour(mask, ContourSteps(hull=False, spline=False))
    hulled = fit_contour(mask, ContourSteps(spline=False))
    assert len(hulled.points) < len(plain.points)
    assert hulled.points[:, 0].max() >= plain.points[:, 0].max()


@pytest.mark.parametrize(
    "mask, reason",
    [
        (np.zeros((10, 10), bool), "empty region"),
        (np.pad(np.ones((1, 1), bool), 4), "fewer than 3"),
        (np.pad(np.ones((3, 12), bool), 4), "elongated"),
    ],
)
def test_regions_without_a_usable_contour_give_a_reason(mask, reason):
    fitted = fit_contour(mask)
    assert fitted.points is None and reason in fitted.reason


def test_mask_to_contours_fits_both():
    mask = contours_to_mask(_circle(30, 30, 15), _circle(30, 30, 9), (60, 60))
    contours = mask_to_contours(mask)
    assert contours.complete
    r_epi = np.hypot(*(contours.epi.points - 30).T).mean()
    r_endo = np.hypot(*(contours.endo.points - 30).T).mean()
    assert r_epi == pytest.approx(14.5, abs=0.5) and r_endo == pytest.approx(8.5, abs=0.5)


def test_ablation_configurations_add_one_step_at_a_time():
    configs = [steps for _, steps in ContourSteps.ablation()]
    switched_on = [{k for k in ("chain", "filter", "hull", "spline") if getattr(c, k)} for c in configs]
    assert switched_on == [{"chain"}, {"chain", "spline"}, {"chain", "spline", "filter"}, {"chain", "spline", "filter", "hull"}]


@pytest.mark.parametrize("clockwise", [False, True])
def test_a_curve_is_moved_outward_whichever_way_round_it_runs(clockwise):
    from myomap.geometry.contours import _outward

    circle = _circle(20.0, 20.0, 6.0, n=120)
    moved = _outward(circle[::-1] if clockwise else circle, 0.5)
    np.testing.assert_allclose(np.hypot(moved[:, 0] - 20.0, moved[:, 1] - 20.0), 6.5, atol=1e-3)
