"""The whole ``myomap analyze`` run: output folder, de-identification, one patient at a time, run tables.

Output layout::

    OUT/run.json                      version, model hash, settings, inputs seen, status complete/incomplete
    OUT/analyze.yaml                  the settings (rerun with the same options)
    OUT/index.html                    run summary, links to every patient report, the error lines
    OUT/slices.csv, values.csv        the run tables: every patient's tables of the same name, in patient order
    OUT/<patient>/report.html         self-contained patient report (overlays, bullseyes, tables, QC)
    OUT/<patient>/slices.csv          that patient's slices: position, QC, global values, source (named safely)
    OUT/<patient>/values.csv          that patient's values, pooled over slices
    OUT/<patient>/done.json           written last: the patient is complete (counts, error lines)
    OUT/<patient>/<T1|T2>_<k>_<position>/
        overlay.png, labels.png, contours.json, contours_mm.json, seg.dcm, source.dcm

Patients are analysed and written one at a time and dropped from memory,
so the peak memory does not grow with the number of patients; the run
tables are then concatenated from the per-patient files.  A per-patient
table is added by returning it from :func:`patient_tables` and naming it
in :data:`PATIENT_TABLES`.  The HTML reports are written by a
:class:`Reporter` the caller passes (:mod:`myomap.report.analysis`, a
higher layer), so this module draws no page itself.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Protocol

import numpy as np

from myomap.analyze.clinical import ECV_TABLE_COLUMNS, ecv_input, global_medians, patient_ecv, slice_row, stack_rows
from myomap.analyze.deid import Deidentifier, new_secret, secret_from
from myomap.analyze.discover import MapSlice, discover, load_slices
from myomap.analyze.exports import SegWriter, csv_text
from myomap.analyze.inventory import CINE_KIND
from myomap.analyze.names import KeyFile, SourceNames, keyed_hash, patient_labels
from myomap.analyze.outfolder import OutputFolderError, finish, mark_done, prepare, read_done, sigterm_raises, start_patient
from myomap.analyze.patient import SliceResult, analyze_patient
from myomap.analyze.settings import AnalyzeConfig
from myomap.config import to_yaml
from myomap.geometry.polygon import polygon_area
from myomap.io.archives import Unpacked, unpacked_archives
from myomap.io.dicom import DicomError
from myomap.io.files import atomic_path, atomic_write_text
from myomap.io.nifti import release_cached
from myomap.model.loading import EMBEDDED_MODEL, MIN_HEART_SCALE, NOT_VALIDATED, load_segmenter, model_sha256
from myomap.quantify.ecv import read_hematocrit_csv
from myomap.quantify.ranges import load_ranges

PATIENT_TABLES = ("slices.csv", "values.csv", "ecv.csv")
OPTIONAL_TABLES = ("ecv.csv",)  # written only when there are rows (per patient, and for the run)


@dataclass(frozen=True)
class AnalyzeResult:
    """Counts of a finished run, its error lines and notes (files named as in the outputs: see :mod:`myomap.analyze.names`)."""

    out: Path
    patients: int
    slices: int
    analysed: int
    flagged: int
    errors: tuple[str, ...]
    notes: tuple[str, ...]
    series: tuple = ()  # the found-series table (SeriesSummary rows; descriptions only with keep_phi)
    unreadable_maps: int = 0  # maps found but not read (they failed before any slice result)

    @property
    def failed(self) -> bool:
        """Anything went wrong (an input, a slice or an export)."""
        return bool(self.errors)

    @property
    def nothing_analysed(self) -> bool:
        return self.analysed == 0


class Reporter(Protocol):
    """Writes the HTML pages of a run (see :class:`myomap.report.analysis.HtmlReports`)."""

    def patient(
        self, path: Path, label: str, results: list[SliceResult], rows: list[dict], config: AnalyzeConfig, ecv: list[dict], notes: list[str]
    ) -> None:
        """One patient's report, from its slice results, pooled value rows, ECV rows and notes (those of its ``done.json``)."""

    def run(self, path: Path, patients: list[tuple[str, dict | None]], errors: list[str], config: AnalyzeConfig) -> None:
        """The run's index page, from each patient's label and completion record."""


@dataclass
class _Run:
    """What every patient of a run shares."""

    out: Path
    config: AnalyzeConfig
    segmenter: object
    names: SourceNames
    deid: Deidentifier | None
    seg_writer: SegWriter | None
    key: KeyFile | None
    shared: set[Path]
    progress: Callable[[int], None] | None
    on_patient: Callable[[list[SliceResult]], None] | None
    ranges: list
    hematocrits: dict[str, float]
    reporter: Reporter | None = None
    secret: str = ""

    def exam_id(self, slices: list[MapSlice]) -> str:
        """A keyed hash of the patient's maps (their SOP instance UIDs), recorded in ``done.json`` so that ``--resume`` keeps a
        patient folder only for the same maps: labels follow the patients' order, and a patient added to the inputs shifted them."""
        return keyed_hash(self.secret, "\n".join(sorted(s.sop_uid for s in slices)))


def run_analysis(
    inputs: Iterable[str | Path],
    out: str | Path,
    config: AnalyzeConfig = AnalyzeConfig(),
    *,
    mode: str = "new",
    key_file: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    found: Callable[[int], None] | None = None,
    on_patient: Callable[[list[SliceResult]], None] | None = None,
    inventory: Callable[[list], None] | None = None,
    reporter: Reporter | None = None,
) -> AnalyzeResult:
    """Analyse every T1/T2 map under ``inputs`` into ``out``, one patient at a time.

    ``mode`` is ``new`` (``out`` must be empty or absent), ``overwrite``
    (clear an earlier output first) or ``resume`` (keep the patients an
    interrupted run completed).  ``key_file`` (outside ``out``) receives the
    re-identification key of a de-identified run.  ``found(n)`` is called
    once with the number of slices, ``inventory(rows)`` once with the
    found-series table, ``progress(k)`` as slices are done, and
    ``on_patient(results)`` with each patient's full results before they
    are dropped.  With ``config.report``, ``reporter`` writes each
    patient's ``report.html`` and the run's ``index.html`` (none without
    one).  Inputs are only read.  Raises
    :class:`~myomap.model.inference.ModelFileError` for an unusable model,
    :class:`~myomap.analyze.outfolder.OutputFolderError` for an output
    folder the mode may not use, :class:`OSError` when ``out`` cannot be
    written, and :class:`~myomap.analyze.outfolder.RunInterrupted` (or
    ``KeyboardInterrupt``) when stopped, leaving ``run.json`` incomplete;
    everything else becomes an error line in the result.
    """
    config.validate()
    # Absolute from here on: messages then name inputs by absolute paths, which the privacy scrub finds as paths; a
    # relative input named like a word ("maps", "cine") had that word replaced by a file hash in every message.
    inputs, out = [Path(os.path.abspath(p)) for p in inputs], Path(out)
    if key_file is not None and (Path(key_file).resolve() == out.resolve() or out.resolve() in Path(key_file).resolve().parents):
        raise OutputFolderError(f"{key_file}: the key file must lie outside the output folder, which is meant to be shared")
    segmenter = load_segmenter(config.model, config.heart_scale)
    settings = asdict(config)
    identity = {
        "model_sha256": model_sha256(config.model),
        "settings": settings,
        "inputs_sha256": hashlib.sha256("\n".join(str(p.resolve()) for p in inputs).encode()).hexdigest(),
    }
    record = prepare(out, mode, identity, inputs)
    with sigterm_raises(), unpacked_archives(inputs, keep_names=config.keep_phi) as readable:
        atomic_write_text(out / "analyze.yaml", to_yaml(config))
        callbacks = (progress, found, on_patient, inventory, reporter if config.report else None)
        result, seen = _run(inputs, readable, out, config, segmenter, mode, key_file, identity["model_sha256"], callbacks)
        record.inputs_seen = seen
        finish(out, record, "complete")
    return result


def _run(inputs, readable: Unpacked, out, config, segmenter, mode, key_file, model_id, callbacks) -> tuple[AnalyzeResult, dict]:
    """The run on ``readable.inputs`` (``inputs`` with their ZIP archives unpacked in place)."""
    progress, found, on_patient, inventory, reporter = callbacks
    found_maps = discover(readable.inputs, fit_missing=config.fit_missing, map_type=config.map_type)
    slices = [s for group in found_maps.patients.values() for s in group]
    run, names = _setup(inputs, readable.inputs, out, config, segmenter, key_file, model_id, slices, (progress, on_patient, reporter))
    dates = {key: min((s.study_datetime for s in group if s.study_datetime), default="") for key, group in found_maps.patients.items()}
    labels = patient_labels(found_maps.patients, config.keep_phi, dates=dates)
    series = [  # descriptions are free text, and file names often the patient's
        replace(row, series=names.name(row.file)) if row.file else row if config.keep_phi else replace(row, series=row.series.split(" ")[0])
        for row in found_maps.series
    ]
    series = _per_patient(series, labels, config.keep_phi)
    if inventory is not None:
        inventory(series)
    raw_errors = readable.errors + list(found_maps.errors)
    if not slices and not found_maps.unreadable_maps:
        cine = any(row.kind.endswith(CINE_KIND) for row in found_maps.series)
        hint = " (weighted images need --fit-missing)" if found_maps.fittable else " (cine images: see --map-type)" if cine else ""
        raw_errors.append(f"{', '.join(map(str, readable.inputs))}: no T1 or T2 maps found{hint}")
    if found is not None:
        found(len(slices))
    errors = [names.scrub(e) for e in raw_errors]
    notes = [f"Contours {NOT_VALIDATED}"] if config.model == EMBEDDED_MODEL else []
    if config.heart_scale != 1.0:
        notes.append(
            f"Heart scale {config.heart_scale:g}: the model saw every image as if its pixels were {1 / config.heart_scale:.2f} times "
            "their size (a child's heart at an adult's); values use the true pixel size"
        )
    notes += readable.notes + [names.scrub(n) for n in found_maps.notes]
    totals: Counter = Counter()
    for patient_key, group in found_maps.patients.items():
        label = labels[patient_key]
        done = read_done(out / label) if mode == "resume" else None
        if done is not None and done.get("exam") != run.exam_id(group):
            notes.append(f"{label}: its maps are not those the interrupted run completed under this label; analysed again")
            done = None
        if done is None:
            done = _patient(run, label, group)
        elif progress is not None:
            progress(len(group))
        totals.update({k: done[k] for k in ("slices", "analysed", "flagged")})
        errors += done["errors"]
        notes += done.get("notes", [])
    ordered = list(labels.values())  # as patient_labels gives them: a patient's studies in date order
    _write_run_files(out, ordered, errors, config, reporter)
    result = AnalyzeResult(
        out,
        len(ordered),
        totals["slices"],
        totals["analysed"],
        totals["flagged"],
        tuple(errors),
        tuple(notes),
        tuple(series),
        found_maps.unreadable_maps,
    )
    seen = {"inputs": len(inputs), "maps": len(slices), "patients": len(ordered), "errors": len(errors)}
    if config.keep_phi:
        seen["paths"] = [str(p.resolve()) for p in inputs]
    return result, seen


def _setup(inputs, readable, out, config, segmenter, key_file, model_id, slices: list[MapSlice], callbacks) -> tuple[_Run, SourceNames]:
    """The run's shared state: de-identification secret and names, SEG writer, reference ranges, haematocrits.

    The secret comes from the ``inputs`` given; files are named after the ``readable`` ones (an unpacked
    archive's temporary folder in its input's place: ``input-K/...`` either way).
    """
    progress, on_patient, reporter = callbacks
    key = KeyFile(key_file, new_secret) if key_file is not None and not config.keep_phi else None
    secret = key.secret if key else secret_from([s.sop_uid for s in slices] + [str(p.resolve()) for p in inputs])
    deid = None if config.keep_phi else Deidentifier(secret, keep_dates=config.keep_dates)
    names = SourceNames(readable, config.keep_phi, hasher=partial(keyed_hash, secret))
    settings_id = hashlib.sha256(f"{model_id}\n{to_yaml(config)}".encode()).hexdigest()
    seg_writer = SegWriter(settings_id, deid) if config.seg else None
    folders = Counter(s.path.parent for s in slices)
    shared = {folder for folder, n in folders.items() if n > 1}  # a contours JSON there belongs to which map?
    hematocrits = read_hematocrit_csv(config.hematocrit_csv) if config.hematocrit_csv else {}
    ranges = load_ranges(config.reference_ranges)
    run = _Run(out, config, segmenter, names, deid, seg_writer, key, shared, progress, on_patient, ranges, hematocrits, reporter, secret)
    return run, names


def _per_patient(rows: list, labels: dict[tuple[str, str], str], keep_phi: bool) -> list:
    """The found-series rows labelled with their patient and grouped per patient, in the order of the labels.

    An exam folder of several patients otherwise listed their series
    interleaved by series number.  Rows of exams without a map come last,
    unlabelled; the raw exam key is kept only with ``keep_phi``.
    """
    rank = {key: k for k, key in enumerate(labels)}
    ordered = sorted(rows, key=lambda row: (rank.get(row.exam, len(rank)), row.exam))
    return [replace(row, patient=labels.get(row.exam, ""), exam=row.exam if keep_phi else ("", "")) for row in ordered]


def _patient(run: _Run, label: str, slices: list[MapSlice]) -> dict:
    """Analyse and write one patient, then mark it done; returns its done record."""
    folder = run.out / label
    raw: list[str] = []
    loaded = []
    for item in load_slices(slices):  # a multi-frame file decoded once for all its slices
        if not isinstance(item, DicomError):
            loaded.append(item)
        elif str(item) not in raw:  # the file changed since discovery; once per file, not once per slice of a cine
            raw.append(str(item))
    release_cached()
    results: list[SliceResult] = []
    try:
        start_patient(folder)
        if loaded:
            results = analyze_patient(label, loaded, run.segmenter, run.out, run.config, raw, run.progress, run.shared, run.seg_writer)
        results = [
            replace(
                r,
                error=run.names.scrub(r.error) if r.error else None,
                export_error=run.names.scrub(r.export_error) if r.export_error else None,
            )
            for r in results
        ]
        rows, notes = stack_rows(label, results, run.ranges, include_review=run.config.include_review)
        ecv, ecv_note = _ecv(run, label, slices, results, rows)
        tables = patient_tables(results, run.names, rows, ecv)
        for name, table in tables.items():
            if not table and name in OPTIONAL_TABLES:  # no ECV: no file (done.json says why), as for the run
                (folder / name).unlink(missing_ok=True)
                continue
            atomic_write_text(folder / name, csv_text(table))
        patient_notes = _patient_notes(run, slices, notes + ecv_note + small_heart_note(label, results, run.config.heart_scale))
        if run.reporter is not None:
            run.reporter.patient(folder / "report.html", label, results, rows, run.config, ecv, patient_notes)
        _add_key(run, label, slices)
        done = _done_record(label, results, rows, [run.names.scrub(e) for e in raw], patient_notes) | {"exam": run.exam_id(slices)}
        mark_done(folder, done)
    except OSError as exc:
        raw.append(f"{folder}: cannot write ({exc.strerror or exc})")
        done = _done_record(label, results, [], [run.names.scrub(e) for e in raw], [])
    if run.on_patient is not None:
        run.on_patient(results)
    if run.deid is not None:
        run.deid.uids.clear()  # the mapping of this patient went to the key file; keep memory flat
    return done


# An adult LV's epicardium is about 50-60 mm across at its widest short-axis slice (the phantom's 51 mm at the
# median slice); a toddler's is about 30-35 mm.  Below this, a patient's notes suggest --heart-scale.
SMALL_HEART_MM = 40.0
ADULT_HEART_MM = 55.0


def small_heart_note(label: str, results: list[SliceResult], heart_scale: float) -> list[str]:
    """A note suggesting ``--heart-scale`` where the widest LV ring found is under ``SMALL_HEART_MM`` across (a child's heart).

    The width is that of a circle of the epicardial contour's area, on basal and mid slices (an adult's apex is small);
    nothing is said when a heart scale was given or no such ring was found.  The model, trained on adult hearts, loses
    small ones (see the model card's known limits).
    """
    widths = [
        2.0 * np.sqrt(polygon_area(r.analysis.contours.epi) * r.slice.spacing_mm[0] * r.slice.spacing_mm[1] / np.pi)
        for r in results
        if r.analysis is not None and r.analysis.contours is not None and r.slice.slice_position != "apical"
    ]
    if heart_scale != 1.0 or not widths or max(widths) >= SMALL_HEART_MM:
        return []
    scale = float(np.clip(round(max(widths) / ADULT_HEART_MM / 0.05) * 0.05, MIN_HEART_SCALE, 1.0))
    return [
        f"{label}: the LV is small (its epicardium {max(widths):.0f} mm across at the widest, an adult's about 50-60 mm); "
        f"if this is a child, analyse again with --heart-scale {scale:g}: the model learned adult hearts and loses small ones"
    ]


def _patient_notes(run: _Run, slices: list[MapSlice], notes: list[str]) -> list[str]:
    """The patient's notes for ``done.json`` and the report: paths named safely, series by number only unless ``keep_phi``.

    A SeriesDescription is free text, which the Basic Profile removes.
    """
    labels = {} if run.config.keep_phi else {s.series_label: s.series_label.split(" '")[0] for s in slices}
    out = []
    for note in notes:
        for label in sorted(labels, key=len, reverse=True):
            note = note.replace(label, labels[label])
        out.append(run.names.scrub(note))
    return out


def _ecv(run: _Run, label: str, slices: list[MapSlice], results: list[SliceResult], rows: list[dict]) -> tuple[list[dict], list[str]]:
    """The patient's ECV rows (with a haematocrit given per run, per patient or synthetic, over the levels both T1 states have) and its notes."""
    config = run.config
    hematocrit = (
        config.hematocrit
        if config.hematocrit is not None
        else run.hematocrits.get(label, run.hematocrits.get(slices[0].patient if slices else ""))
    )
    post_found = any(s.map_type == "T1" and s.contrast == "post" and not s.cine for s in slices)  # a cine gives no ECV
    paired, levels = ecv_input(label, results, rows, include_review=config.include_review)
    ecv, note = patient_ecv(label, paired, hematocrit, synthetic=config.synthetic_hematocrit, post_found=post_found, ranges=run.ranges)
    return ecv, [line for line in (levels if ecv else "", note) if line]


def patient_tables(results: list[SliceResult], names: SourceNames, values: list[dict], ecv: list[dict]) -> dict[str, list[dict]]:
    """Every per-patient table (file name -> rows; see :data:`PATIENT_TABLES`), source paths named as the privacy mode says."""
    slices = []
    for result in results:
        row = slice_row(result)
        row["source"] = names.name(result.slice.path)
        if not names.keep_phi and "series" in row:  # the description is free text (removed by the Basic Profile): the number only
            number = result.slice.series_number
            row["series"] = "" if number is None else str(number)  # empty, as every unknown number in the tables (a NIfTI map)
        slices.append(row)
    return {"slices.csv": slices, "values.csv": values, "ecv.csv": [{k: row[k] for k in ECV_TABLE_COLUMNS} for row in ecv]}


def _done_record(label: str, results: list[SliceResult], values: list[dict], errors: list[str], notes: list[str]) -> dict:
    status = ["error" if r.error else "review" if r.qc and r.qc.review else "ok" for r in results]
    return {
        "patient": label, "slices": len(results), "analysed": status.count("ok") + status.count("review"),
        "flagged": status.count("review"), "status": status, "global_median_ms": global_medians(values), "errors": errors, "notes": notes,
    }  # fmt: skip


def _add_key(run: _Run, label: str, slices: list[MapSlice]) -> None:
    if run.key is None or not slices:
        return
    import pydicom

    dicom = next((s for s in slices if s.origin != "nifti"), None)  # a NIfTI map has no PatientName
    name = str(pydicom.dcmread(dicom.path, stop_before_pixels=True).get("PatientName", "")) if dicom is not None else ""
    run.key.add(
        {
            "patient": label, "exam": run.exam_id(slices), "patient_id": slices[0].patient, "patient_name": name,
            "study_uid": slices[0].study, "uids": dict(run.deid.uids) if run.deid else {},
            "sources": {run.names.name(s.path): run.names.relative(s.path) for s in slices},
        }
    )  # fmt: skip


def _write_run_files(out: Path, labels: list[str], errors: list[str], config: AnalyzeConfig, reporter: Reporter | None) -> None:
    """The run tables (concatenated from the patients' files) and the index page."""
    for name in PATIENT_TABLES:
        concatenate_tables(out / name, [out / label / name for label in labels], required=name not in OPTIONAL_TABLES)
    if reporter is not None:
        reporter.run(out / "index.html", [(label, read_done(out / label)) for label in labels], errors, config)


def concatenate_tables(target: Path, parts: list[Path], *, required: bool = True) -> None:
    """Write the rows of every CSV in ``parts`` (missing or empty ones skipped) into ``target``, one header for all.

    Reads one row at a time, so memory does not grow with the number of
    parts.  With no rows at all, ``target`` is an empty file, or absent
    when not ``required``.
    """
    present = [p for p in parts if p.is_file() and p.stat().st_size]
    if not present and not required:
        target.unlink(missing_ok=True)
        return
    columns: dict[str, None] = {}
    for part in present:
        with part.open(newline="", encoding="utf-8") as handle:
            columns.update(dict.fromkeys(next(csv.reader(handle), [])))
    with atomic_path(target) as tmp:
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            if columns:
                writer = csv.DictWriter(handle, fieldnames=list(columns), lineterminator="\n")
                writer.writeheader()
                for part in present:
                    with part.open(newline="", encoding="utf-8") as source:
                        writer.writerows(csv.DictReader(source))
