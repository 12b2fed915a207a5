"""Simulated expert observers drawing epi- and endocardial contours.

The reference observer follows the true borders but keeps slightly inside
the wall, as experts do to avoid partial volume (the paper's section 3.3),
and traces the compact myocardium, so trabeculae and papillary muscles fall
in the blood pool.  Further observers deviate the way readers do: smooth
offsets of about a pixel, some counting part of the trabeculae as
myocardium, and now and then a larger disagreement on apical slices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from myomap.io.contours import Contours
from myomap.phantom.anatomy import Bumps, Fourier, HeartSlice, Placement, polar_contour

N_POINTS = 96


@dataclass(frozen=True)
class ObserverStyle:
    """How one observer contours: wall insets (mm), smooth offsets, trabecula handling."""

    endo_inset_mm: float
    epi_inset_mm: float
    offset_sd_px: float
    trabecula_share: float
    apical_trouble: float

    @staticmethod
    def reference(rng: np.random.Generator) -> ObserverStyle:
        return ObserverStyle(rng.uniform(0.3, 0.6), rng.uniform(0.3, 0.6), 0.0, 0.0, 0.0)

    @staticmethod
    def other(rng: np.random.Generator) -> ObserverStyle:
        return ObserverStyle(
            endo_inset_mm=rng.uniform(0.1, 0.7),
            epi_inset_mm=rng.uniform(0.1, 0.7),
            offset_sd_px=rng.uniform(0.3, 0.5),
            trabecula_share=rng.choice([0.0, rng.uniform(0.2, 0.6)]),
            apical_trouble=rng.uniform(0.15, 0.35),
        )


def draw_contours(
    heart: HeartSlice,
    placement: Placement,
    spacing_mm: tuple[float, float],
    style: ObserverStyle,
    rng: np.random.Generator,
) -> Contours:
    """Contours of one observer on one image, with the anterior RV insertion point."""
    pixel_mm = float(np.mean(spacing_mm))
    sd_mm = style.offset_sd_px * pixel_mm
    if heart.position == "apical" and rng.random() < style.apical_trouble:
        sd_mm *= 2.0
    endo_offset = _smooth_offset(sd_mm, rng)
    epi_offset = _smooth_offset(sd_mm, rng)
    share = style.trabecula_share

    def endo(theta: np.ndarray) -> np.ndarray:
        r = heart.endo_radius(theta) + style.endo_inset_mm + endo_offset(theta)
        if share:
            r = r - share * _smoothed_trabeculae(heart, theta)
        return np.maximum(r, 0.8)

    def epi(theta: np.ndarray) -> np.ndarray:
        # Where the basal ring is open towards the outflow tract, the epicardial contour
        # closes along the endocardial one: the two coincide and the myocardium is a C.
        closed = 1.0 - heart.opening(theta)
        r = heart.epi_radius(theta) - style.epi_inset_mm * closed + epi_offset(theta) * closed
        return np.maximum(r, endo(theta) + 0.6 * closed)

    anterior_deg, _ = heart.rv_insertion_deg()
    if style.offset_sd_px:
        anterior_deg += rng.normal(0.0, 4.0)
    r_ins = heart.outer_epi_radius(np.array([anterior_deg]))
    ins_x, ins_y = placement.to_image(r_ins * np.cos(np.deg2rad(anterior_deg)), r_ins * np.sin(np.deg2rad(anterior_deg)))
    return Contours(
        epi=polar_contour(epi, placement, spacing_mm, N_POINTS),
        endo=polar_contour(endo, placement, spacing_mm, N_POINTS),
        rv_insertion=(float(ins_x[0]) / spacing_mm[1], float(ins_y[0]) / spacing_mm[0]),
        spacing_mm=spacing_mm,
    )


def _smooth_offset(sd_mm: float, rng: np.random.Generator):
    """A smooth random radial offset in mm: constant term, harmonics 1-4 and one local bump."""
    if sd_mm == 0:
        return lambda theta: np.zeros_like(np.asarray(theta, dtype=float))
    shift = rng.normal(0.0, sd_mm)
    shape = Fourier.random(1.0, 0.7 * sd_mm, 4, rng)
    # One local disagreement (a stretch of wall judged differently) drives the Hausdorff distance.
    local = Bumps((rng.uniform(0, 360),), (rng.uniform(10, 25),), (rng.normal(0.0, 3.5 * sd_mm),))

    def offset(theta_deg: np.ndarray) -> np.ndarray:
        return shift + (shape(np.deg2rad(theta_deg)) - 1.0) + local(theta_deg)

    return offset


def _smoothed_trabeculae(heart: HeartSlice, theta_deg: np.ndarray) -> np.ndarray:
    """Trabecular depth averaged over ±8 degrees: a reader follows their envelope, not each finger."""
    offsets = np.linspace(-8, 8, 9)
    return np.mean([heart.trabeculae(theta_deg + d) for d in offsets], axis=0)
