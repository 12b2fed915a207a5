"""The chest around the heart on a short-axis slice: body wall, lungs, abdominal organs, spine and aorta.

Coordinates are those of the anatomical frame of :mod:`myomap.phantom.anatomy`
(mm, origin at the LV centre, ``u`` to the patient's left, ``v`` anterior).
A short-axis plane cuts the chest obliquely, along the heart's long axis
tilted to the left, forward and down, so on it:

- the body outline is wide and the heart sits anterior and left of the
  midline, close to the anterior chest wall;
- the liver lies below and to the patient's right of the heart (bottom left
  of the image), under the diaphragm;
- the stomach and the spleen lie below and to the patient's left (bottom
  right), and only on the lower (mid and apical) slices;
- the descending aorta and the spine sit behind the heart;
- lungs fill the rest of the rib cage.

Basal slices lie higher in the chest than apical ones, so the abdominal
organs grow from base to apex.  Every range is an explicit setting of
:class:`ThoraxRanges`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from myomap.conventions import SLICE_POSITIONS as LEVELS
from myomap.conventions import Tissue
from myomap.phantom.shapes import Ellipse, Fourier

Range = tuple[float, float]


@dataclass(frozen=True)
class ThoraxRanges:
    """Uniform ranges (low, high) of the chest's shape parameters; per-level tuples are (basal, mid, apical)."""

    body_centre_mm: tuple[Range, Range] = ((-35.0, -15.0), (-45.0, -25.0))  # (u, v) of the body centre from the LV centre
    body_half_axes_mm: tuple[Range, Range] = ((150.0, 180.0), (105.0, 125.0))
    body_angle_deg: Range = (-8.0, 8.0)
    outline_wobble: Range = (0.01, 0.04)  # relative amplitude of the bends of body and organ outlines
    subcutaneous_fat_mm: Range = (8.0, 22.0)
    muscle_mm: Range = (8.0, 14.0)
    ribs: tuple[int, int] = (6, 12)
    diaphragm_mm: Range = (3.0, 6.0)
    liver_centre_u_mm: Range = (-60.0, -35.0)
    liver_half_axes_mm: tuple[Range, Range] = ((65.0, 85.0), (38.0, 50.0))
    liver_scale: tuple[float, float, float] = (0.7, 1.0, 1.25)
    stomach_chance: tuple[float, float, float] = (0.15, 0.6, 0.85)
    stomach_half_axes_mm: tuple[Range, Range] = ((20.0, 38.0), (14.0, 26.0))
    spleen_chance: tuple[float, float, float] = (0.1, 0.45, 0.75)
    spleen_half_axes_mm: tuple[Range, Range] = ((30.0, 48.0), (13.0, 22.0))
    organ_scale: tuple[float, float, float] = (0.65, 1.0, 1.2)  # stomach and spleen
    aorta_radius_mm: Range = (9.0, 13.0)
    vessels: tuple[int, int] = (8, 18)


@dataclass(frozen=True)
class Thorax:
    """The chest of one slice; ``None`` organs are not cut by it."""

    body: Ellipse
    subcutaneous_fat_mm: float = 14.0
    muscle_mm: float = 12.0
    ribs: tuple[Ellipse, ...] = ()
    diaphragm_mm: float = 4.0
    liver: Ellipse | None = None
    stomach: Ellipse | None = None
    spleen: Ellipse | None = None
    aorta: Ellipse | None = None
    spine: Ellipse | None = None
    paraspinal: Ellipse | None = None
    vessels: tuple[Ellipse, ...] = ()

    def abdominal_organs(self) -> tuple[tuple[Ellipse, Tissue], ...]:
        organs = ((self.liver, Tissue.LIVER), (self.stomach, Tissue.STOMACH), (self.spleen, Tissue.SPLEEN))
        return tuple((organ, tissue) for organ, tissue in organs if organ is not None)


def paint_thorax(thorax: Thorax, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Tissue labels of the chest at points ``(u, v)``; the heart is painted over them later."""
    labels = np.full(u.shape, Tissue.AIR, dtype=np.uint8)
    body = thorax.body
    labels[body.normalised_radius(u, v) < 1.0] = Tissue.SUBCUTANEOUS_FAT
    labels[body.shrunk(thorax.subcutaneous_fat_mm).normalised_radius(u, v) < 1.0] = Tissue.MUSCLE
    wall = labels == Tissue.MUSCLE
    labels[body.shrunk(thorax.subcutaneous_fat_mm + thorax.muscle_mm).normalised_radius(u, v) < 1.0] = Tissue.LUNG
    wall &= labels == Tissue.MUSCLE
    for rib in thorax.ribs:  # ribs and sternum: bone inside the muscle layer of the chest wall
        labels[wall & (rib.normalised_radius(u, v) < 1.0)] = Tissue.BONE_MARROW
    organs = thorax.abdominal_organs()
    # The diaphragm: a muscle sheet over the abdominal organs where they meet the lungs.
    for organ, _ in organs:
        labels[(labels == Tissue.LUNG) & (organ.shrunk(-thorax.diaphragm_mm).normalised_radius(u, v) < 1.0)] = Tissue.MUSCLE
    for organ, tissue in organs:
        labels[(organ.normalised_radius(u, v) < 1.0) & (labels != Tissue.SUBCUTANEOUS_FAT)] = tissue
    others: tuple[tuple[Ellipse | None, Tissue], ...] = (
        (thorax.paraspinal, Tissue.MUSCLE),
        (thorax.spine, Tissue.BONE_MARROW),
        (thorax.aorta, Tissue.AORTA_BLOOD),
    )
    for other, tissue in others:
        if other is not None:
            labels[other.normalised_radius(u, v) < 1.0] = tissue
    # Vessels crossing the slice in lung, liver and spleen: small blood-filled discs.
    vascular = np.isin(labels, (Tissue.LUNG, Tissue.LIVER, Tissue.SPLEEN))
    for vessel in thorax.vessels:
        labels[vascular & (vessel.normalised_radius(u, v) < 1.0)] = Tissue.AORTA_BLOOD
    return labels


@dataclass(frozen=True)
class _SubjectChest:
    """What a subject's slices share: body outline, wall layers and the organs' base sizes."""

    body: Ellipse
    fat_mm: float
    muscle_mm: float
    diaphragm_mm: float
    liver: Ellipse
    stomach: Ellipse
    spleen: Ellipse
    aorta_radius_mm: float


def draw_subject_chest(ranges: ThoraxRanges, rng: np.random.Generator) -> _SubjectChest:
    """Draw the parts of the chest that one subject's slices share."""
    (cu, cv), (ha, hb) = ranges.body_centre_mm, ranges.body_half_axes_mm
    body = Ellipse(
        rng.uniform(*cu), rng.uniform(*cv), rng.uniform(*ha), rng.uniform(*hb), rng.uniform(*ranges.body_angle_deg), _wobble(ranges, rng)
    )
    liver_u = rng.uniform(*ranges.liver_centre_u_mm)
    liver = Ellipse(liver_u, 0.0, *_half_axes(ranges.liver_half_axes_mm, rng), rng.uniform(-25, 5), _wobble(ranges, rng, 2.0))
    stomach = Ellipse(0.0, 0.0, *_half_axes(ranges.stomach_half_axes_mm, rng), rng.uniform(-40, 20), _wobble(ranges, rng, 2.5))
    spleen = Ellipse(0.0, 0.0, *_half_axes(ranges.spleen_half_axes_mm, rng), rng.uniform(-60, -25), _wobble(ranges, rng, 2.0))
    return _SubjectChest(
        body=body,
        fat_mm=rng.uniform(*ranges.subcutaneous_fat_mm),
        muscle_mm=rng.uniform(*ranges.muscle_mm),
        diaphragm_mm=rng.uniform(*ranges.diaphragm_mm),
        liver=liver,
        stomach=stomach,
        spleen=spleen,
        aorta_radius_mm=rng.uniform(*ranges.aorta_radius_mm),
    )


def draw_thorax(chest: _SubjectChest, level: str, epi_mm: float, ranges: ThoraxRanges, rng: np.random.Generator) -> Thorax:
    """The chest of one slice at ``level`` around an LV of epicardial radius ``epi_mm``."""
    k = LEVELS.index(level)
    scale = ranges.liver_scale[k]
    base = chest.liver
    liver = Ellipse(base.u, -epi_mm - base.b * scale * 0.9, base.a * scale, base.b * scale, base.angle_deg, base.shape)
    stomach = spleen = None
    organ_scale = ranges.organ_scale[k]
    if rng.random() < ranges.stomach_chance[k]:
        s = chest.stomach
        stomach = Ellipse(
            epi_mm + s.a * organ_scale * 0.5 + rng.uniform(5, 25),
            -epi_mm * 0.3 - s.b * organ_scale - rng.uniform(0, 12),
            s.a * organ_scale,
            s.b * organ_scale,
            s.angle_deg,
            s.shape,
        )
    if rng.random() < ranges.spleen_chance[k]:
        s = chest.spleen
        spleen = Ellipse(rng.uniform(55, 85), -epi_mm - rng.uniform(35, 60), s.a * organ_scale, s.b * organ_scale, s.angle_deg, s.shape)
    r_aorta = chest.aorta_radius_mm * rng.uniform(0.95, 1.05)
    aorta = Ellipse(
        rng.uniform(10, 30), -epi_mm - rng.uniform(11, 19) - r_aorta, r_aorta, r_aorta * rng.uniform(0.9, 1.0), rng.uniform(0, 180)
    )
    spine = Ellipse(rng.uniform(-10, 5), aorta.v - rng.uniform(28, 34), rng.uniform(15, 19), rng.uniform(13, 17))
    n_vessels = int(rng.integers(ranges.vessels[0], ranges.vessels[1] + 1))
    vessels = tuple(
        Ellipse(rng.uniform(-150, 120), rng.uniform(-110, 70), r, r * rng.uniform(0.7, 1.0), rng.uniform(0, 180))
        for r in rng.uniform(1.2, 4.0, n_vessels)
    )
    return Thorax(
        body=chest.body,
        subcutaneous_fat_mm=chest.fat_mm,
        muscle_mm=chest.muscle_mm,
        ribs=_ribs(chest, ranges, rng),
        diaphragm_mm=chest.diaphragm_mm,
        liver=liver,
        stomach=stomach,
        spleen=spleen,
        aorta=aorta,
        spine=spine,
        paraspinal=Ellipse(spine.u, spine.v - 8.0, 48.0, 30.0),
        vessels=vessels,
    )


def _ribs(chest: _SubjectChest, ranges: ThoraxRanges, rng: np.random.Generator) -> tuple[Ellipse, ...]:
    """Oblique rib sections along the chest wall, avoiding the spine, and the sternum in front."""
    body = chest.body
    depth = chest.fat_mm + chest.muscle_mm / 2
    n = int(rng.integers(ranges.ribs[0], ranges.ribs[1] + 1))
    angles = rng.uniform(-60.0, 240.0, n)  # body-frame angles (deg); the posterior midline (270) carries the spine
    angles = np.append(angles, 90.0 + rng.uniform(-6, 6))  # sternum
    out = []
    c, s = np.cos(np.deg2rad(body.angle_deg)), np.sin(np.deg2rad(body.angle_deg))
    for k, phi in enumerate(np.deg2rad(angles)):
        p, q = (body.a - depth) * np.cos(phi), (body.b - depth) * np.sin(phi)
        # Tangent direction of the wall at phi, so each section lies along the wall.
        tangent = np.rad2deg(np.arctan2((body.b - depth) * np.cos(phi), -(body.a - depth) * np.sin(phi))) + body.angle_deg
        thickness = min(chest.muscle_mm * 0.4, rng.uniform(3.0, 5.0))
        length = rng.uniform(6.0, 12.0) if k < n else rng.uniform(10.0, 16.0)
        out.append(Ellipse(body.u + c * p - s * q, body.v + s * p + c * q, length, thickness, tangent))
    return tuple(out)


def _half_axes(ranges: tuple[Range, Range], rng: np.random.Generator) -> tuple[float, float]:
    return rng.uniform(*ranges[0]), rng.uniform(*ranges[1])


def _wobble(ranges: ThoraxRanges, rng: np.random.Generator, gain: float = 1.0) -> Fourier:
    """A smooth random bend of an outline (mean 1, harmonics 2-4)."""
    return Fourier.random(1.0, gain * rng.uniform(*ranges.outline_wobble), 4, rng, first=2)
