"""Checks of a simulated cohort against its own ground truth.

Used by the benchmark script and the tests: agreement between simulated
observers (the paper's metrics) and the values the fitted maps give inside
the reference contours, next to the noise-free truth.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np

from myomap.conventions import BLOOD_POOL, MYOCARDIUM
from myomap.geometry.contours import SliceContours
from myomap.geometry.masks import observer_mask
from myomap.io.dataset import iter_images
from myomap.metrics.compare import CONTOURS, compare
from myomap.phantom.tissues import Tissue


def observer_agreement(data: str | Path) -> list[dict]:
    """One row per map, observer pair and contour with Dice, Hausdorff and MSD.

    As in the paper, the epicardial Dice is computed on the myocardium ring
    and the endocardial Dice on the blood-pool disk
    (:func:`myomap.metrics.compare.compare`, observer a as the prediction).
    """
    rows = []
    for image in iter_images(data, roles=("map",)):
        names = sorted(image.contours)
        for a, b in combinations(names, 2):
            ca, cb = image.contours[a], image.contours[b]
            result = compare(observer_mask(image, a), SliceContours.from_contours(ca), cb.epi, cb.endo, spacing_mm=image.spacing_mm)
            for contour in CONTOURS:
                m = result.contour(contour)
                rows.append(
                    {
                        "subject": image.subject,
                        "map_type": image.map_type,
                        "slice": image.slice,
                        "pair": f"{a}-{b}",
                        "contour": contour,
                        "dice": m.dice,
                        "hausdorff_mm": m.hd_mm,
                        "msd_mm": m.msd_mm,
                    }
                )
    return rows


def map_values(data: str | Path) -> list[dict]:
    """Per map: median fitted value in the reference myocardium and blood pool, and the truth.

    The blood pool is eroded by two pixels so that only pure blood counts.
    """
    from scipy import ndimage

    rows = []
    for image in iter_images(data, roles=("map",), observers=("reference",)):
        truth = np.load(image.source.parent / "truth.npz")
        mask = observer_mask(image)
        myo = mask == MYOCARDIUM
        blood = ndimage.binary_erosion(mask == BLOOD_POOL, iterations=2) & (truth["labels"] == Tissue.LV_BLOOD)
        key = "t1_true_ms" if image.map_type == "T1" else "t2_true_ms"
        rows.append(
            {
                "subject": image.subject,
                "map_type": image.map_type,
                "slice": image.slice,
                "myocardium_map_ms": float(np.median(image.pixels[myo])),
                "myocardium_true_ms": float(np.median(truth[key][myo & (truth["labels"] == Tissue.LV_MYOCARDIUM)])),
                "blood_map_ms": float(np.median(image.pixels[blood])) if blood.any() else float("nan"),
                "blood_true_ms": float(np.median(truth[key][blood])) if blood.any() else float("nan"),
            }
        )
    return rows
