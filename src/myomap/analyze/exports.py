"""What ``myomap analyze`` writes for one slice: overlay PNG, label mask, contours in pixels and mm, DICOM SEG; and CSV text.

:func:`write_slice` is the only place a slice's analysis
(:class:`~myomap.analyze.slice_analysis.SliceAnalysis`) turns into files.
Every file is written atomically (a temporary name renamed into place), so
an interrupted run never leaves a half-written export.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pydicom.uid import generate_uid

from myomap.analyze.clinical import fmt_value
from myomap.analyze.deid import Deidentifier
from myomap.analyze.discover import MapSlice
from myomap.analyze.slice_analysis import SliceAnalysis
from myomap.conventions import MAP_WINDOWS_MS
from myomap.io.contours import Contours, write_contours
from myomap.io.files import atomic_path, atomic_write_bytes, atomic_write_text

SEGMENTS = ((1, "LV myocardium"), (2, "LV blood pool"))
SLICE_FILES = ("overlay.png", "labels.png", "contours.json", "contours_mm.json", "seg.dcm", "source.dcm")  # everything written per slice
_EPI_BGR, _ENDO_BGR, _REF_BGR = (60, 200, 60), (40, 60, 230), (0, 220, 255)


def display_window_ms(map_ms: np.ndarray, stack: str) -> tuple[float, float]:
    """The grey window of a map's overlay: its stack's (:data:`~myomap.conventions.MAP_WINDOWS_MS`), or its own 1st to 99th percentile.

    The map's own percentiles are used when the median of its central half
    lies outside the stack's window: values that do not fit the map type
    (a cine given ``--map-type``, a scaling error) would show black or
    white, and the contours could not be checked on them.
    """
    lo, hi = MAP_WINDOWS_MS.get(stack) or MAP_WINDOWS_MS[stack.split("-")[0]]
    pixels = np.asarray(map_ms, float)
    rows, cols = pixels.shape
    centre = pixels[rows // 4 : rows - rows // 4, cols // 4 : cols - cols // 4]
    centre, values = centre[np.isfinite(centre)], pixels[np.isfinite(pixels)]
    if centre.size and not lo <= float(np.median(centre)) <= hi:
        low, high = np.percentile(values, [1.0, 99.0])
        if high > low:
            return float(low), float(high)
    return lo, hi


def overlay_png(
    map_ms: np.ndarray, stack: str, contours: Contours | None, *, scale: int = 4, review: bool = False, margin: float = 0.6
) -> bytes:
    """The map in its display window (grey, :func:`display_window_ms`) with the contours drawn, as PNG bytes.

    With contours, the picture is cropped to the heart: the epicardium's
    bounding box grown by ``margin`` of its size on every side (at least
    12 pixels); without, it shows the whole map.  Epicardium green,
    endocardium red, the AHA reference point yellow; a red frame marks a
    slice flagged for review.  ``scale`` enlarges the map (nearest
    neighbour) so contours are drawn with sub-pixel accuracy.
    """
    lo, hi = display_window_ms(map_ms, stack)
    grey = np.clip((np.nan_to_num(map_ms, nan=lo) - lo) / (hi - lo) * 255.0, 0, 255).astype(np.uint8)
    origin = np.zeros(2)
    if contours is not None and contours.epi is not None:
        (x0, y0), (x1, y1) = contours.epi.min(axis=0), contours.epi.max(axis=0)
        pad = max(12.0, margin * max(x1 - x0, y1 - y0))
        c0, r0 = max(int(x0 - pad), 0), max(int(y0 - pad), 0)
        c1, r1 = min(int(x1 + pad) + 1, grey.shape[1]), min(int(y1 + pad) + 1, grey.shape[0])
        grey, origin = grey[r0:r1, c0:c1], np.array([c0, r0], float)
    big = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    canvas = cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)
    shift = 4  # cv2 draws with fixed-point coordinates: 4 fractional bits

    def enlarged(points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, float) - origin + 0.5) * scale - 0.5  # pixel centre i sits at (i + 0.5) * scale - 0.5

    if contours is not None:
        for points, colour in ((contours.epi, _EPI_BGR), (contours.endo, _ENDO_BGR)):
            if points is not None and len(points):
                fixed = np.round(enlarged(points) * (1 << shift)).astype(np.int32)
                cv2.polylines(canvas, [fixed], True, colour, 1, cv2.LINE_AA, shift)
        if contours.rv_insertion is not None:
            x, y = enlarged([contours.rv_insertion])[0].round().astype(int)
            cv2.circle(canvas, (int(x), int(y)), 4, _REF_BGR, -1, cv2.LINE_AA)
    if review:
        cv2.rectangle(canvas, (0, 0), (canvas.shape[1] - 1, canvas.shape[0] - 1), (0, 0, 255), 4)
    ok, data = cv2.imencode(".png", canvas, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    return data.tobytes()


def contours_mm(
    contours: Contours, *, orientation: tuple[float, ...] | None, position_mm: tuple[float, ...] | None, spacing_mm: tuple[float, float]
) -> dict:
    """Contours in mm: in the DICOM patient frame (LPS, x/y/z) when the geometry is known, else in-plane.

    A pixel (x = column, y = row) sits at ``position + x * col_spacing *
    row_direction + y * row_spacing * column_direction`` (DICOM PS3.3
    C.7.6.2.1.1).  Without orientation and position the keys are
    ``*_x_mm``/``*_y_mm`` in the image plane with the top-left pixel centre
    at the origin.
    """

    def convert(points: np.ndarray) -> dict:
        x_mm, y_mm = points[:, 0] * spacing_mm[1], points[:, 1] * spacing_mm[0]
        if orientation is None or position_mm is None:
            return {"x_mm": _rounded(x_mm), "y_mm": _rounded(y_mm)}
        row_dir, col_dir = np.asarray(orientation[:3]), np.asarray(orientation[3:])
        xyz = np.asarray(position_mm)[None] + x_mm[:, None] * row_dir[None] + y_mm[:, None] * col_dir[None]
        return {"x_mm": _rounded(xyz[:, 0]), "y_mm": _rounded(xyz[:, 1]), "z_mm": _rounded(xyz[:, 2])}

    frame = "patient (DICOM LPS)" if orientation is not None and position_mm is not None else "image plane"
    out: dict = {"frame": frame}
    for name, points in (("epicardial", contours.epi), ("endocardial", contours.endo)):
        if points is not None:
            out.update({f"{name}_contours_{k}": v for k, v in convert(np.asarray(points, float)).items()})
    if contours.rv_insertion is not None:
        out.update({f"rv_insertion_{k}": v[0] for k, v in convert(np.asarray([contours.rv_insertion], float)).items()})
    return out


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 3) for v in values]


def write_slice_exports(
    folder: Path,
    *,
    map_ms: np.ndarray,
    stack: str,
    labels: np.ndarray,
    contours: Contours | None,
    orientation: tuple[float, ...] | None,
    position_mm: tuple[float, ...] | None,
    review: bool,
) -> bytes:
    """Write ``overlay.png``, ``labels.png`` and, when both contours exist, ``contours.json`` and ``contours_mm.json``.

    ``labels.png`` is the 8-bit label image (0 background, 1 myocardium,
    2 blood pool) on the map's grid.  Returns the overlay PNG bytes (for
    the report).
    """
    folder.mkdir(parents=True, exist_ok=True)
    overlay = overlay_png(map_ms, stack, contours, review=review)
    atomic_write_bytes(folder / "overlay.png", overlay)
    ok, encoded = cv2.imencode(".png", labels.astype(np.uint8))
    atomic_write_bytes(folder / "labels.png", encoded.tobytes())
    if contours is not None:
        write_contours(folder / "contours.json", contours)
        mm = contours_mm(contours, orientation=orientation, position_mm=position_mm, spacing_mm=contours.spacing_mm)
        atomic_write_text(folder / "contours_mm.json", json.dumps(mm, separators=(",", ":")))
    return overlay


def write_slice(
    folder: Path, item: MapSlice, analysis: SliceAnalysis, *, seg_writer: SegWriter | None, patient: str, number: int, keep_phi: bool
) -> tuple[bytes, str | None]:
    """Write one slice's exports into ``folder``; returns the overlay PNG for the report and an export error line (None: all written).

    First removes what an earlier run left there.  A slice without a
    complete pair of contours gets the review overlay and the model's
    labels; a slice that failed later (its regions could not be measured)
    gets nothing; a measured one gets every export and, with a
    ``seg_writer``, a DICOM SEG (single-frame scanner maps only: a fitted
    or NIfTI map, or one frame of a multi-frame file, has no DICOM of its
    own to reference).  A SEG that cannot be built is an error line, the
    rest stands; :class:`OSError` is raised when a file cannot be written.
    """
    for name in SLICE_FILES:  # a rerun into the same OUT must not leave the last run's files beside this one's
        (folder / name).unlink(missing_ok=True)
    where = {"orientation": item.orientation, "position_mm": item.position_mm}
    if not analysis.fitted.complete:
        write_slice_exports(folder, map_ms=item.pixels, stack=item.stack, labels=analysis.labels, contours=None, **where, review=True)
        return b"", None  # the report shows a failed slice by its error line, without an overlay
    if analysis.error is not None:
        return b"", None
    # labels.png and the SEG show the region the values are measured in: the fitted contours, rasterised.
    measured, review = analysis.measured_labels, analysis.qc.review
    overlay = write_slice_exports(
        folder, map_ms=item.pixels, stack=item.stack, labels=measured, contours=analysis.contours, **where, review=review
    )
    if seg_writer is None or item.origin != "scanner" or item.frame is not None:
        return overlay, None
    name = f"{item.stack} {item.slice_position} {item.order + 1:02d}"
    try:
        seg_writer.write(folder, item.path, measured, patient=patient, number=number, name=name, review=review)
    except Exception as exc:  # highdicom rejects sources for many reasons (missing attributes...); the rest stands
        # The exception text may quote the source's attributes: only its type without --keep-phi.
        detail = f"{type(exc).__name__}: {' '.join(str(exc).split())}" if keep_phi else type(exc).__name__
        return overlay, f"{item.path}: DICOM SEG not written ({detail})"
    return overlay, None


def csv_text(rows: list[dict]) -> str:
    """Rows as CSV text: the union of their keys as columns, floats as :func:`~myomap.analyze.clinical.fmt_value` writes them."""
    if not rows:
        return ""
    buffer = io.StringIO()
    fields = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: fmt_value(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows)
    return buffer.getvalue()


@dataclass(frozen=True)
class SegWriter:
    """Writes the DICOM SEGs of one run.

    ``settings_id`` (a hash of the model and the settings) enters every SEG
    UID, so two segmentations of one map with different models or settings
    never share a UID.  With a ``deidentifier`` (the default, without
    ``--keep-phi``) each SEG and a copy of its source map (``source.dcm``)
    go through the Basic Profile with one UID mapping, so the SEG references
    that copy (which gets what :func:`build_seg` adds to a source, such as
    a missing frame of reference, so the two agree); without one, both keep
    every attribute of the source and the SEG references the original map.
    """

    settings_id: str
    deidentifier: Deidentifier | None = None

    def write(self, folder: Path, source: Path, labels: np.ndarray, *, patient: str, number: int, name: str, review: bool) -> None:
        """``folder/seg.dcm`` (and ``source.dcm`` when de-identifying) for slice ``number`` (1, 2...) of a patient.

        ``name`` (e.g. ``T1 mid 02``) and the review flag go into the SEG's
        series description and content label, so a flagged slice says so.
        """
        import pydicom

        source_ds = pydicom.dcmread(source)
        uid_seed = [str(source_ds.get("SOPInstanceUID", source)), self.settings_id, "myomap seg"]
        series_uid, sop_uid = generate_uid(entropy_srcs=uid_seed + ["series"]), generate_uid(entropy_srcs=uid_seed)
        if self.deidentifier is not None:  # highdicom then copies only de-identified attributes and UIDs
            self.deidentifier.apply(source_ds, patient)
        seg = build_seg(source_ds, labels, series_uid=series_uid, sop_uid=sop_uid, series_number=SEG_SERIES_BASE + number)
        if self.deidentifier is not None:  # after build_seg: the copy gets the frame of reference the SEG gives it
            with atomic_path(folder / "source.dcm") as tmp:
                source_ds.save_as(tmp, enforce_file_format=True)
        if self.deidentifier is not None:  # what highdicom added itself (content date, equipment); the UIDs are done
            self.deidentifier.apply(seg, patient, uids=False)
        seg.SeriesDescription = f"myomap LV segmentation {name}" + (" - FLAGGED FOR REVIEW" if review else "")
        seg.ContentLabel = "LV_SEG_REVIEW" if review else "LV_SEG"
        seg.ContentDescription = "flagged for review: check before use" if review else "automatic, passed quality control"
        with atomic_path(folder / "seg.dcm") as tmp:
            seg.save_as(tmp)


SEG_SERIES_BASE = 9000  # SEG series numbers: 9001, 9002... one per slice of a patient


def build_seg(source_ds, labels: np.ndarray, *, series_uid: str, sop_uid: str, series_number: int):
    """A DICOM Segmentation (highdicom, binary, two segments) of ``labels`` referencing ``source_ds``."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    import myomap

    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyID", "AccessionNumber", "ReferringPhysicianName", "StudyDate", "StudyTime"):  # fmt: skip
        if keyword not in source_ds:
            setattr(source_ds, keyword, "")  # type 2 attributes highdicom copies; some writers leave them out
    if not source_ds.get("SeriesInstanceUID"):  # stripped by a de-identifier: one per series, as discovery grouped them
        series_key = [str(source_ds.get(k, "")) for k in ("StudyInstanceUID", "SeriesNumber", "SeriesDescription")]
        source_ds.SeriesInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[*series_key, "series without a UID"])
    if "FrameOfReferenceUID" not in source_ds:  # required by the SEG IOD; derived from the study so it is stable
        source_ds.FrameOfReferenceUID = pydicom.uid.generate_uid(
            entropy_srcs=[str(source_ds.get("StudyInstanceUID", "")), "frame of reference"]
        )
    algorithm = hd.AlgorithmIdentificationSequence(name="myomap", version=myomap.__version__, family=codes.cid7162.ArtificialIntelligence)
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=label,
            segmented_property_category=codes.cid7150.Tissue if number == 1 else codes.SCT.AnatomicalStructure,
            segmented_property_type=codes.SCT.LeftVentricleMyocardium if number == 1 else codes.SCT.LeftVentricle,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
        )
        for number, label in SEGMENTS
    ]
    seg = hd.seg.Segmentation(
        source_images=[source_ds],
        pixel_array=labels.astype(np.uint8)[None],
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=series_uid,
        series_number=series_number,
        sop_instance_uid=sop_uid,
        instance_number=1,
        manufacturer="myomap",
        manufacturer_model_name="myomap analyze",
        software_versions=myomap.__version__,
        device_serial_number="0",
        series_description="myomap LV segmentation",
        omit_empty_frames=False,
    )
    # highdicom draws a random DimensionOrganizationUID; derive it from the SEG's own UID so a rerun gives the same bytes.
    dimension_uid = generate_uid(entropy_srcs=[sop_uid, "dimension organization"])
    seg.walk(lambda _, element: setattr(element, "value", dimension_uid) if element.keyword == "DimensionOrganizationUID" else None)
    return seg
