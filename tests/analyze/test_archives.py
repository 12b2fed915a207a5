"""An exam handed over as a ZIP archive is analysed as the folder it holds; a damaged one is one error line."""

import csv
import json
import shutil
import zipfile

from myomap.analyze.settings import AnalyzeConfig
from myomap.io.archives import unpacked_archives
from myomap.report.analysis import analyze

CONFIG = AnalyzeConfig(seg=False, report=False)


def _zip(folder, target):
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder.parent).as_posix())
    return target


def _slices(out):
    with (out / "slices.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_a_zipped_exam_gives_the_same_slices_as_its_folder(contrast_cohort, tmp_path):
    exam = tmp_path / "Doe_Jane"  # a patient's name in the archive's name
    shutil.copytree(contrast_cohort / "sub-001", exam)
    archive = _zip(exam, tmp_path / "Doe_Jane.zip")
    before = archive.read_bytes()
    from_folder = analyze([exam], tmp_path / "folder", CONFIG)
    from_zip = analyze([archive], tmp_path / "zip", CONFIG)
    assert not from_zip.errors and from_zip.analysed == from_folder.analysed == from_folder.slices > 0
    drop = ("source",)  # each names its file after its own input
    rows = [[{k: v for k, v in r.items() if k not in drop} for r in _slices(out)] for out in (tmp_path / "folder", tmp_path / "zip")]
    assert rows[0] == rows[1]
    assert any("input-1: a ZIP archive; its" in n for n in from_zip.notes)
    written = " ".join(p.read_text(errors="ignore") for p in (tmp_path / "zip").rglob("*") if p.suffix in (".csv", ".json"))
    assert "Doe_Jane" not in written  # the archive's name stays out of the outputs without --keep-phi
    assert archive.read_bytes() == before


def test_a_damaged_archive_is_one_error_line_and_the_other_inputs_go_on(contrast_cohort, tmp_path):
    broken = tmp_path / "broken.zip"
    good = _zip(contrast_cohort / "sub-001", tmp_path / "good.zip")
    broken.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # truncated: the central directory is gone
    exam = tmp_path / "exam"
    shutil.copytree(contrast_cohort / "sub-001", exam)
    result = analyze([broken, exam], tmp_path / "out", CONFIG)
    assert result.analysed > 0
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["inputs_seen"]["inputs"] == 2
    # a truncated ZIP is no ZIP to zipfile: it is read as a file, which is not DICOM (a note), not an archive
    assert not any("ZIP archive" in e for e in result.errors)


def test_an_encrypted_or_damaged_member_is_one_error_naming_the_archive(tmp_path):
    archive = tmp_path / "exam.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as handle:
        handle.writestr("a/map.dcm", b"x" * 5000)
    data = bytearray(archive.read_bytes())
    start = data.index(b"x" * 10) if b"x" * 10 in data else 60
    data[start : start + 8] = b"\xff" * 8  # corrupt the compressed member
    archive.write_bytes(bytes(data))
    plain = tmp_path / "plain.dcm"
    plain.write_bytes(b"not a zip")
    with unpacked_archives([archive, plain], label="input-{k}") as readable:
        assert readable.inputs == [plain]
        assert len(readable.errors) == 1 and readable.errors[0].startswith("input-1: a ZIP archive that cannot be unpacked")
    with unpacked_archives([plain]) as readable:
        assert readable.inputs == [plain] and not readable.errors and not readable.notes
