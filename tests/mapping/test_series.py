import shutil

import numpy as np
import pydicom
import pytest

from myomap.io.series_kind import find_dicom_files
from myomap.mapping.series import SeriesError, group_series, read_series


def _slice(cohort, map_type="T1", position="mid"):
    return cohort / "sub-001" / f"{map_type}_{position}"


def test_groups_one_series_per_slice_and_skips_maps(cohort):
    files, errors = find_dicom_files([cohort / "sub-001"])
    assert not errors
    assert not any(f.suffix in (".json", ".npz") for f in files)
    groups, errors, notes = group_series(files)
    assert not errors
    assert len(groups) == 6  # 3 slices x (MOLLI, T2prep)
    assert notes == ["6 map image(s) skipped: maps are not weighted images"]
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


def test_auto_model_ignores_an_inversion_time_of_zero_on_t2_images(cohort, tmp_path):
    from myomap.mapping.pipeline import fit_paths

    for f in sorted(_slice(cohort, "T2").glob("weighted_*.dcm")):
        ds = pydicom.dcmread(f)
        ds.InversionTime = "0"
        ds.save_as(tmp_path / f.name)
    report = fit_paths([tmp_path], tmp_path / "out")
    assert not report.errors and report.outcomes[0].model == "t2"


def test_malformed_header_is_one_error_and_the_other_series_go_on(cohort, tmp_path):
    from myomap.mapping.pipeline import fit_paths

    bad = tmp_path / "bad"
    bad.mkdir()
    for f in sorted(_slice(cohort, "T1").glob("weighted_*.dcm")):
        shutil.copy(f, bad / f.name)
    from pydicom.dataelem import RawDataElement

    ds = pydicom.dcmread(bad / "weighted_3.dcm")
    ds[0x00180082] = RawDataElement(pydicom.tag.Tag(0x00180082), "DS", 6, b"xxxxxx", 0, False, True)
    ds.save_as(bad / "weighted_3.dcm")
    report = fit_paths([bad, _slice(cohort, "T2")], tmp_path / "out")
    assert len(report.outcomes) == 1 and report.outcomes[0].model == "t2"
    assert len(report.errors) == 1 and "weighted_3.dcm" in report.errors[0] and "InversionTime" in report.errors[0]


def test_explicit_times_follow_instance_number_not_name(cohort, tmp_path):
    files = sorted(_slice(cohort, "T2").glob("weighted_*.dcm"))
    for k, f in enumerate(files, start=1):
        ds = pydicom.dcmread(f)
        del ds.ImageComments
        ds.save_as(tmp_path / f"IM_{k * 5}.dcm")  # IM_5, IM_10, IM_15: string order would put IM_10 first
    groups, errors, _ = group_series(find_dicom_files([tmp_path])[0])
    (files_in_order,) = groups.values()
    assert [f.path.name for f in files_in_order] == ["IM_5.dcm", "IM_10.dcm", "IM_15.dcm"]
    series = read_series("s", files_in_order, "t2", [0, 25, 55])
    # The brightest image (shortest preparation) is the first instance.
    assert series.images[0].mean() > series.images[2].mean()


def test_the_output_folder_of_an_earlier_analyze_run_below_an_input_is_skipped_with_a_note(tmp_path):
    exam = tmp_path / "exam"
    for name in ("a.dcm", "results/patient-01/T1_01_mid/source.dcm", "other/run.json", "other/b.dcm"):
        (exam / name).parent.mkdir(parents=True, exist_ok=True)
        (exam / name).write_bytes(b"")
    (exam / "results" / "run.json").write_text('{"myomap_version": "0.1.0", "status": "complete"}')
    (exam / "other" / "run.json").write_text('{"something": "else"}')  # not ours: its folder is kept
    notes: list[str] = []
    files, _ = find_dicom_files([exam], notes)
    assert sorted(f.relative_to(exam).as_posix() for f in files) == ["a.dcm", "other/b.dcm"]
    assert notes == [f"{exam / 'results'}: the output folder of an earlier myomap run, skipped"]
    files, _ = find_dicom_files([exam / "results"])  # given itself, a run's folder is read (its de-identified copies)
    assert [f.name for f in files] == ["source.dcm"]
