import shutil

import numpy as np
import pydicom
import pytest

from myomap.analyze.discover import discover, map_type_from_values


def test_phantom_maps_are_found_grouped_and_ordered_base_to_apex(cohort):
    found = discover([cohort])
    assert not found.errors
    assert len(found.patients) == 3
    for slices in found.patients.values():
        assert [(s.map_type, s.slice_position) for s in slices] == [(m, p) for m in ("T1", "T2") for p in ("basal", "mid", "apical")]
        # The phantom's folder names are the truth; the order came from the DICOM geometry alone.
        assert all(s.path.parent.name == f"{s.map_type}_{s.slice_position}" for s in slices)
    assert any("weighted image(s)" in n for n in found.notes)


def test_order_does_not_depend_on_file_names(cohort, tmp_path):
    # Copy one subject's T1 maps under scrambled names: the order must still come from the geometry.
    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    for k, position in enumerate(("apical", "basal", "mid")):
        shutil.copy(subject / f"T1_{position}" / "map.dcm", tmp_path / f"{k}.dcm")
    slices = next(iter(discover([tmp_path]).patients.values()))
    positions = {s.path.name: s.slice_position for s in slices}
    assert positions == {"0.dcm": "apical", "1.dcm": "basal", "2.dcm": "mid"}


def test_map_type_from_values():
    rng = np.random.default_rng(0)
    assert map_type_from_values(rng.normal(1000, 100, (32, 32))) == "T1"
    assert map_type_from_values(rng.normal(50, 5, (32, 32))) == "T2"
    assert map_type_from_values(np.zeros((32, 32))) is None


def test_unlabelled_map_recognised_by_value_range(cohort, tmp_path):
    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    ds = pydicom.dcmread(subject / "T2_mid" / "map.dcm")
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.SeriesDescription = "series 7"
    ds.save_as(tmp_path / "x.dcm")
    slices = next(iter(discover([tmp_path]).patients.values()))
    assert [s.map_type for s in slices] == ["T2"]


@pytest.mark.slow
def test_fit_missing_fits_maps_only_where_the_scanner_map_is_missing(cohort, tmp_path):
    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    shutil.copytree(subject / "T2_mid", tmp_path / "T2_mid")
    shutil.copytree(subject / "T2_basal", tmp_path / "T2_basal")
    (tmp_path / "T2_mid" / "map.dcm").unlink()
    found = discover([tmp_path], fit_missing=True)
    assert not found.errors, found.errors
    slices = next(iter(found.patients.values()))
    origins = sorted((s.path.parent.name, s.origin) for s in slices)
    assert origins == [("T2_basal", "scanner"), ("T2_mid", "fitted")]
    fitted = next(s for s in slices if s.origin == "fitted")
    truth = np.load(subject / "T2_mid" / "truth.npz")
    pure = truth["myocardium_fraction"] >= 0.99
    assert abs(np.median(fitted.pixels[pure]) - np.median(truth["t2_true_ms"][pure])) < 2.0
    assert any("not fitted" in n for n in found.notes)  # T2_basal has its scanner map


def test_raw_images_and_non_images_are_skipped_with_a_note(cohort, tmp_path):
    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    ds = pydicom.dcmread(subject / "T1_mid" / "map.dcm")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M"]
    ds.SeriesDescription = "t1map_molli_sax"  # a protocol name, not a map
    ds.save_as(tmp_path / "raw.dcm")
    ds = pydicom.dcmread(subject / "T1_mid" / "map.dcm")
    for keyword in ("Rows", "Columns", "PixelData"):
        delattr(ds, keyword)
    ds.save_as(tmp_path / "DICOMDIR_like.dcm")
    found = discover([tmp_path])
    assert not found.errors and not found.patients
    assert any("raw.dcm" in n and "original image" in n for n in found.notes)
    assert any("DICOMDIR_like.dcm" in n and "not an image" in n for n in found.notes)
