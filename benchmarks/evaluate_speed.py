"""The evaluation study on 240 test maps against 3 observers: time without inference (issue 7), and the tables.

Simulates 40 phantom subjects, all in the test split (so every map has
three observers: 40 x 6 = 240 maps), predicts them once with the model,
then times :func:`myomap.evaluate.run.run_study` (per-image metrics for the
model against 3 observers and the 3 observer pairs, values, ablation,
achievable Hausdorff, tables with statistics, figures): median of
``--repeats`` runs.  The tables of the last run are in ``OUT/tables.md``.

Usage: python benchmarks/evaluate_speed.py --out runs/evaluate240 [--model embedded]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from myomap.evaluate.run import EvaluateConfig, run_study
from myomap.evaluate.study import load_study, predict
from myomap.model.loading import load_segmenter
from myomap.phantom.cohort import SimulationConfig, simulate_cohort


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--subjects", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    data = args.out / "data"
    if not (data / "manifest.csv").exists():
        simulate_cohort(data, SimulationConfig(subjects=args.subjects, seed=23, field="mixed", split=(0.0, 0.0, 1.0)))
    config = EvaluateConfig(model=args.model, tta=False)  # as the predictions above: the model's single pass
    images, errors = load_study(data, "test", config.observers)
    assert not errors, errors[:3]
    start = time.perf_counter()
    predictions, _ = predict(images, load_segmenter(args.model))
    inference = time.perf_counter() - start
    runs = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        _, _, parts = run_study(images, predictions, config, args.out / "study", note=f"{len(images)} phantom maps, model {args.model}")
        runs.append((time.perf_counter() - start, parts))
    total = [r[0] for r in runs]
    parts = runs[int(np.argsort(total)[len(total) // 2])][1]
    print(f"\n== evaluation of {len(images)} maps against {len(config.observers)} observers ==")
    print(f"inference (not counted): {inference:.1f} s")
    print(
        f"study without inference: {np.median(total):.1f} s median of {args.repeats} ({', '.join(f'{t:.1f}' for t in total)}) (target < 60 s)"
    )
    print("  of which " + ", ".join(f"{k} {v:.1f} s" for k, v in parts.items()))
    print(f"tables: {args.out / 'study' / 'tables.md'}")


if __name__ == "__main__":
    main()
