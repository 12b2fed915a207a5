"""Cine-like frames through ``myomap analyze``, written as public cine data sets ship them.

The robustness benchmark scores the network on arrays; this runs the whole
command on files.  The T1 maps of the benchmark's first subjects (the
robustness benchmark's cohort, simulated when missing) are rendered as
bSSFP cine-like frames (``robustness.cine_like``), ``--phases`` frames per
slice, each with its own flip angle and noise, and written per subject as a
4-D NIfTI cine (x, y, slice, phase, 35 ms apart) with a label image of the
reference contours beside it, as ACDC and M&Ms put the experts' labels
(``<subject>_4d_gt.nii.gz``; myocardium 2, LV cavity 3), and its first
phase again as a 3-D file with its labels (``<subject>_frame01.nii.gz``
and ``_frame01_gt``, as ACDC ships its labelled frames).  ``myomap analyze
--map-type T1 --keep-phi`` then runs on the folder, and
``benchmarks/label_dice.py`` scores the written contours against the
labels: the share of frames with contours and the mean myocardium Dice (a
frame without contours counts 0).  It also prints the command's throughput
(frames per second of wall time, start-up included: the median of
``--runs`` runs); with many phases (``--subjects 4 --phases 25``: 300
frames of 12 slice positions) this is the big-cine case of the issue's
>= 5 slices/s target.

Usage: python benchmarks/cine_analyze.py --data runs/robustness [--subjects 6] [--phases 3] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import label_dice
import nibabel
import numpy as np
import robustness as rb

from myomap.conventions import BLOOD_POOL, MYOCARDIUM
from myomap.geometry.masks import contours_to_mask


def write_cines(cases: list, folder: Path, phases: int, rng) -> dict[str, np.ndarray]:
    """One 4-D NIfTI cine and its label image per group of three T1 maps (a subject's stack); the labels by name."""
    labels_by_name = {}
    for g in range(0, len(cases) - 2, 3):
        stack = [c for c in cases[g : g + 3] if c.pixels.shape == cases[g].pixels.shape]
        rows, cols = stack[0].pixels.shape
        data = np.zeros((cols, rows, len(stack), phases), np.float32)
        labels = np.zeros(data.shape, np.uint8)
        for k, case in enumerate(stack):
            reference = contours_to_mask(case.epi, case.endo, (rows, cols))
            acdc = np.select([reference == MYOCARDIUM, reference == BLOOD_POOL], [2, 3], 0)  # ACDC's and M&Ms' label values
            for t in range(phases):
                data[:, :, k, t] = rb.cine_like(case, rng).pixels.T
                labels[:, :, k, t] = acdc.T
        name = f"cine{g // 3:03d}"
        (folder / name).mkdir(parents=True)
        affine = np.diag([-stack[0].spacing[1], -stack[0].spacing[0], 10.0, 1.0])
        image = nibabel.Nifti1Image(data, affine)
        image.header.set_xyzt_units("mm", "msec")
        image.header["pixdim"][4] = 35.0
        nibabel.save(image, folder / name / f"{name}_4d.nii.gz")
        nibabel.save(nibabel.Nifti1Image(labels, affine), folder / name / f"{name}_4d_gt.nii.gz")
        labels_by_name[name] = labels
        # As ACDC ships its labelled frames: the first phase again, as a 3-D file with its own labels beside it.
        nibabel.save(nibabel.Nifti1Image(data[..., 0], affine), folder / name / f"{name}_frame01.nii.gz")
        nibabel.save(nibabel.Nifti1Image(labels[..., 0], affine), folder / name / f"{name}_frame01_gt.nii.gz")
        labels_by_name[f"{name}_frame01"] = labels[..., :1]
    return labels_by_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the robustness benchmark's folder (simulated when missing)")
    parser.add_argument("--subjects", type=int, default=6, help="stacks of three T1 maps to write as cines")
    parser.add_argument("--phases", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3, help="runs of analyze timed (median); the first is scored")
    args = parser.parse_args()
    cases = [c for c in rb.load_cases(args.data, "bench", 12) if c.map_type == "T1"][: 3 * args.subjects]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        truth = write_cines(cases, tmp / "in", args.phases, np.random.default_rng(5))
        seconds = []
        for run in range(args.runs):
            out = tmp / ("out" if run == 0 else f"out{run}")
            command = [sys.executable, "-m", "myomap", "analyze", str(tmp / "in"), "-o", str(out), "--map-type", "T1", "--no-report"]
            start = time.perf_counter()
            done = subprocess.run(command + ["--keep-phi"], capture_output=True, text=True)
            seconds.append(time.perf_counter() - start)
            print(f"myomap analyze exit code {done.returncode}")
        rows = label_dice.score(tmp / "out", myocardium=2, suffix="_gt")  # every labelled frame, 0 without contours
        frames = sum(labels.shape[2] * labels.shape[3] for labels in truth.values())
        assert len(rows) == frames, (len(rows), frames)
        dice = [d for _, d, _ in rows]
        found = sum(state == "contours" for *_, state in rows)
        print(
            f"cine-like frames as 4-D NIfTI (and first phases as 3-D copies), through analyze: {found} of {frames} frames with contours, "
            f"myocardium Dice {np.mean(dice):.3f} (lowest {np.min(dice):.3f})"
        )
        wall = statistics.median(seconds)
        print(
            f"throughput: {frames / wall:.2f} frames/s ({frames} frames in {wall:.1f} s, median of {len(seconds)} runs, start-up included)"
        )


if __name__ == "__main__":
    main()
