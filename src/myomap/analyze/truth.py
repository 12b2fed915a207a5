"""How ``analyze`` did on phantom data, where the truth is known (``myomap demo`` and the benchmarks).

For each analysed slice whose folder holds the phantom's ``contours.json``
and ``truth.npz``: Dice of the predicted myocardium with the reference
observer's, Hausdorff distance of the fitted contours, and the myocardial
median of the map inside the predicted contours (eroded ROI, the default)
against the truth.  The truth is the value a perfect map would show in
the pure myocardium (no partial volume): for T1 the noise-free MOLLI value
(``t1_molli_ms``; MOLLI's own underestimation of T1 is physics, not a
segmentation error), for T2 the tissue T2 (T2-prep fitting is unbiased).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from myomap.analyze.exports import csv_text
from myomap.analyze.patient import SliceResult
from myomap.conventions import MAP_TYPES
from myomap.io.contours import read_contours
from myomap.io.files import atomic_write_text
from myomap.metrics.compare import compare_masks

PURE = 0.99  # myocardium_fraction above which a pixel is pure myocardium


def truth_rows(results: Iterable[SliceResult]) -> list[dict]:
    """One row per slice that has phantom truth next to its DICOM (others are left out).

    ``results`` are the slice results ``analyze`` hands to its ``on_patient``
    callback (a run keeps no results in memory).

    Slices the model segmented but that failed afterwards (e.g. no
    myocardium found) are kept, with ``failed`` True and NaN where there is
    nothing to measure, so a failure lowers the mean Dice instead of
    vanishing from it; slices never segmented (unreadable) are left out.
    """
    rows = []
    for item in results:
        folder = item.slice.path.parent
        if item.labels is None or not (folder / "truth.npz").is_file() or not (folder / "contours.json").is_file():
            continue
        reference = read_contours(folder / "contours.json")
        truth = np.load(folder / "truth.npz")
        metrics = compare_masks(item.labels, reference.epi, reference.endo, spacing_mm=item.slice.spacing_mm)
        key = "t1_molli_ms" if item.slice.map_type == "T1" else "t2_true_ms"
        pure = truth["myocardium_fraction"] >= PURE
        measured = next((v.median_ms for v in item.values if v.region == "global" and v.eroded), math.nan)
        uneroded = next((v.median_ms for v in item.values if v.region == "global" and not v.eroded), math.nan)
        true_ms = float(np.median(truth[key][pure])) if pure.any() else math.nan
        rows.append(
            {
                "patient": item.patient,
                "source": str(folder),
                "map_type": item.slice.map_type,
                "slice": item.slice.slice_position,
                "dice_myocardium": metrics.epicardial.dice,
                "dice_blood_pool": metrics.endocardial.dice,
                "hd_epicardial_mm": metrics.epicardial.hd_mm,
                "hd_endocardial_mm": metrics.endocardial.hd_mm,
                "median_ms": measured,
                "median_uneroded_ms": uneroded,
                "true_ms": true_ms,
                "error_ms": measured - true_ms,
                "error_uneroded_ms": uneroded - true_ms,
                "failed": item.error is not None,
                "review": bool(item.qc and item.qc.review) or item.error is not None,
                "confidence": item.qc.confidence if item.qc else math.nan,
                "contour_spread_mm": item.qc.contour_spread_mm if item.qc else math.nan,
                "sanity_failed": item.qc.sanity_failed if item.qc else True,
            }
        )
    return rows


def summarise_truth(rows: list[dict]) -> dict[str, float]:
    """Mean Dice and Hausdorff, median value errors per map type, and how many slices were compared."""
    out: dict[str, float] = {"slices": float(len(rows))}
    if not rows:
        return out
    out["dice_myocardium"] = float(np.nanmean([r["dice_myocardium"] for r in rows]))
    out["hd_mm"] = float(np.nanmean([r[k] for r in rows for k in ("hd_epicardial_mm", "hd_endocardial_mm")]))
    for map_type in MAP_TYPES:
        chosen = [r for r in rows if r["map_type"] == map_type]
        if chosen:
            out[f"{map_type}_median_error_ms"] = float(np.nanmedian([r["error_ms"] for r in chosen]))
            out[f"{map_type}_median_error_uneroded_ms"] = float(np.nanmedian([r["error_uneroded_ms"] for r in chosen]))
    out["flagged"] = float(sum(r["review"] for r in rows))
    return out


def write_truth_csv(path: Path, rows: list[dict]) -> None:
    """The per-slice comparison as CSV (written atomically)."""
    atomic_write_text(path, csv_text(rows))
