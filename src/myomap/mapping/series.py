"""Weighted-image series from DICOM: finding, grouping, reading times, checking.

Preparation times come from ``--times`` when given (one per image, in
InstanceNumber order), otherwise from the DICOM header through
:func:`myomap.io.dicom.inversion_time` and :func:`myomap.io.dicom.t2prep_time`
(the vendor conventions are listed there); for T2, EchoTime (0018,0081) is
the last resort when it differs between the images (multi-echo spin echo; a
bSSFP readout has one short TE for every image, which is not the
preparation time).  Times that are equal for all images are no information
(some vendors write InversionTime 0 into every T2-prep image).

A folder may hold several slices or series: files are grouped by
SeriesInstanceUID and slice position, each group becomes one map, its files
in InstanceNumber order (then natural file-name order).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

from myomap.io.dicom import DicomError, inversion_time, read_image, t2prep_time

MODELS = ("molli", "ir", "t2")


class SeriesError(ValueError):
    """A series that cannot be fitted; the message names the file(s) and the problem."""


class MissingTimesError(SeriesError):
    """The DICOM headers carry no preparation time of the kind the model needs."""


@dataclass(frozen=True)
class WeightedSeries:
    """The weighted images of one slice, sorted by preparation time.

    ``images`` has shape (n, rows, cols) in stored real-world units,
    ``times_ms`` shape (n,), ``spacing_mm`` is (row, col).
    """

    name: str
    files: tuple[Path, ...]
    images: np.ndarray
    times_ms: np.ndarray
    spacing_mm: tuple[float, float] | None
    time_source: str
    sop_uids: tuple[str, ...] = ()


# Files met while walking a folder that are certainly not DICOM (our own outputs among them).
_NOT_DICOM = {".json", ".npz", ".npy", ".png", ".jpg", ".csv", ".txt", ".yaml", ".yml", ".html", ".md", ".nii", ".gz"}
# ImageType values of maps: a folder of weighted images may hold the scanner's map too.
_MAP_TYPES = {"T1 MAP", "T2 MAP", "R2 MAP", "T1MAP", "T2MAP", "MAP"}


def find_dicom_files(inputs: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """Expand files and folders (recursively) into a sorted list of files.

    Inside folders, hidden files and files with a non-DICOM extension
    (``.json``, ``.png``, ...) are skipped; files named explicitly are
    always kept.  Returns the files and one error line per input that does
    not exist.
    """
    files: list[Path] = []
    errors: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files.extend(
                p for p in sorted(path.rglob("*")) if p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in _NOT_DICOM
            )
        elif path.is_file():
            files.append(path)
        else:
            errors.append(f"{path}: no such file or folder")
    return files, errors


def group_series(files: Sequence[Path]) -> tuple[dict[str, list[Path]], list[str], list[str]]:
    """Group DICOM files of weighted images by series and slice position.

    Returns ``{group name: files}``, one error line per unreadable file, and
    one note per skipped map image (ImageType T1 MAP, T2 MAP, ...).  Group
    names are built from SeriesDescription and SeriesNumber, made unique,
    and are safe as folder names.
    """
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    labels: dict[tuple, str] = {}
    errors: list[str] = []
    notes: list[str] = []
    for path in files:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception as exc:  # any failure to parse means "not a usable DICOM file"
            errors.append(f"{path}: not a readable DICOM file ({type(exc).__name__})")
            continue
        if "Rows" not in ds or "Columns" not in ds:
            errors.append(f"{path}: truncated or incomplete DICOM (no image size in the header)")
            continue
        if _MAP_TYPES & {str(v).upper() for v in ds.get("ImageType", [])}:
            notes.append(f"{path}: a map, not a weighted image; skipped")
            continue
        try:
            position = ds.get("ImagePositionPatient")
            where = tuple(round(float(c), 1) for c in position) if position is not None else (str(ds.get("SliceLocation", "")),)
            instance = int(float(ds.get("InstanceNumber", 0) or 0))
        except (TypeError, ValueError):
            errors.append(f"{path}: malformed ImagePositionPatient or InstanceNumber in the header")
            continue
        key = (str(ds.get("SeriesInstanceUID", path.parent)), where)
        groups[key].append((instance, _natural(path.name), path))
        if key not in labels:
            description = str(ds.get("SeriesDescription", "") or path.parent.name)
            labels[key] = _safe(f"{description}_s{ds.get('SeriesNumber', '')}")
    totals = defaultdict(int)
    for key in groups:
        totals[labels[key]] += 1
    named: dict[str, list[Path]] = {}
    seen: dict[str, int] = defaultdict(int)
    for key in sorted(groups, key=lambda k: (labels[k], k)):
        label = labels[key]
        seen[label] += 1
        named[label if totals[label] == 1 else f"{label}_{seen[label]}"] = [p for *_, p in sorted(groups[key])]
    return named, errors, notes


def _natural(name: str) -> tuple:
    """Sort key that puts IM_2 before IM_10."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name))


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "series"


def read_series(name: str, files: Sequence[Path], model: str, times_ms: Sequence[float] | None = None) -> WeightedSeries:
    """Read and check one group of weighted images.

    Raises
    ------
    SeriesError
        Fewer than three images, times that do not match the images,
        duplicate or negative times, images of different shapes, all-zero or
        NaN images, or no time information at all.
    """

    if model not in MODELS:
        raise SeriesError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    where = f"{name} ({files[0].parent})" if files else name
    if len(files) < 3:
        raise SeriesError(f"{where}: {len(files)} image(s), at least 3 are needed for a fit")
    images, metas = [], []
    for path in files:
        try:
            pixels, meta = read_image(path, require_spacing=False)
        except DicomError as exc:
            raise SeriesError(str(exc)) from None
        if not np.any(pixels):
            raise SeriesError(f"{path}: image is empty (all pixels zero)")
        images.append(pixels)
        metas.append(meta)
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise SeriesError(f"{where}: images of different shapes {sorted(shapes)}")

    if times_ms is not None:
        times = np.asarray(times_ms, dtype=float)
        source = "--times"
        if times.size != len(files):
            raise SeriesError(f"{where}: {times.size} times given for {len(files)} images")
    else:
        times, source = _times_from_dicom(metas, model, files)
    if np.any(times < 0):
        raise SeriesError(f"{where}: negative time(s) {times[times < 0].tolist()} ms")
    if np.unique(times).size != times.size:
        raise SeriesError(f"{where}: duplicate times {sorted(times.tolist())} ms")

    order = np.argsort(times, kind="stable")
    return WeightedSeries(
        name=name,
        files=tuple(files[i] for i in order),
        images=np.stack([images[i] for i in order]),
        times_ms=times[order],
        spacing_mm=metas[0].spacing_mm,
        time_source=source,
        sop_uids=tuple(metas[i].sop_uid for i in order),
    )


def _times_from_dicom(metas: list, model: str, files: Sequence[Path]) -> tuple[np.ndarray, str]:
    if model in ("molli", "ir"):
        readers = (inversion_time,)
    else:
        readers = (t2prep_time, lambda m: (m.echo_time_ms, "EchoTime"))
    for reader in readers:
        found = [reader(m) for m in metas]
        if all(value is not None for value, _ in found):
            times = np.asarray([value for value, _ in found], dtype=float)
            if np.unique(times).size > 1:
                return times, found[0][1]
    kind = "inversion time" if model in ("molli", "ir") else "T2-preparation time"
    raise MissingTimesError(f"{files[0]} ({len(files)} images): no {kind} in the DICOM header; give the times with --times")
