"""From analyze results to the HTML reports of :mod:`myomap.report.html`."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

from myomap.analyze.pipeline import AnalyzeConfig, SliceResult
from myomap.report.html import PatientEntry, SliceEntry, write_patient_report, write_run_summary

_METHODS = {
    "contours-json": "anterior RV insertion point from the contours JSON next to the map",
    "rv-blood-pool": "anterior RV insertion point estimated from the RV blood pool",
    "dicom-orientation": "anterior RV insertion point estimated from the DICOM orientation (no RV blood pool found)",
    "image-axes": "anterior RV insertion point assumed from the standard display (no RV blood pool, no orientation)",
}
_SUMMARY_KEYS = ("map_type", "region", "eroded", "n_slices", "median_ms", "mean_ms", "sd_ms", "iqr_ms", "n_pixels")


def _slice_entry(result: SliceResult) -> SliceEntry:
    s = result.slice
    values = {}
    for row in result.values:
        if row["eroded"] and row["region"] in ("global", "septal"):
            for key in ("median_ms", "mean_ms", "iqr_ms") if row["region"] == "global" else ("median_ms",):
                values[f"{row['region']} {key}"] = row[key]
    qc = result.qc
    return SliceEntry(
        name=f"{s.map_type} {s.slice_position} ({s.order + 1}) · {s.series_label}",
        map_type=s.map_type,
        slice_position=s.slice_position,
        overlay_png=result.overlay,
        review=bool(qc and qc.review),
        reasons=qc.reasons if qc else (),
        confidence=qc.confidence if qc else math.nan,
        values=values,
        error=result.error,
    )


def patient_entry(patient: str, results: list[SliceResult], rows: list[dict]) -> PatientEntry:
    """What the report shows of one patient; ``rows`` are its pooled values (:func:`patient_value_rows`)."""
    segments: dict[str, dict[int, float]] = {}
    for row in rows:
        if row["eroded"] and row["region"].startswith("segment_"):
            segments.setdefault(row["map_type"], {})[int(row["segment"])] = row["median_ms"]
    summary = tuple({k: row[k] for k in _SUMMARY_KEYS if k in row} for row in rows if row["region"] in ("global", "septal"))
    methods = sorted({r.reference_method for r in results if r.reference_method})
    notes = tuple(f"AHA reference: {_METHODS.get(m, m)}" for m in methods)
    return PatientEntry(patient, tuple(_slice_entry(r) for r in results), segments, summary, notes)


def _settings(config: AnalyzeConfig) -> dict:
    settings = asdict(config)
    settings.pop("keep_phi", None)
    return settings


def write_patient_html(path: Path, patient: str, results: list[SliceResult], rows: list[dict], config: AnalyzeConfig) -> Path:
    return write_patient_report(path, patient_entry(patient, results, rows), settings=_settings(config))


def write_run_html(path: Path, patients: dict[str, tuple[list[SliceResult], list[dict]]], errors: list[str]) -> Path:
    entries = [(patient_entry(p, results, rows), f"{p}/report.html") for p, (results, rows) in patients.items()]
    return write_run_summary(path, entries, errors=errors)
