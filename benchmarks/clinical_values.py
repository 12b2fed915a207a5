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
  subject's true ECV (percentage points, median and worst); segments left
  without an ECV because an eroded ROI has fewer than 10 pixels are
  counted, with the error they would have had;
- the noise floor: the standard error of each median expected from the
  pixel noise alone (1.2533 SD / sqrt(n), the SD of measured minus
  noise-free pixel values in the ROI), the share of segments (and of
  blood-pool slices) expected within 1 pp (within 2 %) from that noise and
  the noise-free bias, and the observed errors in units of that standard
  error;
- the painted-segment test (tests/quantify/test_orientation.py): passed /
  total over four storage orientations and three slice levels.

With ``--snr`` (both map types at that SNR) and ``--misregistration``
(SD of the source images' shifts, pixels) the cohort isolates what its maps
cannot hold exactly: at ``--snr 5000 --misregistration 0`` every remaining
error is the quantification's own (ROIs, partial volume) or MOLLI's bias.

Usage: python benchmarks/clinical_values.py [--subjects 6] [--seed 14] [--field mixed] [--keep DIR]
       [--snr SNR] [--misregistration PX]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.stats import norm

from myomap.geometry.aha import long_axis_direction, segments_run_clockwise
from myomap.io.contours import read_contours
from myomap.io.dicom import read_image
from myomap.phantom.cohort import SimulationConfig, simulate_cohort
from myomap.quantify.ecv import ecv_fraction, ecv_rows
from myomap.quantify.values import VALID_RANGE_MS, blood_pool_roi, patient_values, slice_values

STACKS = {"T1": ("T1", "native"), "T1post": ("T1", "post"), "T2": ("T2", "native")}


def measure_slice(folder: Path, map_type: str, clockwise: bool, noise_free: bool = False) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """The slice's value rows inside the reference contours, and the truth and measured values of its blood-pool ROI.

    ``noise_free`` measures the noise-free map (the truth) instead of the scanner's map.
    """
    pixels, meta = read_image(folder / "map.dcm")
    truth = np.load(folder / "truth.npz")
    truth_map = truth["t1_molli_ms"] if map_type == "T1" else truth["t2_true_ms"]
    contours = read_contours(folder / "contours.json")
    # The product's blood-pool ROI, found on the scanner's map (as analyze finds it).
    roi = blood_pool_roi(pixels, contours.epi, contours.endo, spacing_mm=meta.spacing_mm, valid_range_ms=VALID_RANGE_MS[map_type])
    pixels = truth_map.astype(float) if noise_free else pixels
    rows = slice_values(
        pixels, contours.epi, contours.endo, contours.rv_insertion, folder.name.rsplit("_", 1)[1],
        spacing_mm=meta.spacing_mm, clockwise=clockwise, valid_range_ms=VALID_RANGE_MS[map_type], return_pixels=True, blood_roi=roi,
    )  # fmt: skip
    return rows, truth_map[roi], np.asarray(pixels, float)[roi]


def subject_values(subject: Path, noise_free: bool = False) -> dict[str, tuple[list[dict], list[tuple[float, float, float]]]]:
    """Per stack: all slice rows, and (measured, truth, noise SE %) blood medians per slice plus the pooled triple last."""
    out = {}
    for prefix, (map_type, _) in STACKS.items():
        folders = sorted(subject.glob(f"{prefix}_*"))
        if not folders:
            continue
        metas = [read_image(f / "map.dcm")[1] for f in folders]
        axis, _ = long_axis_direction([m.orientation for m in metas], [m.position_mm for m in metas])
        rows, pairs, truth_pixels, measured_pixels = [], [], [], []
        for folder, meta in zip(folders, metas):
            slice_rows, truth, measured = measure_slice(folder, map_type, segments_run_clockwise(meta.orientation, axis), noise_free)
            blood = next(r for r in slice_rows if r["region"] == "blood")
            pairs.append((blood["median_ms"], float(np.median(truth)), median_se_percent(measured, truth)))
            truth_pixels.append(truth)
            measured_pixels.append(measured)
            rows += slice_rows
        pooled = next(r for r in patient_values(rows) if r["region"] == "blood")
        truth, measured = np.concatenate(truth_pixels), np.concatenate(measured_pixels)
        pairs.append((pooled["median_ms"], float(np.median(truth)), median_se_percent(measured, truth)))
        out[prefix] = (rows, pairs)
    return out


def median_se_percent(measured: np.ndarray, truth: np.ndarray) -> float:
    """Standard error (% of the truth median) of the median of ``measured`` expected from its pixel noise alone."""
    noise = measured - truth
    noise = noise[np.isfinite(noise)]
    return 100.0 * 1.2533 * float(np.std(noise)) / np.sqrt(noise.size) / float(np.median(truth))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=6)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--field", default="mixed")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="simulate into this folder (kept) instead of a temporary one")
    parser.add_argument("--snr", type=float, help="SNR of every map's source images (default: the simulator's ranges)")
    parser.add_argument("--misregistration", type=float, help="SD of the source images' shifts in pixels (default: the simulator's)")
    args = parser.parse_args()
    if args.snr is not None and not args.snr > 0:
        parser.error(f"--snr must be positive, got {args.snr}")
    if args.misregistration is not None and not args.misregistration >= 0:
        parser.error(f"--misregistration must be 0 or more pixels, got {args.misregistration}")
    with tempfile.TemporaryDirectory() as tmp:
        data = args.keep or Path(tmp) / "cohort"
        if not (data / "subjects.csv").is_file():
            config = SimulationConfig(subjects=args.subjects, seed=args.seed, field=args.field, artefact_fraction=0.0, contrast=True)
            if args.snr is not None:
                config = replace(config, snr_t1=(args.snr, args.snr), snr_t2=(args.snr, args.snr))
            if args.misregistration is not None:
                config = replace(config, misregistration_px=args.misregistration)
            simulate_cohort(data, config, workers=args.workers)
        report(data)
    painted()


def report(data: Path) -> None:
    subjects = list(csv.DictReader((data / "subjects.csv").open()))
    blood: dict[str, list[tuple[float, float]]] = {k: [] for k in STACKS}
    pooled: dict[str, list[tuple[float, float]]] = {k: [] for k in STACKS}
    ecv_global, segments = [], []
    for subject in subjects:
        values = subject_values(data / subject["subject"])
        clean = subject_values(data / subject["subject"], noise_free=True)
        for prefix, (_, pairs) in values.items():
            blood[prefix] += [(100.0 * (m - t) / t, se) for m, t, se in pairs[:-1]]
            pooled[prefix].append((100.0 * (pairs[-1][0] - pairs[-1][1]) / pairs[-1][1], pairs[-1][2]))
        truth, hct = float(subject["ecv_percent"]), float(subject["hematocrit"])
        rows, clean_rows = (
            ecv_rows(subject["subject"], *(patient_values(v[k][0]) for k in ("T1", "T1post")), hct) for v in (values, clean)
        )
        ecv_global.append(rows[0]["ecv_percent"] - truth)
        noisy_pixels, clean_pixels = (tuple(segment_pixels(v[k][0]) for k in ("T1", "T1post")) for v in (values, clean))
        for row, clean_row in zip(rows[1:], clean_rows[1:]):
            se = ecv_se_pp(row, [(noisy_pixels[i][row["segment"]], clean_pixels[i][row["segment"]]) for i in (0, 1)])
            segments.append((row["ecv_percent"] - truth, raw_ecv(row) - truth, raw_ecv(clean_row) - truth, se))
        print(f"{subject['subject']} ({subject['phenotype']}, {subject['field_strength_t']} T): true ECV {truth:.2f} %, "
              f"measured global {truth + ecv_global[-1]:.2f} %, Hct {hct:.3f}")  # fmt: skip
    print(f"\n{len(subjects)} subjects; blood-pool median error against the truth (%; per slice | pooled per subject):")
    for prefix in STACKS:
        print_blood(prefix, np.asarray(blood[prefix]), np.asarray(pooled[prefix]))
    print_ecv(np.asarray(ecv_global), np.asarray(segments))


def segment_pixels(rows: list[dict]) -> dict[int, np.ndarray]:
    """Usable pixel values of each eroded AHA segment, pooled over the slices of its level."""
    out: dict[int, list[np.ndarray]] = {}
    for row in rows:
        if row["region"].startswith("segment") and row["eroded"]:
            out.setdefault(row["segment"], []).append(row["values_ms"])
    return {k: np.concatenate(v) for k, v in out.items()}


def raw_ecv(row: dict) -> float:
    """The row's ECV (%) from its medians, also where the product leaves it blank for too few pixels."""
    blood = (row["native_blood_ms"], row["post_blood_ms"])
    return 100.0 * ecv_fraction(row["native_myo_ms"], row["post_myo_ms"], *blood, row["hematocrit"])


def ecv_se_pp(row: dict, pixels: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Standard error (pp) of a segment's ECV expected from the pixel noise of its native and post-contrast ROIs."""
    terms = []
    for (noisy, clean), median in zip(pixels, (row["native_myo_ms"], row["post_myo_ms"])):
        if noisy.size == 0:
            return float("nan")
        sd = np.std(noisy - clean) if noisy.size == clean.size else np.sqrt(max(np.var(noisy) - np.var(clean), 0.0))
        terms.append(1.2533 * sd / np.sqrt(noisy.size) / median**2)  # d(1/T1) of the median
    delta_blood = 1.0 / row["post_blood_ms"] - 1.0 / row["native_blood_ms"]
    return 100.0 * (1.0 - row["hematocrit"]) / delta_blood * float(np.hypot(*terms))


def within(limit: float, bias: np.ndarray, se: np.ndarray) -> float:
    """Expected share (%) of errors within +-limit for normal errors of mean ``bias`` and SD ``se``."""
    return 100.0 * float(np.mean(norm.cdf((limit - bias) / se) - norm.cdf((-limit - bias) / se)))


def print_blood(prefix: str, slices: np.ndarray, pooled: np.ndarray) -> None:
    e, p = np.abs(slices[:, 0]), np.abs(pooled[:, 0])
    worst = int(np.argmax(e))
    print(f"  {prefix:7s} per slice: median |error| {np.median(e):.2f} %, worst {e[worst]:.2f} % (n={e.size}), within 2 % {100 * np.mean(e <= 2):.0f} %; "
          f"pooled: median {np.median(p):.2f} %, worst {p.max():.2f} %; signed mean {np.mean(slices[:, 0]):+.2f} %")  # fmt: skip
    z = slices[:, 0] / slices[:, 1]
    print(f"           noise floor: SE of a slice's median {np.median(slices[:, 1]):.2f} % (median; {slices[:, 1].max():.2f} % largest), "
          f"expected within 2 % from noise alone {within(2.0, 0.0, slices[:, 1]):.0f} % of slices; worst slice = {abs(z[worst]):.1f} SE, "
          f"error/SE: SD {np.std(z):.2f}; pooled SE median {np.median(pooled[:, 1]):.2f} %")  # fmt: skip


def print_ecv(ecv_global: np.ndarray, segments: np.ndarray) -> None:
    g = np.abs(ecv_global)
    reported, raw, bias, se = segments.T
    kept = np.isfinite(reported)
    s = np.abs(reported[kept])
    print(f"ECV error against the truth (percentage points): global median {np.median(g):.2f}, worst {g.max():.2f} (n={g.size}); "
          f"per segment with an ECV: median {np.median(s):.2f}, 95th percentile {np.percentile(s, 95):.2f}, worst {s.max():.2f} (n={s.size}), "
          f"within 1 pp {100 * np.mean(s <= 1.0):.1f} %")  # fmt: skip
    blank = ~kept & np.isfinite(raw)
    print(f"  {int((~kept).sum())} segment(s) without an ECV (an eroded ROI under 10 pixels; {int((~np.isfinite(raw)).sum())} with none left): "
          f"their error from the medians would be up to {np.abs(raw[blank]).max() if blank.any() else float('nan'):.2f} pp; "
          f"all segments with a median, as before this rule: within 1 pp {100 * np.mean(np.abs(raw[np.isfinite(raw)]) <= 1.0):.1f} %, "
          f"worst {np.nanmax(np.abs(raw)):.2f} pp")  # fmt: skip
    print(f"  the same from the noise-free maps (MOLLI bias and partial volume only): per segment median {np.nanmedian(np.abs(bias)):.2f}, "
          f"worst {np.nanmax(np.abs(bias)):.2f} pp, signed mean {np.nanmean(bias):+.2f} pp")  # fmt: skip
    z = (reported[kept] - bias[kept]) / se[kept]
    print(f"  noise floor: SE of a segment's ECV from its pixel noise median {np.median(se[kept]):.2f} pp (largest {se[kept].max():.2f}); "
          f"expected within 1 pp from that noise and the noise-free bias {within(1.0, bias[kept], se[kept]):.1f} %; "
          f"observed (error - bias)/SE: SD {np.std(z):.2f}, |z| > 2 in {100 * np.mean(np.abs(z) > 2):.1f} % (4.6 % for normal noise)")  # fmt: skip


def painted() -> None:
    test = Path(__file__).resolve().parents[1] / "tests" / "quantify" / "test_orientation.py"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(test), "-q", "-p", "no:cacheprovider", "-k", "painted"], capture_output=True, text=True
    )
    print(f"painted-segment test (4 orientations x 3 levels): {run.stdout.strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()
