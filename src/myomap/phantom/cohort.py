"""Simulate a whole cohort and write it in the data layout of ``docs/data_layout.md``.

Subjects are independent: each gets its own random stream spawned from the
cohort seed, is simulated in a worker process and streamed to disk, so the
output does not depend on the number of workers and memory does not grow
with the cohort.  The whole cohort is written into a temporary folder beside
``out`` and renamed into place at the end: an interrupted run leaves nothing
under ``out``.

This module is the orchestration (output folder, process pool, the order of
each subject's images); drawing and simulating a subject live in
:mod:`myomap.phantom.subject`, writing it in :mod:`myomap.phantom.writer`,
the settings in :mod:`myomap.phantom.settings`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from myomap.conventions import MAP_TYPES
from myomap.io.files import atomic_write_text
from myomap.phantom.anatomy import SLICE_POSITIONS
from myomap.phantom.settings import FIELDS, SimulationConfig, SimulationError
from myomap.phantom.subject import Subject, draw_subject, simulate_image, subject_name
from myomap.phantom.tissues import Tissue, draw_post_contrast
from myomap.phantom.writer import MANIFEST_COLUMNS, SUBJECT_COLUMNS, ImageSlot, SaxGeometry, csv_text, subject_row, write_image

__all__ = [
    "FIELDS",
    "MANIFEST_COLUMNS",
    "MAP_TYPES",
    "SUBJECT_COLUMNS",
    "SimulationConfig",
    "SimulationError",
    "assign_splits",
    "simulate_cohort",
    "simulate_subject",
    "subject_name",
]


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
    staging = _staging_folder(out, overwrite)
    try:
        _simulate_into(staging, config, preview=preview, workers=workers, progress=progress)
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except OSError as exc:
        raise SimulationError(f"{out}: writing failed ({exc.strerror or exc}); nothing was written") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out / "manifest.csv"


def _staging_folder(out: Path, overwrite: bool) -> Path:
    """A new temporary folder beside ``out``, after checking that ``out`` may be (re)placed."""
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
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
    except OSError as exc:
        raise SimulationError(f"{out}: cannot write there ({exc.strerror or exc})") from None


def _simulate_into(
    staging: Path, config: SimulationConfig, *, preview: bool, workers: int | None, progress: Callable[[str], None] | None
) -> None:
    """Every subject, then the cohort tables and settings, into ``staging``."""
    splits = assign_splits(config)
    seeds = np.random.SeedSequence(config.seed).spawn(config.subjects)
    n_workers = max(1, min(workers or os.cpu_count() or 1, config.subjects))
    jobs = [(i, config, splits[i], seeds[i], staging, preview) for i in range(config.subjects)]
    manifest_rows: list[dict] = []
    subject_rows: list[dict] = []
    if n_workers == 1:
        _collect(map(_simulate_subject_job, jobs), manifest_rows, subject_rows, progress)
    else:
        with ProcessPoolExecutor(max_workers=n_workers) as pool:
            _collect(pool.map(_simulate_subject_job, jobs), manifest_rows, subject_rows, progress)
    atomic_write_text(staging / "manifest.csv", csv_text(MANIFEST_COLUMNS, manifest_rows))
    atomic_write_text(staging / "subjects.csv", csv_text(SUBJECT_COLUMNS, subject_rows))
    atomic_write_text(staging / "simulate.yaml", config.to_yaml())


def _collect(
    results: Iterable[tuple[dict, list[dict]]], manifest_rows: list, subject_rows: list, progress: Callable[[str], None] | None
) -> None:
    for row, rows in results:
        subject_rows.append(row)
        manifest_rows.extend(rows)
        if progress is not None:
            progress(row["subject"])


def _simulate_subject_job(job: tuple) -> tuple[dict, list[dict]]:
    index, config, split, seed, root, preview = job
    return simulate_subject(index, config, split, np.random.default_rng(seed), Path(root), preview=preview)


def simulate_subject(
    index: int, config: SimulationConfig, split: str, rng: np.random.Generator, root: Path, *, preview: bool = False
) -> tuple[dict, list[dict]]:
    """Simulate and write one subject under ``root``; returns its subjects-table row and manifest rows."""
    subject = draw_subject(index, config, split, rng)
    uid_root = f"{config.seed}.{index}"
    study_uid = generate_uid(entropy_srcs=["study", uid_root])
    geometry = SaxGeometry(rng)
    manifest: list[dict] = []
    previews = []
    anatomy_states = {}  # the stream state before each native T1 image: its placement and tissue texture
    for series_number, (map_type, position) in enumerate(((m, p) for m in MAP_TYPES for p in SLICE_POSITIONS), start=1):
        slot = ImageSlot(root, root / subject.name / f"{map_type}_{position}", map_type, position, series_number, study_uid, uid_root)
        if map_type == "T1":
            anatomy_states[position] = rng.bit_generator.state
        result = simulate_image(subject, config, map_type, position, rng)
        manifest.extend(write_image(slot, subject, result, geometry))
        if preview:
            previews.append((map_type, position, result))
    if config.contrast:
        subject = _simulate_post_contrast(subject, config, index, rng, anatomy_states, geometry, root, (study_uid, uid_root))
    if preview:
        from myomap.phantom.preview import write_subject_preview

        write_subject_preview(root / "preview" / f"{subject.name}.png", subject.name, subject.phenotype.name, subject.field_t, previews)
    return subject_row(subject), manifest


def _simulate_post_contrast(
    subject: Subject,
    config: SimulationConfig,
    index: int,
    rng: np.random.Generator,
    anatomy_states: dict,
    geometry: SaxGeometry,
    root: Path,
    uids: tuple[str, str],
) -> Subject:
    """Post-contrast T1 maps from their own random stream, so the native images do not change; returns the subject with its contrast."""
    contrast_rng = np.random.default_rng(np.random.SeedSequence([config.seed, index, 0xC0]))
    subject = replace(subject, post=draw_post_contrast(subject.phenotype, subject.tissues[Tissue.LV_BLOOD][0], contrast_rng))
    for k, position in enumerate(SLICE_POSITIONS, start=len(MAP_TYPES) * len(SLICE_POSITIONS) + 1):
        slot = ImageSlot(root, root / subject.name / f"T1post_{position}", "T1", position, k, *uids, post=True)
        # The same slice placement and tissue texture as the native T1 map (the same tissue), new noise.
        anatomy = np.random.Generator(type(rng.bit_generator)())
        anatomy.bit_generator.state = anatomy_states[position]
        result = simulate_image(subject, config, "T1", position, contrast_rng, post=True, anatomy_rng=anatomy)
        write_image(slot, subject, result, geometry)
    return subject
