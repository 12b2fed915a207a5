from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset

from myomap.analyze.contrast import ContrastCall, classify_series, classify_study, description_state, t1_level_ms, with_contrast
from myomap.geometry.levels import exam_levels, slice_levels
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


def test_a_study_of_post_contrast_maps_only_is_post():
    # Two unlabelled post-contrast series (10 and 20 min): neither is below 70 % of the other, both below 700 ms.
    calls = classify_study([("T1", _ctx(field_strength_t=1.5), 430.0), ("T1", _ctx(field_strength_t=1.5), 470.0)])
    assert calls == [ContrastCall("post", "value-range")] * 2
    # Two native series of a study stay native.
    assert classify_study([("T1", _ctx(), 1000.0), ("T1", _ctx(), 1040.0)]) == [ContrastCall("native", "default")] * 2


def test_an_agent_on_every_series_yields_to_the_levels_of_native_and_post_maps():
    # The contrast field filled at registration: native maps acquired 30 min before the post ones name the agent too.
    native, post = _ctx(contrast_agent="Gadovist", acquisition_time_s=36000.0), _ctx(contrast_agent="Gadovist", acquisition_time_s=37800.0)
    calls = classify_study([("T1", native, 980.0), ("T1", post, 480.0), ("T2", native, float("nan"))])
    assert calls == [
        ContrastCall("native", "default"),
        ContrastCall("post", "acquisition-time+value-range"),
        ContrastCall("native", "default"),
    ]
    # The names still decide where they say something.
    named = [("T1", replace(native, description="MOLLI pre"), 980.0), ("T1", replace(post, description="MOLLI post"), 480.0)]
    assert [c.rule for c in classify_study(named)] == ["series-description"] * 2
    # An agent on post-contrast series only, or on two post-contrast series of similar level, still decides.
    assert classify_study([("T1", _ctx(), 980.0), ("T1", post, 480.0)])[1] == ContrastCall("post", "ContrastBolusAgent")
    assert classify_study([("T1", post, 430.0), ("T1", post, 480.0)]) == [ContrastCall("post", "ContrastBolusAgent")] * 2
    # A lone native-level series that names an agent is still called post (the value check then flags it).
    assert classify_study([("T1", native, 980.0)]) == [ContrastCall("post", "ContrastBolusAgent")]
    # Two post-contrast maps 10 and 30 min after the injection (3 T, no field in the header): the later is higher.
    early, late = _ctx(contrast_agent="Gd", acquisition_time_s=37000.0), _ctx(contrast_agent="Gd", acquisition_time_s=38200.0)
    assert classify_study([("T1", early, 470.0), ("T1", late, 710.0)]) == [ContrastCall("post", "ContrastBolusAgent")] * 2
    # A native level acquired after the low one cannot be the native map of this exam: the agent still decides.
    at_15 = replace(late, field_strength_t=1.5)
    assert classify_study([("T1", early, 470.0), ("T1", at_15, 720.0)]) == [ContrastCall("post", "ContrastBolusAgent")] * 2


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
    cine: bool = False


def test_one_decision_per_series_applied_to_all_its_slices():
    slices = [
        _Map(Path(f"{s}{k}.dcm"), "T1", s, _ctx(), np.full((32, 32), level)) for s, level in (("a", 1000.0), ("b", 430.0)) for k in range(3)
    ]
    called = with_contrast(slices)
    assert [(m.series_uid, m.contrast) for m in called] == [("a", "native")] * 3 + [("b", "post")] * 3
    assert {m.contrast_rule for m in called if m.series_uid == "b"} == {"value-range"}
    assert np.isnan(t1_level_ms(np.zeros((8, 8))))


def test_a_cine_given_a_map_type_is_never_called_post_contrast_by_its_signal():
    """A cine's pixels are signal, not ms: at 300 they would read as a post-contrast T1 level, beside a native map as one too."""
    native = [_Map(Path(f"m{k}.dcm"), "T1", "maps", _ctx(), np.full((32, 32), 1000.0)) for k in range(2)]
    cine = [_Map(Path(f"c{k}.dcm"), "T1", "cine", _ctx(), np.full((32, 32), 300.0), cine=True) for k in range(4)]
    assert {(m.series_uid, m.contrast, m.contrast_rule) for m in with_contrast(cine)} == {("cine", "native", "cine")}
    assert {(m.series_uid, m.contrast, m.contrast_rule) for m in with_contrast(native + cine)} == {
        ("maps", "native", "default"),
        ("cine", "native", "cine"),
    }
    # Nor does a bright cine set the study's native level: native maps at 900 ms are under 0.7 of 1400.
    bright = [replace(m, pixels=np.full((32, 32), 1400.0)) for m in cine]
    assert {m.series_uid: m.contrast for m in with_contrast(native[:1] + bright)} == {"maps": "native", "cine": "native"}
    assert {m.series_uid: m.contrast for m in with_contrast([replace(native[0], pixels=np.full((32, 32), 900.0))] + bright)} == {
        "maps": "native",
        "cine": "native",
    }
    named = [replace(m, context=_ctx(description="cine_sax_post_gd")) for m in cine]  # the header still decides
    assert {(m.contrast, m.contrast_rule) for m in with_contrast(named)} == {("post", "series-description")}


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


@pytest.mark.parametrize(
    "stacks, levels",
    [
        # The native stack's extent labels the lone post slice (at the base, or beyond either end).
        ([[0.0, 10.0, 20.0], [1.0]], [["basal", "mid", "apical"], ["basal"]]),
        ([[0.0, 10.0, 20.0], [-6.0], [27.0]], [["basal", "mid", "apical"], ["basal"], ["apical"]]),
        # One slice per stack, replanned a few mm apart: each stays mid (the thirds of 6 mm are no LV's).
        ([[0.0], [3.0], [6.0]], [["mid"], ["mid"], ["mid"]]),
        # Two native slices: another stack's slice near one of them takes its level; halfway, its own.
        ([[0.0, 10.0], [3.0]], [["basal", "mid"], ["basal"]]),
        ([[0.0, 10.0], [5.0]], [["basal", "mid"], ["mid"]]),
        # A stack without geometry keeps its file order.
        ([[0.0, 10.0, 20.0], [np.nan] * 3], [["basal", "mid", "apical"], ["basal", "mid", "apical"]]),
    ],
)
def test_exam_levels_take_the_largest_stacks_extent(stacks, levels):
    assert [found for found, _ in exam_levels(stacks)] == levels


# Series descriptions as sites write them (several languages and abbreviations); "" = the name does not say.
@pytest.mark.parametrize(
    "text, state",
    [
        ("MOLLI_post_15min", "post"),
        ("post_MOLLI_4s(1s)3s(1s)2s_256", "post"),
        ("T1 MAP POST", "post"),
        ("T1_postcontrast_SAX", "post"),
        ("t1map_postGd", "post"),
        ("T1map_pc", "post"),
        ("MOLLI +C", "post"),
        ("T1 C+ sax", "post"),
        ("MOLLI_Gd", "post"),
        ("T1 nach KM", "post"),
        ("MOLLI KM 15", "post"),
        ("T1map mdc", "post"),
        ("T1 MAP 10 min", "post"),
        ("SAX_T1MAP_ENH", "post"),
        ("T1 Dotarem", "post"),
        ("MOLLI_pre", "native"),
        ("pre_MOLLI_5s3s3s_256", "native"),
        ("T1map_precontrast", "native"),
        ("MOLLI pre-Gd", "native"),
        ("T1map_preGd", "native"),
        ("ShMOLLI non-enhanced", "native"),
        ("unenhanced T1", "native"),
        ("T1 native SAX", "native"),
        ("T1 nativ", "native"),
        ("T1 vor KM", "native"),
        ("T1 ohne KM", "native"),
        ("T1 w/o contrast", "native"),
        ("T1 sans gado", "native"),
        ("MOLLI_5(3)3_SAX_MOCO_T1", ""),
        ("T1MAP_SAX4_MOCO_T1_0018", ""),
        ("T2prep_SSFP_T2MAP", ""),  # "prep" is no "pre"
        ("T1 MAP posterior wall", ""),  # "posterior" is no "post"
        ("MOLLI precise", ""),
    ],
)
def test_description_words(text, state):
    assert description_state(text) == state


@pytest.mark.parametrize(
    "agent, state",
    [("Gadovist 1.0 mmol/ml", "post"), ("GADOBUTROL", "post"), ("administered", "post"), ("NONE", None), ("No", None), ("N/A", None),
     ("-", None), ("0", None), ("none given", None), ("no contrast", None), ("", None)],
)  # fmt: skip
def test_contrast_agent_words(agent, state):
    call = classify_series(_ctx(contrast_agent=agent))
    assert (call.state if call else None) == state


def test_series_description_before_protocol_name():
    assert classify_series(_ctx(description="MOLLI_SAX_MOCO_T1", protocol_name="MOLLI_post")) == ContrastCall("post", "protocol-name")
    assert classify_series(_ctx(description="T1 MAP post", protocol_name="MOLLI_pre")) == ContrastCall("post", "series-description")
    assert classify_series(_ctx(description="T1 MAP", protocol_name="MOLLI_5(3)3")) is None


def test_bolus_start_time_splits_series_the_names_do_not():
    # Only the post-contrast series carry ContrastBolusStartTime (10:30); the others are placed by their acquisition time.
    native = _ctx(acquisition_time_s=37800.0 - 1200)
    post = _ctx(acquisition_time_s=37800.0 + 900, contrast_start_s=37800.0)
    t2_after = _ctx(acquisition_time_s=37800.0 + 1000)
    calls = classify_study([("T1", native, 980.0), ("T1", post, 990.0), ("T2", t2_after, float("nan"))])
    assert calls == [ContrastCall("native", "ContrastBolusStartTime"), ContrastCall("post", "ContrastBolusStartTime")] + [
        ContrastCall("post", "ContrastBolusStartTime")
    ]


def test_a_native_word_never_makes_a_low_t1_series_post_and_a_post_word_wins_over_a_high_level():
    assert classify_study([("T1", _ctx(description="T1map_preGd"), 420.0)]) == [ContrastCall("native", "series-description")]
    assert classify_study([("T1", _ctx(description="MOLLI_Gd"), 1100.0)]) == [ContrastCall("post", "series-description")]


def test_an_exam_across_midnight_calls_its_maps_by_the_bolus_and_by_the_order_of_acquisition():
    """Times of day: a bolus at 23:55 and a post map at 00:10 made the map native (acquired 'before' the bolus)."""
    native = ScanContext(acquisition_time_s=86400.0 - 1200.0)  # 23:40
    bolus_given = ScanContext(acquisition_time_s=86400.0 - 240.0, contrast_start_s=86400.0 - 300.0)  # a cine at 23:56, bolus 23:55
    post = ScanContext(acquisition_time_s=600.0)  # 00:10
    calls = classify_study([("T1", native, 1150.0), ("T2", bolus_given, float("nan")), ("T1", post, 480.0)])
    assert [(c.state, c.rule) for c in calls] == [("native", "ContrastBolusStartTime"), ("post", "ContrastBolusStartTime"),
                                                   ("post", "ContrastBolusStartTime")]  # fmt: skip
    calls = classify_study([("T1", native, 1150.0), ("T1", post, 480.0), ("T1", ScanContext(acquisition_time_s=1500.0), 520.0)])
    later = ("post", "acquisition-time+value-range")  # without a bolus time: lower levels acquired after the native map
    assert [(c.state, c.rule) for c in calls] == [("native", "default"), later, later]
