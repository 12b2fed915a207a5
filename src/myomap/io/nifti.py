"""NIfTI T1/T2 maps (for example from dcm2niix) as slices in the DICOM patient frame.

A NIfTI file has no map type of its own.  It comes from a JSON sidecar
beside it (same name, ``.json``): ``"MapType": "T1"`` or ``"T2"``, else the
``ImageType`` / ``SeriesDescription`` that dcm2niix copies from the DICOM
(read like a DICOM header, :func:`myomap.io.vendor.map_type_from_header`),
else the caller's (``--map-type``).  Values are taken as ms, after the
file's ``scl_slope`` / ``scl_inter``.  The sidecar's acquisition fields
(field strength, sequence and contrast words in SeriesDescription or
ProtocolName, times) give the map's scan context as a DICOM header would
(:func:`sidecar_context`), so the contrast state is called alike.

Geometry comes from the affine (nibabel's RAS+ world, turned into DICOM
LPS): slice ``k`` is ``data[:, :, k]`` transposed, so rows follow the
second voxel axis and columns the first; the direction cosines, the
position of the first pixel and the spacing follow from the affine
columns, so base-to-apex ordering works as for DICOM maps.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from myomap.conventions import MAP_TYPES
from myomap.io.context import ScanContext, scan_context
from myomap.io.vendor import map_type_from_header

_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])  # RAS+ world to DICOM LPS


class NiftiError(ValueError):
    """A NIfTI file that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class NiftiSlice:
    """One 2-D slice of a NIfTI map: ``pixels`` in ms indexed [row, col], geometry in DICOM LPS."""

    pixels: np.ndarray
    spacing_mm: tuple[float, float]
    orientation: tuple[float, ...]
    position_mm: tuple[float, float, float]
    index: int


@dataclass(frozen=True)
class NiftiMap:
    """A NIfTI map: its type, slices, and the patient/study grouping keys from its sidecar (or its folder)."""

    path: Path
    map_type: str
    slices: tuple[NiftiSlice, ...]
    patient: str
    study: str
    series_description: str
    context: ScanContext = ScanContext()


def is_nifti(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


def find_nifti(inputs: Iterable[str | Path]) -> list[Path]:
    """NIfTI files among ``inputs`` (folders searched recursively, hidden files skipped)."""
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found.extend(p for p in sorted(item.rglob("*")) if p.is_file() and is_nifti(p) and not p.name.startswith("."))
        elif item.is_file() and is_nifti(item):
            found.append(item)
    return found


def sidecar(path: Path) -> dict:
    """The JSON sidecar of a NIfTI file (``x.nii.gz`` -> ``x.json``), or ``{}``."""
    stem = path.name[: -len(".nii.gz")] if path.name.lower().endswith(".nii.gz") else path.stem
    candidate = path.with_name(stem + ".json")
    if not candidate.is_file():
        return {}
    try:
        data = json.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NiftiError(f"{candidate}: not a readable JSON sidecar ({exc})") from None
    return data if isinstance(data, dict) else {}


def read_nifti_map(path: str | Path, map_type: str | None = None) -> NiftiMap:
    """Read a NIfTI map; ``map_type`` is used when the sidecar does not name one.

    Raises
    ------
    NiftiError
        Unreadable file or sidecar, no map type, more than one volume, or
        NaN-only data.
    """
    import nibabel

    path = Path(path)
    info = sidecar(path)
    named = str(info.get("MapType", "")).upper() or map_type_from_header(info.get("ImageType", []), str(info.get("SeriesDescription", "")))
    kind = named or map_type
    if kind not in MAP_TYPES:
        raise NiftiError(f'{path}: NIfTI map without a map type; give --map-type T1 or T2, or a JSON sidecar with "MapType"')
    try:
        image = nibabel.load(path)
        data = np.asarray(image.get_fdata(dtype=np.float32))
    except Exception as exc:  # nibabel raises many types for damaged files; all mean "unreadable"
        raise NiftiError(f"{path}: not a readable NIfTI file ({type(exc).__name__}: {exc})") from None
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 2:
        data = data[:, :, None]
    if data.ndim != 3:
        raise NiftiError(
            f"{path}: NIfTI of shape {data.shape}; a map has one volume (a 4-D cine: save the phases to analyse as files of their own)"
        )
    lps = _LPS @ image.affine
    columns, rows = lps[:3, 0], lps[:3, 1]  # world steps along voxel axes i (image columns) and j (image rows)
    spacing = (float(np.linalg.norm(rows)), float(np.linalg.norm(columns)))
    if min(spacing) <= 0:
        raise NiftiError(f"{path}: the affine gives a zero pixel spacing")
    orientation = tuple(float(v) for v in (*(columns / spacing[1]), *(rows / spacing[0])))
    slices = tuple(
        NiftiSlice(
            pixels=np.nan_to_num(data[:, :, k].T, nan=0.0).astype(np.float32),
            spacing_mm=spacing,
            orientation=orientation,
            position_mm=tuple(float(v) for v in (lps @ np.array([0.0, 0.0, k, 1.0]))[:3]),
            index=k,
        )
        for k in range(data.shape[2])
    )
    return NiftiMap(
        path,
        kind,
        slices,
        str(info.get("PatientID", path.parent)),
        str(info.get("StudyInstanceUID", "")),
        str(info.get("SeriesDescription", path.name)),
        sidecar_context(info),
    )


# The sidecar keys read for the scan context: plain values only (DICOM sequences are not in a sidecar).
_CONTEXT_KEYS = (
    "SeriesDescription", "ProtocolName", "SequenceName", "ImageComments", "MagneticFieldStrength", "ImagingFrequency",
    "HeartRate", "NominalInterval", "CardiacRRIntervalSpecified", "ContrastBolusAgent", "AcquisitionTime", "SeriesTime",
    "ContrastBolusStartTime",
)  # fmt: skip


def sidecar_context(info: dict) -> ScanContext:
    """The scan context a JSON sidecar tells, read like a DICOM header (:func:`myomap.io.context.scan_context`).

    dcm2niix copies SeriesDescription, ProtocolName, SequenceName,
    ImageComments, MagneticFieldStrength, ImagingFrequency and the times
    (as ``HH:MM:SS.ffffff``, turned back into DICOM's ``HHMMSS.ffffff``).
    """
    header = {key: info[key] for key in _CONTEXT_KEYS if isinstance(info.get(key), str | int | float) and not isinstance(info[key], bool)}
    if "AcquisitionTime" not in header and isinstance(info.get("AcquisitionDateTime"), str):  # ISO: 2020-01-01T10:15:30.5
        header["AcquisitionTime"] = info["AcquisitionDateTime"].partition("T")[2]
    for key in ("AcquisitionTime", "SeriesTime", "ContrastBolusStartTime"):
        value = header.get(key)
        if isinstance(value, str):
            header[key] = value.replace(":", "")
    return scan_context(header)
