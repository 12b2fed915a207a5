"""Finding the T1 and T2 maps among arbitrary DICOM files, per patient, base to apex.

A file is a **map** when its ImageType says ``T1 MAP`` / ``T2 MAP`` (or the
vendor spellings ``T1MAP``, ``MOCO_T1``...), or, for images that are not
ORIGINAL, when its SeriesDescription names a T1 or T2 map; failing both, a
derived image is taken for a map by its value range (the median pixel of a
T1 map sits near 900 ms, of a T2 map near 60 ms), with a note.  A file is a
**weighted image** when it carries an inversion or T2-preparation time and
is not a map; with ``fit_missing`` such series are fitted into maps when no
scanner map of the same type exists at that slice.  Other ORIGINAL images
(cine, localisers), non-MR objects and files without an image are skipped
with a note.

Slices are grouped per patient and study, and per map type ordered base to
apex along the LV long axis from ImageOrientationPatient and
ImagePositionPatient: the slice normal is oriented toward the patient's
left, anterior and inferior (where the apex points), and slices are sorted
by their position along it.  The ordered slices are labelled basal, mid
and apical by thirds (one slice: mid).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pydicom

from myomap.io.dicom import DicomError, read_image
from myomap.mapping.series import SeriesError, find_dicom_files, group_series

MAP_TYPES = ("T1", "T2")
POSITIONS = ("basal", "mid", "apical")
# Where the LV apex points in the DICOM patient frame (LPS: +x left, +y posterior, +z superior).
APEX_DIRECTION = np.array([1.0, -1.0, -1.0]) / math.sqrt(3.0)
_MAP_WORDS = re.compile(r"\b(T[12])[ _-]?(MAP|MAPPING|MOCO)\b|\b(MOCO|MAP)[ _-]?(T[12])\b|\b(T[12])MAP\b", re.IGNORECASE)


@dataclass(frozen=True)
class MapSlice:
    """One T1 or T2 map slice ready to analyse.

    ``pixels`` are float32 ms; ``spacing_mm`` is (row, col).  ``patient``
    and ``study`` are the raw DICOM PatientID and StudyInstanceUID, used
    for grouping only: outputs name patients by an anonymous label unless
    the user asks otherwise.  ``origin`` is ``scanner`` for maps read from
    DICOM and ``fitted`` for maps fitted here from weighted images, in which
    case ``path`` is the first weighted image.
    """

    path: Path
    map_type: str
    pixels: np.ndarray
    spacing_mm: tuple[float, float]
    orientation: tuple[float, ...] | None
    position_mm: tuple[float, ...] | None
    patient: str
    study: str
    series_uid: str
    sop_uid: str
    series_description: str
    origin: str = "scanner"
    slice_position: str = "mid"
    order: int = 0

    @property
    def contours_json(self) -> Path | None:
        """A contours JSON next to the DICOM (the phantom's and the paper's layouts), if any."""
        for name in ("contours.json", "Contours.json"):
            candidate = self.path.parent / name
            if candidate.is_file():
                return candidate
        return None


@dataclass(frozen=True)
class Discovery:
    """What :func:`discover` found: slices per patient (ordered), errors and notes (one line each)."""

    patients: dict[tuple[str, str], list[MapSlice]]
    errors: list[str]
    notes: list[str]


def map_type_from_header(image_type: Iterable[str], description: str) -> str | None:
    """``T1``/``T2`` when the header names a map, else None.

    ImageType decides; SeriesDescription is consulted only for images that
    are not ORIGINAL (raw protocols are often named ``t1map_molli``).

    Examples
    --------
    >>> map_type_from_header(["DERIVED", "PRIMARY", "T1 MAP"], "")
    'T1'
    >>> map_type_from_header(["DERIVED", "PRIMARY"], "MOLLI_T2MAP_mid")
    'T2'
    >>> map_type_from_header(["ORIGINAL", "PRIMARY"], "t1map_molli_sax") is None
    True
    """
    image_type = [str(v).upper() for v in image_type]
    texts = [" ".join(image_type)] + ([] if "ORIGINAL" in image_type else [description])
    for text in texts:
        match = _MAP_WORDS.search(re.sub(r"[\\_]", " ", text))  # underscores and backslashes separate words
        if match:
            return next(g for g in match.groups() if g and g.upper().startswith("T")).upper()
    return None


def map_type_from_values(pixels: np.ndarray) -> str | None:
    """Guess the map type from the value range: the upper body of a T1 map is far above a T2 map's.

    Uses the median of the non-zero pixels (background noise of a T2 map
    fits to long T2s, so upper percentiles overlap with T1 maps): above
    300 ms a T1 map, between 15 and 200 ms a T2 map, else None (not a map
    in ms).
    """
    values = pixels[pixels > 0]
    if values.size < 16:
        return None
    level = float(np.median(values))
    return "T1" if level > 300 else "T2" if 15 <= level <= 200 else None


def _is_weighted(ds) -> bool:
    comments = str(ds.get("ImageComments", ""))
    return ds.get("InversionTime") not in (None, "") or bool(re.search(r"T2\s*prep|TI\s*=", comments, re.IGNORECASE))


def discover(inputs: Iterable[str | Path], *, fit_missing: bool = False) -> Discovery:
    """Find the maps among ``inputs`` (files and folders, recursively, any order).

    Unreadable, truncated or undecodable files, maps without PixelSpacing
    and failed fits each give one error line naming the file; files that
    are neither maps nor weighted images give a note.
    """
    files, errors = find_dicom_files(inputs)
    notes: list[str] = []
    slices: list[MapSlice] = []
    weighted: list[Path] = []
    weighted_series: set[str] = set()
    for path in files:
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception as exc:  # pydicom raises many types for a damaged file; all mean "unreadable"
            errors.append(f"{path}: not a readable DICOM file ({type(exc).__name__})")
            continue
        if str(header.get("Modality", "MR")) not in ("MR", ""):
            notes.append(f"{path}: modality {header.get('Modality')}, not an MR map; skipped")
            continue
        if "Rows" not in header or header.get("DirectoryRecordSequence") is not None:
            notes.append(f"{path}: not an image (e.g. a DICOMDIR); skipped")
            continue
        image_type = [str(v).upper() for v in header.get("ImageType", [])]
        map_type = map_type_from_header(image_type, str(header.get("SeriesDescription", "")))
        if map_type is None and _is_weighted(header):
            weighted.append(path)
            weighted_series.add(str(header.get("SeriesInstanceUID", path.parent)))
            continue
        if map_type is None and "ORIGINAL" in image_type:
            notes.append(f"{path}: an original image without inversion or T2-preparation time (cine, localiser...); skipped")
            continue
        try:
            pixels, meta = read_image(path)
        except DicomError as exc:
            errors.append(str(exc))
            continue
        if map_type is None:
            map_type = map_type_from_values(pixels)
            if map_type is None:
                notes.append(f"{path}: neither a T1/T2 map nor a weighted mapping image; skipped")
                continue
            notes.append(f"{path}: taken for a {map_type} map from its value range (ImageType does not say)")
        slices.append(_slice(path, header, map_type, pixels, meta))
    if weighted and not fit_missing:
        notes.append(
            f"{len(weighted)} weighted image(s) in {len(weighted_series)} series not used; --fit-missing fits maps from them where the scanner's map is missing"
        )
    if weighted and fit_missing:
        slices.extend(_fit_missing(weighted, slices, errors, notes))
    patients: dict[tuple[str, str], list[MapSlice]] = defaultdict(list)
    for item in slices:
        patients[(item.patient, item.study)].append(item)
    for group in patients.values():
        if any(s.orientation is None or s.position_mm is None for s in group):
            notes.append(
                f"{group[0].path.parent}: maps without ImageOrientationPatient/ImagePositionPatient; "
                "their order and basal/mid/apical labels follow the file order"
            )
    return Discovery({key: order_slices(patients[key]) for key in sorted(patients)}, errors, notes)


def _slice(path: Path, header, map_type: str, pixels: np.ndarray, meta, origin: str = "scanner") -> MapSlice:
    return MapSlice(
        path=path,
        map_type=map_type,
        pixels=pixels,
        spacing_mm=meta.spacing_mm,
        orientation=meta.orientation,
        position_mm=meta.position_mm,
        patient=str(header.get("PatientID", "")),
        study=str(header.get("StudyInstanceUID", "")),
        series_uid=meta.series_uid,
        sop_uid=meta.sop_uid,
        series_description=meta.series_description,
        origin=origin,
    )


def _fit_missing(files: list[Path], maps: list[MapSlice], errors: list[str], notes: list[str]) -> list[MapSlice]:
    """Fit maps from weighted series whose slice has no scanner map of the same type."""
    from myomap.mapping.fit import estimate_noise_sd
    from myomap.mapping.pipeline import background_mask, fit_series, read_weighted

    have = {(m.study, m.map_type, _where(m.position_mm)) for m in maps}
    groups, group_errors, _ = group_series(files)
    errors.extend(group_errors)
    fitted = []
    for name, paths in groups.items():
        try:
            series, model = read_weighted(name, paths)
            _, meta = read_image(paths[0], require_spacing=False)
        except (SeriesError, DicomError) as exc:
            errors.append(str(exc))
            continue
        map_type = "T2" if model == "t2" else "T1"
        header = pydicom.dcmread(paths[0], stop_before_pixels=True)
        if (str(header.get("StudyInstanceUID", "")), map_type, _where(meta.position_mm)) in have:
            notes.append(f"{name}: the scanner's {map_type} map of this slice is used; weighted images not fitted")
            continue
        if meta.spacing_mm is None:
            errors.append(f"{paths[0]}: missing PixelSpacing (0028,0030)")
            continue
        # The defaults of `myomap fit`: background blanked, Rician noise floor removed.
        fit = fit_series(series, model, mask=background_mask(series.images), noise_sd=estimate_noise_sd(series.images))
        values = np.nan_to_num(fit.t1_ms if map_type == "T1" else fit.t2_ms, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
        fitted.append(_slice(paths[0], header, map_type, values, meta, origin="fitted"))
        notes.append(f"{name}: {map_type} map fitted from {len(paths)} weighted images ({model})")
    return fitted


def _where(position: tuple[float, ...] | None) -> tuple | None:
    return None if position is None else tuple(round(float(c), 1) for c in position)


def order_slices(slices: list[MapSlice]) -> list[MapSlice]:
    """Order each map type's slices base to apex and label them basal / mid / apical by thirds.

    Slices without ImageOrientationPatient or ImagePositionPatient keep
    their file order (the label is then a guess, which the report notes).
    """
    ordered: list[MapSlice] = []
    for map_type in MAP_TYPES:
        group = [s for s in slices if s.map_type == map_type]
        if all(s.orientation is not None and s.position_mm is not None for s in group):
            group.sort(key=apical_distance_mm)
        n = len(group)
        for k, item in enumerate(group):
            position = "mid" if n == 1 else POSITIONS[min(2, 3 * k // n)]
            ordered.append(replace(item, slice_position=position, order=k))
    return ordered


def apical_distance_mm(item: MapSlice) -> float:
    """Position of the slice along the LV long axis, growing toward the apex (mm)."""
    row, col = np.asarray(item.orientation[:3]), np.asarray(item.orientation[3:])
    normal = np.cross(row, col)
    if np.dot(normal, APEX_DIRECTION) < 0:
        normal = -normal
    return float(np.dot(np.asarray(item.position_mm), normal))
