"""Fit maps from DICOM weighted-image series and write them: the API behind ``myomap fit``."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from myomap.io import vendor
from myomap.io.archives import unpacked_archives
from myomap.io.dicom import DicomError, write_derived_map
from myomap.io.files import atomic_write_text, write_npz
from myomap.io.series_kind import find_dicom_files
from myomap.mapping.fit import T1Fit, T2Fit, estimate_noise_sd, fit_inversion_recovery, fit_t2
from myomap.mapping.preview import fit_preview
from myomap.mapping.register import register_translation
from myomap.mapping.series import MODELS, MissingTimesError, SeriesError, WeightedSeries, group_series, read_series

MAP_KIND = {"molli": "T1", "ir": "T1", "t2": "T2"}


@dataclass(frozen=True)
class FitOutcome:
    """What was fitted for one series and where it was written."""

    name: str
    model: str
    times_ms: tuple[float, ...]
    time_source: str
    folder: Path
    median_r2: float
    fitted_fraction: float
    shifts_px: np.ndarray | None = None
    noise_sd: float | None = None
    median_residual_sd: float = float("nan")
    median_residual_rel: float = float("nan")


@dataclass
class FitReport:
    """All outcomes of a run, and one error line per input that failed."""

    outcomes: list[FitOutcome]
    errors: list[str]
    notes: list[str]


def background_mask(images: np.ndarray, fraction: float = 0.08) -> np.ndarray:
    """Pixels worth fitting: brightest weighted value above ``fraction`` of the image's 99th percentile (NaN as 0)."""
    peak = np.max(np.nan_to_num(images, nan=0.0, posinf=0.0, neginf=0.0), axis=0)
    return peak > fraction * np.percentile(peak, 99)


MIN_IMAGES = {"molli": 5, "ir": 4, "t2": 3}
"""Fewest images a fit accepts: MOLLI needs at least 5 for a stable three-parameter fit with polarity
restoration (schemes such as 5(3)3 give 8); plain IR and T2 need one more than their parameters, T2 its
three T2-prep times."""


def fit_series(series: WeightedSeries, model: str, *, mask: np.ndarray | None = None, noise_sd: float | None = None) -> T1Fit | T2Fit:
    """Fit one series with ``model`` (``molli``, ``ir`` or ``t2``); pixels outside ``mask`` are NaN.

    Raises :class:`SeriesError` when the series has fewer images than :data:`MIN_IMAGES` asks for.
    """
    n = len(series.times_ms)
    if n < MIN_IMAGES[model]:
        raise SeriesError(f"{series.name}: a {model.upper()} fit needs at least {MIN_IMAGES[model]} images, this series has {n}")
    if model in ("molli", "ir"):
        return fit_inversion_recovery(series.images, series.times_ms, look_locker=model == "molli", mask=mask, noise_sd=noise_sd)
    return fit_t2(series.images, series.times_ms, mask=mask, noise_sd=noise_sd)


def fit_paths(
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    model: str = "auto",
    times_ms: Sequence[float] | None = None,
    keep_phi: bool = False,
    mask_background: bool = True,
    noise_correction: bool = False,
    register: bool = False,
    progress: Callable[[str, int], None] | None = None,
    hide_paths: Callable[[list[Path]], Callable[[str], str]] | None = None,
) -> FitReport:
    """Find, group, fit and write every series under ``inputs``.

    ``model="auto"`` takes MOLLI when the images carry inversion times and
    T2 when they carry T2-preparation times; plain inversion recovery must be
    asked for (``"ir"``); with ``auto`` and no ``times_ms``, series without
    any preparation times (localisers, cine in an exam folder) are skipped
    with one note.  The plain signal model is fitted, as scanners and
    other toolboxes do; ``noise_correction`` (opt-in) removes the Rician
    noise floor, estimated from the background, before fitting: only
    trustworthy for single-coil magnitude data with an unblanked
    background, not for parallel-imaging reconstructions, whose noise is
    not Rician nor uniform.  The sigma used is recorded in fits.csv.  A series that cannot be fitted gives an error line
    and the others go on.  ``progress(name, total)`` is called once per
    series.  Writes ``OUT/<series>/{map,r2}.dcm``, ``fit.npz``,
    ``preview.png`` and ``OUT/fits.csv``.  ZIP archives among ``inputs``, in
    them or in input folders are read as the folders they hold
    (:mod:`myomap.io.archives`); messages name their files
    ``archive.zip!/path/inside`` and ``folder/inner.zip/path/inside``, or,
    given ``hide_paths`` (called with the inputs and their unpacked copies,
    it returns what rewrites a message), as it says.
    """
    if model != "auto" and model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose auto or one of {', '.join(MODELS)}")
    if times_ms is not None and model == "auto":
        raise ValueError("--times needs an explicit --model (molli, ir or t2)")
    options = (model, times_ms, keep_phi, mask_background, noise_correction, register, progress)
    with unpacked_archives(inputs) as readable:
        report = _fit_found(readable.inputs, Path(out), *options)
        if hide_paths is not None:  # while the archives' copies are on disk: paths inside them are hidden whole too
            hide = hide_paths([*map(Path, inputs), *readable.inputs])
            lines = (readable.errors + report.errors, readable.notes + report.notes)
            return FitReport(report.outcomes, [hide(e) for e in lines[0]], [hide(n) for n in lines[1]])
        copies = [
            (str(copy), str(given) if Path(given).is_dir() else f"{given}!")
            for given, copy in zip(inputs, readable.inputs)
            if Path(given) != copy
        ]

        def named(message: str) -> str:
            for copy, archive in sorted(copies, key=lambda pair: len(pair[0]), reverse=True):  # input-10 before input-1
                message = message.replace(copy, archive)
            return message

        return FitReport(
            report.outcomes, readable.errors + [named(e) for e in report.errors], readable.notes + [named(n) for n in report.notes]
        )


def _fit_found(inputs, out: Path, model, times_ms, keep_phi, mask_background, noise_correction, register, progress) -> FitReport:
    """:func:`fit_paths` on inputs that are files and folders."""
    files, errors = find_dicom_files(inputs)
    groups, group_errors, notes = group_series(files, keep_phi=keep_phi)
    errors.extend(group_errors)
    if not groups and not errors:
        errors.append(f"{', '.join(map(str, inputs))}: no weighted DICOM images found")
    if model == "auto" and times_ms is None:
        groups = _timed(groups, inputs, errors, notes)
    outcomes: list[FitOutcome] = []
    for name, group in groups.items():
        try:
            series, used_model = read_weighted(name, group, model, times_ms)
            shifts = None
            if register:
                reference = -1 if used_model in ("molli", "ir") else 0  # the brightest, least-prepared image
                registered, shifts = register_translation(series.images, reference=reference)
                series = dataclasses.replace(series, images=registered)
            mask = background_mask(series.images) if mask_background else None
            noise_sd = estimate_noise_sd(series.images) if noise_correction else None
            fit = fit_series(series, used_model, mask=mask, noise_sd=noise_sd)
            folder = out / name
            _write(folder, series, used_model, fit, keep_phi)
            values = _map_values(fit)
            outcomes.append(
                FitOutcome(
                    name=name,
                    model=used_model,
                    times_ms=tuple(float(t) for t in series.times_ms),
                    time_source=series.time_source,
                    folder=folder,
                    median_r2=float(np.nanmedian(fit.r2)) if np.isfinite(fit.r2).any() else float("nan"),
                    fitted_fraction=float(np.mean(np.isfinite(values))),
                    shifts_px=shifts,
                    noise_sd=noise_sd,
                    median_residual_sd=_median(fit.residual_sd),
                    median_residual_rel=_median(fit.residual_rel),
                )
            )
        except (SeriesError, DicomError) as exc:
            errors.append(str(exc))
        except OSError as exc:
            errors.append(f"{out / name}: cannot write ({exc.strerror or exc})")
        if progress is not None:
            progress(name, len(groups))
    if outcomes:
        try:
            atomic_write_text(out / "fits.csv", _summary(outcomes))
        except OSError as exc:
            errors.append(f"{out / 'fits.csv'}: cannot write ({exc.strerror or exc})")
    return FitReport(outcomes, errors, notes)


def _timed(groups: dict, inputs: Sequence, errors: list[str], notes: list[str]) -> dict:
    """The groups that carry preparation times (an exam folder: fit those, one note for the rest)."""
    untimed = [name for name, group in groups.items() if not any(vendor.series_times(group, kind) for kind in ("inversion", "t2prep"))]
    if untimed:
        notes.append(
            f"{len(untimed)} series without inversion or T2-preparation times skipped (e.g. {untimed[0]}); give --model and --times to fit them"
        )
    if len(untimed) == len(groups) and groups and not errors:
        errors.append(
            f"{', '.join(map(str, inputs))}: no weighted images with inversion or T2-preparation times found; give --model and --times"
        )
    return {name: group for name, group in groups.items() if name not in untimed}


def read_weighted(name: str, files: list, model: str = "auto", times_ms=None) -> tuple[WeightedSeries, str]:
    """Read a weighted series; ``model="auto"`` takes MOLLI with inversion times, T2 with T2-prep times."""
    if model != "auto":
        return read_series(name, files, model, times_ms), model
    try:
        return read_series(name, files, "molli"), "molli"
    except MissingTimesError:
        pass
    try:
        return read_series(name, files, "t2"), "t2"
    except MissingTimesError:
        first = getattr(files[0], "where", files[0])
        raise SeriesError(
            f"{first} ({len(files)} images): neither inversion nor T2-preparation times in the DICOM header; give --model and --times"
        ) from None


def _map_values(fit: T1Fit | T2Fit) -> np.ndarray:
    return fit.t1_ms if isinstance(fit, T1Fit) else fit.t2_ms


def _write(folder: Path, series: WeightedSeries, model: str, fit: T1Fit | T2Fit, keep_phi: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    kind = MAP_KIND[model]
    values = _map_values(fit)
    source = series.frames[0] if series.frames else series.files[0]
    uid_seed = list(series.sop_uids) or [f.name for f in series.files]  # the same inputs give the same UIDs
    for name, image, map_kind in (("map.dcm", values, kind), ("r2.dcm", fit.r2, "R2")):
        write_derived_map(
            folder / name,
            image,
            source,
            kind=map_kind,
            description=f"myomap {kind} map ({model}){' R2' if map_kind == 'R2' else ''}",
            series_uid=generate_uid(entropy_srcs=["series", map_kind, *uid_seed]),
            sop_uid=generate_uid(entropy_srcs=["image", map_kind, *uid_seed]),
            keep_phi=keep_phi,
        )
    arrays = {k: v for k, v in vars(fit).items()}
    write_npz(folder / "fit.npz", times_ms=series.times_ms, **arrays)
    fit_preview(folder / "preview.png", values, fit.r2, kind=kind, title=f"{series.name} · {model} · {len(series.times_ms)} images")


def _median(values: np.ndarray) -> float:
    return float(np.nanmedian(values)) if np.isfinite(values).any() else float("nan")


def _summary(outcomes: list[FitOutcome]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    # fitted_fraction: share of all pixels with a map value (masked background counts as not fitted).
    # noise_sd: the sigma removed as the Rician noise floor (empty: plain model, no correction).
    writer.writerow([
        "series", "model", "n_images", "times_ms", "time_source", "noise_sd", "median_r2", "median_residual_sd", "median_residual_rel",
        "fitted_fraction", "folder",
    ])  # fmt: skip
    for o in outcomes:
        noise = "" if o.noise_sd is None else f"{o.noise_sd:.4g}"
        times = " ".join(f"{t:g}" for t in o.times_ms)
        writer.writerow([
            o.name, o.model, len(o.times_ms), times, o.time_source, noise, f"{o.median_r2:.5f}", f"{o.median_residual_sd:.4g}",
            f"{o.median_residual_rel:.4g}", f"{o.fitted_fraction:.4f}", o.folder.name,
        ])  # fmt: skip
    return buffer.getvalue()
