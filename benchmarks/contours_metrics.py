"""Benchmark of contour fitting and metrics: the figures issue 4 asks for.

On a small phantom cohort, the mask of a second observer stands in for a
prediction and is compared with the reference observer.  Prints
- the time of contour fitting with all four steps plus every metric for one
  slice (median over all test maps, each timed ``--repeats`` times);
- the paper's "best achievable" Hausdorff distance (reference contour ->
  mask -> fitted contour) and the Table 8 ablation on these masks.

Usage: python benchmarks/contours_metrics.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from myomap.geometry.contours import ContourSteps, mask_to_contours
from myomap.geometry.masks import observer_mask
from myomap.io.dataset import load_dataset
from myomap.metrics.compare import best_achievable_hausdorff_mm, compare
from myomap.metrics.distance import hausdorff_mm
from myomap.phantom.cohort import SimulationConfig, simulate_cohort


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--subjects", type=int, default=14)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        simulate_cohort(data, SimulationConfig(subjects=args.subjects, seed=4))
        images, errors = load_dataset(data, roles=("map",), splits=("test",))
        assert not errors, errors

        per_slice = []
        for image in images:
            pred_mask = observer_mask(image, "obs2")
            ref = image.contours["reference"]
            samples = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                compare(pred_mask, mask_to_contours(pred_mask), ref.epi, ref.endo, spacing_mm=image.spacing_mm)
                samples.append(time.perf_counter() - start)
            per_slice.append(statistics.median(samples))
        shapes = sorted({i.pixels.shape for i in images})
        print(f"== contour fitting (4 steps) + all metrics, one slice: {len(images)} test maps, matrices {shapes[0]}..{shapes[-1]} ==")
        print(f"median {1e3 * statistics.median(per_slice):.2f} ms per slice (target < 5 ms); slowest slice {1e3 * max(per_slice):.2f} ms")

        best = [
            best_achievable_hausdorff_mm(c, image.pixels.shape, spacing_mm=image.spacing_mm, endocardial=endo)
            for image in images
            for c, endo in ((image.contours["reference"].epi, False), (image.contours["reference"].endo, True))
        ]
        print(
            f"\n== best achievable Hausdorff (paper Fig. 9): median {np.nanmedian(best):.2f} mm, 90th percentile {np.nanpercentile(best, 90):.2f} mm =="
        )

        print("\n== Table 8 ablation, observer 2's mask against the reference contours (mean HD, both contours) ==")
        for name, steps in ContourSteps.ablation():
            hd = []
            for image in images:
                fitted = mask_to_contours(observer_mask(image, "obs2"), steps)
                ref = image.contours["reference"]
                for contour, reference in ((fitted.epi, ref.epi), (fitted.endo, ref.endo)):
                    if contour.points is not None:
                        hd.append(hausdorff_mm(contour.points, reference, spacing_mm=image.spacing_mm))
            print(f"{name:<40} {np.mean(hd):6.2f} mm")


if __name__ == "__main__":
    main()
