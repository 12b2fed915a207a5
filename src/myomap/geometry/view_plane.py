"""Short-axis or long-axis: which view plane a map shows, from its header alone.

myomap measures short-axis maps: AHA segments and basal/mid/apical levels
mean nothing on a 2-, 3- or 4-chamber view, and a network trained on
short-axis slices draws a confident wrong ring there.  Exams often hold
long-axis T1/T2 maps next to the short-axis stack, so each map of one
patient and study is called by two rules (:func:`call_views`):

1. **Name.** A SeriesDescription or ProtocolName with a long-axis token
   (``2ch``, ``3ch``, ``4ch``, ``2cv``, ``4cv``, ``ch4``, ``four chamber``,
   ``lax``, ``long axis``, ``hla``, ``vla``, ``lvot``; case-insensitive,
   whole tokens only, so ``relax`` or a ``32ch`` coil do not count) calls it
   long-axis; a short-axis token (``sax``, ``sa``, ``short axis``) wins over
   a long-axis one and over the geometry.
2. **Geometry.** When the patient has a short-axis stack (two or more
   parallel slices at distinct positions along their normal,
   :func:`stack_normal`), a map whose plane normal is more than
   :data:`LONG_AXIS_ANGLE_DEG` from the stack's normal is long-axis.  A
   short-axis plane is perpendicular to the LV long axis and a long-axis
   plane contains it, so the two differ by about 90 degrees; 45 degrees
   leaves room for double-oblique planning that differs between series.

A map with neither piece of evidence (a lone map without a telling name) is
taken as short-axis.

A third rule needs no stack (:func:`body_plane`): a short-axis plane is
perpendicular to the LV long axis, which runs from base to apex to the
patient's left, anterior and inferior, about 45 degrees (30 to 60 in the
common range of heart positions) from each of the body's axes.  A map whose
normal lies within :data:`BODY_PLANE_DEG` of one of them is a transverse,
coronal or sagittal image: a slice of the liver or the abdomen, a test
object, or a map whose header carries a placeholder orientation.
``analyze`` flags such a slice for review rather than refusing it, since a
converter's placeholder is not the anatomy.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from myomap.geometry.aha import slice_normal

LONG_AXIS_ANGLE_DEG = 45.0
BODY_PLANE_DEG = 10.0  # a plane normal this close to a body axis is no short-axis plane (module docstring)
PARALLEL_DEG = 10.0  # normals closer than this are one stack (as in aha.long_axis_direction)
DISTINCT_MM = 1.0  # slices closer than this along the normal are at one position

# Tokens are bounded by anything but a letter or a digit ("_" separates too: "cine_4ch").
_EDGE_BEFORE, _EDGE_AFTER = r"(?<![a-z0-9])", r"(?![a-z0-9])"
_LONG = re.compile(
    _EDGE_BEFORE
    + r"(?:[234][ _-]?c[hv]|ch[ _-]?[234]|[234][ _-]?chambers?|(?:two|three|four)[ _-]?chambers?"
    + r"|lax|long[ _-]?axis|hla|vla|lvot)"
    + _EDGE_AFTER,
    re.IGNORECASE,
)
_SHORT = re.compile(_EDGE_BEFORE + r"(?:sax|sa|short[ _-]?axis)" + _EDGE_AFTER, re.IGNORECASE)


@dataclass(frozen=True)
class Plane:
    """What the rules read of one map: its geometry (LPS, may be None), its names, and its patient/study ``group``.

    ``names`` pairs a header field with its text, e.g.
    ``(("SeriesDescription", "4CH T1 MAP"), ("ProtocolName", "t1map_4ch"))``.
    """

    orientation: tuple[float, ...] | None
    position_mm: tuple[float, ...] | None
    names: tuple[tuple[str, str], ...] = ()
    group: Hashable = None


@dataclass(frozen=True)
class ViewCall:
    """``long_axis`` and why (``reason`` names the evidence; empty when none was found)."""

    long_axis: bool
    reason: str = ""


def named_view(names: Sequence[tuple[str, str]]) -> ViewCall | None:
    """The view a map's names give, or None when they say nothing.

    Examples
    --------
    >>> named_view([("SeriesDescription", "MOLLI 4CH T1 MAP")])
    ViewCall(long_axis=True, reason="SeriesDescription has '4CH'")
    >>> named_view([("SeriesDescription", "T1 MAP SAX"), ("ProtocolName", "lax and sax")]).long_axis
    False
    >>> named_view([("SeriesDescription", "T2 relaxation map, 32ch coil")]) is None
    True
    """
    for field, text in names:
        if (found := _SHORT.search(text or "")) is not None:
            return ViewCall(False, f"{field} has '{found.group(0)}'")
    for field, text in names:
        if (found := _LONG.search(text or "")) is not None:
            return ViewCall(True, f"{field} has '{found.group(0)}'")
    return None


def stack_normal(planes: Sequence[Plane]) -> tuple[np.ndarray, int] | None:
    """The normal of the short-axis stack among ``planes`` and its number of positions; None without one.

    Planes named long-axis are left out.  Planes are grouped by normal
    (within :data:`PARALLEL_DEG`); a group is a stack when it holds two or
    more positions along its normal (:data:`DISTINCT_MM` apart).  The stack
    with the most positions wins, a group with a short-axis name breaking a
    tie; a tie left is no stack (the rule then says nothing).
    """
    normals = [_normal(p) for p in planes]
    candidates = [
        (n, np.asarray(p.position_mm, dtype=float), named_view(p.names))
        for n, p in zip(normals, planes)
        if n is not None and p.position_mm is not None and len(p.position_mm) == 3
    ]
    candidates = [(n, x, view) for n, x, view in candidates if view is None or not view.long_axis]
    stacks = []
    for normal, _, _ in candidates:
        members = [(x, view) for n, x, view in candidates if abs(float(n @ normal)) >= np.cos(np.deg2rad(PARALLEL_DEG))]
        along = np.sort([float(x @ normal) for x, _ in members])
        positions = 1 + int(np.count_nonzero(np.diff(along) >= DISTINCT_MM))
        named_short = any(view is not None and not view.long_axis for _, view in members)
        stacks.append(((positions, named_short), normal))
    stacks = [s for s in stacks if s[0][0] >= 2]
    if not stacks:
        return None
    best = max(key for key, _ in stacks)
    winners = [normal for key, normal in stacks if key == best]
    if any(abs(float(n @ winners[0])) < np.cos(np.deg2rad(PARALLEL_DEG)) for n in winners):
        return None  # two different stacks equally good: no geometric evidence
    return winners[0], best[0]


def call_views(planes: Sequence[Plane]) -> list[ViewCall]:
    """Call every plane short- or long-axis (module docstring), each against the stack of its own ``group``."""
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for k, plane in enumerate(planes):
        groups[plane.group].append(k)
    stacks = {key: stack_normal([planes[k] for k in members]) for key, members in groups.items()}
    calls = []
    for plane in planes:
        named = named_view(plane.names)
        stack, normal = stacks[plane.group], _normal(plane)
        if named is not None:
            calls.append(named)
        elif stack is not None and normal is not None:
            angle = float(np.degrees(np.arccos(min(1.0, abs(float(normal @ stack[0]))))))
            if angle > LONG_AXIS_ANGLE_DEG:
                calls.append(ViewCall(True, f"plane {angle:.0f}° from the short-axis stack of {stack[1]} slices"))
            else:
                calls.append(ViewCall(False, f"parallel to the short-axis stack within {angle:.0f}°"))
        else:
            calls.append(ViewCall(False))
    return calls


def body_plane(orientation: Sequence[float] | None) -> str | None:
    """``"transverse"``, ``"coronal"`` or ``"sagittal"`` when the plane's normal lies within :data:`BODY_PLANE_DEG` of the
    patient's z, y or x axis (DICOM LPS); None otherwise, and without a usable orientation.

    Examples
    --------
    >>> body_plane((1, 0, 0, 0, 1, 0)), body_plane((0, 1, 0, 0, 0, -1)), body_plane((1, 0, 0, 0, 0, -1))
    ('transverse', 'sagittal', 'coronal')
    >>> body_plane((0.79, 0.61, 0.0, -0.25, 0.32, -0.91)) is None  # a short-axis plane: 44-66 degrees from the axes
    True
    """
    normal = _normal(Plane(None if orientation is None else tuple(orientation), None))
    if normal is None:
        return None
    closest = int(np.argmax(np.abs(normal)))
    if abs(float(normal[closest])) < np.cos(np.deg2rad(BODY_PLANE_DEG)):
        return None
    return ("sagittal", "coronal", "transverse")[closest]


def _normal(plane: Plane) -> np.ndarray | None:
    if plane.orientation is None:
        return None
    try:
        return slice_normal(plane.orientation)
    except ValueError:  # a degenerate orientation tells nothing about the view
        return None
