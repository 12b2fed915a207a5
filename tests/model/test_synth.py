import numpy as np
import pytest

from myomap.model.synth import FAMILIES, SynthSettings, bias_field, extra_organs, label_intensities, resolution, ringing, synthesise
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
