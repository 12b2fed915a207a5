"""Is a segmented ring a left ventricle?  Image evidence, independent of the network, for choosing between LV candidates.

A network trained to find the LV myocardium will sometimes draw a
convincing ring elsewhere: around a vessel or a cyst inside the liver, a
round stomach, the wall of the aorta.  What gives such a ring away is the
image itself, whatever network drew it:

- **The myocardium differs from what surrounds it.**  Around a true LV lie
  the RV blood, lung, epicardial fat and, along part of the inferior wall
  only, liver or diaphragm.  A ring carved out of a larger organ has that
  organ all around it.  ``surround_like`` is the share of the pixels in a
  band 2 to 6 mm outside the ring whose values lie within the ring's
  myocardial range: its median plus or minus 0.84 robust standard
  deviations (1.4826 median absolute deviations), which is its 20th to
  80th percentile where the values are normally distributed; 0.6 when the
  surroundings have the same values as the ring.  The range was the 20th
  to 80th percentile itself until December 2026: a scar in a quarter or
  more of the wall, as dark as the blood on a post-contrast map, pulled
  the 20th percentile down to the blood's values, and the check then took
  the blood pool and the surroundings for myocardium and rejected the LV
  (on the robustness probe's post-contrast maps with a transmural scar of
  60-120 degrees, 10 of 36 got "no left ventricle found"; with the robust
  range, none).  The median and the median absolute deviation hardly move
  while the scar is under half of the wall.  Where half the pixels or
  more share one value (a saturated picture) the deviation is 0 and the
  percentiles are used.
- **The blood pool differs from the myocardium** (in native and
  post-contrast T1 and in T2 maps alike).  ``blood_like`` is the share of
  the blood pool's pixels within the same range: 0.6 for a solid disc
  drawn as a ring around "blood" of the same tissue.

- **On a native T1 map, the blood is brighter than the myocardium.**  Blood
  T1 before gadolinium is 1500-1700 ms at 1.5 T and 1800-2000 ms at 3 T,
  myocardial T1 950-1050 and 1150-1300 ms (Messroghli et al., JCMR
  2017;19:75); the diseases that move them, by the published ranges,
  leave blood well above myocardium (amyloid raises myocardial T1 to
  ~1150 ms at 1.5 T, a high haematocrit lowers blood T1 to ~1400 ms).
  ``blood_ratio`` is the blood pool's median over the myocardium's, of
  pixels with a value (above 0); where the caller says the map is a native
  T1 map (``kind`` ``"T1"``), a ring with a ratio below
  :data:`MIN_NATIVE_T1_BLOOD_RATIO` (1.1), or none to measure, is never an
  LV: it is a dark-centred round structure, such as a vertebral body in
  the paraspinal muscles, which on a native map looks like a
  post-contrast LV.  On a picture (a display-windowed 8-bit export, at
  most 256 values) a blood pool at the top value is saturated and its
  ratio unknown: it passes (``blood_ratio`` infinite).  The same is asked
  of a cine's phase (``kind`` ``"cine"``): bSSFP blood is two to four times
  as bright as myocardium.  On heart-free phantom maps told a cine, 5 of
  72 got a ring without this test and 3 with it (1 told a native T1 map,
  whose unstable-ring test a cine is spared: see below); the benchmark's
  cine-like frames lost nothing.  Nothing is asked of post-contrast T1 or of T2: in
  cardiac amyloidosis
  post-contrast myocardium is darker than blood, and black-blood T2
  sequences leave the blood pool's values to noise.

The surroundings and blood-pool comparisons ask only which pixels lie
within a range set by the myocardium's own median and spread, so they
hold for any map type, unit or contrast.  A ring is a sure LV
within ``LV_SURROUND_LIKE`` and ``LV_BLOOD_LIKE`` (0.4, 0.3) and never an LV
beyond ``MAX_SURROUND_LIKE`` (0.5) or without a blood pool.  The blood test
has no outer limit: a poor segmentation of a true LV, its blood-pool label
spilling into the myocardium, fails it too (0.62 on a basal post-contrast
phantom map), so it only sends the search on to other candidates.  Measured with
the embedded model on the robustness benchmark's phantom maps (all twelve
conditions, 723 rings on the LV and 57 rings elsewhere, each segmented in a
window centred on it): LV rings had ``surround_like`` 0 to 0.36 (median
0.07) and ``blood_like`` at most 0.19; rings elsewhere (mostly round
structures in the liver) had ``surround_like`` up to 0.68 and solid discs
``blood_like`` up to 1, and 75 % of them were beyond a sure LV's limits.
:mod:`myomap.model.locate` segments further candidates when the first is
not a sure LV, and answers "no left ventricle found" when none is within
the outer limits.

Four further witnesses each doubt a ring (:meth:`RingEvidence.doubts`):
its surroundings (``surround_like`` above 0.3), its blood pool
(``blood_like`` above 0.15), the network (the median of its myocardium
probability over the ring's myocardium, ``myocardium_probability``, below
0.93) and its thickness (``annulus_wall_mm``, the mean wall of an annulus
with the ring's myocardial and blood-pool areas, below
:data:`DOUBT_WALL_MM`, 3.5 mm).  An adult LV wall is 5-10 mm thick at
end-diastole and a dilated ventricle's mean wall stays near 5 mm, though a
thinned scar can be 2-3 mm over a few segments; a rim drawn around a round
fluid-filled organ (a stomach, a bottle) is the network making a wall of
the organ's edge.  On the robustness benchmark the LV rings had a mean
wall of 3.8 mm at the least (a basal T2 ring of a foreign-anatomy map;
4.4 mm on native T1 maps), the five rings drawn on heart-free maps
2.3-4.2 mm.  Each witness alone fails some true LVs (a noisy map, a thin
apical wall, an open basal ring, a thin-walled ventricle, whose thin
myocardium also lowers the network's median probability: on the
robustness benchmark's cine-like frames with the wall thinned by 1.5 or
2.5 mm, told native T1, 1 ring of 36 had both doubts), and on
post-contrast maps the blood pool can come close to the myocardium, so
doubts never reject a ring.  On a native T1 or a T2
map (bright-blood T2 is the common kind; on a black-blood one a noisy
blood pool only adds a doubt, never a rejection) a kept ring with two or
more doubts is handed on with them
(:attr:`myomap.model.inference.Prediction.doubts`), and ``analyze`` flags
the slice for review.  On 210 native T1 and T2 phantom maps of unseen
subjects (the earlier shifted test-time augmentation) and on 84 (the
turned and mirrored one ``analyze`` now uses) no LV ring had two doubts;
on the robustness benchmark none of 720 maps with a heart had without
test-time augmentation and 3 with it, and 3 of the 8 rings drawn on
heart-free maps had (with it; 10 of 17 without; stage-5 model, three
witnesses).  With the stage-6 model and the thickness witness: 1 of 828
maps with a heart and 4 of the 5 rings on heart-free maps with test-time
augmentation (2 of 5 without the thickness witness), none of 828 and 14
of 16 without it.  With the stage-8 model (December 2026): 2 of 828 and
all 3 rings on heart-free maps with it, 7 of 9 without it; with the
stage-10 model 1 of 828 and the one ring on heart-free maps with it, none
of 828 and 3 of 4 without it; with the stage-11 model 1 of 828 and no ring
on heart-free maps with it, none of 828 and 3 of 4 without it.

**An unstable ring is no LV.**  With test-time augmentation (the four
turned and mirrored copies of :mod:`myomap.model.inference`), a ring on a
native T1 or T2 map whose copies agree less than ``UNSTABLE_AGREEMENT``
(mean Dice with their consensus, :attr:`Prediction.agreement
<myomap.model.inference.Prediction.agreement>`) and whose
``myocardium_probability`` is under ``UNSTABLE_PROBABILITY`` (0.7 both)
is rejected: the network draws something different each time the window
turns.  Calibrated with the stage-5 model on the stage-5 cohort's
validation and test subjects (no model trained on them): LV rings on
native T1 and T2 maps had agreement 0.85 and probability 0.90 at the
lowest; of 51 rings drawn on the same maps with the heart painted out, 16
were below both limits (down to 0.36 and 0.52).  A post-contrast LV had
0.75 and 0.73, so post-contrast maps (and maps of unknown kind) are
spared.  On the robustness benchmark the heart-free maps given a ring fell
from 15 to 8 of 72 with every other row unchanged.  With the stage-6
model the same LV rings had 0.87 and 0.88 at the lowest, and the
benchmark's heart-free maps got 5 rings; with the stage-8 model 0.92
and 0.92 (one post-contrast LV at 0.53 and 0.61), and 3 rings; with the
stage-10 model 0.93 and 0.94 (one post-contrast LV at 0.65 and 0.67), and
1 ring; with the stage-11 model (the embedded one since 5 December 2026)
0.93 and 0.93, post-contrast LVs 0.83 and 0.75 at the lowest (stage 10
measured again the same day: 0.93 and 0.93, post-contrast 0.59 and 0.64),
and no ring.

Measured with the stage-5 embedded model on the robustness benchmark's
unseen phantom maps (no test-time augmentation): LV rings on native T1
maps had ``blood_ratio`` 1.44 to 1.79, and 1.18 at the lowest, at a third
of the usual SNR; the rings drawn on native T1 maps with the heart painted
out had 0.37 to 1.46, median 0.43.  No real map has been measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import median_abs_deviation

from myomap.conventions import BLOOD_POOL, MYOCARDIUM
from myomap.geometry.masks import grow
from myomap.model.window import is_picture

# The band around the epicardium that is compared with the myocardium (mm from the ring's outer edge):
# it starts beyond the partial-volume edge and stays within the structures that touch the heart.
SURROUND_MM = (2.0, 6.0)
# The myocardium's range of values: its median +- 0.84 robust SDs (1.4826 median absolute deviations), which is
# its 20th to 80th percentile where the values are normally distributed (edge pixels blur with the blood and the
# surroundings), and which a scar in part of the wall (values near the blood's) hardly widens.
_RANGE_SDS = 0.8416
# A ring within these limits is a sure LV (phantom LVs: surroundings at most 0.36, blood pool at most 0.19).
LV_SURROUND_LIKE, LV_BLOOD_LIKE = 0.4, 0.3
# A ring whose surroundings are more like it than this is never taken for the LV (same values all round: 0.6).
# The blood test has no outer limit: a true LV whose blood-pool label spills into its myocardium fails it too.
MAX_SURROUND_LIKE = 0.5
# On a native T1 map the blood pool's median is at least this times the myocardium's (see the module docstring),
# and on a bSSFP cine's phase (told "cine" by analyze) too: bright blood is what makes a cine.
MIN_NATIVE_T1_BLOOD_RATIO = 1.1
BRIGHT_BLOOD_KINDS = frozenset({"T1", "cine"})
# Doubts (see the module docstring), and the map kinds (stack names) whose rings are doubted: blood and myocardium far apart.
DOUBT_SURROUND_LIKE, DOUBT_BLOOD_LIKE, DOUBT_MYOCARDIUM_PROBABILITY = 0.3, 0.15, 0.93
DOUBT_WALL_MM = 3.5  # mean wall thickness (mm) below which a ring is doubted (module docstring)
DOUBTED_KINDS = frozenset({"T1", "T2"})
MIN_DOUBTS = 2
# An unstable ring (see the module docstring): on a native T1 or T2 map, test-time augmentations that agree
# less than this (mean Dice with their consensus) and a median myocardium probability under this.
UNSTABLE_AGREEMENT, UNSTABLE_PROBABILITY = 0.7, 0.7


@dataclass(frozen=True)
class RingEvidence:
    """What the image says about one segmented ring (see the module docstring)."""

    myocardium_mm2: float
    blood_mm2: float
    surround_like: float
    blood_like: float
    blood_ratio: float = float("nan")
    myocardium_probability: float = float("nan")
    kind: str | None = None
    agreement: float = float("nan")

    @property
    def annulus_wall_mm(self) -> float:
        """Mean wall thickness (mm) of an annulus with the ring's myocardial and blood-pool areas (NaN areas: NaN, no doubt)."""
        return float(np.sqrt((self.blood_mm2 + self.myocardium_mm2) / np.pi) - np.sqrt(self.blood_mm2 / np.pi))

    def doubts(self) -> tuple[str, ...]:
        """What speaks against the ring on a native T1 or T2 map when at least ``MIN_DOUBTS`` witnesses do, else nothing."""
        if self.kind not in DOUBTED_KINDS:
            return ()
        found = []
        if self.surround_like > DOUBT_SURROUND_LIKE:
            found.append(f"ring like its surroundings ({self.surround_like:.0%})")
        if self.blood_like > DOUBT_BLOOD_LIKE:
            found.append(f"blood pool like the ring ({self.blood_like:.0%})")
        if self.myocardium_probability < DOUBT_MYOCARDIUM_PROBABILITY:  # NaN (no probabilities) is no doubt
            found.append(f"network unsure ({self.myocardium_probability:.2f})")
        if self.annulus_wall_mm < DOUBT_WALL_MM:  # NaN is no doubt
            found.append(f"thin ring (mean wall {self.annulus_wall_mm:.1f} mm)")
        return tuple(found) if len(found) >= MIN_DOUBTS else ()

    def problem(self, *, strict: bool = True) -> str | None:
        """Why this ring is not taken for an LV, or None; ``strict`` applies the limits of a sure LV, else the outer one."""
        max_surround = LV_SURROUND_LIKE if strict else MAX_SURROUND_LIKE
        if self.blood_mm2 <= 0.0:
            return "no blood pool inside the ring"
        if self.kind in BRIGHT_BLOOD_KINDS and not self.blood_ratio >= MIN_NATIVE_T1_BLOOD_RATIO:  # NaN fails too
            return f"blood pool not brighter than the myocardium (x{self.blood_ratio:.2f}), unlike a native T1 map's or a cine's"
        if self.kind in DOUBTED_KINDS and self.agreement < UNSTABLE_AGREEMENT and self.myocardium_probability < UNSTABLE_PROBABILITY:
            return (
                f"the network is unsure of the ring (myocardium probability {self.myocardium_probability:.2f}) and its "
                f"test-time augmentations disagree (agreement {self.agreement:.2f})"
            )  # NaN (no test-time augmentation) never rejects
        if strict and self.blood_like > LV_BLOOD_LIKE:
            return f"blood pool looks like the myocardium ({self.blood_like:.0%} of it)"
        if self.surround_like > max_surround:
            return f"ring looks like its surroundings ({self.surround_like:.0%} of them)"
        return None


def looks_like_lv(evidence: RingEvidence | None, *, strict: bool = True) -> bool:
    """True when a ring was segmented and the image supports it being the LV (see :meth:`RingEvidence.problem`)."""
    return evidence is not None and evidence.problem(strict=strict) is None


def ring_evidence(
    image: np.ndarray,
    region: np.ndarray,
    labels: np.ndarray,
    spacing_mm: tuple[float, float],
    *,
    kind: str | None = None,
    probabilities: np.ndarray | None = None,
    agreement: float | None = None,
) -> RingEvidence | None:
    """Evidence for one candidate ring: ``region`` (bool, the image's grid) is its myocardium + blood pool in ``labels``.

    ``spacing_mm`` is the (row, col) pixel size; ``kind`` the map's stack
    name when known (``"T1"`` native, ``"T1-post"``, ``"T2"``; ``"cine"``
    for a cine's phase, asked a native T1 map's blood test only), which decides
    what is asked of the blood pool; ``probabilities`` the network's
    (C, rows, cols) class probabilities on the image's grid and
    ``agreement`` that of its test-time augmentations
    (:attr:`myomap.model.inference.Prediction.agreement`).  Returns None
    when the region holds no myocardium.  Pixels that are not finite count
    as outside the image (a ring whose myocardium has none gives None).
    """
    rows, cols = np.nonzero(region)
    if rows.size == 0:
        return None
    margin = [int(np.ceil(SURROUND_MM[1] / s)) + 1 for s in spacing_mm]
    top, left = max(rows.min() - margin[0], 0), max(cols.min() - margin[1], 0)
    box = np.s_[top : rows.max() + margin[0] + 1, left : cols.max() + margin[1] + 1]
    pixels, inside, labels = np.asarray(image, np.float64)[box], region[box], labels[box]
    myocardium = inside & (labels == MYOCARDIUM)
    blood = inside & (labels == BLOOD_POOL)
    finite = np.isfinite(pixels)
    if not (myocardium & finite).any():
        return None
    low, high = _myocardial_range(pixels[myocardium & finite])
    alike = finite & (pixels >= low) & (pixels <= high)
    band = grow(inside, SURROUND_MM[1], spacing_mm) & ~grow(inside, SURROUND_MM[0], spacing_mm)
    pixel_mm2 = float(spacing_mm[0] * spacing_mm[1])
    valued = finite & (pixels > 0)  # failed fits are stored as 0 (or NaN): no value to compare
    myocardium_level = float(np.median(pixels[myocardium & valued])) if (myocardium & valued).any() else np.nan
    blood_level = float(np.median(pixels[blood & valued])) if (blood & valued).any() else np.nan
    blood_ratio = blood_level / myocardium_level if myocardium_level > 0 else np.nan  # NaN levels give NaN
    if blood_ratio < MIN_NATIVE_T1_BLOOD_RATIO and _is_top(blood_level, image) and is_picture(np.asarray(image)):
        blood_ratio = np.inf  # a picture's blood pool at its top value: as bright as it can be stored, the ratio unknown
    sureness = np.nan if probabilities is None else float(np.median(probabilities[MYOCARDIUM][box][myocardium]))
    return RingEvidence(
        myocardium_mm2=float(myocardium.sum()) * pixel_mm2,
        blood_mm2=float(blood.sum()) * pixel_mm2,
        # Shares of all the band's and blood pool's pixels: a NaN one (masked, a failed fit) is nothing like the myocardium.
        surround_like=float(alike[band].mean()) if band.any() else 1.0,
        blood_like=float(alike[blood].mean()) if blood.any() else 1.0,
        blood_ratio=blood_ratio,
        myocardium_probability=sureness,
        kind=kind,
        agreement=float("nan") if agreement is None else float(agreement),
    )


def _myocardial_range(values: np.ndarray) -> tuple[float, float]:
    """The myocardium's range of values (see ``_RANGE_SDS``); its 20th to 80th percentile when most share one value (no spread)."""
    spread = float(median_abs_deviation(values, scale="normal"))
    if spread == 0.0:  # half or more of the pixels at one value (a saturated picture): the MAD says nothing
        low, high = np.percentile(values, (20.0, 80.0))
        return float(low), float(high)
    centre = float(np.median(values))
    return centre - _RANGE_SDS * spread, centre + _RANGE_SDS * spread


def _is_top(level: float, image: np.ndarray) -> bool:
    finite = np.asarray(image)[np.isfinite(image)]
    return bool(finite.size) and level == float(finite.max())
