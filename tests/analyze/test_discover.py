import shutil

import numpy as np
import pydicom
import pytest

from myomap.analyze.discover import discover


def test_phantom_maps_are_found_grouped_and_ordered_base_to_apex(cohort):
    found = discover([cohort])
    assert not found.errors
    assert len(found.patients) == 3
    for slices in found.patients.values():
        assert [(s.map_type, s.slice_position) for s in slices] == [(m, p) for m in ("T1", "T2") for p in ("basal", "mid", "apical")]
        # The phantom's folder names are the truth; the order came from the DICOM geometry alone.
        assert all(s.path.parent.name == f"{s.map_type}_{s.slice_position}" for s in slices)
    # Every weighted series has its scanner map: no --fit-missing hint, and the table says why they are not fitted.
    assert not any("--fit-missing" in n for n in found.notes)
    kinds = sorted({(r.kind, r.action) for r in found.series if "weighted" in r.kind})
    assert kinds == [("T1 weighted", "not fitted: the scanner's map is used"), ("T2 weighted", "not fitted: the scanner's map is used")]
    assert sum(r.kind.endswith("map") for r in found.series) == 18 and all(
        r.action == "analyse 1 slice(s)" for r in found.series if r.kind.endswith("map")
    )


def test_order_does_not_depend_on_file_names(cohort, tmp_path):
    # Copy one subject's T1 maps under scrambled names: the order must still come from the geometry.
    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    for k, position in enumerate(("apical", "basal", "mid")):
        shutil.copy(subject / f"T1_{position}" / "map.dcm", tmp_path / f"{k}.dcm")
    slices = next(iter(discover([tmp_path]).patients.values()))
    positions = {s.path.name: s.slice_position for s in slices}
    assert positions == {"0.dcm": "apical", "1.dcm": "basal", "2.dcm": "mid"}


def test_a_map_is_never_guessed_from_its_value_range(cohort, tmp_path):
    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    ds = pydicom.dcmread(subject / "T2_mid" / "map.dcm")
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.SeriesDescription = "series 7"
    ds.save_as(tmp_path / "x.dcm")
    found = discover([tmp_path])
    assert not found.patients and not found.errors
    assert [(r.kind, r.action) for r in found.series] == [("not relevant: no map type or preparation time in the header", "skip")]
    assert any("1 series (1 images) skipped as not relevant" in n for n in found.notes)
    slices = next(iter(discover([tmp_path], map_type="T2").patients.values()))  # the user says so
    assert [s.map_type for s in slices] == ["T2"]


def test_a_fit_that_gives_no_pixel_a_value_is_an_error_not_a_slice(cohort, tmp_path, monkeypatch):
    import types

    import myomap.mapping.pipeline

    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    shutil.copytree(subject / "T2_mid", tmp_path / "T2_mid")
    (tmp_path / "T2_mid" / "map.dcm").unlink()
    nothing = np.full(pydicom.dcmread(tmp_path / "T2_mid" / "weighted_1.dcm").pixel_array.shape, np.nan)
    monkeypatch.setattr(myomap.mapping.pipeline, "fit_series", lambda *_, **__: types.SimpleNamespace(t1_ms=nothing, t2_ms=nothing))
    found = discover([tmp_path], fit_missing=True)
    assert not found.patients
    assert len(found.errors) == 1 and found.errors[0].endswith(": the T2 fit gave no pixel a value"), found.errors


@pytest.mark.slow
def test_fit_missing_fits_maps_only_where_the_scanner_map_is_missing(cohort, tmp_path):
    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    shutil.copytree(subject / "T2_mid", tmp_path / "T2_mid")
    shutil.copytree(subject / "T2_basal", tmp_path / "T2_basal")
    (tmp_path / "T2_mid" / "map.dcm").unlink()
    # Siemens exports the motion-corrected images of a slice as a series of their own: one map is fitted, from those.
    moco_uid = pydicom.uid.generate_uid()
    (tmp_path / "T2_mid_moco").mkdir()
    for path in sorted((tmp_path / "T2_mid").glob("weighted_*.dcm")):
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID, ds.SOPInstanceUID = moco_uid, pydicom.uid.generate_uid()
        ds.SeriesDescription, ds.SeriesNumber = f"{ds.SeriesDescription}_MOCO", ds.SeriesNumber + 1
        ds.save_as(tmp_path / "T2_mid_moco" / path.name)
    found = discover([tmp_path], fit_missing=True)
    assert not found.errors, found.errors
    slices = next(iter(found.patients.values()))
    origins = sorted((s.path.parent.name, s.origin) for s in slices)
    assert origins == [("T2_basal", "scanner"), ("T2_mid_moco", "fitted")]
    fitted = next(s for s in slices if s.origin == "fitted")
    truth = np.load(subject / "T2_mid" / "truth.npz")
    pure = truth["myocardium_fraction"] >= 0.99
    assert abs(np.median(fitted.pixels[pure]) - np.median(truth["t2_true_ms"][pure])) < 2.0
    actions = sorted(r.action for r in found.series if "weighted" in r.kind)
    assert actions == ["fitted", "not fitted: another series of this slice is fitted", "not fitted: the scanner's map is used"]
    # A motion-corrected series that cannot be fitted leaves the slice to its raw images.
    for path in (tmp_path / "T2_mid_moco").glob("*.dcm"):
        ds = pydicom.dcmread(path)
        del ds.PixelSpacing
        ds.save_as(path)
    found = discover([tmp_path], fit_missing=True)
    assert len(found.errors) == 1 and "missing PixelSpacing" in found.errors[0]
    slices = next(iter(found.patients.values()))
    assert sorted((s.path.parent.name, s.origin) for s in slices) == [("T2_basal", "scanner"), ("T2_mid", "fitted")]


@pytest.mark.slow
def test_fit_missing_fits_the_native_and_the_post_contrast_acquisition_of_one_slice(contrast_cohort, tmp_path):
    subject = contrast_cohort / "sub-001"
    for name in ("T1_mid", "T1post_mid", "T1_basal", "T1post_basal"):
        shutil.copytree(subject / name, tmp_path / name)
    for name in ("T1_mid", "T1post_mid", "T1post_basal"):
        (tmp_path / name / "map.dcm").unlink()  # weighted images only, beside the native basal scanner map
    found = discover([tmp_path], fit_missing=True)
    assert not found.errors, found.errors
    slices = next(iter(found.patients.values()))
    # One key per slice position dropped the native mid series (or, beside a scanner map, the post basal one).
    assert sorted((s.path.parent.name, s.origin, s.contrast) for s in slices) == [
        ("T1_basal", "scanner", "native"), ("T1_mid", "fitted", "native"),
        ("T1post_basal", "fitted", "post"), ("T1post_mid", "fitted", "post"),
    ]  # fmt: skip
    # Names that do not tell the states apart: the acquisition times do (20 min apart: two acquisitions; 1 min: one).
    for name, when in (("T1_mid", "100000"), ("T1post_mid", "102000"), ("T1post_basal", "102100"), ("T1_basal", "100100")):
        for path in (tmp_path / name).glob("*.dcm"):
            ds = pydicom.dcmread(path)
            ds.SeriesDescription, ds.AcquisitionTime = ds.SeriesDescription.replace("_post", ""), when
            ds.save_as(path)
    found = discover([tmp_path], fit_missing=True)
    slices = next(iter(found.patients.values()))
    assert sorted((s.path.parent.name, s.origin) for s in slices) == [
        ("T1_basal", "scanner"), ("T1_mid", "fitted"), ("T1post_basal", "fitted"), ("T1post_mid", "fitted"),
    ]  # fmt: skip
    for path in (tmp_path / "T1post_mid").glob("*.dcm"):  # a repeat a minute after the first: one acquisition, the later fitted
        ds = pydicom.dcmread(path)
        ds.AcquisitionTime = "100100"
        ds.save_as(path)
    found = discover([tmp_path], fit_missing=True)
    assert sorted(s.path.parent.name for s in next(iter(found.patients.values()))) == ["T1_basal", "T1post_basal", "T1post_mid"]


def test_raw_images_and_non_images_are_skipped_with_one_line_each_kind(cohort, tmp_path):
    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    ds = pydicom.dcmread(subject / "T1_mid" / "map.dcm")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M"]
    ds.SeriesDescription = "t1map_molli_sax"  # a protocol name, not a map
    ds.save_as(tmp_path / "raw.dcm")
    ds = pydicom.dcmread(subject / "T1_mid" / "map.dcm")
    for keyword in ("Rows", "Columns", "PixelData"):
        delattr(ds, keyword)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"  # Media Storage Directory
    del ds.Modality
    ds.save_as(tmp_path / "DICOMDIR_like.dcm")
    found = discover([tmp_path])
    assert not found.errors and not found.patients
    assert any("1 series (1 images) skipped as not relevant" in n for n in found.notes)
    assert any("DICOMDIR_like.dcm" in n and "without an image" in n for n in found.notes)


@pytest.mark.parametrize(
    "sop_class, modality",
    [
        ("1.2.840.10008.5.1.4.1.1.88.33", "SR"),  # Comprehensive SR
        ("1.2.840.10008.5.1.4.1.1.11.1", "PR"),  # Grayscale Softcopy Presentation State
        ("1.2.840.10008.5.1.4.1.1.104.1", "DOC"),  # Encapsulated PDF
        ("1.3.12.2.1107.5.9.1", "MR"),  # Siemens CSA Non-Image: says MR, holds no image
        ("1.2.840.10008.5.1.4.1.1.4.2", "MR"),  # MR Spectroscopy
        ("1.2.840.10008.5.1.4.1.1.66", "MR"),  # Raw Data
    ],
)
def test_non_image_objects_of_an_exam_stay_a_note(cohort, tmp_path, sop_class, modality):
    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    shutil.copy(subject / "T1_mid" / "map.dcm", tmp_path / "map.dcm")
    ds = pydicom.dcmread(subject / "T1_mid" / "map.dcm")
    for keyword in ("Rows", "Columns", "PixelData"):
        delattr(ds, keyword)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.Modality = modality
    ds.save_as(tmp_path / "object.dcm")
    found = discover([tmp_path])
    assert not found.errors and len(next(iter(found.patients.values()))) == 1
    assert any("object.dcm" in n and "without an image" in n for n in found.notes)


def test_an_mr_image_without_pixels_and_garbage_after_the_dicm_prefix_are_errors(cohort, tmp_path):
    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    shutil.copy(subject / "T1_mid" / "map.dcm", tmp_path / "map.dcm")
    ds = pydicom.dcmread(subject / "T1_basal" / "map.dcm")
    ds.Rows, ds.Columns, ds.PixelData = 0, 0, b""
    ds.save_as(tmp_path / "empty.dcm")
    del ds.Modality  # the SOP class alone says MR image
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(tmp_path / "empty_no_modality.dcm")
    # Bytes that pydicom reads as elements of unknown tags: damaged, not an object without an image.
    garbage = np.random.default_rng(3).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    (tmp_path / "garbage.dcm").write_bytes(b"\0" * 128 + b"DICM" + garbage)
    found = discover([tmp_path])
    assert len(found.errors) == 3, found.errors
    for name, words in (
        ("empty.dcm", "an MR image without pixels (Rows 0, Columns 0)"),
        ("empty_no_modality.dcm", "an MR image without pixels"),
        ("garbage.dcm", "not a readable DICOM file"),
    ):
        assert sum(e.startswith(f"{tmp_path / name}: ") and words in e for e in found.errors) == 1, (name, found.errors)
    assert not any("without an image" in n for n in found.notes)
    assert len(next(iter(found.patients.values()))) == 1  # the good map is still analysed
