"""What a DICOM header tells about how a map was acquired: field strength, sequence, heart rate, contrast agent, times.

Only acquisition fields are read, never identifying ones.  Each value is
taken from the first source that gives a plausible one:

- field strength (T): MagneticFieldStrength (0018,0087), the field in
  tesla as the scanner writes it (some write the exact field, e.g.
  2.89362), or in gauss as legacy GE systems write it (15000, 30000: a
  value of 1000 or more is read as gauss, 10000 G = 1 T); else the proton
  ImagingFrequency (0018,0084) in MHz divided by 42.577 MHz/T.  Values
  outside 0.1-12 T are not taken.
- heart rate (bpm): HeartRate (0018,1088); else 60000 / NominalInterval
  (0018,1062), the average R-R interval in ms; else 60000 / the R-R interval
  of the enhanced MR Cardiac Synchronization module (CardiacRRIntervalSpecified
  (0018,9070), or RRIntervalTimeNominal (0020,9251) in the frames'
  CardiacSynchronizationSequence).  Rates outside 20-250 bpm (a vendor's 0)
  are not taken.  TriggerTime is the delay after the R wave, not a rate.
- sequence: the first name found in SeriesDescription, ProtocolName,
  SequenceName and ImageComments (MOLLI, ShMOLLI, SASHA, SAPPHIRE,
  SMART1Map, T2-prep, GraSE), or a MOLLI sampling scheme such as
  ``5(3)3``, ``4(1)3(1)2`` or ``5s(3s)3s``; ``""`` when the header does not say.
- contrast agent: ContrastBolusAgent (0018,0010); else the enhanced MR
  contrast/bolus modules: the code meaning of ContrastBolusAgentSequence
  (0018,0012), or ``administered``, unless the frames'
  ContrastBolusUsageSequence (0018,9341) says NO.
- times (seconds after midnight): AcquisitionTime (else AcquisitionDateTime,
  else SeriesTime) and ContrastBolusStartTime (0018,1042).
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
    ("SMART1Map", re.compile(r"smart1[ _-]?map", re.IGNORECASE)),
    ("T2-prep", re.compile(r"t2[ _-]?prep|t2p(?![a-z])", re.IGNORECASE)),
    ("GraSE", re.compile(r"grase", re.IGNORECASE)),
    # A MOLLI sampling scheme: images per inversion, recovery in brackets, e.g. 5(3)3, 4(1)3(1)2, 5s(3s)3s, 5b(3s)3b
    # (McDiarmid et al., QIMS 2015;5:503).  5(1)1(1)1 is ShMOLLI's scheme, left to its name.
    ("MOLLI", re.compile(r"(?<![\d.)])(?!5\(1\)1\(1\)1)\d[sb]?\(\d[sb]?\)\d[sb]?(?:\(\d[sb]?\)\d[sb]?)?(?![\d(])", re.IGNORECASE)),
)
_PROTON_MHZ_PER_T = 42.577
_FIELD_RANGE_T = (0.1, 12.0)
_GAUSS_PER_T, _GAUSS_FROM = 10000.0, 1000.0  # 1000 T is no magnet; 1000 G is 0.1 T, the lowest field taken
_HEART_RATE_RANGE_BPM = (20.0, 250.0)


@dataclass(frozen=True)
class ScanContext:
    """What the header tells about how a map was acquired (None / "" when it does not say)."""

    field_strength_t: float | None = None
    sequence: str = ""
    heart_rate_bpm: float | None = None
    contrast_agent: str = ""
    acquisition_time_s: float | None = None
    description: str = ""
    contrast_start_s: float | None = None
    protocol_name: str = ""


DAY_S = 86400.0


def past_midnight(times_s) -> list[float | None]:
    """Times of day (s) of one exam, those after midnight counted on from the evening when the exam ran across it.

    AcquisitionTime and ContrastBolusStartTime are times of day: a bolus at
    23:55 and a post-contrast map at 00:10 read as the map acquired 24 h
    before the bolus.  An exam runs across midnight when its known times
    fall apart into early-morning ones (before 06:00) and evening ones
    (from 18:00) with more than 12 h between: the morning ones are then the
    next day's.  A stray time alone (a bolus time of 00:00:00 written by
    default beside maps at 13:00) moves nothing.  None stays None.

    >>> past_midnight([86100.0, 600.0, None, 85000.0])
    [86100.0, 87000.0, None, 85000.0]
    >>> past_midnight([0.0, 46800.0, 48000.0]), past_midnight([32400.0, 34200.0, 77760.0])
    ([0.0, 46800.0, 48000.0], [32400.0, 34200.0, 77760.0])
    """
    known = sorted({float(t) for t in times_s if t is not None})
    gaps = np.diff(known)
    wrap = None
    if gaps.size and gaps.max() > DAY_S / 2:
        k = int(np.argmax(gaps))
        if known[k] < _MORNING_END_S and known[k + 1] >= _EVENING_START_S:
            wrap = known[k]  # the last time before the gap
    return [None if t is None else float(t) + (DAY_S if wrap is not None and float(t) <= wrap else 0.0) for t in times_s]


_MORNING_END_S, _EVENING_START_S = 6 * 3600.0, 18 * 3600.0


def mapping_sequence(text: str) -> str:
    """The mapping sequence ``text`` names (``MOLLI``, ``ShMOLLI``, ``SASHA``, ``T2-prep``...), "" when none.

    >>> mapping_sequence("MOLLI_5(3)3_sax"), mapping_sequence("t2p_flash_sax"), mapping_sequence("cine_retro_sax")
    ('MOLLI', 'T2-prep', '')
    """
    return next((name for name, pattern in _SEQUENCES if pattern.search(text)), "")


def scan_context(header) -> ScanContext:
    """The :class:`ScanContext` of a pydicom dataset (only non-identifying acquisition fields are read)."""
    text = " ".join(str(header.get(k, "")) for k in ("SeriesDescription", "ProtocolName", "SequenceName", "ImageComments"))
    sequence = mapping_sequence(text)
    return ScanContext(
        field_strength_t=field_strength_t(header),
        sequence=sequence,
        heart_rate_bpm=heart_rate_bpm(header),
        contrast_agent=contrast_agent(header),
        acquisition_time_s=_seconds(
            header.get("AcquisitionTime") or str(header.get("AcquisitionDateTime", ""))[8:] or header.get("SeriesTime")
        ),
        description=str(header.get("SeriesDescription", "") or "").strip(),
        contrast_start_s=_seconds(header.get("ContrastBolusStartTime")),
        protocol_name=str(header.get("ProtocolName", "") or "").strip(),
    )


def field_strength_t(header) -> float | None:
    """Nominal field in tesla: MagneticFieldStrength (tesla, or gauss from 1000 up), else the proton imaging frequency; None when neither is plausible.

    >>> field_strength_t({"MagneticFieldStrength": "30000"}), field_strength_t({"MagneticFieldStrength": "2.89362"})
    (3.0, 2.89362)
    """
    low, high = _FIELD_RANGE_T
    stated = _float(header.get("MagneticFieldStrength"))
    if stated is not None and stated >= _GAUSS_FROM:  # legacy GE: 15000 or 30000 gauss
        stated /= _GAUSS_PER_T
    if stated is not None and low <= stated <= high:
        return stated
    frequency_mhz = _float(header.get("ImagingFrequency"))
    derived = None if frequency_mhz is None else round(frequency_mhz / _PROTON_MHZ_PER_T, 2)
    return derived if derived is not None and low <= derived <= high else None


def heart_rate_bpm(header) -> float | None:
    """Heart rate from HeartRate, else from an R-R interval in ms (see the module docstring); None when not plausible."""
    low, high = _HEART_RATE_RANGE_BPM
    rate = _float(header.get("HeartRate"))
    if rate is not None and low <= rate <= high:
        return rate
    for interval_ms in (_float(header.get("NominalInterval")), _float(header.get("CardiacRRIntervalSpecified")), _frame_rr_ms(header)):
        if interval_ms is not None and low <= 60000.0 / interval_ms <= high:
            return round(60000.0 / interval_ms, 1)
    return None


def _frame_rr_ms(header) -> float | None:
    """RRIntervalTimeNominal of the shared (else the first per-frame) CardiacSynchronizationSequence of an enhanced file."""
    for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        for group in (header.get(groups) or [])[:1]:
            for sync in group.get("CardiacSynchronizationSequence") or []:
                value = _float(sync.get("RRIntervalTimeNominal"))
                if value is not None:
                    return value
    return None


def contrast_agent(header) -> str:
    """The contrast agent the header names ("" when none): ContrastBolusAgent, else the enhanced MR contrast/bolus modules.

    In an enhanced file a frame's ContrastBolusUsageSequence says whether an
    agent was administered: YES gives the agent's code meaning (or
    ``administered``), NO gives "" even when the agent is listed.
    """
    named = str(header.get("ContrastBolusAgent", "") or "").strip()
    if named:
        return named
    agents = [str(item.get("CodeMeaning", "") or "").strip() for item in header.get("ContrastBolusAgentSequence") or []]
    usage = {
        str(item.get("ContrastBolusAgentAdministered", "")).upper()
        for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence")
        for group in (header.get(groups) or [])[:1]
        for item in group.get("ContrastBolusUsageSequence") or []
    }
    if usage and "YES" not in usage:
        return ""
    return next((a for a in agents if a), "administered" if "YES" in usage else "")


def _float(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON sidecar's integer of hundreds of digits
        return None
    return number if np.isfinite(number) and number > 0 else None


def _seconds(value) -> float | None:
    """DICOM TM (HHMMSS.frac) as seconds after midnight, None when absent or malformed."""
    match = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(\.\d+)?", str(value or "").strip())
    if not match:
        return None
    hours, minutes, seconds, fraction = match.groups()
    return int(hours) * 3600 + int(minutes or 0) * 60 + int(seconds or 0) + float(fraction or 0)
