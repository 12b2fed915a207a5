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
columns, so base-to-apex ordering works as for DICOM maps.  The affine is
the sform unless its voxel sizes disagree with the header's (``pixdim``)
and a qform is set (:func:`world_affine`): ACDC's files carry a sform of 1 mm
voxels beside a qform of their true 1.3-1.9 mm pixels and 5-10 mm slices
(nnU-Net issue #2741; ITK takes the qform there too), and with the sform
the heart was seen at about half its size.

A 4-D file is a cine, as public cine data sets ship them (ACDC's
``*_4d.nii.gz``, M&Ms' ``*_sa.nii.gz``): volume ``t`` is cardiac phase
``t``, and ``data[:, :, k, t]`` is slice ``k`` of it.  Every phase of
every slice is a slice of its own (as for a DICOM cine given
``--map-type``), with the phase's time after the first when the header
gives the time step a unit (``xyzt_units``), else only its index.

A file named as a segmentation (``gt``, ``label``, ``labels``,
``segmentation`` as whole tokens of its name), in a folder named for them
(``labelsTr``, ``gt``, ``segmentations``), or holding only 0 and a few
other whole numbers
is a label image (the expert segmentation those data sets put beside each
image, ``*_gt.nii.gz``), not a map: :func:`read_nifti_map` refuses it with
:class:`NiftiLabelImage`, so that a folder of images and their labels can
be given as it is.  A sidecar that names a map type overrides both.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from myomap.conventions import MAP_TYPES
from myomap.io.context import ScanContext, scan_context
from myomap.io.vendor import map_type_from_header
from myomap.io.walk import walk_folder

_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])  # RAS+ world to DICOM LPS


class NiftiError(ValueError):
    """A NIfTI file that cannot be used; the message names the file and the reason."""


class NiftiLabelImage(NiftiError):
    """A NIfTI label image (a segmentation), not a map: not an error, a file to skip."""


LABEL_VALUES = 32  # a file of at most this many whole numbers, 0 among them, is a label image (is_label_image)
# A file named as a segmentation (ACDC/M&Ms "_gt", "label", "segmentation" as whole tokens) is a label image whatever its
# values; "seg" and "mask" are not enough ("sax_cine_seg": segmented k-space), their values decide.
_LABEL_NAME = re.compile(r"(?<![a-z0-9])(?:gt|labels?|segmentation)(?![a-z0-9])", re.IGNORECASE)
# A file in a folder named for labels (nnU-Net's labelsTr/labelsTs, "gt", "segmentations") is one too: nnU-Net-style
# labels resampled with linear interpolation are not whole numbers, and were analysed as maps.
_LABEL_FOLDER = re.compile(r"labels(?:Tr|Ts|Va)?|gt|ground[ _-]?truth|segmentations?|annotations?", re.IGNORECASE)


@dataclass(frozen=True)
class NiftiSlice:
    """One 2-D slice of a NIfTI map: ``pixels`` in ms indexed [row, col], geometry in DICOM LPS."""

    pixels: np.ndarray
    spacing_mm: tuple[float, float]
    orientation: tuple[float, ...]
    position_mm: tuple[float, float, float]
    index: int
    phase: int | None = None  # the volume of a 4-D file (a cine's cardiac phase), None in a 3-D one
    phase_ms: float | None = None  # the phase's time after the first (phase x time step), when the step has a unit


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
    geometry_note: str = ""


def is_nifti(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


def find_nifti(inputs: Iterable[str | Path]) -> list[Path]:
    """NIfTI files among ``inputs`` (folders searched recursively through links, hidden files skipped).

    Folders are walked as :func:`myomap.io.series_kind.find_dicom_files`
    walks them (:func:`myomap.io.walk.walk_folder`), which notes the links
    it skips; here they are skipped without a second note.
    """
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found.extend(
                sorted(root / n for root, _, names in walk_folder(item) for n in names if is_nifti(Path(n)) and not n.startswith("."))
            )
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
    """Read a NIfTI map (a 3-D stack of slices, or a 4-D cine); ``map_type`` is used when the sidecar does not name one.

    Raises
    ------
    NiftiError
        Unreadable file or sidecar, no map type, more than four
        dimensions, a 4-D series of inversion-recovery images, or an affine
        with a zero pixel spacing; :class:`NiftiLabelImage` for a label
        image (:func:`is_label_image`), unless the sidecar names a map type.
    """
    path = Path(path)
    info = sidecar(path)
    named = str(info.get("MapType", "")).upper() or map_type_from_header(info.get("ImageType", []), str(info.get("SeriesDescription", "")))
    if not named and (token := _LABEL_NAME.search(path.name)) is not None:
        raise NiftiLabelImage(f"{path}: a label image by its name ('{token.group(0)}'), not a map: skipped")
    if not named and _LABEL_FOLDER.fullmatch(path.parent.name):
        raise NiftiLabelImage(f"{path}: a label image by its folder ('{path.parent.name}'), not a map: skipped")
    image, data = _read(path)
    if not named and is_label_image(data):
        raise NiftiLabelImage(f"{path}: a label image ({np.unique(data).size} whole-number values), not a map: skipped")
    kind = named or map_type
    if kind not in MAP_TYPES:
        raise NiftiError(f'{path}: NIfTI map without a map type; give --map-type T1 or T2, or a JSON sidecar with "MapType"')
    cine = data.shape[3] > 1
    if cine and "InversionTime" in info:
        raise NiftiError(
            f"{path}: a 4-D series of inversion-recovery images (weighted images, not a map); fit it from its DICOM with --fit-missing"
        )
    step_ms = _time_step_ms(image.header) if cine else None
    affine, geometry_note = world_affine(path, image)
    lps = _LPS @ affine
    columns, rows = lps[:3, 0], lps[:3, 1]  # world steps along voxel axes i (image columns) and j (image rows)
    spacing = (float(np.linalg.norm(rows)), float(np.linalg.norm(columns)))
    if min(spacing) <= 0:
        raise NiftiError(f"{path}: the affine gives a zero pixel spacing")
    orientation = tuple(float(v) for v in (*(columns / spacing[1]), *(rows / spacing[0])))
    slices = tuple(
        NiftiSlice(
            pixels=_pixels(data, k, t),
            spacing_mm=spacing,
            orientation=orientation,
            position_mm=tuple(float(v) for v in (lps @ np.array([0.0, 0.0, k, 1.0]))[:3]),
            index=k,
            phase=t if cine else None,
            phase_ms=t * step_ms if step_ms is not None else None,
        )
        for k in range(data.shape[2])
        for t in range(data.shape[3])
    )
    return NiftiMap(
        path,
        kind,
        slices,
        str(info.get("PatientID", path.parent)),
        str(info.get("StudyInstanceUID", "")),
        str(info.get("SeriesDescription", path.name)),
        sidecar_context(info),
        geometry_note,
    )


def volume_digests(found: NiftiMap) -> dict[int | None, bytes]:
    """A digest of each volume's pixels, slice by slice: per phase of a 4-D cine, under None for a 3-D file (a copy matches)."""
    digests: dict[int | None, Any] = defaultdict(hashlib.sha256)
    for item in found.slices:
        digests[item.phase].update(np.ascontiguousarray(item.pixels, np.float32).tobytes())
    return {phase: digest.digest() for phase, digest in digests.items()}


def cine_phase_copies(digests: dict[Path, dict[int | None, bytes]]) -> dict[Path, str]:
    """The 3-D files among ``digests`` (per file, :func:`volume_digests`) holding one phase of a 4-D cine: ``volume t of <file>``.

    ACDC ships each labelled frame again (``patientNNN_frameNN.nii.gz``) beside its 4-D cine.
    """
    phases = {d: f"volume {t + 1} of {path}" for path, found in digests.items() for t, d in found.items() if t is not None}
    return {path: phases[found[None]] for path, found in digests.items() if None in found and found[None] in phases}


def world_affine(path: Path, image) -> tuple[np.ndarray, str]:
    """The voxel-to-world affine of a NIfTI image and a note when the sform was passed over (see the module docstring)."""
    header = image.header
    affine = image.affine
    zooms = np.asarray(header.get_zooms()[:3], dtype=float)  # two for a 2-D file
    sizes = np.linalg.norm(affine[:3, : zooms.size], axis=0)
    if np.allclose(sizes, zooms, rtol=1e-3, atol=1e-4):
        return affine, ""
    qform, code = header.get_qform(coded=True)
    if qform is None or not code:
        return affine, ""  # nothing better to take: the sform (or the header's base affine) it is
    shown = ", ".join(f"{v:.3g}" for v in sizes)
    return qform, (
        f"{path}: the sform's voxel sizes ({shown} mm) disagree with the header's ({', '.join(f'{v:.3g}' for v in zooms)} mm); "
        "its qform's geometry is used"
    )


def _read(path: Path):
    """The nibabel image and its data as float32 in four dimensions (x, y, slice, phase)."""
    import nibabel

    try:
        image = nibabel.load(path)
        data = np.asarray(image.get_fdata(dtype=np.float32))
    except Exception as exc:  # nibabel raises many types for damaged files; all mean "unreadable"
        raise NiftiError(f"{path}: not a readable NIfTI file ({type(exc).__name__}: {exc})") from None
    while data.ndim > 4 and data.shape[-1] == 1:
        data = data[..., 0]
    data = data.reshape(data.shape + (1,) * (4 - data.ndim)) if data.ndim < 4 else data
    if data.ndim != 4:
        raise NiftiError(f"{path}: NIfTI of shape {data.shape}; a map has one volume, a cine one volume per cardiac phase")
    return image, data


def _pixels(data: np.ndarray, index: int, phase: int) -> np.ndarray:
    """Slice ``index`` of volume ``phase`` as an image ([row, col]); infinite pixels as NaN (failed fits, masked background)."""
    pixels = np.ascontiguousarray(data[:, :, index, phase].T, dtype=np.float32)
    return np.where(np.isfinite(pixels), pixels, np.float32(np.nan))


def slice_pixels(path: str | Path, index: int, phase: int | None) -> np.ndarray:
    """The pixels (ms, [row, col]) of slice ``index`` (and cine phase ``phase``) of a NIfTI map, read again.

    Discovery keeps no NIfTI pixels, so that a folder of 4-D cines fits in
    memory; the last four files read are kept (:func:`release_cached` drops
    them), so a patient's slices, loaded one after the other, read each file
    once, and a file that cannot be read is tried once.  Raises
    :class:`NiftiError` when the file is unreadable or no longer has that
    slice.
    """
    path = Path(path)
    data = _cached(path, path.stat().st_mtime_ns)
    if isinstance(data, NiftiError):
        raise data
    if not (0 <= index < data.shape[2] and 0 <= (phase or 0) < data.shape[3]):
        raise NiftiError(f"{path}: changed since it was found (no slice {index}" + (f", phase {phase})" if phase is not None else ")"))
    return _pixels(data, index, phase or 0)


@lru_cache(maxsize=4)
def _cached(path: Path, mtime_ns: int) -> np.ndarray | NiftiError:
    try:
        return _read(path)[1]
    except NiftiError as exc:
        return exc


def release_cached() -> None:
    """Drop the NIfTI files :func:`slice_pixels` keeps (after a patient)."""
    _cached.cache_clear()


def is_label_image(data: np.ndarray) -> bool:
    """Whether ``data`` holds 0 (the background) and one to :data:`LABEL_VALUES` - 1 other whole numbers, nothing else.

    A map has hundreds of distinct values, a label image a few classes
    around a background of 0 (ACDC and M&Ms label 1-3; MyoPS uses 200-2221;
    AHA segment maps 1-17).  A constant image is neither: it is refused
    later as such.  The first volume is looked at first, so a cine is not
    searched whole.  A test object drawn in a few flat values is taken for
    labels: give it a sidecar with ``"MapType"``.
    """
    if np.unique(data[..., 0]).size > LABEL_VALUES:  # plainly a map: the whole cine need not be searched
        return False
    values = np.unique(data[np.isfinite(data)])  # a cine's labels may leave the first phase empty (M&Ms: only two phases drawn)
    return 2 <= values.size <= LABEL_VALUES and values[0] == 0 and bool(np.all(values == np.round(values)))


def _time_step_ms(header) -> float | None:
    """The time between volumes in ms, None when the header gives no positive step or no unit for it."""
    zooms = header.get_zooms()
    unit = header.get_xyzt_units()[1] if hasattr(header, "get_xyzt_units") else "unknown"
    factor = {"sec": 1000.0, "msec": 1.0, "usec": 0.001}.get(unit)
    if len(zooms) < 4 or factor is None or not zooms[3] > 0:
        return None
    return float(zooms[3]) * factor


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
