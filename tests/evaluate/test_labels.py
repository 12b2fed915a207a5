"""``myomap import-labels``: ACDC and M&Ms NIfTI label images into the data layout, and back through the data set loader."""

import csv

import nibabel
import numpy as np
import pydicom
import pytest
from typer.testing import CliRunner

from myomap.cli import app
from myomap.conventions import MYOCARDIUM
from myomap.evaluate.labels import LabelImportError, import_labels
from myomap.evaluate.study import load_study
from myomap.geometry.masks import observer_mask
from myomap.io.dataset import load_dataset

SPACING = (1.8, 1.4)  # (row, col) mm: different, so that a swap shows


def _affine(oblique: bool) -> np.ndarray:
    """A RAS affine with SPACING: voxel axis i (image columns) 1.4 mm, j (rows) 1.8 mm, 10 mm slices."""
    if not oblique:
        return np.diag([SPACING[1], SPACING[0], 10.0, 1.0])
    rotation, _ = np.linalg.qr(np.array([[0.7, 0.1, 0.7], [-0.5, 0.7, 0.5], [0.4, 0.7, -0.5]]))
    affine = np.eye(4)
    affine[:3, :3] = rotation * [SPACING[1], SPACING[0], 10.0]
    affine[:3, 3] = [40.0, -120.0, 60.0]
    return affine


def _labels(shape_xy, slices: int, codes: dict[str, int], empty_slice: int | None = None) -> np.ndarray:
    """x, y, slice labels: an LV ring around a cavity (shrinking toward the last slice) and an RV beside it."""
    x, y = np.meshgrid(np.arange(shape_xy[0]), np.arange(shape_xy[1]), indexing="ij")
    volume = np.zeros((*shape_xy, slices), np.int16)
    for k in range(slices):
        if k == empty_slice:
            continue
        r = np.hypot((x - 24) * SPACING[1], (y - 22) * SPACING[0])
        outer, inner = 18.0 - 2.0 * k, 11.0 - 2.0 * k
        volume[..., k][r < outer] = codes["myo"]
        volume[..., k][r < inner] = codes["lv"]
        volume[..., k][(np.hypot((x - 8) * SPACING[1], (y - 22) * SPACING[0]) < 9.0) & (r >= outer)] = codes["rv"]
    return volume


def _image(labels: np.ndarray, seed: int) -> np.ndarray:
    """Cine-like intensities (whole numbers, as scanners store them) with noise, so that the image is no label image."""
    rng = np.random.default_rng(seed)
    return (100 + 300 * (labels > 0) + rng.normal(0, 20, labels.shape)).clip(0).round().astype(np.int16)


def _save(data: np.ndarray, path, affine) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nibabel.save(nibabel.Nifti1Image(data, affine), path)


ACDC = {"myo": 2, "lv": 3, "rv": 1}
MNMS = {"myo": 2, "lv": 1, "rv": 3}


@pytest.fixture
def acdc(tmp_path):
    """Two ACDC patients, two labelled frames each (3 slices of 48 x 44, the last frame's apical slice unlabelled)."""
    root = tmp_path / "acdc"
    for p in (1, 2):
        for frame, empty in ((1, None), (12, 2)):
            labels = _labels((48, 44), 3, ACDC, empty_slice=empty)
            base = root / f"patient00{p}" / f"patient00{p}_frame{frame:02d}"
            _save(_image(labels, p * frame), base.with_name(base.name + ".nii.gz"), _affine(False))
            _save(labels, base.with_name(base.name + "_gt.nii.gz"), _affine(False))
    return root


@pytest.fixture
def mnms(tmp_path):
    """One M&Ms patient: a 4-D cine of 6 phases labelled at phases 0 and 3 only, oblique."""
    root = tmp_path / "mnms" / "A0S9V9"
    labels = np.zeros((48, 44, 3, 6), np.int16)
    for t in (0, 3):
        labels[..., t] = _labels((48, 44), 3, MNMS)
    image = np.stack([_image(_labels((48, 44), 3, MNMS), t) for t in range(6)], axis=-1)
    _save(image, root / "A0S9V9_sa.nii.gz", _affine(True))
    _save(labels, root / "A0S9V9_sa_gt.nii.gz", _affine(True))
    return root.parent


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def test_acdc_round_trip_gives_back_the_labels_with_the_nifti_spacing(acdc, tmp_path):
    report = import_labels(acdc, tmp_path / "out", "acdc", keep_phi=True)
    assert report.errors == [] and report.subjects == 2 and report.slices == 10
    assert report.skipped["no myocardium label"] == 2  # the unlabelled apical slice of each second frame
    images, errors = load_dataset(tmp_path / "out")
    assert errors == [] and len(images) == 10
    rows = list(csv.DictReader((tmp_path / "out" / "manifest.csv").open()))
    for image, row in zip(images, rows):
        assert image.spacing_mm == pytest.approx(SPACING) and image.map_type == "T1"
        truth = np.asarray(nibabel.load(acdc / row["source"].replace(".nii.gz", "_gt.nii.gz")).dataobj)[:, :, int(row["frame"])].T
        assert _dice(observer_mask(image) == MYOCARDIUM, truth == ACDC["myo"]) > 0.97
        source = np.asarray(nibabel.load(acdc / row["source"]).dataobj)[:, :, int(row["frame"])].T
        np.testing.assert_allclose(image.pixels, source)  # values kept through RescaleSlope/Intercept
    assert {r["subject"] for r in rows} == {"patient001", "patient002"}
    assert sorted({r["slice"] for r in rows if r["image"].startswith("patient001/frame01")}) == ["apical", "basal", "mid"]


def test_mnms_cine_imports_its_two_labelled_phases_only(mnms, tmp_path):
    report = import_labels(mnms, tmp_path / "out", "mnms")
    assert report.errors == [] and report.slices == 6 and report.unlabelled_phases == 4
    rows = list(csv.DictReader((tmp_path / "out" / "manifest.csv").open()))
    assert {r["phase"] for r in rows} == {"0", "3"} and {r["subject"] for r in rows} == {"patient-01"}
    assert "source" not in rows[0]  # file names stay out without keep_phi
    header = pydicom.dcmread(tmp_path / "out" / rows[0]["image"])
    assert str(header.PatientName) == "" and header.PatientID == "patient-01"
    assert [float(v) for v in header.PixelSpacing] == pytest.approx(SPACING)
    images, _ = load_dataset(tmp_path / "out")
    truth = np.asarray(nibabel.load(mnms / "A0S9V9" / "A0S9V9_sa_gt.nii.gz").dataobj)
    for image, row in zip(images, rows):
        expert = truth[:, :, int(row["frame"]), int(row["phase"])].T == MNMS["myo"]
        assert _dice(observer_mask(image) == MYOCARDIUM, expert) > 0.97


def test_labels_of_the_other_convention_and_a_bad_file_are_one_error_line_each(acdc, tmp_path):
    (acdc / "patient002" / "patient002_frame12_gt.nii.gz").write_bytes(b"not a nifti")
    inputs = sorted(p.stat().st_mtime_ns for p in acdc.rglob("*"))
    report = import_labels(acdc, tmp_path / "out", "acdc")
    assert len(report.errors) == 1 and "patient002_frame12_gt.nii.gz: not a readable NIfTI" in report.errors[0]
    assert report.slices == 8 and report.manifest is not None  # the others are still written
    assert sorted(p.stat().st_mtime_ns for p in acdc.rglob("*")) == inputs  # the inputs are untouched
    wrong = import_labels(acdc, tmp_path / "wrong", "mnms")
    assert len(wrong.errors) == 4 and sum("Check --convention" in e for e in wrong.errors) == 3
    assert not list((tmp_path / "out").rglob(".*partial*"))


def test_labels_stored_in_another_voxel_order_lie_on_their_image(tmp_path):
    labels = np.roll(_labels((48, 44), 3, ACDC), 8, axis=0)  # the LV off the centre, so that a mirror shows
    flipped = nibabel.Nifti1Image(labels, _affine(True)).as_reoriented(np.array([[0, -1], [1, 1], [2, -1]]))  # as RAS tools save it
    for p, offset in ((1, 0.0), (2, 5.0)):
        base = tmp_path / "src" / f"patient00{p}" / f"patient00{p}_frame01"
        _save(_image(labels, p), base.with_name(base.name + ".nii.gz"), _affine(True))
        _save(np.asarray(flipped.dataobj), base.with_name(base.name + "_gt.nii.gz"), flipped.affine + np.eye(4, k=3) * offset)
    report = import_labels(tmp_path / "src", tmp_path / "out", "acdc", keep_phi=True)
    assert len(report.errors) == 1 and "patient002_frame01_gt.nii.gz: label image in another orientation" in report.errors[0]
    images, _ = load_dataset(tmp_path / "out")
    rows = list(csv.DictReader((tmp_path / "out" / "manifest.csv").open()))
    assert len(images) == 3 and {r["subject"] for r in rows} == {"patient001"}
    for image, row in zip(images, rows):
        assert _dice(observer_mask(image) == MYOCARDIUM, labels[:, :, int(row["frame"])].T == ACDC["myo"]) > 0.97


def test_file_names_stay_out_of_error_lines_without_keep_phi(tmp_path):
    root = tmp_path / "src" / "DOE_JANE"
    labels = _labels((48, 44), 3, ACDC)
    _save(_image(labels, 1), root / "DOE_JANE_frame01.nii.gz", _affine(False))
    _save(labels[:, :40], root / "DOE_JANE_frame01_gt.nii.gz", _affine(False))  # of another shape than its image
    _save(labels, root / "DOE_JANE_frame12_gt.nii.gz", _affine(False))  # without its image
    args = ["import-labels", str(tmp_path / "src"), "-o", str(tmp_path / "out"), "--convention", "acdc"]
    text = " ".join(CliRunner().invoke(app, args).output.split())
    assert "label image of shape (48, 40, 3, 1), its image of (48, 44, 3, 1)" in text and "without its image" in text
    assert "DOE" not in text
    text = " ".join(CliRunner().invoke(app, [*args[:3], str(tmp_path / "kept"), *args[4:], "--keep-phi"]).output.split())
    assert "its image of (48, 44, 3, 1) (" + str(root / "DOE_JANE_frame01.nii.gz") in text


def test_nothing_to_import_and_an_occupied_output_are_refused(tmp_path, acdc):
    (tmp_path / "empty").mkdir()
    with pytest.raises(LabelImportError, match="no image with its label image"):
        import_labels(tmp_path / "empty", tmp_path / "out", "acdc")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(LabelImportError, match="not an empty folder"):
        import_labels(acdc, tmp_path / "busy", "acdc")


def test_import_labels_command_then_evaluate_a_split_file(acdc, tmp_path, caplog):
    out = tmp_path / "data"
    result = CliRunner().invoke(app, ["import-labels", str(acdc), "-o", str(out), "--convention", "acdc", "--map-type", "t2"])
    assert result.exit_code == 0, result.output
    assert "10 slices of 2 subjects imported; slices skipped: 2 no myocardium label" in caplog.text
    (tmp_path / "split.csv").write_text("subject,split\npatient-01,train\npatient-02,test\n")
    from myomap.io.dataset import read_split_file

    images, _ = load_study(out, "test", ("reference",), read_split_file(tmp_path / "split.csv"))
    assert {i.subject for i in images} == {"patient-02"} and {i.map_type for i in images} == {"T2"}
    (tmp_path / "other.csv").write_text("subject,split\nsomeone,test\n")
    result = CliRunner().invoke(app, ["evaluate", str(out), "-o", str(tmp_path / "ev"), "--split-file", str(tmp_path / "other.csv")])
    assert result.exit_code == 1 and "names 0 of the data set's 2 subjects" in " ".join(result.output.split())


def test_evaluate_shows_the_files_it_could_not_read_before_giving_up(acdc, tmp_path):
    import_labels(acdc, tmp_path / "data", "acdc")
    for image in (tmp_path / "data").rglob("map.dcm"):
        image.write_bytes(b"broken")
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "data"), "-o", str(tmp_path / "ev"), "--split", "all"])
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and text.count("error: manifest line") == 10 and "no maps in split 'all'" in text
