"""Writing a simulated subject: DICOM images in the patient frame, contours, truth and table rows.

Files follow the data layout of ``docs/data_layout.md``: per subject and
slice a folder ``<T1|T2>_<position>`` (``T1post_<position>`` for
post-contrast maps) with ``map.dcm``, ``weighted_<k>.dcm``, the observers'
``contours*.json`` and ``truth.npz``.  UIDs are derived from the cohort
seed, so the same seed writes the same bytes.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from myomap.io.contours import write_contours
from myomap.io.dicom import MAP_STORAGE, DicomGeometry, SeriesInfo, write_mr_image
from myomap.io.files import write_npz
from myomap.phantom.subject import ImageResult, Subject
from myomap.phantom.tissues import Tissue

MANIFEST_COLUMNS = (
    "subject", "map_type", "slice", "role", "image", "contours", "contours_obs2", "contours_obs3",
    "split", "time_ms", "truth", "artefact", "field_strength_t",
)  # fmt: skip
SUBJECT_COLUMNS = (
    "subject", "split", "phenotype", "field_strength_t", "heart_rate_bpm",
    "pixel_spacing_row_mm", "pixel_spacing_col_mm", "rows", "cols", "hematocrit", "ecv_percent", "post_blood_t1_ms",
)  # fmt: skip

# Maps are clipped to a scanner-like range before storage.
_MAP_CLIP_MS = {"T1": 4000.0, "T2": 1000.0}
_CONTOUR_FILES = ("contours.json", "contours_obs2.json", "contours_obs3.json")


class SaxGeometry:
    """Patient-frame (LPS) geometry of a subject's short-axis stack.

    The LV long axis points from base to apex: to the patient's left,
    anterior and inferior.  Basal, mid and apical slices sit along it.
    """

    def __init__(self, rng: np.random.Generator):
        normal = np.array([0.6, -0.45, -0.65]) + rng.normal(0, 0.08, 3)
        self.normal = normal / np.linalg.norm(normal)
        left = np.array([1.0, 0.0, 0.0])
        row_dir = left - np.dot(left, self.normal) * self.normal
        self.row_dir = row_dir / np.linalg.norm(row_dir)
        self.col_dir = np.cross(self.normal, self.row_dir)
        if self.col_dir[1] < 0:  # image down should point posterior
            self.col_dir = -self.col_dir
        self.centre = np.array([20.0, -10.0, -30.0]) + rng.normal(0, 10, 3)
        gap = rng.uniform(16, 24)
        self.offsets = {"basal": -gap, "mid": 0.0, "apical": gap}

    def dicom(self, position: str, placement_mm: tuple[float, float], spacing_mm: tuple[float, float]) -> DicomGeometry:
        centre = self.centre + self.normal * self.offsets[position]
        top_left = centre - placement_mm[0] * self.row_dir - placement_mm[1] * self.col_dir
        return DicomGeometry(
            spacing_mm=spacing_mm,
            orientation=tuple(self.row_dir) + tuple(self.col_dir),
            position_mm=tuple(top_left),
        )


@dataclass(frozen=True)
class ImageSlot:
    """Where one image of a subject goes and the identifiers its DICOM files get."""

    root: Path
    folder: Path
    map_type: str
    position: str
    series_number: int
    study_uid: str
    uid_root: str
    post: bool = False

    @property
    def label(self) -> str:
        """Slice label in the series descriptions."""
        return f"post_{self.position}" if self.post else self.position

    @property
    def uid_type(self) -> str:
        """Map type as it enters the UIDs (post-contrast maps get their own)."""
        return f"{self.map_type}post" if self.post else self.map_type


def write_image(slot: ImageSlot, subject: Subject, result: ImageResult, geometry: SaxGeometry) -> list[dict]:
    """Write one image's folder; returns its manifest rows (the map first, then the weighted images)."""
    folder = slot.folder
    folder.mkdir(parents=True, exist_ok=True)
    rel = folder.relative_to(slot.root).as_posix()
    contour_names = _CONTOUR_FILES[: len(result.contours)]
    for name, contours in zip(contour_names, result.contours):
        write_contours(folder / name, contours)
    write_npz(folder / "truth.npz", **result.truth)

    centre_px = np.mean(result.contours[0].epi, axis=0)
    dgeom = geometry.dicom(slot.position, (centre_px[0] * result.spacing_mm[1], centre_px[1] * result.spacing_mm[0]), result.spacing_mm)
    common = {
        "subject": subject.name,
        "map_type": slot.map_type,
        "slice": slot.position,
        "contours": f"{rel}/contours.json",
        "contours_obs2": f"{rel}/contours_obs2.json" if len(contour_names) > 1 else "",
        "contours_obs3": f"{rel}/contours_obs3.json" if len(contour_names) > 2 else "",
        "split": subject.split,
        "truth": f"{rel}/truth.npz",
        "artefact": result.artefact,
        "field_strength_t": subject.field_t,
    }
    rows = _write_weighted(slot, subject, result, dgeom, common, rel)
    _write_map(slot, subject, result, dgeom)
    rows.insert(0, {**common, "role": "map", "image": f"{rel}/map.dcm", "time_ms": ""})
    return rows


def _sequence(map_type: str) -> str:
    return "MOLLI" if map_type == "T1" else "T2prep_bSSFP"


def _series(slot: ImageSlot, subject: Subject, kind: str, number: int, image_type: tuple[str, ...], description: str) -> SeriesInfo:
    return SeriesInfo(
        patient_id=subject.name,
        patient_name=f"Phantom^{subject.name}",
        study_uid=slot.study_uid,
        series_uid=generate_uid(entropy_srcs=["series", slot.uid_root, slot.uid_type, slot.position, kind]),
        series_number=number,
        series_description=description,
        image_type=image_type,
        field_strength_t=subject.field_t,
        heart_rate_bpm=subject.heart_rate_bpm,
    )


def _write_weighted(slot: ImageSlot, subject: Subject, result: ImageResult, dgeom: DicomGeometry, common: dict, rel: str) -> list[dict]:
    """The weighted images (MOLLI with InversionTime, T2-prep with the prep time in ImageComments)."""
    description = f"{_sequence(slot.map_type)}_{slot.label}"
    series = _series(slot, subject, "weighted", 100 + slot.series_number, ("ORIGINAL", "PRIMARY", "M", "ND"), description)
    rows = []
    for k, (t, image) in enumerate(zip(result.times_ms, result.weighted), start=1):
        name = f"weighted_{k}.dcm"
        write_mr_image(
            slot.folder / name,
            image,
            geometry=dgeom,
            series=series,
            instance_number=k,
            sop_uid=generate_uid(entropy_srcs=["image", slot.uid_root, slot.uid_type, slot.position, str(k)]),
            inversion_time_ms=float(t) if slot.map_type == "T1" else None,
            t2prep_ms=float(t) if slot.map_type == "T2" else None,
        )
        rows.append({**common, "role": "weighted", "image": f"{rel}/{name}", "time_ms": f"{t:.2f}"})
    return rows


def _write_map(slot: ImageSlot, subject: Subject, result: ImageResult, dgeom: DicomGeometry) -> None:
    map_type = slot.map_type
    slope, window = MAP_STORAGE[map_type]
    description = f"{_sequence(map_type)}_{map_type}_MAP_{slot.label}"
    series = _series(slot, subject, "map", 200 + slot.series_number, ("DERIVED", "PRIMARY", f"{map_type} MAP"), description)
    write_mr_image(
        slot.folder / "map.dcm",
        np.clip(result.map_ms, 0.0, _MAP_CLIP_MS[map_type]),
        geometry=dgeom,
        series=series,
        instance_number=1,
        sop_uid=generate_uid(entropy_srcs=["map", slot.uid_root, slot.uid_type, slot.position]),
        slope=slope,
        window=window,
    )


def subject_row(subject: Subject) -> dict:
    """The subject's row of ``subjects.csv`` (numbers formatted as written)."""
    row = {
        "subject": subject.name,
        "split": subject.split,
        "phenotype": subject.phenotype.name,
        "field_strength_t": subject.field_t,
        "heart_rate_bpm": f"{subject.heart_rate_bpm:.1f}",
        "pixel_spacing_row_mm": f"{subject.grid.spacing_mm[0]:.4f}",
        "pixel_spacing_col_mm": f"{subject.grid.spacing_mm[1]:.4f}",
        "rows": subject.grid.shape[0],
        "cols": subject.grid.shape[1],
    }
    if subject.post is not None:
        row["hematocrit"] = f"{subject.post.hematocrit:.4f}"
        row["ecv_percent"] = f"{100 * subject.post.ecv:.3f}"
        post_blood = 1.0 / (1.0 / subject.tissues[Tissue.LV_BLOOD][0] + subject.post.delta_r1_blood_per_ms)
        row["post_blood_t1_ms"] = f"{post_blood:.1f}"
    return row


def csv_text(columns: tuple[str, ...], rows: list[dict]) -> str:
    """``rows`` as CSV text with ``columns`` (absent values empty), ``\\n`` line ends."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    return buffer.getvalue()
