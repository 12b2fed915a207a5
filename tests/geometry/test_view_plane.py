import numpy as np
import pytest

from myomap.geometry.view_plane import LONG_AXIS_ANGLE_DEG, Plane, ViewCall, call_views, named_view, stack_normal

# A double-oblique short-axis plan like the phantom's (normal toward the apex: left, anterior, inferior).
SAX = (0.763218, 0.342719, 0.547761, 0.0, 0.847742, -0.530409)
NORMAL = np.cross(SAX[:3], SAX[3:]) / np.linalg.norm(np.cross(SAX[:3], SAX[3:]))


def _plane_at(angle_deg: float) -> tuple[float, ...]:
    """A plane whose normal is ``angle_deg`` from the short-axis normal (tilted about the SAX row direction)."""
    row = np.asarray(SAX[:3])
    col = np.asarray(SAX[3:])
    a = np.deg2rad(angle_deg)
    tilted_col = np.cos(a) * col + np.sin(a) * NORMAL  # rotating col about row rotates the normal by the same angle
    return tuple(row) + tuple(tilted_col)


def _stack(n: int, group="p", names=(), orientation=SAX) -> list[Plane]:
    normal = np.cross(orientation[:3], orientation[3:])
    return [Plane(orientation, tuple(np.array([-130.0, -180.0, -50.0]) + 8.0 * k * normal), names, group) for k in range(n)]


@pytest.mark.parametrize(
    "text, token",
    [
        ("4CH T1 MAP", "4CH"), ("cine_2ch", "2ch"), ("MOLLI_T1map_3CH", "3CH"), ("T1 MAP 4cv", "4cv"), ("t2map ch4", "ch4"),
        ("T1 map 4-ch", "4-ch"), ("Four chamber T2 map", "Four chamber"), ("T1map_LAX", "LAX"), ("T1 long axis", "long axis"),
        ("T2 Long-Axis", "Long-Axis"), ("MOLLI LVOT", "LVOT"), ("T1 HLA", "HLA"), ("t1map 2 chambers", "2 chambers"),
    ],
)  # fmt: skip
def test_long_axis_names(text, token):
    call = named_view([("SeriesDescription", text)])
    assert call is not None and call.long_axis and call.reason == f"SeriesDescription has '{token}'"


@pytest.mark.parametrize(
    "text",
    [
        "MOLLI T1 MAP", "T2 relaxation map", "T1 map 32ch coil", "12ch body", "SASHA T1 MAP", "MOLLI_T1_MAP_apical",
        "relaxometry", "T1 MAP 24CH", "CH42 test", "flaxseed", "chamber view", "4chamberx", "saline", "",
    ],
)  # fmt: skip
def test_words_that_only_look_like_a_view_say_nothing(text):
    assert named_view([("SeriesDescription", text)]) is None


@pytest.mark.parametrize("text", ["T1 MAP SAX", "t1map_sa_moco", "Short axis 4ch planned", "SAX stack (LAX planned)", "MOLLI short-axis"])
def test_short_axis_names_win(text):
    call = named_view([("SeriesDescription", text)])
    assert call is not None and not call.long_axis


def test_a_short_axis_protocol_name_wins_over_a_long_axis_description():
    call = named_view([("SeriesDescription", "T1 MAP 4CH"), ("ProtocolName", "t1map_sax")])
    assert not call.long_axis and call.reason == "ProtocolName has 'sax'"
    call = named_view([("SeriesDescription", "MOLLI T1 MAP"), ("ProtocolName", "t1map_lvot")])
    assert call.long_axis and call.reason == "ProtocolName has 'lvot'"


@pytest.mark.parametrize(
    "angle, long_axis",
    [(0.0, False), (30.0, False), (44.0, False), (46.0, True), (90.0, True), (120.0, True), (150.0, False), (180.0, False)],
)
def test_a_plane_is_long_axis_beyond_45_degrees_from_the_stack(angle, long_axis):
    planes = _stack(3) + [Plane(_plane_at(angle), (-120.0, -170.0, -60.0), (), "p")]
    calls = call_views(planes)
    assert [c.long_axis for c in calls] == [False, False, False, long_axis]
    assert LONG_AXIS_ANGLE_DEG == 45.0
    if long_axis:
        assert calls[-1].reason == f"plane {min(angle, 180 - angle):.0f}° from the short-axis stack of 3 slices"


def test_a_lone_map_without_a_telling_name_is_short_axis():
    lone = Plane(_plane_at(90.0), (0.0, 0.0, 0.0), (("SeriesDescription", "MOLLI T1 MAP"),), "p")
    assert call_views([lone]) == [ViewCall(False, "")]


def test_maps_at_one_position_are_no_stack():
    # A native and a post-contrast T1 and a T2 at one mid position: one position, no stack, no geometric call.
    planes = [Plane(SAX, (-130.0, -180.0, -50.0), (), "p")] * 3 + [Plane(_plane_at(90.0), (0.0, 0.0, 0.0), (), "p")]
    assert stack_normal(planes) is None
    assert not any(c.long_axis for c in call_views(planes))


def test_each_patient_is_judged_against_its_own_stack():
    other = Plane(_plane_at(90.0), (0.0, 0.0, 0.0), (), "q")  # another patient's lone map, planned differently
    calls = call_views(_stack(3, "p") + [other])
    assert not any(c.long_axis for c in calls)


def test_the_stack_with_most_positions_wins_and_a_tie_says_nothing():
    lax = _plane_at(90.0)
    two_lax = _stack(2, orientation=lax)
    assert np.allclose(abs(stack_normal(_stack(3) + two_lax)[0] @ NORMAL), 1.0)
    calls = call_views(_stack(3) + two_lax)
    assert [c.long_axis for c in calls] == [False] * 3 + [True] * 2
    tie = _stack(2) + two_lax
    assert stack_normal(tie) is None and not any(c.long_axis for c in call_views(tie))
    # A short-axis name breaks the tie.
    named = _stack(2, names=(("SeriesDescription", "T1 MAP SAX"),)) + two_lax
    assert [c.long_axis for c in call_views(named)] == [False, False, True, True]


def test_maps_named_long_axis_do_not_make_the_stack():
    named_lax = _stack(4, orientation=_plane_at(90.0), names=(("SeriesDescription", "T1 4CH"),))
    found = stack_normal(_stack(2) + named_lax)
    assert found is not None and found[1] == 2 and np.allclose(abs(found[0] @ NORMAL), 1.0)


def test_missing_or_degenerate_geometry_is_no_evidence():
    planes = _stack(3) + [Plane(None, None), Plane((1, 0, 0, 1, 0, 0), (0.0, 0.0, 0.0)), Plane((np.nan,) * 6, (0.0, 0.0, 0.0))]
    planes = [Plane(p.orientation, p.position_mm, p.names, "p") for p in planes]
    assert not any(c.long_axis for c in call_views(planes))
    assert call_views(planes)[-1].reason == ""
