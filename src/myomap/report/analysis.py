"""The HTML reports of an analyze run (:mod:`myomap.report.html`), and :func:`analyze`, the run with its reports.

:func:`analyze` is the entry point of ``myomap analyze`` from Python: the
run of :func:`myomap.analyze.run.run_analysis` (discover, predict,
analyse every slice, write) with :class:`HtmlReports` writing the pages.
It lives here, above ``analyze``, because the analysis layer does not
import the report layer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

from myomap.analyze.clinical import stack_name
from myomap.analyze.patient import SliceResult
from myomap.analyze.run import AnalyzeResult, run_analysis
from myomap.analyze.settings import AnalyzeConfig
from myomap.model.loading import EMBEDDED_MODEL, NOT_VALIDATED
from myomap.report.html import PatientEntry, SliceEntry, write_patient_report, write_run_summary

_METHODS = {
    "contours-json": "anterior RV insertion point from the contours JSON next to the map",
    "rv-blood-pool": "anterior RV insertion point estimated from the RV blood pool",
    "rv-blood-pool-against-header": "anterior RV insertion point estimated from an RV blood pool on the side the DICOM "
    "orientation calls lateral (mirrored image?)",
    "native-map": "anterior RV insertion point in the direction found on the native map of the same slice",
    "dicom-orientation": "anterior RV insertion point estimated from the DICOM orientation (no RV blood pool found, or on a cine "
    "one where the orientation puts the lateral wall: bright fat)",
    "image-axes": "anterior RV insertion point assumed from the standard display (no RV blood pool, no orientation)",
}
_SUMMARY_KEYS = (
    "map_type", "region", "eroded", "n_slices", "slices_excluded", "median_ms", "mean_ms", "sd_ms", "iqr_ms", "n_pixels", "n_missing",
    "few_pixels", "reference_low", "reference_high", "reference_flag", "field_strength_t", "sequence", "heart_rate_bpm",
)  # fmt: skip


def _slice_entry(result: SliceResult, keep_phi: bool) -> SliceEntry:
    s = result.slice
    # A SeriesDescription is free text, which the Basic Profile removes: the series number only, unless keep_phi.
    series = s.series_label if keep_phi else f"series {'?' if s.series_number is None else s.series_number}"
    values = {}
    for row in result.values:
        if row.eroded and row.region in ("global", "septal", "blood"):
            for key in ("median_ms", "mean_ms", "iqr_ms") if row.region == "global" else ("median_ms",):
                values[f"{row.region} {key}"] = row.stats[key]
    qc = result.qc
    return SliceEntry(
        name=f"{s.stack} {s.slice_position} ({s.order + 1}) · {series}",
        map_type=s.stack,
        slice_position=s.slice_position,
        overlay_png=result.overlay,
        review=bool(qc and qc.review),
        reasons=qc.reasons if qc else (),
        confidence=qc.confidence if qc else math.nan,
        values=values,
        error=result.error,
    )


def patient_entry(
    patient: str,
    results: list[SliceResult],
    rows: list[dict],
    ecv: Sequence[dict] = (),
    warning: str = "",
    keep_phi: bool = False,
    notes: Sequence[str] = (),
) -> PatientEntry:
    """What the report shows of one patient; ``rows`` are its pooled values (:func:`~myomap.analyze.clinical.stack_rows`).

    ``ecv`` are its rows of :func:`~myomap.analyze.clinical.patient_ecv`: the
    global one joins the summary with its haematocrit, the haematocrit's
    source (``blood test`` or ``synthetic``) and the ECV normal range.
    ``notes`` are the patient's notes (those of its ``done.json``: a
    synthetic haematocrit, ECV or values left out, repeated slices), shown
    after the AHA reference methods without the ``patient: `` prefix.
    """
    segments: dict[str, dict[int, float]] = {}
    flags: dict[str, dict[int, str]] = {}
    for row in rows:
        if row["eroded"] and row["region"].startswith("segment_"):
            segments.setdefault(stack_name(row), {})[int(row["segment"])] = row["median_ms"]
            flags.setdefault(stack_name(row), {})[int(row["segment"])] = row.get("reference_flag", "")
    summary = [
        {**{k: row[k] for k in _SUMMARY_KEYS if k in row}, "map_type": stack_name(row)}
        for row in rows
        if row["region"] in ("global", "septal", "blood")
    ]
    if ecv:  # rows of analyze.clinical.patient_ecv, flagged against the run's ECV range
        segments["ECV"] = {int(r["segment"]): r["ecv_percent"] for r in ecv if r["region"] == "segment"}
        flags["ECV"] = {int(r["segment"]): r["reference_flag"] for r in ecv if r["region"] == "segment"}
        summary += [
            {"map_type": "ECV", "region": "global", "ecv_pct": r["ecv_percent"], "hematocrit": r["hematocrit"],
             "hematocrit_source": r["hematocrit_source"], "reference_low": r["reference_low"], "reference_high": r["reference_high"],
             "reference_flag": r["reference_flag"]}
            for r in ecv if r["region"] == "global"
        ]  # fmt: skip
    methods = sorted({r.reference_method for r in results if r.reference_method})
    shown = [f"AHA reference: {_METHODS.get(m, m)}" for m in methods] + [n.removeprefix(f"{patient}: ") for n in notes]
    return PatientEntry(patient, tuple(_slice_entry(r, keep_phi) for r in results), segments, tuple(summary), tuple(shown), flags, warning)


def _warning(config: AnalyzeConfig) -> str:
    return f"Contours {NOT_VALIDATED}." if config.model == EMBEDDED_MODEL else ""


def _settings(config: AnalyzeConfig) -> dict:
    settings = asdict(config)
    settings.pop("keep_phi", None)
    return settings


def write_patient_html(
    path: Path,
    patient: str,
    results: list[SliceResult],
    rows: list[dict],
    config: AnalyzeConfig,
    ecv: Sequence[dict] = (),
    notes: Sequence[str] = (),
) -> Path:
    entry = patient_entry(patient, results, rows, ecv, _warning(config), config.keep_phi, notes)
    return write_patient_report(path, entry, settings=_settings(config))


def index_entry(label: str, done: dict | None) -> PatientEntry:
    """What the run summary shows of one patient, from its ``done.json`` (no overlays: the index stays small)."""
    done = done or {"status": [], "global_median_ms": {}}
    slices = tuple(
        SliceEntry(name="", map_type="", slice_position="", overlay_png=b"", review=status == "review", reasons=(), confidence=math.nan, values={},
                   error="not analysed" if status == "error" else None)
        for status in done["status"]
    )  # fmt: skip
    summary = tuple({"map_type": m, "region": "global", "eroded": True, "median_ms": v} for m, v in done["global_median_ms"].items())
    return PatientEntry(label, slices, {}, summary)


def write_run_html(path: Path, patients: list[tuple[str, dict | None]], errors: list[str], config: AnalyzeConfig) -> Path:
    """The index page from each patient's label and completion record."""
    entries = [(index_entry(label, done), f"{label}/report.html") for label, done in patients]
    return write_run_summary(path, entries, errors=errors, warning=_warning(config))


class HtmlReports:
    """The :class:`~myomap.analyze.run.Reporter` of ``myomap analyze``: each patient's ``report.html`` and the run's ``index.html``."""

    def patient(
        self, path: Path, label: str, results: list[SliceResult], rows: list[dict], config: AnalyzeConfig, ecv: list[dict], notes: list[str]
    ) -> None:
        write_patient_html(path, label, results, rows, config, ecv, notes)

    def run(self, path: Path, patients: list[tuple[str, dict | None]], errors: list[str], config: AnalyzeConfig) -> None:
        write_run_html(path, patients, errors, config)


def analyze(inputs: Iterable[str | Path], out: str | Path, config: AnalyzeConfig = AnalyzeConfig(), **options) -> AnalyzeResult:
    """Analyse every T1/T2 map under ``inputs`` into ``out``, with the HTML reports when ``config.report``.

    The options and exceptions are those of :func:`myomap.analyze.run.run_analysis`.
    """
    return run_analysis(inputs, out, config, reporter=HtmlReports(), **options)
