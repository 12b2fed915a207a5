"""analyse_slice: the pure per-slice step, on shapes with known answers (no model, no file)."""

import math
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from myomap.analyze.slice_analysis import GIVEN_REFERENCE, MIRRORED, SliceFacts, SliceSettings, analyse_slice
from myomap.conventions import BLOOD_POOL, MYOCARDIUM
from myomap.geometry.masks import contours_to_mask
from myomap.quantify.reference import RV_ACROSS_THE_HEADER

SHAPE, CENTRE, SPACING = (80, 80), (40.0, 40.0), (1.5, 1.5)
MYO_MS, BLOOD_MS, OUTSIDE_MS = 1000.0, 1600.0, 400.0


def _circle(radius: float, n: int = 360) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([CENTRE[0] + radius * np.cos(t), CENTRE[1] + radius * np.sin(t)])


def _annulus() -> tuple[np.ndarray, np.ndarray]:
    """A native T1 map: a ring of myocardium (radii 12-20 px, 1000 ms) around blood (1600 ms), and its labels."""
    labels = contours_to_mask(_circle(20), _circle(12), SHAPE)
    pixels = np.full(SHAPE, OUTSIDE_MS, np.float32)
    pixels[labels == MYOCARDIUM], pixels[labels == BLOOD_POOL] = MYO_MS, BLOOD_MS
    return pixels, labels


def _prediction(labels: np.ndarray):
    return SimpleNamespace(labels=labels, agreement=None, members=())


ON_THE_RING = (CENTRE[0] - 11.0, CENTRE[1] - 11.0)  # 15.6 px from the centre: between the contours, anterior-septal


def test_an_annulus_gives_its_known_values_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pixels, labels = _annulus()
    facts = SliceFacts("T1", "mid", given_reference=ON_THE_RING)
    result = analyse_slice(pixels, SPACING, _prediction(labels), SliceSettings(), facts)
    assert result.error is None and not result.qc.review, result.qc.reasons
    assert result.reference_method == GIVEN_REFERENCE and result.contours.rv_insertion == ON_THE_RING
    assert result.contours.spacing_mm == SPACING
    eroded = {v.region: v for v in result.values if v.eroded}
    assert eroded["global"].median_ms == MYO_MS and eroded["global"].get("sd_ms") == 0.0
    assert sorted(v.segment for v in result.values if v.region.startswith("segment") and v.eroded) == [7, 8, 9, 10, 11, 12]
    for v in result.values:
        if v.region.startswith("segment") or v.region == "septal":
            assert v.get("n_pixels") > 0 and (not v.eroded or v.median_ms == MYO_MS), v.region
    assert eroded["blood"].median_ms == BLOOD_MS
    # The values come from the region the exports show: the fitted contours, rasterised.
    measured = result.measured_labels
    assert np.mean(measured == labels) > 0.97
    assert list(tmp_path.iterdir()) == []


def test_the_uneroded_ring_takes_in_the_partial_volume_border():
    pixels, labels = _annulus()
    result = analyse_slice(
        pixels, SPACING, _prediction(labels), SliceSettings(erosion_margin_px=0.0), SliceFacts("T1", "mid", given_reference=ON_THE_RING)
    )
    whole = result.global_values(eroded=False)
    assert whole.median_ms == MYO_MS and whole.get("mean_ms") >= MYO_MS  # blood pixels at the fitted border pull the mean up


def test_a_given_point_inside_the_blood_pool_is_replaced_by_an_estimate():
    pixels, labels = _annulus()
    result = analyse_slice(pixels, SPACING, _prediction(labels), SliceSettings(), SliceFacts("T1", "mid", given_reference=CENTRE))
    assert result.error is None
    assert result.reference_method != GIVEN_REFERENCE and result.contours.rv_insertion != CENTRE


def test_no_blood_pool_is_a_failed_result_not_an_exception():
    pixels, labels = _annulus()
    no_pool = np.where(labels == BLOOD_POOL, MYOCARDIUM, labels)
    result = analyse_slice(pixels, SPACING, _prediction(no_pool), SliceSettings(), SliceFacts("T1", "mid"))
    assert result.error.startswith("no myocardium found on this slice")
    assert result.contours is None and result.values == () and result.measured_labels is None
    assert result.qc.review and not result.fitted.complete


@pytest.mark.parametrize("map_type, scale, flagged", [("T1", 1.0, False), ("T2", 0.05, False), ("T2", 0.2, True)])
def test_values_that_do_not_fit_the_map_type_flag_the_slice(map_type, scale, flagged):
    pixels, labels = _annulus()  # myocardium 1000 ms: a native T1; 50 ms: a T2; 200 ms: neither
    facts = SliceFacts(map_type, "mid", given_reference=ON_THE_RING)
    result = analyse_slice(pixels * scale, SPACING, _prediction(labels), SliceSettings(), facts)
    assert result.error is None and result.global_values().median_ms == pytest.approx(MYO_MS * scale)
    assert result.qc.review == flagged
    assert any(f"does not fit a native {map_type} map" in r for r in result.qc.reasons) == flagged


def test_a_cines_signal_is_not_held_to_a_maps_values():
    pixels, labels = _annulus()  # the same annulus as a cine's signal: myocardium at 100, blood brighter
    facts = SliceFacts("T1", "mid", given_reference=ON_THE_RING, cine=True)
    result = analyse_slice(pixels * 0.1, SPACING, _prediction(labels), SliceSettings(), facts)
    assert result.error is None and not result.qc.review and not any("does not fit" in r for r in result.qc.reasons)
    as_map = analyse_slice(pixels * 0.1, SPACING, _prediction(labels), SliceSettings(), replace(facts, cine=False))
    assert as_map.qc.review and any("does not fit a native T1 map" in r for r in as_map.qc.reasons)
    dim = analyse_slice(pixels * 0.03, SPACING, _prediction(labels), SliceSettings(), facts)  # under a T1 map's 50 ms floor
    assert dim.global_values().median_ms == pytest.approx(MYO_MS * 0.03) and dim.global_values().get("n_missing") == 0


def test_a_bright_crescent_where_the_header_puts_the_lateral_wall_flags_a_map_but_not_a_cine():
    """On a bSSFP cine fat is as bright as blood: the header, not a "mirrored" flag, decides the RV insertion there."""
    pixels, labels = _annulus()
    rows, cols = np.mgrid[: SHAPE[0], : SHAPE[1]]
    radius, angle = np.hypot(cols - CENTRE[0], rows - CENTRE[1]), np.degrees(np.arctan2(CENTRE[1] - rows, cols - CENTRE[0])) % 360
    pixels[(radius > 22) & (radius < 30) & (angle > 270) & (angle < 350)] = BLOOD_MS  # down-right on screen
    axial = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # the header's septum up-left: this crescent lies on the lateral side
    as_map = analyse_slice(pixels, SPACING, _prediction(labels), SliceSettings(), SliceFacts("T1", "mid", orientation=axial))
    assert as_map.reference_method == RV_ACROSS_THE_HEADER and MIRRORED in as_map.qc.reasons
    facts = SliceFacts("T1", "mid", orientation=axial, cine=True)
    as_cine = analyse_slice(pixels, SPACING, _prediction(labels), SliceSettings(), facts)
    assert as_cine.reference_method == "dicom-orientation" and MIRRORED not in as_cine.qc.reasons
    nifti = analyse_slice(pixels, SPACING, _prediction(labels), SliceSettings(), replace(facts, dicom_geometry=False))
    assert nifti.reference_method == RV_ACROSS_THE_HEADER and MIRRORED in nifti.qc.reasons  # an affine may be a placeholder


def test_an_empty_prediction_measures_nothing():
    pixels, _ = _annulus()
    result = analyse_slice(pixels, SPACING, _prediction(np.zeros(SHAPE, np.uint8)), SliceSettings(), SliceFacts("T1"))
    assert result.error is not None and result.contours is None and math.isnan(result.qc.wall_mm)


def test_a_ring_the_image_check_doubts_is_flagged_for_review():
    pixels, labels = _annulus()
    doubted = SimpleNamespace(
        labels=labels, agreement=None, members=(), doubts=("ring like its surroundings (45%)", "network unsure (0.70)")
    )
    result = analyse_slice(pixels, SPACING, doubted, SliceSettings(), SliceFacts("T1", "mid", given_reference=ON_THE_RING))
    assert result.error is None and result.qc.review
    assert result.qc.reasons == ("is this the left ventricle? ring like its surroundings (45%); network unsure (0.70)",)


def test_a_slice_in_a_body_plane_is_flagged_for_review():
    pixels, labels = _annulus()
    facts = SliceFacts("T1", "mid", given_reference=ON_THE_RING, body_plane="transverse")
    result = analyse_slice(pixels, SPACING, _prediction(labels), SliceSettings(), facts)
    assert result.error is None and result.qc.review and result.values  # measured, but not trusted
    assert result.qc.reasons == (
        "transverse image plane, not a short-axis view: check that it shows the heart (AHA segments assume a short-axis slice)",
    )
