"""Clinical values on the phantom against its truth: LV blood pool, ECV, and the painted-segment test (issue 14).

Simulates a cohort with post-contrast maps (``myomap simulate --contrast``:
known haematocrit and myocardial ECV per subject), then measures every map
inside the phantom's reference contours (observer 1, with its RV insertion
point), the quantification chain of ``myomap analyze`` without the
segmentation model, and prints

- LV blood-pool T1 (native and post-contrast) and T2 medians per slice and
  pooled per subject, against the truth: the median of the noise-free map
  a scanner would fit (for MOLLI T1 the apparent T1 of noise-free MOLLI
  signals, ``t1_molli_ms``; for T2 the true T2) over the same ROI pixels;
  the relative error, median and worst;
- ECV = (1 - Hct) dR1_myo / dR1_blood from the pooled eroded medians with
  the subject's haematocrit, globally and per AHA segment, against the
  subject's true ECV (percentage points, median and worst);
- the painted-segment test (tests/quantify/test_orientation.py): passed /
  total over four storage orientations and three slice levels.

Usage: python benchmarks/clinical_values.py [--subjects 6] [--seed 14] [--field mixed] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from myomap.geometry.aha import long_axis_direction, segments_run_clockwise
from myomap.geometry.masks import blood_pool_core
from myomap.io.contours import read_contours
from myomap.io.dicom import read_image
from myomap.phantom.cohort import SimulationConfig, simulate_cohort
from myomap.quantify.ecv import ecv_rows
from myomap.quantify.values import VALID_RANGE_MS, patient_values, slice_values

STACKS = {"T1": ("T1", "native"), "T1post": ("T1", "post"), "T2": ("T2", "native")}


def measure_slice(folder: Path, map_type: str, clockwise: bool, noise_free: bool = False) -> tuple[list[dict], np.ndarray]:
    """The slice's value rows inside the reference contours, and the truth values of its blood-pool ROI.

    ``noise_free`` measures the noise-free map (the truth) instead of the scanner's map.
    """
    pixels, meta = read_image(folder / "map.dcm")
    truth = np.load(folder / "truth.npz")
    truth_map = truth["t1_molli_ms"] if map_type == "T1" else truth["t2_true_ms"]
    pixels = truth_map.astype(float) if noise_free else pixels
    contours = read_contours(folder / "contours.json")
    rows = slice_values(
        pixels, contours.epi, contours.endo, contours.rv_insertion, folder.name.rsplit("_", 1)[1],
        spacing_mm=meta.spacing_mm, clockwise=clockwise, valid_range_ms=VALID_RANGE_MS[map_type], return_pixels=True,
    )  # fmt: skip
    roi = blood_pool_core(contours.endo, pixels.shape, spacing_mm=meta.spacing_mm)
    return rows, truth_map[roi]


def subject_values(subject: Path, noise_free: bool = False) -> dict[str, tuple[list[dict], list[tuple[float, float]]]]:
    """Per stack: all slice rows, and (measured, truth) blood medians per slice plus the pooled pair last."""
    out = {}
    for prefix, (map_type, _) in STACKS.items():
        folders = sorted(subject.glob(f"{prefix}_*"))
        if not folders:
            continue
        metas = [read_image(f / "map.dcm")[1] for f in folders]
        axis, _ = long_axis_direction([m.orientation for m in metas], [m.position_mm for m in metas])
        rows, pairs, truth_pixels = [], [], []
        for folder, meta in zip(folders, metas):
            slice_rows, truth = measure_slice(folder, map_type, segments_run_clockwise(meta.orientation, axis), noise_free)
            blood = next(r for r in slice_rows if r["region"] == "blood")
            pairs.append((blood["median_ms"], float(np.median(truth))))
            truth_pixels.append(truth)
            rows += slice_rows
        pooled = next(r for r in patient_values(rows) if r["region"] == "blood")
        pairs.append((pooled["median_ms"], float(np.median(np.concatenate(truth_pixels)))))
        out[prefix] = (rows, pairs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=6)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--field", default="mixed")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="simulate into this folder (kept) instead of a temporary one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.keep or Path(tmp) / "cohort"
        if not (data / "subjects.csv").is_file():
            config = SimulationConfig(subjects=args.subjects, seed=args.seed, field=args.field, artefact_fraction=0.0, contrast=True)
            simulate_cohort(data, config, workers=args.workers)
        report(data)
    painted()


def report(data: Path) -> None:
    subjects = list(csv.DictReader((data / "subjects.csv").open()))
    blood_errors: dict[str, list[float]] = {k: [] for k in STACKS}
    pooled_errors: dict[str, list[float]] = {k: [] for k in STACKS}
    ecv_global, ecv_segment, noise_free_segment = [], [], []
    for subject in subjects:
        values = subject_values(data / subject["subject"])
        for prefix, (_, pairs) in values.items():
            blood_errors[prefix] += [100.0 * (m - t) / t for m, t in pairs[:-1]]
            pooled_errors[prefix].append(100.0 * (pairs[-1][0] - pairs[-1][1]) / pairs[-1][1])
        native, post = (patient_values(values[k][0]) for k in ("T1", "T1post"))
        truth = float(subject["ecv_percent"])
        for row in ecv_rows(subject["subject"], native, post, float(subject["hematocrit"])):
            (ecv_global if row["region"] == "global" else ecv_segment).append(row["ecv_percent"] - truth)
        clean = subject_values(data / subject["subject"], noise_free=True)
        rows = ecv_rows(subject["subject"], *(patient_values(clean[k][0]) for k in ("T1", "T1post")), float(subject["hematocrit"]))
        noise_free_segment += [r["ecv_percent"] - truth for r in rows if r["region"] == "segment"]
        print(f"{subject['subject']} ({subject['phenotype']}, {subject['field_strength_t']} T): true ECV {truth:.2f} %, "
              f"measured global {truth + ecv_global[-1]:.2f} %, Hct {float(subject['hematocrit']):.3f}")  # fmt: skip
    print(f"\n{len(subjects)} subjects; blood-pool median error against the truth (%; per slice | pooled per subject):")
    for prefix, errors in blood_errors.items():
        e, p = np.abs(errors), np.abs(pooled_errors[prefix])
        print(f"  {prefix:7s} per slice: median |error| {np.median(e):.2f} %, worst {e.max():.2f} % (n={e.size}); "
              f"pooled: median {np.median(p):.2f} %, worst {p.max():.2f} %; signed mean {np.mean(errors):+.2f} %")  # fmt: skip
    g, s = np.abs(ecv_global), np.abs(ecv_segment)
    missing, s = int(np.isnan(s).sum()), s[np.isfinite(s)]
    print(f"ECV error against the truth (percentage points): global median {np.median(g):.2f}, worst {g.max():.2f} (n={g.size}); "
          f"per segment median {np.median(s):.2f}, 95th percentile {np.percentile(s, 95):.2f}, worst {s.max():.2f} (n={s.size}), "
          f"within 1 pp {100 * np.mean(s <= 1.0):.1f} %; {missing} segment(s) without a value (no myocardium left after erosion)")  # fmt: skip
    c = np.abs(np.asarray(noise_free_segment))
    c = c[np.isfinite(c)]
    print(f"  the same from the noise-free maps (MOLLI bias and partial volume only): per segment median {np.median(c):.2f}, "
          f"worst {c.max():.2f} pp, signed mean {np.nanmean(noise_free_segment):+.2f} pp")  # fmt: skip


def painted() -> None:
    test = Path(__file__).resolve().parents[1] / "tests" / "quantify" / "test_orientation.py"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(test), "-q", "-p", "no:cacheprovider", "-k", "painted"], capture_output=True, text=True
    )
    print(f"painted-segment test (4 orientations x 3 levels): {run.stdout.strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()
