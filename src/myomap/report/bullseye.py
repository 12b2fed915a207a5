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
    unknown = sorted(set(segment_values) - set(SEGMENT_WEDGES))
    if unknown:
        raise ValueError(f"AHA segment numbers must be 1-16 (no apex cap), got {unknown}")
    if window is None:
        if map_type not in MYOCARDIUM_WINDOWS_MS:
            raise ValueError(f"map type must be one of {', '.join(MYOCARDIUM_WINDOWS_MS)} or a window must be given, got {map_type!r}")
        window = MYOCARDIUM_WINDOWS_MS[map_type]
    norm, colours = Normalize(*window), colormaps[cmap]

    # Fixed axes rather than a layout engine, so that every bullseye has the same size.
    fig = Figure(figsize=(4.4, 3.6))
    ax = fig.add_axes((0.0, 0.0, 0.8, 0.93))
    ax.set_aspect("equal")
    ax.set_xlim(-1.22, 1.22)
    ax.set_ylim(-1.12, 1.12)
    ax.axis("off")
    for number in SEGMENT_WEDGES:
        value = float(segment_values.get(number, math.nan))
        face = _MISSING_FACE if not math.isfinite(value) else colours(norm(value))
        _draw_segment(ax, number, value, face, (flags or {}).get(number, ""))
    _draw_orientation_labels(ax)
    cax = fig.add_axes((0.8, 0.14, 0.035, 0.68))
    fig.colorbar(
        ScalarMappable(norm, colours),
        cax=cax,
        extend="both",
        label=f"{map_type} ({unit})",
    )
    # A figure title rather than an axes title: placing an axes title lays out the hidden ticks (slow).
    fig.text(0.4, 0.965, title or f"{map_type} per AHA segment", ha="center", va="center", fontsize=10)
    return fig


def _draw_segment(ax: Axes, number: int, value: float, face: str | tuple[float, float, float, float], flag: str) -> None:
    """One AHA segment: its wedge (hatched when the value is missing), its value with a flag mark, its number."""
    r_in, r_out, start, end = SEGMENT_WEDGES[number]
    missing = not math.isfinite(value)
    mark = "" if missing else _FLAG_MARKS.get(flag, "")
    shape = {"center": (0, 0), "r": r_out, "theta1": start, "theta2": end, "width": r_out - r_in}
    edge = {"edgecolor": "#d32f2f", "linewidth": 2.5} if mark else {"edgecolor": "white", "linewidth": 1.5}
    ax.add_patch(Wedge(**shape, facecolor=face, **edge, gid=f"segment-{number}"))
    if missing:  # the hatch takes the edge colour, so hatch on a second, unfilled wedge
        ax.add_patch(Wedge(**shape, fill=False, edgecolor=_MISSING_HATCH, linewidth=0, hatch="///"))
    mid_angle = np.deg2rad((start + end) / 2)
    r_text = (r_in + r_out) / 2
    ink = "#444444" if missing else _text_colour(face)
    text = "–" if missing else (f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}") + mark
    x, y = r_text * np.cos(mid_angle), r_text * np.sin(mid_angle)
    ax.text(
        x,
        y + 0.03,
        text,
        ha="center",
        va="center",
        fontsize=11 if missing else 8.5,
        fontweight="bold",
        color=ink,
    )
    ax.text(
        x,
        y - 0.075,
        str(number),
        ha="center",
        va="center",
        fontsize=6,
        color=ink,
        alpha=0.8,
    )


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


def bullseye_svg(segment_values: dict[int, float], **kwargs: object) -> bytes:
    """SVG bytes of :func:`bullseye_figure`, for HTML reports: sharp at any zoom, values as searchable text.

    Text stays text (``svg.fonttype: none``) and the element ids come from a
    fixed salt, so equal input gives equal bytes; it renders in half the
    time of the PNG.

    Examples
    --------
    >>> b"segment-1" in bullseye_svg({1: 1010.0}, map_type="T1")
    True
    """
    fig = bullseye_figure(segment_values, **kwargs)
    buffer = io.BytesIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "myomap"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return buffer.getvalue()
