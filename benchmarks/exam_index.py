"""Benchmark of reading a whole exam: the figures issue 12 asks for.

Prints
- the time to index a synthetic exam of ``--files`` DICOM files (default
  5,000; mixed series of 256x256 images: localisers, cine, LGE, MOLLI and
  T2-prep weighted images, T1 and T2 maps, see
  :func:`myomap.io.synthetic.write_exam`): header-only indexing of every
  file plus the classification of every series (target < 30 s), and the
  whole discovery, which also decodes the maps; median of ``--repeats``
  runs.  The files were just written, so they are in the page cache: a
  cold read from a slow disk or network share takes longer;
- the fit of one 256x256 MOLLI slice (8 images) the way ``myomap fit``
  does it (background mask, noise floor, Look-Locker-corrected
  three-parameter fit), with and without reading the 8 DICOM files
  (target < 1 s).

Usage: python benchmarks/exam_index.py [--files 5000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid
from timing import median_seconds

from myomap.analyze.discover import discover
from myomap.analyze.inventory import classify
from myomap.io.header import index_files
from myomap.io.series_kind import find_dicom_files
from myomap.io.synthetic import mr_image, save, write_exam
from myomap.mapping.fit import estimate_noise_sd
from myomap.mapping.pipeline import background_mask, fit_series
from myomap.mapping.series import read_series

MOLLI_TIMES_MS = (100.0, 180.0, 260.0, 1100.0, 1180.0, 2100.0, 3100.0, 4100.0)


def molli_slice(folder: Path, seed: int = 0) -> list[Path]:
    """Eight 256x256 MOLLI images of a disk of myocardium-like T1 (apparent T1* = 0.8 T1) in Rician noise."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:256, :256]
    disk = (rows - 128) ** 2 + (cols - 128) ** 2 < 90**2
    t1 = np.where(disk, rng.uniform(900, 1400, (256, 256)), 0.0)
    uid = generate_uid()
    paths = []
    for k, ti in enumerate(MOLLI_TIMES_MS, start=1):
        with np.errstate(divide="ignore", over="ignore"):
            signal = np.where(disk, 800 * np.abs(1 - 1.9 * np.exp(-ti / (0.8 * np.maximum(t1, 1)))), 0.0)
        noisy = np.abs(signal + rng.normal(0, 10, signal.shape) + 1j * rng.normal(0, 10, signal.shape))
        ds = mr_image(np.clip(noisy, 0, 65535), study_uid="1.2", series_uid=uid, description="MOLLI", instance=k, InversionTime=ti)
        paths.append(save(ds, folder / f"molli_{k}.dcm"))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        exam = Path(tmp) / "exam"
        start = time.perf_counter()
        written = write_exam(exam, args.files, size=256)
        print(f"wrote {written} files of 256x256 in {time.perf_counter() - start:.1f} s")

        def index():
            return classify(index_files(find_dicom_files([exam])[0]))

        inventory = index()
        print(f"found {len(inventory.frames)} series, {len(inventory.maps)} map slices, {len(inventory.weighted)} weighted groups")
        seconds = median_seconds(index, args.repeats, warm_up=False)
        print(f"index + classify {written} files: {seconds:.2f} s (median of {args.repeats}; target < 30 s)")
        seconds = median_seconds(lambda: discover([exam]), args.repeats, warm_up=False)
        print(f"whole discovery (maps decoded) of {written} files: {seconds:.2f} s (median of {args.repeats})")

        files = molli_slice(Path(tmp) / "molli")

        def fit(series):
            return fit_series(series, "molli", mask=background_mask(series.images), noise_sd=estimate_noise_sd(series.images))

        series = read_series("molli", files, "molli")
        seconds = median_seconds(lambda: fit(series), args.repeats)
        print(f"MOLLI fit of one 256x256 slice (8 images): {seconds:.3f} s (median of {args.repeats}; target < 1 s)")
        seconds = median_seconds(lambda: fit(read_series("molli", files, "molli")), args.repeats)
        print(f"... with reading its 8 DICOM files: {seconds:.3f} s (median of {args.repeats})")


if __name__ == "__main__":
    main()
