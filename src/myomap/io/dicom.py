"""Reading and writing MR DICOM images (maps and weighted images).

Maps store milliseconds after the value mapping of
:mod:`myomap.io.vendor` (RealWorldValueMapping, else RescaleSlope and
RescaleIntercept).  Readers return ``(pixels, meta)`` so the spacing never
gets lost, and never copy patient-identifying fields into the metadata
they return (see :class:`~myomap.io.header.ImageMeta`).  A header value
that cannot be parsed is a :class:`DicomError` naming the file and the tag.
Headers are indexed by :mod:`myomap.io.header` (one record per frame, enhanced
multi-frame files split by their functional groups); :func:`read_frames`
decodes the pixels of indexed frames, each file once.

Compressed transfer syntaxes (JPEG lossless, JPEG-LS, JPEG 2000, RLE) are
decoded by pydicom with the pylibjpeg plugins installed with myomap
(python-gdcm works too); deflated files need nothing extra.  Preparation
times of weighted images (:func:`inversion_time`, :func:`t2prep_time`)
follow the vendor conventions listed in :mod:`myomap.io.vendor`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian, MRImageStorage, generate_uid

from myomap.io import vendor
from myomap.io.files import atomic_path
from myomap.io.header import DicomError, ImageMeta, headers_of


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


class DecodeError(DicomError):
    """Pixel data that cannot be decoded; ``syntax`` names the transfer syntax, for one summary line per syntax."""

    def __init__(self, message: str, syntax: str = "") -> None:
        super().__init__(message)
        self.syntax = syntax


DECODER_HINT = (
    "the data are damaged, or need an extra decoder: pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg pylibjpeg-rle "
    "(installed with myomap) or python-gdcm"
)


def inversion_time(meta: ImageMeta) -> tuple[float | None, str]:
    """Inversion time of one image in ms and where it was found (:mod:`myomap.io.vendor`)."""
    return vendor.image_time(meta, "inversion")


def t2prep_time(meta: ImageMeta) -> tuple[float | None, str]:
    """T2-preparation time of one image in ms and where it was found (:mod:`myomap.io.vendor`)."""
    return vendor.image_time(meta, "t2prep")


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

    NaN and infinite values (pixels without a value: failed fits) are stored as 0 ms, which is
    read back as a pixel without a value too (uint16 has no NaN; with an intercept above 0, as
    the intercept); values are clipped to the uint16 range.
    """
    valued = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    stored = (valued - intercept) / slope
    stored = np.clip(np.rint(stored), 0, 65535).astype(np.uint16)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
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
    source: Path | ImageMeta,
    *,
    kind: str,
    description: str,
    series_uid: str,
    sop_uid: str,
    series_number: int = 900,
    keep_phi: bool = False,
) -> None:
    """Write a map computed from ``source`` images, copying its geometry.

    ``source`` is the first source image: a file, or the indexed frame
    (whose geometry may come from a multi-frame file's functional groups).
    ``kind`` is ``T1``, ``T2`` or ``R2`` (goodness of fit, stored 0-1).
    Patient name, ID and the study's UID are copied only with ``keep_phi``;
    otherwise the patient is "ANONYMOUS" and the study UID is replaced by one
    derived from it, so that maps of one study still share a study.
    """
    file = source.path if isinstance(source, ImageMeta) else Path(source)
    try:
        ds = pydicom.dcmread(file, stop_before_pixels=True)
    except Exception as exc:  # corrupt template: report it like any unreadable input
        raise DicomError(f"{file}: not a readable DICOM file ({type(exc).__name__}: {exc})") from None
    meta = source if isinstance(source, ImageMeta) else headers_of(ds, file)[0]
    slope, window = MAP_STORAGE[kind]
    study_uid = str(ds.get("StudyInstanceUID", ""))
    geometry = DicomGeometry(
        spacing_mm=meta.spacing_mm,
        orientation=meta.orientation or (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
        position_mm=meta.position_mm or (0.0, 0.0, 0.0),
        slice_thickness_mm=meta.slice_thickness_mm or 8.0,
    )
    series = SeriesInfo(
        patient_id=str(ds.get("PatientID", "")) if keep_phi else "ANONYMOUS",
        patient_name=str(ds.get("PatientName", "")) if keep_phi else "Anonymous",
        study_uid=study_uid if keep_phi and study_uid else generate_uid(entropy_srcs=["study", study_uid]),
        series_uid=series_uid,
        series_number=series_number,
        series_description=description,
        image_type=("DERIVED", "SECONDARY", "R2 MAP" if kind == "R2" else f"{kind} MAP"),
        field_strength_t=meta.field_strength_t or 0.0,
        study_date=str(ds.get("StudyDate", "")) if keep_phi else "",
    )
    write_mr_image(
        path,
        np.clip(values, 0.0, None),
        geometry=geometry,
        series=series,
        instance_number=1,
        sop_uid=sop_uid,
        slope=slope,
        window=window,
        manufacturer="myomap",
    )


def read_image(path: str | Path, *, require_spacing: bool = True) -> tuple[np.ndarray, ImageMeta]:
    """Read a single-frame image as float32 in real-world units (value mapping applied).

    Raises
    ------
    DicomError
        Not a readable DICOM, no pixel data, more than one frame, missing
        PixelSpacing (when ``require_spacing``), or no finite pixel.  NaN and
        infinite pixels (a float map's failed fits) are read as NaN.
    """
    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except FileNotFoundError:
        raise DicomError(f"{path}: file not found") from None
    except Exception as exc:  # pydicom raises many types for corrupt input; all mean "unreadable"
        raise DicomError(f"{path}: not a readable DICOM file ({type(exc).__name__}: {exc})") from None
    metas = headers_of(ds, path)
    if len(metas) != 1:
        raise DicomError(f"{path}: expected one 2-D frame, got a multi-frame file of {len(metas)} frames")
    (pixels,) = _decode(ds, metas, require_spacing)
    return pixels, metas[0]


def read_frames(frames: Sequence[ImageMeta], *, require_spacing: bool = True) -> list[np.ndarray]:
    """Pixels of indexed frames as float32 in real-world units, in the order given; each file is decoded once.

    Raises
    ------
    DicomError
        As :func:`read_image`; :class:`DecodeError` when the pixel data
        cannot be decoded.  The first failing file stops the read.
    """
    by_file: dict[Path, list[int]] = {}
    for k, meta in enumerate(frames):
        by_file.setdefault(meta.path, []).append(k)
    result: list[np.ndarray | None] = [None] * len(frames)
    for path, indices in by_file.items():
        try:
            ds = pydicom.dcmread(path)
        except Exception as exc:  # pydicom raises many types for corrupt input; all mean "unreadable"
            raise DicomError(f"{path}: not a readable DICOM file ({type(exc).__name__}: {exc})") from None
        for k, pixels in zip(indices, _decode(ds, [frames[k] for k in indices], require_spacing)):
            result[k] = pixels
    return result


# Integer pixels, or the 32- and 64-bit float pixels of a Parametric Map (Parametric Map Storage: highdicom, dcmqi).
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def _decode(ds: Dataset, metas: Sequence[ImageMeta], require_spacing: bool) -> list[np.ndarray]:
    """The frames ``metas`` of the read dataset ``ds``, value mapping applied and checked."""
    path = metas[0].path
    if not any(keyword in ds for keyword in _PIXEL_KEYWORDS):
        raise DicomError(f"{path}: no pixel data")
    if metas[0].is_colour:  # before decoding: a colour JPEG may have no decoder here, and its colours are no values anyway
        raise DicomError(f"{path}: a colour image ({metas[0].photometric}), not a T1 or T2 map: its pixels are display colours, not values")
    try:
        array = ds.pixel_array
    except Exception as exc:  # missing decoder for a compressed syntax, truncated data, ...
        raise _decode_error(path, ds, exc) from None
    count = int(ds.get("NumberOfFrames", 1) or 1)
    stack = array[None] if array.ndim == 2 and count == 1 else array
    if stack.ndim != 3 or stack.shape[0] != count:
        raise DicomError(f"{path}: expected {count} monochrome frame(s), got pixel array of shape {array.shape}")
    out = []
    for meta in metas:
        stored = stack[meta.frame or 0]
        scale = meta.scaling
        values = stored.astype(np.float32) * np.float32(scale.slope) + np.float32(scale.intercept)
        finite = np.isfinite(values)
        if not finite.any():
            raise DicomError(f"{meta.where}: image holds no finite pixels (all NaN or infinite)")
        if not finite.all():  # a float map's failed fits or masked background: pixels without a value
            values = np.where(finite, values, np.float32(np.nan))
        if meta.spacing_mm is not None and min(meta.spacing_mm) <= 0:
            raise DicomError(f"{meta.where}: PixelSpacing {meta.spacing_mm} is not positive")
        if meta.spacing_mm is None and require_spacing:
            raise DicomError(f"{meta.where}: missing PixelSpacing (0028,0030)")
        out.append(values)
    return out


def _decode_error(path: Path, ds: Dataset, exc: Exception) -> DecodeError:
    """One line saying why pixel data cannot be decoded, and which decoder a compressed syntax needs."""
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    reason = " ".join(str(exc).split())[:160]  # pydicom's messages span several lines
    if syntax is not None and syntax.is_compressed:
        return DecodeError(f"{path}: pixel data in {syntax.name} cannot be decoded ({reason}); {DECODER_HINT}", syntax.name)
    return DecodeError(f"{path}: pixel data cannot be decoded ({type(exc).__name__}: {reason})")
