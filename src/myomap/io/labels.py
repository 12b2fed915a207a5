"""Labelled cine data sets shipped as NIfTI label images (ACDC, M&Ms): finding, reading and writing them.

Public cine data sets put each image beside an expert segmentation of the
same name plus ``_gt``:

- ACDC: ``patient001/patient001_frame01.nii.gz`` (one 3-D volume, a
  cardiac phase) and ``patient001_frame01_gt.nii.gz``; labels 1 RV
  cavity, 2 LV myocardium, 3 LV cavity.
- M&Ms: ``A0S9V9/A0S9V9_sa.nii.gz`` (a 4-D short-axis cine: x, y, slice,
  phase) and ``A0S9V9_sa_gt.nii.gz``, labelled at end-diastole and
  end-systole only; labels 1 LV cavity, 2 LV myocardium, 3 RV.  M&Ms-2's
  ``_SA_ED``/``_SA_ES`` volumes are found too; long-axis files are not
  short-axis slices and are left out.

The patient is the file name less what it adds per volume (ACDC
``_frameNN``, M&Ms ``_sa...``).  Images are read with
:func:`myomap.io.nifti.read_nifti_map`, so spacing, orientation and position
are those ``myomap analyze`` gives the same file; label images are read as
whole numbers without scaling.  The input is only read.
:func:`myomap.evaluate.labels.import_labels` turns the labels into contours
and writes the data layout (docs/data_layout.md) with the writers below.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from myomap.conventions import BLOOD_POOL, MYOCARDIUM
from myomap.io.contours import Contours, write_contours
from myomap.io.dicom import DicomGeometry, SeriesInfo, write_mr_image
from myomap.io.files import atomic_write_text
from myomap.io.nifti import NiftiError, is_nifti, read_nifti_map, world_affine


@dataclass(frozen=True)
class LabelConvention:
    """What the label values of a data set mean: the LV myocardium's and the LV cavity's."""

    name: str
    myocardium: int
    lv_cavity: int
    meaning: str
    patient_suffix: re.Pattern  # what a file name adds to the patient's code (removed to find the patient)


CONVENTIONS = {
    "acdc": LabelConvention("acdc", 2, 3, "1 RV cavity, 2 LV myocardium, 3 LV cavity", re.compile(r"_(frame\d+)$", re.IGNORECASE)),
    "mnms": LabelConvention("mnms", 2, 1, "1 LV cavity, 2 LV myocardium, 3 RV", re.compile(r"_(sa(?:_.*)?)$", re.IGNORECASE)),
}
"""The label conventions ``myomap import-labels --convention`` knows."""

_LONG_AXIS = re.compile(r"(?<![a-z0-9])la(?![a-z0-9])", re.IGNORECASE)  # M&Ms-2 long-axis files: <code>_LA_ED.nii.gz


@dataclass(frozen=True)
class LabelPair:
    """An image and its label image; ``patient`` and ``volume`` come from the file name (``patient001``, ``frame01``)."""

    image: Path
    labels: Path
    patient: str
    volume: str


@dataclass(frozen=True)
class LabelledSlice:
    """One slice (and cine phase) of a labelled volume.

    ``pixels`` are the image's values ([row, col], float32, NaN where it has none);
    ``labels`` the 3-class mask of :mod:`myomap.conventions` (0 background,
    ``MYOCARDIUM``, ``BLOOD_POOL``); geometry in DICOM LPS as
    :class:`myomap.io.nifti.NiftiSlice` gives it.
    """

    pixels: np.ndarray
    labels: np.ndarray
    spacing_mm: tuple[float, float]
    orientation: tuple[float, ...]
    position_mm: tuple[float, float, float]
    index: int
    phase: int | None


def _stem(path: Path) -> str:
    return path.name[: -len(".nii.gz")] if path.name.lower().endswith(".nii.gz") else path.stem


def find_label_pairs(source: str | Path, convention: LabelConvention) -> tuple[list[LabelPair], list[str], int]:
    """Every ``<stem>_gt.nii[.gz]`` under ``source`` (recursively) with its image ``<stem>.nii[.gz]``.

    Returns the pairs (sorted by path), one problem line per label image
    without its image, and the number of long-axis pairs left out (M&Ms
    convention only).  Images without labels (ACDC's ``_4d`` cines) are not
    looked at.
    """
    found = sorted(p for p in Path(source).rglob("*") if p.is_file() and is_nifti(p) and not p.name.startswith("."))
    pairs, problems, long_axis = [], [], 0
    for labels in found:
        stem = _stem(labels)
        if not stem.lower().endswith("_gt"):
            continue
        image_stem = stem[: -len("_gt")]
        image = next(
            (labels.with_name(image_stem + ext) for ext in (".nii.gz", ".nii") if labels.with_name(image_stem + ext).is_file()), None
        )
        if image is None:
            problems.append(f"{labels}: label image without its image beside it (named as it less '_gt'), skipped")
            continue
        if convention.name == "mnms" and _LONG_AXIS.search(image_stem.replace("_", " ")):
            long_axis += 1
            continue
        match = convention.patient_suffix.search(image_stem)
        patient, volume = (image_stem[: match.start()], match.group(1).lower()) if match and match.start() > 0 else (image_stem, "image")
        pairs.append(LabelPair(image, labels, patient, volume))
    return pairs, problems, long_axis


def read_label_volume(path: Path, image: Path | None = None) -> np.ndarray:
    """A label image as whole numbers in four dimensions (x, y, slice, phase), in the voxel order of ``image`` when given.

    A label image stored in another voxel order than its image (axes
    flipped or swapped, as tools that reorient to RAS save it) is turned
    into the image's (:func:`_in_voxel_order_of`); taken as stored, its
    labels would lie mirrored on the image.

    Raises
    ------
    NiftiError
        Unreadable, more than four dimensions, values that are not whole
        numbers (not a label image), or in another orientation than
        ``image`` and not on its grid.
    """
    import nibabel

    try:
        labels = nibabel.load(path)
        data = np.asarray(labels.dataobj)  # type: ignore[attr-defined]  # every NIfTI image has one
    except Exception as exc:  # nibabel raises many types for damaged files; all mean "unreadable"
        raise NiftiError(f"{path}: not a readable NIfTI file ({type(exc).__name__}: {exc})") from None
    while data.ndim > 4 and data.shape[-1] == 1:
        data = data[..., 0]
    if not 2 <= data.ndim <= 4:
        raise NiftiError(f"{path}: label image of shape {data.shape}; expected x, y, slice and optionally phase")
    data = data.reshape(data.shape + (1,) * (4 - data.ndim))
    if not np.issubdtype(data.dtype, np.integer) and not np.all(np.isfinite(data) & (data == np.round(data))):
        raise NiftiError(f"{path}: not a label image (values that are not whole numbers)")
    return (data if image is None else _in_voxel_order_of(data, path, labels, image)).astype(np.int32)


def _in_voxel_order_of(data: np.ndarray, path: Path, labels, image: Path) -> np.ndarray:
    """``data`` (x, y, slice, phase) of the label image ``labels`` reoriented to the voxel axes of ``image``.

    Axes are compared as :func:`nibabel.orientations.io_orientation` reads
    them from each file's affine (:func:`myomap.io.nifti.world_affine`); a
    label image with no geometry (no sform or qform code, or an identity
    affine, as scripts write labels) is taken in its stored order.
    """
    import nibabel
    from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation, ornt_transform

    own, _ = world_affine(path, labels)
    header = labels.header
    if (not header["sform_code"] and not header["qform_code"]) or np.allclose(own, np.eye(4)):
        return data
    try:
        target, _ = world_affine(image, nibabel.load(image))
    except Exception as exc:  # nibabel raises many types for damaged files; all mean "unreadable"
        raise NiftiError(f"{image}: not a readable NIfTI file ({type(exc).__name__}: {exc})") from None
    transform = ornt_transform(io_orientation(own), io_orientation(target))
    if np.array_equal(transform, [[0, 1], [1, 1], [2, 1]]):
        return data
    moved = own @ inv_ornt_aff(transform, data.shape[:3])
    if not np.allclose(moved[:3], target[:3], atol=0.05):
        raise NiftiError(
            f"{path}: label image in another orientation ({''.join(nibabel.aff2axcodes(own))}) than its image "
            f"({''.join(nibabel.aff2axcodes(target))}: {image}) and not on its grid; resample it onto the image's grid"
        )
    return apply_orientation(data, transform)


def read_label_pair(pair: LabelPair, convention: LabelConvention, map_type: str) -> tuple[list[LabelledSlice], int]:
    """The slices of every labelled phase of a pair, and the number of phases without any label (M&Ms: all but ED and ES).

    A phase counts as labelled when any of its slices holds a label; all its
    slices are returned, those without myocardium too (the caller counts
    them).  Raises :class:`NiftiError` naming the file: unreadable, a label
    image given as the image, or image and labels of different shapes (or
    orientations and grids, :func:`read_label_volume`).
    """
    labels = read_label_volume(pair.labels, pair.image)
    image = read_nifti_map(pair.image, map_type)
    shape = (*image.slices[0].pixels.shape[::-1], max(s.index for s in image.slices) + 1, max(s.phase or 0 for s in image.slices) + 1)
    if labels.shape != shape:
        raise NiftiError(f"{pair.labels}: label image of shape {labels.shape}, its image of {shape} ({pair.image})")
    labelled = [bool(np.any(labels[..., t])) for t in range(labels.shape[3])]
    out = []
    for item in image.slices:
        phase = item.phase or 0
        if not labelled[phase]:
            continue
        raw = labels[:, :, item.index, phase].T  # as myomap.io.nifti turns a slice into an image
        mask = np.zeros(raw.shape, np.uint8)
        mask[raw == convention.myocardium] = MYOCARDIUM
        mask[raw == convention.lv_cavity] = BLOOD_POOL
        out.append(LabelledSlice(item.pixels, mask, item.spacing_mm, item.orientation, item.position_mm, item.index, item.phase))
    return out, labelled.count(False)


def value_scaling(pixels: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) that store ``pixels`` as uint16: losslessly for whole numbers within 65,536 of each other, else in 65,535 steps.

    >>> value_scaling(np.array([0.0, 812.0])), value_scaling(np.array([-1.0, 1.0]))
    ((1.0, 0.0), (1.0, -1.0))
    >>> value_scaling(np.array([0.0, 0.5]))[0] == 0.5 / 65535
    True
    """
    finite = pixels[np.isfinite(pixels)]
    if not finite.size:
        return 1.0, 0.0
    intercept = min(0.0, float(np.floor(finite.min())))
    span = float(finite.max()) - intercept
    if np.all(finite == np.round(finite)) and span <= 65535:
        return 1.0, intercept
    return (span / 65535 if span > 0 else 1.0), intercept


def write_labelled_slice(
    folder: Path, item: LabelledSlice, contours: Contours, series: SeriesInfo, *, sop_uid: str, thickness_mm: float
) -> None:
    """``folder/map.dcm`` (the image, values kept through RescaleSlope/Intercept) and ``folder/contours.json``, each written atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    slope, intercept = value_scaling(item.pixels)
    geometry = DicomGeometry(item.spacing_mm, item.orientation, item.position_mm, thickness_mm)
    write_mr_image(
        folder / "map.dcm", item.pixels, geometry=geometry, series=series, instance_number=item.index + 1, sop_uid=sop_uid,
        slope=slope, intercept=intercept, manufacturer="",
    )  # fmt: skip
    write_contours(folder / "contours.json", contours)


MANIFEST_COLUMNS = ("subject", "map_type", "slice", "role", "image", "contours", "frame", "phase")


def write_label_manifest(out: Path, rows: list[dict]) -> Path:
    """``out/manifest.csv`` (:data:`MANIFEST_COLUMNS`, plus ``source`` where the rows have one), written atomically."""
    columns = list(MANIFEST_COLUMNS) + (["source"] if any("source" in r for r in rows) else [])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path = out / "manifest.csv"
    atomic_write_text(path, buffer.getvalue())
    return path
