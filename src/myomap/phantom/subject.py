"""One simulated subject, in memory: its drawn anatomy and tissues, and each simulated image.

A subject is drawn from its own random stream (:func:`draw_subject`); each
image is then simulated from the subject and the same stream
(:func:`simulate_image`): slice placement, tissue maps, the weighted images
of the sequence with coil, noise, shift and artefact, the pixel-wise fitted
map, the noise-free truth and the observers' contours.  Nothing is written
here; :mod:`myomap.phantom.writer` writes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from myomap.io.contours import Contours
from myomap.mapping.fit import fit_inversion_recovery, fit_t2
from myomap.phantom.anatomy import Placement
from myomap.phantom.drawing import SubjectAnatomy, draw_anatomy
from myomap.phantom.observers import ObserverStyle, draw_contours
from myomap.phantom.render import Acquisition, Grid, TissueMaps, acquire, block_mean, coil_sensitivity, tissue_maps
from myomap.phantom.sequences import MolliProtocol, molli_signal, t2prep_signal
from myomap.phantom.settings import FIELDS, SimulationConfig
from myomap.phantom.tissues import Phenotype, PostContrast, Tissue, draw_phenotype, draw_subject_tissues

# Stored value of the reference myocardium signal in the weighted images.
_WEIGHTED_LEVEL = 500.0


def subject_name(index: int) -> str:
    return f"sub-{index + 1:03d}"


@dataclass(frozen=True)
class Subject:
    """What is drawn once per subject; every image of the subject is simulated from it."""

    name: str
    split: str
    field_t: float
    phenotype: Phenotype
    heart_rate_bpm: float
    tissues: dict
    anatomy: SubjectAnatomy
    grid: Grid
    angle_deg: float
    centre_mm: tuple[float, float]
    observers: tuple[ObserverStyle, ...]
    post: PostContrast | None = None


def draw_subject(index: int, config: SimulationConfig, split: str, rng: np.random.Generator) -> Subject:
    fields_t = FIELDS[config.field]
    field_t = fields_t[index % len(fields_t)] if config.field == "mixed" else fields_t[0]
    phenotype = draw_phenotype(rng)
    spacing = rng.uniform(1.2, 2.0)
    spacing_mm = (spacing * rng.uniform(1.05, 1.25), spacing) if rng.random() < 0.1 else (spacing, spacing)
    fov_x = rng.uniform(300, 400)
    cols = int(np.clip(round(fov_x / spacing_mm[1] / 16) * 16, 160, 320))
    rows = int(round(cols * rng.choice([0.75, 0.8125, 0.875, 1.0]) / 16) * 16)
    grid = Grid((rows, cols), spacing_mm)
    centre = (cols * spacing_mm[1] / 2 + rng.normal(0, 12), rows * spacing_mm[0] / 2 + rng.normal(0, 10))
    n_observers = 3 if split == "test" else 1
    observers = (ObserverStyle.reference(rng),) + tuple(ObserverStyle.other(rng) for _ in range(n_observers - 1))
    return Subject(
        name=subject_name(index),
        split=split,
        field_t=field_t,
        phenotype=phenotype,
        heart_rate_bpm=rng.uniform(58, 82),
        tissues=draw_subject_tissues(field_t, rng),
        anatomy=draw_anatomy(phenotype, rng),
        grid=grid,
        angle_deg=rng.uniform(-30, 30),
        centre_mm=centre,
        observers=observers,
    )


@dataclass
class ImageResult:
    """One simulated map with its weighted images, truth and contours (in memory)."""

    times_ms: np.ndarray
    weighted: np.ndarray  # (n, rows, cols), stored units
    map_ms: np.ndarray
    truth: dict
    contours: list[Contours]
    artefact: str
    spacing_mm: tuple[float, float]


def simulate_image(
    subject: Subject,
    config: SimulationConfig,
    map_type: str,
    position: str,
    rng: np.random.Generator,
    *,
    post: bool = False,
    anatomy_rng: np.random.Generator | None = None,
) -> ImageResult:
    """One image; ``anatomy_rng`` (default ``rng``) draws the slice placement and the tissue texture."""
    heart = subject.anatomy.slices[position]
    level_shift = {"basal": (0.0, 0.0), "mid": (2.0, 3.0), "apical": (5.0, 7.0)}[position]
    arng = rng if anatomy_rng is None else anatomy_rng
    placement = Placement(
        subject.centre_mm[0] + level_shift[0] + arng.normal(0, 2.0),
        subject.centre_mm[1] + level_shift[1] + arng.normal(0, 2.0),
        subject.angle_deg + arng.normal(0, 3.0),
    )
    contrast = subject.post if post else None
    maps = tissue_maps(
        heart,
        placement,
        subject.grid,
        subject.tissues,
        subject.phenotype,
        supersample=config.supersample,
        texture_rng=arng,
        contrast=contrast,
    )
    myo_t1, myo_t2, myo_pd = subject.tissues[Tissue.LV_MYOCARDIUM]
    if contrast is not None:
        myo_t1 = 1.0 / (1.0 / myo_t1 + contrast.partition(Tissue.LV_MYOCARDIUM) * contrast.delta_r1_blood_per_ms)
    if map_type == "T1":
        protocol = MolliProtocol(heart_rate_bpm=subject.heart_rate_bpm)
        times, signed = molli_signal(protocol, maps.t1_ms, maps.t2_ms, maps.pd)
        reference = abs(float(molli_signal(protocol, myo_t1, myo_t2, myo_pd)[1][-1]))
        snr = rng.uniform(*config.snr_t1)
    else:
        times, signed = t2prep_signal(maps.t2_ms, maps.pd)
        reference = float(myo_pd)
        snr = rng.uniform(*config.snr_t2)
    signed = block_mean(signed, maps.supersample)

    artefact = "none"
    if rng.random() < config.artefact_fraction:
        artefact = "motion" if map_type == "T1" or rng.random() < 0.5 else "offres_band"
    coil = coil_sensitivity(subject.grid, placement, rng)
    shifts = np.clip(rng.normal(0.0, 1.0, (times.size, 2)), -3.0, 3.0) * config.misregistration_px
    acquisition = Acquisition(
        noise_sd=reference / snr,
        shifts_px=shifts,
        coil=coil,
        artefact=artefact,
        artefact_seed=int(rng.integers(2**31)),
    )
    magnitude = acquire(signed, times, acquisition, subject.grid, placement, heart, rng)
    weighted = np.clip(np.rint(magnitude * (_WEIGHTED_LEVEL / reference)), 0, 65535)

    map_ms, truth = _fit_and_truth(map_type, weighted, times, maps, subject.heart_rate_bpm)
    contours = [draw_contours(heart, placement, subject.grid.spacing_mm, style, rng) for style in subject.observers]
    return ImageResult(times, weighted, map_ms, truth, contours, artefact, subject.grid.spacing_mm)


def _fit_and_truth(
    map_type: str, weighted: np.ndarray, times: np.ndarray, maps: TissueMaps, heart_rate_bpm: float
) -> tuple[np.ndarray, dict]:
    """The map fitted pixel-wise from the weighted images, and the noise-free truth of the image."""
    truth = {
        "t1_true_ms": maps.t1_true_ms.astype(np.float32),
        "t2_true_ms": maps.t2_true_ms.astype(np.float32),
        "labels": maps.labels,
        "myocardium_fraction": maps.myocardium_fraction.astype(np.float32),
    }
    if map_type == "T2":
        return fit_t2(weighted, times).t2_ms, truth
    protocol = MolliProtocol(heart_rate_bpm=heart_rate_bpm)
    truth["t1_molli_ms"] = _noise_free_molli(protocol, maps.t1_true_ms, maps.t2_true_ms).astype(np.float32)
    return fit_inversion_recovery(weighted, times).t1_ms, truth


def _noise_free_molli(protocol: MolliProtocol, t1_ms: np.ndarray, t2_ms: np.ndarray) -> np.ndarray:
    """The MOLLI map a scanner would fit from noise-free signals of each pixel-centre tissue.

    The apparent-to-true T1 ratio is a smooth function of (T1, T2); it is
    fitted on a log-spaced grid and interpolated, instead of fitting every pixel.
    """
    from scipy.interpolate import RegularGridInterpolator

    log_t1, log_t2 = np.log(t1_ms), np.log(t2_ms)
    axes = [np.linspace(v.min() - 1e-3, v.max() + 1e-3, 32) for v in (log_t1, log_t2)]
    g1, g2 = np.meshgrid(np.exp(axes[0]), np.exp(axes[1]), indexing="ij")
    times, signed = molli_signal(protocol, g1, g2, 1.0)
    ratio = fit_inversion_recovery(np.abs(signed), times).t1_ms / g1
    interpolate = RegularGridInterpolator(axes, ratio)
    return t1_ms * interpolate(np.column_stack([log_t1.ravel(), log_t2.ravel()])).reshape(t1_ms.shape)
