import numpy as np
import pytest
import pydicom

from myomap.io.dicom import DicomError, DicomGeometry, SeriesInfo, read_image, write_mr_image

SERIES = SeriesInfo("P1", "Doe^Jane", "1.2.3", "1.2.3.4", 5, "T2 map", ("DERIVED", "PRIMARY", "T2 MAP"))


def _write(path, values, **kwargs):
    write_mr_image(path, values, geometry=DicomGeometry((1.5, 1.25)), series=SERIES, instance_number=1, sop_uid="1.2.3.4.5", **kwargs)


def test_map_round_trip_in_ms(tmp_path):
    values = np.array([[0.0, 52.34], [np.nan, 123.46]])
    _write(tmp_path / "m.dcm", values, slope=0.1, t2prep_ms=25.0)
    pixels, meta = read_image(tmp_path / "m.dcm")
    np.testing.assert_allclose(pixels, [[0.0, 52.3], [0.0, 123.5]], atol=1e-4)
    assert meta.spacing_mm == (1.5, 1.25)
    assert meta.t2prep_ms == 25.0
    assert "T2 MAP" in meta.image_type
    assert not hasattr(meta, "patient_name")


def test_inversion_time_is_read(tmp_path):
    _write(tmp_path / "w.dcm", np.ones((3, 3)), inversion_time_ms=190.0)
    assert read_image(tmp_path / "w.dcm")[1].inversion_time_ms == 190.0


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
