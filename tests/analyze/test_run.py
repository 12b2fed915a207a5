"""Whole-run integrity of ``analyze``: output folder modes, run.json, interruption and resume, SEG identity, exit codes."""

import csv
import hashlib
import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pydicom
import pytest
from typer.testing import CliRunner

from myomap.analyze.outfolder import OutputFolderError, RunInterrupted, sigterm_raises
from myomap.analyze.settings import AnalyzeConfig
from myomap.cli import app
from myomap.geometry.masks import contours_to_mask
from myomap.io.files import atomic_path
from myomap.report.analysis import analyze


@pytest.fixture(scope="module")
def two_patients(cohort, tmp_path_factory) -> Path:
    """The mid T1 and T2 maps of two subjects (with their contours.json)."""
    inputs = tmp_path_factory.mktemp("two") / "in"
    for subject in sorted(p for p in cohort.iterdir() if p.is_dir())[:2]:
        for folder in ("T1_mid", "T2_mid"):
            shutil.copytree(subject / folder, inputs / subject.name / folder, ignore=shutil.ignore_patterns("weighted_*"))
    return inputs


def _hashes(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "run.json"
    }


def _status(out: Path) -> str:
    return json.loads((out / "run.json").read_text())["status"]


@pytest.mark.slow
def test_an_interrupted_run_says_incomplete_and_resume_gives_the_same_outputs(two_patients, tmp_path):
    whole = tmp_path / "whole"
    analyze([two_patients], whole, AnalyzeConfig())
    assert _status(whole) == "complete"

    def stop_after_first_patient(results):
        raise KeyboardInterrupt

    cut = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        analyze([two_patients], cut, AnalyzeConfig(), on_patient=stop_after_first_patient)
    assert _status(cut) == "incomplete"
    assert not list(cut.rglob(".*.partial-*"))
    assert not (cut / "index.html").exists() and not (cut / "patient-02").exists()
    (cut / "patient-01" / "T1_01_mid" / ".seg.dcm.partial-99999").write_bytes(b"left by a hard kill")
    with pytest.raises(OutputFolderError, match="--resume"):
        analyze([two_patients], cut, AnalyzeConfig())
    result = analyze([two_patients], cut, AnalyzeConfig(), mode="resume")
    assert _status(cut) == "complete" and result.patients == 2 and result.analysed == 4
    assert _hashes(cut) == _hashes(whole)


@pytest.mark.slow
def test_resume_after_the_inputs_gained_a_patient_redoes_the_folders_whose_maps_changed(two_patients, cohort, tmp_path):
    inputs = tmp_path / "in"
    shutil.copytree(two_patients, inputs)
    out = tmp_path / "out"
    analyze([inputs], out, AnalyzeConfig(seg=False, report=False))
    third = sorted(p for p in cohort.iterdir() if p.is_dir())[2]
    for path in (third / "T1_mid").glob("map.dcm"):  # a patient whose ID sorts first: every label moves up by one
        ds = pydicom.dcmread(path)
        ds.PatientID = "aaa-000"
        (inputs / "aaa" / "T1_mid").mkdir(parents=True)
        ds.save_as(inputs / "aaa" / "T1_mid" / "map.dcm")
    result = analyze([inputs], out, AnalyzeConfig(seg=False, report=False), mode="resume")
    assert result.patients == 3 and result.analysed == 5, result.errors
    assert sum("analysed again" in n for n in result.notes) == 2  # patient-01 and -02 held other maps; -03 is new
    fresh = tmp_path / "fresh"
    analyze([inputs], fresh, AnalyzeConfig(seg=False, report=False))
    assert _hashes(out) == _hashes(fresh)  # nothing of the old folders kept under a new patient's label


def test_resume_refuses_other_settings_and_overwrite_refuses_foreign_folders(two_patients, tmp_path):
    out = tmp_path / "out"
    analyze([two_patients], out, AnalyzeConfig(seg=False, report=False))
    with pytest.raises(OutputFolderError, match="settings"):
        analyze([two_patients], out, AnalyzeConfig(seg=True, report=False), mode="resume")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.docx").write_text("precious")
    with pytest.raises(OutputFolderError, match="not a myomap"):
        analyze([two_patients], foreign, AnalyzeConfig(), mode="overwrite")
    assert (foreign / "thesis.docx").is_file()
    with pytest.raises(OutputFolderError, match="holds inputs"):
        analyze([out / "patient-01"], out, AnalyzeConfig(), mode="overwrite")


def test_sigterm_interrupts_and_atomic_writers_leave_nothing(tmp_path):
    target = tmp_path / "file.txt"
    with pytest.raises(RunInterrupted), sigterm_raises():
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            os.kill(os.getpid(), signal.SIGTERM)
            tmp.write_text("never")
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is not None  # the previous handler is back


@pytest.mark.slow
def test_seg_uids_follow_the_settings_and_flagged_slices_say_so(two_patients, tmp_path):
    plain, no_tta = tmp_path / "plain", tmp_path / "no_tta"
    analyze([two_patients], plain, AnalyzeConfig(report=False))
    analyze([two_patients], no_tta, AnalyzeConfig(report=False, tta=False))
    segs = [pydicom.dcmread(p) for p in sorted(plain.glob("patient-01/*/seg.dcm"))]
    other = [pydicom.dcmread(p) for p in sorted(no_tta.glob("patient-01/*/seg.dcm"))]
    assert len(segs) == 2
    assert {s.SOPInstanceUID for s in segs}.isdisjoint(s.SOPInstanceUID for s in other)
    assert len({s.SeriesNumber for s in segs}) == 2 and len({s.SeriesDescription for s in segs}) == 2
    # A SEG says FLAGGED exactly when its slice is flagged for review.
    status = {r["folder"]: r["status"] for r in csv.DictReader((plain / "slices.csv").open())}
    for path in sorted(plain.glob("patient-01/*/seg.dcm")):
        seg = pydicom.dcmread(path)
        review = status[path.parent.relative_to(plain).as_posix()] == "review"
        assert ("FLAGGED" in seg.SeriesDescription) == review
        assert seg.ContentLabel == ("LV_SEG_REVIEW" if review else "LV_SEG")
    flagged = tmp_path / "flagged"
    analyze([two_patients], flagged, AnalyzeConfig(report=False, spread_threshold_mm=1e-3))  # every slice spreads more
    for path in flagged.glob("patient-01/*/seg.dcm"):
        seg = pydicom.dcmread(path)
        assert "FLAGGED FOR REVIEW" in seg.SeriesDescription and seg.ContentLabel == "LV_SEG_REVIEW"


def test_key_file_maps_labels_and_uids_back_and_stays_outside(two_patients, tmp_path):
    out, key = tmp_path / "out", tmp_path / "private" / "key.jsonl"
    with pytest.raises(OutputFolderError, match="outside"):
        analyze([two_patients], out, AnalyzeConfig(), key_file=out / "key.jsonl")
    analyze([two_patients], out, AnalyzeConfig(report=False), key_file=key)
    lines = [json.loads(line) for line in key.read_text().splitlines()]
    assert "myomap_key_secret" in lines[0] and [r["patient"] for r in lines[1:]] == ["patient-01", "patient-02"]
    record = lines[1]
    original = min((pydicom.dcmread(p) for p in two_patients.glob("*/T1_mid/map.dcm")), key=lambda ds: ds.PatientID)
    assert record["patient_id"] == original.PatientID  # patient-01 is the first PatientID
    copy = pydicom.dcmread(next(out.glob("patient-01/T1_*/source.dcm")))
    assert record["uids"][original.SOPInstanceUID] == copy.SOPInstanceUID
    subject = Path(next(iter(record["sources"].values()))).parts[1]
    assert set(record["sources"].values()) == {f"input-1/{subject}/T1_mid/map.dcm", f"input-1/{subject}/T2_mid/map.dcm"}
    # A second run with the same key hashes alike, though its inputs differ.
    again = tmp_path / "again"
    analyze([two_patients / subject], again, AnalyzeConfig(report=False), key_file=key)
    assert pydicom.dcmread(next(again.glob("patient-01/T1_*/source.dcm"))).SOPInstanceUID == copy.SOPInstanceUID


def test_key_file_records_say_which_output_folder_they_map_back(two_patients, tmp_path):
    key, config = tmp_path / "key.jsonl", AnalyzeConfig(report=False, seg=False, tta=False)
    analyze([two_patients], tmp_path / "both", config, key_file=key)
    first, second = sorted(p for p in two_patients.iterdir() if p.is_dir())
    analyze([second], tmp_path / "one", config, key_file=key)  # the first run's patient-02 is patient-01 here
    records = [json.loads(line) for line in key.read_text().splitlines()[1:]]
    for out in ("both", "one"):
        done = json.loads((tmp_path / out / "patient-01" / "done.json").read_text())
        (record,) = [r for r in records if r["patient"] == "patient-01" and r["exam"] == done["exam"]]
        assert record["patient_id"] == (first if out == "both" else second).name, out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--erosion", "-1"], "--erosion"),
        (["--reference-point", "foo"], "--reference-point"),
        (["--overwrite", "--resume"], "--overwrite"),
        (["--keep-phi", "--keep-dates"], "--keep-dates"),
        (["--heart-scale", "5"], "heart scale must be within [0.3, 2]"),
    ],
)
def test_bad_usage_names_the_option_and_exits_2(two_patients, tmp_path, args, words):
    result = CliRunner().invoke(app, ["analyze", str(two_patients), "-o", str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert not (tmp_path / "out").exists()


def test_exit_codes_of_a_run(two_patients, tmp_path):
    runner = CliRunner()
    out = tmp_path / "out"
    assert runner.invoke(app, ["analyze", str(two_patients), "-o", str(out), "--no-report", "--no-seg"]).exit_code == 0
    result = runner.invoke(app, ["analyze", str(two_patients), "-o", str(out)])
    assert result.exit_code == 2 and "--overwrite" in result.output  # a non-empty output is bad usage
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.dcm").write_bytes(b"garbage" * 30)
    assert runner.invoke(app, ["analyze", str(broken), "-o", str(tmp_path / "b")]).exit_code == 3  # nothing analysed
    shutil.copy(next(two_patients.glob("*/T1_mid/map.dcm")), broken / "good.dcm")
    result = runner.invoke(app, ["analyze", str(broken), "-o", str(tmp_path / "c"), "--no-report"])
    assert result.exit_code == 1 and "file-" in result.output  # one failed, named by its hash without --keep-phi


def test_a_heart_scale_shows_the_model_a_childs_heart_at_an_adults_size(two_patients, tmp_path):
    """A T1 map whose pixels are declared half their size (a heart half an adult's) analysed with --heart-scale 0.5."""
    source = next(two_patients.glob("*/T1_mid"))
    child = tmp_path / "child" / "T1_mid"
    shutil.copytree(source, child)
    ds = pydicom.dcmread(child / "map.dcm")
    ds.PixelSpacing = [float(v) / 2 for v in ds.PixelSpacing]
    ds.save_as(child / "map.dcm")
    result = analyze([tmp_path / "child"], tmp_path / "out", AnalyzeConfig(seg=False, report=False, heart_scale=0.5))
    assert result.analysed == 1 and any(n.startswith("Heart scale 0.5: the model saw every image") for n in result.notes)
    expert = json.loads((child / "contours.json").read_text())
    (written,) = (tmp_path / "out").glob("patient-01/T1_*/contours.json")
    ring = json.loads(written.read_text())
    mine, theirs = (contours_to_mask(*_ring_points(c), (ds.Rows, ds.Columns)) == 1 for c in (ring, expert))
    assert 2 * (mine & theirs).sum() / (mine.sum() + theirs.sum()) > 0.8  # the myocardium's Dice
    assert not any("the LV is small" in n for n in result.notes)


def _ring_points(contours: dict) -> tuple[np.ndarray, np.ndarray]:
    """The epicardial and endocardial (x, y) points of a contours JSON."""
    return tuple(np.column_stack([contours[f"{k}_contours_x"], contours[f"{k}_contours_y"]]) for k in ("epicardial", "endocardial"))


def test_a_small_heart_analysed_as_an_adults_gets_a_note_suggesting_a_heart_scale(two_patients, tmp_path):
    source = next(two_patients.glob("*/T1_mid"))
    for name, factor in (("adult", 1.0), ("child", 0.5)):
        shutil.copytree(source, tmp_path / name / "T1_mid")
        ds = pydicom.dcmread(tmp_path / name / "T1_mid" / "map.dcm")
        ds.PixelSpacing = [float(v) * factor for v in ds.PixelSpacing]
        ds.save_as(tmp_path / name / "T1_mid" / "map.dcm")
    adult = analyze([tmp_path / "adult"], tmp_path / "out-adult", AnalyzeConfig(seg=False, report=False))
    child = analyze([tmp_path / "child"], tmp_path / "out-child", AnalyzeConfig(seg=False, report=False))
    assert adult.analysed == child.analysed == 1 and not any("the LV is small" in n for n in adult.notes)
    (note,) = [n for n in child.notes if "the LV is small" in n]
    scale = float(note.split("--heart-scale ")[1].split(":")[0])
    assert note.startswith("patient-01: ") and 0.3 <= scale <= 0.6  # the phantom's mid LV is about 50 mm across; here half that


def test_scaled_heart_shows_every_pixel_larger_and_refuses_a_share_of_image_model(monkeypatch):
    from myomap.model import inference
    from myomap.model.loading import ScaledHeart, load_segmenter

    seen = []

    class Fake:
        meta, physical = "meta", True

        def predict_each(self, images, spacings_mm=None, **options):
            seen.append((spacings_mm, options))
            return [None], ["x"]

        def predict(self, images, spacings_mm=None, **options):
            seen.append(("predict", spacings_mm))
            return []

    scaled = ScaledHeart(Fake(), 0.5)
    assert scaled.predict_each([np.zeros((4, 4))], [(1.0, 1.5)], tta=True) == ([None], ["x"])
    assert scaled.predict([np.zeros((4, 4))], [(0.5, 0.5)]) == []
    assert seen == [([(2.0, 3.0)], {"tta": True}), ("predict", [(1.0, 1.0)])] and scaled.meta == "meta"
    assert isinstance(load_segmenter("embedded", 0.6), ScaledHeart) and not isinstance(load_segmenter("embedded"), ScaledHeart)
    Fake.physical = False  # a share-of-image model (the paper's recipe) never reads the pixel size
    monkeypatch.setattr(inference.OnnxSegmenter, "from_file", classmethod(lambda cls, path: Fake()))
    with pytest.raises(inference.ModelFileError, match="needs a model that works at a fixed pixel size"):
        load_segmenter("embedded", 0.6)
    assert isinstance(load_segmenter("embedded"), Fake)
