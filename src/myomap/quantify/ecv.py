"""Extracellular volume (ECV) from native and post-contrast T1 of one study.

ECV = (1 - Hct) * (1/T1_myo,post - 1/T1_myo,native) / (1/T1_blood,post - 1/T1_blood,native)

(SCMR/EACVI 2017 consensus, Messroghli et al., JCMR 2017;19:75), computed
from the pooled medians of the native and post-contrast maps: globally and
per AHA segment, with the LV blood-pool medians of the same study.  The
haematocrit comes from a blood test; a synthetic haematocrit from native
blood T1 is offered as an option and flagged as such.

A region whose eroded ROI has too few usable pixels in either state (the
``few_pixels`` flag of the pooled rows, fewer than
:data:`~myomap.quantify.values.MIN_REGION_PIXELS`) gets no ECV: ECV
combines two ROI medians and magnifies their noise (with post-contrast
myocardial T1 near 450 ms, 1 percentage point of ECV is about 8 ms of
post-contrast T1), so an ROI of a few pixels of a thin apical or dilated
wall gives an ECV that is mostly noise.  Its T1 values stay in
``values.csv`` with their ``few_pixels`` flag.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from myomap.quantify.ranges import FIELD_TOLERANCE_T

ECV_COLUMNS = (
    "patient",
    "region",
    "segment",
    "ecv_percent",
    "native_myo_ms",
    "post_myo_ms",
    "native_blood_ms",
    "post_blood_ms",
    "hematocrit",
)
HEMATOCRIT_RANGE = (0.1, 0.7)
SYNTHETIC_HCT = {1.5: (866.0, 0.1232), 3.0: (1355.52, 0.310)}
"""Synthetic haematocrit ``Hct = slope_ms / T1_blood,native_ms - offset`` per field strength (MOLLI only).

1.5 T: Treibel et al., JCMR 2016;18:47 (``866 / T1_blood - 0.1232``, the
relation for MOLLI blood T1).  3 T: Reiter et al., Eur J Radiol
2024;178:111659 (derived on MOLLI 5(3)3 alone, ``1355.52 /
T1_blood - 0.310``).  Both are fitted to MOLLI's apparent blood T1, and
MOLLI reads T1 low by an amount that depends on the T1 itself, the
heart rate and the readout (Kellman and Hansen, JCMR 2014;16:2), other
sequences by other amounts: a blood T1 from ShMOLLI, SASHA or SAPPHIRE
put into these relations gives another haematocrit, so they are used
only for a native T1 map that is MOLLI or whose header names no
sequence, at a field within :data:`~myomap.quantify.ranges.FIELD_TOLERANCE_T`
of 1.5 or 3 T (:func:`synthetic_hematocrit_unusable`).  A synthetic
haematocrit is an estimate with a spread of several percentage points;
every output that uses one says so (``hematocrit_source`` in ``ecv.csv``,
the notes, the report).
"""
SYNTHETIC_HCT_SEQUENCES = ("MOLLI",)
"""The sequences (as :func:`myomap.io.context.mapping_sequence` names them) whose native blood T1 :data:`SYNTHETIC_HCT` fits."""


class HematocritError(ValueError):
    """A haematocrit outside 0.1-0.7, or a haematocrit CSV that cannot be used; the message says which."""


def check_hematocrit(value: float, source: str = "--hematocrit") -> float:
    """``value`` as a float in [0.1, 0.7], else :class:`HematocritError` naming ``source``."""
    try:
        hct = float(value)
    except (TypeError, ValueError):
        raise HematocritError(f"{source}: haematocrit {value!r} is not a number") from None
    if not HEMATOCRIT_RANGE[0] <= hct <= HEMATOCRIT_RANGE[1]:
        raise HematocritError(
            f"{source}: haematocrit {hct:g} is outside {HEMATOCRIT_RANGE[0]}-{HEMATOCRIT_RANGE[1]} (a fraction, not a percentage)"
        )
    return hct


def read_hematocrit_csv(path: str | Path) -> dict[str, float]:
    """Per-patient haematocrits from a CSV with columns ``patient`` and ``hematocrit`` (fractions), UTF-8 with or without a BOM."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:  # Excel's "CSV UTF-8" starts with a BOM
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise HematocritError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not rows or not {"patient", "hematocrit"} <= set(rows[0]):
        raise HematocritError(f"{path}: needs the columns patient and hematocrit")
    return {row["patient"].strip(): check_hematocrit(row["hematocrit"], f"{path} (patient {row['patient'].strip()})") for row in rows}


def synthetic_hematocrit_unusable(field_strength_t: float | None, sequence: str) -> str:
    """Why :data:`SYNTHETIC_HCT` does not fit a native T1 map of this field (T) and sequence; "" when it does.

    An unknown field (None) does not fit: the 1.5 T relation puts a blood T1
    of 1800 ms at a haematocrit of 0.36, the 3 T one at 0.44.  An empty
    ``sequence`` (the header names none) is taken as MOLLI.

    >>> synthetic_hematocrit_unusable(2.89, "MOLLI"), synthetic_hematocrit_unusable(1.5, "SASHA")
    ('', 'the relations are fitted to MOLLI blood T1 and this native T1 map is SASHA')
    """
    if field_strength_t is None:
        return "the field strength is unknown (no plausible MagneticFieldStrength or ImagingFrequency in the header)"
    if _relation(field_strength_t) is None:
        return f"there is no relation for {field_strength_t:g} T (only 1.5 and 3 T)"
    if sequence and sequence not in SYNTHETIC_HCT_SEQUENCES:
        return f"the relations are fitted to MOLLI blood T1 and this native T1 map is {sequence}"
    return ""


def _relation(field_strength_t: float) -> tuple[float, float] | None:
    return next((v for f, v in SYNTHETIC_HCT.items() if abs(f - field_strength_t) <= FIELD_TOLERANCE_T), None)


def synthetic_hematocrit(native_blood_t1_ms: float, field_strength_t: float | None, sequence: str = "") -> float:
    """Haematocrit estimated from native blood T1 (see :data:`SYNTHETIC_HCT`), clipped to 0.1-0.7.

    NaN when the blood T1 is missing or the relations do not fit the field
    and sequence (:func:`synthetic_hematocrit_unusable` says why).

    >>> round(synthetic_hematocrit(1580.0, 1.5), 3), synthetic_hematocrit(1580.0, None)
    (0.425, nan)
    """
    relation = None if field_strength_t is None else _relation(field_strength_t)
    if relation is None or synthetic_hematocrit_unusable(field_strength_t, sequence):
        return math.nan
    if not math.isfinite(native_blood_t1_ms) or native_blood_t1_ms <= 0:
        return math.nan
    slope, offset = relation
    return min(max(slope / native_blood_t1_ms - offset, HEMATOCRIT_RANGE[0]), HEMATOCRIT_RANGE[1])


def ecv_fraction(native_myo_ms: float, post_myo_ms: float, native_blood_ms: float, post_blood_ms: float, hematocrit: float) -> float:
    """ECV as a fraction; NaN when any input is missing or the blood T1 did not fall after contrast.

    >>> round(ecv_fraction(1000.0, 450.0, 1600.0, 300.0, 0.42) * 100, 1)
    26.2
    """
    values = (native_myo_ms, post_myo_ms, native_blood_ms, post_blood_ms, hematocrit)
    if not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in values):
        return math.nan
    delta_blood = 1.0 / post_blood_ms - 1.0 / native_blood_ms
    if delta_blood <= 0:
        return math.nan
    return (1.0 - hematocrit) * (1.0 / post_myo_ms - 1.0 / native_myo_ms) / delta_blood


def ecv_rows(patient: str, native: list[dict], post: list[dict], hematocrit: float) -> list[dict]:
    """ECV rows (:data:`ECV_COLUMNS`) from the eroded pooled rows of :func:`~myomap.quantify.values.patient_values`.

    ``native`` and ``post`` are one patient's native and post-contrast T1
    rows.  One ``global`` row, then one per AHA segment present in both;
    empty when either state lacks a blood-pool value.  Each row also holds
    ``few_pixels`` (not an ecv.csv column): True when either state's ROI
    was flagged ``few_pixels``, and then ``ecv_percent`` is NaN (see the
    module docstring) while the T1 medians are kept.
    """

    def by_region(rows):
        return {(r["region"], r["segment"]): r for r in rows if r["eroded"] and r["region"] != "septal"}

    before, after = by_region(native), by_region(post)
    blood = tuple(rows.get(("blood", None), {}).get("median_ms", math.nan) for rows in (before, after))
    if not all(math.isfinite(b) for b in blood):
        return []
    out = []
    for key in sorted((k for k in before if k in after and k[0] != "blood"), key=lambda k: (k[0] != "global", k[1] or 0)):
        myo = (before[key]["median_ms"], after[key]["median_ms"])
        few = bool(before[key].get("few_pixels") or after[key].get("few_pixels"))
        ecv = math.nan if few else ecv_fraction(*myo, *blood, hematocrit)
        out.append(
            {"patient": patient, "region": "global" if key[0] == "global" else "segment", "segment": key[1], "ecv_percent": 100.0 * ecv,
             "native_myo_ms": myo[0], "post_myo_ms": myo[1], "native_blood_ms": blood[0], "post_blood_ms": blood[1], "hematocrit": hematocrit,
             "few_pixels": few}
        )  # fmt: skip
    return out
