"""Normal ranges per map, contrast state, field strength and sequence, from a YAML file the user can replace.

The shipped default (``myomap/data/reference_ranges.yaml``) holds published
healthy-volunteer values with their sources; the SCMR/EACVI 2017 consensus
asks sites for local ranges, so ``analyze --reference-ranges FILE`` takes
the site's own.  :func:`flag` says whether a value is ``low``, ``normal``
or ``high`` against the matching range, or ``""`` when no range matches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from myomap.conventions import CONTRASTS

MAPS = ("T1", "T2", "ECV")
FIELD_TOLERANCE_T = 0.25
"""A range applies to fields this close to its ``field_t`` (T): scanners write the exact field, e.g. 2.89362 for a 3 T magnet."""


class RangesError(ValueError):
    """A reference-range file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class ReferenceRange:
    """One normal range: ``low``-``high`` in ms (percent for ECV) and where it comes from.

    A file giving an ECV range with ``high`` <= 1 (a fraction, 0.22-0.30) is
    refused: against percentages it would flag every ECV high.
    """

    map: str
    contrast: str
    field_t: float
    sequence: str
    low: float
    high: float
    source: str


def default_ranges_path() -> Path:
    return Path(str(resources.files("myomap") / "data" / "reference_ranges.yaml"))


def load_ranges(path: str | Path | None = None) -> tuple[ReferenceRange, ...]:
    """The ranges of ``path`` (default: the shipped file); :class:`RangesError` for a malformed file."""
    path = Path(path) if path else default_ranges_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RangesError(f"{path}: cannot read reference ranges ({getattr(exc, 'strerror', None) or exc})") from None
    entries = data.get("ranges") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise RangesError(f"{path}: expected a list under 'ranges'")
    return tuple(_entry(path, k, e) for k, e in enumerate(entries, start=1))


def _entry(path: Path, number: int, entry) -> ReferenceRange:
    try:
        item = ReferenceRange(
            map=str(entry["map"]), contrast=str(entry.get("contrast", "native")), field_t=float(entry["field_t"]),
            sequence=str(entry.get("sequence", "any")), low=float(entry["low"]), high=float(entry["high"]), source=str(entry.get("source", "")),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise RangesError(f"{path}: range {number} needs map, field_t, low and high ({type(exc).__name__}: {exc})") from None
    if item.map not in MAPS or item.contrast not in CONTRASTS or not item.low < item.high:
        raise RangesError(f"{path}: range {number}: map must be one of {', '.join(MAPS)}, contrast native or post, low < high")
    if item.map == "ECV" and item.high <= 1:
        raise RangesError(
            f"{path}: range {number}: ECV low and high are percentages (e.g. 22 and 30), not fractions ({item.low:g}-{item.high:g})"
        )
    return item


def find_range(ranges, map_name: str, contrast: str, field_t: float | None, sequence: str) -> ReferenceRange | None:
    """The range for these conditions: same map, contrast and field, the sequence's own entry before ``any``."""
    if field_t is None:
        return None
    candidates = [
        r for r in ranges
        if r.map == map_name and r.contrast == contrast and abs(r.field_t - field_t) <= FIELD_TOLERANCE_T
        and r.sequence.lower() in (sequence.lower(), "any")
    ]  # fmt: skip
    candidates.sort(key=lambda r: r.sequence.lower() == "any")
    return candidates[0] if candidates else None


def flag(value: float, reference: ReferenceRange | None) -> str:
    """``low``, ``normal`` or ``high`` against ``reference``; ``""`` without a range or a value.

    >>> flag(1050.0, ReferenceRange("T1", "native", 1.5, "MOLLI", 908.0, 992.0, ""))
    'high'
    """
    if reference is None or value is None or not math.isfinite(value):
        return ""
    return "low" if value < reference.low else "high" if value > reference.high else "normal"
