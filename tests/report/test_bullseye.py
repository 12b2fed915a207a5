import math

import numpy as np
import pytest
from matplotlib.colors import to_rgba

from myomap.geometry.aha import aha_segments
from myomap.report.bullseye import SEGMENT_WEDGES, bullseye_figure, bullseye_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _segments(fig):
    return {p.get_gid(): p for p in fig.axes[0].patches if (p.get_gid() or "").startswith("segment-")}


def test_sixteen_filled_segments_and_missing_ones_hatched():
    values = {n: 1000.0 + n for n in range(1, 17)}
    values[5] = math.nan
    del values[14]
    fig = bullseye_figure(values, map_type="T1")
    segments = _segments(fig)
    assert sorted(segments) == sorted(f"segment-{n}" for n in range(1, 17))
    assert all(p.get_fill() for p in segments.values())
    grey = to_rgba("#d9d9d9")
    missing = {gid for gid, p in segments.items() if p.get_facecolor() == grey}
    assert missing == {"segment-5", "segment-14"}
    assert sum(bool(p.get_hatch()) for p in fig.axes[0].patches) == 2
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "1001" in texts and "1016" in texts and texts.count("–") == 2


def test_value_format_and_colorbar_label():
    fig = bullseye_figure({1: 52.34}, map_type="T2", unit="ms")
    assert "52.3" in [t.get_text() for t in fig.axes[0].texts]
    assert fig.axes[1].get_ylabel() == "T2 (ms)"


@pytest.mark.parametrize("position", ["basal", "mid", "apical"])
def test_wedges_agree_with_the_aha_label_convention(position):
    """Each segment's pixels, labelled by geometry.aha, lie in that segment's wedge."""
    t = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    epi = np.column_stack([40 + 25 * np.cos(t), 40 + 25 * np.sin(t)])
    endo = np.column_stack([40 + 15 * np.cos(t), 40 + 15 * np.sin(t)])
    insertion = (40 + 25 * np.cos(np.deg2rad(120)), 40 - 25 * np.sin(np.deg2rad(120)))
    labels = aha_segments(epi, endo, insertion, (81, 81), position, spacing_mm=(1.0, 1.0))
    for number in np.unique(labels[labels > 0]):
        rows, cols = np.nonzero(labels == number)
        mean = np.rad2deg(np.arctan2(-(rows - 40).mean(), (cols - 40).mean())) % 360
        _, _, start, end = SEGMENT_WEDGES[int(number)]
        assert (mean - start) % 360 < end - start, (number, mean, start, end)


def test_rings_basal_outside_apical_inside():
    assert SEGMENT_WEDGES[1][0] >= SEGMENT_WEDGES[7][1] and SEGMENT_WEDGES[7][0] >= SEGMENT_WEDGES[13][1]


def test_bad_input():
    with pytest.raises(ValueError, match="1-16"):
        bullseye_figure({17: 1000.0}, map_type="T1")
    with pytest.raises(ValueError, match="map type"):
        bullseye_figure({1: 1.0}, map_type="R2")
    assert bullseye_figure({1: 0.3}, map_type="R2", window=(0.2, 0.4), unit="")


def test_windows_follow_map_type_and_contrast_and_flags_mark_segments():
    from myomap.report.bullseye import MYOCARDIUM_WINDOWS_MS

    assert MYOCARDIUM_WINDOWS_MS["T1-post"][1] < MYOCARDIUM_WINDOWS_MS["T1"][0]
    fig = bullseye_figure({1: 1100.0, 2: 950.0}, map_type="T1", flags={1: "high", 2: "normal"})
    wedges = {p.get_gid(): p for p in fig.axes[0].patches if p.get_gid()}
    assert wedges["segment-1"].get_linewidth() > wedges["segment-2"].get_linewidth()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "1100\u25b2" in texts and "950" in texts


def test_png_bytes_are_deterministic():
    png = bullseye_png({1: 1000.0, 2: math.nan}, map_type="T1", title="T1")
    assert png.startswith(PNG_SIGNATURE)
    assert png == bullseye_png({1: 1000.0, 2: math.nan}, map_type="T1", title="T1")


def test_svg_from_a_refilled_blank_equals_a_fresh_figure():
    """bullseye_svg refills one blank figure per window: nothing of an earlier call may show in the next."""
    import io

    from matplotlib import rc_context

    from myomap.report.bullseye import bullseye_svg

    def fresh(values, **kwargs):
        buffer = io.BytesIO()
        with rc_context({"svg.fonttype": "none", "svg.hashsalt": "myomap"}):
            bullseye_figure(values, **kwargs).savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
        return buffer.getvalue()

    flagged_full = ({n: 900.0 + 40 * n for n in range(1, 17)}, {"map_type": "T1", "flags": {3: "high", 9: "low"}})
    sparse = ({2: 1200.0, 5: math.nan}, {"map_type": "T1"})
    for values, kwargs in (flagged_full, sparse, flagged_full):
        svg = bullseye_svg(values, **kwargs)
        assert svg == fresh(values, **kwargs)
    assert svg.count(b'id="segment-') == 16
    with pytest.raises(ValueError, match="1-16"):
        bullseye_svg({0: 1.0}, map_type="T1")
