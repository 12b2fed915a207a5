"""``myomap import-contours``: cvi42 workspace contours on synthetic DICOM exams into the data layout, and back through the loader."""

import csv
import zipfile

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid
from typer.testing import CliRunner

from myomap.analyze.import_contours import NOT_FOUND, ContourImportError, import_contours
from myomap.cli import app
from myomap.io.contours import read_contours
from myomap.io.cvi42 import ENDOCARDIAL, EPICARDIAL
from myomap.io.dataset import load_dataset
from myomap.io.synthetic import cvi42_workspace, enhanced_mr, mr_image, save

SPACING = (1.8, 1.4)  # (row, col) mm: different, so that a swap shows
SHAPE = (40, 48)  # rows, columns
SLOPE, INTERCEPT = 0.5, 10.0
PATIENT = "DOE^JOHN 1234"


def _stored(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(1000, 3000, SHAPE).astype(np.uint16)


def _series(folder, study, number, description, image_type, positions, *, patient=PATIENT, delays=None):
    """One series of single-frame images (one per position, or per trigger delay at one position); their SOPInstanceUIDs."""
    series_uid = generate_uid()
    uids = []
    for k, z in enumerate(positions):
        tags = {"TriggerTime": delays[k]} if delays else {}
        ds = mr_image(
            _stored(number * 10 + k), study_uid=study, series_uid=series_uid, series_number=number, description=description,
            image_type=image_type, position_mm=(0.0, 0.0, z), spacing_mm=SPACING, instance=k + 1,
            RescaleSlope=SLOPE, RescaleIntercept=INTERCEPT, PatientID=patient, **tags,
        )  # fmt: skip
        save(ds, folder / f"s{number}" / f"im{k}.dcm")
        uids.append(str(ds.SOPInstanceUID))
    return uids


@pytest.fixture
def exam(tmp_path):
    """Patient 1: T1 maps at three levels (z 0, -10, -20: base to apex), a T2 map at mid, a two-phase cine; patient 2: one T1 map."""
    root = tmp_path / "exams" / "DOE JOHN"
    study, other = generate_uid(), generate_uid()
    uids = {
        "t1": _series(root, study, 5, "MOLLI T1 MAP", ("DERIVED", "PRIMARY", "T1 MAP"), [0.0, -10.0, -20.0]),
        "t2": _series(root, study, 7, "T2 MAP", ("DERIVED", "PRIMARY", "T2 MAP"), [-10.0]),
        "cine": _series(root, study, 3, "cine sax", ("ORIGINAL", "PRIMARY", "M"), [-10.0, -10.0], delays=[0.0, 40.0]),
        "other": _series(tmp_path / "exams" / "ROE", other, 9, "T1 MAP", ("DERIVED", "PRIMARY", "T1 MAP"), [-5.0], patient="ROE^JANE"),
    }
    return tmp_path / "exams", uids


def _ring(cx: float, cy: float, radius: float, n: int = 24) -> list[tuple[int, int]]:
    """A closed contour as cvi42 stores it: whole numbers at SubpixelResolution 4, from the top-left pixel's corner."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return [(round((cx + radius * np.cos(a) + 0.5) * 4), round((cy + radius * np.sin(a) + 0.5) * 4)) for a in t]


def _lv(cx: float = 24.0, cy: float = 18.0) -> dict:
    return {EPICARDIAL: (_ring(cx, cy, 12.0), 4), ENDOCARDIAL: (_ring(cx, cy, 7.0), 4)}


def _expected(points) -> np.ndarray:
    return np.asarray(points, dtype=float) / 4 - 0.5


def _rows(out) -> list[dict]:
    return list(csv.DictReader((out / "manifest.csv").open()))


def test_contours_land_on_their_pixels_and_the_loader_reads_the_data_set(exam, tmp_path):
    root, uids = exam
    contours = {uid: _lv(20.0 + k, 15.0 + k) for k, uid in enumerate(uids["t1"] + uids["t2"] + uids["other"])}
    (tmp_path / "ws.cvi42wsx").write_bytes(cvi42_workspace(contours))
    inputs = sorted(p.stat().st_mtime_ns for p in root.rglob("*"))
    report = import_contours([root], [tmp_path / "ws.cvi42wsx"], tmp_path / "out")
    assert report.errors == [] and report.images == 5 and report.subjects == 2 and report.contoured == 5
    rows = _rows(tmp_path / "out")
    assert list(rows[0]) == ["subject", "map_type", "slice", "role", "image", "contours", "frame", "phase"]  # as import-labels writes
    t1 = [r for r in rows if r["subject"] == "patient-01" and r["map_type"] == "T1"]
    assert [(r["slice"], r["frame"], r["phase"]) for r in t1] == [("basal", "0", ""), ("mid", "1", ""), ("apical", "2", "")]
    (t2,) = [r for r in rows if r["map_type"] == "T2"]
    assert t2["slice"] == "mid" and t2["image"] == "patient-01/T2_mid_slice00/map.dcm"  # levels from the subject's T1 stack
    assert {r["subject"] for r in rows} == {"patient-01", "patient-02"}
    by_image = {r["image"]: r for r in rows}
    for uid in uids["t1"] + uids["t2"] + uids["other"]:
        row = next(r for r in rows if _source_uid(tmp_path / "out" / r["image"], root) == uid)
        saved = read_contours(tmp_path / "out" / row["contours"])
        np.testing.assert_allclose(saved.epi, _expected(contours[uid][EPICARDIAL][0]), atol=1e-4)
        np.testing.assert_allclose(saved.endo, _expected(contours[uid][ENDOCARDIAL][0]), atol=1e-4)
        assert saved.spacing_mm == pytest.approx(SPACING)
    images, errors = load_dataset(tmp_path / "out")
    assert errors == [] and len(images) == 5
    for image in images:
        row = by_image[image.source.relative_to(tmp_path / "out").as_posix()]
        original = pydicom.dcmread(_original(root, image.source))
        np.testing.assert_allclose(image.pixels, original.pixel_array * SLOPE + INTERCEPT)  # values kept through the rescale
        assert image.spacing_mm == pytest.approx(SPACING) and image.map_type == row["map_type"] and "reference" in image.contours
    overlay = cv2.imread(str(tmp_path / "out" / rows[0]["image"].replace("map.dcm", "overlay.png")))
    assert overlay is not None and (overlay[..., 1] > overlay[..., 2] + 80).any()  # a picture with the green epicardium drawn
    assert sorted(p.stat().st_mtime_ns for p in root.rglob("*")) == inputs  # the inputs are untouched
    assert not list((tmp_path / "out").rglob(".*partial*"))


def _original(root, written):
    """The input file a written image came from: the one with the same pixels (UIDs are replaced)."""
    pixels = pydicom.dcmread(written).pixel_array.astype(float) * float(pydicom.dcmread(written).RescaleSlope)
    pixels += float(pydicom.dcmread(written).RescaleIntercept)
    for path in root.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        if np.allclose(ds.pixel_array * SLOPE + INTERCEPT, pixels):
            return path
    raise AssertionError(f"no input has the pixels of {written}")


def _source_uid(written, root) -> str:
    return str(pydicom.dcmread(_original(root, written)).SOPInstanceUID)


def test_without_keep_phi_no_identifier_leaves_and_with_it_the_ids_stay(exam, tmp_path):
    root, uids = exam
    (tmp_path / "ws.cvi42wsx").write_bytes(cvi42_workspace({uid: _lv() for uid in uids["t1"]}))
    import_contours([root], [tmp_path / "ws.cvi42wsx"], tmp_path / "anon")
    written = pydicom.dcmread(tmp_path / "anon" / _rows(tmp_path / "anon")[0]["image"])
    original = pydicom.dcmread(root / "DOE JOHN" / "s5" / "im0.dcm")
    assert written.PatientID == "patient-01" and str(written.PatientName) == ""
    assert written.StudyInstanceUID != original.StudyInstanceUID and written.SOPInstanceUID not in uids["t1"]
    assert "MOLLI" not in written.SeriesDescription
    text = "".join(p.read_text() for p in (tmp_path / "anon").rglob("*.csv")) + str(list((tmp_path / "anon").rglob("*")))
    assert "DOE" not in text and "source" not in text
    import_contours([root], [tmp_path / "ws.cvi42wsx"], tmp_path / "phi", keep_phi=True)
    rows = _rows(tmp_path / "phi")
    assert {r["subject"] for r in rows} == {"DOE_JOHN_1234"} and rows[0]["source"] == "input-1/DOE JOHN/s5/im0.dcm"
    assert pydicom.dcmread(tmp_path / "phi" / rows[0]["image"]).StudyInstanceUID == original.StudyInstanceUID


def test_each_skip_reason_is_counted(exam, tmp_path):
    root, uids = exam
    t1, cine = uids["t1"], uids["cine"]
    first = {
        t1[0]: _lv(),
        t1[1]: {EPICARDIAL: _lv()[EPICARDIAL]},  # only one LV contour
        t1[2]: {EPICARDIAL: ([(1, 2), (3, 4)], 4), ENDOCARDIAL: _lv()[ENDOCARDIAL]},  # fewer than 3 points
        uids["t2"][0]: {EPICARDIAL: _lv()[EPICARDIAL], ENDOCARDIAL: ([(1, 2), (3, 4), ("nan", 1)], 4)},
        uids["other"][0]: _lv(cx=300.0),  # outside its 48 x 40 image
        cine[0]: _lv(),  # a cine: no map without --map-type
        generate_uid(): _lv(),  # an image not among the inputs
        generate_uid(): {"laepicardialContour": (_ring(10, 10, 5), 4)},
        generate_uid(): {"sarvendocardialContour": (_ring(10, 10, 5), 4)},
    }
    multi = enhanced_mr(
        [_stored(1), _stored(2)], [(0, 0, 0), (0, 0, -10)], study_uid=generate_uid(), series_uid=generate_uid(), series_number=11,
        image_type=("DERIVED", "PRIMARY", "T1 MAP", "NONE"), spacing_mm=SPACING,
    )  # fmt: skip
    save(multi, root / "DOE JOHN" / "multi.dcm")
    first[str(multi.SOPInstanceUID)] = _lv()  # which of its frames cvi42 meant is not known
    (tmp_path / "a.cvi42wsx").write_bytes(cvi42_workspace(first))
    (tmp_path / "b.cvi42wsx").write_bytes(cvi42_workspace({t1[0]: _lv(cx=10.0)}))  # the same image again
    report = import_contours([root], [tmp_path / "a.cvi42wsx", tmp_path / "b.cvi42wsx"], tmp_path / "out")
    assert report.errors == [] and report.images == 1 and report.contoured == 11
    assert dict(report.skipped) == {
        "a frame of a multi-frame file (cvi42 names the file, not the frame)": 1,
        "only one of the LV epi- and endocardial contours": 1,
        "contour with fewer than 3 points": 1,
        "contour with unreadable or non-finite point coordinates": 1,
        "contour outside its image (drawn on another image?)": 1,
        "series not a map: cine (--map-type T1 segments its cardiac phases, without T1 values)": 1,
        NOT_FOUND: 1,
        "long-axis contours only": 1,
        "no LV epi- or endocardial contour (other contours only)": 1,
        "image contoured again in a workspace (the first kept)": 1,
    }
    kept = read_contours(tmp_path / "out" / _rows(tmp_path / "out")[0]["contours"])
    np.testing.assert_allclose(kept.epi[0], [36.0, 18.0])  # the image contoured twice: the first workspace's contour


def test_levels_come_from_the_exams_stack_not_only_the_contoured_slices(exam, tmp_path):
    root, uids = exam
    (tmp_path / "ws.cvi42wsx").write_bytes(cvi42_workspace({uid: _lv() for uid in uids["t1"][1:]}))  # the basal slice left uncontoured
    import_contours([root], [tmp_path / "ws.cvi42wsx"], tmp_path / "out")
    rows = _rows(tmp_path / "out")
    assert [(r["slice"], r["frame"]) for r in rows] == [("mid", "1"), ("apical", "2")]  # as analyze labels the exam's three T1 maps


def test_an_enhanced_file_of_one_frame_is_imported(tmp_path):
    one = enhanced_mr(
        [_stored(1)], [(0, 0, 0)], study_uid=generate_uid(), series_uid=generate_uid(), series_number=11,
        image_type=("DERIVED", "PRIMARY", "T1 MAP", "NONE"), spacing_mm=SPACING,
    )  # fmt: skip
    save(one, tmp_path / "exam" / "one.dcm")
    (tmp_path / "ws.cvi42wsx").write_bytes(cvi42_workspace({str(one.SOPInstanceUID): _lv()}))  # its one frame: no doubt which
    report = import_contours([tmp_path / "exam"], [tmp_path / "ws.cvi42wsx"], tmp_path / "out")
    assert report.images == 1 and not report.skipped and report.errors == []
    (image,) = load_dataset(tmp_path / "out")[0]
    np.testing.assert_allclose(image.pixels, _stored(1))


def test_a_follow_up_study_is_the_later_subject_whatever_its_uid(tmp_path):
    dates = {"1.2.9": "20200101", "1.2.1": "20240101"}  # the follow-up's StudyInstanceUID sorts first
    uids = {study: _series(tmp_path / "exams" / study, study, 5, "T1 MAP", ("DERIVED", "PRIMARY", "T1 MAP"), [0.0])[0] for study in dates}
    for study, date in dates.items():
        path = tmp_path / "exams" / study / "s5" / "im0.dcm"
        ds = pydicom.dcmread(path)
        ds.StudyDate = date
        ds.save_as(path)
    (tmp_path / "ws.cvi42wsx").write_bytes(cvi42_workspace({uid: _lv() for uid in uids.values()}))
    import_contours([tmp_path / "exams"], [tmp_path / "ws.cvi42wsx"], tmp_path / "out", keep_phi=True)
    subjects = {r["source"].split("/")[1]: r["subject"] for r in _rows(tmp_path / "out")}
    assert subjects == {"1.2.9": "DOE_JOHN_1234", "1.2.1": "DOE_JOHN_1234-s2"}


def test_map_type_takes_a_cine_with_its_phases(exam, tmp_path):
    root, uids = exam
    (tmp_path / "ws.cvi42wsx").write_bytes(cvi42_workspace({uid: _lv() for uid in uids["cine"]}))
    with zipfile.ZipFile(tmp_path / "exam.zip", "w") as archive:  # the exam as a PACS hands it over
        for path in (root / "DOE JOHN").rglob("*.dcm"):
            archive.write(path, path.relative_to(root).as_posix())
    report = import_contours([tmp_path / "exam.zip"], [tmp_path / "ws.cvi42wsx"], tmp_path / "out", map_type="T2")
    rows = _rows(tmp_path / "out")
    assert report.errors == [] and [(r["map_type"], r["phase"], r["slice"]) for r in rows] == [("T2", "0", "mid"), ("T2", "1", "mid")]
    assert [r["image"] for r in rows] == ["patient-01/T2_mid_slice00_phase00/map.dcm", "patient-01/T2_mid_slice00_phase01/map.dcm"]


def test_a_cines_signal_gives_no_contrast_call_so_its_phases_join_the_native_t1_stack_as_in_analyze(exam, tmp_path):
    root, uids = exam
    for path in (root / "DOE JOHN" / "s3").glob("*.dcm"):  # the cine's signal at about 300: a post-contrast T1 level, were it ms
        ds = pydicom.dcmread(path)
        ds.RescaleSlope, ds.RescaleIntercept = 0.15, 0.0
        ds.save_as(path)
    (tmp_path / "ws.cvi42wsx").write_bytes(cvi42_workspace({uid: _lv() for uid in uids["cine"]}))
    report = import_contours([root / "DOE JOHN"], [tmp_path / "ws.cvi42wsx"], tmp_path / "out", map_type="T1")
    assert report.errors == []
    # The native T1 maps lie at z 0, -10 and -20; the cine at -10 is the second position of that stack.
    assert [r["image"] for r in _rows(tmp_path / "out")] == [
        "patient-01/T1_mid_slice01_phase00/map.dcm",
        "patient-01/T1_mid_slice01_phase01/map.dcm",
    ]


def test_command_reports_a_corrupt_workspace_and_imports_the_rest(exam, tmp_path, caplog):
    root, uids = exam
    (tmp_path / "good.cvi42wsx").write_bytes(cvi42_workspace({uid: _lv() for uid in uids["t1"]}))
    (tmp_path / "bad.cvi42wsx").write_bytes(cvi42_workspace({uid: _lv() for uid in uids["t2"]})[:-100])
    args = ["import-contours", str(root), "-w", str(tmp_path / "good.cvi42wsx"), "-w", str(tmp_path / "bad.cvi42wsx")]
    result = CliRunner().invoke(app, [*args, str(tmp_path / "DOE-missing"), "-o", str(tmp_path / "out")])
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and text.count("error:") == 2 and "not well-formed XML" in text and "no such file or folder" in text
    assert "DOE" not in text
    assert str(tmp_path) not in text and "bad.cvi42wsx" not in text and "file-" in text  # paths hidden without --keep-phi
    assert "3 images of 1 subjects imported" in caplog.text and len(_rows(tmp_path / "out")) == 3
    result = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "phi"), "--keep-phi"])
    assert result.exit_code == 1 and "bad.cvi42wsx: not well-formed XML" in " ".join(result.output.split())
    result = CliRunner().invoke(app, ["import-contours", str(root), "-w", str(tmp_path / "good.cvi42wsx"), "-o", str(tmp_path / "ok")])
    assert result.exit_code == 0, result.output


def test_names_inside_zip_archives_are_hidden_without_keep_phi(exam, tmp_path):
    root, uids = exam
    (tmp_path / "ws.cvi42wsx").write_bytes(cvi42_workspace({uid: _lv() for uid in uids["t1"]}))
    with zipfile.ZipFile(tmp_path / "exam.zip", "w") as archive:
        for path in (root / "DOE JOHN").rglob("*.dcm"):
            archive.write(path, path.relative_to(root).as_posix())
        archive.writestr("DOE JOHN/broken.dcm", b"not a DICOM file")  # an error line naming the member's path
    args = ["import-contours", str(tmp_path / "exam.zip"), "-w", str(tmp_path / "ws.cvi42wsx"), "-o", str(tmp_path / "out")]
    result = CliRunner().invoke(app, args)
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and text.count("error:") == 1 and "file-" in text
    assert "DOE" not in text and "myomap-unzip" not in text and len(_rows(tmp_path / "out")) == 3


def test_an_occupied_output_and_a_wrong_map_type_are_refused(exam, tmp_path):
    root, _ = exam
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(ContourImportError, match="not an empty folder"):
        import_contours([root], [tmp_path / "ws.cvi42wsx"], tmp_path / "busy")
    with pytest.raises(ContourImportError, match="map type"):
        import_contours([root], [tmp_path / "ws.cvi42wsx"], tmp_path / "out", map_type="T3")
    with pytest.raises(ContourImportError, match="no cvi42 workspace"):
        import_contours([root], [], tmp_path / "out")


def test_help_shows_an_example():
    result = CliRunner().invoke(app, ["import-contours", "--help"])
    assert result.exit_code == 0 and "Example" in result.output and "--workspace" in result.output


def test_pixel_origin_centre_takes_cvi42_points_as_pixel_centres(exam, tmp_path):
    root, uids = exam
    contours = {uids["t1"][0]: _lv()}
    (tmp_path / "ws.cvi42wsx").write_bytes(cvi42_workspace(contours))
    base = ["import-contours", str(root), "-w", str(tmp_path / "ws.cvi42wsx")]
    for origin, shift in (("corner", 0.5), ("centre", 0.0)):
        result = CliRunner().invoke(app, [*base, "-o", str(tmp_path / origin), "--pixel-origin", origin])
        assert result.exit_code == 0, result.output
        written = read_contours(tmp_path / origin / _rows(tmp_path / origin)[0]["contours"])
        np.testing.assert_allclose(written.epi, np.asarray(contours[uids["t1"][0]][EPICARDIAL][0], float) / 4 - shift)
    result = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "bad"), "--pixel-origin", "middle"])
    assert result.exit_code == 2 and "corner or centre" in " ".join(result.output.split()) and not (tmp_path / "bad").exists()


def test_an_import_of_nothing_fails_instead_of_leaving_an_earlier_manifest_standing(exam, tmp_path):
    root, uids = exam
    (tmp_path / "ws.cvi42wsx").write_bytes(cvi42_workspace({uids["t1"][0]: _lv()}))
    out = tmp_path / "out"
    assert CliRunner().invoke(app, ["import-contours", str(root), "-w", str(tmp_path / "ws.cvi42wsx"), "-o", str(out)]).exit_code == 0
    earlier = (out / "manifest.csv").read_text()
    (tmp_path / "other.cvi42wsx").write_bytes(cvi42_workspace({"1.2.3.4.5": _lv()}))  # re-anonymised exams: no UID matches
    args = ["import-contours", str(root), "-w", str(tmp_path / "other.cvi42wsx"), "-o", str(out), "--overwrite"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "nothing imported" in " ".join(result.output.split())
    assert (out / "manifest.csv").read_text() == earlier  # untouched, and the exit code says it is not this import's


def test_an_eight_bit_rendering_of_a_map_is_an_error_line_not_a_map_in_ms(tmp_path):
    """As ``analyze`` refuses it (a screenshot or lossy JPEG copy holds grey levels, not ms), so does the import."""
    study = generate_uid()
    uids = {}
    for number, bits in ((5, 16), (6, 8)):
        ds = mr_image(np.full(SHAPE, 100), study_uid=study, series_uid=generate_uid(), series_number=number, description="T1 MAP",
                      image_type=("DERIVED", "PRIMARY", "T1 MAP"), position_mm=(0.0, 0.0, float(number)), spacing_mm=SPACING)  # fmt: skip
        ds.BitsAllocated = ds.BitsStored = bits
        ds.HighBit = bits - 1
        ds.PixelData = np.full(SHAPE, 100, np.uint8 if bits == 8 else np.uint16).tobytes()
        save(ds, tmp_path / "exam" / f"s{number}.dcm")
        uids[bits] = str(ds.SOPInstanceUID)
    (tmp_path / "ws.cvi42wsx").write_bytes(cvi42_workspace({uid: _lv() for uid in uids.values()}))
    report = import_contours([tmp_path / "exam"], [tmp_path / "ws.cvi42wsx"], tmp_path / "out")
    assert len(report.errors) == 1 and "stored in 8 bits without a value mapping" in report.errors[0]  # its name hidden: no --keep-phi
    # the 16-bit map, alone in the exam as analyze reads it: the rendering is no slice, so no position either
    assert [r["image"] for r in _rows(tmp_path / "out")] == ["patient-01/T1_mid_slice00/map.dcm"]


def test_a_map_with_pixels_without_a_value_keeps_its_own_scaling_where_0_ms_can_be_stored():
    from myomap.analyze.import_contours import _scaling

    values = np.array([[np.nan, 1000.5], [1200.0, 12.5]], np.float32)  # a failed fit beside values in 0.5 ms steps
    assert _scaling(values, 0.5, 0.0) == (0.5, 0.0)  # it fell back to 65,535 steps over the range
    assert _scaling(values, 0.5, 10.0) != (0.5, 10.0)  # 0 ms lies below a positive intercept: not storable
