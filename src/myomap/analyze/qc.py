"""Quality control of one segmented slice: model confidence and contour sanity, combined into a review flag.

Confidence is the agreement of test-time augmentations: the mean Dice of
each augmented prediction's myocardium with the consensus (1 = every
augmentation drew the same myocardium).  Sanity checks catch what a
confident model can still get wrong:

- both contours found, the endocardium inside the epicardium;
- the myocardium closes around the blood pool (a ring, not a "C");
- mean wall thickness and epicardial area within physiological ranges
  (:data:`WALL_MM`, :data:`EPI_AREA_MM2`).

A slice is flagged for review when any check fails or the confidence is
below :data:`CONFIDENCE_THRESHOLD`, calibrated on the phantom with
``benchmarks/analyze_phantom.py`` (the figures are in the model card).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from skimage.measure import points_in_poly

from myomap.geometry.aha import polygon_centroid, screen_angle_deg
from myomap.geometry.contours import SliceContours

CONFIDENCE_THRESHOLD = 0.96  # calibrated on the phantom validation subjects (benchmarks/analyze_phantom.py)
WALL_MM = (2.0, 20.0)
EPI_AREA_MM2 = (250.0, 9000.0)
CROSSING_SHARE = 0.02  # endocardial points allowed outside the epicardium (spline overshoot at a thin wall)
RING_COVERAGE = 0.9  # share of 10-degree sectors around the blood pool that must hold myocardium


@dataclass(frozen=True)
class QualityReport:
    """``review`` is True when the slice needs a human look; ``reasons`` says why (empty when fine)."""

    confidence: float
    review: bool
    reasons: tuple[str, ...]
    wall_mm: float
    epi_area_mm2: float
    ring_coverage: float


def _area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def ring_coverage(labels: np.ndarray, centre_xy: tuple[float, float], *, spacing_mm: tuple[float, float], myocardium: int = 1) -> float:
    """Share of 36 sectors around ``centre_xy`` that contain myocardium pixels (1 for a closed ring)."""
    rows, cols = np.nonzero(labels == myocardium)
    if rows.size == 0:
        return 0.0
    angles = screen_angle_deg(cols, rows, centre_xy, spacing_mm=spacing_mm)
    return float(np.unique((np.asarray(angles) % 360.0 // 10.0).astype(int)).size / 36.0)


def assess(
    labels: np.ndarray,
    contours: SliceContours,
    agreement: float | None,
    *,
    spacing_mm: tuple[float, float],
    threshold: float = CONFIDENCE_THRESHOLD,
) -> QualityReport:
    """Check one slice; ``agreement`` is the TTA agreement (None when TTA was off: confidence is then NaN)."""
    reasons: list[str] = []
    confidence = math.nan if agreement is None else float(agreement)
    if not math.isnan(confidence) and confidence < threshold:
        reasons.append(f"low confidence {confidence:.2f} (augmentations disagree)")
    elif agreement is not None and math.isnan(confidence):
        reasons.append("no myocardium in any augmentation")
    epi, endo = contours.epi.points, contours.endo.points
    wall = area = coverage = math.nan
    if epi is None or endo is None:
        missing = [name for name, c in (("epicardial", contours.epi), ("endocardial", contours.endo)) if c.points is None]
        reasons.append(
            "no " + " and no ".join(missing) + " contour (" + "; ".join(c.reason for c in (contours.epi, contours.endo) if c.reason) + ")"
        )
    else:
        pixel_mm2 = spacing_mm[0] * spacing_mm[1]
        area = _area(epi) * pixel_mm2
        inner = _area(endo) * pixel_mm2
        outside = 1.0 - float(points_in_poly(endo, epi).mean())
        if outside > CROSSING_SHARE:
            reasons.append(f"endocardium crosses the epicardium ({outside:.0%} of its points outside)")
        # Mean wall thickness of an annulus: area between the contours over the mean perimeter.
        perimeter = 0.5 * (_perimeter_mm(epi, spacing_mm) + _perimeter_mm(endo, spacing_mm))
        wall = (area - inner) / perimeter if perimeter > 0 else math.nan
        if not WALL_MM[0] <= wall <= WALL_MM[1]:
            reasons.append(f"mean wall thickness {wall:.1f} mm outside {WALL_MM[0]:g}-{WALL_MM[1]:g} mm")
        if not EPI_AREA_MM2[0] <= area <= EPI_AREA_MM2[1]:
            reasons.append(f"epicardial area {area:.0f} mm² outside {EPI_AREA_MM2[0]:g}-{EPI_AREA_MM2[1]:g} mm²")
        coverage = ring_coverage(labels, polygon_centroid(endo), spacing_mm=spacing_mm)
        if coverage < RING_COVERAGE:
            reasons.append(f"myocardium does not close around the blood pool ({coverage:.0%} of the circumference)")
    return QualityReport(confidence, bool(reasons), tuple(reasons), wall, area, coverage)


def _perimeter_mm(points: np.ndarray, spacing_mm: tuple[float, float]) -> float:
    steps = np.diff(np.vstack([points, points[:1]]), axis=0) * np.array([spacing_mm[1], spacing_mm[0]])
    return float(np.hypot(steps[:, 0], steps[:, 1]).sum())
