"""Drawing one subject's anatomy: the heart on each short-axis slice and the chest around it.

Sizes follow normal diastolic dimensions (LV epicardial radius ~24-28 mm at
mid level, wall ~7-10 mm, RV wall ~3 mm) scaled by the phenotype.  The
ranges of the RV crescent, the outflow tract and the pericardium are the
settings of :class:`HeartRanges`; those of the chest are
:class:`~myomap.phantom.thorax.ThoraxRanges`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from myomap.phantom.anatomy import SLICE_POSITIONS, HeartSlice, Outflow
from myomap.phantom.shapes import Bumps, Ellipse, Fourier, Lesion
from myomap.phantom.thorax import Range, ThoraxRanges, draw_subject_chest, draw_thorax
from myomap.phantom.tissues import Phenotype


@dataclass(frozen=True)
class HeartRanges:
    """Uniform ranges (low, high) of the heart's shape; per-level tuples are (basal, mid, apical).

    The RV's free wall is an ellipse centred towards the septum by
    ``rv_centre`` × the LV epicardial radius (``u`` to the septum, ``v``
    anterior); it reaches ``rv_width_mm`` × ``rv_level_scale`` beyond the
    septal epicardium and ``rv_height`` × the LV radius up and down, so the
    part outside the LV is a crescent wrapping the septum.  With chance
    ``open_ring_chance`` the basal slice lies at the most basal level: the
    aortic root (radius ``root_radius_mm``) touches the LV anteroseptally at
    ``outflow_theta_deg``, overlapping the epicardium by ``root_overlap_mm``,
    and the ring is open towards it over ± ``gap_half_width_deg``.  Other
    basal slices lie just below the outflow tract.
    """

    epi_mid_mm: Range = (23.5, 28.0)
    wall_mid_mm: Range = (7.0, 9.5)
    basal_scale: Range = (1.04, 1.12)  # epicardial radius relative to mid level
    apical_scale: Range = (0.6, 0.78)
    rv_centre: tuple[Range, Range] = ((0.55, 0.8), (0.0, 0.2))
    rv_width_mm: Range = (9.0, 19.0)
    rv_height: Range = (1.15, 1.4)
    rv_angle_deg: Range = (-12.0, 12.0)
    rv_level_scale: tuple[float, float, float] = (1.15, 1.0, 0.9)
    apical_rv_chance: float = 0.85
    rv_wall_mm: Range = (2.5, 4.0)
    rv_fat_mm: Range = (0.5, 3.0)
    pericardium_mm: Range = (1.0, 2.0)
    outflow_theta_deg: Range = (100.0, 135.0)
    root_radius_mm: Range = (10.0, 14.0)
    root_overlap_mm: Range = (2.0, 5.0)
    open_ring_chance: float = 0.5
    gap_half_width_deg: Range = (18.0, 35.0)


@dataclass(frozen=True)
class SubjectAnatomy:
    """Per-subject anatomy: one :class:`HeartSlice` per slice position."""

    slices: dict[str, HeartSlice]


_WALL_SCALE = {"basal": 1.0, "mid": 1.0, "apical": 0.85}
_HEART, _CHEST = HeartRanges(), ThoraxRanges()


def draw_anatomy(
    phenotype: Phenotype, rng: np.random.Generator, ranges: HeartRanges = _HEART, chest_ranges: ThoraxRanges = _CHEST
) -> SubjectAnatomy:
    """Draw one subject's basal, mid and apical short-axis anatomy with the chest around each slice."""
    epi_mid = rng.uniform(*ranges.epi_mid_mm) * (1.0 + 0.45 * (phenotype.cavity_scale - 1.0))
    wall_mid = rng.uniform(*ranges.wall_mid_mm) * phenotype.wall_scale
    territory = ("lad", "rca", "lcx")[int(rng.integers(3))]
    transmurality = rng.uniform(0.4, 1.0)
    rv_angle = rng.uniform(*ranges.rv_angle_deg)
    chest = draw_subject_chest(chest_ranges, rng)
    level_scale = {"basal": rng.uniform(*ranges.basal_scale), "mid": 1.0, "apical": rng.uniform(*ranges.apical_scale)}
    slices: dict[str, HeartSlice] = {}
    for position in SLICE_POSITIONS:
        epi_mean = epi_mid * level_scale[position] * rng.uniform(0.97, 1.03)
        wall_mean = wall_mid * _WALL_SCALE[position] * rng.uniform(0.95, 1.05)
        epi = Fourier.random(epi_mean, 0.035, 5, rng)
        bumps, lesions = _wall_bumps_and_lesions(phenotype, position, wall_mean, territory, transmurality, rng)
        trabeculae, papillary = _trabeculae(position, rng)
        fat = Bumps(
            (rng.uniform(95, 130), rng.uniform(235, 265), rng.uniform(-40, 40) % 360),
            (rng.uniform(10, 20), rng.uniform(10, 20), rng.uniform(15, 40)),
            (rng.uniform(1.5, 5.0), rng.uniform(1.5, 5.0), rng.uniform(0.0, 2.5)),
        )
        rv = None
        if position != "apical" or rng.random() < ranges.apical_rv_chance:
            rv = _rv(epi_mean, position, rv_angle, ranges, rng)
        outflow = _outflow(epi, ranges, rng) if position == "basal" else None
        slices[position] = HeartSlice(
            position=position,
            epi=epi,
            wall=Fourier.random(wall_mean, 0.10, 3, rng),
            wall_bumps=bumps,
            min_cavity_mm=rng.uniform(1.8, 4.0) if position == "apical" else 8.0,
            trabeculae=trabeculae,
            papillary=papillary,
            rv=rv,
            rv_wall_mm=rng.uniform(*ranges.rv_wall_mm),
            epicardial_fat=fat,
            rv_fat_mm=rng.uniform(*ranges.rv_fat_mm),
            lesions=lesions,
            pericardium_mm=rng.uniform(*ranges.pericardium_mm),
            outflow=outflow,
            thorax=draw_thorax(chest, position, epi_mean, chest_ranges, rng),
        )
    return SubjectAnatomy(slices=slices)


def _rv(epi_mm: float, position: str, angle_deg: float, ranges: HeartRanges, rng: np.random.Generator) -> Ellipse:
    """Outer border of the RV free wall: an ellipse overlapping the LV from the septal side."""
    k = SLICE_POSITIONS.index(position)
    centre_u = -epi_mm * rng.uniform(*ranges.rv_centre[0])
    centre_v = epi_mm * rng.uniform(*ranges.rv_centre[1])
    width = rng.uniform(*ranges.rv_width_mm) * ranges.rv_level_scale[k]
    half_u = epi_mm + width + centre_u  # its septal-side edge lies ``width`` beyond the LV epicardium
    half_v = epi_mm * rng.uniform(*ranges.rv_height)
    return Ellipse(centre_u, centre_v, half_u, half_v, angle_deg + rng.normal(0.0, 3.0), Fourier.random(1.0, 0.04, 3, rng, first=2))


def _outflow(epi: Fourier, ranges: HeartRanges, rng: np.random.Generator) -> Outflow | None:
    """At the most basal level, the ring open towards an aortic root next to the anteroseptal wall; else None."""
    theta = rng.uniform(*ranges.outflow_theta_deg)
    radius = rng.uniform(*ranges.root_radius_mm)
    distance = float(epi(np.deg2rad(theta))) + radius - rng.uniform(*ranges.root_overlap_mm)
    root = Ellipse(
        distance * np.cos(np.deg2rad(theta)),
        distance * np.sin(np.deg2rad(theta)),
        radius,
        radius * rng.uniform(0.85, 1.0),
        rng.uniform(0, 180),
    )
    gap, fat = rng.uniform(*ranges.gap_half_width_deg), rng.uniform(3.0, 5.0)
    if rng.random() >= ranges.open_ring_chance:
        return None  # planned below the outflow tract, as the paper's centre does
    return Outflow(theta, root, root_fat_mm=fat, gap_half_width_deg=gap)


def _trabeculae(position: str, rng: np.random.Generator) -> tuple[Bumps, tuple[tuple[float, float], ...]]:
    """Trabeculae on the lateral, anterior and inferior walls (not the septum), and the two papillary muscles."""
    trab_n = int(rng.integers(6, 15)) if position != "apical" else int(rng.integers(2, 6))
    trabeculae = Bumps(
        tuple(rng.uniform(-100, 100, trab_n) % 360),
        tuple(rng.uniform(2.5, 6.0, trab_n)),
        tuple(rng.uniform(1.0, 3.5, trab_n) * (0.6 if position == "apical" else 1.0)),
    )
    papillary: tuple[tuple[float, float], ...] = ()
    if position != "apical":
        size = rng.uniform(3.0, 5.0) * (0.7 if position == "basal" else 1.0)
        papillary = ((45.0 + rng.uniform(-15, 15), size), (255.0 + rng.uniform(-15, 15), size * rng.uniform(0.8, 1.1)))
    return trabeculae, papillary


def _wall_bumps_and_lesions(
    phenotype: Phenotype, position: str, wall_mean: float, territory: str, transmurality: float, rng: np.random.Generator
) -> tuple[Bumps, tuple[Lesion, ...]]:
    """Local wall thickening or thinning, and the focal lesions, of the phenotype on one slice."""
    centres: list[float] = []
    widths: list[float] = []
    depths: list[float] = []
    if phenotype.septal_extra_mm:
        centres.append(180.0 + rng.uniform(-15, 15))
        widths.append(rng.uniform(25, 40))
        depths.append(phenotype.septal_extra_mm * rng.uniform(0.8, 1.2) * _WALL_SCALE[position])
    lesions: list[Lesion] = []
    lesion = phenotype.lesion
    if lesion == "territory":
        sector = {"lad": (45.0, 160.0), "rca": (220.0, 300.0), "lcx": (300.0, 40.0)}[territory]
        lesions.append(Lesion(sector[0], sector[1], 0.0, transmurality))
        centres.append((sector[0] + ((sector[1] - sector[0]) % 360) / 2) % 360)
        widths.append(((sector[1] - sector[0]) % 360) / 3.5)
        depths.append(-phenotype.thinning * wall_mean * transmurality)
    elif lesion == "insertion":
        for centre in (115.0, 245.0):
            c = centre + rng.uniform(-10, 10)
            lesions.append(Lesion(c - 15, c + 15, 0.2, 0.8, Fourier.random(0.2, 1.5, 4, rng)))
    elif lesion == "midwall_septal":
        lesions.append(Lesion(130.0 + rng.uniform(-10, 10), 230.0 + rng.uniform(-10, 10), 0.35, 0.65))
    elif lesion == "subepicardial_lateral":
        lesions.append(Lesion(280.0 + rng.uniform(-15, 10), 30.0 + rng.uniform(-10, 15), 0.55, 1.0, Fourier.random(0.3, 1.2, 4, rng)))
    elif lesion == "basal_inferolateral" and position != "apical":
        s_to = 0.8 if position == "basal" else 0.6
        lesions.append(Lesion(285.0 + rng.uniform(-10, 10), 340.0 + rng.uniform(-10, 10), 0.3, s_to))
    return Bumps(tuple(centres), tuple(widths), tuple(depths)), tuple(lesions)
