"""``myomap import-labels``: a cine data set labelled as NIfTI label images (ACDC, M&Ms) as a data set of the data layout.

Per labelled slice (and cine phase) it writes ``<subject>/<volume>_slice<kk>/map.dcm``
(the image, with PixelSpacing, ImageOrientationPatient and
ImagePositionPatient from the NIfTI affine as ``myomap analyze`` reads it)
and ``contours.json`` (the epi- and endocardium fitted to the labels as
``analyze`` fits contours to a predicted mask,
:data:`myomap.geometry.contours.ON_EDGES`, so that the contours filled again
give back the labels), and one ``manifest.csv`` (docs/data_layout.md):
one subject per patient, the level of each slice from its position among the
labelled slices of its volume (:func:`myomap.geometry.levels.slice_levels`),
no ``split`` column (``train`` draws a seeded patient-level split).

Patients are ``patient-01``, ``patient-02``... in the order of their codes,
as ``analyze`` names patients; with ``keep_phi`` they keep the code of their
file names (ACDC ``patient001``, M&Ms ``A0S9V9``: public data sets carry no
names, a site's own files may) and the manifest gets a ``source`` column.
No file name is written into a DICOM header either way: PatientID is the
subject, PatientName is empty.  Slices without myocardium, without an LV
cavity or too small for a contour are skipped and counted; a file that
cannot be used is one error line and the others go on.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid
from scipy import ndimage

from myomap.conventions import BLOOD_POOL, MAP_TYPES, MYOCARDIUM
from myomap.geometry.aha import apical_normal
from myomap.geometry.contours import ON_EDGES, mask_to_contours
from myomap.geometry.levels import slice_levels
from myomap.io.contours import Contours
from myomap.io.dicom import SeriesInfo
from myomap.io.labels import (
    CONVENTIONS,
    LabelConvention,
    LabelledSlice,
    LabelPair,
    find_label_pairs,
    read_label_pair,
    write_label_manifest,
    write_labelled_slice,
)
from myomap.io.nifti import NiftiError

MIN_CAVITY_INSIDE = 0.5
"""Share of the LV cavity label that must lie inside the myocardium's ring; less means labels of another convention."""

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


class LabelImportError(ValueError):
    """The import cannot run at all (no source, nothing found, an output folder in the way); the message says why."""


@dataclass
class ImportReport:
    """What an import did: the manifest (None when no slice was written), counts, and one line per bad file."""

    manifest: Path | None = None
    slices: int = 0
    subjects: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> slices
    unlabelled_phases: int = 0
    long_axis: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Prepared:
    """A slice ready to write: the slice, its contours, level and folder (relative to OUT)."""

    item: LabelledSlice
    contours: Contours
    level: str
    folder: str


def import_labels(
    source: str | Path,
    out: str | Path,
    convention: str,
    *,
    map_type: str = "T1",
    keep_phi: bool = False,
    overwrite: bool = False,
    found: Callable[[int], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImportReport:
    """Write ``out`` as a data set of the labelled slices under ``source`` (which is only read); see the module docstring.

    ``map_type`` is what the manifest and the DICOM call the images (a cine
    is taken as a map of this type, as ``analyze --map-type`` takes one).
    ``found`` gets the number of image/label pairs, ``progress`` a short name
    after each.

    Raises
    ------
    LabelImportError
        ``source`` is not a folder, an unknown convention or map type, no
        image/label pair under ``source``, or ``out`` not empty without
        ``overwrite``.
    """
    source, out = Path(source), Path(out)
    rules = _check_arguments(source, out, convention, map_type, overwrite)
    pairs, problems, long_axis = find_label_pairs(source, rules)
    if not pairs and not problems:
        raise LabelImportError(f"{source}: no image with its label image (<name>_gt.nii.gz beside <name>.nii.gz) found")
    report = ImportReport(long_axis=long_axis, errors=list(problems))
    subjects = subject_names(sorted({p.patient for p in pairs}), keep_phi)
    if found is not None:
        found(len(pairs))
    rows: list[dict] = []
    for pair in pairs:
        try:
            prepared = _prepare(pair, rules, map_type, subjects[pair.patient], report)
            rows += _write(out, pair, prepared, source, subjects[pair.patient], map_type, keep_phi)
        except NiftiError as exc:  # its message names the file
            report.errors.append(str(exc))
        except OSError as exc:
            report.errors.append(f"{pair.image}: cannot import ({exc})")
        if progress is not None:
            progress(subjects[pair.patient])
    if rows:
        report.manifest = write_label_manifest(out, rows)
    report.slices, report.subjects = len(rows), len({r["subject"] for r in rows})
    return report


def _check_arguments(source: Path, out: Path, convention: str, map_type: str, overwrite: bool) -> LabelConvention:
    if convention not in CONVENTIONS:
        raise LabelImportError(f"unknown label convention {convention!r}; choose from {', '.join(CONVENTIONS)}")
    if map_type not in MAP_TYPES:
        raise LabelImportError(f"map type must be one of {', '.join(MAP_TYPES)}, got {map_type!r}")
    if not source.is_dir():
        raise LabelImportError(f"{source}: not a folder")
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not overwrite)):
        raise LabelImportError(f"{out}: exists and is not an empty folder (--overwrite writes into it)")
    return CONVENTIONS[convention]


def subject_names(patients: list[str], keep_phi: bool) -> dict[str, str]:
    """Patient code -> subject: ``patient-01``... in code order, or with ``keep_phi`` the code made folder-safe (unique).

    >>> subject_names(["b", "a"], False), subject_names(["A0S9V9", "x y"], True)
    ({'a': 'patient-01', 'b': 'patient-02'}, {'A0S9V9': 'A0S9V9', 'x y': 'x_y'})
    """
    if not keep_phi:
        width = max(2, len(str(len(patients))))
        return {p: f"patient-{k + 1:0{width}d}" for k, p in enumerate(sorted(patients))}
    names: dict[str, str] = {}
    for patient in sorted(patients):
        name = _UNSAFE.sub("_", patient).strip("_")[:64] or "patient"
        names[patient] = name if name not in names.values() else f"{name}-{len(names) + 1}"
    return names


def _prepare(pair: LabelPair, rules: LabelConvention, map_type: str, subject: str, report: ImportReport) -> list[_Prepared]:
    """Contours and levels of a pair's labelled slices; skipped slices counted in ``report``."""
    slices, unlabelled = read_label_pair(pair, rules, map_type)
    report.unlabelled_phases += unlabelled
    _check_convention(pair, rules, slices)
    prepared = []
    for phase in sorted({s.phase for s in slices}, key=lambda p: p or 0):
        stack = [s for s in slices if s.phase == phase]
        with_myocardium = [s for s in stack if np.any(s.labels == MYOCARDIUM)]
        report.skipped["no myocardium label"] += len(stack) - len(with_myocardium)
        for item, level in zip(with_myocardium, _levels(with_myocardium)):
            fitted = mask_to_contours(item.labels, ON_EDGES)
            if not fitted.complete:
                reason = "no LV cavity label" if not np.any(item.labels == BLOOD_POOL) else "label gives no contour (too small)"
                report.skipped[reason] += 1
                continue
            folder = f"{pair.volume}" + (f"_phase{phase:02d}" if phase is not None else "") + f"_slice{item.index:02d}"
            prepared.append(_Prepared(item, fitted.to_contours(spacing_mm=item.spacing_mm), level, folder))
    return prepared


def _check_convention(pair: LabelPair, rules: LabelConvention, slices: list[LabelledSlice]) -> None:
    """Refuse labels whose LV cavity lies mostly outside the myocardium: the RV, labels of the other convention."""
    inside = total = 0
    for item in slices:
        cavity = item.labels == BLOOD_POOL
        if cavity.any():
            inside += int(np.count_nonzero(cavity & ndimage.binary_fill_holes(item.labels == MYOCARDIUM)))
            total += int(np.count_nonzero(cavity))
    if total and inside < MIN_CAVITY_INSIDE * total:
        raise NiftiError(
            f"{pair.labels}: label {rules.lv_cavity} (the LV cavity in {rules.name}: {rules.meaning}) lies mostly outside the "
            f"myocardium ({inside / total:.0%} inside its ring): labels of another convention? Check --convention"
        )


def _levels(stack: list[LabelledSlice]) -> list[str]:
    """Basal, mid or apical for each slice of one volume's labelled stack, from its position along the slice normal."""
    try:
        normal = apical_normal(stack[0].orientation) if stack else np.zeros(3)
    except ValueError:
        return slice_levels([np.nan] * len(stack))[0]
    return slice_levels([float(np.asarray(s.position_mm) @ normal) for s in stack])[0]


def _write(out: Path, pair: LabelPair, prepared: list[_Prepared], source: Path, subject: str, map_type: str, keep_phi: bool) -> list[dict]:
    """Write a pair's slices; their manifest rows."""
    relative = pair.image.relative_to(source).as_posix()
    positions = sorted({s.item.position_mm for s in prepared})
    gaps = np.linalg.norm(np.diff(np.asarray(positions, dtype=float), axis=0), axis=1) if len(positions) > 1 else np.array([])
    thickness = float(np.median(gaps)) if gaps.size and np.median(gaps) > 0 else 8.0
    study = generate_uid(entropy_srcs=["myomap import-labels", subject, pair.patient])
    rows = []
    for number, phase in enumerate(sorted({s.item.phase for s in prepared}, key=lambda p: p or 0), start=1):
        description = f"{pair.volume}" + (f" phase {phase}" if phase is not None else "") + f" (import-labels, as {map_type} map)"
        series = SeriesInfo(
            patient_id=subject, patient_name="", study_uid=study, series_uid=generate_uid(entropy_srcs=[study, relative, str(phase)]),
            series_number=number, series_description=description, image_type=("DERIVED", "SECONDARY", f"{map_type} MAP"),
            field_strength_t=0.0, study_date="",
        )  # fmt: skip
        for slot in (s for s in prepared if s.item.phase == phase):
            folder = f"{subject}/{slot.folder}"
            sop = generate_uid(entropy_srcs=[series.series_uid, folder])
            write_labelled_slice(out / folder, slot.item, slot.contours, series, sop_uid=sop, thickness_mm=thickness)
            row = {"subject": subject, "map_type": map_type, "slice": slot.level, "role": "map", "image": f"{folder}/map.dcm"}
            row |= {"contours": f"{folder}/contours.json", "frame": str(slot.item.index), "phase": "" if phase is None else str(phase)}
            rows.append(row | ({"source": relative} if keep_phi else {}))
    return rows
