import csv
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from myomap.cli import app
from myomap.conventions import CLASS_NAMES
from myomap.evaluate.run import EvaluateConfig, run_study
from myomap.evaluate.study import EvaluationError, load_study, predict, score
from myomap.geometry.masks import contours_to_mask

OBSERVERS = ("reference", "obs2", "obs3")


def _perfect(images):
    """A 'model' that predicts the reference observer's mask exactly."""
    return [contours_to_mask(i.contours["reference"].epi, i.contours["reference"].endo, i.pixels.shape) for i in images]


def test_a_perfect_model_matches_the_reference_and_experts_agree_as_observers_do(cohort):
    images, errors = load_study(cohort, "test", OBSERVERS)
    assert not errors and len(images) == 6
    metrics, values = (pd.DataFrame(rows) for rows in score(images, _perfect(images), OBSERVERS))
    assert len(metrics) == 6 * (3 + 3) * 2  # images x (model vs 3 observers + 3 observer pairs) x 2 contours
    against_reference = metrics[metrics["comparison"] == "model vs reference"]
    assert np.allclose(against_reference["dice"], 1.0)
    # The model is the reference, so model vs obs2 must equal reference vs obs2 (masks identical).
    a = metrics[metrics["comparison"] == "model vs obs2"]["dice"].to_numpy()
    b = metrics[metrics["comparison"] == "reference vs obs2"]["dice"].to_numpy()
    np.testing.assert_allclose(a, b)
    # The model's ROI is its fitted contours (traced from the reference mask), so values agree closely, not exactly.
    model = values[values["rater"] == "model"]["median_ms"].to_numpy()
    reference = values[values["rater"] == "reference"]["median_ms"].to_numpy()
    np.testing.assert_allclose(model, reference, rtol=0.02)


def test_missing_contours_are_counted_not_dropped(cohort, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(cohort, data)
    rows = list(csv.DictReader((data / "manifest.csv").open()))
    tests = [r for r in rows if r["split"] == "test" and r["role"] == "map"]
    tests[0]["contours_obs3"] = ""  # obs3 did not contour this image
    (data / tests[1]["contours_obs2"]).write_text("{broken")  # an unreadable contour file
    with (data / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    images, errors = load_study(data, "test", OBSERVERS)
    assert len(images) == 6 and len(errors) == 1 and "contours" in errors[0]
    metrics = pd.DataFrame(score(images, _perfect(images), OBSERVERS)[0])
    gone = metrics[metrics["missing"]]
    assert len(gone) == 2 * (1 + 2) + 2 * (1 + 2)  # per image: model vs the observer + 2 pairs, x 2 contours
    assert gone["reason"].str.contains("no contours in the manifest").any()


@pytest.mark.slow
def test_the_study_writes_tables_and_figures(cohort, tmp_path):
    images, _ = load_study(cohort, "test", OBSERVERS)
    predictions = _perfect(images)
    predictions[0] = None  # an image the model could not segment
    metrics, values, seconds = run_study(images, predictions, EvaluateConfig(), tmp_path)
    text = (tmp_path / "tables.md").read_text()
    for heading in ("Table 2", "Table 3", "Table 4", "Table 5", "ICC", "Table 8", "could not be made"):
        assert heading in text
    assert "model: image could not be segmented" in text
    assert "<sup>" in (tmp_path / "tables.html").read_text()
    for name in ("distributions", "overlays", "achievable_hd", "ablation", "bland_altman"):
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 1000
    assert set(seconds) == {"scoring", "tables", "figures"}


def test_wrong_model_classes_and_empty_split(cohort, tmp_path):
    images, _ = load_study(cohort, "test", OBSERVERS)
    foreign = SimpleNamespace(meta=SimpleNamespace(class_names=("background", "liver")))
    with pytest.raises(EvaluationError, match="not trained for this task"):
        predict(images, foreign)
    result = CliRunner().invoke(app, ["evaluate", str(cohort), "-o", str(tmp_path / "out"), "--split", "nonexistent"])
    assert result.exit_code == 1 and "no maps in split" in " ".join(result.output.split())


def test_predict_segments_with_test_time_augmentation_when_asked(cohort):
    images, _ = load_study(cohort, "test", OBSERVERS)
    calls = []

    def predict_each(pixels, spacings, *, tta, batch_size):
        calls.append(tta)
        return [None] * len(pixels), ["no left ventricle found"] * len(pixels)

    model = SimpleNamespace(meta=SimpleNamespace(class_names=CLASS_NAMES), predict_each=predict_each)
    for tta in (True, False):
        predictions, errors = predict(images, model, tta=tta)
        assert predictions == [None] * len(images) and all("no left ventricle found" in e for e in errors)
    assert calls == [True, False]


@pytest.mark.slow
def test_evaluate_command_with_the_embedded_model(cohort, tmp_path):
    result = CliRunner().invoke(app, ["evaluate", str(cohort), "-o", str(tmp_path / "out"), "--no-figures"])
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(tmp_path / "out" / "metrics.csv")
    assert set(metrics["kind"]) == {"model-vs-expert", "expert-vs-expert"}
    assert metrics[metrics["kind"] == "model-vs-expert"]["dice"].mean() > 0.7
    assert "tta: true" in (tmp_path / "out" / "evaluate.yaml").read_text()


def test_per_image_counts_the_overlap_of_a_missing_model_contour():
    from myomap.evaluate.tables import per_image

    base = {
        "subject": "s",
        "map_type": "T1",
        "slice": "mid",
        "image": "a.dcm",
        "kind": "model-vs-expert",
        "comparison": "model vs reference",
    }
    metrics = pd.DataFrame(
        [
            {**base, "contour": "epicardial", "dice": 0.2, "iou": 0.1, "hd_mm": np.nan, "msd_mm": np.nan, "missing": True},
            {**base, "contour": "endocardial", "dice": 0.4, "iou": 0.3, "hd_mm": 2.0, "msd_mm": 1.0, "missing": False},
        ]
    )
    row = per_image(metrics).iloc[0]
    assert row["dice"] == pytest.approx(30.0) and row["iou"] == pytest.approx(20.0)  # counted, in %
    assert np.isnan(row["hd_mm"]) and np.isnan(row["msd_mm"])  # one contour missing: no distance for the image


def _child_data_set(cohort, out):
    """The cohort's test maps with their pixels declared half their size: a heart half an adult's."""
    import pydicom

    rows = [r for r in csv.DictReader((cohort / "manifest.csv").open()) if r["split"] == "test" and r["role"] == "map"]
    for row in rows:
        folder = out / row["image"].rsplit("/", 1)[0]
        shutil.copytree(cohort / folder.relative_to(out), folder)
        ds = pydicom.dcmread(out / row["image"])
        ds.PixelSpacing = [float(v) / 2 for v in ds.PixelSpacing]
        ds.save_as(out / row["image"])
    with (out / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


def test_evaluate_shows_a_childs_heart_at_an_adults_size_with_a_heart_scale(cohort, tmp_path):
    from myomap.evaluate.run import evaluate

    data = _child_data_set(cohort, tmp_path / "child")
    dice = {}
    for scale in (1.0, 0.5):
        out = tmp_path / f"out{scale}"
        result = evaluate(data, out, EvaluateConfig(figures=False, tta=False, heart_scale=scale))
        model = result.metrics[(result.metrics["comparison"] == "model vs reference") & (result.metrics["contour"] == "epicardial")]
        dice[scale] = model["dice"].fillna(0.0).mean()
        assert f"heart_scale: {scale}" in (out / "evaluate.yaml").read_text()
    assert dice[0.5] > 0.8 and dice[0.5] > dice[1.0], dice
    result = CliRunner().invoke(app, ["evaluate", str(data), "-o", str(tmp_path / "bad"), "--heart-scale", "5"])
    assert result.exit_code == 1 and "heart scale must be within [0.3, 2], got 5" in result.output
    assert not (tmp_path / "bad").exists()
