"""Reading and writing single-frame MR DICOM images (maps and weighted images).

Maps store milliseconds after RescaleSlope/RescaleIntercept.  Weighted
images carry their inversion time in InversionTime (0018,0081); the standard
has no tag for a T2-preparation duration, so it is written to and read from
ImageComments as ``T2prep=<ms>ms``.  Readers return ``(pixels, meta)`` so the
spacing never gets lost, and never copy patient-identifying fields into the
metadata they return.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, PYDICOM_IMPLEMENTATION_UID

from myomap.io.files import atomic_path

_T2PREP_RE = re.compile(r"T2\s*-?\s*prep\w*\s*[=:]?\s*(\d+(?:\.\d+)?)\s*ms", re.IGNORECASE)


class DicomError(ValueError):
    """A DICOM file that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class DicomGeometry:
    """Where the image lies: spacing (row, col) mm, direction cosines, top-left pixel centre (mm, LPS)."""

    spacing_mm: tuple[float, float]
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
    t2prep_ms: float | None = None
    orientation: tuple[float, ...] | None = None
    position_mm: tuple[float, ...] | None = None
    echo_time_ms: float | None = None
    image_comments: str = ""
    series_uid: str = ""
    sop_uid: str = ""


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
    ds.Manufacturer = "myomap phantom"
    ds.PatientID = series.patient_id
    ds.PatientName = series.patient_name
    ds.StudyInstanceUID = series.study_uid
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
        spacing_mm=tuple(float(v) for v in ds.get("PixelSpacing", [1.0, 1.0])),
        orientation=tuple(float(v) for v in ds.get("ImageOrientationPatient", [1, 0, 0, 0, 1, 0])),
        position_mm=tuple(float(v) for v in ds.get("ImagePositionPatient", [0, 0, 0])),
        slice_thickness_mm=float(ds.get("SliceThickness", 8.0) or 8.0),
    )
    series = SeriesInfo(
        patient_id=str(ds.get("PatientID", "")) if keep_phi else "ANONYMOUS",
        patient_name=str(ds.get("PatientName", "")) if keep_phi else "Anonymous",
        study_uid=study_uid if keep_phi and study_uid else generate_uid(entropy_srcs=["study", study_uid]),
        series_uid=series_uid,
        series_number=series_number,
        series_description=description,
        image_type=("DERIVED", "SECONDARY", "R2 MAP" if kind == "R2" else f"{kind} MAP"),
        field_strength_t=float(ds.get("MagneticFieldStrength", 0.0) or 0.0),
        study_date=str(ds.get("StudyDate", "")) if keep_phi else "",
    )
    write_mr_image(path, np.clip(values, 0.0, None), geometry=geometry, series=series, instance_number=1, sop_uid=sop_uid, slope=slope, window=window)


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
        raise DicomError(f"{path}: pixel data cannot be decoded ({type(exc).__name__}: {exc})") from None
    if pixels.ndim != 2:
        raise DicomError(f"{path}: expected one 2-D frame, got pixel array of shape {pixels.shape}")
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    values = pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    if not np.all(np.isfinite(values)):
        raise DicomError(f"{path}: image contains NaN or infinite pixels")
    spacing = None
    if "PixelSpacing" in ds:
        spacing = (float(ds.PixelSpacing[0]), float(ds.PixelSpacing[1]))
        if min(spacing) <= 0:
            raise DicomError(f"{path}: PixelSpacing {spacing} is not positive")
    elif require_spacing:
        raise DicomError(f"{path}: missing PixelSpacing (0028,0030)")
    t2prep = None
    match = _T2PREP_RE.search(str(ds.get("ImageComments", "")))
    if match:
        t2prep = float(match.group(1))
    inversion = ds.get("InversionTime")
    echo = ds.get("EchoTime")
    meta = ImageMeta(
        spacing_mm=spacing,
        image_type=tuple(str(v) for v in ds.get("ImageType", [])),
        series_description=str(ds.get("SeriesDescription", "")),
        inversion_time_ms=float(inversion) if inversion not in (None, "") else None,
        t2prep_ms=t2prep,
        orientation=tuple(float(c) for c in ds.ImageOrientationPatient) if "ImageOrientationPatient" in ds else None,
        position_mm=tuple(float(c) for c in ds.ImagePositionPatient) if "ImagePositionPatient" in ds else None,
        echo_time_ms=float(echo) if echo not in (None, "") else None,
        image_comments=str(ds.get("ImageComments", "")),
        series_uid=str(ds.get("SeriesInstanceUID", "")),
        sop_uid=str(ds.get("SOPInstanceUID", "")),
    )
    return values, meta
