import math

import numpy as np
import pytest

from myomap.quantify.ecv import (
    ECV_COLUMNS,
    HematocritError,
    check_hematocrit,
    ecv_fraction,
    ecv_rows,
    read_hematocrit_csv,
    synthetic_hematocrit,
    synthetic_hematocrit_unusable,
)
from myomap.quantify.plausibility import plausibility_reasons
from myomap.quantify.ranges import RangesError, find_range, flag, load_ranges


def _post_t1(native_ms, partition, delta_r1_blood):
    return 1.0 / (1.0 / native_ms + partition * delta_r1_blood)


@pytest.mark.parametrize("ecv, hct", [(0.22, 0.45), (0.30, 0.38), (0.48, 0.42)])
def test_ecv_recovers_the_extracellular_fraction_of_fast_exchange_tissue(ecv, hct):
    blood_native, blood_post = 1600.0, 320.0
    delta = 1 / blood_post - 1 / blood_native
    myo_post = _post_t1(1000.0, ecv / (1 - hct), delta)
    assert ecv_fraction(1000.0, myo_post, blood_native, blood_post, hct) == pytest.approx(ecv, rel=1e-12)


def test_ecv_is_nan_for_missing_or_impossible_inputs():
    assert math.isnan(ecv_fraction(1000.0, math.nan, 1600.0, 320.0, 0.42))
    assert math.isnan(ecv_fraction(1000.0, 450.0, 1600.0, 1700.0, 0.42))  # blood T1 rose after "contrast"
    assert math.isnan(ecv_fraction(1000.0, 450.0, 1600.0, 320.0, -0.1))


def _rows(myo, blood, segments):
    rows = [{"region": "global", "segment": None, "eroded": True, "median_ms": myo}]
    rows += [{"region": f"segment_{n}", "segment": n, "eroded": True, "median_ms": v} for n, v in segments.items()]
    rows += [{"region": "septal", "segment": None, "eroded": True, "median_ms": myo},
             {"region": "blood", "segment": None, "eroded": True, "median_ms": blood},
             {"region": "global", "segment": None, "eroded": False, "median_ms": 2 * myo}]  # fmt: skip
    return rows


def test_ecv_rows_global_and_per_segment_with_exactly_the_columns():
    delta = 1 / 300.0 - 1 / 1600.0
    native = _rows(1000.0, 1600.0, {1: 1000.0, 2: 1100.0, 13: math.nan})
    post = _rows(
        _post_t1(1000.0, 0.25 / 0.6, delta),
        300.0,
        {1: _post_t1(1000.0, 0.25 / 0.6, delta), 2: _post_t1(1100.0, 0.4 / 0.6, delta), 13: 400.0},
    )
    rows = ecv_rows("patient-01", native, post, 0.4)
    assert all(tuple(r) == (*ECV_COLUMNS, "few_pixels") for r in rows)  # analyze.clinical.patient_ecv adds the context columns of ecv.csv
    assert [(r["region"], r["segment"]) for r in rows] == [("global", None), ("segment", 1), ("segment", 2), ("segment", 13)]
    assert rows[0]["ecv_percent"] == pytest.approx(25.0) and rows[2]["ecv_percent"] == pytest.approx(40.0)
    assert math.isnan(rows[3]["ecv_percent"])  # a segment without myocardium has no ECV, not a wrong one
    assert ecv_rows("p", native, [r for r in post if r["region"] != "blood"], 0.4) == []


def test_a_segment_with_too_few_pixels_in_either_state_gets_no_ecv_but_keeps_its_t1():
    delta = 1 / 300.0 - 1 / 1600.0
    native = _rows(1000.0, 1600.0, {1: 1000.0, 2: 1000.0, 3: 1000.0})
    post = _rows(_post_t1(1000.0, 0.25 / 0.6, delta), 300.0, dict.fromkeys((1, 2, 3), _post_t1(1000.0, 0.25 / 0.6, delta)))
    native[2]["few_pixels"] = True  # segment 2: a thin native ROI
    post[3]["few_pixels"] = True  # segment 3: a thin post-contrast ROI
    rows = {r["segment"]: r for r in ecv_rows("p", native, post, 0.4)}
    assert rows[1]["ecv_percent"] == pytest.approx(25.0) and not rows[1]["few_pixels"]
    for n in (2, 3):
        assert math.isnan(rows[n]["ecv_percent"]) and rows[n]["few_pixels"] and rows[n]["native_myo_ms"] == 1000.0


@pytest.mark.parametrize("value", [0.05, 0.75, 42, "abc"])
def test_hematocrit_outside_range_is_one_clear_error(value):
    with pytest.raises(HematocritError, match="haematocrit"):
        check_hematocrit(value)
    assert check_hematocrit("0.42") == 0.42


def test_hematocrit_csv(tmp_path):
    good = tmp_path / "hct.csv"
    good.write_text("patient,hematocrit\npatient-01,0.41\nsub-002,0.38\n")
    assert read_hematocrit_csv(good) == {"patient-01": 0.41, "sub-002": 0.38}
    bad = tmp_path / "bad.csv"
    bad.write_text("patient,hematocrit\npatient-01,41\n")
    with pytest.raises(HematocritError, match="patient-01.*outside"):
        read_hematocrit_csv(bad)
    with pytest.raises(HematocritError, match="columns"):
        read_hematocrit_csv(_write(tmp_path / "cols.csv", "id,hct\na,0.4\n"))
    with pytest.raises(HematocritError, match="cannot read"):
        read_hematocrit_csv(tmp_path / "missing.csv")


def test_a_hematocrit_csv_saved_by_excel_with_a_byte_order_mark_is_read(tmp_path):
    excel = tmp_path / "excel.csv"
    excel.write_text("patient,hematocrit\r\npatient-01,0.41\r\n", encoding="utf-8-sig")  # Excel's "CSV UTF-8"
    assert read_hematocrit_csv(excel) == {"patient-01": 0.41}


def _write(path, text):
    path.write_text(text)
    return path


def test_synthetic_hematocrit_follows_the_published_relations():
    assert synthetic_hematocrit(1600.0, 1.5) == pytest.approx(866.0 / 1600.0 - 0.1232)
    assert synthetic_hematocrit(1900.0, 3.0) == pytest.approx(1355.52 / 1900.0 - 0.310)
    assert math.isnan(synthetic_hematocrit(math.nan, 1.5))
    assert synthetic_hematocrit(1800.0, 2.89362, "MOLLI") == pytest.approx(1355.52 / 1800.0 - 0.310)  # the exact field of a 3 T magnet
    assert synthetic_hematocrit(1600.0, 1.494, "") == pytest.approx(866.0 / 1600.0 - 0.1232)  # no sequence named: taken as MOLLI


@pytest.mark.parametrize(
    "field_t, sequence, reason",
    [(None, "MOLLI", "field strength is unknown"), (0.55, "MOLLI", "no relation for 0.55 T"), (7.0, "", "no relation for 7 T"),
     (1.5, "SASHA", "SASHA"), (3.0, "ShMOLLI", "ShMOLLI"), (1.5, "SAPPHIRE", "SAPPHIRE")],
)  # fmt: skip
def test_no_synthetic_hematocrit_without_a_known_field_or_from_another_sequence_than_molli(field_t, sequence, reason):
    assert reason in synthetic_hematocrit_unusable(field_t, sequence)
    assert math.isnan(synthetic_hematocrit(1800.0, field_t, sequence))


def test_shipped_ranges_cite_their_sources_and_match_by_field_and_sequence():
    ranges = load_ranges()
    assert ranges and all(r.source for r in ranges)
    t1 = find_range(ranges, "T1", "native", 1.49, "MOLLI")
    assert t1 is not None and t1.low < 950 < t1.high and "Dabir" in t1.source
    assert find_range(ranges, "T1", "native", 1.5, "SASHA") is None  # no published SASHA range shipped
    assert find_range(ranges, "T1", "native", None, "MOLLI") is None
    assert find_range(ranges, "ECV", "post", 3.0, "anything").high == 34
    assert [flag(v, t1) for v in (850.0, 950.0, 1050.0, math.nan)] == ["low", "normal", "high", ""]


def test_a_local_ranges_file_replaces_the_shipped_one(tmp_path):
    local = _write(
        tmp_path / "site.yaml",
        "ranges:\n  - {map: T2, contrast: native, field_t: 1.5, sequence: T2-prep, low: 44, high: 54, source: local}\n",
    )
    (only,) = load_ranges(local)
    assert find_range([only], "T2", "native", 1.5, "t2-prep") == only
    for text, message in (("ranges: 3\n", "list"), ("ranges:\n  - {map: T3, field_t: 1.5, low: 1, high: 2}\n", "map must be"),
                          ("ranges:\n  - {map: T1, low: 1, high: 2}\n", "range 1 needs"), (": [\n", "cannot read")):  # fmt: skip
        with pytest.raises(RangesError, match=message):
            load_ranges(_write(tmp_path / "bad.yaml", text))


def test_an_ecv_range_written_as_a_fraction_is_refused_naming_the_file(tmp_path):
    site = _write(tmp_path / "site.yaml", "ranges:\n  - {map: ECV, contrast: post, field_t: 1.5, low: 0.22, high: 0.30, source: site}\n")
    with pytest.raises(RangesError, match=r"site\.yaml: range 1: ECV .* percentages .*0\.22-0\.3"):
        load_ranges(site)
    (percent,) = load_ranges(
        _write(tmp_path / "percent.yaml", "ranges:\n  - {map: ECV, contrast: post, field_t: 1.5, low: 22, high: 30}\n")
    )
    assert (percent.low, percent.high) == (22.0, 30.0)


def test_plausibility_flags_wrong_map_type_and_leaking_contours():
    (reason,) = plausibility_reasons("T1", "native", {"median_ms": 49.0, "mean_ms": 49.0, "iqr_ms": 3.0})
    assert "does not fit a native T1 map" in reason
    assert plausibility_reasons("T1", "post", {"median_ms": 450.0, "mean_ms": 452.0, "iqr_ms": 40.0}) == ()
    reasons = plausibility_reasons("T2", "native", {"median_ms": 52.0, "mean_ms": 70.0, "iqr_ms": 30.0})
    assert len(reasons) == 2 and "IQR" in reasons[0] and "mean" in reasons[1]
    assert plausibility_reasons("T1", "native", {"median_ms": np.nan}) == ()
