"""``myomap analyze`` on phantom subjects the model never saw: accuracy, value bias, QC and throughput (issue 6).

Runs the embedded model (or ``--model``) over the validation and test
subjects of a phantom cohort (the split of the model's training run) and
prints
- myocardium Dice and Hausdorff against the reference observer (test subjects);
- the median error of myocardial T1 and T2 from the predicted contours,
  with the default erosion and without, against the phantom's truth;
- the quality flag: the contour-spread threshold is calibrated on the
  validation subjects (the lowest threshold that flags at most 10 % of
  good slices) and then judged on the test subjects (and, with
  ``--qc-data``, on a second unseen cohort): the share of bad slices
  (Hausdorff above twice the median) that get flagged and the share of
  good slices flagged;
- throughput, DICOM read to all outputs written (report and SEG
  included), in slices per second on this machine: median of ``--repeats``
  runs over the test subjects.

Usage: python benchmarks/analyze_phantom.py --data runs/compact2/data [--model model.pt]
"""

from __future__ import annotations

import argparse
import csv
import logging
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from myomap.analyze.qc import SPREAD_THRESHOLD_MM
from myomap.analyze.settings import AnalyzeConfig
from myomap.analyze.truth import summarise_truth, truth_rows
from myomap.report.analysis import analyze


def subjects(data: Path, split: str) -> list[Path]:
    rows = csv.DictReader((data / "subjects.csv").open())
    return [data / r["subject"] for r in rows if r["split"] == split]


def flag_rates(rows: list[dict], threshold_mm: float, hd_limit: float) -> tuple[float, float, int, int]:
    """Share of bad slices flagged, share of good slices flagged, and their counts, at a contour-spread threshold."""
    hd = np.array([max(r["hd_epicardial_mm"], r["hd_endocardial_mm"]) for r in rows])
    bad = ~(hd <= hd_limit)  # NaN (missing contour) counts as bad
    flagged = np.array([(r["contour_spread_mm"] > threshold_mm) or r["sanity_failed"] for r in rows])
    return (
        float(flagged[bad].mean()) if bad.any() else np.nan,
        float(flagged[~bad].mean()) if (~bad).any() else np.nan,
        int(bad.sum()),
        int((~bad).sum()),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="phantom cohort with subjects.csv (split column)")
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--qc-data", type=Path, help="a second, unseen phantom cohort on which to judge the quality flag again (all its subjects)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(2)

    config = AnalyzeConfig(model=args.model)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows: dict[str, list[dict]] = {"val": [], "test": []}
        results = {
            split: analyze(
                subjects(args.data, split), tmp / split, config, on_patient=lambda done, split=split: rows[split].extend(truth_rows(done))
            )
            for split in ("val", "test")
        }
        for split, result in results.items():
            if result.errors:
                print(f"{split}: {len(result.errors)} error(s), e.g. {result.errors[0]}")

        test = rows["test"]
        summary = summarise_truth(test)
        print(f"\n== analyze on phantom test subjects ({len(test)} maps), model {args.model} ==")
        failed = sum(r["failed"] for r in test)
        print(
            f"myocardium Dice {summary['dice_myocardium']:.3f} (target >= 0.85; median {np.median([r['dice_myocardium'] for r in test]):.3f}), "
            f"mean Hausdorff {summary['hd_mm']:.2f} mm; {failed} slice(s) without contours, their Dice counted, their HD left out"
        )
        for map_type, target in (("T1", 10.0), ("T2", 1.0)):
            print(
                f"{map_type}: median error {summary[f'{map_type}_median_error_ms']:+.2f} ms with the default erosion (target |.| <= {target:g} ms), "
                f"{summary[f'{map_type}_median_error_uneroded_ms']:+.2f} ms without"
            )

        # Calibrate the contour-spread threshold on the validation subjects, judge it on the test subjects.
        val = rows["val"]
        limit_val = 2.0 * np.nanmedian([max(r["hd_epicardial_mm"], r["hd_endocardial_mm"]) for r in val])
        candidates = np.arange(1.0, 8.01, 0.25)
        good_rates = [flag_rates(val, t, limit_val)[1] for t in candidates]
        chosen = min((t for t, g in zip(candidates, good_rates) if g <= 0.10), default=candidates[-1])
        limit_test = 2.0 * np.nanmedian([max(r["hd_epicardial_mm"], r["hd_endocardial_mm"]) for r in test])
        for name, threshold in (("calibrated on val", chosen), ("in the package", SPREAD_THRESHOLD_MM)):
            caught, false, n_bad, n_good = flag_rates(test, threshold, limit_test)
            print(
                f"QC ({name}: contour spread > {threshold:.2f} mm or a failed sanity check): flags {caught:.0%} of {n_bad} bad slices "
                f"(HD > {limit_test:.1f} mm) and {false:.0%} of {n_good} good ones"
            )

        if args.qc_data is not None:
            everyone = sorted(p for p in args.qc_data.iterdir() if (p / "T1_mid").is_dir())
            extra_rows: list[dict] = []
            analyze(everyone, tmp / "qc", config, on_patient=lambda done: extra_rows.extend(truth_rows(done)))
            limit = 2.0 * np.nanmedian([max(r["hd_epicardial_mm"], r["hd_endocardial_mm"]) for r in extra_rows])
            caught, false, n_bad, n_good = flag_rates(extra_rows, SPREAD_THRESHOLD_MM, limit)
            dice = summarise_truth(extra_rows)["dice_myocardium"]
            print(
                f"QC on {args.qc_data} ({len(extra_rows)} maps, myocardium Dice {dice:.3f}): flags {caught:.0%} of {n_bad} bad slices "
                f"(HD > {limit:.1f} mm) and {false:.0%} of {n_good} good ones"
            )

        test_subjects = subjects(args.data, "test")
        seconds = []
        for k in range(args.repeats):
            start = time.perf_counter()
            result = analyze(test_subjects, tmp / f"speed{k}", replace(config))
            seconds.append(time.perf_counter() - start)
        n = result.slices
        print(
            f"throughput: {n / np.median(seconds):.2f} slices/s (median of {args.repeats} runs over {n} maps, DICOM read to every output written; target >= 5)"
        )


if __name__ == "__main__":
    main()
