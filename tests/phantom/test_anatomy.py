import numpy as np
import pytest

from myomap.phantom.anatomy import Placement, draw_anatomy, label_points
from myomap.phantom.tissues import PHENOTYPES, Tissue, phenotype_by_name


@pytest.mark.parametrize("phenotype", PHENOTYPES, ids=lambda p: p.name)
def test_anatomy_is_plausible_for_every_phenotype(phenotype):
    anatomy = draw_anatomy(phenotype, np.random.default_rng(1))
    theta = np.arange(0, 360, 5.0)
    basal, apical = anatomy.slices["basal"], anatomy.slices["apical"]
    assert np.mean(apical.epi_radius(theta)) < np.mean(basal.epi_radius(theta))
    for heart in anatomy.slices.values():
        wall = heart.epi_radius(theta) - heart.endo_radius(theta)
        assert np.all(wall > 1.5)
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
