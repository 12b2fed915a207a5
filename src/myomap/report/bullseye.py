"""AHA 16-segment bullseye plot of per-segment T1 / T2 values.

The picture follows the angle convention of :mod:`myomap.geometry.aha`: the
standard short-axis view (anterior up, septum left), angles counter-clockwise
on screen, the anterior RV insertion point at 120° (upper left, between
segments 1 and 2).  Basal segments 1-6 form the outer ring, mid 7-12 the
middle ring and apical 13-16 the inner ring; there is no apex cap (17).
"""

from __future__ import annotations

import io
import math
import threading
from typing import Any

import numpy as np
from matplotlib import colormaps, rc_context
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Wedge

# Colour windows for myocardial values per map type and contrast state (1.5 T
# and 3 T, healthy to diseased); narrower than the image display windows in
# :data:`myomap.conventions.MAP_WINDOWS_MS`.  ECV is in percent.
MYOCARDIUM_WINDOWS_MS = {
    "T1": (800.0, 1500.0),
    "T1-post": (250.0, 650.0),
    "T2": (30.0, 80.0),
    "T2-post": (30.0, 80.0),
    "ECV": (15.0, 45.0),
}
_FLAG_MARKS = {"high": "\u25b2", "low": "\u25bc"}  # up / down triangles next to a value outside its normal range

_INSERTION_DEG = 120.0
_RINGS = {  # segments counter-clockwise from the insertion point, radii, angular offset
    "basal": ((2, 3, 4, 5, 6, 1), (0.7, 1.0), 0.0),
    "mid": ((8, 9, 10, 11, 12, 7), (0.42, 0.7), 0.0),
    "apical": (
        (14, 15, 16, 13),
        (0.15, 0.42),
        60.0 - 45.0,
    ),  # septal segment centred on the septum
}


def _segment_wedges() -> dict[int, tuple[float, float, float, float]]:
    wedges = {}
    for numbers, (r_in, r_out), offset in _RINGS.values():
        width = 360.0 / len(numbers)
        for k, number in enumerate(numbers):
            start = _INSERTION_DEG + offset + k * width
            wedges[number] = (r_in, r_out, start, start + width)
    return wedges


SEGMENT_WEDGES: dict[int, tuple[float, float, float, float]] = _segment_wedges()
"""Segment number -> ``(inner radius, outer radius, start deg, end deg)``, angles counter-clockwise."""

_MISSING_FACE = "#d9d9d9"
_MISSING_HATCH = "#9a9a9a"
_DPI = 120


def _text_colour(rgba: tuple[float, float, float, float]) -> str:
    luminance = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]
    return "black" if luminance > 0.5 else "white"


def bullseye_figure(
    segment_values: dict[int, float],
    *,
    map_type: str,
    title: str = "",
    unit: str = "ms",
    window: tuple[float, float] | None = None,
    cmap: str = "viridis",
    flags: dict[int, str] | None = None,
) -> Figure:
    """Bullseye of the 16 AHA segments, each filled with its value's colour.

    Parameters
    ----------
    segment_values : dict of int to float
        Segment number (1-16) -> value, e.g. the median T1 in ms.  Absent
        segments and NaN values are drawn grey and hatched with "–".
    map_type : str
        ``"T1"`` or ``"T2"``; picks the colour window (``MYOCARDIUM_WINDOWS_MS``).
    title : str, optional
        Figure title; default ``"<map_type> per AHA segment"``.
    unit : str, optional
        Unit shown on the colour bar.
    window : tuple of float, optional
        Colour window ``(low, high)``; required for other map types.  Values
        outside it get the end colours (the colour bar shows the extension).
    cmap : str, optional
        Matplotlib colormap name.
    flags : dict of int to str, optional
        Segment -> ``"high"``/``"low"`` against its normal range: the value
        gets a triangle and the wedge a red edge.

    Returns
    -------
    matplotlib.figure.Figure
        A figure not registered with pyplot; each segment is a
        :class:`~matplotlib.patches.Wedge` with gid ``"segment-<n>"``.

    Raises
    ------
    ValueError
        A segment number outside 1-16, or an unknown map type without ``window``.
    """
    blank = _Blank(*_style(segment_values, map_type, title, unit, window, cmap))
    blank.fill(segment_values, flags or {})
    return blank.fig


def _style(
    segment_values: dict[int, float],
    map_type: str,
    title: str = "",
    unit: str = "ms",
    window: tuple[float, float] | None = None,
    cmap: str = "viridis",
) -> tuple[str, str, str, tuple[float, float], str]:
    """The arguments of :class:`_Blank`: map type, title, unit, colour window, colormap.

    Raises ValueError for segment numbers outside 1-16 or an unknown map type without a window.
    """
    unknown = sorted(set(segment_values) - set(SEGMENT_WEDGES))
    if unknown:
        raise ValueError(f"AHA segment numbers must be 1-16 (no apex cap), got {unknown}")
    if window is None:
        if map_type not in MYOCARDIUM_WINDOWS_MS:
            raise ValueError(f"map type must be one of {', '.join(MYOCARDIUM_WINDOWS_MS)} or a window must be given, got {map_type!r}")
        window = MYOCARDIUM_WINDOWS_MS[map_type]
    return map_type, title or f"{map_type} per AHA segment", unit, (float(window[0]), float(window[1])), cmap


class _Blank:
    """A bullseye's figure with everything drawn but the values: :meth:`fill` sets the wedges and texts of one set of values.

    Building the figure takes about as long as saving it, so :func:`bullseye_svg`
    keeps a few blanks and refills them (three bullseyes per patient report).
    """

    def __init__(self, map_type: str, title: str, unit: str, window: tuple[float, float], cmap: str) -> None:
        self.norm, self.colours = Normalize(*window), colormaps[cmap]
        # Fixed axes rather than a layout engine, so that every bullseye has the same size.
        self.fig = fig = Figure(figsize=(4.4, 3.6))
        ax = fig.add_axes((0.0, 0.0, 0.8, 0.93))
        ax.set_aspect("equal")
        ax.set_xlim(-1.22, 1.22)
        ax.set_ylim(-1.12, 1.12)
        ax.axis("off")
        self.segments = {number: _Segment(ax, number) for number in SEGMENT_WEDGES}
        _draw_orientation_labels(ax)
        cax = fig.add_axes((0.8, 0.14, 0.035, 0.68))
        fig.colorbar(ScalarMappable(self.norm, self.colours), cax=cax, extend="both", label=f"{map_type} ({unit})")
        # A figure title rather than an axes title: placing an axes title lays out the hidden ticks (slow).
        fig.text(0.4, 0.965, title, ha="center", va="center", fontsize=10)

    def fill(self, segment_values: dict[int, float], flags: dict[int, str]) -> None:
        for number, segment in self.segments.items():
            value = float(segment_values.get(number, math.nan))
            face = _MISSING_FACE if not math.isfinite(value) else self.colours(self.norm(value))
            segment.show(value, face, flags.get(number, ""))


class _Segment:
    """One AHA segment's artists: its wedge, a hatched twin shown when the value is missing, its value and its number."""

    def __init__(self, ax: Axes, number: int) -> None:
        r_in, r_out, start, end = SEGMENT_WEDGES[number]
        shape = {"center": (0, 0), "r": r_out, "theta1": start, "theta2": end, "width": r_out - r_in}
        self.wedge = ax.add_patch(Wedge(**shape, gid=f"segment-{number}"))
        # The hatch takes the edge colour, so hatch on a second, unfilled wedge.
        self.hatch = ax.add_patch(Wedge(**shape, fill=False, edgecolor=_MISSING_HATCH, linewidth=0))
        mid_angle = np.deg2rad((start + end) / 2)
        r_text = (r_in + r_out) / 2
        x, y = r_text * np.cos(mid_angle), r_text * np.sin(mid_angle)
        self.value = ax.text(x, y + 0.03, "", ha="center", va="center", fontweight="bold")
        self.number = ax.text(x, y - 0.075, str(number), ha="center", va="center", fontsize=6, alpha=0.8)

    def show(self, value: float, face: str | tuple[float, float, float, float], flag: str) -> None:
        missing = not math.isfinite(value)
        mark = "" if missing else _FLAG_MARKS.get(flag, "")
        self.wedge.set_facecolor(face)
        self.wedge.set_edgecolor("#d32f2f" if mark else "white")
        self.wedge.set_linewidth(2.5 if mark else 1.5)
        self.hatch.set_visible(missing)
        self.hatch.set_hatch("///" if missing else None)
        ink = "#444444" if missing else _text_colour(face)
        self.value.set_text("–" if missing else (f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}") + mark)
        self.value.set_fontsize(11 if missing else 8.5)
        self.value.set_color(ink)
        self.number.set_color(ink)


def _draw_orientation_labels(ax: Axes) -> None:
    for label, (x, y, ha, va) in {
        "anterior": (0, 1.03, "center", "bottom"),
        "inferior": (0, -1.03, "center", "top"),
        "septal": (-1.03, 0, "right", "center"),
        "lateral": (1.03, 0, "left", "center"),
    }.items():
        ax.text(
            x,
            y,
            label,
            ha=ha,
            va=va,
            fontsize=6.5,
            color="#666666",
            rotation=90 if ha != "center" else 0,
        )


def bullseye_png(segment_values: dict[int, float], **kwargs: object) -> bytes:
    """PNG bytes of :func:`bullseye_figure` (fixed dpi, no timestamp, so equal input gives equal bytes).

    Examples
    --------
    >>> bullseye_png({1: 1010.0, 7: 990.0}, map_type="T1")[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    fig = bullseye_figure(segment_values, **kwargs)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()  # the figure is not registered with pyplot: it is freed with its last reference


def bullseye_svg(segment_values: dict[int, float], *, flags: dict[int, str] | None = None, **style: Any) -> bytes:
    """SVG bytes of :func:`bullseye_figure` (same arguments), for HTML reports: sharp at any zoom, values as searchable text.

    Text stays text (``svg.fonttype: none``) and the element ids come from a
    fixed salt, so equal input gives equal bytes.  The blank figure of each
    map type, title, unit, window and colormap is built once and refilled,
    which halves the time per bullseye.

    Examples
    --------
    >>> b"segment-1" in bullseye_svg({1: 1010.0}, map_type="T1")
    True
    """
    key = _style(segment_values, **style)
    buffer = io.BytesIO()
    with _BLANKS_LOCK:  # a blank is refilled in place: one user at a time
        blank = _BLANKS.get(key)
        if blank is None:
            if len(_BLANKS) >= _MAX_BLANKS:
                _BLANKS.clear()
            blank = _BLANKS[key] = _Blank(*key)
        blank.fill(segment_values, flags or {})
        with rc_context({"svg.fonttype": "none", "svg.hashsalt": "myomap"}):
            blank.fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return buffer.getvalue()


_BLANKS: dict[tuple, _Blank] = {}
_BLANKS_LOCK = threading.Lock()
_MAX_BLANKS = 8  # T1, T1-post, T2, T2-post, ECV and a few custom windows
