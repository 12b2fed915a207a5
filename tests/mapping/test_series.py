import shutil

import numpy as np
import pydicom
import pytest

from myomap.mapping.series import SeriesError, find_dicom_files, group_series, read_series


def _slice(cohort, map_type="T1", position="mid"):
    return cohort / "sub-001" / f"{map_type}_{position}"


def test_groups_one_series_per_slice_and_skips_maps(cohort):
    files, errors = find_dicom_files([cohort / "sub-001"])
    assert not errors
    assert not any(f.suffix in (".json", ".npz") for f in files)
    groups, errors, notes = group_series(files)
    assert not errors
    assert len(groups) == 6  # 3 slices x (MOLLI, T2prep)
    assert len(notes) == 6 and all("a map" in n for n in notes)
    assert sorted(len(g) for g in groups.values()) == [3, 3, 3, 8, 8, 8]


def test_reads_times_from_dicom_and_sorts(cohort):
    files = sorted(_slice(cohort).glob("weighted_*.dcm"), reverse=True)
    series = read_series("s", files, "molli")
    assert series.time_source == "InversionTime"
    assert np.all(np.diff(series.times_ms) > 0)
    t2 = read_series("s", sorted(_slice(cohort, "T2").glob("weighted_*.dcm")), "t2")
    assert t2.time_source == "ImageComments T2prep"
    np.testing.assert_allclose(t2.times_ms, [0, 25, 55])


def test_ti_in_image_comments_is_understood(cohort, tmp_path):
    for k, f in enumerate(sorted(_slice(cohort).glob("weighted_*.dcm"))):
        ds = pydicom.dcmread(f)
        ti = float(ds.InversionTime)
        del ds.InversionTime
        ds.ImageComments = f"TI = {ti:.0f}"
        ds.save_as(tmp_path / f"w{k}.dcm")
    series = read_series("s", sorted(tmp_path.glob("*.dcm")), "molli")
    assert series.time_source == "ImageComments TI" and series.times_ms.size == 8


@pytest.mark.parametrize(
    "times, message",
    [([1, 2], "2 times given for 3 images"), ([0, 25, 25], "duplicate times"), ([0, -25, 55], "negative time")],
)
def test_bad_times(cohort, times, message):
    files = sorted(_slice(cohort, "T2").glob("weighted_*.dcm"))
    with pytest.raises(SeriesError, match=message):
        read_series("s", files, "t2", times)


def test_too_few_images(cohort):
    with pytest.raises(SeriesError, match="at least 3"):
        read_series("s", sorted(_slice(cohort, "T2").glob("weighted_*.dcm"))[:2], "t2")


def test_no_time_information(cohort, tmp_path):
    for f in sorted(_slice(cohort, "T2").glob("weighted_*.dcm")):
        ds = pydicom.dcmread(f)
        del ds.ImageComments
        ds.save_as(tmp_path / f.name)
    with pytest.raises(SeriesError, match="no T2-preparation time.*--times"):
        read_series("s", sorted(tmp_path.glob("*.dcm")), "t2")


def test_images_of_different_shapes(cohort, tmp_path):
    files = sorted(_slice(cohort, "T2").glob("weighted_*.dcm"))
    for f in files:
        shutil.copy(f, tmp_path / f.name)
    ds = pydicom.dcmread(tmp_path / files[0].name)
    small = ds.pixel_array[:10, :10].copy()
    ds.Rows, ds.Columns = small.shape
    ds.PixelData = small.tobytes()
    ds.save_as(tmp_path / files[0].name)
    with pytest.raises(SeriesError, match="different shapes"):
        read_series("s", sorted(tmp_path.glob("*.dcm")), "t2")


def test_all_zero_image(cohort, tmp_path):
    files = sorted(_slice(cohort, "T2").glob("weighted_*.dcm"))
    for f in files:
        shutil.copy(f, tmp_path / f.name)
    ds = pydicom.dcmread(tmp_path / files[1].name)
    ds.PixelData = np.zeros_like(ds.pixel_array).tobytes()
    ds.save_as(tmp_path / files[1].name)
    with pytest.raises(SeriesError, match="all pixels zero"):
        read_series("s", sorted(tmp_path.glob("*.dcm")), "t2")
