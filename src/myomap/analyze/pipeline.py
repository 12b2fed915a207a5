"""The per-patient and per-slice analysis behind ``myomap analyze``: contours, values, QC flags and slice exports.

The run around it (output folder, streaming per patient, run and patient
tables including ``ecv.csv``, de-identification) is
:mod:`myomap.analyze.run`; :func:`analyze` is its entry point.  Every file
is written atomically; a slice that fails gives one error line and the
rest go on.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from skimage.measure import points_in_poly

from myomap.analyze.clinical import add_plausibility, fmt_value as _fmt
from myomap.analyze.discover import Discovery, MapSlice
from myomap.analyze.exports import SLICE_FILES, SegWriter, write_slice_exports
from myomap.analyze.names import patient_labels
from myomap.analyze.qc import SPREAD_THRESHOLD_MM, QualityReport, assess
from myomap.config import ConfigError
from myomap.geometry.contours import mask_to_contours
from myomap.geometry.masks import contours_to_mask
from myomap.io.contours import ContourError, Contours, read_contours
from myomap.quantify.ecv import HematocritError, check_hematocrit, read_hematocrit_csv
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
    from myomap.model.embedded import EMBEDDED_ONNX

    return EMBEDDED_ONNX


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
    ``keep_phi`` keeps every identifying field (no de-identification);
    ``keep_dates`` keeps only dates and times (the Basic Profile's Retain
    Longitudinal Temporal Information Full Dates Option).
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
    keep_dates: bool = False
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
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {self.batch_size}")


@dataclass
class SliceResult:
    """Everything analyze learned about one slice (``error`` set when it could not be analysed)."""

    slice: MapSlice
    patient: str
    folder: str
    number: int = 1  # 1, 2... within the patient (the SEG series number)
    labels: np.ndarray | None = None
    contours: Contours | None = None
    qc: QualityReport | None = None
    reference_method: str = ""
    values: list[dict] = field(default_factory=list)
    overlay: bytes = b""
    error: str | None = None
    export_error: str | None = None  # an export that failed (e.g. the SEG) while the slice was analysed


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


def analyze(inputs, out, config: AnalyzeConfig = AnalyzeConfig(), **options):
    """Analyse every T1/T2 map under ``inputs`` into ``out``: see :func:`myomap.analyze.run.run_analysis`."""
    from myomap.analyze.run import run_analysis

    return run_analysis(inputs, out, config, **options)


def analyze_patient(
    patient, slices: list[MapSlice], segmenter, out: Path, config: AnalyzeConfig, errors: list[str], progress, shared: set[Path],
    seg_writer: SegWriter | None = None,
) -> list[SliceResult]:
    """Segment, measure and export every slice of one patient (pixels loaded); error lines go to ``errors``."""
    results = [SliceResult(s, patient, f"{s.stack}_{s.order + 1:02d}_{s.slice_position}", k + 1) for k, s in enumerate(slices)]
    predictions, reasons = segmenter.predict_each(
        [r.slice.pixels for r in results], [r.slice.spacing_mm for r in results], tta=config.tta, batch_size=config.batch_size
    )
    for result, prediction, reason in zip(results, predictions, reasons):
        if prediction is None:  # NaN, constant or tiny image
            result.error = f"{result.slice.path}: {reason}"
            continue
        try:
            _analyze_slice(result, prediction, out, config, shared, seg_writer)
        except (ValueError, ContourError) as exc:
            result.error = f"{result.slice.path}: {exc}"
        except OSError as exc:
            result.error = f"{out / patient / result.folder}: cannot write ({exc.strerror or exc})"
    for result in results:
        errors.extend(e for e in (result.error, result.export_error) if e)
        if progress is not None:
            progress(1)
    return results


def _analyze_slice(
    result: SliceResult, prediction, out: Path, config: AnalyzeConfig, shared_folders: frozenset[Path] | set[Path] = frozenset(), seg_writer: SegWriter | None = None
) -> None:
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
    if seg_writer is not None and config.seg and item.origin == "scanner" and item.frame is None:  # a SEG of one frame of a multi-frame file: not yet
        name = f"{item.stack} {item.slice_position} {item.order + 1:02d}"
        try:
            seg_writer.write(folder, item.path, exported, patient=result.patient, number=result.number, name=name, review=result.qc.review)
        except Exception as exc:  # highdicom rejects sources for many reasons (missing attributes...); the rest stands
            # The exception text may quote the source's attributes: only its type without --keep-phi.
            detail = f"{type(exc).__name__}: {' '.join(str(exc).split())}" if config.keep_phi else type(exc).__name__
            result.export_error = f"{item.path}: DICOM SEG not written ({detail})"


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


__all__ = ["AnalyzeConfig", "Discovery", "SliceResult", "analyze", "embedded_model_path", "load_segmenter", "patient_labels"]
