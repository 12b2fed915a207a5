"""Acquisition times of an exam that runs past midnight: AcquisitionTime is the time of day and starts again at 0."""

from types import SimpleNamespace

from myomap.analyze.clinical import latest_per_plane, one_time_point
from myomap.analyze.discover import _same_acquisition, _weighted_times
from myomap.io.context import ScanContext

DAY_S = 86400.0


def _result(series: str, z: float, time_s: float, position: str = "mid"):
    item = SimpleNamespace(
        series_uid=series, series_number=int(series), series_label=f"series {series}", slice_position=position,
        orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0), position_mm=(5.0, -3.0, z), context=ScanContext(acquisition_time_s=time_s),
    )  # fmt: skip
    return SimpleNamespace(slice=item)


def test_a_post_contrast_stack_acquired_across_midnight_is_one_time_point():
    # Basal 23:58, mid 23:59, apical 00:01 (one breath-hold a minute).
    stack = [_result("30", 0.0, DAY_S - 120.0, "basal"), _result("31", 10.0, DAY_S - 60.0), _result("32", 20.0, 60.0, "apical")]
    assert one_time_point(stack) == (stack, [])


def test_across_midnight_the_later_time_point_and_the_later_repeat_are_the_ones_after_it():
    # A stack at 23:50-23:52, a whole stack again at 00:05-00:07: the later (on a tie) is the one after midnight.
    early = [_result(f"{10 + k}", 10.0 * k, DAY_S - 600.0 + 60.0 * k) for k in range(3)]
    late = [_result(f"{20 + k}", 10.0 * k, 300.0 + 60.0 * k) for k in range(3)]
    kept, lines = one_time_point([*early, *late])
    assert kept == late and "(+0 min, +15 min)" in lines[0]
    # A map repeated at 00:02 after one at 23:59: the repeat is pooled.
    first, again = _result("40", 0.0, DAY_S - 60.0), _result("41", 0.0, 120.0)
    kept, lines = latest_per_plane([first, again])
    assert kept == [again] and lines[0].startswith("mid slice of series 40 repeated in series 41")


def test_discovery_tells_one_acquisition_and_the_latest_series_across_midnight():
    """23:59:30 and 00:00:30 are one acquisition (a minute apart), and a repeat at 00:02 is later than the series at 23:59."""
    assert _same_acquisition(ScanContext(acquisition_time_s=DAY_S - 30.0), ScanContext(acquisition_time_s=30.0))
    assert not _same_acquisition(ScanContext(acquisition_time_s=DAY_S - 900.0), ScanContext(acquisition_time_s=30.0))
    series = {
        name: [SimpleNamespace(study_uid="1", context=ScanContext(acquisition_time_s=t))]
        for name, t in (("before", DAY_S - 60.0), ("repeat", 120.0), ("native", DAY_S - 1500.0))
    }
    times = _weighted_times(series)
    assert times["repeat"] > times["before"] > times["native"]
