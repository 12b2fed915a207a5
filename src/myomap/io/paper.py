"""Import the folder layout of the paper's own data set into a manifest.

The layout (Kalapos et al. 2023) keeps one folder per patient::

    Patient (N)/T1_map_base/*.dcm        weighted images of the basal T1 slice
    Patient (N)/T1_map_base/Contours.json
    Patient (N)/T1_Mapping_/Base.dcm     the basal T1 map

with ``base``/``mid``/``apex`` and ``T1``/``T2``.  Names are matched without
regard to case, and ``basal``/``apical`` are accepted too.  The input is only
read; the manifest is written to a folder of the caller's choosing with paths
relative to it.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from myomap.io.files import atomic_write_text

_SLICE_WORDS = {"base": "basal", "basal": "basal", "mid": "mid", "apex": "apical", "apical": "apical"}
_WEIGHTED_DIR = re.compile(r"^(T[12])_map_(base|basal|mid|apex|apical)$", re.IGNORECASE)
_MAP_DIR = re.compile(r"^(T[12])_mapping_?$", re.IGNORECASE)


def import_paper_layout(source: str | Path, out: str | Path) -> tuple[Path, list[str]]:
    """Write ``out/manifest.csv`` for a data set in the paper's layout.

    Returns the manifest path and a list of problems (one line each, naming
    the folder), e.g. a slice folder without ``Contours.json``; slices with
    problems are left out, the rest imported.

    Raises
    ------
    FileNotFoundError
        ``source`` is not a folder.
    ValueError
        No slice folder of the layout was found at all.
    """
    source, out = Path(source), Path(out)
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: not a folder")
    rows: list[str] = []
    problems: list[str] = []
    found = 0
    for patient in sorted(p for p in source.iterdir() if p.is_dir()):
        maps = _map_files(patient, problems)
        for folder in sorted(p for p in patient.iterdir() if p.is_dir()):
            match = _WEIGHTED_DIR.match(folder.name)
            if not match:
                continue
            found += 1
            map_type, slice_name = match.group(1).upper(), _SLICE_WORDS[match.group(2).lower()]
            contours = _find(folder, "contours.json")
            if contours is None:
                problems.append(f"{folder}: no Contours.json, slice skipped")
                continue
            rel = lambda p: os.path.relpath(p, out).replace(os.sep, "/")  # noqa: E731
            subject = patient.name
            map_file = maps.get((map_type, slice_name))
            if map_file is None:
                problems.append(f"{folder}: no {map_type} map for the {slice_name} slice, weighted images only")
            else:
                rows.append(_row(subject, map_type, slice_name, "map", rel(map_file), rel(contours)))
            for dcm in sorted(folder.glob("*.dcm"), key=lambda p: p.name.lower()):
                rows.append(_row(subject, map_type, slice_name, "weighted", rel(dcm), rel(contours)))
    if found == 0:
        raise ValueError(f"{source}: no '<patient>/T1_map_base'-style slice folders found")
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.csv"
    header = "subject,map_type,slice,role,image,contours\n"
    atomic_write_text(manifest, header + "".join(rows))
    return manifest, problems


def _map_files(patient: Path, problems: list[str]) -> dict[tuple[str, str], Path]:
    """The map file per (map type, slice); two candidates for one slice are a problem, not a guess."""
    found: dict[tuple[str, str], Path] = {}
    for folder in sorted(patient.iterdir()):
        match = _MAP_DIR.match(folder.name) if folder.is_dir() else None
        if not match:
            continue
        for dcm in sorted(folder.glob("*.dcm")):
            word = _SLICE_WORDS.get(dcm.stem.lower())
            if not word:
                continue
            key = (match.group(1).upper(), word)
            if key in found:
                problems.append(f"{dcm}: a second {key[0]} map for the {word} slice (first: {found[key].name}); using the first")
                continue
            found[key] = dcm
    return found


def _find(folder: Path, name: str) -> Path | None:
    for p in sorted(folder.iterdir()):
        if p.name.lower() == name:
            return p
    return None


def _row(*values: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()
