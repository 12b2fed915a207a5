"""Weighted-image series from DICOM: grouping, reading times, checking (the files are found by :mod:`myomap.io.series_kind`).

Preparation times come from ``--times`` when given (one per image, in
InstanceNumber order), otherwise from the DICOM header, following the
vendor conventions of :mod:`myomap.io.vendor` (InversionTime, Siemens
``TI`` comments, the Philips inversion delay (2005,1572), T2-prep comments,
EchoTime), the first source that every image carries and that varies.

A folder may hold several slices or series.  Frames (an enhanced
multi-frame file gives several) are grouped by SeriesInstanceUID and slice
position, each group becomes one map, in InstanceNumber order (then
natural file-name order).  When each series holds a single image at a
position (one series per inversion or preparation time, as in a
gold-standard inversion-recovery spin-echo acquisition), those images are
grouped across series by study, geometry (same position and orientation,
same matrix) and protocol (ProtocolName, else SeriesDescription, with
numbers ignored, so ``IR_TI50`` and ``IR_TI400`` match).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from myomap.io import vendor
from myomap.io.context import mapping_sequence
from myomap.io.dicom import DicomError, read_frames
from myomap.io.header import ImageMeta, Index, index_files, read_headers
from myomap.io.series_kind import is_map_image, position_key

MODELS = ("molli", "ir", "t2")


class SeriesError(ValueError):
    """A series that cannot be fitted; the message names the file(s) and the problem."""


class MissingTimesError(SeriesError):
    """The DICOM headers carry no preparation time of the kind the model needs."""


@dataclass(frozen=True)
class WeightedSeries:
    """The weighted images of one slice, sorted by preparation time.

    ``images`` has shape (n, rows, cols) in stored real-world units,
    ``times_ms`` shape (n,), ``spacing_mm`` is (row, col); ``frames`` are
    the indexed frames in the same order (``files`` their files).
    """

    name: str
    files: tuple[Path, ...]
    images: np.ndarray
    times_ms: np.ndarray
    spacing_mm: tuple[float, float] | None
    time_source: str
    sop_uids: tuple[str, ...] = ()
    frames: tuple[ImageMeta, ...] = ()


def group_series(files: Sequence[Path] | Index, *, keep_phi: bool = True) -> tuple[dict[str, list[ImageMeta]], list[str], list[str]]:
    """Group the weighted frames of ``files`` (or of an existing index) by series and slice position.

    Returns ``{group name: frames}``, error lines (unreadable files, see
    :func:`~myomap.io.header.index_files`) and notes (skipped maps and
    images that are not MR, series left out because one of their files is
    damaged).  Group names are built from SeriesDescription (without
    ``keep_phi``, only the mapping sequence it names: a description is free
    text) and SeriesNumber, made unique, and are safe as folder names.
    """
    index = files if isinstance(files, Index) else index_files(files)
    errors, notes = list(index.errors), list(index.notes)
    weighted = []
    maps = 0
    for meta in index.frames:
        if not meta.rows or not meta.columns:
            errors.append(f"{meta.where}: truncated or incomplete DICOM (no image size in the header)")
        elif is_map_image(meta):
            maps += 1
        elif meta.series_uid in index.damaged_series:
            continue
        else:
            weighted.append(meta)
    if maps:
        notes.append(f"{maps} map image(s) skipped: maps are not weighted images")
    for uid in sorted(index.damaged_series):
        notes.append(f"series {uid}: not grouped, one of its files is damaged (see the errors)")
    groups = _by_series_and_position(weighted)
    return _named(merge_single_images(groups), keep_phi=keep_phi), errors, notes


def _by_series_and_position(frames: Iterable[ImageMeta]) -> dict[tuple, list[ImageMeta]]:
    groups: dict[tuple, list[ImageMeta]] = defaultdict(list)
    for meta in frames:
        where = position_key(meta) or (str(meta.path.parent),)
        groups[(meta.series_uid or str(meta.path.parent), where)].append(meta)
    return groups


def _protocol(meta: ImageMeta) -> str:
    return re.sub(r"\d+(\.\d+)?", "#", (meta.protocol_name or meta.series_description).strip().lower())


def merge_single_images(groups: dict[tuple, list[ImageMeta]]) -> list[list[ImageMeta]]:
    """Groups in a stable order, where single images of one study, geometry and protocol become one group."""
    merged: dict[tuple, list[ImageMeta]] = defaultdict(list)
    result: list[list[ImageMeta]] = []
    for key in sorted(groups, key=lambda k: (str(k[0]), str(k[1]))):
        group = groups[key]
        if len(group) == 1 and group[0].position_mm is not None:
            m = group[0]
            orientation = tuple(round(c, 3) for c in m.orientation or ())
            merged[(m.study_uid, position_key(m), orientation, m.rows, m.columns, _protocol(m))].append(m)
        else:
            result.append(group)
    result.extend(merged.values())
    return result


def _named(groups: list[list[ImageMeta]], *, keep_phi: bool = True) -> dict[str, list[ImageMeta]]:
    """Groups named ``<description>_s<number>`` (``_s<first>-<last>`` across series), made unique.

    Without ``keep_phi`` the description gives way to the mapping sequence it
    names (``MOLLI_s12``; ``series_s12`` when none), and a series without a
    description is never named after its folder (PACS exports name folders
    after the patient).
    """
    labels = []
    for group in groups:
        numbers = sorted({m.series_number for m in group if m.series_number is not None})
        first = group[0]
        tag = "-".join(str(n) for n in (numbers[:1] + numbers[-1:] if len(numbers) > 1 else numbers))
        if keep_phi:
            base = first.series_description or first.path.parent.name
        else:
            base = mapping_sequence(f"{first.series_description} {first.protocol_name}") or "series"
        labels.append(_safe(f"{base}_s{tag}"))
    totals = defaultdict(int)
    for label in labels:
        totals[label] += 1
    named: dict[str, list[ImageMeta]] = {}
    seen: dict[str, int] = defaultdict(int)
    for label, group in sorted(zip(labels, groups), key=lambda pair: pair[0]):
        seen[label] += 1
        ordered = sorted(group, key=lambda m: (m.instance_number or 0, m.frame or 0, _natural(m.path.name)))
        named[label if totals[label] == 1 else f"{label}_{seen[label]}"] = ordered
    return named


def _natural(name: str) -> tuple:
    """Sort key that puts IM_2 before IM_10."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name))


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "series"


def read_series(name: str, files: Sequence[Path | ImageMeta], model: str, times_ms: Sequence[float] | None = None) -> WeightedSeries:
    """Read and check one group of weighted images (files, or frames from :func:`group_series`).

    Raises
    ------
    SeriesError
        Fewer than three images, times that do not match the images,
        duplicate or negative times, images of different shapes, all-zero or
        NaN images, or no time information at all.
    """

    if model not in MODELS:
        raise SeriesError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    try:
        metas = [m for f in files for m in ([f] if isinstance(f, ImageMeta) else read_headers(f))]
    except DicomError as exc:
        raise SeriesError(str(exc)) from None
    where = f"{name} ({metas[0].path.parent})" if metas else name
    if len(metas) < 3:
        raise SeriesError(f"{where}: {len(metas)} image(s), at least 3 are needed for a fit")
    sizes = sorted({(m.rows, m.columns) for m in metas})
    if len(sizes) > 1:
        raise SeriesError(f"{where}: images of different shapes {sizes} (mixed matrix sizes); not fitted")
    try:
        images = read_frames(metas, require_spacing=False)
    except DicomError as exc:
        raise SeriesError(str(exc)) from None
    for meta, pixels in zip(metas, images):
        if not np.any(pixels):
            raise SeriesError(f"{meta.where}: image is empty (all pixels zero)")

    if times_ms is not None:
        times = np.asarray(times_ms, dtype=float)
        source = "--times"
        if times.size != len(metas):
            raise SeriesError(f"{where}: {times.size} times given for {len(metas)} images")
    else:
        times, source = _times_from_dicom(metas, model)
    if np.any(times < 0):
        raise SeriesError(f"{where}: negative time(s) {times[times < 0].tolist()} ms")
    if np.unique(times).size != times.size:
        raise SeriesError(f"{where}: duplicate times {sorted(times.tolist())} ms")

    order = np.argsort(times, kind="stable")
    return WeightedSeries(
        name=name,
        files=tuple(metas[i].path for i in order),
        images=np.stack([images[i] for i in order]),
        times_ms=times[order],
        spacing_mm=metas[0].spacing_mm,
        time_source=source,
        sop_uids=tuple(metas[i].sop_uid + ("" if metas[i].frame is None else f".{metas[i].frame}") for i in order),
        frames=tuple(metas[i] for i in order),
    )


def _times_from_dicom(metas: list[ImageMeta], model: str) -> tuple[np.ndarray, str]:
    kind = "inversion" if model in ("molli", "ir") else "t2prep"
    found = vendor.series_times(metas, kind)
    if found is not None:
        return found
    words = "inversion time" if kind == "inversion" else "T2-preparation time"
    problems = sorted({p for m in metas for p in m.problems})
    detail = f" ({problems[0]})" if problems else ""
    raise MissingTimesError(f"{metas[0].where} ({len(metas)} images): no {words} in the DICOM header{detail}; give the times with --times")
