"""The painted-segment test: AHA segment values do not depend on how the image is stored.

A distinct value is painted into each AHA segment of a short-axis map in the
standard display (seen from the apex: anterior up, septum left).  The same
slice is written as DICOM as stored by the scanner, mirrored left-right,
rotated by 90 degrees and upside down, each with the ImageOrientationPatient
and ImagePositionPatient that describe the stored pixels, read back, and
quantified: every version must give every segment its painted value.
"""

import numpy as np
import pytest

from myomap.geometry.aha import aha_segments, long_axis_direction, segments_run_clockwise, slice_normal
from myomap.io.dicom import DicomGeometry, SeriesInfo, read_image, write_mr_image
from myomap.quantify.values import slice_values

SHAPE, SPACING = (48, 56), (1.4, 1.6)
# A short-axis plane as scanners place it: the normal along the LV long axis, image down posterior.
_NORMAL = np.array([0.6, -0.45, -0.65]) / np.linalg.norm([0.6, -0.45, -0.65])
_ROW = np.array([1.0, 0.0, 0.0]) - _NORMAL[0] * _NORMAL
_ROW /= np.linalg.norm(_ROW)
_COL = -np.cross(_NORMAL, _ROW)  # row x column = -normal: seen from the apex
STANDARD = DicomGeometry(spacing_mm=SPACING, orientation=tuple(_ROW) + tuple(_COL), position_mm=(10.0, -20.0, 30.0))


def _ellipse(cx, cy, rx, ry, n=240):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([cx + rx * np.cos(t), cy + ry * np.sin(t)])


EPI, ENDO = _ellipse(25.0, 22.0, 15.0, 12.0), _ellipse(25.5, 22.5, 9.0, 7.0)
REFERENCE = (25.0 + 15.0 * np.cos(np.deg2rad(125)), 22.0 - 12.0 * np.sin(np.deg2rad(125)))


def _transform(name, image, points, geometry):
    """Stored pixels, contour/reference points and DICOM geometry of ``image`` stored another way."""
    rows, cols = image.shape
    row_dir, col_dir = np.asarray(geometry.orientation[:3]), np.asarray(geometry.orientation[3:])
    origin, (s_row, s_col) = np.asarray(geometry.position_mm), geometry.spacing_mm
    if name == "standard":
        return image, points, geometry
    if name == "mirrored":  # left-right: the row direction flips, the top-right pixel comes first
        new = (image[:, ::-1], [np.column_stack([cols - 1 - p[:, 0], p[:, 1]]) for p in points])
        return *new, DicomGeometry(geometry.spacing_mm, tuple(-row_dir) + tuple(col_dir), tuple(origin + (cols - 1) * s_col * row_dir))
    if name == "upside-down":  # top-bottom: the column direction flips
        new = (image[::-1, :], [np.column_stack([p[:, 0], rows - 1 - p[:, 1]]) for p in points])
        return *new, DicomGeometry(geometry.spacing_mm, tuple(row_dir) + tuple(-col_dir), tuple(origin + (rows - 1) * s_row * col_dir))
    if name == "rotated":  # 90 degrees counter-clockwise: new[i, j] = old[j, cols - 1 - i]
        new = (np.rot90(image), [np.column_stack([p[:, 1], cols - 1 - p[:, 0]]) for p in points])
        return *new, DicomGeometry((s_col, s_row), tuple(col_dir) + tuple(-row_dir), tuple(origin + (cols - 1) * s_col * row_dir))
    raise AssertionError(name)


@pytest.mark.parametrize("position, first, count", [("basal", 1, 6), ("mid", 7, 6), ("apical", 13, 4)])
@pytest.mark.parametrize("stored", ["standard", "mirrored", "rotated", "upside-down"])
def test_painted_segments_keep_their_values_however_the_image_is_stored(tmp_path, stored, position, first, count):
    labels = aha_segments(EPI, ENDO, REFERENCE, SHAPE, position, spacing_mm=SPACING)
    painted = np.where(labels > 0, 500.0 + 50.0 * labels, 1500.0)  # blood and background 1500 ms
    image, (epi, endo, reference), geometry = _transform(stored, painted, [EPI, ENDO, np.array([REFERENCE])], STANDARD)
    series = SeriesInfo("P", "P^P", "1.2.3", "1.2.3.4", 1, "T1 MAP", ("DERIVED", "PRIMARY", "T1 MAP"))
    write_mr_image(tmp_path / "map.dcm", image, geometry=geometry, series=series, instance_number=1, sop_uid="1.2.3.4.5")

    pixels, meta = read_image(tmp_path / "map.dcm")
    axis, basis = long_axis_direction([meta.orientation], [meta.position_mm])
    clockwise = segments_run_clockwise(meta.orientation, axis)
    assert basis == "anatomical-prior" and clockwise == (stored in ("mirrored", "upside-down"))
    rows = slice_values(
        pixels, epi, endo, tuple(reference[0]), position, spacing_mm=meta.spacing_mm, clockwise=clockwise, erosion_margin_px=0
    )
    for number in range(first, first + count):
        (row,) = [r for r in rows if r["segment"] == number and not r["eroded"]]
        assert row["n_pixels"] > 10 and row["median_ms"] == 500.0 + 50.0 * number, (stored, number)


def test_long_axis_from_a_stack_and_bad_geometry():
    orientation = STANDARD.orientation
    positions = [tuple(np.asarray(STANDARD.position_mm) + k * 8.0 * _NORMAL) for k in range(3)]
    axis, basis = long_axis_direction([orientation] * 3, positions)
    assert basis == "stack" and np.allclose(np.abs(axis), np.abs(slice_normal(orientation)))
    assert long_axis_direction([orientation, None], positions[:2]) == (None, "no-geometry")
    tilted = tuple(_ROW) + tuple(_NORMAL)  # a long-axis slice in a short-axis stack
    assert long_axis_direction([orientation, tilted], positions[:2]) == (None, "mixed-orientations")
    assert segments_run_clockwise(None) is False
    with pytest.raises(ValueError, match="6 finite numbers"):
        slice_normal((1.0, 0.0, 0.0))
