import subprocess
import sys

import numpy as np
import pytest

from myomap.geometry.masks import observer_mask
from myomap.io.dataset import load_dataset, read_manifest
from myomap.metrics.overlap import dice
from myomap.model.data import SplitError, make_sample, normalise, patient_split, to_input, to_native
from myomap.model.registry import MODELS, get_spec


def test_registry_does_not_import_torch():
    code = "import sys, myomap.model.registry, myomap.model.config; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_unknown_model_lists_the_valid_names():
    with pytest.raises(KeyError, match="unet-resnet50"):
        get_spec("unet-resnet51")
    assert get_spec("unet-resnet50").encoder == "resnet50"
    assert {"unet-resnet50", "unet-original", "unet-mobilenet"} <= set(MODELS)


def test_rank_normalisation_ignores_the_value_scale():
    rng = np.random.default_rng(0)
    image = rng.gamma(2.0, 300.0, (40, 50))
    a = normalise(image)
    np.testing.assert_array_equal(a, normalise(3.7 * image + 120.0))  # another scanner's scale
    np.testing.assert_array_equal(a, normalise(np.sqrt(image)))  # any monotonic change
    assert a.min() == 0.0 and a.max() < 1.0 and a.dtype == np.float32


@pytest.mark.parametrize("image, message", [(np.full((8, 8), 3.0), "constant"), (np.array([[1.0, np.nan], [2.0, 3.0]]), "NaN")])
def test_unusable_images(image, message):
    with pytest.raises(ValueError, match=message):
        normalise(image)


@pytest.mark.parametrize("shape", [(192, 256), (256, 192), (100, 100), (300, 180)])
def test_input_geometry_round_trip(shape):
    rows, cols = np.indices(shape)
    image = np.sin(rows / 17.0) + np.cos(cols / 23.0)
    square, geometry = to_input(image.astype(np.float32), 224)
    assert square.shape == (224, 224)
    back = to_native(square[None], geometry)[0]
    assert back.shape == shape
    assert np.abs(back - image).mean() < 0.02


def test_patient_split_is_saved_and_reused(cohort, tmp_path):
    saved = tmp_path / "split.csv"
    first = patient_split(cohort, (0.65, 0.2, 0.15), 0, saved)
    assert saved.is_file()
    # The phantom's manifest carries a split column, which wins over the seeded split.
    rows, _ = read_manifest(cohort)
    assert first == {r.subject: r.split for r in rows}
    saved.write_text("subject,split\nsub-001,val\nsub-002,test\nsub-003,train\n")
    assert patient_split(cohort, (0.65, 0.2, 0.15), 0, saved)["sub-001"] == "val"


def test_seeded_split_without_a_split_column(cohort, tmp_path):
    import csv

    rows = list(csv.DictReader((cohort / "manifest.csv").open()))
    data = tmp_path / "data"
    data.mkdir()
    fields = [f for f in rows[0] if f != "split"]
    with (data / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for k in range(20):  # 20 subjects, same files
            for row in rows:
                writer.writerow({**row, "subject": f"p{k:02d}"})
    split = patient_split(data, (0.65, 0.2, 0.15), 3, tmp_path / "s.csv")
    counts = {name: list(split.values()).count(name) for name in ("train", "val", "test")}
    assert counts == {"train": 13, "val": 4, "test": 3}
    assert patient_split(data, (0.65, 0.2, 0.15), 3, tmp_path / "s2.csv") == split  # seeded: the same again


def _many_subjects(cohort, folder, count, split=lambda subject, row: ""):
    """A manifest of ``count`` subjects (the cohort's first subject's rows, renamed) with ``split(subject, k)`` per row."""
    import csv

    rows = [r for r in csv.DictReader((cohort / "manifest.csv").open()) if r["subject"] == "sub-001"]
    folder.mkdir()
    with (folder / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for n in range(count):
            for k, row in enumerate(rows):
                writer.writerow({**row, "subject": f"p{n:02d}", "split": split(f"p{n:02d}", k)})
    return folder


def test_a_partial_split_column_keeps_the_given_subjects_and_draws_the_rest(cohort, tmp_path, caplog):
    # Five subjects marked test on their first row only (the other rows empty); the other 20 have no split.
    data = _many_subjects(cohort, tmp_path / "data", 25, lambda s, k: "test" if s < "p05" and k == 0 else "")
    with caplog.at_level("INFO", logger="myomap.model.data"):
        split = patient_split(data, (0.65, 0.2, 0.15), 3, tmp_path / "s.csv")
    assert all(split[f"p{n:02d}"] == "test" for n in range(5))
    drawn = [split[f"p{n:02d}"] for n in range(5, 25)]
    assert {name: drawn.count(name) for name in ("train", "val", "test")} == {"train": 13, "val": 4, "test": 3}
    assert "25 subject(s): 5 given by the manifest's split column, 20 drawn" in caplog.text
    assert patient_split(data, (0.65, 0.2, 0.15), 3, tmp_path / "s2.csv") == split


def test_a_later_data_set_keeps_the_earlier_splits_of_its_subjects_and_its_shares(cohort, tmp_path):
    # The same names in two data sets: one patient, one split; the later set's draw still gives it a test subject.
    first = patient_split(_many_subjects(cohort, tmp_path / "a", 3), (0.65, 0.2, 0.15), 0, tmp_path / "a.csv")
    assert sorted(first.values()) == ["train", "train", "val"]
    second = patient_split(_many_subjects(cohort, tmp_path / "b", 4), (0.65, 0.2, 0.15), 0, tmp_path / "b.csv", first)
    assert {s: second[s] for s in first} == first and second["p03"] == "test"


@pytest.mark.parametrize(
    "split, message",
    [
        (
            lambda s, k: {0: "test", 3: "train"}.get(k, "") if s == "p01" else "",
            r"'p01' is in split 'test' on line \d+ and 'train' on line",
        ),
        (lambda s, k: "Test" if s == "p02" else "", r"manifest.csv line \d+: split 'Test' is not one of train, val, test"),
    ],
)
def test_a_split_column_a_patient_cannot_follow_is_one_error(cohort, tmp_path, split, message):
    data = _many_subjects(cohort, tmp_path / "data", 3, split)
    with pytest.raises(SplitError, match=message):
        patient_split(data, (0.65, 0.2, 0.15), 0, tmp_path / "s.csv")
    assert not (tmp_path / "s.csv").exists()


def test_centre_crop_round_trip_marks_the_outside():
    image = np.arange(200 * 160, dtype=np.float32).reshape(200, 160)
    square, geometry = to_input(image, 64, crop=0.5)
    assert square.shape == (64, 64)
    # The crop is the central half of the padded 200 x 200 square: rows 50-149, columns 30-129 of the image.
    assert square.min() >= image[50, 30] - 1 and square.max() <= image[149, 129] + 1
    back = to_native(np.stack([square, np.ones_like(square)]), geometry, outside=np.array([-1.0, 0.0]))
    assert back.shape == (2, 200, 160)
    assert back[0, 0, 0] == -1.0 and back[1, 0, 0] == 0.0 and back[1, 100, 80] == 1.0


@pytest.mark.parametrize("size, crop", [(160, 0.5), (224, 1.0)])
def test_training_masks_line_up_with_the_native_reference(cohort, size, crop):
    """Mapping a sample's mask back to the native grid must give back the reference mask.

    Resizing the native mask with nearest neighbour instead kept only ~0.95
    Dice on this round trip, label noise the network then learned.
    """
    images, errors = load_dataset(cohort, roles=("map",))
    assert not errors
    scores = []
    for image in images[:6]:
        sample = make_sample(image, size, crop)
        _, geometry = to_input(image.pixels, size, crop=crop)
        one_hot = np.stack([(sample.mask == c).astype(np.float32) for c in range(3)])
        back = to_native(one_hot, geometry, outside=np.array([1.0, 0.0, 0.0])).argmax(axis=0)
        native = observer_mask(image)
        scores += [dice(back == region, native == region) for region in (1, 2)]
    # Not 1: a mask drawn on a finer grid, sampled back at native pixel centres, differs on some border pixels.
    assert min(scores) > 0.92 and np.mean(scores) > 0.96, scores
