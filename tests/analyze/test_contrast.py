from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset

from myomap.analyze.contrast import ContrastCall, classify_study, t1_level_ms, with_contrast
from myomap.geometry.levels import slice_levels
from myomap.io.context import ScanContext, scan_context


def _ctx(**kwargs):
    return ScanContext(**kwargs)


@pytest.mark.parametrize(
    "context, level, expected",
    [
        (_ctx(contrast_agent="Gadovist 1.0"), 1000.0, ContrastCall("post", "ContrastBolusAgent")),
        (_ctx(contrast_agent="NONE", description="MOLLI_T1_post_15min"), 1000.0, ContrastCall("post", "series-description")),
        (_ctx(description="T1 MAP ENH"), 1000.0, ContrastCall("post", "series-description")),
        (_ctx(description="t1map_gd_sax"), 1000.0, ContrastCall("post", "series-description")),
        (_ctx(description="MOLLI pre contrast"), 400.0, ContrastCall("native", "series-description")),
        (_ctx(description="MOLLI non-contrast"), 400.0, ContrastCall("native", "series-description")),
        (_ctx(description="MOLLI_T1_MAP_mid"), 1000.0, ContrastCall("native", "default")),
        (_ctx(description="MOLLI_T1_MAP_mid", field_strength_t=1.5), 420.0, ContrastCall("post", "value-range")),
        (_ctx(description="MOLLI_T1_MAP_mid", field_strength_t=3.0), 800.0, ContrastCall("post", "value-range")),
    ],
)
def test_a_lone_series_is_called_by_the_first_rule_that_decides(context, level, expected):
    assert classify_study([("T1", context, level)]) == [expected]


def test_time_order_and_value_range_split_two_unlabelled_series():
    native, post = _ctx(acquisition_time_s=36000.0), _ctx(acquisition_time_s=37200.0)
    calls = classify_study([("T1", post, 450.0), ("T1", native, 1150.0), ("T2", _ctx(), 50.0)])
    assert calls == [
        ContrastCall("post", "acquisition-time+value-range"),
        ContrastCall("native", "default"),
        ContrastCall("native", "default"),
    ]
    # Without times the level alone decides, and says so.
    assert classify_study([("T1", _ctx(), 450.0), ("T1", _ctx(), 1150.0)])[0] == ContrastCall("post", "value-range")


def test_scan_context_reads_only_acquisition_fields():
    ds = Dataset()
    ds.PatientName, ds.PatientID = "Doe^Jane", "12345"
    ds.MagneticFieldStrength, ds.HeartRate = "2.89362", "71"
    ds.SeriesDescription, ds.SequenceName = "MOLLI_5(3)3_post", "*tfi2d1_192"
    ds.ContrastBolusAgent, ds.AcquisitionTime = "", "101502.50"
    context = scan_context(ds)
    assert context == ScanContext(2.89362, "MOLLI", 71.0, "", 36902.5, "MOLLI_5(3)3_post")
    assert "Doe" not in repr(context) and "12345" not in repr(context)
    assert scan_context(Dataset()) == ScanContext()
    shmolli = Dataset()
    shmolli.ProtocolName = "ShMOLLI_192i"
    assert scan_context(shmolli).sequence == "ShMOLLI"


@dataclass(frozen=True)
class _Map:
    path: Path
    map_type: str
    series_uid: str
    context: ScanContext
    pixels: np.ndarray
    contrast: str = "native"
    contrast_rule: str = ""


def test_one_decision_per_series_applied_to_all_its_slices():
    slices = [
        _Map(Path(f"{s}{k}.dcm"), "T1", s, _ctx(), np.full((32, 32), level)) for s, level in (("a", 1000.0), ("b", 430.0)) for k in range(3)
    ]
    called = with_contrast(slices)
    assert [(m.series_uid, m.contrast) for m in called] == [("a", "native")] * 3 + [("b", "post")] * 3
    assert {m.contrast_rule for m in called if m.series_uid == "b"} == {"value-range"}
    assert np.isnan(t1_level_ms(np.zeros((8, 8))))


@pytest.mark.parametrize(
    "distances, levels, basis",
    [
        ([0.0, 8.0, 16.0], ["basal", "mid", "apical"], "thirds-of-extent"),
        ([0.0, 8.0, 16.0, 24.0, 32.0, 40.0], ["basal", "basal", "mid", "mid", "apical", "apical"], "thirds-of-extent"),
        # Uneven spacing: the extent, not the count, decides (two slices crowd the base).
        ([0.0, 2.0, 30.0], ["basal", "basal", "apical"], "thirds-of-extent"),
        ([12.0, 3.0], ["mid", "basal"], "two-slices-assumed-basal-mid"),
        ([7.0], ["mid"], "one-slice-assumed-mid"),
        ([np.nan] * 3, ["basal", "mid", "apical"], "no-geometry-file-order"),
    ],
)
def test_slice_levels_come_from_the_extent_and_say_their_basis(distances, levels, basis):
    assert slice_levels(distances) == (levels, basis)
