import numpy as np
import pytest
import torch

from myomap.io.dataset import LoadError, load_dataset
from myomap.model.config import TrainConfig
from myomap.model.inference import ModelFileError, OnnxSegmenter, Segmenter, export_onnx, load_model_file
from myomap.model.train import TrainingError, dropped_lines, train

TINY = TrainConfig(model="unet-resnet18-tiny", input_size=64, epochs=2, weighted_epochs=1, batch_size=8, max_images_per_epoch=24)


def test_inputs_left_out_of_training_are_one_line_per_file_and_reason():
    contour = "sub-001/T1_basal/contours.json: epicardial contour has 2 points, at least 3 are needed"
    errors = [LoadError(line, contour) for line in (2, 3, 4, 5, 9)]
    errors += [
        LoadError(35, "sub-001/T2_mid/weighted_2.dcm: not a readable DICOM file"),
        "sub-002/T1_mid/map.dcm: no reference contours, skipped",
    ]
    assert dropped_lines(errors) == [
        f"{contour} (manifest lines 2-5, 9)",
        "sub-001/T2_mid/weighted_2.dcm: not a readable DICOM file (manifest line 35)",
        "sub-002/T1_mid/map.dcm: no reference contours, skipped",
    ]


def test_two_patients_leave_no_validation_split_and_training_says_so(cohort, tmp_path, caplog):
    import csv

    from myomap.model.train import _load_samples

    data = tmp_path / "data"
    data.mkdir()
    rows = [r for r in csv.DictReader((cohort / "manifest.csv").open()) if r["subject"] in ("sub-001", "sub-002") and r["role"] == "map"]
    fields = [f for f in rows[0] if f != "split"]  # no split column: the seeded draw puts both in train
    with (data / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    for subject in ("sub-001", "sub-002"):
        (data / subject).symlink_to(cohort / subject)
    (tmp_path / "run").mkdir()
    with caplog.at_level("INFO"):
        samples = _load_samples([data], tmp_path / "run", TINY)
    assert len(samples["train"]) == len(rows) and not samples["val"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("no validation maps" in w and "on 8 training maps" in w for w in warnings), warnings


def test_a_patient_in_two_data_sets_is_in_one_split(cohort, tmp_path, caplog):
    """The same patients in two data sets (T1 and T2 imported apart, one patient fewer in the second): never train and val."""
    import csv

    from myomap.model.train import _load_samples

    rows = [r for r in csv.DictReader((cohort / "manifest.csv").open()) if r["subject"] == "sub-001" and r["role"] == "map"][:3]
    for name, count in (("t1", 12), ("t2", 11)):
        data = tmp_path / name
        data.mkdir()
        (data / "sub-001").symlink_to(cohort / "sub-001")
        with (data / "manifest.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=[f for f in rows[0] if f != "split"], extrasaction="ignore")
            writer.writeheader()
            writer.writerows({**row, "subject": f"p{n:02d}"} for n in range(count) for row in rows)
    (tmp_path / "run").mkdir()
    with caplog.at_level("INFO"):
        samples = _load_samples([tmp_path / "t1", tmp_path / "t2"], tmp_path / "run", TINY)
    splits: dict[str, set] = {}
    for name, items in samples.items():
        for item in items:
            splits.setdefault(item.subject, set()).add(name)
    assert len(splits) == 12 and all(len(names) == 1 for names in splits.values()), splits
    assert "11 as in an earlier data set, 0 drawn" in caplog.text


def test_a_new_run_that_fails_before_training_leaves_nothing_behind(cohort, tmp_path):
    import csv

    from myomap.model.data import SplitError

    data = tmp_path / "data"
    data.mkdir()
    (data / "sub-001").symlink_to(cohort / "sub-001")
    rows = [r for r in csv.DictReader((cohort / "manifest.csv").open()) if r["subject"] == "sub-001" and r["role"] == "map"]
    with (data / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, "split": "training"} for row in rows)
    with pytest.raises(SplitError, match="split 'training'"):
        train(data, tmp_path / "run", TINY, progress_bar=False)
    assert not (tmp_path / "run").exists()  # so the same command runs again once the manifest is fixed
    (tmp_path / "mine").mkdir()
    with pytest.raises(SplitError, match="split 'training'"):
        train([cohort, data], tmp_path / "mine", TINY, progress_bar=False)  # the first data set's split.csv was written
    assert list((tmp_path / "mine").iterdir()) == []


@pytest.fixture(scope="module")
def run(cohort, tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    train(cohort, folder, TINY, progress_bar=False)
    return folder


@pytest.mark.slow
def test_run_folder_holds_everything(run):
    for name in ("config.yaml", "split.csv", "model.pt", "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert (run / name).is_file(), name
    assert list((run / "logs" / "csv").rglob("metrics.csv")) and list((run / "logs" / "tensorboard").rglob("events.*"))
    network, meta = load_model_file(run / "model.pt")
    assert meta.spec.name == "unet-resnet18-tiny" and meta.input_size == 64
    assert meta.class_names == ("background", "myocardium", "blood_pool") and meta.normalisation == {"method": "rank"}
    assert meta.training["epochs"] == 2 and meta.training["images_per_second"] > 0


@pytest.mark.slow
def test_an_existing_run_needs_resume(cohort, run):
    with pytest.raises(TrainingError, match="--resume"):
        train(cohort, run, TINY, progress_bar=False)


@pytest.mark.slow
def test_resume_continues_from_the_last_checkpoint(cohort, run, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    train(cohort, copy, TrainConfig(**{**TINY.__dict__, "epochs": 3}), resume=True, progress_bar=False)
    assert load_model_file(copy / "model.pt")[1].training["epochs"] == 3


@pytest.mark.slow
def test_segmenter_predicts_on_the_native_grid(cohort, run):
    images, _ = load_dataset(cohort, roles=("map",), splits=("test",))
    segmenter = Segmenter.from_file(run / "model.pt")
    predictions = segmenter.predict([i.pixels for i in images[:3]], tta=True)
    for image, prediction in zip(images, predictions):
        assert prediction.probabilities.shape == (3, *image.pixels.shape)
        np.testing.assert_allclose(prediction.probabilities.sum(axis=0), 1.0, atol=1e-4)
        assert prediction.labels.shape == image.pixels.shape
        assert prediction.uncertainty.shape == image.pixels.shape and np.all(prediction.uncertainty >= 0)


@pytest.mark.slow
def test_a_share_of_image_model_is_shown_nan_pixels_as_0(cohort, run):
    """NaN pixels (failed fits, read as NaN since December 2026) once made every such map an error for these models."""
    (image, *_), _ = load_dataset(cohort, roles=("map",), splits=("test",))
    segmenter = Segmenter.from_file(run / "model.pt")
    assert not segmenter.physical
    holes = np.asarray(image.pixels, np.float32).copy()
    holes[::7, ::5] = np.nan
    with_nan, as_zero = segmenter.predict([holes, np.nan_to_num(holes)])
    np.testing.assert_array_equal(with_nan.labels, as_zero.labels)


@pytest.mark.parametrize(
    "image, message",
    [
        (np.full((64, 64), 5.0), "constant"),
        (np.full((64, 64), np.nan), "NaN"),
        (np.ones((10, 300)), "too small"),
        (np.ones((2, 64, 64)), "2-D"),
    ],
)
@pytest.mark.slow
def test_unusable_images_are_clear_errors(run, image, message):
    with pytest.raises(ValueError, match=message):
        Segmenter.from_file(run / "model.pt").predict([image])


@pytest.mark.slow
def test_foreign_and_corrupt_model_files(run, tmp_path):
    with pytest.raises(ModelFileError, match="Lightning checkpoint"):
        load_model_file(run / "checkpoints" / "last.ckpt")
    (tmp_path / "corrupt.pt").write_bytes((run / "model.pt").read_bytes()[:1000])
    with pytest.raises(ModelFileError, match="not a readable model file"):
        load_model_file(tmp_path / "corrupt.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match="not a myomap model file"):
        load_model_file(tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match="not found"):
        load_model_file(tmp_path / "missing.pt")


@pytest.mark.slow
def test_onnx_runtime_agrees_with_pytorch(cohort, run, tmp_path):
    onnx_path = export_onnx(run / "model.pt", tmp_path / "model.onnx")
    images, _ = load_dataset(cohort, roles=("map",), splits=("test",))
    pixels = [i.pixels for i in images]
    eager = Segmenter.from_file(run / "model.pt").predict(pixels)
    ort = OnnxSegmenter.from_file(onnx_path).predict(pixels)
    difference = max(float(np.abs(a.probabilities - b.probabilities).max()) for a, b in zip(eager, ort))
    assert difference < 1e-3


@pytest.mark.slow
def test_onnx_file_of_another_model(tmp_path):
    net = torch.nn.Conv2d(1, 3, 1)
    torch.onnx.export(net, (torch.zeros(1, 1, 8, 8),), str(tmp_path / "other.onnx"), dynamo=False)
    with pytest.raises(ModelFileError, match="without myomap metadata"):
        OnnxSegmenter.from_file(tmp_path / "other.onnx")
    (tmp_path / "garbage.onnx").write_text("nope")
    with pytest.raises(ModelFileError, match="not a readable ONNX"):
        OnnxSegmenter.from_file(tmp_path / "garbage.onnx")


def test_model_files_of_the_wrong_kind_for_pytorch_are_one_clear_line(tmp_path):
    """A pickled module (torch's advice to load it unsafely runs over lines) and an ONNX file given to --init or export-onnx."""
    torch.save(torch.nn.Conv2d(1, 3, 1), tmp_path / "whole.pt")
    with pytest.raises(ModelFileError, match=r"whole.pt: not a myomap model file \(not plain PyTorch weights") as caught:
        load_model_file(tmp_path / "whole.pt")
    assert "\n" not in str(caught.value) and "weights_only" not in str(caught.value)
    torch.onnx.export(torch.nn.Conv2d(1, 3, 1), (torch.zeros(1, 1, 8, 8),), str(tmp_path / "model.onnx"), dynamo=False)
    with pytest.raises(ModelFileError, match="model.onnx: an ONNX file; this needs the PyTorch model file"):
        load_model_file(tmp_path / "model.onnx")


def _identity_onnx(path, input_shape, output_shape, metadata: str) -> None:
    """An ONNX graph that hands its input back, carrying ``metadata`` as myomap's."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, output_shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    model.metadata_props.add(key="myomap", value=metadata)
    onnx.save(model, str(path))


@pytest.mark.parametrize(
    "input_shape, output_shape, message",
    [
        ([1, 3, 64, 64], [1, 3, 64, 64], r"takes input of shape \(1, 3, 64, 64\); myomap feeds \(batch, 1, 128, 128\)"),
        (["b", 1, "h", "w"], ["b", 1, "h", "w"], r"gives output of shape \(b, 1, h, w\); its metadata names 3 classes"),
        (["b", "c", "h", "w"], ["b", "c", "h", "w"], r"gives output of shape \(2, 1, 128, 128\) for a \(2, 1, 128, 128\) input"),
    ],
)
def test_onnx_graph_that_does_not_fit_its_metadata_is_refused_on_loading(tmp_path, input_shape, output_shape, message):
    from myomap.model.loading import embedded_model_path

    metadata = OnnxSegmenter.from_file(embedded_model_path()).session.get_modelmeta().custom_metadata_map["myomap"]
    _identity_onnx(tmp_path / "wrong.onnx", input_shape, output_shape, metadata)
    with pytest.raises(ModelFileError, match=message) as caught:
        OnnxSegmenter.from_file(tmp_path / "wrong.onnx")
    assert str(caught.value).startswith(str(tmp_path / "wrong.onnx"))


class _Pointwise(Segmenter):
    """A stand-in network that calls every bright input pixel myocardium: what it sees is where it answers."""

    def __init__(self):
        self.meta = type("Meta", (), {"class_names": ("background", "myocardium", "blood_pool")})()

    def logits(self, batch):
        x = batch[:, 0]
        return np.stack([np.zeros_like(x), 10.0 * (x - 0.5), np.full_like(x, -5.0)], axis=1)


@pytest.mark.parametrize("members", ["TTA_TURNED", "TTA_SHIFTED"])
def test_every_test_time_augmentation_is_undone_on_the_way_back(members):
    from myomap.model import inference

    members = getattr(inference, members)
    inputs = np.zeros((2, 16, 16), np.float32)  # asymmetric shapes away from the edge: a wrong turn, mirror or shift moves them
    inputs[0, 5:8, 5:11] = 1.0
    inputs[1, 6:11, 8:10] = 1.0
    probabilities = _Pointwise().probabilities(inputs, members, batch_size=1)
    assert probabilities.shape == (len(members), 2, 3, 16, 16) and len(set(m[:4] for m in members)) == len(members) > 1
    for member in probabilities:
        np.testing.assert_array_equal(member.argmax(axis=1) == 1, inputs > 0.5)


def test_fixed_pixel_size_models_get_turned_augmentations_and_older_ones_shifted():
    from myomap.model.inference import TTA_SHIFTED, TTA_TURNED

    physical, share = _Pointwise(), _Pointwise()
    physical.meta.window_spacing_mm, share.meta.window_spacing_mm = 1.25, None
    assert physical.tta_members == TTA_TURNED and share.tta_members == TTA_SHIFTED
