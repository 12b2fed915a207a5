"""From anatomy to acquired images: partial volume, coil shading, motion, noise.

The tissue parameters are evaluated on a supersampled grid, the sequence
signal is computed per sub-sample and averaged into each pixel, so border
pixels mix the signals of their tissues (partial volume) the way a real voxel
does.  Then the acquisition adds a smooth receive-coil sensitivity, a small
misregistration between the weighted images, optional artefacts, and complex
Gaussian noise whose magnitude is Rician.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from myomap.phantom.anatomy import HeartSlice, Placement, label_points, lesion_mask
from myomap.phantom.tissues import Phenotype, PostContrast, Tissue, post_contrast_t1

ARTEFACTS = ("none", "motion", "offres_band")


@dataclass(frozen=True)
class Grid:
    """Image matrix ``(rows, cols)`` and pixel spacing ``(row, col)`` in mm."""

    shape: tuple[int, int]
    spacing_mm: tuple[float, float]


@dataclass(frozen=True)
class TissueMaps:
    """Tissue parameters of one image.

    ``t1_ms``, ``t2_ms``, ``pd`` are on the supersampled grid (each pixel
    split into ``supersample``² sub-pixels); ``labels``, ``t1_true_ms``,
    ``t2_true_ms`` hold the value at each pixel centre and
    ``myocardium_fraction`` the area fraction of LV myocardium per pixel.
    """

    t1_ms: np.ndarray
    t2_ms: np.ndarray
    pd: np.ndarray
    supersample: int
    labels: np.ndarray
    t1_true_ms: np.ndarray
    t2_true_ms: np.ndarray
    myocardium_fraction: np.ndarray


def tissue_maps(
    heart: HeartSlice,
    placement: Placement,
    grid: Grid,
    tissue_values: dict[Tissue, tuple[float, float, float]],
    phenotype: Phenotype,
    *,
    supersample: int = 3,
    texture_rng: np.random.Generator | None = None,
    contrast: PostContrast | None = None,
) -> TissueMaps:
    """Evaluate labels and (T1, T2, PD) for every sub-pixel of the image.

    ``supersample`` must be odd so that one sub-pixel sits on the pixel centre.
    With ``texture_rng``, T1, T2 and PD vary smoothly within each tissue (see
    :data:`TEXTURE`); the truth maps include that variation.  With
    ``contrast`` T1 is the post-contrast T1 (:func:`~myomap.phantom.tissues.post_contrast_t1`).
    """
    if supersample < 1 or supersample % 2 == 0:
        raise ValueError(f"supersample must be a positive odd number, got {supersample}")
    rows, cols = grid.shape
    dy, dx = grid.spacing_mm
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    ys = ((np.arange(rows)[:, None] + offsets[None, :]).ravel() * dy)[:, None]
    xs = ((np.arange(cols)[:, None] + offsets[None, :]).ravel() * dx)[None, :]
    u, v = placement.to_anatomical(xs, ys)
    labels, theta, s = label_points(heart, u, v)
    lesion = lesion_mask(heart, labels, theta, s)

    lut = np.array([tissue_values[Tissue(i)] for i in range(len(Tissue))])  # (n_tissues, 3)
    t1, t2, pd = (lut[labels, k] for k in range(3))
    muscle = (labels == Tissue.LV_MYOCARDIUM) | (labels == Tissue.PAPILLARY)
    t1 = np.where(muscle, t1 * (1.0 + phenotype.diffuse_t1), t1)
    t2 = np.where(muscle, t2 * (1.0 + phenotype.diffuse_t2), t2)
    t1 = np.where(lesion, t1 * (1.0 + phenotype.focal_t1), t1)
    t2 = np.where(lesion, t2 * (1.0 + phenotype.focal_t2), t2)
    if texture_rng is not None:
        amplitude = np.array([TEXTURE.get(Tissue(i), (0.0, 0.0, 0.0)) for i in range(len(Tissue))])[labels]
        for k, values in enumerate((t1, t2, pd)):
            field = _smooth_field(grid, texture_rng, scale_mm=6.0)
            values *= np.clip(1.0 + amplitude[..., k] * np.kron(field, np.ones((supersample, supersample))), 0.2, 3.0)

    if contrast is not None:
        t1 = post_contrast_t1(t1, labels, contrast)
    centre = supersample // 2
    at_centre = (slice(centre, None, supersample), slice(centre, None, supersample))
    return TissueMaps(
        t1_ms=t1,
        t2_ms=t2,
        pd=pd,
        supersample=supersample,
        labels=labels[at_centre].copy(),
        t1_true_ms=t1[at_centre].copy(),
        t2_true_ms=t2[at_centre].copy(),
        myocardium_fraction=block_mean((labels == Tissue.LV_MYOCARDIUM).astype(float), supersample),
    )


# Relative SD of the smooth within-tissue variation of (T1, T2, PD): tissue
# heterogeneity, small vessels, flow and oxygenation in blood.
TEXTURE: dict[Tissue, tuple[float, float, float]] = {
    Tissue.LUNG: (0.05, 0.08, 0.5),
    Tissue.SUBCUTANEOUS_FAT: (0.04, 0.05, 0.05),
    Tissue.MUSCLE: (0.03, 0.04, 0.05),
    Tissue.LIVER: (0.03, 0.04, 0.04),
    Tissue.BONE_MARROW: (0.08, 0.06, 0.1),
    Tissue.AORTA_BLOOD: (0.01, 0.04, 0.03),
    Tissue.EPICARDIAL_FAT: (0.04, 0.05, 0.05),
    Tissue.RV_BLOOD: (0.01, 0.04, 0.03),
    Tissue.RV_WALL: (0.012, 0.02, 0.02),
    Tissue.LV_BLOOD: (0.01, 0.04, 0.03),
    Tissue.LV_MYOCARDIUM: (0.012, 0.02, 0.02),
    Tissue.PAPILLARY: (0.012, 0.02, 0.02),
    Tissue.PERICARDIUM: (0.03, 0.04, 0.05),
    Tissue.STOMACH: (0.06, 0.08, 0.1),
    Tissue.SPLEEN: (0.03, 0.04, 0.04),
    Tissue.OUTFLOW_BLOOD: (0.01, 0.06, 0.03),
}


def _smooth_field(grid: Grid, rng: np.random.Generator, scale_mm: float) -> np.ndarray:
    """Gaussian random field on the image grid with unit SD and correlation length ~``scale_mm``."""
    sigma = (scale_mm / grid.spacing_mm[0], scale_mm / grid.spacing_mm[1])
    field = ndimage.gaussian_filter(rng.standard_normal(grid.shape), sigma, mode="wrap")
    return field / max(float(field.std()), 1e-12)


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor``×``factor`` blocks over the last two axes."""
    *lead, h, w = image.shape
    return image.reshape(*lead, h // factor, factor, w // factor, factor).mean(axis=(-3, -1))


@dataclass(frozen=True)
class Acquisition:
    """How one series of weighted images is acquired.

    ``noise_sd`` is the standard deviation of each of the real and imaginary
    noise channels, in signal units; ``shifts_px`` one (row, col) shift per
    image; ``coil`` the receive sensitivity (image shape).
    """

    noise_sd: float
    shifts_px: np.ndarray
    coil: np.ndarray
    artefact: str = "none"
    artefact_seed: int = 0


def coil_sensitivity(grid: Grid, placement: Placement, rng: np.random.Generator) -> np.ndarray:
    """Smooth receive-coil shading: strong near the anterior chest coil, weaker posteriorly."""
    rows, cols = grid.shape
    dy, dx = grid.spacing_mm
    y, x = np.mgrid[0:rows, 0:cols].astype(float)
    u, v = placement.to_anatomical(x * dx, y * dy)
    anterior = rng.uniform(60, 100)
    width = rng.uniform(110, 160)
    shading = 0.45 + 0.75 * np.exp(-((v - anterior) ** 2 + (0.6 * (u - rng.uniform(-30, 30))) ** 2) / (2 * width**2))
    tilt = 1.0 + rng.uniform(-0.12, 0.12) * u / 150.0
    return shading * tilt


def acquire(
    signed: np.ndarray,
    times_ms: np.ndarray,
    acquisition: Acquisition,
    grid: Grid,
    placement: Placement,
    heart: HeartSlice,
    rng: np.random.Generator,
) -> np.ndarray:
    """Turn noise-free signed pixel signals ``(n, rows, cols)`` into magnitude images.

    Steps, in the order a scanner sees them: receive shading, per-image
    misregistration, artefact, complex noise, magnitude.
    """
    images = signed * acquisition.coil[None]
    images = np.stack([ndimage.shift(img, shift, order=1, mode="nearest") for img, shift in zip(images, acquisition.shifts_px)])
    art_rng = np.random.default_rng(acquisition.artefact_seed)
    if acquisition.artefact == "motion":
        images = _lateral_motion(images, grid, placement, heart, art_rng)
    elif acquisition.artefact == "offres_band":
        images = images * _offresonance_band(times_ms, grid, placement, art_rng)
    noise = rng.standard_normal((2, *images.shape)) * acquisition.noise_sd
    return np.hypot(images + noise[0], noise[1])


def _lateral_motion(images: np.ndarray, grid: Grid, placement: Placement, heart: HeartSlice, rng: np.random.Generator) -> np.ndarray:
    """Blur and displace the lateral wall in some of the images (through-plane and respiratory motion)."""
    rows, cols = grid.shape
    dy, dx = grid.spacing_mm
    r_lat = float(heart.epi_radius(np.array([0.0]))[0])
    cx, cy = placement.to_image(np.array(r_lat), np.array(0.0))
    y, x = np.mgrid[0:rows, 0:cols].astype(float)
    weight = np.exp(-(((x * dx - cx) ** 2 + (y * dy - cy) ** 2) / (2 * 14.0**2)))
    out = images.copy()
    n = images.shape[0]
    hit = rng.choice(n, size=max(2, n // 2), replace=False)
    for k in hit:
        amplitude_mm = rng.uniform(2.0, 4.5)
        angle = rng.uniform(0, 2 * np.pi)
        disp_y = weight * amplitude_mm * np.sin(angle) / dy
        disp_x = weight * amplitude_mm * np.cos(angle) / dx
        warped = ndimage.map_coordinates(images[k], [y + disp_y, x + disp_x], order=1, mode="nearest")
        blurred = ndimage.gaussian_filter(warped, sigma=rng.uniform(0.8, 1.6))
        out[k] = weight * blurred + (1 - weight) * images[k]
    return out


def _offresonance_band(times_ms: np.ndarray, grid: Grid, placement: Placement, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative signal loss along an off-resonance band, growing with T2-prep duration.

    Off-resonant spins dephase during the T2 preparation, so the loss grows
    with its duration and the fitted T2 drops inside the band.
    """
    rows, cols = grid.shape
    dy, dx = grid.spacing_mm
    y, x = np.mgrid[0:rows, 0:cols].astype(float)
    angle = rng.uniform(0, np.pi)
    offset = rng.uniform(-25, 25)
    distance = (x * dx - placement.centre_x_mm) * np.cos(angle) + (y * dy - placement.centre_y_mm) * np.sin(angle) - offset
    band = np.exp(-0.5 * (distance / rng.uniform(2.0, 4.0)) ** 2)
    depth = rng.uniform(0.35, 0.7)
    t_max = max(float(np.max(times_ms)), 1.0)
    loss = depth * (0.25 + 0.75 * np.asarray(times_ms, dtype=float) / t_max)
    return 1.0 - loss[:, None, None] * band[None]
