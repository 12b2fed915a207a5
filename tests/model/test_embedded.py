"""The embedded default model on what a user may feed it: any field of view and orientation, and images without a heart."""

import numpy as np
import pytest

from myomap.conventions import Tissue
from myomap.geometry.masks import contours_to_mask
from myomap.io.dataset import load_dataset
from myomap.metrics.compare import compare_masks
from myomap.model import locate
from myomap.model.embedded import EMBEDDED_ONNX
from myomap.model.inference import OnnxSegmenter
from myomap.model.locate import NO_LV


@pytest.fixture(scope="module")
def segmenter():
    return OnnxSegmenter.from_file(EMBEDDED_ONNX, threads=1)


def test_the_embedded_model_works_at_a_fixed_pixel_size(segmenter):
    assert segmenter.physical and segmenter.meta.window_spacing_mm > 0


def _bottle(rng):
    y, x = np.mgrid[:192, :192]
    image = np.where(np.hypot(x - 96, y - 96) < 60, 900.0, 0.0) + rng.normal(0, 20, (192, 192))
    return np.clip(image, 0, None)


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: rng.uniform(0, 2000, (160, 160)),  # a map that is all noise (fit of air)
        _bottle,  # a phantom bottle
        lambda rng: np.kron(rng.uniform(200, 1500, (12, 12)), np.ones((16, 16))) + rng.normal(0, 30, (192, 192)),  # blocks, no anatomy
    ],
    ids=["noise", "bottle", "blocks"],
)
def test_no_heart_gives_no_left_ventricle(segmenter, make):
    predictions, reasons = segmenter.predict_each([make(np.random.default_rng(0))], [(1.5, 1.5)])
    assert predictions == [None] and reasons == [NO_LV]


@pytest.mark.parametrize("view", ["plain", "mirrored", "rot90", "tight", "blanked", "top-valued"])
def test_phantom_maps_are_found_in_any_view(segmenter, cohort, view):
    images, _ = load_dataset(cohort, roles=("map",), splits=("test",), observers=("reference",))
    image = next(i for i in images if i.slice == "mid" and i.map_type == "T1")
    pixels, epi, endo = image.pixels, image.contours["reference"].epi, image.contours["reference"].endo
    spacing = image.spacing_mm
    rows, cols = pixels.shape
    if view == "mirrored":
        pixels, epi, endo = (
            pixels[:, ::-1],
            np.column_stack([cols - 1 - epi[:, 0], epi[:, 1]]),
            np.column_stack([cols - 1 - endo[:, 0], endo[:, 1]]),
        )
    elif view == "rot90":
        pixels, spacing = np.rot90(pixels), spacing[::-1]
        epi, endo = (np.column_stack([xy[:, 1], cols - 1 - xy[:, 0]]) for xy in (epi, endo))
    elif view == "tight":  # 100 x 100 crop with the heart off-centre
        x0, y0 = (int(np.clip(np.mean(epi[:, k]) - 30, 0, (cols, rows)[k] - 100)) for k in (0, 1))
        pixels, epi, endo = pixels[y0 : y0 + 100, x0 : x0 + 100], epi - [x0, y0], endo - [x0, y0]
    elif view in ("blanked", "top-valued"):  # air and lungs at one value, as some vendors store them
        with np.load(image.source.parent / "truth.npz") as truth:
            outside = np.isin(truth["labels"], [Tissue.AIR, Tissue.LUNG])
        pixels = np.where(outside, 0.0 if view == "blanked" else 4095.0, pixels)
    (prediction,), reasons = segmenter.predict_each([np.ascontiguousarray(pixels)], [spacing])
    assert reasons == [None]
    assert compare_masks(prediction.labels, epi, endo, spacing_mm=spacing).epicardial.dice > (0.85 if view == "top-valued" else 0.7)


def test_the_network_sees_blanked_regions_as_speckle_and_the_check_sees_the_map(segmenter, cohort, monkeypatch):
    images, _ = load_dataset(cohort, roles=("map",), splits=("test",), observers=("reference",))
    image = next(i for i in images if i.slice == "mid" and i.map_type == "T1")
    with np.load(image.source.parent / "truth.npz") as truth:
        outside = np.isin(truth["labels"], [Tissue.AIR, Tissue.LUNG])
    blanked = np.where(outside, 0.0, image.pixels)
    shown, checked = [], []
    fine, evidence = locate._fine, locate.ring_evidence
    monkeypatch.setattr(locate, "_fine", lambda seg, imgs, *a, **k: shown.extend(imgs) or fine(seg, imgs, *a, **k))
    monkeypatch.setattr(locate, "ring_evidence", lambda img, *a, **k: checked.append(img) or evidence(img, *a, **k))
    (prediction,), _ = segmenter.predict_each([blanked], [image.spacing_mm])
    assert prediction is not None and shown and checked
    assert all(np.mean(np.asarray(x)[outside] == 0.0) < 0.01 for x in shown)  # speckle where the map is blank
    assert all(np.array_equal(x, blanked) for x in checked)  # the ring is checked on the map as it is


def test_a_native_t1_map_whose_ring_has_dark_blood_gives_no_left_ventricle(segmenter, cohort):
    # A post-contrast phantom map: its LV is found, but if it were a native T1 map, no ring in it would be an LV.
    images, _ = load_dataset(cohort, roles=("map",), splits=("test",), observers=("reference",))
    image = next(i for i in images if i.slice == "mid" and i.map_type == "T1")
    post = np.asarray(image.pixels, np.float64).copy()
    ref = image.contours["reference"]
    mask = contours_to_mask(ref.epi, ref.endo, post.shape)
    post[mask == 2] *= 0.3  # the blood pool darker than the myocardium, as after gadolinium
    (found,), _ = segmenter.predict_each([post], [image.spacing_mm], kinds=["T1-post"])
    assert found is not None and compare_masks(found.labels, ref.epi, ref.endo, spacing_mm=image.spacing_mm).epicardial.dice > 0.7
    assert segmenter.predict_each([post], [image.spacing_mm], kinds=["T1"]) == ([None], [NO_LV])


def test_the_image_check_is_given_the_kind_and_the_probabilities(segmenter, cohort, monkeypatch):
    seen = []
    original = locate.ring_evidence

    def recording(image, region, labels, spacing_mm, **kwargs):
        seen.append((kwargs["kind"], kwargs["probabilities"].shape[1:] == labels.shape == image.shape))
        return original(image, region, labels, spacing_mm, **kwargs)

    monkeypatch.setattr(locate, "ring_evidence", recording)
    images, _ = load_dataset(cohort, roles=("map",), splits=("test",), observers=("reference",))
    image = next(i for i in images if i.slice == "mid" and i.map_type == "T2")
    (prediction,), _ = segmenter.predict_each([image.pixels], [image.spacing_mm], kinds=["T2"])
    assert prediction is not None and prediction.doubts == () and seen and all(s == ("T2", True) for s in seen)
