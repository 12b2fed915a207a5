import numpy as np
import pydicom
import pytest

from myomap.io.dicom import DicomError, DicomGeometry, SeriesInfo, inversion_time, read_image, t2prep_time, write_mr_image
from myomap.io.header import read_headers

SERIES = SeriesInfo("P1", "Doe^Jane", "1.2.3", "1.2.3.4", 5, "T2 map", ("DERIVED", "PRIMARY", "T2 MAP"))


def _write(path, values, **kwargs):
    write_mr_image(path, values, geometry=DicomGeometry((1.5, 1.25)), series=SERIES, instance_number=1, sop_uid="1.2.3.4.5", **kwargs)


def test_map_round_trip_in_ms(tmp_path):
    values = np.array([[0.0, 52.34], [np.nan, 123.46]])
    _write(tmp_path / "m.dcm", values, slope=0.1, t2prep_ms=25.0)
    pixels, meta = read_image(tmp_path / "m.dcm")
    np.testing.assert_allclose(pixels, [[0.0, 52.3], [0.0, 123.5]], atol=1e-4)
    assert meta.spacing_mm == (1.5, 1.25)
    assert t2prep_time(meta) == (25.0, "ImageComments T2prep")
    assert "T2 MAP" in meta.image_type
    assert not hasattr(meta, "patient_name")


def test_a_pixel_without_a_value_is_written_as_0_ms_whatever_the_intercept(tmp_path):
    """NaN used to be stored as 0, which a negative intercept read back as a value (-4 ms here)."""
    values = np.array([[np.nan, -4.0], [np.inf, 900.0]])
    _write(tmp_path / "m.dcm", values, slope=1.0, intercept=-4.0)
    pixels, _ = read_image(tmp_path / "m.dcm")
    np.testing.assert_array_equal(pixels, [[0.0, -4.0], [0.0, 900.0]])


def _corrupt(src, dst, keyword, text):
    """Copy a file with one element's raw value replaced, bypassing pydicom's validation."""
    from pydicom.datadict import dictionary_VR, tag_for_keyword
    from pydicom.dataelem import RawDataElement

    ds = pydicom.dcmread(src)
    tag = tag_for_keyword(keyword)
    raw = text.encode() + (b" " if len(text) % 2 else b"")
    ds[tag] = RawDataElement(pydicom.tag.Tag(tag), dictionary_VR(tag), len(raw), raw, 0, False, True)
    ds.save_as(dst)


def test_inversion_time_is_read(tmp_path):
    _write(tmp_path / "w.dcm", np.ones((3, 3)), inversion_time_ms=190.0)
    assert inversion_time(read_image(tmp_path / "w.dcm")[1]) == (190.0, "InversionTime")


def test_truncated_file_is_reported(tmp_path):
    _write(tmp_path / "w.dcm", np.ones((16, 16)))
    data = (tmp_path / "w.dcm").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) // 2])
    with pytest.raises(DicomError, match="cut.dcm"):
        read_image(tmp_path / "cut.dcm")


def test_not_a_dicom_is_reported(tmp_path):
    (tmp_path / "x.dcm").write_text("hello")
    with pytest.raises(DicomError, match="not a readable DICOM"):
        read_image(tmp_path / "x.dcm")


def test_missing_pixel_spacing_is_reported(tmp_path):
    _write(tmp_path / "w.dcm", np.ones((4, 4)))
    ds = pydicom.dcmread(tmp_path / "w.dcm")
    del ds.PixelSpacing
    ds.save_as(tmp_path / "nospacing.dcm")
    with pytest.raises(DicomError, match="PixelSpacing"):
        read_image(tmp_path / "nospacing.dcm")
    assert read_image(tmp_path / "nospacing.dcm", require_spacing=False)[1].spacing_mm is None


@pytest.mark.parametrize(
    "keyword, value, message",
    [
        ("InversionTime", "xxxxxx", "InversionTime 'xxxxxx' is not a number"),
        ("PixelSpacing", "1.5", "PixelSpacing has 1 values, expected 2"),
        ("RescaleSlope", "abc", "RescaleSlope 'abc' is not a number"),
    ],
)
def test_malformed_header_values_name_the_file_and_the_tag(tmp_path, keyword, value, message):
    _write(tmp_path / "w.dcm", np.ones((4, 4)), inversion_time_ms=100.0)
    _corrupt(tmp_path / "w.dcm", tmp_path / "bad.dcm", keyword, value)
    with pytest.raises(DicomError, match=message) as info:
        read_image(tmp_path / "bad.dcm")
    assert "bad.dcm" in str(info.value)


@pytest.mark.parametrize("text, expected", [("350.5", 350.5), ("soon", None), ("nan", None)])
def test_a_malformed_trigger_time_is_no_phase_and_no_error(tmp_path, text, expected):
    _write(tmp_path / "w.dcm", np.ones((4, 4)))
    _corrupt(tmp_path / "w.dcm", tmp_path / "t.dcm", "TriggerTime", text)
    (meta,) = read_headers(tmp_path / "t.dcm")  # a trigger delay only tells a cine's phases apart: never a reason to refuse a file
    assert meta.trigger_time_ms == expected


@pytest.mark.parametrize(
    "comment, expected",
    [("TI = 110", (110.0, "ImageComments TI")), ("TI110", (110.0, "ImageComments TI")), ("T2prep=25ms", None), ("", None)],
)
def test_inversion_time_from_comments(tmp_path, comment, expected):
    _write(tmp_path / "w.dcm", np.ones((4, 4)))
    ds = pydicom.dcmread(tmp_path / "w.dcm")
    ds.ImageComments = comment
    ds.save_as(tmp_path / "c.dcm")
    found = inversion_time(read_image(tmp_path / "c.dcm")[1])
    assert found == (expected or (None, ""))


@pytest.mark.parametrize("comment", ["T2prep=25ms", "T2 prep 25", "T2P = 25", "t2-prep duration: 25 ms"])
def test_t2prep_conventions(tmp_path, comment):
    _write(tmp_path / "w.dcm", np.ones((4, 4)))
    ds = pydicom.dcmread(tmp_path / "w.dcm")
    ds.ImageComments = comment
    ds.save_as(tmp_path / "c.dcm")
    assert t2prep_time(read_image(tmp_path / "c.dcm")[1])[0] == 25.0
