"""The PHI canary test: no identifying attribute of PS3.15 Annex E, private tag or path reaches any output byte."""

import logging
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from typer.testing import CliRunner

from myomap.analyze.canary import PATH_CANARY, UID_ROOT, add_canaries, canary_hits, write_canary_exam
from myomap.analyze.deid import Deidentifier
from myomap.analyze.exports import SegWriter
from myomap.analyze.names import SourceNames
from myomap.cli import app
from myomap.geometry.masks import contours_to_mask


@pytest.fixture(scope="module")
def canary_exam(cohort, tmp_path_factory) -> Path:
    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    return write_canary_exam(subject, tmp_path_factory.mktemp("canary"))


def test_the_canary_exam_carries_every_kind_of_identifier(canary_exam):
    ds = pydicom.dcmread(next(canary_exam.rglob("map.dcm")))
    for keyword in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "InstitutionName",
        "StationName",
        "DeviceSerialNumber",
        "AccessionNumber",
        "OperatorsName",
    ):
        assert "CNRY" in str(ds.get(keyword)) or str(ds.get(keyword)).startswith("18"), keyword
    assert ds.StudyInstanceUID.startswith(UID_ROOT) and ds.SOPInstanceUID.startswith(UID_ROOT)
    assert any(element.tag.is_private for element in ds)
    assert canary_hits(canary_exam.parent), "the search must find the canaries in the inputs themselves"


@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["--no-seg"], ["--keep-dates"]], ids=["with-seg", "no-seg", "keep-dates"])
def test_no_canary_in_any_output_byte_or_log(canary_exam, tmp_path, extra, caplog):
    caplog.set_level(logging.DEBUG)  # every log record of every library, as --verbose shows them
    out = tmp_path / "out"
    broken = canary_exam / f"{PATH_CANARY}-broken.dcm"  # an error line must not name the path either
    broken.write_bytes(b"not dicom" * 40)
    try:
        result = CliRunner().invoke(app, ["-v", "analyze", str(canary_exam), "-o", str(out), *extra])
    finally:
        broken.unlink()
    assert result.exit_code == 1, result.output  # the broken file failed, the six maps did not
    assert len(list(out.rglob("seg.dcm"))) == (0 if "--no-seg" in extra else 6)
    assert "not a readable DICOM" in result.output and caplog.records
    assert canary_hits(out, result.output + caplog.text, dates="--keep-dates" not in extra) == []


@pytest.mark.slow
def test_keep_phi_keeps_them(canary_exam, tmp_path):
    """The same search finds the canaries when the user asks to keep them: the check can fail."""
    out = tmp_path / "kept"
    result = CliRunner().invoke(app, ["analyze", str(canary_exam), "-o", str(out), "--keep-phi"])
    assert result.exit_code == 0, result.output
    hits = {pattern for _, pattern in canary_hits(out)}
    assert {"CNRY", UID_ROOT} <= hits


def test_private_tags_and_nested_uids_are_handled(cohort, tmp_path):
    ds = pydicom.dcmread(sorted(cohort.glob("sub-*/T1_mid/map.dcm"))[0])
    add_canaries(ds, 0)
    reference = ds.SourceImageSequence[0]
    reference.ReferencedSOPClassUID, reference.ReferencedSOPInstanceUID = ds.SOPClassUID, f"{UID_ROOT}.5.5"
    inner = pydicom.Dataset()
    inner.ReferencedSOPInstanceUID = f"{UID_ROOT}.5.6"
    ds.ReferencedSeriesSequence = [pydicom.Dataset()]  # not in the profile's table: its items are cleaned all the same
    ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence = [inner]
    deid = Deidentifier("secret")
    before = ds.SOPInstanceUID
    deid.apply(ds, "patient-07")
    assert not any(element.tag.is_private for element in ds)
    assert ds.PatientName == "patient-07^" and ds.PatientIdentityRemoved == "YES"
    assert ds.SOPInstanceUID == deid.remap(before) == Deidentifier("secret").remap(before) != Deidentifier("other").remap(before)
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    kept = ds.SourceImageSequence[0]
    assert kept.ReferencedSOPInstanceUID == deid.remap(f"{UID_ROOT}.5.5") and kept.ReferencedSOPClassUID == ds.SOPClassUID
    assert "CodeMeaning" not in kept  # a reference keeps only its UIDs and numbers
    assert inner.ReferencedSOPInstanceUID == deid.remap(f"{UID_ROOT}.5.6")


def test_a_deidentified_seg_keeps_its_frames_tied_to_the_source_copy(cohort, tmp_path):
    source = sorted(cohort.glob("sub-*/T1_mid/map.dcm"))[0]
    shape = pydicom.dcmread(source).pixel_array.shape
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    circle = lambda r: np.column_stack([shape[1] / 2 + r * np.cos(t), shape[0] / 2 + r * np.sin(t)])  # noqa: E731
    labels = contours_to_mask(circle(20), circle(12), shape)
    SegWriter("settings", Deidentifier("secret")).write(
        tmp_path, source, labels, patient="patient-01", number=1, name="T1 mid 02", review=False
    )
    seg, copy = hd.seg.segread(tmp_path / "seg.dcm"), pydicom.dcmread(tmp_path / "source.dcm")
    reference = seg.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence[0]
    assert reference.ReferencedSOPInstanceUID == copy.SOPInstanceUID
    # The Derivation Image macro's purpose code, and the flag highdicom needs to index the frames by their source.
    assert reference.PurposeOfReferenceCodeSequence[0].CodeValue == "121322" and reference.SpatialLocationsPreserved == "YES"
    pixels = seg.get_pixels_by_source_instance([copy.SOPInstanceUID], combine_segments=True)[0]
    np.testing.assert_array_equal(pixels, labels)


def test_the_source_copy_shares_the_frame_of_reference_the_seg_gives_a_map_without_one(cohort, tmp_path):
    ds = pydicom.dcmread(sorted(cohort.glob("sub-*/T1_mid/map.dcm"))[0])
    del ds.FrameOfReferenceUID  # some exports leave it out; the SEG IOD requires one
    ds.save_as(tmp_path / "map.dcm", enforce_file_format=True)
    labels = np.zeros(ds.pixel_array.shape, np.uint8)
    labels[10:20, 10:20], labels[13:17, 13:17] = 1, 2
    SegWriter("settings", Deidentifier("secret")).write(
        tmp_path, tmp_path / "map.dcm", labels, patient="patient-01", number=1, name="T1 mid 02", review=False
    )
    seg, copy = pydicom.dcmread(tmp_path / "seg.dcm"), pydicom.dcmread(tmp_path / "source.dcm")
    assert seg.FrameOfReferenceUID and copy.get("FrameOfReferenceUID") == seg.FrameOfReferenceUID


def test_a_map_without_series_uid_gets_a_seg_referencing_its_copy_under_one_uid_per_series(cohort, tmp_path):
    """A de-identifier stripped SeriesInstanceUID (Type 1): the SEG was 'not written (AttributeError)' on every slice."""
    found = []
    for k in range(2):  # two maps of one series (same study, number and description)
        ds = pydicom.dcmread(sorted(cohort.glob("sub-*/T1_mid/map.dcm"))[0])
        del ds.SeriesInstanceUID
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(tmp_path / f"map{k}.dcm", enforce_file_format=True)
        labels = np.zeros(ds.pixel_array.shape, np.uint8)
        labels[10:20, 10:20], labels[13:17, 13:17] = 1, 2
        (tmp_path / f"out{k}").mkdir()
        SegWriter("settings", Deidentifier("secret")).write(
            tmp_path / f"out{k}", tmp_path / f"map{k}.dcm", labels, patient="patient-01", number=k + 1, name="T1 mid 02", review=False
        )
        seg, copy = pydicom.dcmread(tmp_path / f"out{k}" / "seg.dcm"), pydicom.dcmread(tmp_path / f"out{k}" / "source.dcm")
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == copy.SeriesInstanceUID
        found.append(copy.SeriesInstanceUID)
    assert found[0] == found[1]


def test_source_names_hide_paths_without_keep_phi(tmp_path):
    root = tmp_path / "Doe_John"
    (root / "a").mkdir(parents=True)
    hidden = SourceNames([root], keep_phi=False, hasher=lambda text: "h" + str(len(text)))
    shown = SourceNames([root], keep_phi=True, hasher=str)
    path = root / "a" / "x.dcm"
    assert shown.name(path) == "input-1/a/x.dcm" and hidden.name(path).startswith("file-h")
    assert hidden.scrub(f"{path}: broken; {root}: no maps") == f"{hidden.name(path)}: broken; {hidden.name(root)}: no maps"
    assert "Doe_John" not in hidden.scrub(f"{path}: broken")
    note = f"2 file(s) are not DICOM (e.g. {path}, {root / 'b.txt'}); skipped"
    assert hidden.scrub(note) == f"2 file(s) are not DICOM (e.g. {hidden.name(path)}, {hidden.name(root / 'b.txt')}); skipped"


def test_source_names_hide_paths_whose_folders_hold_commas_and_colons(tmp_path):
    # PACS exports name folders "DOE, JOHN"; a path in a message then holds the separators a message uses.
    hidden = SourceNames([tmp_path], keep_phi=False, hasher=lambda text: "h" + str(len(text)))
    for folder in ("Doe, John", "Doe: John"):
        (tmp_path / folder).mkdir()
        there, gone = tmp_path / folder / "IM0001.dcm", tmp_path / folder / "IM0002.dcm"
        there.write_bytes(b"")
        for path in (there, gone):  # a file on disk, and one removed since (its folder is there)
            line = hidden.scrub(f"{path}: missing PixelSpacing (0028,0030), e.g. {tmp_path / 'b.dcm'}")
            assert line == f"{hidden.name(path)}: missing PixelSpacing (0028,0030), e.g. {hidden.name(tmp_path / 'b.dcm')}"
            assert "John" not in line


def test_canaries_hidden_in_images_inside_a_page_are_found(tmp_path):
    import base64
    import io

    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "Doe^CNRY")
    png = io.BytesIO()
    Image.new("L", (4, 4)).save(png, format="PNG", pnginfo=info)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><text>CNRY patient</text></svg>'
    for mime, payload in (("image/png", png.getvalue()), ("image/svg+xml", svg)):
        page = tmp_path / mime.replace("/", "_") / "report.html"
        page.parent.mkdir()
        page.write_text(f'<img src="data:{mime};base64,{base64.b64encode(payload).decode()}">')
        assert canary_hits(page.parent) == [(str(page), "CNRY")], mime


def test_a_relative_input_named_like_a_word_hides_the_path_not_the_word(cohort, tmp_path, monkeypatch):
    maps = tmp_path / "maps"  # weighted images only: "maps: no T1 or T2 maps found"
    maps.mkdir()
    for path in sorted((cohort / "sub-001" / "T1_mid").glob("weighted_*.dcm"))[:2]:
        (maps / path.name).write_bytes(path.read_bytes())
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["analyze", "maps", "-o", "out"])
    assert result.exit_code != 0
    line = " ".join(result.output.split())
    assert "no T1 or T2 maps found" in line and "error: file-" in line, line  # the word kept, the path hidden


def test_source_names_keep_the_frame_a_message_names_after_a_file(tmp_path):
    # A multi-frame file's slices are told apart by their frame; hashed with the path, "x.dcm frame 12" named no file.
    (tmp_path / "Doe John").mkdir()
    path = tmp_path / "Doe John" / "x.dcm"
    path.write_bytes(b"")
    hidden = SourceNames([tmp_path], keep_phi=False, hasher=lambda text: "h" + str(len(text)))
    for frame in ("frame 12", "slice 3", "slice 3 volume 2"):
        assert hidden.scrub(f"{path} {frame}: no left ventricle found") == f"{hidden.name(path)} {frame}: no left ventricle found"
    gone = tmp_path / "Doe John" / "y.dcm"  # a file gone since: hashed whole, as before
    assert "John" not in hidden.scrub(f"{gone} frame 2: unreadable")
