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
    ds.save_as(tmp_path / "DICOMDIR_like.dcm")
    found = discover([tmp_path])
    assert not found.errors and not found.patients
    assert any("1 series (1 images) skipped as not relevant" in n for n in found.notes)
    assert any("DICOMDIR_like.dcm" in n and "without an image" in n for n in found.notes)
