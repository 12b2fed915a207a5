"""Long-axis maps left out of an exam's analysis (the rules: :mod:`myomap.geometry.view_plane`).

A map called long-axis does not join its patient's short-axis stack (its
ordering, levels, AHA direction and contrast call) and is not segmented;
each series of such maps gives one error line naming its first file, so the
run exits 1 ("some inputs failed") like for any other input it could not
use.  The reason quotes only the matched token of a name (descriptions are
free text and may hold identifying words) or the angle to the stack.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from myomap.geometry.view_plane import Plane, call_views

if TYPE_CHECKING:
    from myomap.analyze.discover import MapSlice


def without_long_axis(slices: list[MapSlice], errors: list[str]) -> tuple[list[MapSlice], dict[str, int]]:
    """``slices`` without the long-axis maps, and how many were left out per series UID; one error line per such series."""
    calls = call_views([Plane(s.orientation, s.position_mm, _names(s), (s.patient, s.study)) for s in slices])
    dropped = [(s, call) for s, call in zip(slices, calls) if call.long_axis]
    counts = Counter(s.series_uid for s, _ in dropped)
    for uid in counts:
        first, call = next((s, call) for s, call in dropped if s.series_uid == uid)
        more = f" (and {counts[uid] - 1} more map(s) of its series)" if counts[uid] > 1 else ""
        errors.append(f"{first.path}: long-axis view ({call.reason}): myomap measures short-axis maps only{more}")
    return [s for s, call in zip(slices, calls) if not call.long_axis], dict(counts)


def _names(item: MapSlice) -> tuple[tuple[str, str], ...]:
    protocol = item.source.protocol_name if item.source is not None else ""
    # A NIfTI map without a SeriesDescription in its sidecar is described by its file name.
    field = "file name" if item.origin == "nifti" and item.series_description == item.path.name else "SeriesDescription"
    return ((field, item.series_description), ("ProtocolName", protocol))
