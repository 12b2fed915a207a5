"""Short-axis anatomy of the phantom: the heart on each slice, its label images and lesions.

Geometry lives in an anatomical frame centred on the LV: ``u`` points to the
patient's left (lateral wall), ``v`` anterior, angles ``theta`` in degrees
counter-clockwise from lateral as seen in the standard short-axis display
(anterior 90, septum 180, inferior 270).  An image places that frame with a
centre and an in-plane rotation.  Pixel centres sit at ``(col * dx, row * dy)``
mm, so the centre of the top-left pixel is (0, 0) as in SPEC.md.

Borders are smooth star-shaped curves ``r(theta)`` (low-order Fourier
series), so reference contours and label images come from one definition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from myomap.conventions import SLICE_POSITIONS, Tissue
from myomap.phantom.shapes import Bumps, Ellipse, Fourier, Lesion
from myomap.phantom.thorax import Thorax, paint_thorax

__all__ = ["SLICE_POSITIONS", "HeartSlice", "Outflow", "Placement", "label_points", "lesion_mask", "polar_contour"]
OUTLET_SEPTUM_MM = 4.0  # muscle between the LV outflow tract and the RV, beyond the open ring


@dataclass(frozen=True)
class Outflow:
    """LV outflow tract and aortic root on a most basal slice.

    ``root`` is the aortic root's blood, an ellipse touching the LV
    epicardium at ``theta_deg`` (anteroseptal).  The myocardial ring is open
    towards it: over ``theta_deg`` ± ``gap_half_width_deg`` the compact
    wall is replaced by outflow-tract blood that joins the LV cavity to the
    root, with a smooth taper of ``taper_deg``.  Fat of ``root_fat_mm``
    walls both off from the RV.
    """

    theta_deg: float
    root: Ellipse
    root_fat_mm: float = 2.0
    gap_half_width_deg: float = 0.0
    taper_deg: float = 10.0

    def opening(self, theta_deg: np.ndarray) -> np.ndarray:
        """1 where the ring is open, 0 where it is closed, smooth in between."""
        theta_deg = np.asarray(theta_deg, dtype=float)
        if self.gap_half_width_deg <= 0:
            return np.zeros_like(theta_deg)
        distance = np.abs((theta_deg - self.theta_deg + 180.0) % 360.0 - 180.0)
        x = np.clip((self.gap_half_width_deg + self.taper_deg / 2 - distance) / self.taper_deg, 0.0, 1.0)
        return 0.5 - 0.5 * np.cos(np.pi * x)


@dataclass(frozen=True)
class HeartSlice:
    """Anatomy of one short-axis slice, in the anatomical frame (mm, degrees).

    ``rv`` is the outer border of the RV free wall: an ellipse centred on
    the septal side that overlaps the LV, so that what lies outside the LV
    epicardium is a crescent hugging the septum, with its horns at the RV
    insertion points.  ``pericardium_mm`` is the thickness of the
    pericardial sac around both ventricles and their fat.
    """

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
    pericardium_mm: float = 1.5
    outflow: Outflow | None = None
    thorax: Thorax | None = None

    def outer_epi_radius(self, theta_deg: np.ndarray) -> np.ndarray:
        """Epicardial radius in mm of the closed ring, ignoring an outflow-tract opening."""
        return self.epi(np.deg2rad(theta_deg))

    def opening(self, theta_deg: np.ndarray) -> np.ndarray:
        """Where the ring is open towards the outflow tract: 0 closed, 1 open."""
        if self.outflow is None:
            return np.zeros_like(np.asarray(theta_deg, dtype=float))
        return self.outflow.opening(theta_deg)

    def epi_radius(self, theta_deg: np.ndarray) -> np.ndarray:
        """True epicardial radius in mm at angle ``theta_deg``; equal to the endocardial one where the ring is open."""
        endo = self.endo_radius(theta_deg)
        return endo + (self.outer_epi_radius(theta_deg) - endo) * (1.0 - self.opening(theta_deg))

    def wall_thickness(self, theta_deg: np.ndarray) -> np.ndarray:
        """Compact wall thickness in mm (without trabeculae) of the closed ring."""
        return self.wall(np.deg2rad(theta_deg)) + self.wall_bumps(theta_deg)

    def endo_radius(self, theta_deg: np.ndarray) -> np.ndarray:
        """True endocardial radius in mm: the compact myocardium's inner border (continued across an opening)."""
        return np.maximum(self.outer_epi_radius(theta_deg) - self.wall_thickness(theta_deg), self.min_cavity_mm)

    def rv_insertion_deg(self) -> tuple[float, float]:
        """Angles of the anterior and inferior RV insertion points on the epicardium.

        The ends of the longest stretch of epicardium that the RV touches on
        this slice; on a most basal slice the outflow tract, the aortic root
        and their fat, where they lie between RV and LV, cut that stretch
        short, as a reader sees it.
        Where no RV touches the LV, the conventional 120 and 240 degrees.
        """
        if self.rv is None:
            return 120.0, 240.0
        theta = np.arange(0.0, 360.0, 0.25)
        r = self.outer_epi_radius(theta) + 1.0
        u, v = r * np.cos(np.deg2rad(theta)), r * np.sin(np.deg2rad(theta))
        inside = self.rv.normalised_radius(u, v) < 1.0
        if self.outflow is not None:
            inside &= self.outflow.root.shrunk(-self.outflow.root_fat_mm).normalised_radius(u, v) >= 1.0
            inside &= self.opening(theta) == 0
        if not inside.any() or inside.all():
            return 120.0, 240.0
        # Runs of contact around the circle, starting after a gap.
        start = int(np.argmin(inside))
        rolled = np.roll(inside, -start)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], rolled.astype(int), [0]])))
        runs = edges.reshape(-1, 2)
        first, stop = runs[int(np.argmax(runs[:, 1] - runs[:, 0]))]
        ends = theta[(np.array([first, stop - 1]) + start) % theta.size]
        anterior = float(ends[np.argmax(np.sin(np.deg2rad(ends)))])
        inferior = float(ends[np.argmin(np.sin(np.deg2rad(ends)))])
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
    ones, in the order a body is built from outside in: chest
    (:func:`~myomap.phantom.thorax.paint_thorax`), pericardium, fat, RV,
    aortic root, LV.
    """
    labels = paint_thorax(heart.thorax, u, v) if heart.thorax is not None else np.full(u.shape, Tissue.AIR, dtype=np.uint8)

    def paint(where: np.ndarray, tissue: Tissue) -> None:
        labels[where] = tissue

    rho = np.hypot(u, v)
    theta = np.rad2deg(np.arctan2(v, u)) % 360.0
    r_outer = heart.outer_epi_radius(theta)
    r_endo = heart.endo_radius(theta)
    r_epi = r_endo + (r_outer - r_endo) * (1.0 - heart.opening(theta))
    r_fat = r_outer + heart.epicardial_fat(theta)

    # The pericardial sac around both ventricles and their fat, then the fat inside it.
    sac = rho < r_fat + heart.pericardium_mm
    if heart.rv is not None:
        sac |= heart.rv.shrunk(-heart.rv_fat_mm - heart.pericardium_mm).normalised_radius(u, v) < 1.0
    paint(sac, Tissue.PERICARDIUM)
    paint(rho < r_fat, Tissue.EPICARDIAL_FAT)
    if heart.rv is not None:
        paint(heart.rv.shrunk(-heart.rv_fat_mm).normalised_radius(u, v) < 1.0, Tissue.EPICARDIAL_FAT)
        paint(heart.rv.normalised_radius(u, v) < 1.0, Tissue.RV_WALL)
        paint(heart.rv.shrunk(heart.rv_wall_mm).normalised_radius(u, v) < 1.0, Tissue.RV_BLOOD)
    if heart.outflow is not None:
        root, fat_mm = heart.outflow.root, heart.outflow.root_fat_mm
        # The outlet septum (muscle, not part of the LV ring) walls the outflow tract off from the RV.
        paint((heart.opening(theta) > 0) & (rho < r_outer + OUTLET_SEPTUM_MM), Tissue.RV_WALL)
        paint(root.shrunk(-fat_mm).normalised_radius(u, v) < 1.0, Tissue.EPICARDIAL_FAT)
        paint(root.normalised_radius(u, v) < 1.0, Tissue.OUTFLOW_BLOOD)

    paint(rho < r_outer, Tissue.OUTFLOW_BLOOD)  # the wall's place where the ring is open; the closed ring covers it next
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
