"""Short-axis anatomy of the phantom: shapes, label images and lesions.

Geometry lives in an anatomical frame centred on the LV: ``u`` points to the
patient's left (lateral wall), ``v`` anterior, angles ``theta`` in degrees
counter-clockwise from lateral as seen in the standard short-axis display
(anterior 90, septum 180, inferior 270).  An image places that frame with a
centre and an in-plane rotation.  Pixel centres sit at ``(col * dx, row * dy)``
mm, so the centre of the top-left pixel is (0, 0) as in docs/contours.md.

Borders are smooth star-shaped curves ``r(theta)`` (low-order Fourier
series), so reference contours and label images come from one definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from myomap.conventions import SLICE_POSITIONS
from myomap.phantom.tissues import Phenotype, Tissue


@dataclass(frozen=True)
class Fourier:
    """A smooth periodic function ``mean * (1 + sum_k c_k cos(k t) + s_k sin(k t))``, t in radians."""

    mean: float
    cos: tuple[float, ...] = ()
    sin: tuple[float, ...] = ()

    def __call__(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        out = np.ones_like(t)
        for k, (c, s) in enumerate(zip(self.cos, self.sin), start=1):
            out = out + c * np.cos(k * t) + s * np.sin(k * t)
        return self.mean * out

    @staticmethod
    def random(mean: float, amplitude: float, order: int, rng: np.random.Generator, first: int = 1) -> Fourier:
        """Random smooth shape with relative amplitude ``amplitude / k`` for harmonic k >= ``first``."""
        c = [0.0] * order
        s = [0.0] * order
        for k in range(first, order + 1):
            c[k - 1], s[k - 1] = amplitude / k * rng.standard_normal(2)
        return Fourier(mean, tuple(c), tuple(s))


@dataclass(frozen=True)
class Bumps:
    """Sum of angular Gaussian bumps: ``sum_j depth_j exp(-0.5 (dtheta_j / width_j)^2)``, mm."""

    centres_deg: tuple[float, ...] = ()
    widths_deg: tuple[float, ...] = ()
    depths_mm: tuple[float, ...] = ()

    def __call__(self, theta_deg: np.ndarray) -> np.ndarray:
        out = np.zeros_like(np.asarray(theta_deg, dtype=float))
        for c, w, d in zip(self.centres_deg, self.widths_deg, self.depths_mm):
            dt = (theta_deg - c + 180.0) % 360.0 - 180.0
            out += d * np.exp(-0.5 * (dt / w) ** 2)
        return out


@dataclass(frozen=True)
class Ellipse:
    """An ellipse in the anatomical frame: centre (u, v) mm, semi-axes mm, rotation deg."""

    u: float
    v: float
    a: float
    b: float
    angle_deg: float = 0.0

    def normalised_radius(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """``< 1`` inside, ``1`` on the border."""
        c, s = np.cos(np.deg2rad(self.angle_deg)), np.sin(np.deg2rad(self.angle_deg))
        du, dv = u - self.u, v - self.v
        p, q = c * du + s * dv, -s * du + c * dv
        return np.sqrt((p / self.a) ** 2 + (q / self.b) ** 2)

    def shrunk(self, mm: float) -> Ellipse:
        return Ellipse(self.u, self.v, max(self.a - mm, 0.1), max(self.b - mm, 0.1), self.angle_deg)


@dataclass(frozen=True)
class Lesion:
    """Focal myocardial change: angular sector and transmural band.

    ``s`` is the transmural position, 0 at the endocardium and 1 at the
    epicardium.  ``patches``, a smooth function of angle, keeps the lesion
    only where it is positive, which breaks it into patches.
    """

    theta_from_deg: float
    theta_to_deg: float
    s_from: float
    s_to: float
    patches: Fourier | None = None

    def contains(self, theta_deg: np.ndarray, s: np.ndarray) -> np.ndarray:
        span = (self.theta_to_deg - self.theta_from_deg) % 360.0
        inside = ((theta_deg - self.theta_from_deg) % 360.0) <= span
        inside &= (s >= self.s_from) & (s <= self.s_to)
        if self.patches is not None:
            inside &= self.patches(np.deg2rad(theta_deg)) > 0
        return inside


@dataclass(frozen=True)
class HeartSlice:
    """Anatomy of one short-axis slice, in the anatomical frame (mm, degrees)."""

    position: str
    epi: Fourier
    wall: Fourier
    wall_bumps: Bumps
    min_cavity_mm: float
    trabeculae: Bumps
    papillary: tuple[tuple[float, float], ...]  # (theta_deg, radius_mm)
    rv: Ellipse | None
    rv_wall_mm: float
    epicardial_fat: Bumps
    rv_fat_mm: float
    lesions: tuple[Lesion, ...] = ()
    body: Ellipse = field(default_factory=lambda: Ellipse(-25, -35, 165, 115))
    subcutaneous_fat_mm: float = 14.0
    muscle_mm: float = 12.0
    liver: Ellipse | None = None
    aorta: Ellipse | None = None
    spine: Ellipse | None = None
    paraspinal: Ellipse | None = None
    vessels: tuple[Ellipse, ...] = ()

    def epi_radius(self, theta_deg: np.ndarray) -> np.ndarray:
        """True epicardial radius in mm at angle ``theta_deg``."""
        return self.epi(np.deg2rad(theta_deg))

    def wall_thickness(self, theta_deg: np.ndarray) -> np.ndarray:
        """Compact wall thickness in mm (without trabeculae)."""
        return self.wall(np.deg2rad(theta_deg)) + self.wall_bumps(theta_deg)

    def endo_radius(self, theta_deg: np.ndarray) -> np.ndarray:
        """True endocardial radius in mm: the compact myocardium's inner border."""
        return np.maximum(self.epi_radius(theta_deg) - self.wall_thickness(theta_deg), self.min_cavity_mm)

    def rv_insertion_deg(self) -> tuple[float, float]:
        """Angles of the anterior and inferior RV insertion points on the epicardium.

        Where no RV touches the LV, the conventional 120 and 240 degrees.
        """
        if self.rv is None:
            return 120.0, 240.0
        theta = np.arange(0.0, 360.0, 0.25)
        r = self.epi_radius(theta) + 1.0
        u, v = r * np.cos(np.deg2rad(theta)), r * np.sin(np.deg2rad(theta))
        inside = self.rv.normalised_radius(u, v) < 1.0
        if not inside.any() or inside.all():
            return 120.0, 240.0
        change = np.flatnonzero(inside != np.roll(inside, 1))
        angles = theta[change]
        anterior = float(angles[np.argmax(np.sin(np.deg2rad(angles)))])
        inferior = float(angles[np.argmin(np.sin(np.deg2rad(angles)))])
        return anterior, inferior


@dataclass(frozen=True)
class Placement:
    """Where the anatomical frame sits in an image: LV centre (x, y) mm and rotation deg."""

    centre_x_mm: float
    centre_y_mm: float
    angle_deg: float

    def to_anatomical(self, x_mm: np.ndarray, y_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image mm (x right, y down) to anatomical (u lateral, v anterior)."""
        a = np.deg2rad(self.angle_deg)
        dx, dy = x_mm - self.centre_x_mm, y_mm - self.centre_y_mm
        # Image y points down; anterior is "up" when angle is 0.
        u = np.cos(a) * dx + np.sin(a) * dy
        v = np.sin(a) * dx - np.cos(a) * dy
        return u, v

    def to_image(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of :meth:`to_anatomical`."""
        a = np.deg2rad(self.angle_deg)
        dx = np.cos(a) * u + np.sin(a) * v
        dy = np.sin(a) * u - np.cos(a) * v
        return dx + self.centre_x_mm, dy + self.centre_y_mm


def polar_contour(radius_fn, placement: Placement, spacing_mm: tuple[float, float], n_points: int = 96) -> np.ndarray:
    """Sample ``radius_fn(theta_deg)`` into an ordered (n, 2) array of pixel (x, y), counter-clockwise on screen."""
    theta = np.linspace(0.0, 360.0, n_points, endpoint=False)
    r = radius_fn(theta)
    u, v = r * np.cos(np.deg2rad(theta)), r * np.sin(np.deg2rad(theta))
    x_mm, y_mm = placement.to_image(u, v)
    return np.column_stack([x_mm / spacing_mm[1], y_mm / spacing_mm[0]])


def label_points(heart: HeartSlice, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tissue labels at points of the anatomical frame.

    Returns ``(labels, theta_deg, s)``: labels as :class:`Tissue` values,
    the polar angle about the LV centre and the transmural position ``s``
    (meaningful inside the LV myocardium).  Later regions overwrite earlier
    ones, in the order a body is built from outside in.
    """
    labels = np.full(u.shape, Tissue.AIR, dtype=np.uint8)

    def paint(where: np.ndarray, tissue: Tissue) -> None:
        labels[where] = tissue

    body_r = heart.body.normalised_radius(u, v)
    paint(body_r < 1.0, Tissue.SUBCUTANEOUS_FAT)
    paint(heart.body.shrunk(heart.subcutaneous_fat_mm).normalised_radius(u, v) < 1.0, Tissue.MUSCLE)
    paint(heart.body.shrunk(heart.subcutaneous_fat_mm + heart.muscle_mm).normalised_radius(u, v) < 1.0, Tissue.LUNG)
    for organ, tissue in (
        (heart.liver, Tissue.LIVER),
        (heart.paraspinal, Tissue.MUSCLE),
        (heart.spine, Tissue.BONE_MARROW),
        (heart.aorta, Tissue.AORTA_BLOOD),
    ):
        if organ is not None:
            paint(organ.normalised_radius(u, v) < 1.0, tissue)
    # Vessels crossing the slice in lung and liver: small blood-filled discs.
    for vessel in heart.vessels:
        paint((vessel.normalised_radius(u, v) < 1.0) & ((labels == Tissue.LUNG) | (labels == Tissue.LIVER)), Tissue.AORTA_BLOOD)

    rho = np.hypot(u, v)
    theta = np.rad2deg(np.arctan2(v, u)) % 360.0
    r_epi = heart.epi_radius(theta)
    r_endo = heart.endo_radius(theta)

    # Epicardial fat around the LV, and a thin layer along the RV free wall.
    paint(rho < r_epi + heart.epicardial_fat(theta), Tissue.EPICARDIAL_FAT)
    if heart.rv is not None:
        rv_r = heart.rv.normalised_radius(u, v)
        paint(rv_r < 1.0 + heart.rv_fat_mm / max(heart.rv.a, heart.rv.b), Tissue.EPICARDIAL_FAT)
        paint(rv_r < 1.0, Tissue.RV_WALL)
        paint(heart.rv.shrunk(heart.rv_wall_mm).normalised_radius(u, v) < 1.0, Tissue.RV_BLOOD)

    paint(rho < r_epi, Tissue.LV_MYOCARDIUM)
    paint(rho < r_endo, Tissue.LV_BLOOD)
    # Trabeculae: fingers of muscle reaching from the compact wall into the cavity.
    paint((rho < r_endo) & (rho > r_endo - heart.trabeculae(theta)), Tissue.PAPILLARY)
    for pm_theta, pm_radius in heart.papillary:
        r0 = float(heart.endo_radius(np.array([pm_theta]))[0]) - pm_radius * 0.85
        pu, pv = r0 * np.cos(np.deg2rad(pm_theta)), r0 * np.sin(np.deg2rad(pm_theta))
        paint((np.hypot(u - pu, v - pv) < pm_radius) & (rho < r_endo), Tissue.PAPILLARY)

    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.clip((rho - r_endo) / (r_epi - r_endo), 0.0, 1.0)
    return labels, theta, s


def lesion_mask(heart: HeartSlice, labels: np.ndarray, theta_deg: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Boolean mask of focal lesions inside the LV myocardium."""
    mask = np.zeros(labels.shape, dtype=bool)
    myo = labels == Tissue.LV_MYOCARDIUM
    for lesion in heart.lesions:
        mask |= myo & lesion.contains(theta_deg, s)
    return mask


# --- drawing a subject's hearts --------------------------------------------------


@dataclass(frozen=True)
class SubjectAnatomy:
    """Per-subject anatomy: one :class:`HeartSlice` per slice position."""

    slices: dict[str, HeartSlice]


_SLICE_SCALE = {"basal": (1.08, 1.0, 1.15), "mid": (1.0, 1.0, 1.0), "apical": (0.7, 0.85, 0.55)}  # epi, wall, RV


def draw_anatomy(phenotype: Phenotype, rng: np.random.Generator) -> SubjectAnatomy:
    """Draw one subject's basal, mid and apical short-axis anatomy.

    Sizes follow normal diastolic dimensions (epicardial radius ~24-28 mm at
    mid level, wall ~7-10 mm, RV wall ~3 mm) scaled by the phenotype.
    """
    epi_mid = rng.uniform(23.5, 28.0) * (1.0 + 0.45 * (phenotype.cavity_scale - 1.0))
    wall_mid = rng.uniform(7.0, 9.5) * phenotype.wall_scale
    territory = ("lad", "rca", "lcx")[int(rng.integers(3))]
    transmurality = rng.uniform(0.4, 1.0)
    rv_angle = rng.uniform(-12, 12)
    body = Ellipse(rng.uniform(-35, -15), rng.uniform(-45, -25), rng.uniform(150, 180), rng.uniform(105, 125), rng.uniform(-8, 8))
    fat_sc = rng.uniform(8, 22)
    liver_base = Ellipse(rng.uniform(-60, -35), 0.0, rng.uniform(65, 85), rng.uniform(38, 50), rng.uniform(-25, 5))

    slices: dict[str, HeartSlice] = {}
    for position in SLICE_POSITIONS:
        k_epi, k_wall, k_rv = _SLICE_SCALE[position]
        epi_mean = epi_mid * k_epi * rng.uniform(0.97, 1.03)
        wall_mean = wall_mid * k_wall * rng.uniform(0.95, 1.05)
        epi = Fourier.random(epi_mean, 0.035, 5, rng)
        wall = Fourier.random(wall_mean, 0.10, 3, rng)
        bumps, lesions = _wall_changes(phenotype, position, k_wall, wall_mean, territory, transmurality, rng)
        trab, papillary, fat = _cavity_and_fat(position, rng)
        rv = _right_ventricle(position, epi_mean, k_epi, k_rv, rv_angle, rng)
        liver_scale = {"basal": 0.7, "mid": 1.0, "apical": 1.25}[position]
        liver = Ellipse(
            liver_base.u,
            -epi_mean - liver_base.b * liver_scale * 0.9,
            liver_base.a * liver_scale,
            liver_base.b * liver_scale,
            liver_base.angle_deg,
        )
        aorta = Ellipse(rng.uniform(5, 20), -epi_mid - rng.uniform(22, 30), 11.0, 11.0)
        spine = Ellipse(rng.uniform(-10, 5), aorta.v - rng.uniform(28, 34), 17.0, 15.0)
        paraspinal = Ellipse(spine.u, spine.v - 8.0, 48.0, 30.0)
        min_cavity = rng.uniform(1.8, 4.0) if position == "apical" else 8.0
        n_vessels = int(rng.integers(8, 18))
        vessels = tuple(
            Ellipse(rng.uniform(-150, 120), rng.uniform(-110, 70), r, r * rng.uniform(0.7, 1.0), rng.uniform(0, 180))
            for r in rng.uniform(1.2, 4.0, n_vessels)
        )
        slices[position] = HeartSlice(
            position=position,
            epi=epi,
            wall=wall,
            wall_bumps=bumps,
            min_cavity_mm=min_cavity,
            trabeculae=trab,
            papillary=papillary,
            rv=rv,
            rv_wall_mm=rng.uniform(2.5, 4.0),
            epicardial_fat=fat,
            rv_fat_mm=rng.uniform(0.5, 3.0),
            lesions=lesions,
            body=body,
            subcutaneous_fat_mm=fat_sc,
            muscle_mm=rng.uniform(8, 14),
            liver=liver,
            aorta=aorta,
            spine=spine,
            paraspinal=paraspinal,
            vessels=vessels,
        )
    return SubjectAnatomy(slices=slices)


def _wall_changes(
    phenotype: Phenotype, position: str, k_wall: float, wall_mean: float, territory: str, transmurality: float, rng: np.random.Generator
) -> tuple[Bumps, tuple[Lesion, ...]]:
    """The phenotype's wall thickening or thinning and its lesions at one slice position."""
    bumps_c: list[float] = []
    bumps_w: list[float] = []
    bumps_d: list[float] = []
    if phenotype.septal_extra_mm:
        bumps_c.append(180.0 + rng.uniform(-15, 15))
        bumps_w.append(rng.uniform(25, 40))
        bumps_d.append(phenotype.septal_extra_mm * rng.uniform(0.8, 1.2) * k_wall)
    lesions: list[Lesion] = []
    lesion = phenotype.lesion
    if lesion == "territory":
        sector = {"lad": (45.0, 160.0), "rca": (220.0, 300.0), "lcx": (300.0, 40.0)}[territory]
        lesions.append(Lesion(sector[0], sector[1], 0.0, transmurality))
        centre = (sector[0] + ((sector[1] - sector[0]) % 360) / 2) % 360
        bumps_c.append(centre)
        bumps_w.append(((sector[1] - sector[0]) % 360) / 3.5)
        bumps_d.append(-phenotype.thinning * wall_mean * transmurality)
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
    return Bumps(tuple(bumps_c), tuple(bumps_w), tuple(bumps_d)), tuple(lesions)


def _cavity_and_fat(position: str, rng: np.random.Generator) -> tuple[Bumps, tuple[tuple[float, float], ...], Bumps]:
    """Trabeculae, papillary muscles (angle, size in mm) and epicardial fat of one slice."""
    trab_n = int(rng.integers(6, 15)) if position != "apical" else int(rng.integers(2, 6))
    trab = Bumps(
        tuple(rng.uniform(-100, 100, trab_n) % 360),  # lateral, anterior and inferior walls, not the septum
        tuple(rng.uniform(2.5, 6.0, trab_n)),
        tuple(rng.uniform(1.0, 3.5, trab_n) * (0.6 if position == "apical" else 1.0)),
    )
    papillary: tuple[tuple[float, float], ...] = ()
    if position != "apical":
        size = rng.uniform(3.0, 5.0) * (0.7 if position == "basal" else 1.0)
        papillary = ((45.0 + rng.uniform(-15, 15), size), (255.0 + rng.uniform(-15, 15), size * rng.uniform(0.8, 1.1)))
    fat = Bumps(
        (rng.uniform(95, 130), rng.uniform(235, 265), rng.uniform(-40, 40) % 360),
        (rng.uniform(10, 20), rng.uniform(10, 20), rng.uniform(15, 40)),
        (rng.uniform(1.5, 5.0), rng.uniform(1.5, 5.0), rng.uniform(0.0, 2.5)),
    )
    return trab, papillary, fat


def _right_ventricle(
    position: str, epi_mean: float, k_epi: float, k_rv: float, rv_angle: float, rng: np.random.Generator
) -> Ellipse | None:
    """The RV blood pool of one slice; an apical slice lies below the RV now and then (None)."""
    rv = None
    if position != "apical" or rng.random() < 0.85:
        a_rv = epi_mean * k_rv * rng.uniform(0.6, 0.85) / k_epi
        b_rv = epi_mean * k_rv * rng.uniform(1.2, 1.45) / k_epi
        rv = Ellipse(-epi_mean * rng.uniform(0.55, 0.8) - 0.4 * a_rv, epi_mean * rng.uniform(-0.05, 0.2), a_rv, b_rv, rv_angle)
    return rv
