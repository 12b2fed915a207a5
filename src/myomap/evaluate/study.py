"""The paper's evaluation study on any labelled data set: per-image metrics and myocardial values.

For every map of the chosen split: the model's prediction (contours fitted
with the paper's four steps) against each observer, and every pair of
observers against each other, per contour (epicardial: Dice of the
myocardium ring; endocardial: Dice of the blood-pool disk), as one tidy
table; and the myocardial median of the map inside each rater's contours
(the model's and every observer's), with and without erosion.

A missing observer contour file, an unreadable one, or a model that finds
no contour gives rows with ``missing = True`` and the reason, so the
comparison is counted rather than dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

from myomap.conventions import CLASS_NAMES, MYOCARDIUM
from myomap.geometry.contours import ContourSteps, SliceContours, mask_to_contours
from myomap.geometry.masks import contours_to_mask
from myomap.io.contours import ContourError, Contours, read_contours
from myomap.io.dataset import read_manifest
from myomap.io.dicom import DicomError, read_image
from myomap.metrics.compare import CONTOURS, ContourComparison, best_achievable_hausdorff_mm, compare
from myomap.quantify.values import DEFAULT_EROSION_MARGIN_PX, region_stats

MODEL = "model"
METRICS = ("dice", "iou", "hd_mm", "msd_mm")


class EvaluationError(ValueError):
    """The study cannot run: no images in the split, a model of the wrong kind.

    ``errors`` are the per-file lines gathered before it failed (images that
    could not be read), to be shown before its own message.
    """

    def __init__(self, message: str, errors: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)


@dataclass
class StudyImage:
    """One map of the split with every observer's contours (or why they are missing)."""

    subject: str
    map_type: str
    slice: str
    source: Path
    pixels: np.ndarray
    spacing_mm: tuple[float, float]
    contours: dict[str, Contours] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


def load_study(
    data: str | Path, split: str | None, observers: Sequence[str], splits: Mapping[str, str] | None = None
) -> tuple[list[StudyImage], list[str]]:
    """The split's maps with their observers' contours; one error line per unreadable image or contour.

    ``split`` None takes every map.  ``splits`` (subject -> split, e.g. a
    training run's ``split.csv``) replaces the manifest's split column; a
    subject it does not name is in no split.  A contours file that cannot
    be read makes that observer missing on that image only.
    """
    rows, row_errors = read_manifest(data)
    root = Path(data) if Path(data).is_dir() else Path(data).parent
    errors = [str(e) for e in row_errors]
    images: list[StudyImage] = []
    for row in rows:
        row_split = row.split if splits is None else splits.get(row.subject, "")
        if row.role != "map" or (split is not None and row_split != split):
            continue
        try:
            pixels, meta = read_image(root / row.image)
        except DicomError as exc:
            errors.append(f"manifest line {row.line}: {exc}")
            continue
        image = StudyImage(row.subject, row.map_type, row.slice, root / row.image, pixels, meta.spacing_mm)
        for name in observers:
            relative = row.contours.get(name)
            if not relative:
                image.missing[name] = "no contours in the manifest"
                continue
            try:
                image.contours[name] = read_contours(root / relative)
            except ContourError as exc:
                image.missing[name] = str(exc)
                errors.append(f"manifest line {row.line}: {exc}")
        images.append(image)
    return images, errors


def _metric_rows(base: dict, kind: str, rater: str, reference: str, result: ContourComparison | None, reason: str = "") -> list[dict]:
    rows = []
    for contour in CONTOURS:
        row = {**base, "kind": kind, "rater": rater, "reference": reference, "comparison": f"{rater} vs {reference}", "contour": contour}
        if result is None:
            row.update({m: math.nan for m in METRICS}, missing=True, reason=reason)
        else:
            m = result.contour(contour)
            row.update(dice=m.dice, iou=m.iou, hd_mm=m.hd_mm, msd_mm=m.msd_mm, missing=bool(m.missing), reason=m.missing_reason)
        rows.append(row)
    return rows


def _value_rows(
    base: dict,
    rater: str,
    pixels: np.ndarray,
    labels: np.ndarray | None,
    contours: Contours | None,
    spacing_mm,
    margin: float,
    reason: str = "",
) -> list[dict]:
    from myomap.geometry.aha import eroded_myocardium

    row = {**base, "rater": rater}
    if labels is None or contours is None:
        return [{**row, "median_ms": math.nan, "median_eroded_ms": math.nan, "missing": True, "reason": reason}]
    whole = region_stats(pixels, labels == MYOCARDIUM)["median_ms"]
    eroded = eroded_myocardium(contours.epi, contours.endo, pixels.shape, spacing_mm=spacing_mm, margin_px=margin)
    return [{**row, "median_ms": whole, "median_eroded_ms": region_stats(pixels, eroded)["median_ms"], "missing": False, "reason": ""}]


def score(
    images: Sequence[StudyImage],
    predictions: Sequence[np.ndarray | None],
    observers: Sequence[str],
    *,
    steps: ContourSteps = ContourSteps(),
    erosion_margin_px: float = DEFAULT_EROSION_MARGIN_PX,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[dict], list[dict]]:
    """Per-image metric rows (tidy) and value rows for model and observers; no inference here.

    ``predictions`` are label images on each map's grid (None: the model
    could not segment it).  Metric rows: one per image, comparison and
    contour, with ``kind`` ``model-vs-expert`` or ``expert-vs-expert``.
    """
    metric_rows: list[dict] = []
    value_rows: list[dict] = []
    for image, labels in zip(images, predictions):
        base = {"subject": image.subject, "map_type": image.map_type, "slice": image.slice, "image": str(image.source)}
        fitted = mask_to_contours(labels, steps) if labels is not None else None
        for reference in observers:
            ref = image.contours.get(reference)
            if ref is None:
                metric_rows += _metric_rows(
                    base, "model-vs-expert", MODEL, reference, None, f"{reference}: {image.missing.get(reference, 'missing')}"
                )
            elif labels is None:
                metric_rows += _metric_rows(base, "model-vs-expert", MODEL, reference, None, "model: image could not be segmented")
            else:
                metric_rows += _metric_rows(
                    base, "model-vs-expert", MODEL, reference, compare(labels, fitted, ref.epi, ref.endo, spacing_mm=image.spacing_mm)
                )
        for a, b in combinations(observers, 2):
            ca, cb = image.contours.get(a), image.contours.get(b)
            if ca is None or cb is None:
                gone = a if ca is None else b
                metric_rows += _metric_rows(base, "expert-vs-expert", a, b, None, f"{gone}: {image.missing.get(gone, 'missing')}")
                continue
            mask_a = contours_to_mask(ca.epi, ca.endo, image.pixels.shape)
            metric_rows += _metric_rows(
                base,
                "expert-vs-expert",
                a,
                b,
                compare(mask_a, SliceContours.from_contours(ca), cb.epi, cb.endo, spacing_mm=image.spacing_mm),
            )
        # The model's ROI is its fitted contours, as in myomap analyze (not the raw network mask).
        model_contours = fitted.to_contours() if fitted is not None and fitted.complete else None
        model_mask = contours_to_mask(model_contours.epi, model_contours.endo, image.pixels.shape) if model_contours else None
        value_rows += _value_rows(
            base, MODEL, image.pixels, model_mask, model_contours, image.spacing_mm, erosion_margin_px, "no model contours"
        )
        for name in observers:
            c = image.contours.get(name)
            mask = contours_to_mask(c.epi, c.endo, image.pixels.shape) if c is not None else None
            value_rows += _value_rows(base, name, image.pixels, mask, c, image.spacing_mm, erosion_margin_px, image.missing.get(name, ""))
        if progress is not None:
            progress(1)
    return metric_rows, value_rows


def ablation_rows(images: Sequence[StudyImage], predictions: Sequence[np.ndarray | None], reference: str) -> list[dict]:
    """The paper's Table 8: each cumulative post-processing configuration against ``reference``."""
    rows = []
    for name, steps in ContourSteps.ablation():
        for image, labels in zip(images, predictions):
            ref = image.contours.get(reference)
            if labels is None or ref is None:
                continue
            result = compare(labels, mask_to_contours(labels, steps), ref.epi, ref.endo, spacing_mm=image.spacing_mm)
            for contour in CONTOURS:
                m = result.contour(contour)
                rows.append({"configuration": name, "map_type": image.map_type, "slice": image.slice, "contour": contour,
                             "hd_mm": m.hd_mm, "msd_mm": m.msd_mm, "missing": bool(m.missing)})  # fmt: skip
    return rows


def achievable_rows(images: Sequence[StudyImage], reference: str) -> list[dict]:
    """The paper's Fig. 9: the lowest Hausdorff distance a mask-based method can reach, per reference contour."""
    rows = []
    for image in images:
        ref = image.contours.get(reference)
        if ref is None:
            continue
        for contour, points in (("epicardial", ref.epi), ("endocardial", ref.endo)):
            hd = best_achievable_hausdorff_mm(points, image.pixels.shape, spacing_mm=image.spacing_mm, endocardial=contour == "endocardial")
            rows.append({"subject": image.subject, "map_type": image.map_type, "slice": image.slice, "contour": contour, "hd_mm": hd})
    return rows


def predict(
    images: Sequence[StudyImage], segmenter, *, tta: bool = False, batch_size: int = 16
) -> tuple[list[np.ndarray | None], list[str]]:
    """Label images from the model; an image it cannot take (NaN, constant) gives None and an error line.

    ``tta`` averages the model's test-time augmentations, as ``myomap analyze`` does by default.
    """
    expected = CLASS_NAMES
    if tuple(segmenter.meta.class_names) != expected:
        raise EvaluationError(
            f"the model's classes {list(segmenter.meta.class_names)} are not {list(expected)}; it was not trained for this task"
        )
    # No map kinds: a labelled data set names the map type but not the contrast state, and a post-contrast
    # T1 map taken for a native one would lose its LV to the native-T1 blood check (myomap.model.evidence).
    predictions, reasons = segmenter.predict_each(
        [image.pixels for image in images], [image.spacing_mm for image in images], tta=tta, batch_size=batch_size
    )
    errors = [f"{image.source}: {reason}" for image, reason in zip(images, reasons) if reason]
    return [p.labels if p is not None else None for p in predictions], errors


__all__ = ["EvaluationError", "MODEL", "StudyImage", "ablation_rows", "achievable_rows", "load_study", "predict", "score"]
