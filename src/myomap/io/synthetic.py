"""Synthetic DICOM files with the conventions of real exports, for tests and benchmarks.

Real vendor exams cannot be shipped, so tests build files that carry
exactly the tags of each convention (:mod:`myomap.io.vendor`): classic MR
images with any extra header elements, enhanced multi-frame MR images with
per-frame functional groups, and whole mixed exams (localisers, cine, LGE,
weighted images, maps) for the indexing benchmark.  Pixel values are not
anatomy; the files test reading, grouping and classification.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, EnhancedMRImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def _base(sop_class: str, *, study_uid: str, series_uid: str, series_number: int, description: str, patient_id: str = "SYNTH01") -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.PatientID = patient_id
    ds.PatientName = "Synthetic^Patient"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = description
    ds.FrameOfReferenceUID = generate_uid(entropy_srcs=[study_uid, "frame"])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    return ds


def mr_image(
    pixels: np.ndarray,
    *,
    study_uid: str,
    series_uid: str,
    series_number: int = 1,
    description: str = "",
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "M"),
    position_mm: Sequence[float] = (0.0, 0.0, 0.0),
    orientation: Sequence[float] = AXIAL,
    spacing_mm: Sequence[float] = (1.5, 1.5),
    instance: int = 1,
    **tags,
) -> Dataset:
    """A classic MR Image Storage dataset of uint16 ``pixels``; ``tags`` are further keywords (``InversionTime=...``)."""
    ds = _base(MRImageStorage, study_uid=study_uid, series_uid=series_uid, series_number=series_number, description=description)
    ds.ImageType = list(image_type)
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [f"{c:.4f}" for c in position_mm]
    ds.ImageOrientationPatient = [f"{c:.6f}" for c in orientation]
    ds.PixelSpacing = [f"{s:g}" for s in spacing_mm]
    ds.SliceThickness = 8
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    stored = np.asarray(pixels, dtype=np.uint16)
    ds.Rows, ds.Columns = stored.shape
    ds.PixelData = stored.tobytes()
    return ds


def _item(**elements) -> Dataset:
    item = Dataset()
    for keyword, value in elements.items():
        setattr(item, keyword, value)
    return item


def enhanced_mr(
    frames: Sequence[np.ndarray],
    positions_mm: Sequence[Sequence[float]],
    *,
    study_uid: str,
    series_uid: str,
    series_number: int = 1,
    description: str = "",
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "M", "NONE"),
    inversion_times_ms: Sequence[float] | None = None,
    frame_types: Sequence[Sequence[str]] | None = None,
    spacing_mm: Sequence[float] = (1.5, 1.5),
    orientation: Sequence[float] = AXIAL,
    rwv: tuple[float, float, str] | None = None,
) -> Dataset:
    """An Enhanced MR Image Storage dataset: one frame per array, placed and timed by functional groups.

    Shared groups hold pixel measures, orientation and (``rwv`` = slope,
    intercept, units code) a real-world value mapping; per-frame groups hold
    the position, the inversion time (MR Modifier) and the frame type.
    """
    ds = _base(EnhancedMRImageStorage, study_uid=study_uid, series_uid=series_uid, series_number=series_number, description=description)
    ds.ImageType = list(image_type)
    ds.InstanceNumber = 1
    ds.NumberOfFrames = len(frames)
    shared = _item(
        PixelMeasuresSequence=DicomSequence([_item(PixelSpacing=[f"{s:g}" for s in spacing_mm], SliceThickness=8)]),
        PlaneOrientationSequence=DicomSequence([_item(ImageOrientationPatient=[f"{c:.6f}" for c in orientation])]),
    )
    if rwv is not None:
        units = DicomSequence([_item(CodeValue=rwv[2], CodingSchemeDesignator="UCUM", CodeMeaning=rwv[2])]) if rwv[2] else None
        mapping = _item(
            RealWorldValueSlope=rwv[0],
            RealWorldValueIntercept=rwv[1],
            RealWorldValueFirstValueMapped=0,
            RealWorldValueLastValueMapped=65535,
        )
        if units is not None:
            mapping.MeasurementUnitsCodeSequence = units
        shared.RealWorldValueMappingSequence = DicomSequence([mapping])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    per_frame = []
    for k, position in enumerate(positions_mm):
        group = _item(PlanePositionSequence=DicomSequence([_item(ImagePositionPatient=[f"{c:.4f}" for c in position])]))
        if inversion_times_ms is not None:
            group.MRModifierSequence = DicomSequence([_item(InversionRecovery="YES", InversionTimes=[float(inversion_times_ms[k])])])
        if frame_types is not None:
            group.MRImageFrameTypeSequence = DicomSequence([_item(FrameType=list(frame_types[k]))])
        per_frame.append(group)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    stored = np.stack([np.asarray(f, dtype=np.uint16) for f in frames])
    ds.Rows, ds.Columns = stored.shape[1:]
    ds.PixelData = stored.tobytes()
    return ds


def save(ds: Dataset, path: Path) -> Path:
    """Write ``ds`` as a DICOM file (with preamble and file meta)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_exam(folder: Path, n_files: int, *, size: int = 256, seed: int = 0) -> int:
    """Write a mixed exam of about ``n_files`` files: localisers, cine, LGE, MOLLI and T2-prep images, maps.

    Each "block" is one patient visit: 3 localisers, a 25-phase cine at 8
    slices, an LGE stack of 8 slices (one inversion time), MOLLI (8 images)
    and T2-prep (3 images) at 3 slices, and a T1 and a T2 map series of 3
    slices.  Blocks are repeated (new study) until ``n_files`` is reached.
    Returns the number of files written.
    """
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 1000, (size, size), dtype=np.uint16)
    written = 0
    block = 0
    while written < n_files:
        study = generate_uid(entropy_srcs=["study", str(seed), str(block)])
        for ds in _block(study, noise):
            if written >= n_files:
                break
            save(ds, folder / f"study{block:03d}" / f"IM{written:06d}")
            written += 1
        block += 1
    return written


def _block(study: str, pixels: np.ndarray):
    """The datasets of one synthetic visit (see :func:`write_exam`)."""
    number = iter(range(1, 100))

    def series(description: str, images: list[dict], image_type=("ORIGINAL", "PRIMARY", "M")):
        uid, n = generate_uid(), next(number)
        for k, tags in enumerate(images, start=1):
            yield mr_image(
                pixels, study_uid=study, series_uid=uid, series_number=n, description=description, image_type=image_type, instance=k, **tags
            )

    yield from series("localizer", [{"position_mm": (0, 0, z)} for z in (-10, 0, 10)], ("ORIGINAL", "PRIMARY", "LOCALIZER"))
    yield from series("cine_sax", [{"position_mm": (0, 0, 8 * s), "TriggerTime": 40 * p} for s in range(8) for p in range(25)])
    yield from series("LGE_PSIR", [{"position_mm": (0, 0, 8 * s), "InversionTime": 300} for s in range(8)])
    for s in range(3):
        yield from series(
            "MOLLI_sax", [{"position_mm": (0, 0, 8 * s), "InversionTime": ti} for ti in (100, 180, 260, 1100, 1180, 2100, 3100, 4100)]
        )
        yield from series("T2prep_sax", [{"position_mm": (0, 0, 8 * s), "ImageComments": f"T2prep={te}ms"} for te in (0, 25, 55)])
    yield from series("MOLLI T1 MAP", [{"position_mm": (0, 0, 8 * s)} for s in range(3)], ("DERIVED", "PRIMARY", "T1 MAP"))
    yield from series("T2 MAP", [{"position_mm": (0, 0, 8 * s)} for s in range(3)], ("DERIVED", "PRIMARY", "T2 MAP"))


_CVI42_NAMESPACES = {
    "Workspace": "http://www.circlecvi.com/cvi42/Workspace/",
    "Hash": "http://www.circlecvi.com/cvi42/Workspace/Hash/",
    "List": "http://www.circlecvi.com/cvi42/Workspace/List/",
    "Point": "http://www.circlecvi.com/cvi42/Workspace/Point/",
}


def cvi42_workspace(images: dict[str, dict[str, tuple[Sequence[Sequence[object]], object]]]) -> bytes:
    """A small cvi42-style XML workspace: SOPInstanceUID -> contour name -> (points as cvi42 stores them, SubpixelResolution).

    Points are written as given (``str`` of each value, so a test may put
    ``"nan"`` or ``"?"``); a resolution of None leaves SubpixelResolution
    out.  Every image state also carries an element that is not a contour,
    and the workspace a study-level element before the image states, as
    real workspaces have.
    """
    declarations = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in _CVI42_NAMESPACES.items())
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<Workspace:Workspace {declarations}><Hash:item Hash:key="StudyUid">1.2.3</Hash:item>',
        '<Hash:item Hash:key="StudyMapStates"><List:item><Hash:item Hash:key="ImageStates">',
    ]
    for uid, contours in images.items():
        parts.append(f'<Hash:item Hash:key="{uid}"><Hash:item Hash:key="WindowLevel">400</Hash:item><Hash:item Hash:key="Contours">')
        for name, (points, resolution) in contours.items():
            parts.append(f'<Hash:item Hash:key="{name}"><Hash:item Hash:key="Points">')
            parts += [f"<List:item><Point:x>{x}</Point:x><Point:y>{y}</Point:y></List:item>" for x, y in points]
            parts.append("</Hash:item>")
            if resolution is not None:
                parts.append(f'<Hash:item Hash:key="SubpixelResolution">{resolution}</Hash:item>')
            parts.append('<Hash:item Hash:key="Label">x</Hash:item></Hash:item>')
        parts.append("</Hash:item></Hash:item>")
    parts.append("</Hash:item></List:item></Hash:item></Workspace:Workspace>")
    return "\n".join(parts).encode()
