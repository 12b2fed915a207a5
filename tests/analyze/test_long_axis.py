"""Long-axis maps next to a short-axis stack: left out of the analysis with one error line each series."""

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from typer.testing import CliRunner

from myomap.analyze.discover import discover
from myomap.cli import app


def _long_axis_copy(source: Path, target: Path, *, description: str, tilt_deg: float = 90.0, number: int = 99) -> None:
    """``source`` as a map of a new series whose plane normal is ``tilt_deg`` from the short-axis one."""
    ds = pydicom.dcmread(source)
    orientation = np.asarray(ds.ImageOrientationPatient, dtype=float)
    row, col = orientation[:3], orientation[3:]
    normal = np.cross(row, col)
    a = np.deg2rad(tilt_deg)
    ds.ImageOrientationPatient = [f"{v:.6f}" for v in (*row, *(np.cos(a) * col + np.sin(a) * normal))]
    ds.SeriesDescription = description
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.SeriesNumber = number
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target)


@pytest.fixture(scope="module")
def exam(cohort, tmp_path_factory) -> Path:
    """One subject's short-axis T1 stack (3 maps), a 4-chamber map found by geometry and a mid map named 2CH."""
    out = tmp_path_factory.mktemp("lax") / "exam"
    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    out.mkdir(parents=True)
    for position in ("basal", "mid", "apical"):
        shutil.copy(subject / f"T1_{position}" / "map.dcm", out / f"sax_{position}.dcm")
    _long_axis_copy(subject / "T1_mid" / "map.dcm", out / "lax" / "four.dcm", description="MOLLI_T1_MAP", number=97)
    _long_axis_copy(subject / "T1_mid" / "map.dcm", out / "lax" / "named.dcm", description="MOLLI 2CH T1 MAP", tilt_deg=0.0, number=98)
    return out


def test_long_axis_maps_are_left_out_and_named_once_each(exam):
    found = discover([exam])
    lines = sorted(found.errors)
    assert lines == [
        f"{exam / 'lax' / 'four.dcm'}: long-axis view (plane 90° from the short-axis stack of 3 slices): myomap measures short-axis maps only",
        f"{exam / 'lax' / 'named.dcm'}: long-axis view (SeriesDescription has '2CH'): myomap measures short-axis maps only",
    ]
    (slices,) = found.patients.values()
    assert [(s.path.name, s.slice_position) for s in slices] == [
        ("sax_basal.dcm", "basal"),
        ("sax_mid.dcm", "mid"),
        ("sax_apical.dcm", "apical"),
    ]
    actions = {r.series.split(" ")[0]: r.action for r in found.series}
    assert actions["97"] == actions["98"] == "skip: long-axis view"
    assert sum(a == "analyse 1 slice(s)" for a in actions.values()) == 3


def test_the_stack_is_the_same_with_or_without_the_long_axis_maps(exam, tmp_path):
    shutil.copytree(exam, tmp_path / "sax", ignore=shutil.ignore_patterns("lax"))
    alone = next(iter(discover([tmp_path / "sax"]).patients.values()))
    mixed = next(iter(discover([exam]).patients.values()))
    fields = ("slice_position", "order", "level_basis", "clockwise", "axis_basis", "contrast")
    assert [[getattr(s, f) for f in fields] for s in mixed] == [[getattr(s, f) for f in fields] for s in alone]


def test_a_slightly_tilted_map_stays_in_the_stack(exam, tmp_path):
    shutil.copytree(exam, tmp_path / "in", ignore=shutil.ignore_patterns("lax"))
    _long_axis_copy(exam / "sax_mid.dcm", tmp_path / "in" / "tilted.dcm", description="MOLLI_T1_MAP", tilt_deg=20.0)
    found = discover([tmp_path / "in"])
    assert not found.errors
    assert len(next(iter(found.patients.values()))) == 4


def test_analyze_exits_1_with_long_axis_maps_and_3_with_only_them(exam, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["analyze", str(exam), "-o", str(tmp_path / "a"), "--no-report", "--no-seg", "--no-tta"])
    assert result.exit_code == 1, result.output
    assert result.output.count("long-axis view") >= 2 and "skip: long-axis view" in result.output
    assert len(list((tmp_path / "a").glob("*/T1_*"))) == 3  # only the short-axis maps were segmented
    result = runner.invoke(app, ["analyze", str(exam / "lax" / "named.dcm"), "-o", str(tmp_path / "b")])
    assert result.exit_code == 3, result.output
    assert "long-axis view" in result.output


def test_a_map_in_a_body_plane_is_flagged_and_an_oblique_one_is_not(exam, tmp_path):
    """A lone map whose header puts it in a transverse plane (a liver slice, a placeholder orientation) gets a review flag."""
    import csv

    ds = pydicom.dcmread(exam / "sax_mid.dcm")
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.save_as(tmp_path / "transverse.dcm")
    for name, path, reason in (("body", tmp_path / "transverse.dcm", True), ("oblique", exam / "sax_mid.dcm", False)):
        result = CliRunner().invoke(app, ["analyze", str(path), "-o", str(tmp_path / name), "--no-report", "--no-seg", "--no-tta"])
        assert result.exit_code == 0, result.output
        (row,) = csv.DictReader((next((tmp_path / name).glob("*/slices.csv"))).open())
        assert ("transverse image plane, not a short-axis view" in row["qc_reasons"]) is reason, row["qc_reasons"]
        assert row["status"] == "review" or not reason


def test_nifti_maps_are_called_by_file_name_and_geometry(tmp_path):
    import nibabel

    data = np.full((16, 12, 3), 1000.0, np.float32)
    nibabel.save(nibabel.Nifti1Image(data, np.diag([1.5, 1.5, 8.0, 1.0])), tmp_path / "stack.nii.gz")  # 3 axial slices
    nibabel.save(nibabel.Nifti1Image(data[:, :, :1], np.diag([1.5, 1.5, 8.0, 1.0])), tmp_path / "t1map_4ch.nii.gz")
    coronal = np.array([[1.5, 0, 0, 0], [0, 0, 8.0, 0], [0, 1.5, 0, 0], [0, 0, 0, 1]])  # its normal along y: 90 degrees off
    nibabel.save(nibabel.Nifti1Image(data[:, :, :1], coronal), tmp_path / "other.nii.gz")
    found = discover([tmp_path], map_type="T1")
    assert sorted(found.errors) == [
        f"{tmp_path / 'other.nii.gz'}: long-axis view (plane 90° from the short-axis stack of 3 slices): myomap measures short-axis maps only",
        f"{tmp_path / 't1map_4ch.nii.gz'}: long-axis view (file name has '4ch'): myomap measures short-axis maps only",
    ]
    assert [s.path.name for s in next(iter(found.patients.values()))] == ["stack.nii.gz"] * 3
    assert sorted((r.series, r.action) for r in found.series) == [
        ("other.nii.gz", "skip: long-axis view"), ("stack.nii.gz", "analyse 3 slice(s)"), ("t1map_4ch.nii.gz", "skip: long-axis view")
    ]  # fmt: skip
