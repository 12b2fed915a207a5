"""The main job behind ``myomap analyze``: DICOM maps in, contours, values, QC flags, exports and reports out.

Output layout::

    OUT/analyze.yaml                  the settings (rerun with the same options)
    OUT/index.html                    run summary, links to every patient report
    OUT/slices.csv                    one row per slice: position, QC, global values, reference-point method
    OUT/values.csv                    every patient's values (global, AHA segments, septal; with and without erosion)
    OUT/<patient>/report.html         self-contained patient report (overlays, bullseyes, tables, QC)
    OUT/<patient>/values.csv          that patient's values, pooled over slices
    OUT/<patient>/<T1|T2>_<k>_<position>/
        overlay.png, labels.png, contours.json, contours_mm.json, seg.dcm

Patients are named ``patient-01``, ``patient-02``... (in PatientID order)
unless ``keep_phi`` is set, in which case the DICOM PatientID is used.
Every file is written atomically; a slice that fails gives one error line
and the rest go on.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from myomap.analyze.discover import Discovery, MapSlice, discover
from myomap.analyze.exports import SLICE_FILES, write_seg, write_slice_exports
from myomap.analyze.qc import SPREAD_THRESHOLD_MM, QualityReport, assess
from myomap.config import ConfigError, to_yaml
from myomap.geometry.contours import mask_to_contours
from myomap.geometry.masks import contours_to_mask
from myomap.io.contours import ContourError, Contours, read_contours
from myomap.io.files import atomic_write_text
from myomap.quantify.reference import estimate_rv_insertion
from myomap.quantify.values import DEFAULT_EROSION_MARGIN_PX, patient_values, slice_values

log = logging.getLogger(__name__)
EMBEDDED_MODEL = "embedded"
REFERENCE_METHODS = ("auto", "estimate")


def embedded_model_path() -> Path:
    """The compact model shipped inside the package, as ONNX (see ``myomap/data/MODEL_CARD.md``).

    ONNX Runtime runs it on a plain CPU, so analysing needs no PyTorch.
    """
    return Path(str(resources.files("myomap") / "data" / "default_model.onnx"))


@dataclass(frozen=True)
class AnalyzeConfig:
    """Settings of one ``analyze`` run; saved as ``OUT/analyze.yaml``.

    ``model`` is a model file (``.pt`` from ``myomap train`` or ``.onnx``
    from ``myomap export-onnx``) or ``embedded``.  ``erosion_margin_px``
    is the partial-volume margin removed from the myocardial ROI for the
    eroded values (see :mod:`myomap.quantify.values`).
    ``reference_point`` ``auto`` takes the AHA reference point from a
    contours JSON beside the map when that folder holds no other map, and
    estimates it otherwise; ``estimate`` always estimates it.
    """

    model: str = EMBEDDED_MODEL
    tta: bool = True
    erosion_margin_px: float = DEFAULT_EROSION_MARGIN_PX
    spread_threshold_mm: float = SPREAD_THRESHOLD_MM
    fit_missing: bool = False
    reference_point: str = "auto"
    seg: bool = True
    report: bool = True
    keep_phi: bool = False
    batch_size: int = 16
    map_type: str | None = None  # T1/T2 for series (and NIfTI files) whose header does not say

    def validate(self) -> None:
        if self.map_type not in (None, "T1", "T2"):
            raise ConfigError(f"map type must be T1 or T2, got {self.map_type!r}")
        if self.reference_point not in REFERENCE_METHODS:
            raise ConfigError(f"reference point must be one of {', '.join(REFERENCE_METHODS)}, got {self.reference_point!r}")
        if self.erosion_margin_px < 0:
            raise ConfigError(f"erosion margin must be >= 0 pixels, got {self.erosion_margin_px}")
        if self.spread_threshold_mm <= 0:
            raise ConfigError(f"contour spread threshold must be positive (mm), got {self.spread_threshold_mm}")


@dataclass
class SliceResult:
    """Everything analyze learned about one slice (``error`` set when it could not be analysed)."""

    slice: MapSlice
    patient: str
    folder: str
    labels: np.ndarray | None = None
    contours: Contours | None = None
    qc: QualityReport | None = None
    reference_method: str = ""
    values: list[dict] = field(default_factory=list)
    overlay: bytes = b""
    error: str | None = None
    export_error: str | None = None  # an export that failed (e.g. the SEG) while the slice was analysed


@dataclass
class AnalyzeResult:
    """Per-slice results, the run's error lines and notes."""

    slices: list[SliceResult]
    errors: list[str]
    notes: list[str]
    out: Path
    series: list = field(default_factory=list)  # the found-series table (SeriesSummary rows)
    unreadable_maps: int = 0  # maps found but not read (they failed before any slice result)

    @property
    def failed(self) -> bool:
        return bool(self.errors)


def load_segmenter(model: str):
    """A Segmenter for a ``.pt`` model file, an OnnxSegmenter for ``.onnx``, the embedded model for ``embedded``."""
    from myomap.model.inference import ModelFileError, OnnxSegmenter, Segmenter

    path = embedded_model_path() if model == EMBEDDED_MODEL else Path(model)
    if model == EMBEDDED_MODEL and not path.is_file():
        raise ModelFileError(f"{path}: the embedded model is missing from this installation; reinstall myomap or give --model")
    if path.suffix.lower() == ".onnx":
        return OnnxSegmenter.from_file(path)
    try:
        return Segmenter.from_file(path)
    except ImportError as exc:
        raise ModelFileError(
            f"{path}: a PyTorch model file needs the model extra ({exc.name or exc} is missing): "
            "pip install 'myomap[model]', or convert it once with myomap export-onnx and pass the .onnx"
        ) from None


def patient_labels(keys: Iterable[tuple[str, str]], keep_phi: bool) -> dict[tuple[str, str], str]:
    """Anonymous ``patient-NN`` labels (or the PatientID, made safe for folder names, with ``keep_phi``).

    One patient with several studies gets ``-s2``, ``-s3``... for the later ones.
    """
    keys = sorted(keys)
    labels: dict[tuple[str, str], str] = {}
    patients = sorted({p for p, _ in keys})
    for patient_key, study in keys:
        if keep_phi:
            base = re.sub(r"[^A-Za-z0-9_.-]+", "_", patient_key).strip("_") or "unknown"
        else:
            base = f"patient-{patients.index(patient_key) + 1:02d}"
        studies = [s for p, s in keys if p == patient_key]
        labels[(patient_key, study)] = base if studies.index(study) == 0 else f"{base}-s{studies.index(study) + 1}"
    return labels


def analyze(
    inputs: Iterable[str | Path],
    out: str | Path,
    config: AnalyzeConfig = AnalyzeConfig(),
    *,
    progress: Callable[[int], None] | None = None,
    found: Callable[[int], None] | None = None,
    inventory: Callable[[list], None] | None = None,
) -> AnalyzeResult:
    """Analyse every T1/T2 map under ``inputs`` into ``out``.

    ``found(n)`` is called once with the number of slices to analyse and
    ``progress(k)`` after each slice; ``inventory(rows)`` once with the
    found-series table before the analysis starts.  Inputs are only read.  Raises
    :class:`~myomap.model.inference.ModelFileError` for an unusable model
    and :class:`OSError` when ``out`` cannot be created; everything else
    becomes an error line in the result.
    """
    config.validate()
    inputs, out = list(inputs), Path(out)
    segmenter = load_segmenter(config.model)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "analyze.yaml", to_yaml(config))  # also proves OUT is writable
    found_maps = discover(inputs, fit_missing=config.fit_missing, map_type=config.map_type)
    errors, notes = list(found_maps.errors), list(found_maps.notes)
    if inventory is not None:
        inventory(found_maps.series)
    total = sum(len(v) for v in found_maps.patients.values())
    if total == 0 and not found_maps.unreadable_maps:
        errors.append(
            f"{', '.join(map(str, inputs))}: no T1 or T2 maps found"
            + (" (weighted images need --fit-missing)" if found_maps.fittable else "")
        )
    if found is not None:
        found(total)
    labels = patient_labels(found_maps.patients, config.keep_phi)
    folders = Counter(s.path.parent for slices in found_maps.patients.values() for s in slices)
    shared = {folder for folder, n in folders.items() if n > 1}  # a contours JSON there belongs to which map?
    results: list[SliceResult] = []
    patients: dict[str, tuple[list[SliceResult], list[dict]]] = {}
    for key, slices in found_maps.patients.items():
        patient = labels[key]
        done = _analyze_patient(patient, slices, segmenter, out, config, errors, progress, shared)
        rows = patient_value_rows(patient, done)
        patients[patient] = (done, rows)
        results.extend(done)
        _write_patient(out, patient, done, rows, config, errors)
    _write_run(out, results, patients, config, errors)
    return AnalyzeResult(results, errors, notes, out, found_maps.series, found_maps.unreadable_maps)


def _analyze_patient(
    patient, slices: list[MapSlice], segmenter, out: Path, config: AnalyzeConfig, errors: list[str], progress, shared: set[Path]
) -> list[SliceResult]:
    results = [SliceResult(s, patient, f"{s.map_type}_{s.order + 1:02d}_{s.slice_position}") for s in slices]
    predictions, reasons = segmenter.predict_each([r.slice.pixels for r in results], tta=config.tta, batch_size=config.batch_size)
    for result, prediction, reason in zip(results, predictions, reasons):
        if prediction is None:  # NaN, constant or tiny image
            result.error = f"{result.slice.path}: {reason}"
            continue
        try:
            _analyze_slice(result, prediction, out, config, shared)
        except (ValueError, ContourError) as exc:
            result.error = f"{result.slice.path}: {exc}"
        except OSError as exc:
            result.error = f"{out / patient / result.folder}: cannot write ({exc.strerror or exc})"
    for result in results:
        errors.extend(e for e in (result.error, result.export_error) if e)
        if progress is not None:
            progress(1)
    return results


def _analyze_slice(result: SliceResult, prediction, out: Path, config: AnalyzeConfig, shared_folders: frozenset[Path] | set[Path] = frozenset()) -> None:
    item = result.slice
    spacing = item.spacing_mm
    fitted = mask_to_contours(prediction.labels)
    result.labels = prediction.labels
    result.qc = assess(
        prediction.labels, fitted, spacing_mm=spacing, agreement=prediction.agreement, members=prediction.members,
        spread_threshold_mm=config.spread_threshold_mm,
    )  # fmt: skip
    folder = out / result.patient / result.folder
    for name in SLICE_FILES:  # a rerun into the same OUT must not leave the last run's files beside this one's
        (folder / name).unlink(missing_ok=True)
    if not fitted.complete:
        write_slice_exports(
            folder,
            map_ms=item.pixels,
            map_type=item.map_type,
            labels=prediction.labels,
            contours=None,
            orientation=item.orientation,
            position_mm=item.position_mm,
            review=True,
        )
        raise ValueError("no myocardium found on this slice (" + "; ".join(r for r in result.qc.reasons) + ")")
    epi, endo = fitted.epi.points, fitted.endo.points
    use_json = config.reference_point == "auto" and item.path.parent not in shared_folders
    reference, method = _reference_point(item, epi, endo, use_json)
    result.reference_method = method
    result.contours = Contours(epi, endo, reference, spacing)
    result.values = slice_values(
        item.pixels,
        epi,
        endo,
        reference,
        item.slice_position,
        spacing_mm=spacing,
        erosion_margin_px=config.erosion_margin_px,
        return_pixels=True,
    )
    # labels.png and the SEG show the region the values are measured in: the fitted contours, rasterised.
    exported = contours_to_mask(epi, endo, item.pixels.shape)
    result.overlay = write_slice_exports(
        folder, map_ms=item.pixels, map_type=item.map_type, labels=exported, contours=result.contours,
        orientation=item.orientation, position_mm=item.position_mm, review=result.qc.review,
    )  # fmt: skip
    if config.seg and item.origin == "scanner" and item.frame is None:  # a SEG of one frame of a multi-frame file: not yet
        uid_seed = [item.sop_uid, "myomap seg"]
        try:
            write_seg(
                folder / "seg.dcm", item.path, exported,
                series_uid=generate_uid(entropy_srcs=uid_seed + ["series"]), sop_uid=generate_uid(entropy_srcs=uid_seed),
                patient_label=result.patient, keep_phi=config.keep_phi,
            )  # fmt: skip
        except Exception as exc:  # highdicom rejects sources for many reasons (missing attributes...); the rest stands
            result.export_error = f"{item.path}: DICOM SEG not written ({type(exc).__name__}: {' '.join(str(exc).split())})"


def _reference_point(item: MapSlice, epi: np.ndarray, endo: np.ndarray, use_json: bool) -> tuple[tuple[float, float] | None, str]:
    """The anterior RV insertion point: from a contours JSON next to the map (if ``use_json``), else estimated."""
    path = item.contours_json if use_json else None
    if path is not None:
        try:
            given = read_contours(path).rv_insertion
        except ContourError:
            given = None
        if given is not None:
            return given, "contours-json"
    return estimate_rv_insertion(item.pixels, epi, endo, spacing_mm=item.spacing_mm, orientation=item.orientation)


def slice_row(result: SliceResult) -> dict:
    """One row of ``slices.csv``."""
    s = result.slice
    row = {
        "patient": result.patient, "map_type": s.map_type, "slice": s.slice_position, "order": s.order + 1,
        "folder": f"{result.patient}/{result.folder}", "origin": s.origin, "source": str(s.path),
        "series": s.series_label.removeprefix("series "),
        "status": "error" if result.error else "review" if result.qc and result.qc.review else "ok",
        "confidence": _fmt(result.qc.confidence if result.qc else math.nan),
        "contour_spread_mm": _fmt(result.qc.contour_spread_mm if result.qc else math.nan),
        "qc_reasons": "; ".join(result.qc.reasons) if result.qc else "",
        "wall_mm": _fmt(result.qc.wall_mm if result.qc else math.nan),
        "reference_point": result.reference_method,
    }  # fmt: skip
    for eroded in (True, False):
        stats = next((v for v in result.values if v["region"] == "global" and v["eroded"] == eroded), {})
        suffix = "" if eroded else "_uneroded"
        for key in ("median_ms", "mean_ms", "sd_ms", "iqr_ms", "n_pixels"):
            row[f"global_{key}{suffix}"] = _fmt(stats.get(key, math.nan))
    row["error"] = result.error or ""
    return row


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def csv_text(rows: list[dict]) -> str:
    if not rows:
        return ""
    buffer = io.StringIO()
    fields = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _fmt(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows)
    return buffer.getvalue()


def patient_value_rows(patient: str, results: list[SliceResult]) -> list[dict]:
    """Pooled values of one patient per map type, with the patient label in front."""
    rows = []
    for map_type in ("T1", "T2"):
        done = [r for r in results if r.slice.map_type == map_type and r.values and not r.error]
        if done:
            for row in patient_values([row for r in done for row in r.values]):
                rows.append({"patient": patient, "map_type": map_type, **row})
    return rows


def _write_patient(out: Path, patient: str, results: list[SliceResult], rows: list[dict], config: AnalyzeConfig, errors: list[str]) -> None:
    try:
        (out / patient).mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / patient / "values.csv", csv_text(rows))
        if config.report:
            from myomap.analyze.report import write_patient_html

            write_patient_html(out / patient / "report.html", patient, results, rows, config)
    except OSError as exc:
        errors.append(f"{out / patient}: cannot write ({exc.strerror or exc})")


def _write_run(
    out: Path,
    results: list[SliceResult],
    patients: dict[str, tuple[list[SliceResult], list[dict]]],
    config: AnalyzeConfig,
    errors: list[str],
) -> None:
    try:
        atomic_write_text(out / "slices.csv", csv_text([slice_row(r) for r in results]))
        atomic_write_text(out / "values.csv", csv_text([row for _, rows in patients.values() for row in rows]))
        if config.report:
            from myomap.analyze.report import write_run_html

            write_run_html(out / "index.html", patients, errors)
    except OSError as exc:
        errors.append(f"{out}: cannot write ({exc.strerror or exc})")


__all__ = ["AnalyzeConfig", "AnalyzeResult", "Discovery", "SliceResult", "analyze", "embedded_model_path", "load_segmenter"]
