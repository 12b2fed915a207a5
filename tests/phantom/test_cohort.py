import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest

from myomap.geometry.masks import observer_mask
from myomap.io.dataset import load_dataset
from myomap.phantom.cohort import SimulationConfig, SimulationError, assign_splits, simulate_cohort
from myomap.phantom.tissues import Tissue


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_layout_matches_the_spec(cohort):
    rows = list(csv.DictReader((cohort / "manifest.csv").open()))
    subjects = {r["subject"] for r in rows}
    assert len(subjects) == 3
    for subject in subjects:
        for map_type, n_weighted in (("T1", 8), ("T2", 3)):
            for position in ("basal", "mid", "apical"):
                folder = cohort / subject / f"{map_type}_{position}"
                assert (folder / "map.dcm").is_file()
                assert len(list(folder.glob("weighted_*.dcm"))) == n_weighted
                assert (folder / "contours.json").is_file()
                assert (folder / "truth.npz").is_file()
    test_rows = [r for r in rows if r["split"] == "test"]
    assert test_rows and all(r["contours_obs2"] and r["contours_obs3"] for r in test_rows)
    assert not any(r["contours_obs2"] for r in rows if r["split"] != "test")
    assert (cohort / "simulate.yaml").is_file() and (cohort / "subjects.csv").is_file()


@pytest.mark.slow
def test_same_seed_gives_identical_bytes_and_workers_do_not_matter(tmp_path):
    config = SimulationConfig(subjects=2, seed=5)
    simulate_cohort(tmp_path / "a", config, workers=1)
    simulate_cohort(tmp_path / "b", config, workers=2)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    simulate_cohort(tmp_path / "c", SimulationConfig(subjects=2, seed=6), workers=1)
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_maps_are_fitted_from_the_weighted_images(cohort):
    images, errors = load_dataset(cohort, roles=("map",), observers=("reference",))
    assert not errors
    for image in images:
        truth = np.load(image.source.parent / "truth.npz")
        myo = observer_mask(image) == 1
        key = "t1_true_ms" if image.map_type == "T1" else "t2_true_ms"
        ratio = np.median(image.pixels[myo]) / np.median(truth[key][myo])
        # Noise and partial volume stay small inside the reference contours; MOLLI reads a few % low.
        assert (0.85 < ratio < 1.02) if image.map_type == "T1" else (0.93 < ratio < 1.1)


@pytest.mark.slow
def test_mixed_field_gives_both_field_strengths(tmp_path):
    simulate_cohort(tmp_path / "m", SimulationConfig(subjects=2, seed=1, field="mixed", split=(1, 0, 0)), workers=1)
    fields = {r["field_strength_t"] for r in csv.DictReader((tmp_path / "m" / "subjects.csv").open())}
    assert fields == {"1.5", "3.0"}


@pytest.mark.parametrize("n", [3, 10, 40])
def test_split_is_patient_level_and_shares_are_kept(n):
    splits = assign_splits(SimulationConfig(subjects=n, seed=7))
    assert len(splits) == n and "test" in splits
    if n == 40:
        assert splits.count("test") == 6 and splits.count("val") == 8


def test_zero_subjects_is_refused(tmp_path):
    with pytest.raises(SimulationError, match="at least 1"):
        simulate_cohort(tmp_path / "x", SimulationConfig(subjects=0))
    assert not (tmp_path / "x").exists()


def test_non_empty_output_needs_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(SimulationError, match="--overwrite"):
        simulate_cohort(out, SimulationConfig(subjects=1))
    assert (out / "keep.txt").read_text() == "mine"
    with pytest.raises(SimulationError, match="only replaces a simulated cohort"):
        simulate_cohort(out, SimulationConfig(subjects=1), overwrite=True)
    assert (out / "keep.txt").read_text() == "mine"


@pytest.mark.slow
def test_overwrite_replaces_an_earlier_cohort(tmp_path):
    out = tmp_path / "out"
    simulate_cohort(out, SimulationConfig(subjects=1, seed=1), workers=1)
    (out / "extra.txt").write_text("old")
    simulate_cohort(out, SimulationConfig(subjects=1, seed=2), overwrite=True, workers=1)
    assert not (out / "extra.txt").exists() and "seed: 2" in (out / "simulate.yaml").read_text()


def test_unwritable_output_is_reported(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder is needed")
    with pytest.raises(SimulationError, match="cannot write"):
        simulate_cohort(blocker / "out", SimulationConfig(subjects=1))


def test_output_that_is_a_file_is_reported(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(SimulationError, match="not a folder"):
        simulate_cohort(target, SimulationConfig(subjects=1))


def test_config_round_trips_through_yaml():
    config = SimulationConfig(subjects=4, seed=9, field="3T")
    assert SimulationConfig.from_yaml(config.to_yaml()) == config
    with pytest.raises(SimulationError, match="unknown"):
        SimulationConfig.from_yaml("subjects: 2\nsubject_count: 3\n")


def test_post_contrast_maps_carry_a_known_ecv(contrast_cohort):
    subject = next(csv.DictReader((contrast_cohort / "subjects.csv").open()))
    ecv, hct = float(subject["ecv_percent"]) / 100, float(subject["hematocrit"])
    native = np.load(contrast_cohort / "sub-001" / "T1_mid" / "truth.npz")
    post = np.load(contrast_cohort / "sub-001" / "T1post_mid" / "truth.npz")
    np.testing.assert_array_equal(native["labels"], post["labels"])  # the same slice, placed alike
    delta = 1 / post["t1_true_ms"] - 1 / native["t1_true_ms"]
    blood, myo = native["labels"] == Tissue.LV_BLOOD, native["labels"] == Tissue.LV_MYOCARDIUM
    # ECV = (1 - Hct) dR1_myo / dR1_blood holds pixel by pixel for the true T1.
    np.testing.assert_allclose((1 - hct) * delta[myo] / np.median(delta[blood]), ecv, rtol=1e-4)
    assert 250 < float(subject["post_blood_t1_ms"]) < 400
    assert not (contrast_cohort / "manifest.csv").read_text().count("T1post")  # not part of the segmentation data set
