"""Train a compact model on the CPU and measure it on the phantom test set (issue 5's accuracy figures).

Simulates a 40-subject phantom cohort, trains ``--model`` with a shortened
version of the paper's recipe (same schedule shape: maps + weighted images
first, maps only later, cosine annealing with warm restarts), then prints
- training time and throughput (images per second);
- on the test split's maps, against the reference observer: myocardium Dice
  (the ring) and blood-pool Dice, and the Hausdorff distance of the fitted
  contours (the paper's four steps), next to the simulated inter-observer
  agreement on the same images.

Usage: python benchmarks/train_compact.py --run runs/compact [--minutes 25]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from myomap.io.dataset import load_dataset
from myomap.metrics.compare import compare_masks, summarise
from myomap.model.config import TrainConfig
from myomap.model.inference import Segmenter, load_model_file
from myomap.model.train import train
from myomap.phantom.cohort import SimulationConfig, simulate_cohort
from myomap.phantom.validate import observer_agreement


def evaluate(model: Path, data: Path) -> dict[str, float]:
    images, errors = load_dataset(data, roles=("map",), splits=("test",))
    assert not errors, errors
    segmenter = Segmenter.from_file(model)
    start = time.perf_counter()
    predictions = segmenter.predict([i.pixels for i in images], [i.spacing_mm for i in images])
    seconds = time.perf_counter() - start
    rows = [
        compare_masks(p.labels, i.contours["reference"].epi, i.contours["reference"].endo, spacing_mm=i.spacing_mm)
        for i, p in zip(images, predictions)
    ]
    summary = summarise(rows)  # dice_epicardial is the myocardium ring, as in the paper
    return {
        "maps": len(images),
        "dice_myocardium": summary["dice_epicardial"],
        "dice_blood_pool": summary["dice_endocardial"],
        "hd_mm": float(np.nanmean([r[f"hd_{c}_mm"] for r in rows for c in ("epicardial", "endocardial")])),
        "missing_contours": int(summary["missing_epicardial"] + summary["missing_endocardial"]),
        "inference_s_per_slice": seconds / len(images),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--model", default="unet-mobilenet")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--weighted-epochs", type=int, default=34)
    parser.add_argument("--images-per-epoch", type=int, default=500)
    parser.add_argument("--input-size", type=int, default=160)
    parser.add_argument("--crop", type=float, default=0.5)
    parser.add_argument("--loss", default="jaccard+ce")
    parser.add_argument("--restart-epochs", type=int, default=12)
    parser.add_argument("--subjects", type=int, default=40)
    parser.add_argument("--field", default="mixed", help="field strength of the simulated cohort: 1.5T, 3T or mixed")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    data = args.run / "data"
    if not (data / "manifest.csv").exists():
        simulate_cohort(data, SimulationConfig(subjects=args.subjects, seed=7, field=args.field))
    config = TrainConfig(
        model=args.model,
        epochs=args.epochs,
        weighted_epochs=args.weighted_epochs,
        max_images_per_epoch=args.images_per_epoch,
        input_size=args.input_size,
        crop=args.crop,
        loss=args.loss,
        learning_rate=1e-3,
        restart_epochs=args.restart_epochs,
    )
    start = time.perf_counter()
    model = train(data, args.run / "run", config, progress_bar=False)
    minutes = (time.perf_counter() - start) / 60
    throughput = load_model_file(model)[1].training["images_per_second"]
    result = evaluate(model, data)
    agreement = observer_agreement(data)
    myo = [r["dice"] for r in agreement if r["contour"] == "epicardial"]
    hd = [r["hausdorff_mm"] for r in agreement]
    print(
        f"\n== {args.model}, input {args.input_size}, crop {args.crop}, loss {args.loss}, {args.epochs} epochs x {args.images_per_epoch} images, CPU =="
    )
    print(
        f"training: {minutes:.1f} min wall (data loading included), {throughput:.2f} training images/s over the whole fit (validation included)"
    )
    print(
        f"test maps: {result['maps']}; myocardium Dice {result['dice_myocardium']:.3f} (target >= 0.85), blood-pool Dice {result['dice_blood_pool']:.3f}, "
        f"mean Hausdorff {result['hd_mm']:.2f} mm (target <= 4 mm), missing contours {result['missing_contours']}"
    )
    print(f"simulated inter-observer on the same data: myocardium Dice {np.mean(myo):.3f}, Hausdorff {np.mean(hd):.2f} mm")
    print(f"inference: {result['inference_s_per_slice'] * 1e3:.0f} ms per slice (eager, batch 16)")


if __name__ == "__main__":
    main()
