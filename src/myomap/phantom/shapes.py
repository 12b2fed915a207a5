"""Smooth shapes of the phantom's anatomy, in the anatomical frame (mm, degrees).

Every border is a closed smooth curve defined analytically (low-order
Fourier series in angle), so label images and reference contours come from
one definition and stay consistent at any pixel size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
    """An ellipse in the anatomical frame: centre (u, v) mm, semi-axes mm, rotation deg.

    ``shape`` (a :class:`Fourier` with mean 1) bends the border: the radius
    at angle ``phi`` of the ellipse's own frame is multiplied by
    ``shape(phi)``, which turns the ellipse into an organ-like outline.
    """

    u: float
    v: float
    a: float
    b: float
    angle_deg: float = 0.0
    shape: Fourier | None = None

    def normalised_radius(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """``< 1`` inside, ``1`` on the border."""
        c, s = np.cos(np.deg2rad(self.angle_deg)), np.sin(np.deg2rad(self.angle_deg))
        du, dv = u - self.u, v - self.v
        p, q = c * du + s * dv, -s * du + c * dv
        radius = np.sqrt((p / self.a) ** 2 + (q / self.b) ** 2)
        if self.shape is not None:
            radius = radius / self.shape(np.arctan2(q / self.b, p / self.a))
        return radius

    def shrunk(self, mm: float) -> Ellipse:
        """The ellipse with both semi-axes ``mm`` shorter (longer when negative); same centre and shape."""
        return Ellipse(self.u, self.v, max(self.a - mm, 0.1), max(self.b - mm, 0.1), self.angle_deg, self.shape)


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
