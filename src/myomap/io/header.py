"""Header-only indexing of DICOM images: one :class:`ImageMeta` per frame.

A classic file holds one frame; an enhanced multi-frame file (Enhanced MR
Image Storage, newer Siemens XA and Philips exports) holds many, each
described by its functional groups: the per-frame group overrides the
shared one for plane position, plane orientation, pixel measures, frame
type, inversion time (MR Modifier), echo time (MR Echo), trigger delay
(Cardiac Synchronization) and value mapping.
Reading stops before the pixel data, so indexing a whole exam is quick.

A header value that cannot be parsed is a :class:`DicomError` naming the
file and the tag, except the vendor fallbacks of :mod:`myomap.io.vendor`,
whose garbage only becomes a note (``ImageMeta.problems``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.datadict import dictionary_has_tag
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import UID

from myomap.io import vendor
from myomap.io.context import ScanContext, scan_context
from myomap.io.vendor import ValueScaling


class DicomError(ValueError):
    """A DICOM file that cannot be used; the message names the file and the reason."""


class NotDicomError(DicomError):
    """A file that is not DICOM at all (no ``DICM`` prefix)."""


# Extensions of files meant as DICOM: one of those that is not DICOM is an error, any other file a note.
DICOM_SUFFIXES = {"", ".dcm", ".dicom", ".ima", ".img"}
_EACH = 5  # errors of one kind listed one per line before the rest are summarised


@dataclass(frozen=True)
class Index:
    """The frames of an indexed set of files, and its error and note lines."""

    frames: list
    errors: list[str]
    notes: list[str]
    damaged_series: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ImageMeta:
    """What a reader needs from one frame of a DICOM image.

    Identifying fields are not kept, except the raw ``patient_id``, which
    groups images per patient and reaches an output only when the user
    asks for it (``--keep-phi``), and ``study_datetime``, which orders a
    patient's studies and reaches no output.  ``frame`` is the 0-based
    frame index in a multi-frame file, None for a classic single-frame file.
    """

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
    path: Path | None = None
    frame: int | None = None
    study_uid: str = ""
    patient_id: str = ""
    series_number: int | None = None
    protocol_name: str = ""
    modality: str = ""
    sop_class_uid: str = ""
    rows: int = 0
    columns: int = 0
    slice_thickness_mm: float | None = None
    field_strength_t: float | None = None
    vendor_inversion_ms: float | None = None
    scaling: ValueScaling = ValueScaling()
    problems: tuple[str, ...] = ()
    context: ScanContext = ScanContext()  # field strength, sequence, heart rate, contrast agent, time
    photometric: str = ""  # PhotometricInterpretation: MONOCHROME1/2 hold values; RGB, YBR_*, PALETTE COLOR are renderings
    trigger_time_ms: float | None = None  # delay after the R wave: a cine's cardiac phases differ in it
    study_datetime: str = ""  # StudyDate + StudyTime as written: orders a patient's studies (never reaches an output)
    bits_stored: int = 0  # BitsStored (0 when absent): 8 bits or fewer hold display levels, not a map's ms

    @property
    def is_colour(self) -> bool:
        """A colour rendering (RGB, YBR, palette): its pixels are display colours, not T1 or T2 values."""
        return bool(self.photometric) and not self.photometric.startswith("MONOCHROME")

    @property
    def claims_mr_image(self) -> bool:
        """The header says this is an MR image: an MR image SOP class, or Modality MR with an image SOP class (or none).

        Such an object without pixels (Rows or Columns 0) is a broken image,
        not one of the non-image objects an exam holds beside its images
        (structured reports, presentation states, DICOMDIR, PDFs, a vendor's
        private non-image objects and spectroscopy, which may say Modality MR).
        """
        name = UID(self.sop_class_uid).name if self.sop_class_uid else ""
        image_class = name.endswith("Image Storage")
        return (image_class and " MR " in f" {name} ") or (self.modality == "MR" and (image_class or not self.sop_class_uid))

    @property
    def where(self) -> str:
        """The file (and frame) for messages."""
        return f"{self.path}" + ("" if self.frame is None else f" frame {self.frame + 1}")

    @property
    def series_label(self) -> str:
        """``series 12 'MOLLI T1 MAP'`` for messages and tables."""
        number = "?" if self.series_number is None else self.series_number
        return f"series {number} '{self.series_description}'"


def read_headers(path: str | Path) -> list[ImageMeta]:
    """Index one file: one :class:`ImageMeta` per frame, pixel data not read.

    Raises
    ------
    DicomError
        Not a readable DICOM, a malformed header value, or a multi-frame
        file whose functional groups do not place every frame.
    """
    path = Path(path)
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except FileNotFoundError:
        raise DicomError(f"{path}: file not found") from None
    except InvalidDicomError:
        raise NotDicomError(f"{path}: not a readable DICOM file (not DICOM: no DICM prefix)") from None
    except Exception as exc:  # pydicom raises many types for corrupt input; all mean "unreadable"
        raise DicomError(f"{path}: not a readable DICOM file ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})") from None
    if not any(dictionary_has_tag(tag) for tag in [*ds.keys(), *getattr(ds, "file_meta", Dataset()).keys()]):
        # pydicom reads garbage after a DICM prefix as elements of unknown tags: a damaged file, not an object without an image.
        raise DicomError(f"{path}: not a readable DICOM file (nothing after the DICM prefix parses as a DICOM element)")
    try:
        return headers_of(ds, path)
    except DicomError as exc:
        exc.series_uid = _series_uid(ds, path)  # so that its series is known to be incomplete
        raise


def index_files(files: Iterable[Path]) -> Index:
    """Index the headers of ``files``: frames, error lines, note lines.

    Files that are not DICOM at all and have no DICOM-like extension
    (a viewer, a README, a JPEG) are one summary note; damaged DICOM files
    and non-DICOM ``.dcm`` files are errors, listed one per line up to five,
    then summarised; the series of a DICOM file with a malformed header is
    listed in ``damaged_series`` (it is incomplete).  Frames whose SOPInstanceUID (and frame number) was
    seen before are dropped with one note (of two copies the larger file
    is kept: a truncated copy is the smaller one).
    """
    frames: list[ImageMeta] = []
    foreign: list[Path] = []
    broken: list[str] = []
    notes: list[str] = []
    seen: dict[tuple[str, int | None], ImageMeta] = {}
    duplicates: list[tuple[Path, Path]] = []
    damaged: set[str] = set()
    for path in files:
        try:
            metas = read_headers(path)
        except NotDicomError as exc:
            (foreign.append(path) if path.suffix.lower() not in DICOM_SUFFIXES else broken.append(str(exc)))
            continue
        except DicomError as exc:
            broken.append(str(exc))
            damaged.add(getattr(exc, "series_uid", ""))
            continue
        for meta in metas:
            key = (meta.sop_uid, meta.frame)
            if meta.sop_uid and key in seen:
                kept = seen[key]
                if path.stat().st_size > kept.path.stat().st_size:  # a truncated copy is the smaller one
                    frames[frames.index(kept)] = meta
                    seen[key] = meta
                    meta, kept = kept, meta
                duplicates.append((meta.path, kept.path))
                continue
            seen[key] = meta
            frames.append(meta)
            notes.extend(meta.problems)
    errors = broken[:_EACH] + (
        [f"{len(broken) - _EACH} more unreadable DICOM file(s), e.g. {broken[_EACH].split(': ')[0]}"] if len(broken) > _EACH else []
    )
    if foreign:
        notes.append(f"{len(foreign)} file(s) are not DICOM (e.g. {', '.join(str(p) for p in foreign[:2])}); skipped")
    if duplicates:
        copy, first = duplicates[0]
        notes.append(f"{len(duplicates)} duplicate image(s) (a SOPInstanceUID seen before) ignored, e.g. {copy} (same as {first})")
    return Index(frames, errors, sorted(set(notes), key=notes.index), frozenset(damaged - {""}))


def headers_of(ds: Dataset, path: Path) -> list[ImageMeta]:
    """The frames of an already-read dataset (see :func:`read_headers`).

    A single-frame image placed by its own ImagePositionPatient is read as a
    classic image even when it carries functional groups too: Siemens XA
    exports in the classic ("interoperability") format keep enhanced
    structures beside the classic attributes (dcm2niix issue #845, XA30
    MyoMaps), and their groups need not place the frame.
    """
    frames = int(number(ds, "NumberOfFrames", path) or 1)
    if frames > 1 or ("PerFrameFunctionalGroupsSequence" in ds and "ImagePositionPatient" not in ds):
        return [_frame_meta(ds, path, k, frames) for k in range(frames)]
    groups = [
        sequence[0] for sequence in (ds.get("PerFrameFunctionalGroupsSequence"), ds.get("SharedFunctionalGroupsSequence")) if sequence
    ]
    if groups:  # a classic image with groups: its value mapping may be in them only
        return [_meta(ds, path, frame=None, scaling=vendor.value_scaling(ds, path, number, items=groups))]
    return [_meta(ds, path, frame=None)]


def _meta(ds: Dataset, path: Path, frame: int | None, **override) -> ImageMeta:
    """Fields from the top level of ``ds``; ``override`` carries the frame-level values."""
    delay, problems = vendor.philips_inversion_delay(ds, path)
    instance = number(ds, "InstanceNumber", path)
    series_number = number(ds, "SeriesNumber", path)
    fields = dict(
        spacing_mm=numbers(ds, "PixelSpacing", path, 2),
        image_type=tuple(str(v).upper() for v in _as_list(ds.get("ImageType", []))),
        series_description=str(ds.get("SeriesDescription", "")),
        inversion_time_ms=number(ds, "InversionTime", path),
        orientation=numbers(ds, "ImageOrientationPatient", path, 6),
        position_mm=numbers(ds, "ImagePositionPatient", path, 3),
        echo_time_ms=number(ds, "EchoTime", path),
        image_comments=str(ds.get("ImageComments", "")),
        series_uid=_series_uid(ds, path),
        sop_uid=str(ds.get("SOPInstanceUID", "")),
        instance_number=int(instance) if instance is not None else None,
        path=path,
        frame=frame,
        study_uid=str(ds.get("StudyInstanceUID", "")),
        study_datetime=f"{ds.get('StudyDate', '') or ''}{ds.get('StudyTime', '') or ''}".strip(),
        patient_id=str(ds.get("PatientID", "")),
        series_number=int(series_number) if series_number is not None else None,
        protocol_name=str(ds.get("ProtocolName", "")),
        modality=str(ds.get("Modality", "")),
        sop_class_uid=str(ds.get("SOPClassUID", "") or getattr(ds, "file_meta", Dataset()).get("MediaStorageSOPClassUID", "")),
        rows=int(ds.get("Rows", 0) or 0),
        columns=int(ds.get("Columns", 0) or 0),
        slice_thickness_mm=number(ds, "SliceThickness", path),
        field_strength_t=number(ds, "MagneticFieldStrength", path),
        vendor_inversion_ms=delay,
        scaling=vendor.value_scaling(ds, path, number),
        problems=problems,
        context=scan_context(ds),
        photometric=str(ds.get("PhotometricInterpretation", "")).strip().upper(),
        trigger_time_ms=_delay_ms(ds, "TriggerTime"),
        bits_stored=int(number(ds, "BitsStored", path) or 0),
    )
    fields.update(override)
    return ImageMeta(**fields)


def _frame_meta(ds: Dataset, path: Path, k: int, frames: int) -> ImageMeta:
    """Frame ``k`` of an enhanced multi-frame file, from its functional groups."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is None or len(per_frame) != frames:
        have = 0 if per_frame is None else len(per_frame)
        raise DicomError(
            f"{path}: multi-frame file with {frames} frames but {have} per-frame functional groups; its frames cannot be placed"
        )
    shared = ds.get("SharedFunctionalGroupsSequence")
    groups = [per_frame[k], shared[0] if shared else Dataset()]

    def item(sequence: str) -> Dataset | None:
        for group in groups:
            value = group.get(sequence)
            if value:
                return value[0]
        return None

    plane, orientation, measures = item("PlanePositionSequence"), item("PlaneOrientationSequence"), item("PixelMeasuresSequence")
    if plane is None or orientation is None or measures is None:
        missing = [n for n, v in (("PlanePosition", plane), ("PlaneOrientation", orientation), ("PixelMeasures", measures)) if v is None]
        raise DicomError(f"{path}: frame {k + 1} of {frames} has no {', '.join(missing)} functional group; its frames cannot be placed")
    frame_type = item("MRImageFrameTypeSequence")
    modifier, echo, cardiac = item("MRModifierSequence"), item("MREchoSequence"), item("CardiacSynchronizationSequence")
    inversion = _as_list(modifier.get("InversionTimes", [])) if modifier is not None else []
    override = dict(
        spacing_mm=numbers(measures, "PixelSpacing", path, 2),
        orientation=numbers(orientation, "ImageOrientationPatient", path, 6),
        position_mm=numbers(plane, "ImagePositionPatient", path, 3),
        slice_thickness_mm=number(measures, "SliceThickness", path),
        inversion_time_ms=float(inversion[0]) if inversion else None,
        echo_time_ms=number(echo, "EffectiveEchoTime", path) if echo is not None else None,
        scaling=vendor.value_scaling(ds, path, number, items=groups),
    )
    if cardiac is not None and (delay := _delay_ms(cardiac, "NominalCardiacTriggerDelayTime")) is not None:
        override["trigger_time_ms"] = delay
    if frame_type is not None and frame_type.get("FrameType"):
        override["image_type"] = tuple(str(v).upper() for v in _as_list(frame_type.FrameType))
    return _meta(ds, path, frame=k, **override)


def _series_uid(ds: Dataset, path: Path) -> str:
    """SeriesInstanceUID; for a file without one (a de-identification that stripped it), what groups its images instead:
    study (else the folder), number, description.

    One key for all of them made an exam's T1 and T2 maps one series, analysed as one map type; the folder alone would
    split a series exported one folder per image.
    """
    if uid := str(ds.get("SeriesInstanceUID", "") or ""):
        return uid
    study = str(ds.get("StudyInstanceUID", "") or "") or str(path.parent)
    return f"(no SeriesInstanceUID) {study} #{ds.get('SeriesNumber', '')} {ds.get('SeriesDescription', '')}"


def _delay_ms(ds: Dataset, keyword: str) -> float | None:
    """A trigger delay in ms; None when absent or malformed: it only tells a cine's phases apart, never a reason to refuse a file."""
    try:
        value = ds.get(keyword)
        if isinstance(value, MultiValue):
            value = value[0] if len(value) else None
        delay = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return delay if math.isfinite(delay) else None


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]


def number(ds: Dataset, keyword: str, path: Path) -> float | None:
    """A single numeric header value; None when absent or empty, DicomError when malformed."""
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        if isinstance(value, MultiValue):  # some writers repeat a value (e.g. two SliceThickness)
            value = value[0]
        return float(value)
    except (TypeError, ValueError):
        raise DicomError(f"{path}: {keyword} {_raw(ds, keyword)!r} is not a number") from None


def numbers(ds: Dataset, keyword: str, path: Path, count: int) -> tuple[float, ...] | None:
    """A multi-valued numeric header value with exactly ``count`` entries; None when absent."""
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        result = tuple(float(v) for v in _as_list(value))
    except (TypeError, ValueError):
        raise DicomError(f"{path}: {keyword} {_raw(ds, keyword)!r} is not numeric") from None
    if len(result) != count:
        raise DicomError(f"{path}: {keyword} has {len(result)} values, expected {count}")
    return result


def _raw(ds: Dataset, keyword: str) -> str:
    """The undecoded text of an element, for error messages."""
    element = ds.get_item(keyword)
    value = getattr(element, "value", element)
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip()[:40]
