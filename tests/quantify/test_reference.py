from pathlib import Path

import numpy as np
import pytest

from myomap.conventions import BLOOD_POOL, MYOCARDIUM, Tissue
from myomap.geometry.aha import aha_segments, screen_angle_deg
from myomap.geometry.masks import contours_to_mask
from myomap.geometry.polygon import polygon_centroid
from myomap.io.dataset import load_dataset
from myomap.io.dicom import read_image
from myomap.quantify.reference import RV_WALL_MM, estimate_rv_insertion

SHAPE, SPACING = (61, 61), (1.5, 1.5)


def _circle(r, cx=30.0, cy=30.0, n=180):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)])


EPI, ENDO = _circle(12), _circle(7)


def _angle(point, epi, spacing_mm):
    centre = polygon_centroid(epi)
    return float(screen_angle_deg(np.array(point[0]), np.array(point[1]), centre, spacing_mm=spacing_mm))


def _error_deg(a, b):
    return abs((a - b + 180.0) % 360.0 - 180.0)


def _lv_map(blood_ms=1600.0, muscle_ms=1000.0, background_ms=300.0):
    labels = contours_to_mask(EPI, ENDO, SHAPE)
    return np.select(
        [labels == MYOCARDIUM, labels == BLOOD_POOL],
        [muscle_ms, blood_ms],
        background_ms,
    )


def _with_rv(values, from_deg, to_deg, blood_ms=1600.0):
    """Blood 0-9 mm outside the epicardium between two screen angles (counter-clockwise)."""
    rows, cols = np.indices(SHAPE)
    radius_mm = np.hypot(rows - 30, cols - 30) * SPACING[0]
    angle = screen_angle_deg(cols, rows, (30.0, 30.0), spacing_mm=SPACING)
    inside = ((angle - from_deg) % 360 <= (to_deg - from_deg) % 360) & (radius_mm > 12.5 * SPACING[0]) & (radius_mm < 12.5 * SPACING[0] + 9)
    values = values.copy()
    values[inside] = blood_ms
    return values


def test_point_is_on_the_epicardium_and_usable_as_aha_reference():
    point, method = estimate_rv_insertion(_lv_map(), EPI, ENDO, spacing_mm=SPACING)
    assert method == "image-axes"
    assert np.hypot(point[0] - 30, point[1] - 30) == pytest.approx(12, abs=0.05)
    assert _angle(point, EPI, SPACING) == pytest.approx(120, abs=0.5)
    # Accepted as the AHA reference (no ValueError).
    aha_segments(EPI, ENDO, point, SHAPE, "basal", spacing_mm=SPACING)


def test_point_in_an_open_basal_ring_lies_just_outside_the_blood_pool():
    """A partial ring (epi running along the endo over the outflow tract at 90-150 degrees): the point at 120 is still usable."""
    t = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    gap = np.abs(np.rad2deg(t) - 120.0) < 30.0
    radius = np.where(gap, 7.0, 12.0)
    epi = np.column_stack([30.0 + radius * np.cos(t), 30.0 - radius * np.sin(t)])  # screen angles, y down
    endo = np.column_stack([30.0 + 7.0 * np.cos(t), 30.0 - 7.0 * np.sin(t)])
    point, method = estimate_rv_insertion(_lv_map(), epi, endo, spacing_mm=SPACING)
    assert method == "image-axes"
    assert _angle(point, epi, SPACING) == pytest.approx(120, abs=2.0)
    distance_mm = np.hypot(point[0] - 30, point[1] - 30) * SPACING[0]
    assert 7.0 * SPACING[0] < distance_mm < 7.0 * SPACING[0] + 1.0
    aha_segments(epi, endo, point, SHAPE, "basal", spacing_mm=SPACING)  # no "inside the blood pool" error


def test_outflow_tract_joined_to_the_cavity_is_not_taken_for_the_rv():
    """Blood leaving the cavity through an open basal ring at 50-100 degrees; the RV at 120-240 degrees."""
    t = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    gap = np.abs(np.rad2deg(t) - 75.0) < 25.0
    radius = np.where(gap, 7.0, 12.0)
    epi = np.column_stack([30.0 + radius * np.cos(t), 30.0 - radius * np.sin(t)])
    values = _with_rv(_lv_map(), 120.0, 240.0)
    rows, cols = np.indices(SHAPE)
    angle = screen_angle_deg(cols, rows, (30.0, 30.0), spacing_mm=SPACING)
    distance = np.hypot(rows - 30, cols - 30)
    values[(np.abs(angle - 75.0) < 25.0) & (distance > 6.5) & (distance < 20.0)] = 1600.0  # outflow tract and root
    point, method = estimate_rv_insertion(values, epi, ENDO, spacing_mm=SPACING)
    assert method == "rv-blood-pool"
    # The pool ends square at 120 degrees: the RV wall reaches its thickness further, ~9 degrees at this radius.
    expected = 120.0 - np.rad2deg(RV_WALL_MM / (12.0 * SPACING[0]))
    assert _error_deg(_angle(point, epi, SPACING), expected) < 5.0


@pytest.mark.parametrize(
    "blood_ms, muscle_ms, background_ms",
    [(1600.0, 1000.0, 300.0), (220.0, 50.0, 60.0), (350.0, 500.0, 250.0)],
)
def test_synthetic_rv_crescent(blood_ms, muscle_ms, background_ms):
    # Native T1, T2, and post-contrast T1 (blood darker than muscle): only LV values are used.
    values = _with_rv(_lv_map(blood_ms, muscle_ms, background_ms), 110.0, 250.0, blood_ms)
    point, method = estimate_rv_insertion(values, EPI, ENDO, spacing_mm=SPACING)
    assert method == "rv-blood-pool"
    # The pool is grown by the RV wall (3 mm at r = 19 mm): ~7 degrees beyond its end.
    assert _error_deg(_angle(point, EPI, SPACING), 110.0) < 12


def test_anterior_end_follows_the_anterior_direction():
    values = _with_rv(_lv_map(), 110.0, 250.0)
    # Upside down (image-down is anterior): the end at 250 is the anterior one.
    upside_down = (1.0, 0.0, 0.0, 0.0, -1.0, 0.0)
    point, method = estimate_rv_insertion(values, EPI, ENDO, spacing_mm=SPACING, orientation=upside_down)
    assert method == "rv-blood-pool" and _error_deg(_angle(point, EPI, SPACING), 250.0) < 12
    # Image-right is anterior (0 degrees): nearer to the end at 300 than to 80.
    values = _with_rv(_lv_map(), 300.0, 80.0)
    point, _ = estimate_rv_insertion(
        values,
        EPI,
        ENDO,
        spacing_mm=SPACING,
        orientation=(0.0, -1.0, 0.0, 0.0, 0.0, -1.0),
    )
    assert _error_deg(_angle(point, EPI, SPACING), 300.0) < 12
    values = _with_rv(_lv_map(), 110.0, 250.0)
    # Mirrored (image-right is the patient's right): the ends swap, anterior stays up.
    point, _ = estimate_rv_insertion(
        values[:, ::-1],
        EPI,
        ENDO,
        spacing_mm=SPACING,
        orientation=(-1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    )
    assert _error_deg(_angle(point, EPI, SPACING), 70.0) < 12


def test_an_rv_where_the_header_puts_the_lateral_wall_is_said():
    """Pixels mirrored left to right with the header left as it was: the RV lies opposite the header's septum."""
    from myomap.quantify.reference import RV_ACROSS_THE_HEADER

    values = _with_rv(_lv_map(), 110.0, 250.0)  # the RV around image-left (180 degrees)
    axial = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # the header's septum up-left (135): 45 degrees from the RV
    assert estimate_rv_insertion(values, EPI, ENDO, spacing_mm=SPACING, orientation=axial)[1] == "rv-blood-pool"
    _, method = estimate_rv_insertion(values[:, ::-1], EPI, ENDO, spacing_mm=SPACING, orientation=axial)  # the RV now image-right
    assert method == RV_ACROSS_THE_HEADER
    assert estimate_rv_insertion(values[:, ::-1], EPI, ENDO, spacing_mm=SPACING)[1] == "rv-blood-pool"  # no header, nothing to contradict


@pytest.mark.parametrize(
    "orientation, expected_deg",
    [
        # Axial-like: x to the patient's left, y posterior.  Septum (right-anterior) up-left at 135, anterior up: 135 - 60.
        ((1.0, 0.0, 0.0, 0.0, 1.0, 0.0), 75.0),
        # Mirrored: septum up-right at 45, insertion 60 degrees toward up.
        ((-1.0, 0.0, 0.0, 0.0, 1.0, 0.0), 105.0),
        # x posterior, y to the patient's left: anterior is image-left (180), septum up-left (135).
        ((0.0, 1.0, 0.0, 1.0, 0.0, 0.0), 195.0),
    ],
)
def test_orientation_fallback(orientation, expected_deg):
    point, method = estimate_rv_insertion(_lv_map(), EPI, ENDO, spacing_mm=SPACING, orientation=orientation)
    assert method == "dicom-orientation"
    assert _error_deg(_angle(point, EPI, SPACING), expected_deg) < 1.0


@pytest.mark.parametrize(
    "values",
    [
        np.full(SHAPE, 1000.0),  # no contrast at all
        np.full(SHAPE, np.nan),  # nothing finite
        _lv_map(),  # LV on a flat background
        _with_rv(_lv_map(), 0.0, 359.0),  # fluid all around the LV (effusion), not an RV
        _with_rv(_lv_map(), 100.0, 104.0),  # a sliver too short for an RV
    ],
)
def test_no_rv_falls_back_without_raising(values):
    _, method = estimate_rv_insertion(values, EPI, ENDO, spacing_mm=SPACING)
    assert method == "image-axes"
    _, method = estimate_rv_insertion(
        values,
        EPI,
        ENDO,
        spacing_mm=SPACING,
        orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    )
    assert method == "dicom-orientation"


def test_unusable_input_is_a_value_error():
    with pytest.raises(ValueError, match="2-D"):
        estimate_rv_insertion(np.zeros((2, *SHAPE)), EPI, ENDO, spacing_mm=SPACING)
    with pytest.raises(ValueError, match="6 numbers"):
        estimate_rv_insertion(_lv_map(), EPI, ENDO, spacing_mm=SPACING, orientation=(1.0, 0.0, 0.0))
    flat = np.column_stack([np.arange(5.0), np.arange(5.0)])
    assert estimate_rv_insertion(_lv_map(), flat, flat, spacing_mm=SPACING) == (
        None,
        "none",
    )


def test_phantom_rv_insertion_from_the_blood_pool(cohort):
    images, errors = load_dataset(cohort, roles=("map",))
    assert images and not errors
    found = {}
    for image in images:
        reference = image.contours["reference"]
        orientation = read_image(image.source)[1].orientation
        point, method = estimate_rv_insertion(
            image.pixels,
            reference.epi,
            reference.endo,
            spacing_mm=image.spacing_mm,
            orientation=orientation,
        )
        key = (image.subject, image.map_type, image.slice)
        with np.load(Path(image.source).parent / "truth.npz") as npz:
            if not np.any(npz["labels"] == Tissue.RV_BLOOD):  # a slice below the RV's apex: nothing to find
                assert method != "rv-blood-pool"
                continue
        truth = _angle(reference.rv_insertion, reference.epi, image.spacing_mm)
        found[key] = (
            method,
            _error_deg(_angle(point, reference.epi, image.spacing_mm), truth),
        )
    # Basal and mid slices always show the RV; a small apical RV may be missed (then a fallback is named).
    assert all(method == "rv-blood-pool" for (_, _, position), (method, _) in found.items() if position != "apical"), found
    image_errors = [error for method, error in found.values() if method == "rv-blood-pool"]
    assert len(image_errors) >= 0.9 * len(found), found
    assert max(image_errors) < 20.0, found
    assert np.median(image_errors) < 8.0, found
