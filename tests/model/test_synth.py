import numpy as np
import pytest
from scipy import ndimage

from myomap.model.synth import (
    FAMILIES,
    KIDNEY_CORTEX,
    KIDNEY_MEDULLA,
    SynthSettings,
    band,
    bias_field,
    blood_speckle,
    bottle_labels,
    diffuse,
    display_window,
    extra_organs,
    great_vessels,
    kidney,
    label_intensities,
    resolution,
    ringing,
    scar,
    synthesise,
)
from myomap.phantom.tissues import Tissue


def _labels():
    labels = np.full((96, 96), Tissue.LUNG, np.uint8)
    y, x = np.mgrid[:96, :96]
    r = np.hypot(x - 48, y - 48)
    labels[r < 20] = Tissue.LV_MYOCARDIUM
    labels[r < 12] = Tissue.LV_BLOOD
    labels[:10] = Tissue.AIR
    return labels


def test_same_seed_same_image_and_finite():
    a = synthesise(_labels(), np.random.default_rng(3))
    b = synthesise(_labels(), np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and np.isfinite(a).all() and a.min() >= 0


@pytest.mark.parametrize("seed", range(12))
def test_blood_and_myocardium_always_differ(seed):
    image, myo = label_intensities(_labels(), np.random.default_rng(seed), SynthSettings(texture=(0.0, 0.0)))
    blood = image[48, 48]
    assert abs(blood - image[48, 48 + 16]) >= 0.15 * max(blood, image[48, 48 + 16]) - 1e-6
    assert myo == pytest.approx(image[48, 48 + 16])


def test_post_contrast_family_has_blood_darker_than_myocardium():
    settings = SynthSettings(family_weights=(0, 1, 0, 0), intensity_jitter=0.0, texture=(0.0, 0.0))
    image, _ = label_intensities(_labels(), np.random.default_rng(0), settings)
    assert image[48, 48] < image[48, 48 + 16]
    assert "random" in FAMILIES


@pytest.mark.parametrize("seed", range(6))
def test_a_kidney_is_a_cortex_around_its_medulla_and_spares_what_it_must_keep(seed):
    labels = np.full((128, 160), Tissue.LIVER, np.uint8)
    keep = np.zeros(labels.shape, bool)
    keep[:, :20] = True
    spacing = (1.2, 1.8)  # (row, col) mm: an x/y or row/col mix-up moves and reshapes the organ
    out = kidney(labels, spacing, (100.0, 50.0), np.random.default_rng(seed), keep)
    organ = np.isin(out, (KIDNEY_CORTEX, KIDNEY_MEDULLA))
    rows, cols = np.nonzero(organ)
    assert np.hypot((cols.mean() - 100) * spacing[1], (rows.mean() - 50) * spacing[0]) < 12.0  # about (x 100, y 50)
    extent_mm = max(
        np.ptp(cols) * spacing[1], np.ptp(rows) * spacing[0], np.hypot(np.ptp(cols) * spacing[1], np.ptp(rows) * spacing[0]) / 1.5
    )
    assert 2 * 13.0 <= extent_mm <= 2 * 36.0
    medulla = out == KIDNEY_MEDULLA
    assert medulla.any() and not (ndimage.binary_dilation(medulla, iterations=2) & ~organ & (out != Tissue.SUBCUTANEOUS_FAT)).any()
    np.testing.assert_array_equal(kidney(labels, spacing, (10.0, 64.0), np.random.default_rng(seed), keep)[keep], labels[keep])


@pytest.mark.parametrize("seed", range(8))
def test_great_vessels_are_blood_pools_in_walls_around_the_centre(seed):
    labels = np.full((160, 200), Tissue.LUNG, np.uint8)
    spacing = (1.0, 1.5)  # (row, col) mm: an x/y mix-up moves the root
    out = great_vessels(labels, spacing, (100.0, 80.0), np.random.default_rng(seed))
    aorta = out == Tissue.AORTA_BLOOD
    rows, cols = np.nonzero(aorta)
    assert np.hypot((cols.mean() - 100) * spacing[1], (rows.mean() - 80) * spacing[0]) <= 10.0 * np.sqrt(2) + 1.0
    radius_mm = np.sqrt(aorta.sum() * spacing[0] * spacing[1] / np.pi)
    assert 9.0 <= radius_mm <= 19.0
    assert (out == Tissue.RV_BLOOD).any()  # the pulmonary trunk (an atrium may cover part of it, never all)
    pools = np.isin(out, (Tissue.AORTA_BLOOD, Tissue.RV_BLOOD, Tissue.LV_BLOOD))
    walled = ndimage.binary_dilation(pools, iterations=1) & ~pools  # every pool's edge is wall, never lung
    assert set(np.unique(out[walled])) <= {Tissue.RV_WALL, Tissue.PERICARDIUM}
    assert not (out == Tissue.LV_MYOCARDIUM).any()


@pytest.mark.parametrize("family, ratio", [(0, (1.15, 1.55)), (2, (1.7, 2.2))])
def test_kidney_means_follow_the_family(family, ratio):
    weights = [0.0] * 4
    weights[family] = 1.0
    settings = SynthSettings(family_weights=tuple(weights), intensity_jitter=0.0, texture=(0.0, 0.0))
    labels = _labels()
    labels[80:90, 10:20], labels[82:88, 12:18] = KIDNEY_CORTEX, KIDNEY_MEDULLA
    image, myo = label_intensities(labels, np.random.default_rng(0), settings)
    assert image[85, 11] / myo == pytest.approx(ratio[0], rel=0.01) and image[85, 15] / myo == pytest.approx(ratio[1], rel=0.01)


def test_a_map_without_a_kidney_draws_what_it_drew_before_kidneys_existed():
    # Values from the code of commit b5a16b4 (before kidneys): older recipes keep their views.
    rng = np.random.default_rng(5)
    image, myo = label_intensities(_labels(), rng, SynthSettings(intensity_jitter=0.25, texture=(0.05, 0.12)))
    assert [float(image[48, 48]), float(image[48, 64]), float(image[5, 5]), float(image[50, 90])] == pytest.approx(
        [0.29707473516464233, 0.5183166265487671, 0.0059779491275548935, 0.5337366461753845], rel=1e-6
    )
    assert myo == pytest.approx(0.4632001746138849, rel=1e-9) and rng.random() == pytest.approx(0.1932083320064948, rel=1e-12)


def test_extra_organs_only_replace_background_tissue():
    labels = _labels()
    out = extra_organs(labels, np.random.default_rng(1))
    heart = np.isin(labels, (Tissue.LV_MYOCARDIUM, Tissue.LV_BLOOD))
    np.testing.assert_array_equal(out[heart], labels[heart])


def test_artefact_steps_keep_shape_and_scale():
    rng = np.random.default_rng(0)
    image = np.random.default_rng(1).random((64, 80)).astype(np.float32) + 1.0
    for out in (bias_field(image, rng, (0.3, 0.3)), resolution(image, 2.0), ringing(image, rng)):
        assert out.shape == image.shape and 0.3 < out.mean() / image.mean() < 3.0


@pytest.mark.parametrize("seed", range(8))
def test_bottle_is_tubes_in_a_fill_with_a_tube_at_the_centre(seed):
    shape, spacing, centre = (420, 440), (1.5, 1.2), (220, 210)  # room for the largest object (about 300 mm) around any tube
    labels = bottle_labels(shape, spacing, centre, np.random.default_rng(seed))
    np.testing.assert_array_equal(labels, bottle_labels(shape, spacing, centre, np.random.default_rng(seed)))
    assert labels.shape == shape and labels[0, 0] == labels[-1, -1] == Tissue.AIR  # air around the container
    y, x = np.mgrid[: shape[0], : shape[1]]
    near = np.hypot((x - centre[0]) * spacing[1], (y - centre[1]) * spacing[0]) < 3.5  # within the smallest tube (4 mm)
    assert len(np.unique(labels[near])) == 1 and labels[centre[1], centre[0]] != Tissue.AIR
    assert (labels != Tissue.AIR).sum() * spacing[0] * spacing[1] > 4 * np.pi * 4.0**2  # a fill holding at least four tubes


def test_display_window_saturates_the_top_in_256_levels():
    image = np.random.default_rng(0).uniform(0.0, 2000.0, (64, 64)).astype(np.float32)
    out = display_window(image, np.random.default_rng(1))
    assert out.min() == 0.0 and out.max() == 255.0 and np.array_equal(out, np.round(out))
    assert (out == 255.0).mean() > 0.004  # at least the top 0.5 % saturated (window top at the 70th-99.5th percentile)
    assert np.all(np.diff(out.ravel()[np.argsort(image.ravel())]) >= 0)  # monotone: the order of values is kept


def test_band_darkens_a_line_near_the_centre_only():
    image = np.full((100, 100), 100.0, np.float32)
    out = band(image, (50.0, 50.0), (1.0, 1.0), np.random.default_rng(2))
    assert out.min() <= 60.0 and out.max() == pytest.approx(100.0, abs=1e-3)  # 40-95 % lost at the band's centre line
    dark = out < 90.0
    assert 0.02 < dark.mean() < 0.4  # a band of a few mm, not the whole image
    y, x = np.nonzero(out < out.min() + 1.0)
    assert np.hypot(x - 50, y - 50).min() <= 26.0  # the darkest line passes within 25 mm of the centre


@pytest.mark.parametrize("seed", range(4))
def test_blood_speckle_scatters_the_blood_pools_only(seed):
    labels = _labels()
    labels[60:70, 10:20], labels[10:16, 80:90], labels[80:86, 40:50] = Tissue.RV_BLOOD, Tissue.AORTA_BLOOD, Tissue.OUTFLOW_BLOOD
    blood = np.isin(labels, [Tissue.LV_BLOOD, Tissue.RV_BLOOD, Tissue.AORTA_BLOOD, Tissue.OUTFLOW_BLOOD])
    image = np.where(blood, 300.0, 100.0).astype(np.float32)
    out = blood_speckle(image, labels, np.random.default_rng(seed))
    changed = out != image
    np.testing.assert_array_equal(out[~blood], image[~blood])  # myocardium, lung and air untouched
    assert 0.02 * 0.5 < changed[blood].mean() < 0.25 * 1.5  # 2-25 % of the blood pools' pixels
    for tissue in (Tissue.RV_BLOOD, Tissue.AORTA_BLOOD, Tissue.OUTFLOW_BLOOD):
        assert changed[labels == tissue].any() or changed[blood].mean() < 0.05  # every blood pool (a few dots at the least)
    assert out[changed].min() < 150.0 and 300.0 < out[changed].max() <= 2 * 300.0  # dark and bright dots, up to 2x the top


@pytest.mark.parametrize("seed", range(6))
def test_scar_moves_a_sector_of_the_wall_from_the_endocardium_toward_the_blood(seed):
    y, x = np.mgrid[:96, :96]
    r = np.hypot(x - 48, y - 48)
    reference = np.where(r < 12, 2, np.where(r < 20, 1, 0)).astype(np.uint8)  # blood pool, myocardium, background
    rng = np.random.default_rng(100 + seed)
    image = (np.choose(reference, [50.0, 100.0, 300.0]) + rng.normal(0.0, 5.0, reference.shape)).astype(np.float32)
    out = scar(image, reference, np.random.default_rng(seed))
    changed = out != image
    assert changed.any() and (reference[changed] == 1).all()  # the myocardium only
    shift = (out - image)[changed]
    assert np.ptp(shift) < 1e-3 and 0.4 * 200 - 15 < shift[0] < 1.2 * 200 + 15  # one shift toward the blood: texture kept
    angles = np.degrees(np.arctan2(y - 48, x - 48))[changed]
    centre = np.degrees(np.angle(np.exp(1j * np.radians(angles)).mean()))
    spread = np.abs((angles - centre + 180.0) % 360.0 - 180.0)
    assert spread.max() <= 70.0 + 1.0  # one sector of at most 140 degrees
    assert (changed & (r < 13.5)).any()  # it starts at the endocardium
    for radius in np.arange(13.0, 20.0):  # no ring of the wall is scarred where the one inside it is not
        ring = (r >= radius) & (r < radius + 1) & (reference == 1)
        inside = (r >= radius - 1) & (r < radius) & (reference == 1)
        if changed[ring].any():
            assert changed[inside].any()


def test_scar_needs_a_blood_pool_and_a_myocardium():
    image = np.ones((32, 32), np.float32)
    np.testing.assert_array_equal(scar(image, np.zeros((32, 32), np.uint8), np.random.default_rng(0)), image)
    only_wall = np.zeros((32, 32), np.uint8)
    only_wall[10:20, 10:20] = 1
    np.testing.assert_array_equal(scar(image, only_wall, np.random.default_rng(0)), image)


def test_diffuse_moves_the_whole_wall_toward_the_blood_and_nothing_else():
    y, x = np.mgrid[:96, :96]
    r = np.hypot(x - 48, y - 48)
    reference = np.where(r < 12, 2, np.where(r < 20, 1, 0)).astype(np.uint8)
    image = (np.choose(reference, [50.0, 500.0, 300.0]) + np.random.default_rng(1).normal(0.0, 5.0, reference.shape)).astype(np.float32)
    out = diffuse(image, reference, np.random.default_rng(0))
    shift = out - image
    assert (shift[reference != 1] == 0).all()
    assert np.ptp(shift[reference == 1]) < 1e-3 and -0.9 * 200 - 10 < shift[reference == 1][0] < -0.3 * 200 + 10  # darker, as the blood
    rv_wall = (r > 30) & (r < 34)  # a wall the tissue labels know of, beyond the LV's reference mask
    out = diffuse(image, reference, np.random.default_rng(0), wall=(reference == 1) | rv_wall)
    assert (out[rv_wall] < image[rv_wall]).all() and (out[reference == 2] == image[reference == 2]).all()
