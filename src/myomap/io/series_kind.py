"""What a DICOM series holds, from its headers alone: input files, maps, and weighted images with preparation times.

- :func:`find_dicom_files`: files and folders (walked recursively, through
  links) into the list of candidate DICOM files.
- :func:`is_map_image`: ImageType says the image is a parametric map (of
  any kind: maps are not weighted images for a fit).
- :func:`series_time_kind` and :func:`has_single_times`: whether a
  series' images carry inversion or T2-preparation times
  (:mod:`myomap.io.vendor`) that make them the weighted images of a map.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from myomap.io import vendor
from myomap.io.header import ImageMeta
from myomap.io.walk import skipped_note, walk_folder

# Files met while walking a folder that are certainly not DICOM (our own outputs among them).
_NOT_DICOM = {".json", ".npz", ".npy", ".png", ".jpg", ".csv", ".txt", ".yaml", ".yml", ".html", ".md", ".nii", ".gz"}
# ImageType values of maps: a folder of weighted images may hold the scanner's map too.
_MAP_IMAGE_TYPES = {"T1 MAP", "T2 MAP", "R2 MAP", "T1MAP", "T2MAP", "MAP"}
_T2_NAME = re.compile(r"T2(?!\s*\*|star)", re.IGNORECASE)


def find_dicom_files(inputs: Iterable[str | Path], notes: list[str] | None = None) -> tuple[list[Path], list[str]]:
    """Expand files and folders (recursively) into a sorted list of files.

    Folders are walked through their links to folders and files
    (:func:`myomap.io.walk.walk_folder`: each real folder once, so a link
    that loops back ends there); links that lead nowhere or back to a
    folder already read give one line in ``notes`` per input folder.
    Inside folders, hidden files and files with a non-DICOM extension
    (``.json``, ``.png``, ...) are skipped (files in hidden folders are
    not), and so are the output folders of earlier ``myomap analyze`` runs
    found below an input (results saved next to the exam: their
    de-identified copies of its maps would be taken for another
    patient's), each with a line in ``notes`` when given; files and
    folders named explicitly are always kept.  Returns the files and one
    error line per input that does not exist.
    """
    files: list[Path] = []
    errors: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            skipped: list[Path] = []
            found = sorted(root / n for root, _, names in walk_folder(path, skipped) for n in names)
            runs = [r.parent for r in found if r.name == "run.json" and r.parent != path and _is_myomap_run(r)]
            if notes is not None:
                notes.extend(f"{run}: the output folder of an earlier myomap run, skipped" for run in runs)
                if skipped:
                    notes.append(skipped_note(str(path), skipped))
            files.extend(
                p
                for p in found
                if not p.name.startswith(".") and p.suffix.lower() not in _NOT_DICOM and not any(r in p.parents for r in runs)
            )
        elif path.is_file():
            files.append(path)
        else:
            errors.append(f"{path}: no such file or folder")
    return files, errors


def _is_myomap_run(path: Path) -> bool:
    """A ``run.json`` that ``myomap analyze`` wrote (it names the myomap version)."""
    try:
        return "myomap_version" in json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


def is_map_image(meta: ImageMeta) -> bool:
    """ImageType names a parametric map (T1, T2, R2 or an unnamed MAP)."""
    return bool(_MAP_IMAGE_TYPES & set(meta.image_type))


def position_key(meta: ImageMeta) -> tuple | None:
    """Slice position rounded to 0.1 mm (None without ImagePositionPatient)."""
    return None if meta.position_mm is None else tuple(round(float(c), 1) for c in meta.position_mm)


def series_time_kind(frames: list[ImageMeta]) -> str | None:
    """``T1`` or ``T2`` when a series' images carry preparation times that vary at one position."""
    by_position = defaultdict(list)
    for meta in frames:
        by_position[position_key(meta)].append(meta)
    names = " ".join({f"{m.series_description} {m.protocol_name}" for m in frames[:1]})
    for group in by_position.values():
        if len(group) < 2:
            continue
        if vendor.series_times(group, "inversion") is not None:
            return "T1"
        found = vendor.series_times(group, "t2prep")
        if found is not None and (found[1] != "EchoTime" or _T2_NAME.search(names)):
            return "T2"  # a varying EchoTime counts for T2 only in a series named T2 (not T2*)
    return None


def has_single_times(frames: list[ImageMeta]) -> bool:
    """One image per position, each with a preparation time: a candidate for grouping across series."""
    positions = {position_key(m) for m in frames}
    return len(positions) == len(frames) and all(
        vendor.image_time(m, "inversion")[0] is not None or vendor.image_time(m, "t2prep")[0] is not None for m in frames
    )
