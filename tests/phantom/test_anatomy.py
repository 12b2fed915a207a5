import numpy as np
import pytest
from scipy import ndimage
from skimage.morphology import convex_hull_image

from myomap.geometry.masks import polygon_mask
from myomap.phantom.anatomy import Placement, label_points
from myomap.phantom.drawing import HeartRanges, draw_anatomy
from myomap.phantom.observers import ObserverStyle, draw_contours
from myomap.phantom.tissues import PHENOTYPES, Tissue, phenotype_by_name


@pytest.mark.parametrize("phenotype", PHENOTYPES, ids=lambda p: p.name)
def test_anatomy_is_plausible_for_every_phenotype(phenotype):
    anatomy = draw_anatomy(phenotype, np.random.default_rng(1))
    theta = np.arange(0, 360, 5.0)
    basal, apical = anatomy.slices["basal"], anatomy.slices["apical"]
    assert np.mean(apical.epi_radius(theta)) < np.mean(basal.epi_radius(theta))
    for heart in anatomy.slices.values():
        wall = heart.epi_radius(theta) - heart.endo_radius(theta)
        closed = heart.opening(theta) == 0
        assert closed.sum() > 0.6 * theta.size
        assert np.all(wall[closed] > 1.5)
        assert np.all(heart.outer_epi_radius(theta) - heart.endo_radius(theta) > 1.5)
        assert np.all(heart.endo_radius(theta) >= heart.min_cavity_mm)


def test_rv_insertion_points_bracket_the_septum():
    anatomy = draw_anatomy(phenotype_by_name("healthy"), np.random.default_rng(2))
    anterior, inferior = anatomy.slices["mid"].rv_insertion_deg()
    assert 60 < anterior < 170
    assert 190 < inferior < 300


def test_labels_put_the_myocardium_between_blood_pool_and_outside():
    heart = draw_anatomy(phenotype_by_name("healthy"), np.random.default_rng(3)).slices["mid"]
    r_mid_wall = (heart.epi_radius(np.array([0.0])) + heart.endo_radius(np.array([0.0]))) / 2
    labels, _, _ = label_points(heart, np.array([0.0, float(r_mid_wall[0]), 200.0]), np.array([0.0, 0.0, 0.0]))
    assert labels[1] == Tissue.LV_MYOCARDIUM
    assert labels[0] in (Tissue.LV_BLOOD, Tissue.PAPILLARY)
    assert labels[2] != Tissue.LV_MYOCARDIUM


def test_placement_round_trip():
    p = Placement(100.0, 80.0, 23.0)
    u, v = p.to_anatomical(np.array([130.0]), np.array([60.0]))
    x, y = p.to_image(u, v)
    np.testing.assert_allclose([x[0], y[0]], [130.0, 60.0])
    # Anterior (v > 0) is up in the image (smaller y) without rotation.
    assert Placement(0, 0, 0).to_image(np.array(0.0), np.array(10.0))[1] == pytest.approx(-10.0)


def test_unknown_phenotype_lists_the_valid_ones():
    with pytest.raises(KeyError, match="healthy"):
        phenotype_by_name("flu")


def _label_grid(heart, step_mm=0.5, half_mm=90.0):
    """Labels on a square grid around the LV centre (v up = anterior, row 0 at the top)."""
    v, u = np.mgrid[half_mm:-half_mm:-step_mm, -half_mm:half_mm:step_mm]
    labels, _, _ = label_points(heart, u, v)
    return labels, u, v


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("position", ["basal", "mid"])
def test_rv_is_a_crescent_hugging_the_septum(seed, position):
    heart = draw_anatomy(PHENOTYPES[seed % len(PHENOTYPES)], np.random.default_rng(seed)).slices[position]
    labels, u, v = _label_grid(heart)
    rv = np.isin(labels, (Tissue.RV_BLOOD, Tissue.RV_WALL))
    rho, theta = np.hypot(u, v), np.rad2deg(np.arctan2(v, u)) % 360
    # All of it outside the LV epicardium, on the septal side.
    assert not np.any(rv & (rho < heart.outer_epi_radius(theta)))
    assert np.mean(u[rv]) < -0.5 * float(np.mean(heart.outer_epi_radius(np.arange(0, 360.0))))
    # Concave towards the LV: its convex hull takes in much more than the crescent itself.
    assert convex_hull_image(rv).sum() > 1.3 * rv.sum()
    # RV blood lies against the septum's epicardium (mid-septum, 180 degrees).
    septum = (np.abs(theta - 180) < 15) & (rho > heart.outer_epi_radius(theta)) & (rho < heart.outer_epi_radius(theta) + 4.0)
    assert np.mean(labels[septum] == Tissue.RV_BLOOD) > 0.5
    anterior, inferior = heart.rv_insertion_deg()
    # On the basal slice the aortic root sits between RV and LV anteriorly and ends the contact earlier.
    assert 70 < anterior < (170 if position == "basal" else 140) and 220 < inferior < 290


def _basal(open_ring: bool, seed: int = 4):
    ranges = HeartRanges(open_ring_chance=1.0 if open_ring else 0.0)
    return draw_anatomy(phenotype_by_name("healthy"), np.random.default_rng(seed), ranges).slices["basal"]


@pytest.mark.parametrize("seed", range(4))
def test_most_basal_slice_has_outflow_blood_joining_the_cavity(seed):
    heart = _basal(open_ring=True, seed=seed)
    labels, u, v = _label_grid(heart)
    outflow, cavity = labels == Tissue.OUTFLOW_BLOOD, np.isin(labels, (Tissue.LV_BLOOD, Tissue.PAPILLARY))
    assert outflow.sum() * 0.25 > 150  # mm²: the root and the tract
    assert np.any(ndimage.binary_dilation(cavity) & outflow)
    # No myocardium where the ring is open, and the ring is whole elsewhere.
    theta = np.rad2deg(np.arctan2(v, u)) % 360
    ray = np.abs((theta - heart.outflow.theta_deg + 180) % 360 - 180) < 2
    assert not np.any(ray & (labels == Tissue.LV_MYOCARDIUM))
    opposite = np.abs((theta - heart.outflow.theta_deg) % 360 - 180) < 2
    assert np.any(opposite & (labels == Tissue.LV_MYOCARDIUM))


def test_other_basal_slices_lie_below_the_outflow_tract():
    heart = _basal(open_ring=False)
    labels, _, _ = _label_grid(heart)
    assert heart.outflow is None and not np.any(labels == Tissue.OUTFLOW_BLOOD)
    assert np.all(heart.opening(np.arange(0, 360.0)) == 0)


@pytest.mark.parametrize("open_ring", [True, False])
def test_reference_contours_follow_the_labels_on_basal_slices(open_ring):
    heart = _basal(open_ring)
    spacing = (0.5, 0.5)
    placement = Placement(90.0, 90.0, 0.0)
    style = ObserverStyle(0.0, 0.0, 0.0, 0.0, 0.0)
    contours = draw_contours(heart, placement, spacing, style, np.random.default_rng(0))
    shape = (360, 360)
    reference_myo = polygon_mask(contours.epi, shape) & ~polygon_mask(contours.endo, shape)
    y, x = np.mgrid[: shape[0], : shape[1]] * 0.5
    u, v = placement.to_anatomical(x, y)
    labels, _, _ = label_points(heart, u, v)
    myo = labels == Tissue.LV_MYOCARDIUM
    dice = 2 * np.sum(reference_myo & myo) / (reference_myo.sum() + myo.sum())
    assert dice > 0.93
    # Where the ring is open the reference has no myocardium either: epi and endo coincide there.
    assert np.sum(reference_myo & (labels == Tissue.OUTFLOW_BLOOD)) < 0.01 * reference_myo.sum()


@pytest.mark.parametrize("seed", range(5))
def test_chest_organs_are_present_with_plausible_areas(seed):
    anatomy = draw_anatomy(PHENOTYPES[seed % len(PHENOTYPES)], np.random.default_rng(seed))
    areas = {}
    for position, heart in anatomy.slices.items():
        labels, _, _ = _label_grid(heart, step_mm=1.0, half_mm=220.0)
        areas[position] = np.bincount(labels.ravel(), minlength=len(Tissue))  # mm² (1 mm grid)
    mid = areas["mid"]
    assert 8_000 < mid[Tissue.LUNG] < 60_000
    assert 3_000 < mid[Tissue.LIVER] < 15_000
    assert 200 < mid[Tissue.AORTA_BLOOD] < 1_200  # descending aorta and small vessels
    assert 600 < mid[Tissue.BONE_MARROW] < 4_000  # spine, ribs, sternum
    assert 5_000 < mid[Tissue.MUSCLE] < 25_000  # chest wall, paraspinal muscles, diaphragm
    assert 100 < mid[Tissue.PERICARDIUM] < 1_000
    for area in areas.values():
        for organ in (Tissue.STOMACH, Tissue.SPLEEN):
            assert area[organ] == 0 or 300 < area[organ] < 5_000
    # Abdominal organs grow from base to apex; the apical heart is small.
    assert areas["basal"][Tissue.LIVER] < mid[Tissue.LIVER] < areas["apical"][Tissue.LIVER]
    heart_area = {p: a[Tissue.LV_MYOCARDIUM] + a[Tissue.LV_BLOOD] + a[Tissue.PAPILLARY] for p, a in areas.items()}
    assert heart_area["apical"] < 0.65 * heart_area["mid"]


def test_stomach_and_spleen_appear_in_a_cohort_below_the_heart():
    seen = {Tissue.STOMACH: 0, Tissue.SPLEEN: 0}
    for seed in range(6):
        heart = draw_anatomy(phenotype_by_name("healthy"), np.random.default_rng(seed)).slices["apical"]
        labels, _, v = _label_grid(heart, step_mm=1.0, half_mm=220.0)
        for organ in seen:
            if np.any(labels == organ):
                seen[organ] += 1
                assert np.mean(v[labels == organ]) < 0  # inferior to the LV centre
    assert all(count >= 2 for count in seen.values())
