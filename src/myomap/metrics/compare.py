"""The paper's per-image comparison of a prediction with a reference: :class:`ContourComparison`.

Dice and IoU of the myocardium ring (epicardial, as the paper defines it)
and of the blood pool (endocardial); Hausdorff, mean and signed mean
surface distance of each contour in mm; mask-based HD95 of the region each
contour encloses.  A missing predicted contour gives NaN for its distances
and ``missing`` True with the reason, so that summaries count it instead of
dropping it.  ``analyze``'s comparison with the phantom truth, the
evaluation study and the phantom's observer agreement all use it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields

import numpy as np

from myomap.conventions import BLOOD_POOL, MYOCARDIUM
from myomap.geometry.contours import ContourSteps, SliceContours, fit_contour, mask_to_contours
from myomap.geometry.masks import contours_to_mask
from myomap.geometry.polygon import polygon_mask
from myomap.metrics.distance import contour_distances_mm, hausdorff_mm, mask_surface_distance_mm
from myomap.metrics.overlap import dice, iou

CONTOURS = ("epicardial", "endocardial")


@dataclass(frozen=True)
class ContourMetrics:
    """One contour of a prediction against the reference.

    ``dice`` and ``iou`` of the region (epicardial: the myocardium ring;
    endocardial: the blood pool); ``hd95_mask_mm`` of the region the
    contour encloses (``inf`` with one region empty); ``hd_mm``, ``msd_mm``
    and ``smsd_mm`` (signed, negative inside the reference) between the
    contours, NaN when the predicted contour is ``missing`` (then
    ``missing_reason`` says why).
    """

    dice: float
    iou: float
    hd95_mask_mm: float
    missing: bool
    missing_reason: str
    hd_mm: float
    msd_mm: float
    smsd_mm: float


@dataclass(frozen=True)
class ContourComparison:
    """Both contours of one image against the reference (:func:`compare`)."""

    epicardial: ContourMetrics
    endocardial: ContourMetrics

    def contour(self, name: str) -> ContourMetrics:
        """The metrics of ``epicardial`` or ``endocardial``."""
        if name not in CONTOURS:
            raise ValueError(f"contour must be one of {', '.join(CONTOURS)}, got {name!r}")
        return getattr(self, name)

    @property
    def complete(self) -> bool:
        """Both predicted contours exist."""
        return not (self.epicardial.missing or self.endocardial.missing)

    def as_row(self) -> dict[str, float | bool | str]:
        """One flat row: ``dice_epicardial``, ``hd_endocardial_mm``, ``missing_reason_epicardial``... (for tables and :func:`summarise`)."""
        row: dict[str, float | bool | str] = {}
        for name in CONTOURS:
            for field, value in zip(fields(ContourMetrics), astuple(self.contour(name))):
                key = field.name.removesuffix("_mm")
                row[f"{key}_{name}_mm" if field.name.endswith("_mm") else f"{key}_{name}"] = value
        return row


def compare(
    pred_mask: np.ndarray,
    pred_contours: SliceContours,
    ref_epi: np.ndarray,
    ref_endo: np.ndarray,
    *,
    spacing_mm: tuple[float, float],
) -> ContourComparison:
    """All metrics of one image: prediction (mask and fitted contours) against reference contours."""
    # Every metric is translation invariant: work on the box around both, not the whole image.
    pred_mask, offset = _crop(pred_mask, ref_epi)
    ref_epi, ref_endo = ref_epi - offset, ref_endo - offset
    ref_mask = contours_to_mask(ref_epi, ref_endo, pred_mask.shape)
    out = {}
    for name, region, fitted, ref in (
        ("epicardial", MYOCARDIUM, pred_contours.epi, ref_epi),
        ("endocardial", BLOOD_POOL, pred_contours.endo, ref_endo),
    ):
        a, b = pred_mask == region, ref_mask == region
        # HD95 of the region the contour encloses: the ring's surface would mix in the endocardium.
        inside_a, inside_b = (pred_mask > 0, ref_mask > 0) if name == "epicardial" else (a, b)
        missing = fitted.points is None
        distances = (math.nan,) * 3 if missing else contour_distances_mm(fitted.points - offset, ref, spacing_mm=spacing_mm)
        hd95 = mask_surface_distance_mm(inside_a, inside_b, spacing_mm=spacing_mm)
        out[name] = ContourMetrics(dice(a, b), iou(a, b), hd95, missing, fitted.reason, *distances)
    return ContourComparison(**out)


def _crop(mask: np.ndarray, contour_xy: np.ndarray, pad: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The part of ``mask`` holding its foreground and the contour, and the (x, y) offset of that part."""
    rows, cols = np.nonzero(mask)
    x = np.concatenate([cols, contour_xy[:, 0]])
    y = np.concatenate([rows, contour_xy[:, 1]])
    x0 = max(int(np.floor(x.min())) - pad, 0)
    y0 = max(int(np.floor(y.min())) - pad, 0)
    x1 = min(int(np.ceil(x.max())) + pad + 1, mask.shape[1])
    y1 = min(int(np.ceil(y.max())) + pad + 1, mask.shape[0])
    return mask[y0:y1, x0:x1], np.array([x0, y0], dtype=float)


def compare_masks(
    pred_mask: np.ndarray,
    ref_epi: np.ndarray,
    ref_endo: np.ndarray,
    *,
    spacing_mm: tuple[float, float],
    steps: ContourSteps = ContourSteps(),
) -> ContourComparison:
    """:func:`compare` for a predicted label mask, fitting its contours with ``steps`` first."""
    return compare(pred_mask, mask_to_contours(pred_mask, steps), ref_epi, ref_endo, spacing_mm=spacing_mm)


def best_achievable_hausdorff_mm(
    ref_xy: np.ndarray,
    shape: tuple[int, int],
    *,
    spacing_mm: tuple[float, float],
    steps: ContourSteps = ContourSteps(),
    endocardial: bool = False,
) -> float:
    """The paper's Fig. 9: reference contour -> mask -> fitted contour, Hausdorff to the reference.

    The lowest Hausdorff distance any mask-based method can reach on this
    image; NaN when the rasterised reference is too small to fit a contour.
    """
    fitted = fit_contour(polygon_mask(ref_xy, shape), steps, hull=endocardial and steps.hull)
    return math.nan if fitted.points is None else hausdorff_mm(fitted.points, ref_xy, spacing_mm=spacing_mm)


def summarise(rows: Iterable[ContourComparison | dict]) -> dict[str, float]:
    """Mean of every metric over images (comparisons or their :meth:`~ContourComparison.as_row` rows), plus counts of what the mean leaves out.

    NaN (a missing contour) and ``inf`` (HD95 with one mask empty) are left
    out of the means; ``missing_<contour>`` counts missing contours and
    ``<metric>_infinite`` the infinite values, so nothing disappears silently.
    """
    rows = [r.as_row() if isinstance(r, ContourComparison) else r for r in rows]
    out: dict[str, float] = {"images": float(len(rows))}
    if not rows:
        return out
    for key in rows[0]:
        if key.startswith("missing_reason"):
            continue
        values = np.array([r[key] for r in rows], dtype=float)
        if key.startswith("missing_"):
            out[key] = float(values.sum())
        else:
            finite = values[np.isfinite(values)]
            out[key] = float(finite.mean()) if finite.size else math.nan
            if np.isinf(values).any():
                out[f"{key}_infinite"] = float(np.isinf(values).sum())
    return out
