"""Reading and writing single-frame MR DICOM images (maps and weighted images).

Maps store milliseconds after RescaleSlope/RescaleIntercept.  Readers
return ``(pixels, meta)`` so the spacing never gets lost, and never copy
patient-identifying fields into the metadata they return.  A header value
that cannot be parsed is a :class:`DicomError` naming the file and the tag.

Preparation times of weighted images, read by :func:`inversion_time` and
:func:`t2prep_time` (the one place for these conventions):

- inversion time: InversionTime (0018,0082), else ``TI <ms>`` / ``TI=<ms>``
  in ImageComments (0020,4000), as Siemens MOLLI raw images carry it;
- T2-preparation time: the standard has no tag for it, so ImageComments
  ``T2prep=<ms>ms`` (also ``T2 prep <ms>``, ``T2P=<ms>``), which the phantom
  writes too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, MRImageStorage, generate_uid

from myomap.io.files import atomic_path

_TI_COMMENT = re.compile(r"\bTI\s*[=:]?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_T2PREP_COMMENT = re.compile(r"\bT2\s*-?\s*(?:prep\w*|P)\.?\s*(?:duration)?\s*[=:]?\s*(\d+(?:\.\d+)?)\s*(?:ms)?", re.IGNORECASE)


class DicomError(ValueError):
    """A DICOM file that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class DicomGeometry:
    """Where the image lies: spacing (row, col) mm, direction cosines, top-left pixel centre (mm, LPS).

    ``spacing_mm`` None leaves PixelSpacing out (a source without it).
    """

    spacing_mm: tuple[float, float] | None
    orientation: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    position_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    slice_thickness_mm: float = 8.0


@dataclass(frozen=True)
class SeriesInfo:
    """Series-level attributes written into every image of a series."""

    patient_id: str
    patient_name: str
    study_uid: str
    series_uid: str
    series_number: int
    series_description: str
    image_type: tuple[str, ...]
    field_strength_t: float = 1.5
    heart_rate_bpm: float | None = None
    study_date: str = "20260101"


@dataclass(frozen=True)
class ImageMeta:
    """What a reader needs from a DICOM image, without identifying fields."""

    spacing_mm: tuple[float, float] | None
    image_type: tuple[str, ...] = ()
    series_description: str = ""
    inversion_time_ms: float | None = None
    orientation: tuple[float, ...] | None = None
    position_mm: tuple[float, ...] | None = None
    echo_time_ms: float | None = None
    image_comments: str = ""
    series_uid: str = ""
    sop_uid: str = ""
    instance_number: int | None = None


def inversion_time(meta: ImageMeta) -> tuple[float | None, str]:
    """Inversion time in ms and where it was found (see the module docstring)."""
    if meta.inversion_time_ms is not None:
        return meta.inversion_time_ms, "InversionTime"
    match = _TI_COMMENT.search(meta.image_comments)
    return (float(match.group(1)), "ImageComments TI") if match else (None, "")


def t2prep_time(meta: ImageMeta) -> tuple[float | None, str]:
    """T2-preparation time in ms and where it was found (see the module docstring)."""
    match = _T2PREP_COMMENT.search(meta.image_comments)
    return (float(match.group(1)), "ImageComments T2prep") if match else (None, "")


def write_mr_image(
    path: Path,
    values: np.ndarray,
    *,
    geometry: DicomGeometry,
    series: SeriesInfo,
    instance_number: int,
    sop_uid: str,
    slope: float = 1.0,
    intercept: float = 0.0,
    inversion_time_ms: float | None = None,
    t2prep_ms: float | None = None,
    window: tuple[float, float] | None = None,
    manufacturer: str = "myomap phantom",
) -> None:
    """Write a 2-D array as an MR Image Storage file, ``stored = round((value - intercept) / slope)``.

    NaN is stored as 0; values are clipped to the uint16 range.
    """
    stored = np.nan_to_num((np.asarray(values, dtype=float) - intercept) / slope, nan=0.0)
    stored = np.clip(np.rint(stored), 0, 65535).astype(np.uint16)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "MR"
    ds.Manufacturer = manufacturer
    ds.PatientID = series.patient_id
    ds.PatientName = series.patient_name
    ds.PatientBirthDate = ds.PatientSex = ""
    ds.StudyInstanceUID = series.study_uid
    ds.StudyID = ds.AccessionNumber = ds.ReferringPhysicianName = ""
    ds.StudyTime = "120000"
    ds.FrameOfReferenceUID = generate_uid(entropy_srcs=[series.study_uid, "frame of reference"])
    ds.SeriesInstanceUID = series.series_uid
    if series.study_date:
        ds.StudyDate = ds.SeriesDate = series.study_date
    ds.SeriesNumber = series.series_number
    ds.SeriesDescription = series.series_description
    ds.InstanceNumber = instance_number
    ds.ImageType = list(series.image_type)
    ds.MagneticFieldStrength = series.field_strength_t
    if series.heart_rate_bpm is not None:
        ds.HeartRate = int(round(series.heart_rate_bpm))
    if geometry.spacing_mm is not None:
        ds.PixelSpacing = [f"{s:.6g}" for s in geometry.spacing_mm]
    ds.SliceThickness = geometry.slice_thickness_mm
    ds.ImageOrientationPatient = [f"{c:.6f}" for c in geometry.orientation]
    ds.ImagePositionPatient = [f"{c:.4f}" for c in geometry.position_mm]
    normal = np.cross(geometry.orientation[:3], geometry.orientation[3:])
    ds.SliceLocation = f"{float(np.dot(normal, geometry.position_mm)):.4f}"
    if inversion_time_ms is not None:
        ds.InversionTime = f"{inversion_time_ms:.2f}"
    if t2prep_ms is not None:
        ds.ImageComments = f"T2prep={t2prep_ms:g}ms"
    ds.RescaleSlope = f"{slope:g}"
    ds.RescaleIntercept = f"{intercept:g}"
    ds.RescaleType = "MS" if any(t in ("T1 MAP", "T2 MAP") for t in series.image_type) else "US"
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = f"{window[0]:g}", f"{window[1]:g}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = stored.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = stored.tobytes()
    with atomic_path(Path(path)) as tmp:
        ds.save_as(tmp, enforce_file_format=True)


# How maps are stored: RescaleSlope (ms per stored unit) and a display window (centre, width).
MAP_STORAGE = {"T1": (1.0, (1000.0, 1400.0)), "T2": (0.1, (50.0, 60.0)), "R2": (1e-4, (0.5, 1.0))}


def write_derived_map(
    path: Path,
    values: np.ndarray,
    source: Path,
    *,
    kind: str,
    description: str,
    series_uid: str,
    sop_uid: str,
    series_number: int = 900,
    keep_phi: bool = False,
) -> None:
    """Write a map computed from ``source`` images, copying its geometry.

    ``kind`` is ``T1``, ``T2`` or ``R2`` (goodness of fit, stored 0-1).
    Patient name, ID and the study's UID are copied only with ``keep_phi``;
    otherwise the patient is "ANONYMOUS" and the study UID is replaced by one
    derived from it, so that maps of one study still share a study.
    """
    from pydicom.uid import generate_uid

    try:
        ds = pydicom.dcmread(source, stop_before_pixels=True)
    except Exception as exc:  # corrupt template: report it like any unreadable input
        raise DicomError(f"{source}: not a readable DICOM file ({type(exc).__name__}: {exc})") from None
    slope, window = MAP_STORAGE[kind]
    study_uid = str(ds.get("StudyInstanceUID", ""))
    geometry = DicomGeometry(
        spacing_mm=_numbers(ds, "PixelSpacing", source, 2),
        orientation=_numbers(ds, "ImageOrientationPatient", source, 6) or (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
        position_mm=_numbers(ds, "ImagePositionPatient", source, 3) or (0.0, 0.0, 0.0),
        slice_thickness_mm=_number(ds, "SliceThickness", source) or 8.0,
    )
    series = SeriesInfo(
        patient_id=str(ds.get("PatientID", "")) if keep_phi else "ANONYMOUS",
        patient_name=str(ds.get("PatientName", "")) if keep_phi else "Anonymous",
        study_uid=study_uid if keep_phi and study_uid else generate_uid(entropy_srcs=["study", study_uid]),
        series_uid=series_uid,
        series_number=series_number,
        series_description=description,
        image_type=("DERIVED", "SECONDARY", "R2 MAP" if kind == "R2" else f"{kind} MAP"),
        field_strength_t=_number(ds, "MagneticFieldStrength", source) or 0.0,
        study_date=str(ds.get("StudyDate", "")) if keep_phi else "",
    )
    write_mr_image(
        path, np.clip(values, 0.0, None), geometry=geometry, series=series, instance_number=1, sop_uid=sop_uid, slope=slope, window=window, manufacturer="myomap"
    )


def read_image(path: str | Path, *, require_spacing: bool = True) -> tuple[np.ndarray, ImageMeta]:
    """Read a single-frame image as float32 in real-world units (rescale applied).

    Raises
    ------
    DicomError
        Not a readable DICOM, no pixel data, more than one frame, missing
        PixelSpacing (when ``require_spacing``), or NaN / infinite pixels.
    """
    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except FileNotFoundError:
        raise DicomError(f"{path}: file not found") from None
    except Exception as exc:  # pydicom raises many types for corrupt input; all mean "unreadable"
        raise DicomError(f"{path}: not a readable DICOM file ({type(exc).__name__}: {exc})") from None
    if "PixelData" not in ds:
        raise DicomError(f"{path}: no pixel data")
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # missing decoder for a compressed syntax, truncated data, ...
        raise DicomError(_decode_error(path, ds, exc)) from None
    if pixels.ndim != 2:
        raise DicomError(f"{path}: expected one 2-D frame, got pixel array of shape {pixels.shape}")
    slope = _number(ds, "RescaleSlope", path) or 1.0
    intercept = _number(ds, "RescaleIntercept", path) or 0.0
    values = pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    if not np.all(np.isfinite(values)):
        raise DicomError(f"{path}: image contains NaN or infinite pixels")
    spacing = _numbers(ds, "PixelSpacing", path, 2)
    if spacing is not None and min(spacing) <= 0:
        raise DicomError(f"{path}: PixelSpacing {spacing} is not positive")
    if spacing is None and require_spacing:
        raise DicomError(f"{path}: missing PixelSpacing (0028,0030)")
    instance = _number(ds, "InstanceNumber", path)
    meta = ImageMeta(
        spacing_mm=spacing,
        image_type=tuple(str(v) for v in ds.get("ImageType", [])),
        series_description=str(ds.get("SeriesDescription", "")),
        inversion_time_ms=_number(ds, "InversionTime", path),
        orientation=_numbers(ds, "ImageOrientationPatient", path, 6),
        position_mm=_numbers(ds, "ImagePositionPatient", path, 3),
        echo_time_ms=_number(ds, "EchoTime", path),
        image_comments=str(ds.get("ImageComments", "")),
        series_uid=str(ds.get("SeriesInstanceUID", "")),
        sop_uid=str(ds.get("SOPInstanceUID", "")),
        instance_number=int(instance) if instance is not None else None,
    )
    return values, meta


def _decode_error(path: Path, ds: Dataset, exc: Exception) -> str:
    """One line saying why pixel data cannot be decoded, and which decoder a compressed syntax needs."""
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    reason = " ".join(str(exc).split())  # pydicom's messages span several lines
    if syntax is not None and syntax.is_compressed:
        return (
            f"{path}: pixel data in {syntax.name} cannot be decoded ({reason}); compressed DICOM may need an extra decoder, "
            "e.g. pip install pylibjpeg pylibjpeg-openjpeg pylibjpeg-libjpeg (or python-gdcm)"
        )
    return f"{path}: pixel data cannot be decoded ({type(exc).__name__}: {reason})"


def _number(ds: Dataset, keyword: str, path: Path) -> float | None:
    """A single numeric header value; None when absent or empty, DicomError when malformed."""
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        return float(value)
    except (TypeError, ValueError):
        raise DicomError(f"{path}: {keyword} {_raw(ds, keyword)!r} is not a number") from None


def _numbers(ds: Dataset, keyword: str, path: Path, count: int) -> tuple[float, ...] | None:
    """A multi-valued numeric header value with exactly ``count`` entries; None when absent."""
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        numbers = tuple(float(v) for v in (value if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else [value]))
    except (TypeError, ValueError):
        raise DicomError(f"{path}: {keyword} {_raw(ds, keyword)!r} is not numeric") from None
    if len(numbers) != count:
        raise DicomError(f"{path}: {keyword} has {len(numbers)} values, expected {count}")
    return numbers


def _raw(ds: Dataset, keyword: str) -> str:
    """The undecoded text of an element, for error messages."""
    element = ds.get_item(keyword)
    value = getattr(element, "value", element)
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip()[:40]
