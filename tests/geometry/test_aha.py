import numpy as np
import pytest

from myomap.geometry.aha import SEPTAL_SEGMENTS, aha_segments, eroded_myocardium, septal_roi, transmural_position
from myomap.geometry.masks import contours_to_mask
from myomap.geometry.polygon import polygon_centroid


def _circle(r, cx=40.0, cy=40.0, n=720):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)])


EPI, ENDO, SHAPE = _circle(25), _circle(15), (81, 81)
# Anterior insertion point at 120 degrees on screen (up-left): x = cx + r cos, y = cy - r sin.
INSERTION = (40 + 25 * np.cos(np.deg2rad(120)), 40 - 25 * np.sin(np.deg2rad(120)))


def _segment_at(labels, screen_deg, r=20.0):
    x = int(round(40 + r * np.cos(np.deg2rad(screen_deg))))
    y = int(round(40 - r * np.sin(np.deg2rad(screen_deg))))
    return int(labels[y, x])


@pytest.mark.parametrize(
    "position, expected",
    [
        ("basal", {150: 2, 210: 3, 270: 4, 330: 5, 30: 6, 90: 1}),
        ("mid", {150: 8, 210: 9, 270: 10, 330: 11, 30: 12, 90: 7}),
        ("apical", {180: 14, 270: 15, 0: 16, 90: 13}),
    ],
)
def test_standard_numbering(position, expected):
    labels = aha_segments(EPI, ENDO, INSERTION, SHAPE, position, spacing_mm=(1.5, 1.5))
    for angle, segment in expected.items():
        assert _segment_at(labels, angle) == segment, (angle, segment)
    assert labels[40, 40] == 0 and labels[0, 0] == 0


def test_segments_cover_the_myocardium_in_equal_shares():
    labels = aha_segments(EPI, ENDO, INSERTION, SHAPE, "mid", spacing_mm=(1.0, 1.0))
    counts = np.bincount(labels.ravel(), minlength=13)[7:13]
    assert counts.min() / counts.max() > 0.9


def test_reference_inside_the_blood_pool_is_an_error():
    with pytest.raises(ValueError, match="inside the blood pool"):
        aha_segments(EPI, ENDO, (40.0, 40.0), SHAPE, "basal", spacing_mm=(1, 1))
    with pytest.raises(ValueError, match="slice position"):
        aha_segments(EPI, ENDO, INSERTION, SHAPE, "apex", spacing_mm=(1, 1))


def test_transmural_position_runs_from_endo_to_epi():
    s, _, _ = transmural_position(EPI, ENDO, SHAPE, spacing_mm=(1, 1))
    assert s[40, 40 + 16] < 0.2 and s[40, 40 + 24] > 0.8
    assert np.isnan(s[40, 40]) and np.isnan(s[0, 0])


def test_erosion_by_margin_and_fraction():
    whole = eroded_myocardium(EPI, ENDO, SHAPE, spacing_mm=(1, 1))
    one = eroded_myocardium(EPI, ENDO, SHAPE, spacing_mm=(1, 1), margin_px=1)
    half = eroded_myocardium(EPI, ENDO, SHAPE, spacing_mm=(1, 1), fraction=0.25)
    assert one.sum() < whole.sum() and half.sum() < whole.sum()
    # Ring of radii 15-25: one pixel off each side leaves ~16-24, i.e. 8/10 of the thickness.
    assert one.sum() / whole.sum() == pytest.approx((24**2 - 16**2) / (25**2 - 15**2), rel=0.08)
    assert not eroded_myocardium(EPI, ENDO, SHAPE, spacing_mm=(1, 1), margin_px=6).any()


def test_septal_roi_is_mid_wall_septum():
    roi = septal_roi(EPI, ENDO, INSERTION, SHAPE, "mid", spacing_mm=(1, 1))
    rows, cols = np.nonzero(roi)
    assert roi.any() and cols.max() < 40  # the septum is on the screen's left
    labels = aha_segments(EPI, ENDO, INSERTION, SHAPE, "mid", spacing_mm=(1, 1))
    assert set(np.unique(labels[roi])) <= set(SEPTAL_SEGMENTS["mid"])
    radius = np.hypot(cols - 40, rows - 40)
    assert radius.min() > 16.5 and radius.max() < 23.5


def test_centroid_of_a_square():
    assert polygon_centroid(np.array([[0, 0], [2, 0], [2, 2], [0, 2]], float)) == pytest.approx((1.0, 1.0))


def test_a_cavity_without_pixel_centres_still_gives_the_whole_myocardium():
    tiny = _circle(0.3, cx=40.5, cy=40.5)  # no pixel centre inside
    whole = eroded_myocardium(EPI, tiny, SHAPE, spacing_mm=(1, 1))
    assert whole.sum() > 0.95 * np.pi * 25**2


@pytest.mark.parametrize("position", ["basal", "mid", "apical"])
@pytest.mark.parametrize("clockwise", [False, True])
def test_a_pixel_at_the_reference_angle_gets_a_segment(position, clockwise):
    # Reference on the pixel diagonal through the centre: pixels on that ray sit at a
    # floating-point angle of -1e-14 degrees, which % 360 rounds up to 360.
    epi, endo = _circle(20), _circle(12)
    labels = aha_segments(epi, endo, (29.0, 29.0), (80, 80), position, spacing_mm=(1.5, 1.5), clockwise=clockwise)
    ring = contours_to_mask(epi, endo, (80, 80)) == 1
    assert labels[ring].min() > 0 and set(np.unique(labels[ring])) <= set(range(1, 17))
