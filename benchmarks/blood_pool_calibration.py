"""The blood-pool ROI's muscle search on synthetic cavities: what it finds, and what it takes for muscle wrongly.

Prints, for :func:`myomap.quantify.values.blood_pool_roi`:

- papillary muscles in a post-contrast cavity (blood 350 ms, myocardium
  and two papillary muscles 500 ms, blurred by one pixel, noise SD 20-40
  ms): on how many of 20 maps muscle was found, and the blood median's
  bias with the ROI against the geometric core;
- false searches: cavities without muscle whose blood lies 0-3 noise SDs
  below the myocardium (400 ms, SD 30 ms), with noise that neighbouring
  pixels share (a map interpolated 2x), on a large (177-pixel) and a
  small (69-pixel) core: the share of 300 maps whose ROI shrank below 80 %
  of the core, and how far that moved its median.

The figures quoted at :data:`myomap.quantify.values.MIN_BLOOD_LEVEL_CONTRAST_SD`
come from here.  Usage: python benchmarks/blood_pool_calibration.py (about a minute)
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from myomap.geometry.masks import blood_pool_core, contours_to_mask
from myomap.quantify.values import blood_pool_roi


def circle(r: float, cx: float = 30.0, cy: float = 30.0, n: int = 180) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)])


def post_contrast_muscle(noise_sd: float, seed: int) -> tuple[bool, float, float]:
    """Muscle found?  The blood median's bias (ms) with the ROI and with the core alone."""
    epi, endo = circle(19), circle(15)
    yy, xx = np.mgrid[:61, :61]
    t1 = np.full((61, 61), 500.0)
    t1[contours_to_mask(epi, endo, (61, 61)) == 2] = 350.0
    t1[((xx - 34) ** 2 + (yy - 30) ** 2 <= 9.0) | ((xx - 26) ** 2 + (yy - 32) ** 2 <= 6.25)] = 500.0
    t1 = ndimage.gaussian_filter(t1, 1.0) + np.random.default_rng(seed).normal(0.0, noise_sd, t1.shape)
    core = blood_pool_core(endo, t1.shape, spacing_mm=(1.0, 1.0))
    roi = blood_pool_roi(t1, epi, endo, spacing_mm=(1.0, 1.0))
    return not (roi == core).all(), float(np.median(t1[roi])) - 350.0, float(np.median(t1[core])) - 350.0


def false_search(r_endo: float, contrast_sd: float, rng: np.random.Generator) -> float | None:
    """The blood median's shift (ms) where the ROI shrank below 80 % of the core without muscle, else None."""
    epi, endo = circle(r_endo + 6), circle(r_endo)
    noise = ndimage.zoom(rng.normal(0.0, 1.0, (31, 31)), 61 / 31, order=1)[:61, :61]  # neighbours share noise
    t1 = 400.0 + 30.0 * noise / noise.std()
    t1[contours_to_mask(epi, endo, (61, 61)) == 2] -= 30.0 * contrast_sd
    core = blood_pool_core(endo, t1.shape, spacing_mm=(1.5, 1.5))
    roi = blood_pool_roi(t1, epi, endo, spacing_mm=(1.5, 1.5))
    if roi.sum() >= 0.8 * core.sum():
        return None
    return float(np.median(t1[roi]) - np.median(t1[core])) if roi.any() else float("nan")


def main() -> None:
    print("post-contrast cavity with papillary muscles (blood 350 ms, muscle 500 ms, blurred 1 px)")
    for noise_sd in (20.0, 30.0, 40.0):
        runs = [post_contrast_muscle(noise_sd, seed) for seed in range(20)]
        found = sum(r[0] for r in runs)
        print(f"  noise SD {noise_sd:.0f} ms: muscle found on {found} of 20; blood median bias {np.mean([r[1] for r in runs]):+.1f} ms "
              f"(core alone {np.mean([r[2] for r in runs]):+.1f} ms)")  # fmt: skip
    print("false searches: no muscle, interpolated noise SD 30 ms, blood below myocardium by N noise SDs (300 maps each)")
    rng = np.random.default_rng(0)
    for r_endo, pixels in ((12.0, 177), (7.0, 69)):
        for contrast in (0.0, 1.0, 2.0, 3.0):
            shifts = [s for s in (false_search(r_endo, contrast, rng) for _ in range(300)) if s is not None]
            moved = f", median moved {np.nanmean(shifts):+.1f} ms on average (largest {np.nanmax(np.abs(shifts)):.1f})" if shifts else ""
            print(f"  core of {pixels} pixels, contrast {contrast:.0f} SD: ROI shrank on {100 * len(shifts) / 300:.1f} %{moved}")


if __name__ == "__main__":
    main()
