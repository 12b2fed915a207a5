"""Data sets: a manifest plus DICOM images and contours (docs/data_layout.md).

:func:`read_manifest` parses and checks the manifest; :func:`iter_images`
loads its rows one by one into :class:`MapImage` objects, and
:func:`load_dataset` collects them together with one :class:`LoadError` per
broken row, so a damaged file never stops the rest from loading.  Paths in
the manifest are relative to the manifest's folder.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from myomap.conventions import MAP_TYPES, SLICE_POSITIONS
from myomap.io.contours import ContourError, Contours, read_contours
from myomap.io.dicom import DicomError, inversion_time, read_image, t2prep_time

REQUIRED_COLUMNS = ("subject", "map_type", "slice", "role", "image", "contours")
OBSERVER_COLUMNS = {"reference": "contours", "obs2": "contours_obs2", "obs3": "contours_obs3"}
ROLES = ("map", "weighted")


class ManifestError(ValueError):
    """A manifest that cannot be read at all (missing file or required columns)."""


@dataclass(frozen=True)
class ManifestRow:
    """One manifest row; ``line`` is its line number in the file, for messages."""

    line: int
    subject: str
    map_type: str
    slice: str
    role: str
    image: str
    contours: dict[str, str]
    split: str = ""
    time_ms: float | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MapImage:
    """An image with everything that must travel with it.

    ``pixels`` are float32 in ms for maps and arbitrary units for weighted
    images; ``spacing_mm`` is (row, col) from PixelSpacing; ``contours``
    maps observer names (``reference``, ``obs2``, ``obs3``) to contours.
    """

    pixels: np.ndarray
    spacing_mm: tuple[float, float]
    map_type: str
    slice: str
    role: str
    subject: str
    split: str
    source: Path
    time_ms: float | None = None
    contours: dict[str, Contours] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadError:
    """A manifest row that could not be loaded, and why (one line, naming the file)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"manifest line {self.line}: {self.message}"


def read_manifest(path: str | Path) -> tuple[list[ManifestRow], list[LoadError]]:
    """Parse ``manifest.csv`` (or a folder holding one).

    Rows with an unknown map type, slice or role, or an unreadable time, are
    returned as errors; the others as :class:`ManifestRow`.

    Raises
    ------
    ManifestError
        The file is missing, not CSV, or lacks a required column.
    """
    path = _manifest_path(path)
    reader = _csv_reader(path, "manifest")
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ManifestError(f"{path}: missing column(s) {', '.join(missing)}")
    rows: list[ManifestRow] = []
    errors: list[LoadError] = []
    known = set(REQUIRED_COLUMNS) | set(OBSERVER_COLUMNS.values()) | {"split", "time_ms"}
    for raw in reader:
        line = reader.line_num
        raw = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        problem = _check_row(raw)
        if problem:
            errors.append(LoadError(line, f"{path.name}: {problem}"))
            continue
        try:
            time_ms = float(raw["time_ms"]) if raw.get("time_ms") else None
        except ValueError:
            errors.append(LoadError(line, f"{path.name}: time_ms {raw['time_ms']!r} is not a number"))
            continue
        rows.append(
            ManifestRow(
                line=line,
                subject=raw["subject"],
                map_type=raw["map_type"],
                slice=raw["slice"],
                role=raw["role"],
                image=raw["image"],
                contours={name: raw[col] for name, col in OBSERVER_COLUMNS.items() if raw.get(col)},
                split=raw.get("split", ""),
                time_ms=time_ms,
                extra={k: v for k, v in raw.items() if k not in known},
            )
        )
    return rows, errors


SPLITS = ("train", "val", "test")


def read_split_file(path: str | Path) -> dict[str, str]:
    """Subject -> ``train``/``val``/``test`` from a split file (``subject,split``, as ``myomap train`` saves ``RUN/split.csv``).

    Raises
    ------
    ManifestError
        The file is missing or unreadable, lacks a ``subject`` or ``split``
        column, or names a split other than train, val or test (with its
        line number).
    """
    path = Path(path)
    reader = _csv_reader(path, "split file")
    if not {"subject", "split"} <= set(reader.fieldnames or []):
        raise ManifestError(f"{path}: a split file needs the columns subject and split")
    splits: dict[str, str] = {}
    for raw in reader:
        subject, split = (raw.get("subject") or "").strip(), (raw.get("split") or "").strip()
        if split not in SPLITS:
            raise ManifestError(f"{path}: line {reader.line_num}: split {split!r} is not one of {', '.join(SPLITS)}")
        splits[subject] = split
    return splits


def _csv_reader(path: Path, what: str) -> csv.DictReader:
    """A CSV file's rows; ManifestError naming the file when it cannot be read as UTF-8 text."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # Excel's "CSV UTF-8" starts with a byte order mark
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read {what} ({exc})") from None
    return csv.DictReader(io.StringIO(text, newline=""))


def _manifest_path(path: str | Path) -> Path:
    path = Path(path)
    return path / "manifest.csv" if path.is_dir() else path


def _check_row(raw: dict[str, str]) -> str | None:
    for column in REQUIRED_COLUMNS:
        if column != "contours" and not raw.get(column):
            return f"empty {column}"
    for column, allowed in (("map_type", MAP_TYPES), ("slice", SLICE_POSITIONS), ("role", ROLES)):
        if raw[column] not in allowed:
            return f"{column} {raw[column]!r} is not one of {', '.join(allowed)}"
    return None


def load_row(root: Path, row: ManifestRow, *, observers: Iterable[str] | None = None) -> MapImage:
    """Load one row's image and contours; raises DicomError or ContourError naming the file."""
    pixels, meta = read_image(root / row.image)
    if not np.any(pixels):
        raise DicomError(f"{root / row.image}: image is empty (all pixels zero)")
    time_ms = row.time_ms
    if time_ms is None and row.role == "weighted":
        time_ms = (inversion_time(meta) if row.map_type == "T1" else t2prep_time(meta))[0]
    wanted = OBSERVER_COLUMNS if observers is None else observers
    contours = {name: read_contours(root / row.contours[name]) for name in wanted if name in row.contours}
    return MapImage(
        pixels=pixels,
        spacing_mm=meta.spacing_mm,
        map_type=row.map_type,
        slice=row.slice,
        role=row.role,
        subject=row.subject,
        split=row.split,
        source=root / row.image,
        time_ms=time_ms,
        contours=contours,
    )


def iter_images(
    path: str | Path,
    *,
    roles: Iterable[str] = ROLES,
    splits: Iterable[str] | None = None,
    observers: Iterable[str] | None = None,
    errors: list[LoadError] | None = None,
) -> Iterator[MapImage]:
    """Yield the data set's images one at a time (memory stays bounded).

    Rows that fail to load are appended to ``errors`` (if given) and skipped.
    """
    manifest = _manifest_path(path)
    rows, row_errors = read_manifest(manifest)
    if errors is not None:
        errors.extend(row_errors)
    roles = set(roles)
    splits = None if splits is None else set(splits)
    for row in rows:
        if row.role not in roles or (splits is not None and row.split not in splits):
            continue
        try:
            yield load_row(manifest.parent, row, observers=observers)
        except (DicomError, ContourError) as exc:
            if errors is not None:
                errors.append(LoadError(row.line, str(exc)))


def load_dataset(path: str | Path, **kwargs) -> tuple[list[MapImage], list[LoadError]]:
    """Load all matching images; returns ``(images, errors)`` (see :func:`iter_images`)."""
    errors: list[LoadError] = []
    images = list(iter_images(path, errors=errors, **kwargs))
    return images, errors
