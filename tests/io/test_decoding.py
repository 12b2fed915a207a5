"""Compressed transfer syntaxes decode after a plain install (pylibjpeg plugins are dependencies)."""

import struct

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless, JPEGLosslessSV1, RLELossless, generate_uid

from myomap.analyze.discover import discover
from myomap.io.dicom import read_image
from myomap.io.synthetic import mr_image, save

REFERENCE = "MR_small.dcm"


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm"])
def test_pydicom_compressed_files_decode_to_the_uncompressed_values(name):
    expected, _ = read_image(get_testdata_file(REFERENCE))
    values, meta = read_image(get_testdata_file(name))
    np.testing.assert_array_equal(values, expected)
    assert meta.spacing_mm is not None


@pytest.mark.parametrize("name", ["image_dfl.dcm", "JPGExtended.dcm", "JPEG2000.dcm", "JPEGLSNearLossless_16.dcm"])
def test_other_pydicom_syntaxes_decode(name):
    path = get_testdata_file(name)
    ds = pydicom.dcmread(path)
    values, _ = read_image(path, require_spacing=False)
    assert values.shape == (ds.Rows, ds.Columns) and np.ptp(values) > 0


def _bits(value: int, count: int) -> str:
    return format(value, f"0{count}b") if count else ""


def jpeg_lossless(image: np.ndarray) -> bytes:
    """Encode a uint16 image as JPEG lossless, process 14, first-order prediction (SV1).

    Written here because no installed library encodes this syntax (the one
    Philips and most PACS exports use); it follows ITU T.81 Annex H with a
    Huffman table giving every difference category a 5-bit code.
    """
    rows, cols = image.shape
    x = image.astype(np.int64)
    predicted = np.empty_like(x)
    predicted[0, 0] = 1 << 15
    predicted[0, 1:] = x[0, :-1]
    predicted[1:, 0] = x[:-1, 0]
    predicted[1:, 1:] = x[1:, :-1]
    bits = []
    for diff in ((x - predicted + 32768) % 65536 - 32768).ravel():
        category = 16 if diff == -32768 else int(abs(diff)).bit_length()
        extra = "" if category in (0, 16) else _bits(diff if diff > 0 else diff - 1 + (1 << category), category)
        bits.append(_bits(category, 5) + extra)
    stream = "".join(bits)
    stream += "1" * (-len(stream) % 8)
    data = bytes(int(stream[i : i + 8], 2) for i in range(0, len(stream), 8)).replace(b"\xff", b"\xff\x00")
    counts = bytes([0, 0, 0, 0, 17] + [0] * 11)
    segment = lambda marker, body: marker + struct.pack(">H", len(body) + 2) + body  # noqa: E731
    return (
        b"\xff\xd8"
        + segment(b"\xff\xc3", struct.pack(">BHHB", 16, rows, cols, 1) + bytes([1, 0x11, 0]))
        + segment(b"\xff\xc4", bytes([0x00]) + counts + bytes(range(17)))
        + segment(b"\xff\xda", bytes([1, 1, 0x00, 1, 0, 0]))
        + data
        + b"\xff\xd9"
    )


def _map(values, series_uid="1.2.3.9", study_uid="1.2.3"):
    return mr_image(
        values,
        study_uid=study_uid,
        series_uid=series_uid,
        series_number=9,
        description="MOLLI T1 MAP",
        image_type=("DERIVED", "PRIMARY", "T1 MAP"),
    )


def test_jpeg_lossless_philips_style_export_is_read_by_discover(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.integers(0, 4000, (24, 20)).astype(np.uint16)
    values[3, 3], values[4, 3] = 65535, 0  # extreme differences (category 16)
    ds = _map(values)
    ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    ds.PixelData = encapsulate([jpeg_lossless(values)])
    ds["PixelData"].VR = "OB"
    save(ds, tmp_path / "IM_0001")
    found = discover([tmp_path])
    assert not found.errors, found.errors
    (slices,) = found.patients.values()
    np.testing.assert_array_equal(slices[0].loaded().pixels, values.astype(np.float32))


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless])
def test_maps_compressed_here_round_trip(tmp_path, syntax):
    values = (np.arange(32 * 32).reshape(32, 32) % 1500).astype(np.uint16)
    ds = _map(values, series_uid=generate_uid())
    ds.compress(syntax)
    save(ds, tmp_path / "map.dcm")
    pixels, _ = read_image(tmp_path / "map.dcm")
    np.testing.assert_array_equal(pixels, values)


def test_undecodable_maps_are_one_line_per_syntax_with_the_hint(tmp_path):
    for k in range(4):
        ds = _map(np.ones((8, 8), np.uint16), series_uid=f"1.2.3.{k}")
        ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
        ds.PixelData = encapsulate([b"\x00" * 64])
        ds["PixelData"].VR = "OB"
        save(ds, tmp_path / f"m{k}.dcm")
    found = discover([tmp_path])
    assert len(found.errors) == 1 and found.errors[0].startswith("4 map images cannot be decoded")
    assert "pylibjpeg" in found.errors[0] and len(found.errors[0]) < 600
    assert found.unreadable_maps == 4 and not found.patients
