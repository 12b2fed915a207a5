import csv
import hashlib
import json
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless
from typer.testing import CliRunner

from myomap.analyze.names import patient_labels
from myomap.analyze.outfolder import OutputFolderError
from myomap.analyze.settings import AnalyzeConfig
from myomap.analyze.truth import summarise_truth, truth_rows
from myomap.cli import app
from myomap.geometry.masks import contours_to_mask
from myomap.model.loading import embedded_model_path
from myomap.report.analysis import analyze


@dataclass
class Analysed:
    """A run's result with the slice results it handed out patient by patient."""

    out: Path
    errors: tuple
    slices: list


def run(inputs, out, config=AnalyzeConfig(), **options) -> Analysed:
    slices: list = []
    result = analyze(inputs, out, config, on_patient=slices.extend, **options)
    return Analysed(result.out, result.errors, slices)


@pytest.fixture(scope="module")
def analysed(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("analysis")
    return run([cohort], out)


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_embedded_model_ships_with_the_package():
    path = embedded_model_path()
    assert path.is_file() and path.stat().st_size <= 20 * 2**20


@pytest.mark.slow
def test_every_output_is_written(analysed):
    out = analysed.out
    assert not analysed.errors, analysed.errors
    assert len(analysed.slices) == 18
    for name in ("analyze.yaml", "index.html", "slices.csv", "values.csv", "run.json"):
        assert (out / name).is_file()
    assert json.loads((out / "run.json").read_text())["status"] == "complete"
    folder = out / "patient-01" / "T1_02_mid"
    for name in ("overlay.png", "labels.png", "contours.json", "contours_mm.json", "seg.dcm", "source.dcm"):
        assert (folder / name).is_file(), name
    for name in ("report.html", "values.csv", "slices.csv", "done.json"):
        assert (out / "patient-01" / name).is_file(), name
    assert not list(out.rglob("*.partial-*"))


def test_segmentation_matches_the_phantom(analysed):
    summary = summarise_truth(truth_rows(analysed.slices))
    assert summary["slices"] == 18
    # The embedded model gives Dice 0.85, T1 +1.8 ms and T2 -0.1 ms here; full figures: benchmarks/analyze_phantom.py.
    assert summary["dice_myocardium"] > 0.80
    assert abs(summary["T1_median_error_ms"]) < 10.0 and abs(summary["T2_median_error_ms"]) < 1.0


def test_seg_references_its_source_and_holds_the_labels(analysed, cohort):
    result = analysed.slices[1]
    folder = analysed.out / result.patient / result.folder
    seg = hd.seg.segread(folder / "seg.dcm")
    source = pydicom.dcmread(folder / "source.dcm")  # the de-identified copy of the map
    assert seg.number_of_segments == 2
    assert {uid for *_, uid in seg.get_source_image_uids()} == {source.SOPInstanceUID}
    assert seg.StudyInstanceUID == source.StudyInstanceUID and seg.FrameOfReferenceUID == source.FrameOfReferenceUID
    original = pydicom.dcmread(result.slice.path)
    assert source.SOPInstanceUID != original.SOPInstanceUID and source.StudyInstanceUID != original.StudyInstanceUID
    np.testing.assert_array_equal(source.pixel_array, original.pixel_array)
    frames = seg.pixel_array  # one binary frame per segment
    labels = np.zeros(frames.shape[1:], np.uint8)
    for number, frame in zip(seg.PerFrameFunctionalGroupsSequence, frames):
        labels[frame > 0] = number.SegmentIdentificationSequence[0].ReferencedSegmentNumber
    # The SEG holds the fitted contours rasterised (the ROI of the values), the same as labels.png.
    np.testing.assert_array_equal(labels, contours_to_mask(result.contours.epi, result.contours.endo, labels.shape))
    saved = cv2.imread(str(folder / "labels.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(labels, saved)


def test_contours_json_round_trip_and_mm_frame(analysed):
    result = analysed.slices[0]
    folder = analysed.out / result.patient / result.folder
    pixels = json.loads((folder / "contours.json").read_text())
    mm = json.loads((folder / "contours_mm.json").read_text())
    assert mm["frame"].startswith("patient")
    assert len(pixels["epicardial_contours_x"]) == len(mm["epicardial_contours_x_mm"])
    # The first epicardial point, by hand from the DICOM geometry.
    ds = pydicom.dcmread(result.slice.path)
    row_dir, col_dir = np.array(ds.ImageOrientationPatient[:3], float), np.array(ds.ImageOrientationPatient[3:], float)
    dy, dx = (float(v) for v in ds.PixelSpacing)
    x, y = pixels["epicardial_contours_x"][0], pixels["epicardial_contours_y"][0]
    expected = np.array(ds.ImagePositionPatient, float) + x * dx * row_dir + y * dy * col_dir
    got = [mm[f"epicardial_contours_{k}_mm"][0] for k in "xyz"]
    np.testing.assert_allclose(got, expected, atol=0.01)


def test_tables_hold_global_segment_and_septal_values(analysed):
    rows = list(csv.DictReader((analysed.out / "values.csv").open()))
    regions = {(r["patient"], r["map_type"], r["region"], r["eroded"]) for r in rows}
    assert ("patient-01", "T1", "global", "True") in regions and ("patient-01", "T2", "septal", "False") in regions
    segments = {int(r["segment"]) for r in rows if r["region"].startswith("segment_")}
    assert segments == set(range(1, 17))
    slices = list(csv.DictReader((analysed.out / "slices.csv").open()))
    assert {r["status"] for r in slices} <= {"ok", "review"}
    assert all(r["reference_point"] == "contours-json" for r in slices)  # the phantom ships contours.json


def test_no_patient_identifiers_without_keep_phi(cohort, tmp_path):
    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    source = tmp_path / "in" / "scan.dcm"
    source.parent.mkdir()
    ds = pydicom.dcmread(subject / "T1_mid" / "map.dcm")
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Zyxwvut^Qponmlk", "MRN4711XQ", "19700101"
    # Fields highdicom would copy from the patient and study modules.
    ds.OtherPatientNames, ds.PatientComments, ds.AdditionalPatientHistory = "Aliasqq^Zed", "Commentqq", "Historyqq"
    ds.StudyDescription, ds.PhysiciansOfRecord, ds.StudyDate = "Studyqq description", "Docqq^Who", "19991231"
    ds.save_as(source)
    out = tmp_path / "out"
    result = analyze([source.parent], out, AnalyzeConfig())
    assert not result.errors, result.errors
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in (
                b"Zyxwvut",
                b"Qponmlk",
                b"MRN4711XQ",
                b"19700101",
                b"Aliasqq",
                b"Commentqq",
                b"Historyqq",
                b"Studyqq",
                b"Docqq",
                b"19991231",
            ):
                assert secret not in data, (path, secret)
    kept = run([source.parent], tmp_path / "kept", AnalyzeConfig(keep_phi=True))
    assert (tmp_path / "kept" / "MRN4711XQ").is_dir() and kept.slices[0].patient == "MRN4711XQ"
    seg = pydicom.dcmread(next((tmp_path / "kept").rglob("seg.dcm")))
    assert seg.PatientName == "Zyxwvut^Qponmlk" and seg.StudyInstanceUID == ds.StudyInstanceUID
    assert not list((tmp_path / "kept").rglob("source.dcm"))  # the original is the source
    rows = list(csv.DictReader((tmp_path / "kept" / "slices.csv").open()))
    assert rows[0]["source"] == "input-1/scan.dcm"  # relative to the input, never the full path


def test_patient_labels_are_anonymous_and_stable():
    keys = [("b", "s1"), ("a", "s2"), ("a", "s1")]
    assert patient_labels(keys, keep_phi=False) == {("a", "s1"): "patient-01", ("a", "s2"): "patient-01-s2", ("b", "s1"): "patient-02"}
    assert patient_labels([("MRN 12/3", "s")], keep_phi=True) == {("MRN 12/3", "s"): "MRN_12_3"}
    # Under keep_phi too: no '.', '..' or separators, and IDs that clean alike stay apart.
    named = patient_labels([("..", "s"), ("A/B", "s"), ("A_B", "s"), (".", "s")], keep_phi=True)
    assert len(set(named.values())) == 4
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", name) for name in named.values()), named


def test_a_patients_later_studies_are_s2_in_order_of_study_date_not_uid():
    keys = [("a", "1.9"), ("a", "1.1"), ("a", "1.5")]
    dates = {("a", "1.9"): "20200101", ("a", "1.1"): "20210101", ("a", "1.5"): "20200101120000"}
    assert patient_labels(keys, keep_phi=False, dates=dates) == {
        ("a", "1.9"): "patient-01",
        ("a", "1.5"): "patient-01-s2",
        ("a", "1.1"): "patient-01-s3",
    }


def test_analyze_labels_a_follow_up_whose_uid_sorts_first_as_the_later_study(cohort, tmp_path):
    source = sorted(cohort.glob("sub-*/T1_mid/map.dcm"))[0]
    studies = {"baseline": ("1.2.826.0.1.3680043.8.498.9", "20200101"), "follow-up": ("1.2.826.0.1.3680043.8.498.1", "20210101")}
    for name, (uid, date) in studies.items():
        ds = pydicom.dcmread(source)
        ds.StudyInstanceUID, ds.StudyDate, ds.SeriesInstanceUID, ds.SOPInstanceUID = uid, date, f"{uid}.1", f"{uid}.1.1"
        (tmp_path / "in" / name).mkdir(parents=True)
        ds.save_as(tmp_path / "in" / name / "map.dcm", enforce_file_format=True)
    analysed = run([tmp_path / "in"], tmp_path / "out", AnalyzeConfig(tta=False, seg=False, report=False))
    # Without --keep-dates no output holds a date: the label is all that tells baseline from follow-up.
    assert {r.patient: r.slice.study for r in analysed.slices} == {
        "patient-01": studies["baseline"][0],
        "patient-01-s2": studies["follow-up"][0],
    }
    with (tmp_path / "out" / "slices.csv").open() as handle:  # the run's tables list the baseline first
        assert [row["patient"] for row in csv.DictReader(handle)] == ["patient-01", "patient-01-s2"]


def _bad_inputs(cohort: Path, folder: Path) -> None:
    """One good map and every kind of broken input the issue lists."""
    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    folder.mkdir()
    good = folder / "good.dcm"
    shutil.copy(subject / "T1_mid" / "map.dcm", good)
    (folder / "corrupt.dcm").write_bytes(b"not a dicom file at all" * 20)
    other = subject / "T2_apical" / "map.dcm"  # a truncated copy of good.dcm would be dropped as its duplicate
    (folder / "truncated.dcm").write_bytes(other.read_bytes()[: other.stat().st_size // 2])
    ds = pydicom.dcmread(subject / "T1_basal" / "map.dcm")
    del ds.PixelSpacing
    ds.save_as(folder / "no_spacing.dcm")
    ds = pydicom.dcmread(subject / "T1_apical" / "map.dcm")
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.PixelData = encapsulate([b"\x00" * 64])
    ds["PixelData"].VR = "OB"
    ds.save_as(folder / "compressed.dcm", enforce_file_format=True)
    ds = pydicom.dcmread(subject / "T2_mid" / "map.dcm")
    ds.PixelData = np.full((ds.Rows, ds.Columns), 500, np.uint16).tobytes()
    ds.save_as(folder / "constant.dcm")


def test_bad_inputs_get_one_line_each_and_the_rest_is_analysed(cohort, tmp_path):
    inputs = tmp_path / "inputs"
    _bad_inputs(cohort, inputs)
    before = _hashes(inputs)
    result = CliRunner().invoke(app, ["analyze", str(inputs), "-o", str(tmp_path / "out"), "--no-report", "--keep-phi"])
    assert result.exit_code == 1
    text = result.output
    for name, words in (
        ("corrupt.dcm", "not a readable DICOM"),
        ("truncated.dcm", ""),
        ("no_spacing.dcm", "PixelSpacing"),
        ("compressed.dcm", "extra decoder"),
        ("constant.dcm", "constant"),
    ):
        lines = [line for line in text.splitlines() if name in line]
        assert lines and words in " ".join(lines), (name, text)
    statuses = [r["status"] for r in csv.DictReader((tmp_path / "out" / "slices.csv").open())]
    assert sorted(statuses)[0] == "error" and sorted(statuses)[1] in ("ok", "review")  # the constant map is found, not segmentable
    assert _hashes(inputs) == before  # inputs never modified
    assert len(list((tmp_path / "out").rglob("seg.dcm"))) == 1
    assert not list((tmp_path / "out").rglob("*.partial-*"))


def test_folder_without_maps_and_unwritable_output(cohort, tmp_path):
    runner = CliRunner()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("nothing here")
    result = runner.invoke(app, ["analyze", str(empty), "-o", str(tmp_path / "out")])
    assert result.exit_code == 3 and "no T1 or T2 maps found" in " ".join(result.output.split())  # nothing analysed
    assert json.loads((tmp_path / "out" / "run.json").read_text())["status"] == "complete"
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, ["analyze", str(cohort), "-o", str(blocker / "out")])
    assert result.exit_code == 3 and "cannot write" in result.output


def test_foreign_model_file_is_one_clear_error(cohort, tmp_path):
    bogus = tmp_path / "model.pt"
    bogus.write_bytes(b"PK\x03\x04 not a model")
    result = CliRunner().invoke(app, ["analyze", str(cohort), "-o", str(tmp_path / "out"), "--model", str(bogus)])
    assert result.exit_code == 2  # bad usage
    assert "error" in result.output and "model.pt" in result.output
    assert not (tmp_path / "out").exists()  # nothing written before the model is known to be usable


def test_model_file_of_the_wrong_shape_is_one_clear_error_before_anything_is_written(cohort, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 64, 64])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    for entry in onnx.load(str(embedded_model_path())).metadata_props:  # myomap's metadata on a graph that does not fit it
        model.metadata_props.add(key=entry.key, value=entry.value)
    onnx.save(model, str(tmp_path / "wrong.onnx"))
    result = CliRunner().invoke(app, ["analyze", str(cohort), "-o", str(tmp_path / "out"), "--model", str(tmp_path / "wrong.onnx")])
    assert result.exit_code == 2, result.output  # bad usage, like any other unusable model file
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "wrong.onnx" in lines[0] and "(1, 3, 64, 64)" in lines[0], result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_demo_runs_the_whole_chain(tmp_path):
    result = CliRunner().invoke(app, ["demo", "-o", str(tmp_path / "demo"), "--subjects", "1", "--seed", "2"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "demo" / "analysis" / "truth.csv").open()))
    assert len(rows) == 6 and all(0.0 <= float(r["dice_myocardium"]) <= 1.0 for r in rows)
    assert (tmp_path / "demo" / "analysis" / "patient-01" / "report.html").is_file()


def test_demo_refuses_a_foreign_analysis_folder_before_simulating(tmp_path):
    (tmp_path / "demo" / "analysis").mkdir(parents=True)
    (tmp_path / "demo" / "analysis" / "mine.txt").write_text("not myomap's")
    result = CliRunner().invoke(app, ["demo", "-o", str(tmp_path / "demo"), "--subjects", "1"])
    assert result.exit_code == 2, result.output  # bad usage, as analyze says it
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "not a myomap analyze output" in lines[0], result.output
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == ["analysis"]  # nothing simulated
    assert (tmp_path / "demo" / "analysis" / "mine.txt").read_text() == "not myomap's"


def test_longer_stacks_only_t2_and_no_tta(cohort, tmp_path):
    """Five T2 slices of one patient (two per level somewhere), no T1, no TTA: all analysed and pooled."""
    subjects = sorted(p for p in cohort.iterdir() if p.is_dir())
    inputs = tmp_path / "in"
    inputs.mkdir()
    for k, position in enumerate(("basal", "mid", "apical")):
        shutil.copy(subjects[0] / f"T2_{position}" / "map.dcm", inputs / f"a{k}.dcm")
    for k, position in enumerate(("basal", "mid")):  # two more slices of the same study, shifted along the axis
        ds = pydicom.dcmread(subjects[0] / f"T2_{position}" / "map.dcm")
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        normal = np.cross(np.array(ds.ImageOrientationPatient[:3], float), np.array(ds.ImageOrientationPatient[3:], float))
        ds.ImagePositionPatient = list(np.array(ds.ImagePositionPatient, float) + 4.0 * normal)
        ds.save_as(inputs / f"b{k}.dcm")
    # Flagged slices would be left out of the pooled values; here all five must pool, whatever QC says.
    result = run([inputs], tmp_path / "out", AnalyzeConfig(tta=False, seg=False, include_review=True))
    assert not result.errors, result.errors
    assert [r.slice.map_type for r in result.slices] == ["T2"] * 5
    assert [r.slice.slice_position for r in result.slices] == ["basal", "basal", "mid", "mid", "apical"]
    assert all(math.isnan(r.qc.confidence) for r in result.slices)  # no TTA: no confidence, not a flag by itself
    rows = list(csv.DictReader((tmp_path / "out" / "values.csv").open()))
    whole = next(r for r in rows if r["region"] == "global" and r["eroded"] == "True")
    assert whole["map_type"] == "T2" and whole["n_slices"] == "5"
    assert not any(r["map_type"] == "T1" for r in rows)


def test_a_rerun_needs_overwrite_which_leaves_no_stale_files(cohort, tmp_path):
    subjects = sorted(p for p in cohort.iterdir() if p.is_dir())
    inputs = tmp_path / "in"
    for k, subject in enumerate(subjects[:2]):
        shutil.copytree(subject / "T1_mid", inputs / f"s{k}")
    out = tmp_path / "out"
    analyze([inputs], out, AnalyzeConfig())
    assert (out / "patient-02").is_dir() and next(out.glob("patient-01/T1_*/seg.dcm")).is_file()
    with pytest.raises(OutputFolderError, match="--overwrite"):
        analyze([inputs / "s0"], out, AnalyzeConfig(seg=False))
    analyze([inputs / "s0"], out, AnalyzeConfig(seg=False), mode="overwrite")
    assert not (out / "patient-02").exists() and not list(out.rglob("seg.dcm"))  # the earlier run is gone
    assert [r["patient"] for r in csv.DictReader((out / "slices.csv").open())] == ["patient-01"]


@pytest.mark.slow
def test_reference_point_estimated_on_request(analysed, cohort, tmp_path):
    result = run([cohort], tmp_path / "out", AnalyzeConfig(reference_point="estimate", report=False, seg=False))
    methods = {r.reference_method for r in result.slices}
    assert methods <= {"rv-blood-pool", "dicom-orientation", "image-axes"} and "rv-blood-pool" in methods
    # The estimate lands near the phantom's true anterior RV insertion point on most slices.
    close = []
    for estimated, given in zip(result.slices, analysed.slices):
        centre = np.mean(given.contours.epi, axis=0)
        a, b = np.subtract(estimated.contours.rv_insertion, centre), np.subtract(given.contours.rv_insertion, centre)
        angle = np.degrees(np.arccos(np.clip(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))
        close.append(angle < 30)
    assert np.mean(close) >= 0.8
