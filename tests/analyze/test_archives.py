"""An exam handed over as a ZIP archive is analysed as the folder it holds; a damaged one is one error line."""

import csv
import errno
import json
import shutil
import tempfile
import zipfile
from pathlib import Path
from types import SimpleNamespace

from myomap.analyze.settings import AnalyzeConfig
from myomap.io.archives import is_zip_archive, unpacked_archives
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


def _damaged_zip(path):
    """A ZIP archive whose one member's compressed data is overwritten: readable as a ZIP, not unpackable."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as handle:
        handle.writestr("a/map.dcm", b"x" * 5000)
    data = bytearray(path.read_bytes())
    start = data.index(b"a/map.dcm") + len("a/map.dcm")  # the local header's name; the compressed data follows
    data[start : start + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    return path


def test_a_damaged_archive_is_one_error_line_and_the_other_inputs_go_on(contrast_cohort, tmp_path):
    broken = _damaged_zip(tmp_path / "broken.zip")
    exam = tmp_path / "exam"
    shutil.copytree(contrast_cohort / "sub-001", exam)
    result = analyze([broken, exam], tmp_path / "out", CONFIG)
    assert result.analysed > 0
    assert [e for e in result.errors if "ZIP archive" in e] == ["input-1: a ZIP archive that cannot be unpacked, it is damaged; left out"]
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["inputs_seen"]["inputs"] == 2


def test_an_encrypted_or_damaged_member_is_one_error_naming_the_archive(tmp_path):
    archive = _damaged_zip(tmp_path / "exam.zip")
    plain = tmp_path / "plain.dcm"
    plain.write_bytes(b"not a zip")
    with unpacked_archives([archive, plain], keep_names=False) as readable:
        (error,) = readable.errors
        assert error == "input-1: a ZIP archive that cannot be unpacked, it is damaged; left out"  # no member names
        assert readable.inputs[1] == plain and readable.inputs[0].is_dir() and not any(readable.inputs[0].iterdir())
    with unpacked_archives([plain]) as readable:
        assert readable.inputs == [plain] and not readable.errors and not readable.notes


def test_inputs_keep_their_labels_after_a_failed_or_empty_archive(contrast_cohort, tmp_path):
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    exam = tmp_path / "exam"
    shutil.copytree(contrast_cohort / "sub-001", exam)
    result = analyze([empty, exam], tmp_path / "out", CONFIG)
    assert "input-1: a ZIP archive with no files" in result.errors and result.analysed > 0
    assert all(row["source"].startswith("file-") for row in _slices(tmp_path / "out"))
    kept = analyze([empty, exam], tmp_path / "phi", AnalyzeConfig(seg=False, report=False, keep_phi=True))
    assert all(row["source"].startswith("input-2/") for row in _slices(tmp_path / "phi"))
    assert any(e.startswith(f"{empty}: a ZIP archive with no files") for e in kept.errors)


def _free_space(monkeypatch, free):
    """Report ``free`` bytes on the temporary folder's disk (and fail if another disk is asked about)."""
    import myomap.io.archives as archives

    def disk_usage(path):
        assert Path(path).resolve().is_relative_to(Path(tempfile.gettempdir()).resolve())  # the temporary folder's disk
        return SimpleNamespace(free=free)

    monkeypatch.setattr(archives.shutil, "disk_usage", disk_usage)
    monkeypatch.setattr(archives.os, "statvfs", lambda path: SimpleNamespace(f_frsize=4096), raising=False)
    return archives


def test_an_archive_larger_than_the_free_space_is_not_unpacked_and_says_so(tmp_path, monkeypatch):
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w", compression=zipfile.ZIP_DEFLATED) as small:
        small.writestr("exam/a.dcm", b"\0" * 4_000_000)  # 4 MB unpacked, a few kB packed
    outer = tmp_path / "outer.zip"  # a ZIP holding it: the inner one is checked against the space too
    with zipfile.ZipFile(outer, "w", compression=zipfile.ZIP_DEFLATED) as handle:
        handle.write(inner, "inner.zip")

    def need(size):  # whole blocks, and one for the file's entry
        return (-(-size // 4096) + 1) * 4096

    archives = _free_space(monkeypatch, 10**9)  # the margin and not a byte more
    assert archives.FREE_MARGIN_BYTES == 10**9
    with unpacked_archives([outer], keep_names=True) as readable:  # not even the outer archive fits
        assert readable.errors == [
            f"{outer}: a ZIP archive that would leave less than 1.0 GB free in the temporary folder "
            f"({need(inner.stat().st_size) / 1e6:.1f} MB needed, 1.0 GB free); left out"
        ]
        assert not any(readable.inputs[0].iterdir())  # nothing written
    _free_space(monkeypatch, 10**9 + need(inner.stat().st_size))  # room for the outer archive's one file only
    with unpacked_archives([outer], keep_names=False) as readable:
        assert readable.errors == [
            "input-1: a ZIP archive inside it that would leave less than 1.0 GB free in the temporary folder "
            "(4.0 MB needed, 1.0 GB free); left out"
        ]
        assert not list(readable.inputs[0].rglob("*.dcm"))
    _free_space(monkeypatch, 10**9 + need(4_000_000))
    with unpacked_archives([outer], keep_names=False) as readable:
        assert not readable.errors and len(list(readable.inputs[0].rglob("a.dcm"))) == 1


def test_a_folder_whose_files_must_be_copied_is_left_out_when_they_do_not_fit(contrast_cohort, tmp_path, monkeypatch):
    exam = tmp_path / "exam"
    shutil.copytree(contrast_cohort / "sub-001", exam)
    _zip(exam / "T1_mid", exam / "extra.zip")  # a folder holding an archive is mirrored
    archives = _free_space(monkeypatch, 10**9)  # no room beyond the margin

    def no_link(src, dst):  # the temporary folder on another disk
        raise OSError(errno.EXDEV, "cross-device link")

    monkeypatch.setattr(archives.os, "link", no_link)
    with unpacked_archives([exam], keep_names=False) as readable:
        assert readable.errors == [
            "input-1: a folder holding ZIP archives that cannot be mirrored in a temporary folder "
            "(a file in it cannot be read, or the temporary folder is full); left out"
        ]
        assert not any(readable.inputs[0].iterdir())
    _free_space(monkeypatch, 10**12)
    with unpacked_archives([exam], keep_names=False) as readable:  # copied when there is room
        assert not readable.errors and (readable.inputs[0] / "T1_mid" / "map.dcm").is_file()


def test_a_dicom_file_whose_tail_looks_like_a_zip_is_not_an_archive(contrast_cohort, tmp_path):
    odd = tmp_path / "map.dcm"
    odd.write_bytes((contrast_cohort / "sub-001" / "T1_mid" / "map.dcm").read_bytes() + b"PK\x05\x06" + bytes(18))
    assert zipfile.is_zipfile(odd) and not is_zip_archive(odd)


def test_a_folder_of_archives_and_an_archive_of_archives_give_the_exam_slices(contrast_cohort, tmp_path):
    exam = tmp_path / "Doe_Jane"
    shutil.copytree(contrast_cohort / "sub-001", exam)
    portal = tmp_path / "portal"  # a study portal's download: a folder of one ZIP per study, beside a damaged one
    (portal / "studies").mkdir(parents=True)
    _zip(exam, portal / "studies" / "Doe_Jane.ZIP")
    _damaged_zip(portal / "broken.zip")
    listing = sorted(p.relative_to(portal) for p in portal.rglob("*"))
    from_folder = analyze([exam], tmp_path / "folder", CONFIG)
    from_portal = analyze([portal], tmp_path / "out", CONFIG)
    assert from_portal.analysed == from_folder.analysed > 0
    assert [e for e in from_portal.errors if "ZIP" in e] == [
        "input-1: a ZIP archive inside it that cannot be unpacked, it is damaged; left out"
    ]
    assert any(
        n.startswith("input-1: a folder holding ZIP archives, read from a temporary mirror with 1 archive(s)") for n in from_portal.notes
    )
    assert sorted(p.relative_to(portal) for p in portal.rglob("*")) == listing  # the input folder is only read
    written = " ".join(p.read_text(errors="ignore") for p in (tmp_path / "out").rglob("*") if p.suffix in (".csv", ".json"))
    assert "Doe_Jane" not in written and "broken" not in written
    assert not any("Doe_Jane" in m or "broken" in m or "studies" in m for m in from_portal.errors + from_portal.notes)
    # the same exam zipped twice over, named where it lies with --keep-phi
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as archive:
        archive.write(portal / "studies" / "Doe_Jane.ZIP", "inner/Doe_Jane.ZIP")
    kept = analyze([outer], tmp_path / "phi", AnalyzeConfig(seg=False, report=False, keep_phi=True))
    assert kept.analysed == from_folder.analysed and not kept.errors
    assert all(row["source"].startswith("input-1/inner/Doe_Jane.ZIP/Doe_Jane/") for row in _slices(tmp_path / "phi"))


def test_archives_nested_too_deep_stay_packed_with_a_note(tmp_path):
    from myomap.io.archives import MAX_DEPTH

    inner = tmp_path / "level0.zip"
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("map.dcm", b"x")
    for level in range(1, MAX_DEPTH + 2):  # MAX_DEPTH + 1 archives inside the outermost one
        outer = tmp_path / f"level{level}.zip"
        with zipfile.ZipFile(outer, "w") as archive:
            archive.write(inner, inner.name)
        inner = outer
    with unpacked_archives([inner], keep_names=False) as readable:
        assert readable.notes[0] == f"input-1: ZIP archives nested more than {MAX_DEPTH} deep left packed"
        assert len(list(readable.inputs[0].rglob("level0.zip"))) == 1 and not readable.errors


def test_a_folder_with_links_read_only_parts_and_the_temporary_folder_inside_is_mirrored_whole(tmp_path, monkeypatch):
    import os
    import stat
    import tempfile

    exam = tmp_path / "exam"
    (exam / "cd").mkdir(parents=True)
    (exam / "cd" / "IM0001").write_bytes(b"dicom-ish")
    with zipfile.ZipFile(exam / "study.zip", "w") as archive:
        archive.writestr("x/IM0002", b"zipped")
    (exam / "gone").symlink_to(tmp_path / "missing")  # dangling
    (exam / "cd" / "loop").symlink_to(exam)  # a loop
    (exam / "cd").chmod(stat.S_IRUSR | stat.S_IXUSR)  # read-only, as copied from a CD
    (exam / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(exam / "tmp"))  # TMPDIR inside the input
    before = sorted(str(p.relative_to(exam)) for p in exam.rglob("*"))
    try:
        with unpacked_archives([exam], keep_names=False) as readable:
            (mirror,) = readable.inputs
            assert not readable.errors, readable.errors
            assert (mirror / "cd" / "IM0001").read_bytes() == b"dicom-ish"
            assert (mirror / "study.zip" / "x" / "IM0002").read_bytes() == b"zipped"
            assert not any(p.name.startswith("myomap-unzip-") for p in (mirror / "tmp").iterdir())  # the mirror does not hold itself
        assert sorted(str(p.relative_to(exam)) for p in exam.rglob("*")) == before and (exam / "study.zip").is_file()
        assert (exam / "cd" / "IM0001").read_bytes() == b"dicom-ish"
    finally:
        os.chmod(exam / "cd", stat.S_IRWXU)


def test_an_archive_cut_short_is_a_damaged_archive_not_a_file_that_is_not_dicom(tmp_path):
    whole = tmp_path / "whole.zip"
    with zipfile.ZipFile(whole, "w") as archive:
        archive.writestr("T1_mid/map.dcm", bytes(range(256)) * 40)
    data = whole.read_bytes()
    cut = tmp_path / "download"  # an interrupted download, without its .zip
    cut.write_bytes(data[: len(data) // 2])
    assert not zipfile.is_zipfile(cut) and is_zip_archive(cut)
    folder = tmp_path / "portal"
    folder.mkdir()
    (folder / "study.zip").write_bytes(data[: len(data) // 2])
    with unpacked_archives([cut, folder], keep_names=False) as readable:
        assert readable.errors == [
            "input-1: a ZIP archive that cannot be unpacked, it is damaged; left out",
            "input-2: a ZIP archive inside it that cannot be unpacked, it is damaged; left out",
        ]


def test_links_beside_an_archive_are_read_from_the_mirror_and_the_input_is_not_written(tmp_path):
    store = tmp_path / "store"
    (store / "T1_mid").mkdir(parents=True)
    (store / "T1_mid" / "map.dcm").write_bytes(b"mid")
    with zipfile.ZipFile(store / "T1_mid" / "more.zip", "w") as archive:
        archive.writestr("IM0002", b"zipped")
    (store / "basal.dcm").write_bytes(b"basal")
    exam = tmp_path / "exam"
    exam.mkdir()
    with zipfile.ZipFile(exam / "study.zip", "w") as archive:
        archive.writestr("x/IM0001", b"zipped")
    (exam / "basal.dcm").symlink_to("../store/basal.dcm")  # relative: it would lead nowhere from a copied link
    (exam / "T1_mid").symlink_to("../store/T1_mid")
    (exam / "loop").symlink_to(".")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for keep_names, example in ((False, ""), (True, f" (e.g. {exam / 'loop'})")):
        with unpacked_archives([exam], keep_names=keep_names) as readable:
            (mirror,) = readable.inputs
            assert (mirror / "basal.dcm").read_bytes() == b"basal" and (mirror / "T1_mid" / "map.dcm").read_bytes() == b"mid"
            assert (mirror / "T1_mid" / "more.zip" / "IM0002").read_bytes() == b"zipped"  # unpacked in the mirror, not in the store
            assert not readable.errors and not any(p.is_symlink() for p in mirror.rglob("*"))
            name = str(exam) if keep_names else "input-1"
            assert readable.notes[0] == f"{name}: 1 link(s) leading nowhere or back to a folder already read, skipped{example}"
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
