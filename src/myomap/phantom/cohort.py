"""Simulate a whole cohort and write it in the data layout of SPEC.md.

Subjects are independent: each gets its own random stream spawned from the
cohort seed, is simulated in a worker process and streamed to disk, so the
output does not depend on the number of workers and memory does not grow
with the cohort.  The whole cohort is written into a temporary folder beside
``out`` and renamed into place at the end: an interrupted run leaves nothing
under ``out``.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from myomap.config import ConfigError, from_yaml, to_yaml
from myomap.io.contours import write_contours
from myomap.io.dicom import MAP_STORAGE, DicomGeometry, SeriesInfo, write_mr_image
from myomap.io.files import atomic_write_text, write_npz
from myomap.mapping.fit import fit_inversion_recovery, fit_t2
from myomap.phantom.anatomy import SLICE_POSITIONS, Placement, SubjectAnatomy, draw_anatomy
from myomap.phantom.observers import ObserverStyle, draw_contours
from myomap.phantom.render import Acquisition, Grid, acquire, block_mean, coil_sensitivity, tissue_maps
from myomap.phantom.sequences import MolliProtocol, molli_signal, t2prep_signal
from myomap.phantom.tissues import Phenotype, PostContrast, Tissue, draw_phenotype, draw_post_contrast, draw_subject_tissues

MAP_TYPES = ("T1", "T2")
FIELDS = {"1.5T": (1.5,), "3T": (3.0,), "mixed": (1.5, 3.0)}
MANIFEST_COLUMNS = (
    "subject", "map_type", "slice", "role", "image", "contours", "contours_obs2", "contours_obs3",
    "split", "time_ms", "truth", "artefact", "field_strength_t",
)  # fmt: skip
SUBJECT_COLUMNS = (
    "subject", "split", "phenotype", "field_strength_t", "heart_rate_bpm",
    "pixel_spacing_row_mm", "pixel_spacing_col_mm", "rows", "cols", "hematocrit", "ecv_percent", "post_blood_t1_ms",
)  # fmt: skip

# Maps are clipped to a scanner-like range before storage.
_MAP_CLIP_MS = {"T1": 4000.0, "T2": 1000.0}
# Stored value of the reference myocardium signal in the weighted images.
_WEIGHTED_LEVEL = 500.0


class SimulationError(RuntimeError):
    """The cohort cannot be written (bad arguments or output folder)."""


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that determines a simulated cohort; saved as ``simulate.yaml``.

    Attributes
    ----------
    subjects : int
        Number of subjects.
    seed : int
        Cohort seed; the same seed gives byte-identical output.
    field : str
        ``"1.5T"`` (the paper's field), ``"3T"`` or ``"mixed"`` (half each).
    artefact_fraction : float
        Share of images with a motion or off-resonance artefact.
    snr_t1, snr_t2 : (float, float)
        Range of the myocardial SNR of the last MOLLI image and of the
        first T2-prep image: the myocardial signal over the per-channel
        noise SD, which is the SD of the magnitude noise at high SNR.
    misregistration_px : float
        SD of the in-plane shift between weighted images, in pixels.
    split : (float, float, float)
        Train / validation / test shares of the patient-level split.
    supersample : int
        Sub-pixels per pixel side for partial volume (odd).
    contrast : bool
        Also simulate post-contrast MOLLI T1 maps (``T1post_<slice>``
        folders, SeriesDescription ``..._post_...``) with a known
        haematocrit and myocardial ECV per subject (subjects.csv), the
        same slice placement and tissue texture as the native T1 maps and
        their own noise.  They
        are not in the manifest (the segmentation data set); the native
        images are byte-identical to a run without it.
    """

    subjects: int = 10
    seed: int = 0
    field: str = "1.5T"
    artefact_fraction: float = 0.15
    snr_t1: tuple[float, float] = (25.0, 45.0)
    snr_t2: tuple[float, float] = (35.0, 57.0)
    misregistration_px: float = 0.3
    split: tuple[float, float, float] = (0.65, 0.20, 0.15)
    supersample: int = 3
    contrast: bool = False

    def validate(self) -> None:
        if self.subjects < 1:
            raise SimulationError(f"--subjects must be at least 1, got {self.subjects}")
        if self.field not in FIELDS:
            raise SimulationError(f"--field must be one of {', '.join(FIELDS)}, got {self.field!r}")
        if not 0.0 <= self.artefact_fraction <= 1.0:
            raise SimulationError(f"artefact fraction must be within [0, 1], got {self.artefact_fraction}")
        if len(self.split) != 3 or min(self.split) < 0 or sum(self.split) <= 0:
            raise SimulationError(f"split must be three non-negative shares, got {self.split}")

    def to_yaml(self) -> str:
        return to_yaml(self)

    @classmethod
    def from_yaml(cls, text: str) -> SimulationConfig:
        try:
            return from_yaml(cls, text)
        except ConfigError as exc:
            raise SimulationError(f"simulation settings: {exc}") from None


def subject_name(index: int) -> str:
    return f"sub-{index + 1:03d}"


def assign_splits(config: SimulationConfig) -> list[str]:
    """Seeded patient-level split: one of train/val/test per subject, in subject order.

    Every split with a positive share gets at least one subject once there
    are enough subjects; test is served first.
    """
    n = config.subjects
    shares = np.asarray(config.split, dtype=float) / sum(config.split)
    n_test = int(round(shares[2] * n))
    n_val = int(round(shares[1] * n))
    if shares[2] > 0 and n >= 2:
        n_test = max(n_test, 1)
    if shares[1] > 0 and n >= 3:
        n_val = max(n_val, 1)
    n_val = min(n_val, n - n_test)
    order = np.random.default_rng(np.random.SeedSequence([config.seed, 0x5EED])).permutation(n)
    labels = np.array(["train"] * n, dtype=object)
    labels[order[:n_test]] = "test"
    labels[order[n_test : n_test + n_val]] = "val"
    return [str(s) for s in labels]


def simulate_cohort(
    out: str | Path,
    config: SimulationConfig,
    *,
    overwrite: bool = False,
    preview: bool = False,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Simulate ``config.subjects`` subjects into ``out``; returns the manifest path.

    Parameters
    ----------
    out : path
        Output folder.  It must not exist or be empty; ``overwrite``
        replaces an earlier simulated cohort (a folder with simulate.yaml).
    preview : bool
        Also write ``preview/<subject>.png`` montages.
    workers : int, optional
        Worker processes; default: the number of CPUs (at most the subjects).
    progress : callable, optional
        Called with each subject's name as it is finished.

    Raises
    ------
    SimulationError
        Invalid configuration, ``out`` non-empty without ``overwrite``, or
        ``out`` not writable.
    """
    config.validate()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SimulationError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise SimulationError(f"{out}: folder exists and is not empty (use --overwrite to replace it)")
        if not (out / "simulate.yaml").is_file():
            raise SimulationError(f"{out}: --overwrite only replaces a simulated cohort (with simulate.yaml); this folder is not one")
    parent = out.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
    except OSError as exc:
        raise SimulationError(f"{out}: cannot write there ({exc.strerror or exc})") from None

    try:
        splits = assign_splits(config)
        seeds = np.random.SeedSequence(config.seed).spawn(config.subjects)
        n_workers = max(1, min(workers or os.cpu_count() or 1, config.subjects))
        jobs = [(i, config, splits[i], seeds[i], staging, preview) for i in range(config.subjects)]
        manifest_rows: list[dict] = []
        subject_rows: list[dict] = []
        if n_workers == 1:
            results = map(_simulate_subject_job, jobs)
            _collect(results, manifest_rows, subject_rows, progress)
        else:
            with ProcessPoolExecutor(max_workers=n_workers) as pool:
                _collect(pool.map(_simulate_subject_job, jobs), manifest_rows, subject_rows, progress)
        atomic_write_text(staging / "manifest.csv", _csv(MANIFEST_COLUMNS, manifest_rows))
        atomic_write_text(staging / "subjects.csv", _csv(SUBJECT_COLUMNS, subject_rows))
        atomic_write_text(staging / "simulate.yaml", config.to_yaml())
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except OSError as exc:
        raise SimulationError(f"{out}: writing failed ({exc.strerror or exc}); nothing was written") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out / "manifest.csv"


def _collect(results, manifest_rows: list, subject_rows: list, progress) -> None:
    for subject_row, rows in results:
        subject_rows.append(subject_row)
        manifest_rows.extend(rows)
        if progress is not None:
            progress(subject_row["subject"])


def _csv(columns: tuple[str, ...], rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    return buffer.getvalue()


# --- one subject ------------------------------------------------------------------


@dataclass(frozen=True)
class _Subject:
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


def _draw_subject(index: int, config: SimulationConfig, split: str, rng: np.random.Generator) -> _Subject:
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
    return _Subject(
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


def _simulate_subject_job(job) -> tuple[dict, list[dict]]:
    index, config, split, seed, root, preview = job
    return simulate_subject(index, config, split, np.random.default_rng(seed), Path(root), preview=preview)


def simulate_subject(
    index: int, config: SimulationConfig, split: str, rng: np.random.Generator, root: Path, *, preview: bool = False
) -> tuple[dict, list[dict]]:
    """Simulate and write one subject under ``root``; returns its subjects-table row and manifest rows."""
    subject = _draw_subject(index, config, split, rng)
    uid_root = f"{config.seed}.{index}"
    study_uid = generate_uid(entropy_srcs=["study", uid_root])
    geometry = _SaxGeometry(rng)
    manifest: list[dict] = []
    previews = []
    anatomy_states = {}  # the stream state before each native T1 image: its placement and tissue texture
    for series_number, (map_type, position) in enumerate(((m, p) for m in MAP_TYPES for p in SLICE_POSITIONS), start=1):
        folder = root / subject.name / f"{map_type}_{position}"
        folder.mkdir(parents=True, exist_ok=True)
        if map_type == "T1":
            anatomy_states[position] = rng.bit_generator.state
        result = _simulate_image(subject, config, map_type, position, rng)
        rows = _write_image(folder, root, subject, map_type, position, result, geometry, study_uid, uid_root, series_number)
        manifest.extend(rows)
        if preview:
            previews.append((map_type, position, result))
    if config.contrast:  # its own random stream, so the native images do not change
        contrast_rng = np.random.default_rng(np.random.SeedSequence([config.seed, index, 0xC0]))
        subject = replace(subject, post=draw_post_contrast(subject.phenotype, subject.tissues[Tissue.LV_BLOOD][0], contrast_rng))
        for k, position in enumerate(SLICE_POSITIONS, start=len(MAP_TYPES) * len(SLICE_POSITIONS) + 1):
            folder = root / subject.name / f"T1post_{position}"
            folder.mkdir(parents=True, exist_ok=True)
            # The same slice placement and tissue texture as the native T1 map (the same tissue), new noise.
            anatomy = np.random.Generator(type(rng.bit_generator)())
            anatomy.bit_generator.state = anatomy_states[position]
            result = _simulate_image(subject, config, "T1", position, contrast_rng, post=True, anatomy_rng=anatomy)
            _write_image(folder, root, subject, "T1", position, result, geometry, study_uid, uid_root, k, post=True)
    if preview:
        from myomap.phantom.preview import write_subject_preview

        write_subject_preview(root / "preview" / f"{subject.name}.png", subject.name, subject.phenotype.name, subject.field_t, previews)
    subject_row = {
        "subject": subject.name,
        "split": subject.split,
        "phenotype": subject.phenotype.name,
        "field_strength_t": subject.field_t,
        "heart_rate_bpm": f"{subject.heart_rate_bpm:.1f}",
        "pixel_spacing_row_mm": f"{subject.grid.spacing_mm[0]:.4f}",
        "pixel_spacing_col_mm": f"{subject.grid.spacing_mm[1]:.4f}",
        "rows": subject.grid.shape[0],
        "cols": subject.grid.shape[1],
    }
    if subject.post is not None:
        subject_row["hematocrit"] = f"{subject.post.hematocrit:.4f}"
        subject_row["ecv_percent"] = f"{100 * subject.post.ecv:.3f}"
        post_blood = 1.0 / (1.0 / subject.tissues[Tissue.LV_BLOOD][0] + subject.post.delta_r1_blood_per_ms)
        subject_row["post_blood_t1_ms"] = f"{post_blood:.1f}"
    return subject_row, manifest


@dataclass
class ImageResult:
    """One simulated map with its weighted images, truth and contours (in memory)."""

    times_ms: np.ndarray
    weighted: np.ndarray  # (n, rows, cols), stored units
    map_ms: np.ndarray
    truth: dict
    contours: list
    artefact: str
    spacing_mm: tuple[float, float]


def _simulate_image(
    subject: _Subject,
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
        heart, placement, subject.grid, subject.tissues, subject.phenotype, supersample=config.supersample, texture_rng=arng, contrast=contrast
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

    truth = {
        "t1_true_ms": maps.t1_true_ms.astype(np.float32),
        "t2_true_ms": maps.t2_true_ms.astype(np.float32),
        "labels": maps.labels,
        "myocardium_fraction": maps.myocardium_fraction.astype(np.float32),
    }
    if map_type == "T1":
        fit = fit_inversion_recovery(weighted, times)
        map_ms = fit.t1_ms
        truth["t1_molli_ms"] = _noise_free_molli(protocol, maps.t1_true_ms, maps.t2_true_ms).astype(np.float32)
    else:
        map_ms = fit_t2(weighted, times).t2_ms
    contours = [draw_contours(heart, placement, subject.grid.spacing_mm, style, rng) for style in subject.observers]
    return ImageResult(times, weighted, map_ms, truth, contours, artefact, subject.grid.spacing_mm)


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


class _SaxGeometry:
    """Patient-frame (LPS) geometry of a subject's short-axis stack.

    The LV long axis points from base to apex: to the patient's left,
    anterior and inferior.  Basal, mid and apical slices sit along it.
    """

    def __init__(self, rng: np.random.Generator):
        normal = np.array([0.6, -0.45, -0.65]) + rng.normal(0, 0.08, 3)
        self.normal = normal / np.linalg.norm(normal)
        left = np.array([1.0, 0.0, 0.0])
        row_dir = left - np.dot(left, self.normal) * self.normal
        self.row_dir = row_dir / np.linalg.norm(row_dir)
        self.col_dir = np.cross(self.normal, self.row_dir)
        if self.col_dir[1] < 0:  # image down should point posterior
            self.col_dir = -self.col_dir
        self.centre = np.array([20.0, -10.0, -30.0]) + rng.normal(0, 10, 3)
        gap = rng.uniform(16, 24)
        self.offsets = {"basal": -gap, "mid": 0.0, "apical": gap}

    def dicom(self, position: str, placement_mm: tuple[float, float], spacing_mm: tuple[float, float]) -> DicomGeometry:
        centre = self.centre + self.normal * self.offsets[position]
        top_left = centre - placement_mm[0] * self.row_dir - placement_mm[1] * self.col_dir
        return DicomGeometry(
            spacing_mm=spacing_mm,
            orientation=tuple(self.row_dir) + tuple(self.col_dir),
            position_mm=tuple(top_left),
        )


def _write_image(
    folder: Path,
    root: Path,
    subject: _Subject,
    map_type: str,
    position: str,
    result: ImageResult,
    geometry: _SaxGeometry,
    study_uid: str,
    uid_root: str,
    series_number: int,
    *,
    post: bool = False,
) -> list[dict]:
    rel = folder.relative_to(root).as_posix()
    contour_names = ["contours.json", "contours_obs2.json", "contours_obs3.json"][: len(result.contours)]
    for name, contours in zip(contour_names, result.contours):
        write_contours(folder / name, contours)
    write_npz(folder / "truth.npz", **result.truth)

    centre_px = np.mean(result.contours[0].epi, axis=0)
    dgeom = geometry.dicom(position, (centre_px[0] * result.spacing_mm[1], centre_px[1] * result.spacing_mm[0]), result.spacing_mm)
    common = {
        "subject": subject.name,
        "map_type": map_type,
        "slice": position,
        "contours": f"{rel}/contours.json",
        "contours_obs2": f"{rel}/contours_obs2.json" if len(contour_names) > 1 else "",
        "contours_obs3": f"{rel}/contours_obs3.json" if len(contour_names) > 2 else "",
        "split": subject.split,
        "truth": f"{rel}/truth.npz",
        "artefact": result.artefact,
        "field_strength_t": subject.field_t,
    }
    sequence = "MOLLI" if map_type == "T1" else "T2prep_bSSFP"
    label, uid_type = (f"post_{position}", f"{map_type}post") if post else (position, map_type)

    def series(kind: str, number: int, image_type: tuple[str, ...], description: str) -> SeriesInfo:
        return SeriesInfo(
            patient_id=subject.name,
            patient_name=f"Phantom^{subject.name}",
            study_uid=study_uid,
            series_uid=generate_uid(entropy_srcs=["series", uid_root, uid_type, position, kind]),
            series_number=number,
            series_description=description,
            image_type=image_type,
            field_strength_t=subject.field_t,
            heart_rate_bpm=subject.heart_rate_bpm,
        )

    rows = []
    weighted_series = series("weighted", 100 + series_number, ("ORIGINAL", "PRIMARY", "M", "ND"), f"{sequence}_{label}")
    for k, (t, image) in enumerate(zip(result.times_ms, result.weighted), start=1):
        name = f"weighted_{k}.dcm"
        write_mr_image(
            folder / name,
            image,
            geometry=dgeom,
            series=weighted_series,
            instance_number=k,
            sop_uid=generate_uid(entropy_srcs=["image", uid_root, uid_type, position, str(k)]),
            inversion_time_ms=float(t) if map_type == "T1" else None,
            t2prep_ms=float(t) if map_type == "T2" else None,
        )
        rows.append({**common, "role": "weighted", "image": f"{rel}/{name}", "time_ms": f"{t:.2f}"})

    slope, window = MAP_STORAGE[map_type]
    map_series = series("map", 200 + series_number, ("DERIVED", "PRIMARY", f"{map_type} MAP"), f"{sequence}_{map_type}_MAP_{label}")
    write_mr_image(
        folder / "map.dcm",
        np.clip(result.map_ms, 0.0, _MAP_CLIP_MS[map_type]),
        geometry=dgeom,
        series=map_series,
        instance_number=1,
        sop_uid=generate_uid(entropy_srcs=["map", uid_root, uid_type, position]),
        slope=slope,
        window=window,
    )
    rows.insert(0, {**common, "role": "map", "image": f"{rel}/map.dcm", "time_ms": ""})
    return rows
