"""Fixed-pixel-size models: locating the LV, the two passes, training on views, fine-tuning."""

import numpy as np
import pytest

from myomap.io.dataset import load_dataset
from myomap.model.config import TrainConfig
from myomap.model.inference import OnnxSegmenter, Segmenter, export_onnx, load_model_file
from myomap.model.locate import NO_LV, locate_lv, search_levels
from myomap.model.train import TrainingError, sample_weights, train
from myomap.model.views import Source

PHYSICAL = TrainConfig(
    model="unet-resnet18-tiny", input_size=64, window_spacing_mm=2.5, epochs=2, weighted_epochs=1, batch_size=8, max_images_per_epoch=24
)


def _ring_labels(size=64, centre=(40, 20), r_epi=8, r_endo=5):
    y, x = np.mgrid[:size, :size]
    r = np.hypot(x - centre[0], y - centre[1])
    labels = np.where(r < r_endo, 2, np.where(r < r_epi, 1, 0)).astype(np.uint8)
    probabilities = np.stack([labels == 0, labels == 1, labels == 2]).astype(np.float32)
    return labels, probabilities


def test_locate_lv_finds_the_ring_and_ignores_specks():
    labels, probabilities = _ring_labels()
    labels[5, 5] = probabilities[1, 5, 5] = 1  # one stray myocardium pixel
    centre = locate_lv(labels, probabilities, spacing_mm=2.0)
    assert centre == pytest.approx((40.0, 20.0), abs=0.5)


def test_locate_lv_gives_none_without_a_plausible_lv():
    labels, probabilities = _ring_labels(r_epi=3, r_endo=2)  # ~ 16 mm^2 of myocardium at 1 mm
    assert locate_lv(labels, probabilities, spacing_mm=1.0) is None
    empty = np.zeros((32, 32), np.uint8)
    assert locate_lv(empty, np.zeros((3, 32, 32), np.float32), spacing_mm=1.0) is None


def test_sample_weights_give_each_data_set_its_share():
    items = [Source(None, (1, 1), None, None, None, "map", d) for d in (0, 0, 0, 1)]
    weights = sample_weights(items, (1.0, 1.0))
    assert sum(weights[:3]) == pytest.approx(weights[3])
    assert sample_weights(items, ()) is None


@pytest.fixture(scope="module")
def physical_run(cohort, tmp_path_factory):
    folder = tmp_path_factory.mktemp("physical")
    train([cohort, cohort], folder, TrainConfig(**{**PHYSICAL.__dict__, "data_weights": (1.0, 2.0)}), progress_bar=False)
    return folder


@pytest.mark.slow
def test_physical_model_records_its_pixel_size_and_needs_spacing(cohort, physical_run):
    segmenter = Segmenter.from_file(physical_run / "model.pt")
    assert segmenter.meta.window_spacing_mm == 2.5 and segmenter.physical
    assert (physical_run / "split-2.csv").is_file()
    images, _ = load_dataset(cohort, roles=("map",), splits=("test",))
    with pytest.raises(ValueError, match="pixel spacing"):
        segmenter.predict_each([images[0].pixels])
    predictions, reasons = segmenter.predict_each(
        [i.pixels for i in images[:2]] + [np.full((64, 64), 3.0)], [i.spacing_mm for i in images[:2]] + [(1.0, 1.0)], tta=True
    )
    assert "constant" in reasons[2] and predictions[2] is None
    for image, prediction, reason in zip(images, predictions[:2], reasons[:2]):
        # A two-epoch model may or may not find the LV; either way the answer is defined.
        assert (prediction is None and reason == NO_LV) or (prediction.labels.shape == image.pixels.shape and reason is None)


def test_search_starts_with_one_large_view_then_tiles_at_the_model_size():
    levels = search_levels((300, 300), (1.25, 1.25), 128, 1.25, 256)  # a 375 mm field of view
    (whole,), tiles = levels
    assert whole.size == 256 and whole.spacing_mm == pytest.approx(375 / 256)
    assert len(tiles) == 16 and {t.size for t in tiles} == {128} and {t.spacing_mm for t in tiles} == {1.25}
    small = search_levels((100, 100), (1.25, 1.25), 128, 1.25, 256)  # fits one window at the model's pixel size
    assert len(small) == 1 and small[0][0].size == 128 and small[0][0].spacing_mm == 1.25
    old = search_levels((300, 300), (1.25, 1.25), 128, 1.25)  # a model whose input size is fixed
    assert old[0][0].size == 128 and old[1][0].spacing_mm == pytest.approx(375 / 256)


@pytest.mark.slow
def test_physical_model_survives_onnx_export(cohort, physical_run, tmp_path):
    onnx_path = export_onnx(physical_run / "model.pt", tmp_path / "m.onnx")
    segmenter = OnnxSegmenter.from_file(onnx_path)
    assert segmenter.meta.window_spacing_mm == 2.5
    assert segmenter.search_size == 256  # the exported image axes are dynamic: the LV search may use a larger view
    assert segmenter.logits(np.zeros((1, 1, 96, 160), np.float32)).shape == (1, 3, 96, 160)


@pytest.mark.slow
def test_init_starts_from_a_model_and_checks_its_network(cohort, physical_run, tmp_path):
    start = load_model_file(physical_run / "model.pt")[0].state_dict()
    config = TrainConfig(**{**PHYSICAL.__dict__, "init": str(physical_run / "model.pt"), "epochs": 1, "learning_rate": 1e-12})
    model = train(cohort, tmp_path / "tuned", config, progress_bar=False)
    tuned = load_model_file(model)[0].state_dict()
    name = next(k for k in start if k.endswith("weight"))
    np.testing.assert_allclose(tuned[name].numpy(), start[name].numpy(), atol=1e-6)
    with pytest.raises(TrainingError, match="--init model is"):
        train(cohort, tmp_path / "other", TrainConfig(**{**config.__dict__, "model": "unet-mobilenet"}), progress_bar=False)
    # A config that does not match the model's input settings is refused before anything is written (the CLI fills them in).
    with pytest.raises(TrainingError, match="works with input_size 64, but this run's config sets input_size 96"):
        train(cohort, tmp_path / "bigger", TrainConfig(**{**config.__dict__, "input_size": 96}), progress_bar=False)
    assert not (tmp_path / "bigger").exists()


def test_data_weights_must_match_the_data_sets(cohort, tmp_path):
    with pytest.raises(TrainingError, match="data weights"):
        train([cohort], tmp_path / "r", TrainConfig(**{**PHYSICAL.__dict__, "data_weights": (1.0, 2.0)}), progress_bar=False)


def test_init_embedded_names_the_shipped_weights_also_in_a_config_file():
    from myomap.model.train import _init_weights

    embedded = TrainConfig(model="unet-mobilenet", input_size=128, window_spacing_mm=1.25)
    state = _init_weights("embedded", embedded)  # configs/embedded-stage5.yaml says init: embedded
    assert state and all(hasattr(v, "shape") for v in state.values())
    with pytest.raises(TrainingError, match="--init model is"):
        _init_weights("embedded", TrainConfig(**{**embedded.__dict__, "model": "unet-resnet50"}))


def test_init_takes_the_input_settings_of_the_model_unless_given():
    from myomap.model.train import adopt_init_settings

    # Only the network named, as in `--model unet-mobilenet --init embedded` without the embedded config.
    config = adopt_init_settings(TrainConfig(model="unet-mobilenet", init="embedded"), {"model": "--model", "init": "--init"})
    assert (config.model, config.input_size, config.window_spacing_mm, config.crop) == ("unet-mobilenet", 128, 1.25, 1.0)
    assert adopt_init_settings(TrainConfig(init="embedded")).model == "unet-mobilenet"
    same = TrainConfig(init="embedded", input_size=128, window_spacing_mm=1.25)
    assert adopt_init_settings(same, {"input_size": "c.yaml", "window_spacing_mm": "c.yaml"}).input_size == 128
    with pytest.raises(TrainingError, match=r"works with input_size 128, but --input-size sets input_size 224; leave it unset"):
        adopt_init_settings(TrainConfig(init="embedded"), {"input_size": "--input-size"})  # 224, the default, set explicitly
    with pytest.raises(TrainingError, match=r"window_spacing_mm 1.25, but c.yaml sets no fixed pixel size"):
        adopt_init_settings(TrainConfig(init="embedded", input_size=128), {"window_spacing_mm": "c.yaml"})
    assert adopt_init_settings(TrainConfig()) == TrainConfig()  # nothing to take without --init


def test_init_refuses_a_model_that_normalises_otherwise(tmp_path):
    from myomap.model.inference import default_meta, save_model_file
    from myomap.model.network import build_network
    from myomap.model.registry import get_spec
    from myomap.model.train import adopt_init_settings

    spec = get_spec("unet-resnet18-tiny")
    meta = default_meta(spec, 64, window_spacing_mm=2.5)
    save_model_file(tmp_path / "m.pt", build_network(spec), meta.__class__(**{**meta.__dict__, "normalisation": {"method": "zscore"}}))
    with pytest.raises(TrainingError, match="normalises its input by"):
        adopt_init_settings(TrainConfig(init=str(tmp_path / "m.pt")))
