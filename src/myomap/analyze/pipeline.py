"""The main job behind ``myomap analyze``: DICOM maps in, contours, values, QC flags, exports and reports out.

Output layout::

    OUT/analyze.yaml                  the settings (rerun with the same options)
    OUT/index.html                    run summary, links to every patient report
    OUT/slices.csv                    one row per slice: position, contrast, QC, global and blood values, context
    OUT/values.csv                    every patient's values per stack (global, AHA segments, septal, blood pool)
    OUT/ecv.csv                       ECV per patient, global and per AHA segment (with a haematocrit)
    OUT/<patient>/report.html         self-contained patient report (overlays, bullseyes, tables, QC)
    OUT/<patient>/values.csv          that patient's values, pooled over trusted slices
    OUT/<patient>/<T1|T1-post|T2>_<k>_<position>/
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
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid
from skimage.measure import points_in_poly

from myomap.analyze.clinical import add_plausibility, fmt_value as _fmt, patient_ecv, slice_row, stack_rows
from myomap.analyze.discover import Discovery, MapSlice, discover
from myomap.analyze.exports import SLICE_FILES, write_seg, write_slice_exports
from myomap.analyze.qc import SPREAD_THRESHOLD_MM, QualityReport, assess
from myomap.config import ConfigError, to_yaml
from myomap.geometry.contours import mask_to_contours
from myomap.geometry.masks import contours_to_mask
from myomap.io.contours import ContourError, Contours, read_contours
from myomap.io.files import atomic_write_text
from myomap.quantify.ecv import ECV_COLUMNS, HematocritError, check_hematocrit, read_hematocrit_csv
from myomap.quantify.ranges import RangesError, load_ranges
from myomap.quantify.reference import estimate_rv_insertion
from myomap.quantify.values import DEFAULT_EROSION_MARGIN_PX, VALID_RANGE_MS, slice_values

log = logging.getLogger(__name__)
EMBEDDED_MODEL = "embedded"
NOT_VALIDATED = "segmented by the embedded phantom-trained model, which is not validated on patient data: check every contour"
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
    ``hematocrit`` (a fraction, 0.1-0.7) or ``hematocrit_csv`` (columns
    ``patient``, ``hematocrit``; patient by label or PatientID) enable ECV;
    ``synthetic_hematocrit`` estimates it from native blood T1 instead.
    ``include_review`` pools slices flagged for review into patient values.
    ``reference_ranges`` replaces the shipped normal ranges (a YAML file).
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
    hematocrit: float | None = None
    hematocrit_csv: str | None = None
    synthetic_hematocrit: bool = False
    include_review: bool = False
    reference_ranges: str | None = None

    def validate(self) -> None:
        if self.map_type not in (None, "T1", "T2"):
            raise ConfigError(f"map type must be T1 or T2, got {self.map_type!r}")
        try:
            if self.hematocrit is not None:
                check_hematocrit(self.hematocrit)
            if self.hematocrit_csv is not None:
                read_hematocrit_csv(self.hematocrit_csv)
            load_ranges(self.reference_ranges)
        except (HematocritError, RangesError) as exc:
            raise ConfigError(str(exc)) from None
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
    ecv: list[dict] = field(default_factory=list)

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
    if config.model == EMBEDDED_MODEL:
        notes.insert(0, f"Contours {NOT_VALIDATED}")
    ranges = load_ranges(config.reference_ranges)
    hematocrits = read_hematocrit_csv(config.hematocrit_csv) if config.hematocrit_csv else {}
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
    ecv: list[dict] = []
    for key, slices in found_maps.patients.items():
        patient = labels[key]
        done = _analyze_patient(patient, slices, segmenter, out, config, errors, progress, shared)
        rows, stack_notes = stack_rows(patient, done, ranges, include_review=config.include_review)
        hct = config.hematocrit if config.hematocrit is not None else hematocrits.get(patient, hematocrits.get(key[0]))
        post_found = any(s.map_type == "T1" and s.contrast == "post" for s in slices)
        patient_ecv_rows, ecv_note = patient_ecv(patient, rows, hct, synthetic=config.synthetic_hematocrit, post_found=post_found)
        notes += stack_notes + ([ecv_note] if ecv_note else [])
        patients[patient] = (done, rows)
        ecv += patient_ecv_rows
        results.extend(done)
        _write_patient(out, patient, done, rows, config, errors, patient_ecv_rows)
    _write_run(out, results, patients, config, errors, ecv)
    return AnalyzeResult(results, errors, notes, out, found_maps.series, found_maps.unreadable_maps, ecv)


def _analyze_patient(
    patient, slices: list[MapSlice], segmenter, out: Path, config: AnalyzeConfig, errors: list[str], progress, shared: set[Path]
) -> list[SliceResult]:
    results = [SliceResult(s, patient, f"{s.stack}_{s.order + 1:02d}_{s.slice_position}") for s in slices]
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
        clockwise=item.clockwise,
        valid_range_ms=VALID_RANGE_MS[item.map_type],
        return_pixels=True,
    )
    add_plausibility(result)
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
    """The anterior RV insertion point: from a contours JSON next to the map (if ``use_json``), else estimated.

    A given point inside the predicted blood pool belongs to other contours
    (the predicted ones differ from those it was drawn on): estimated instead.
    """
    path = item.contours_json if use_json else None
    if path is not None:
        try:
            given = read_contours(path).rv_insertion
        except ContourError:
            given = None
        if given is not None and not points_in_poly(np.array([given], float), np.asarray(endo, float))[0]:
            return given, "contours-json"
    return estimate_rv_insertion(item.pixels, epi, endo, spacing_mm=item.spacing_mm, orientation=item.orientation)


def csv_text(rows: list[dict]) -> str:
    if not rows:
        return ""
    buffer = io.StringIO()
    fields = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _fmt(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows)
    return buffer.getvalue()


def _write_patient(
    out: Path, patient: str, results: list[SliceResult], rows: list[dict], config: AnalyzeConfig, errors: list[str], ecv: list[dict]
) -> None:
    try:
        (out / patient).mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / patient / "values.csv", csv_text(rows))
        if config.report:
            from myomap.analyze.report import write_patient_html

            write_patient_html(out / patient / "report.html", patient, results, rows, config, ecv)
    except OSError as exc:
        errors.append(f"{out / patient}: cannot write ({exc.strerror or exc})")


def _write_run(
    out: Path,
    results: list[SliceResult],
    patients: dict[str, tuple[list[SliceResult], list[dict]]],
    config: AnalyzeConfig,
    errors: list[str],
    ecv: list[dict],
) -> None:
    try:
        atomic_write_text(out / "slices.csv", csv_text([slice_row(r) for r in results]))
        atomic_write_text(out / "values.csv", csv_text([row for _, rows in patients.values() for row in rows]))
        if ecv:
            atomic_write_text(out / "ecv.csv", csv_text([{k: row[k] for k in ECV_COLUMNS} for row in ecv]))
        else:
            (out / "ecv.csv").unlink(missing_ok=True)  # a rerun without ECV must not leave the last run's
        if config.report:
            from myomap.analyze.report import write_run_html

            write_run_html(out / "index.html", patients, errors, config)
    except OSError as exc:
        errors.append(f"{out}: cannot write ({exc.strerror or exc})")


__all__ = ["AnalyzeConfig", "AnalyzeResult", "Discovery", "SliceResult", "analyze", "embedded_model_path", "load_segmenter"]
