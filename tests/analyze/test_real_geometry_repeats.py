"""A repeated map is told from another slice where the heart is, not at the image's top-left corner.

ImagePositionPatient is the centre of the top-left pixel, some 150-250 mm
from the heart on a short-axis map.  Two maps planned through one slice of
the LV a few degrees apart (a repeat after a failed breath-hold, replanned)
have corners that lie 10-20 mm apart along the normal, and two maps 3 mm
apart at the heart can have corners at one level.
"""

from types import SimpleNamespace

import numpy as np
import pytest

from myomap.analyze.clinical import latest_per_plane
from myomap.io.context import ScanContext
from myomap.io.contours import Contours

SHAPE, SPACING = (192, 256), (1.4, 1.4)
HEART = np.array([20.0, -10.0, -30.0])
AXIS = np.array([0.6, -0.45, -0.65]) / np.linalg.norm([0.6, -0.45, -0.65])


def _frame(tilt_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normal, row and column directions of a short-axis plane tilted by ``tilt_deg`` about its column direction."""
    row = np.array([1.0, 0.0, 0.0]) - AXIS[0] * AXIS
    row /= np.linalg.norm(row)
    col = -np.cross(AXIS, row)
    a = np.deg2rad(tilt_deg)
    normal, row = np.cos(a) * AXIS + np.sin(a) * row, np.cos(a) * row - np.sin(a) * AXIS
    return normal, row, col


def _result(series: str, tilt_deg: float, along_mm: float, time_s: float, *, with_contours: bool = True):
    """A pooled slice whose plane passes ``along_mm`` from the heart's centre along the axis, the LV at the image centre."""
    _, row, col = _frame(tilt_deg)
    centre_px = np.array([(SHAPE[1] - 1) / 2, (SHAPE[0] - 1) / 2])
    lv = HEART + along_mm * AXIS
    # The plane through ``lv``; the LV centre at the image centre.
    position = lv - centre_px[0] * SPACING[1] * row - centre_px[1] * SPACING[0] * col
    item = SimpleNamespace(
        series_uid=series, series_number=int(series), series_label=f"series {series}", slice_position="mid",
        orientation=tuple(row) + tuple(col), position_mm=tuple(position), spacing_mm=SPACING,
        pixels=np.zeros(SHAPE, np.float32), context=ScanContext(acquisition_time_s=time_s),
    )  # fmt: skip
    t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    ring = np.column_stack([np.cos(t), np.sin(t)])
    contours = Contours(centre_px + 20 * ring, centre_px + 13 * ring) if with_contours else None
    return SimpleNamespace(slice=item, analysis=SimpleNamespace(contours=contours))


@pytest.mark.parametrize("with_contours", [True, False])
@pytest.mark.parametrize("tilt_deg", [3.0, 4.5])
def test_a_repeat_replanned_a_few_degrees_is_pooled_once(tilt_deg, with_contours):
    first = _result("13", 0.0, 0.0, 100.0, with_contours=with_contours)
    again = _result("36", tilt_deg, 0.5, 400.0, with_contours=with_contours)
    kept, lines = latest_per_plane([first, again])
    assert kept == [again] and len(lines) == 1


@pytest.mark.parametrize("with_contours", [True, False])
def test_maps_3_mm_apart_at_the_heart_are_two_slices_whatever_their_corners(with_contours):
    first = _result("13", 0.0, 0.0, 100.0, with_contours=with_contours)
    other = _result("36", -1.0, 3.0, 400.0, with_contours=with_contours)  # replanned 1 degree the other way
    # Their top-left corners lie at one level along the normal (0.1 mm), their LV centres 3 mm apart.
    assert abs(float(AXIS @ (np.asarray(other.slice.position_mm) - np.asarray(first.slice.position_mm)))) < 0.5
    kept, lines = latest_per_plane([first, other])
    assert len(kept) == 2 and not lines
