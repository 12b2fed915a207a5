"""The settings of one ``myomap analyze`` run (saved as ``OUT/analyze.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass

from myomap.analyze.qc import SPREAD_THRESHOLD_MM
from myomap.analyze.slice_analysis import SliceSettings
from myomap.config import ConfigError
from myomap.conventions import MAP_TYPES
from myomap.model.loading import EMBEDDED_MODEL, heart_scale_problem
from myomap.quantify.ecv import HematocritError, check_hematocrit, read_hematocrit_csv
from myomap.quantify.ranges import RangesError, load_ranges
from myomap.quantify.values import DEFAULT_EROSION_MARGIN_PX

REFERENCE_METHODS = ("auto", "estimate")


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
    ``heart_scale`` is the size of the patient's heart against an adult's
    (0.6 for a toddler): the model sees the images as if their pixels were
    ``1 / heart_scale`` times larger (:class:`myomap.model.loading.ScaledHeart`);
    values and geometry keep the true pixel size.
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
    heart_scale: float = 1.0  # the patient's heart against an adult's (a child: below 1), for the model's eyes only

    def validate(self) -> None:
        if self.map_type not in (None, *MAP_TYPES):
            raise ConfigError(f"map type must be T1 or T2, got {self.map_type!r}")
        if problem := heart_scale_problem(self.heart_scale):
            raise ConfigError(problem)
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

    @property
    def slice_settings(self) -> SliceSettings:
        """The settings :func:`~myomap.analyze.slice_analysis.analyse_slice` takes."""
        return SliceSettings(erosion_margin_px=self.erosion_margin_px, spread_threshold_mm=self.spread_threshold_mm)
