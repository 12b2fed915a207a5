"""Weighted images spread over several series (one series per inversion time) are grouped and fitted."""

import numpy as np
from pydicom.uid import generate_uid
from typer.testing import CliRunner

from myomap.cli import app
from myomap.io.dicom import read_image
from myomap.io.synthetic import mr_image, save
from myomap.mapping.series import group_series, read_series

T1_MS = 900.0
TIMES_MS = (50.0, 150.0, 400.0, 800.0, 1600.0, 3200.0)


def _ir_spin_echo(folder, position=(0.0, 0.0, 0.0), study="1.2.3", protocol="IR_SE", size=(12, 12)):
    """One series per inversion time, as a gold-standard IR spin-echo phantom acquisition exports it."""
    for k, ti in enumerate(TIMES_MS, start=1):
        signal = 1000 * abs(1 - 2 * np.exp(-ti / T1_MS))
        image = np.full(size, round(signal), np.uint16)
        ds = mr_image(
            image, study_uid=study, series_uid=generate_uid(), series_number=k, description=f"{protocol}_TI{ti:.0f}",
            position_mm=position, InversionTime=ti, ProtocolName=f"{protocol}_TI{ti:.0f}",
        )  # fmt: skip
        save(ds, folder / f"series{k}" / f"IM_{position[2]:.0f}.dcm")


def test_single_image_series_are_grouped_by_study_geometry_and_protocol(tmp_path):
    _ir_spin_echo(tmp_path / "a")
    _ir_spin_echo(tmp_path / "b", position=(0.0, 0.0, 10.0))  # another slice: another group
    _ir_spin_echo(tmp_path / "c", study="9.9.9")  # another study: another group
    groups, errors, _ = group_series(sorted((tmp_path).rglob("*.dcm")))
    assert not errors
    assert sorted(len(g) for g in groups.values()) == [6, 6, 6]
    for frames in groups.values():
        assert len({m.series_uid for m in frames}) == 6 and len({m.position_mm for m in frames}) == 1
    series = read_series("g", next(iter(groups.values())), "ir")
    assert series.times_ms.tolist() == list(TIMES_MS)


def test_fit_command_fits_one_series_per_inversion_time(tmp_path):
    _ir_spin_echo(tmp_path / "in")
    result = CliRunner().invoke(app, ["fit", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model", "ir"])
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    t1, _ = read_image(folder / "map.dcm")
    assert abs(float(np.median(t1)) - T1_MS) < 10


def test_mixed_matrix_sizes_in_a_series_are_one_clear_error(tmp_path):
    from myomap.mapping.pipeline import fit_paths

    uid = generate_uid()
    for k, ti in enumerate(TIMES_MS[:4], start=1):
        size = (12, 12) if k != 3 else (10, 12)
        save(
            mr_image(
                np.full(size, 100 * k, np.uint16),
                study_uid="1",
                series_uid=uid,
                series_number=4,
                description="MOLLI",
                instance=k,
                InversionTime=ti,
            ),
            tmp_path / "bad" / f"{k}.dcm",
        )
    _ir_spin_echo(tmp_path / "good")
    report = fit_paths([tmp_path], tmp_path / "out", model="ir")
    assert len(report.outcomes) == 1
    assert len(report.errors) == 1 and "mixed matrix sizes" in report.errors[0] and "MOLLI_s4" in report.errors[0]


def test_fit_on_an_exam_folder_fits_the_weighted_series_and_skips_the_rest_in_one_note(tmp_path):
    from myomap.io.synthetic import write_exam
    from myomap.mapping.pipeline import fit_paths

    write_exam(tmp_path / "exam", 250, size=16)
    report = fit_paths([tmp_path / "exam"], tmp_path / "out")
    assert not report.errors, report.errors
    assert sorted(o.model for o in report.outcomes) == ["molli"] * 3 + ["t2"] * 3
    skipped = [n for n in report.notes if "without inversion or T2-preparation times skipped" in n]
    assert len(skipped) == 1 and skipped[0].startswith("19 series")  # 3 localiser + 8 cine + 8 LGE groups


def test_enhanced_multiframe_molli_is_fitted_frame_by_frame(tmp_path):
    from myomap.io.synthetic import enhanced_mr
    from myomap.mapping.pipeline import fit_paths

    times = list(TIMES_MS)
    frames = [np.full((12, 12), round(1000 * abs(1 - 2 * np.exp(-t / T1_MS))), np.uint16) for t in times]
    ds = enhanced_mr(
        frames,
        [(0.0, 0.0, 4.0)] * len(times),
        study_uid="1.2",
        series_uid=generate_uid(),
        description="IR_enhanced",
        inversion_times_ms=times,
    )
    save(ds, tmp_path / "in" / "enhanced.dcm")
    report = fit_paths([tmp_path / "in"], tmp_path / "out", model="ir")
    assert not report.errors, report.errors
    (outcome,) = report.outcomes
    assert outcome.time_source == "InversionTime" and list(outcome.times_ms) == times
    t1, meta = read_image(outcome.folder / "map.dcm")
    assert abs(float(np.median(t1)) - T1_MS) < 10 and meta.position_mm == (0.0, 0.0, 4.0) and meta.spacing_mm == (1.5, 1.5)


def test_fit_names_neither_the_description_nor_the_paths_without_keep_phi(cohort, tmp_path):
    import shutil

    import pydicom

    folder = tmp_path / "Doe^John_12345"
    shutil.copytree(cohort / "sub-001" / "T1_basal", folder)
    for path in folder.glob("weighted_*.dcm"):
        ds = pydicom.dcmread(path)
        ds.SeriesDescription = "MOLLI Doe John"
        ds.save_as(path)
    (folder / "broken.dcm").write_text("x")
    for extra, shown in (([], False), (["--keep-phi"], True)):
        out = tmp_path / f"out{len(extra)}"
        result = CliRunner().invoke(app, ["fit", str(folder), "-o", str(out), *extra])
        assert result.exit_code == 1 and "not a readable DICOM" in result.output  # the broken file
        written = [p.relative_to(out).as_posix() for p in out.rglob("*")] + [(out / "fits.csv").read_text()]
        assert ("John" in result.output + " ".join(written)) == shown
    assert [p.name.split("_s")[0] for p in (tmp_path / "out0").iterdir() if p.is_dir()] == ["MOLLI"]  # the sequence it names
    archive = shutil.make_archive(str(tmp_path / "exam"), "zip", tmp_path, folder.name)  # the same inside a ZIP archive
    result = CliRunner().invoke(app, ["fit", archive, "-o", str(tmp_path / "zipped"), "--model", "molli"])
    assert result.exit_code == 1 and "not a readable DICOM" in result.output and "John" not in result.output
