import warnings

import numpy as np
import pytest
from scipy import ndimage

from myomap.conventions import MYOCARDIUM
from myomap.geometry.aha import SEPTAL_SEGMENTS, aha_segments
from myomap.geometry.masks import blood_pool_core, contours_to_mask
from myomap.quantify.values import MUSCLE_MARGIN_MM, STAT_KEYS, blood_pool_roi, patient_values, region_stats, slice_values

SHAPE, SPACING = (41, 41), (1.0, 1.0)


def _circle(r, cx=20.0, cy=20.0, n=180):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)])


EPI, ENDO = _circle(12), _circle(7)
# Anterior insertion at 120 degrees on screen (up-left), on the epicardium.
INSERTION = (20 + 12 * np.cos(np.deg2rad(120)), 20 - 12 * np.sin(np.deg2rad(120)))
MYO = contours_to_mask(EPI, ENDO, SHAPE) == MYOCARDIUM
# Myocardial pixels with a row/column neighbour outside the myocardium: the partial-volume border.
BORDER = MYO & ~ndimage.binary_erosion(MYO, structure=ndimage.generate_binary_structure(2, 1), border_value=0)


def _ring_map():
    """1000 ms myocardium with a 1500 ms border, 1600 ms blood and 300 ms fat around."""
    values = np.full(SHAPE, 300.0)
    values[contours_to_mask(EPI, ENDO, SHAPE) == 2] = 1600.0
    values[MYO] = 1000.0
    values[BORDER] = 1500.0
    return values


def _row(rows, region, eroded):
    (row,) = [r for r in rows if r["region"] == region and r["eroded"] == eroded]
    return row


def test_erosion_removes_the_partial_volume_border():
    rows = slice_values(_ring_map(), EPI, ENDO, None, "mid", spacing_mm=SPACING)
    eroded, drawn = _row(rows, "global", True), _row(rows, "global", False)
    assert eroded["median_ms"] == 1000.0 and eroded["mean_ms"] == 1000.0 and eroded["sd_ms"] == 0.0
    assert eroded["n_pixels"] == (MYO & ~BORDER).sum()
    assert drawn["n_pixels"] == MYO.sum() and drawn["mean_ms"] > 1000.0


def test_no_erosion_gives_equal_rows():
    rows = slice_values(
        _ring_map(),
        EPI,
        ENDO,
        INSERTION,
        "basal",
        spacing_mm=SPACING,
        erosion_margin_px=0,
    )
    for drawn, eroded in zip(rows[::2], rows[1::2]):
        assert drawn["region"] == eroded["region"] and not drawn["eroded"] and eroded["eroded"]
        assert drawn["n_pixels"] == eroded["n_pixels"] and drawn["mean_ms"] == eroded["mean_ms"]


def test_nan_and_inf_pixels_are_left_out_and_counted():
    values = _ring_map()
    values[MYO & ~BORDER] = 1000.0
    inner = np.argwhere(MYO & ~BORDER)[:3]
    values[tuple(inner[:2].T)] = np.nan
    values[tuple(inner[2])] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stats = region_stats(values, MYO & ~BORDER)
    assert stats["n_missing"] == 3 and stats["n_pixels"] == (MYO & ~BORDER).sum() - 3
    assert stats["mean_ms"] == 1000.0 and stats["iqr_ms"] == 0.0


@pytest.mark.parametrize("values", [np.full(SHAPE, 1000.0), np.full(SHAPE, np.nan)])
def test_empty_region_gives_nan_without_warnings(values):
    mask = np.zeros(SHAPE, bool) if np.isfinite(values).all() else MYO
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stats = region_stats(values, mask)
    assert set(stats) == set(STAT_KEYS) and stats["n_pixels"] == 0
    assert stats["n_missing"] == (0 if np.isfinite(values).all() else MYO.sum())
    assert all(np.isnan(stats[k]) for k in STAT_KEYS if k.endswith("_ms"))


def test_known_statistics_and_single_pixel():
    values = np.array([[1.0, 2.0, 3.0, 4.0, 100.0]])
    stats = region_stats(values, np.ones_like(values, bool))
    assert stats["median_ms"] == 3.0 and stats["q1_ms"] == 2.0 and stats["q3_ms"] == 4.0 and stats["iqr_ms"] == 2.0
    assert stats["mean_ms"] == 22.0 and stats["sd_ms"] == pytest.approx(np.std(values, ddof=1))
    one = region_stats(values, values == 100.0)
    assert one["n_pixels"] == 1 and one["median_ms"] == 100.0 and np.isnan(one["sd_ms"])
    with pytest.raises(ValueError, match="shape"):
        region_stats(values, np.ones((2, 2), bool))


@pytest.mark.parametrize(
    "position, segments",
    [("basal", range(1, 7)), ("mid", range(7, 13)), ("apical", range(13, 17))],
)
def test_one_row_per_segment_of_the_slice_level(position, segments):
    labels = aha_segments(EPI, ENDO, INSERTION, SHAPE, position, spacing_mm=SPACING)
    values = 1000.0 + 10.0 * labels  # each segment carries its number
    rows = slice_values(values, EPI, ENDO, INSERTION, position, spacing_mm=SPACING)
    regions = [r["region"] for r in rows if not r["eroded"]]
    assert regions == ["global", *(f"segment_{n}" for n in segments), "septal"]
    assert len(rows) == 2 * len(regions) + 1 and rows[-1]["region"] == "blood"
    assert all(r["slice"] == position for r in rows)
    for n in segments:
        row = _row(rows, f"segment_{n}", False)
        assert row["segment"] == n and row["n_pixels"] > 0
        assert row["median_ms"] == 1000.0 + 10 * n and row["iqr_ms"] == 0.0
        assert 0 < _row(rows, f"segment_{n}", True)["n_pixels"] < row["n_pixels"]


@pytest.mark.parametrize("position", ["basal", "mid", "apical"])
def test_septal_roi_lies_in_the_septal_segments_only(position):
    labels = aha_segments(EPI, ENDO, INSERTION, SHAPE, position, spacing_mm=SPACING)
    rows = slice_values(
        1000.0 + 10.0 * labels,
        EPI,
        ENDO,
        INSERTION,
        position,
        spacing_mm=SPACING,
        return_pixels=True,
    )
    allowed = {1000.0 + 10 * n for n in SEPTAL_SEGMENTS[position]}
    for eroded in (False, True):
        septal = _row(rows, "septal", eroded)
        assert septal["n_pixels"] > 0 and septal["segment"] is None
        assert set(np.unique(septal["values_ms"])) <= allowed
    assert _row(rows, "septal", True)["n_pixels"] <= _row(rows, "septal", False)["n_pixels"]


def test_without_reference_only_global_and_blood_rows():
    rows = slice_values(_ring_map(), EPI, ENDO, None, "apical", spacing_mm=SPACING)
    assert [(r["region"], r["eroded"]) for r in rows] == [
        ("global", False),
        ("global", True),
        ("blood", True),
    ]
    assert rows[-1]["median_ms"] == 1600.0 and rows[-1]["iqr_ms"] == 0.0


@pytest.mark.parametrize(
    "reference, position, kwargs, message",
    [
        ((20.0, 20.0), "basal", {}, "inside the blood pool"),
        (INSERTION, "apex", {}, "slice position"),
        (INSERTION, "mid", {"erosion_margin_px": -1.0}, "erosion margin"),
    ],
)
def test_bad_input_is_a_value_error(reference, position, kwargs, message):
    with pytest.raises(ValueError, match=message):
        slice_values(_ring_map(), EPI, ENDO, reference, position, spacing_mm=SPACING, **kwargs)


def _patient_rows():
    """Basal slice: small ring at 50 ms; mid slice: larger ring at 100 ms with one NaN pixel."""
    basal = slice_values(
        np.full(SHAPE, 50.0),
        EPI,
        ENDO,
        INSERTION,
        "basal",
        spacing_mm=SPACING,
        return_pixels=True,
    )
    epi, endo = _circle(16), _circle(7)
    mid_map = np.full(SHAPE, 100.0)
    mid_map[20, 20 + 11] = np.nan
    mid_insertion = (
        20 + 16 * np.cos(np.deg2rad(120)),
        20 - 16 * np.sin(np.deg2rad(120)),
    )
    mid = slice_values(mid_map, epi, endo, mid_insertion, "mid", spacing_mm=SPACING, return_pixels=True)
    return basal, mid


def test_patient_values_pool_the_pixels():
    basal, mid = _patient_rows()
    pooled = patient_values(basal + mid)
    n_basal, n_mid = (
        _row(basal, "global", False)["n_pixels"],
        _row(mid, "global", False)["n_pixels"],
    )
    assert n_mid > n_basal  # so the pooled median is the mid value, not the mean of the two medians
    overall = _row(pooled, "global", False)
    assert overall["n_slices"] == 2 and overall["n_pixels"] == n_basal + n_mid and overall["n_missing"] == 1
    assert overall["median_ms"] == 100.0
    assert overall["mean_ms"] == pytest.approx((50.0 * n_basal + 100.0 * n_mid) / (n_basal + n_mid))
    # The septal ROI comes from the mid slice only (SCMR/EACVI: mid-ventricular septum).
    assert _row(pooled, "septal", True)["n_slices"] == 1
    assert _row(pooled, "septal", True)["median_ms"] == 100.0
    assert [r["segment"] for r in pooled if r["region"].startswith("segment") and not r["eroded"]] == list(range(1, 13))
    for n in range(1, 13):
        segment = _row(pooled, f"segment_{n}", False)
        source = _row(basal if n <= 6 else mid, f"segment_{n}", False)
        assert segment["n_slices"] == 1 and segment["median_ms"] == source["median_ms"] and segment["n_pixels"] == source["n_pixels"]
    assert [r["region"] for r in pooled[:2]] == ["global", "global"]
    assert [r["region"] for r in pooled[-3:]] == ["septal", "septal", "blood"]
    assert patient_values([]) == []


def test_patient_values_refuse_rows_without_pixels():
    with pytest.raises(ValueError, match="return_pixels"):
        patient_values(slice_values(np.full(SHAPE, 50.0), EPI, ENDO, None, "basal", spacing_mm=SPACING))


def test_two_slices_of_one_level_pool_their_segments():
    basal, _ = _patient_rows()
    pooled = patient_values(basal + basal)  # e.g. two basal slices of a longer stack
    for n in range(1, 7):
        single = _row(basal, f"segment_{n}", False)
        both = _row(pooled, f"segment_{n}", False)
        assert both["n_slices"] == 2 and both["n_pixels"] == 2 * single["n_pixels"]
        assert both["median_ms"] == single["median_ms"]


@pytest.mark.parametrize("bad", [0.0, -5.0, 4095.0, np.nan, np.inf])
def test_zero_negative_and_out_of_range_pixels_are_missing(bad):
    values = _ring_map()
    values[MYO & ~BORDER] = 1000.0
    inner = np.argwhere(MYO & ~BORDER)[:4]
    values[tuple(inner.T)] = bad
    stats = region_stats(values, MYO & ~BORDER, valid_range_ms=(50.0, 3500.0))
    assert stats["n_missing"] == 4 and stats["n_pixels"] == (MYO & ~BORDER).sum() - 4
    assert stats["mean_ms"] == 1000.0 and stats["sd_ms"] == 0.0


def test_segments_with_too_few_pixels_are_flagged():
    rows = slice_values(_ring_map(), EPI, ENDO, INSERTION, "mid", spacing_mm=SPACING, min_pixels=40)
    for row in rows:
        assert row["few_pixels"] == (row["n_pixels"] < 40)
    assert any(r["few_pixels"] for r in rows) and not _row(rows, "global", False)["few_pixels"]


def test_septal_roi_falls_back_to_basal_and_is_absent_on_apical_only():
    basal, _ = _patient_rows()
    apical = slice_values(np.full(SHAPE, 70.0), EPI, ENDO, INSERTION, "apical", spacing_mm=SPACING, return_pixels=True)
    pooled = patient_values(basal + apical)
    assert _row(pooled, "septal", False)["median_ms"] == 50.0
    assert not [r for r in patient_values(apical) if r["region"] == "septal"]


def test_blood_pool_keeps_away_from_papillary_muscles():
    values = _ring_map()
    # Papillary muscles (myocardial values) against the wall inside the cavity.
    for angle in (200.0, 330.0):
        x, y = 20 + 5.5 * np.cos(np.deg2rad(angle)), 20 - 5.5 * np.sin(np.deg2rad(angle))
        values[int(round(y)) - 1 : int(round(y)) + 2, int(round(x)) - 1 : int(round(x)) + 2] = 1000.0
    blood = _row(slice_values(values, EPI, ENDO, None, "mid", spacing_mm=SPACING), "blood", True)
    assert blood["n_pixels"] > 0 and blood["median_ms"] == 1600.0 and blood["iqr_ms"] == 0.0


def test_blood_pool_leaves_out_muscle_reaching_into_the_core_with_a_margin():
    epi, endo = _circle(19, 30.0, 30.0), _circle(15, 30.0, 30.0)
    rng = np.random.default_rng(3)
    t2_ms = np.full((61, 61), 45.0)
    t2_ms[contours_to_mask(epi, endo, (61, 61)) == 2] = 220.0
    t2_ms += rng.normal(0.0, 15.0, t2_ms.shape)  # noisy blood: single low pixels are not muscle
    yy, xx = np.mgrid[:61, :61]
    muscle = (xx - 33.0) ** 2 + (yy - 30.0) ** 2 <= 2.0**2
    t2_ms[muscle] = 50.0
    roi = blood_pool_roi(t2_ms, epi, endo, spacing_mm=SPACING)
    core = blood_pool_core(endo, (61, 61), spacing_mm=SPACING)
    distance = ndimage.distance_transform_edt(~muscle)
    assert not (roi & (distance <= MUSCLE_MARGIN_MM)).any()  # the muscle and its margin are out
    assert (roi == (core & (distance > MUSCLE_MARGIN_MM))).all()  # nothing else is taken out
    blood = _row(slice_values(t2_ms, epi, endo, None, "mid", spacing_mm=SPACING, return_pixels=True), "blood", True)
    assert blood["n_pixels"] == roi.sum() and abs(blood["median_ms"] - 220.0) < 5.0


def test_blood_pool_looks_for_no_muscle_where_noise_hides_it():
    # A late post-contrast map: blood 400 ms, myocardium 480 ms, noise SD 60 ms; clumps of noise are no muscle.
    epi, endo = _circle(19, 30.0, 30.0), _circle(15, 30.0, 30.0)
    t1_ms = np.full((61, 61), 480.0)
    t1_ms[contours_to_mask(epi, endo, (61, 61)) == 2] = 400.0
    t1_ms += np.random.default_rng(5).normal(0.0, 60.0, t1_ms.shape)
    roi = blood_pool_roi(t1_ms, epi, endo, spacing_mm=SPACING)
    assert (roi == blood_pool_core(endo, (61, 61), spacing_mm=SPACING)).all()


def test_blood_pool_finds_the_blood_when_muscle_fills_most_of_the_core():
    # A mid-ventricular T2 map whose core is mostly papillary muscle and the partial volume around it
    # (blurred as the point-spread function and misregistered source images blur it): the core's
    # median and MAD are pulled into the muscle, yet the blood and its level must still be found.
    epi, endo = _circle(19, 30.0, 30.0), _circle(13, 30.0, 30.0)
    yy, xx = np.mgrid[:61, :61]
    t2_ms = np.full((61, 61), 50.0)
    t2_ms[contours_to_mask(epi, endo, (61, 61)) == 2] = 250.0
    muscle = ((xx - 34.0) ** 2 + (yy - 30.0) ** 2 <= 4.0**2) | ((xx - 26.0) ** 2 + (yy - 32.0) ** 2 <= 3.5**2)
    t2_ms[muscle] = 50.0
    t2_ms = ndimage.gaussian_filter(t2_ms, 1.0) + np.random.default_rng(8).normal(0.0, 8.0, t2_ms.shape)
    core = blood_pool_core(endo, (61, 61), spacing_mm=SPACING)
    core_ms = t2_ms[core]
    assert np.median(core_ms) < 200.0  # the old estimate: the median of the core
    roi = blood_pool_roi(t2_ms, epi, endo, spacing_mm=SPACING)
    assert roi.sum() >= 5 and not (roi & muscle).any()
    assert abs(np.median(t2_ms[roi]) - 250.0) < 5.0


def test_a_segment_holding_blood_is_found_and_left_out_of_every_region():
    """A basal ring closed across the outflow tract: segment 1 holds the blood's values, not the wall's."""
    from myomap.quantify.values import blood_like_segments

    values = _ring_map()
    labels = aha_segments(EPI, ENDO, INSERTION, SHAPE, "basal", spacing_mm=SPACING)
    values[labels == 1] = 1580.0
    rows = slice_values(values, EPI, ENDO, INSERTION, "basal", spacing_mm=SPACING)
    assert blood_like_segments(rows) == [1]
    kept = slice_values(values, EPI, ENDO, INSERTION, "basal", spacing_mm=SPACING, left_out=(1,))
    assert _row(kept, "segment_1", True)["n_pixels"] == _row(kept, "segment_1", False)["n_pixels"] == 0
    assert _row(kept, "global", True)["mean_ms"] == 1000.0 and _row(rows, "global", True)["mean_ms"] > 1050.0
    assert _row(kept, "blood", True)["median_ms"] == 1600.0
    assert blood_like_segments(kept) == []
    # A segment raised as far as an acute infarct's native T1 (1300 ms here: over half-way to the blood) stays wall.
    values[labels == 1] = 1300.0
    assert blood_like_segments(slice_values(values, EPI, ENDO, INSERTION, "basal", spacing_mm=SPACING)) == []
