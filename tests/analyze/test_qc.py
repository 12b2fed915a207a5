import math

import numpy as np
import pytest

from myomap.analyze.exports import contours_mm, overlay_png
from myomap.analyze.qc import assess, principal_axis_ratio, ring_coverage
from myomap.geometry.contours import ON_EDGES, SliceContours, mask_to_contours
from myomap.geometry.masks import contours_to_mask
from myomap.io.contours import Contours

SPACING = (1.5, 1.5)


def _circle(r: float, centre=(40.0, 40.0), n: int = 90) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([centre[0] + r * np.cos(t), centre[1] + r * np.sin(t)])


def _labels(r_epi: float, r_endo: float) -> np.ndarray:
    return contours_to_mask(_circle(r_epi), _circle(r_endo), (80, 80))


def test_a_normal_ring_passes():
    labels = _labels(20, 15)
    report = assess(labels, mask_to_contours(labels, ON_EDGES), spacing_mm=SPACING, agreement=0.97, members=[labels, labels])
    assert not report.review and report.reasons == ()
    assert report.contour_spread_mm == pytest.approx(0.0, abs=1e-9)
    assert report.wall_mm == pytest.approx(5 * 1.5, abs=1.0)
    assert report.ring_coverage == 1.0


@pytest.mark.parametrize(
    "labels, members, words",
    [
        (_labels(20, 15), [np.roll(_labels(20, 15), 5, axis=1)], "contours up to 7.5 mm apart"),
        (_labels(20, 15), [np.zeros((80, 80), np.uint8)], "one finds no contour"),
        (_labels(20, 19.2), [], "wall thickness"),
        (_labels(5, 2.5), [], "epicardial area"),  # about 180 mm² (a 6-px disc is 254 mm², on the 250 mm² limit)
        (np.zeros((80, 80), np.uint8), [], "no epicardial and no endocardial contour"),
    ],
)
def test_problems_are_flagged_with_a_reason(labels, members, words):
    report = assess(labels, mask_to_contours(labels, ON_EDGES), spacing_mm=SPACING, members=members)
    assert report.review and any(words in r for r in report.reasons), report.reasons
    assert report.sanity_failed == (not words.startswith(("contours up", "one finds")))


def test_an_open_ring_is_flagged():
    labels = _labels(20, 15)
    rows, cols = np.indices(labels.shape)
    labels[(labels == 1) & (cols > 52) & (abs(rows - 40) < 12)] = 0  # cut the lateral wall: a "C"
    report = assess(labels, mask_to_contours(labels, ON_EDGES), spacing_mm=SPACING)
    assert report.ring_coverage < 0.9
    assert any("does not close" in r for r in report.reasons)


@pytest.mark.parametrize(
    "endo_radius, flagged",
    [
        (lambda deg: np.where(np.abs(deg - 90) < 30, 20.5, 15.0), False),  # runs along the epicardium, 0.75 mm out: an open basal ring
        (lambda deg: np.where(np.abs(deg - 90) < 30, 22.0, 15.0), True),  # 3 mm outside over 60 degrees
    ],
)
def test_endocardium_crossing_the_epicardium_is_flagged_beyond_a_millimetre(endo_radius, flagged):
    t = np.linspace(0, 2 * np.pi, 90, endpoint=False)
    radius = endo_radius(np.rad2deg(t))
    endo = np.column_stack([40 + radius * np.cos(t), 40 + radius * np.sin(t)])
    report = assess(_labels(20, 15), SliceContours.from_contours(Contours(_circle(20), endo)), spacing_mm=SPACING)
    assert any("crosses the epicardium" in r for r in report.reasons) == flagged, report.reasons


def test_without_tta_the_confidence_is_unknown_not_a_flag():
    labels = _labels(20, 15)
    report = assess(labels, mask_to_contours(labels, ON_EDGES), spacing_mm=SPACING)
    assert math.isnan(report.confidence) and math.isnan(report.contour_spread_mm) and not report.review


def test_ring_coverage_of_empty_labels_is_zero():
    assert ring_coverage(np.zeros((10, 10), np.uint8), (5.0, 5.0), spacing_mm=SPACING) == 0.0


def test_contours_in_mm_without_geometry_are_in_plane():
    contours = Contours(_circle(20), _circle(15), (40.0, 20.0), SPACING)
    mm = contours_mm(contours, orientation=None, position_mm=None, spacing_mm=(2.0, 1.0))
    assert mm["frame"] == "image plane"
    assert mm["rv_insertion_x_mm"] == pytest.approx(40.0) and mm["rv_insertion_y_mm"] == pytest.approx(40.0)


def test_overlay_is_cropped_to_the_heart():
    import cv2

    image = np.full((200, 200), 1000.0, np.float32)
    contours = Contours(_circle(20, (100.0, 100.0)), _circle(15, (100.0, 100.0)), None, SPACING)
    picture = cv2.imdecode(np.frombuffer(overlay_png(image, "T1", contours, scale=2), np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape[0] < 2 * 200 and picture.shape[0] >= 2 * 40  # cropped, but holds the heart
    whole = cv2.imdecode(np.frombuffer(overlay_png(image, "T1", None, scale=2), np.uint8), cv2.IMREAD_COLOR)
    assert whole.shape[:2] == (400, 400)


def _ellipse(a: float, b: float, centre=(60.0, 60.0), n: int = 120) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([centre[0] + a * np.cos(t), centre[1] + b * np.sin(t)])


@pytest.mark.parametrize("a, b", [(20.0, 20.0), (30.0, 15.0), (15.0, 24.0)])
def test_principal_axis_ratio_of_an_ellipse(a, b):
    assert principal_axis_ratio(_ellipse(a, b), (120, 120), spacing_mm=SPACING) == pytest.approx(max(a, b) / min(a, b), rel=0.03)
    # Anisotropic pixels: a circle in mm drawn on 1 x 2 mm pixels is an ellipse in pixels.
    assert principal_axis_ratio(_ellipse(20.0, 10.0), (120, 120), spacing_mm=(2.0, 1.0)) == pytest.approx(1.0, abs=0.03)
    assert math.isnan(principal_axis_ratio(_ellipse(0.1, 0.1), (120, 120), spacing_mm=SPACING))


@pytest.mark.parametrize("a, b, flagged", [(22.0, 22.0, False), (26.0, 19.0, False), (34.0, 19.0, True), (19.0, 40.0, True)])
def test_an_elongated_ring_is_flagged_as_not_short_axis(a, b, flagged):
    # A short-axis LV is about round (26 x 19 mm is a strongly D-shaped one); a long-axis LV about twice as long as wide.
    labels = contours_to_mask(_ellipse(a, b), _ellipse(a - 5, b - 5), (120, 120))
    report = assess(labels, mask_to_contours(labels, ON_EDGES), spacing_mm=(1.0, 1.0))
    assert any(r.startswith("not a short-axis ring (long-axis view?)") for r in report.reasons) == flagged, report.reasons
    assert report.epi_axis_ratio == pytest.approx(max(a, b) / min(a, b), rel=0.05)
    assert report.review == flagged


def test_overlays_show_post_contrast_maps_and_maps_of_another_scale_in_a_window_that_fits_them():
    from myomap.analyze.exports import display_window_ms

    rng = np.random.default_rng(0)
    native = rng.normal(1000.0, 150.0, (64, 64))
    post = rng.normal(450.0, 60.0, (64, 64))  # blood ~330 and myocardium ~480 ms after gadolinium
    cine = rng.gamma(2.0, 60.0, (64, 64))  # a cine given --map-type T1: signal in scanner units, median ~100
    assert display_window_ms(native, "T1") == (300.0, 1900.0)
    assert display_window_ms(post, "T1-post") == (100.0, 900.0)  # in the native window it is nearly black
    assert display_window_ms(native / 20.0, "T2") == (20.0, 90.0)
    assert display_window_ms(native / 20.0, "T2-post") == (20.0, 90.0)  # no window of its own: the map type's
    low, high = display_window_ms(cine, "T1")
    assert (low, high) == pytest.approx(tuple(np.percentile(cine, [1, 99])))
    assert display_window_ms(np.full((8, 8), 5.0), "T1") == (300.0, 1900.0)  # one value: no percentile window
