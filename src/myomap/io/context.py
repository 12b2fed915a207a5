"""What a DICOM header tells about how a map was acquired: field strength, sequence, heart rate, contrast agent, time.

Only acquisition fields are read, never identifying ones.  The sequence is
recognised from SeriesDescription, ProtocolName, SequenceName and
ImageComments (MOLLI, ShMOLLI, SASHA, SAPPHIRE, T2-prep, GraSE), as far as
the header tells; ``""`` when it does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_SEQUENCES = (
    ("ShMOLLI", re.compile(r"shmolli", re.IGNORECASE)),
    ("MOLLI", re.compile(r"molli", re.IGNORECASE)),
    ("SASHA", re.compile(r"sasha", re.IGNORECASE)),
    ("SAPPHIRE", re.compile(r"sapphire", re.IGNORECASE)),
    ("T2-prep", re.compile(r"t2[ _-]?prep|t2p(?![a-z])", re.IGNORECASE)),
    ("GraSE", re.compile(r"grase", re.IGNORECASE)),
)


@dataclass(frozen=True)
class ScanContext:
    """What the header tells about how a map was acquired (None / "" when it does not say)."""

    field_strength_t: float | None = None
    sequence: str = ""
    heart_rate_bpm: float | None = None
    contrast_agent: str = ""
    acquisition_time_s: float | None = None
    description: str = ""


def scan_context(header) -> ScanContext:
    """The :class:`ScanContext` of a pydicom dataset (only non-identifying acquisition fields are read)."""
    text = " ".join(str(header.get(k, "")) for k in ("SeriesDescription", "ProtocolName", "SequenceName", "ImageComments"))
    sequence = next((name for name, pattern in _SEQUENCES if pattern.search(text)), "")
    return ScanContext(
        field_strength_t=_float(header.get("MagneticFieldStrength")),
        sequence=sequence,
        heart_rate_bpm=_float(header.get("HeartRate")),
        contrast_agent=str(header.get("ContrastBolusAgent", "") or "").strip(),
        acquisition_time_s=_seconds(
            header.get("AcquisitionTime") or str(header.get("AcquisitionDateTime", ""))[8:] or header.get("SeriesTime")
        ),
        description=" ".join(str(header.get(k, "")) for k in ("SeriesDescription", "ProtocolName")).strip(),
    )


def _float(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) and number > 0 else None


def _seconds(value) -> float | None:
    """DICOM TM (HHMMSS.frac) as seconds after midnight, None when absent or malformed."""
    match = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(\.\d+)?", str(value or "").strip())
    if not match:
        return None
    hours, minutes, seconds, fraction = match.groups()
    return int(hours) * 3600 + int(minutes or 0) * 60 + int(seconds or 0) + float(fraction or 0)
