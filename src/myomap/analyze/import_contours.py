"""``myomap import-contours``: expert contours from Circle cvi42 XML workspaces, with the DICOM images they were drawn on, as a data set.

The workspaces are read by :func:`myomap.io.cvi42.read_workspace` (contours
by SOPInstanceUID, in the data layout's pixel convention); the DICOM inputs
(files, folders, ZIP archives of exams) are indexed and classified as
``analyze`` does (:mod:`myomap.analyze.inventory`).  Every image that has
both short-axis LV contours (``saepicardialContour`` and
``saendocardialContour``) and belongs to a T1 or T2 map series (by its
header, or by ``map_type`` for a series the header does not call a map,
such as a cine) becomes ``<subject>/<T1|T2>_<level>_slice<kk>[_phase<pp>]/``
with ``map.dcm`` (its values in ms, kept through RescaleSlope/Intercept),
``contours.json`` and ``overlay.png`` (the contours on the map, to check
that they lie on the wall), and a row of ``manifest.csv`` with the columns of
``import-labels`` (:data:`myomap.io.labels.MANIFEST_COLUMNS`).

- Subjects: one per (PatientID, StudyInstanceUID), named as ``analyze``
  names patients (:func:`myomap.analyze.names.patient_labels`):
  ``patient-01``... or, with ``keep_phi``, the PatientID made folder-safe
  (a patient's later studies, by StudyDate and StudyTime, ``-s2``...).
  PatientID in the written DICOM is the subject, PatientName is empty, and
  without ``keep_phi`` every UID is a keyed hash of the original (the key
  is a hash of all the imported images' UIDs, as :mod:`myomap.analyze.deid`
  does), the series description is the map type, and the manifest has no
  ``source`` column (with ``keep_phi`` it names each image's file,
  ``input-K/...``) and the original StudyInstanceUID is kept.
- Levels: per subject, the images of every map series of its study,
  contoured or not, that ``analyze`` would read (decodable maps in ms with
  PixelSpacing, not long-axis views) are ordered by ``analyze``'s own
  :func:`myomap.analyze.stack_order.order_slices`: stacks by map type and
  contrast state (native and post-contrast T1 apart), each slice placed
  where one long axis through the images' centres crosses its plane (not
  at ImagePositionPatient, which moves with the field of view's corner),
  levels by thirds of the extent of the exam's largest stack, a slice of
  another stack at one of its planes taking that plane's level
  (:func:`myomap.geometry.levels.exam_levels`).  So an image has the level
  ``analyze`` gives it, also in a post-contrast stack replanned a few
  degrees; slices at one position (a cine's phases) share a level; an
  expert who left the basal slice uncontoured does not make the mid one
  basal.  When a contoured image has no ImageOrientationPatient or
  ImagePositionPatient, the contoured images of each map type are
  labelled by thirds of their file order (SeriesNumber, InstanceNumber).
- ``frame``: the index of the slice's position (ImagePositionPatient)
  among those of its stack (map type and contrast state), base to apex;
  ``phase``: for a cine series (images at one position with different
  trigger delays), the image's rank among its position's delays.

Images skipped, counted per reason: an image contoured again (the first
kept), only long-axis contours, no or only one LV contour, a contour with
fewer than 3 points, unreadable or non-finite points or no
SubpixelResolution, an image not among the DICOM inputs, a frame of a
file of several frames (cvi42 names the file, not the frame), an image of a
series that is not a map, a contour outside its image.  A workspace or
DICOM input that cannot be used is one error line, and so is a contoured
image whose values are no map in ms (8 bits without a value mapping, as
``analyze`` refuses it); the others go on.
Without ``keep_phi`` the DICOM inputs' lines name files by a keyed hash
(``file-...``), also those unpacked from a ZIP archive.
Every file is written atomically, the manifest last; the inputs are only
read.
"""

from __future__ import annotations

import math
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from myomap.analyze.contrast import t1_level_ms
from myomap.analyze.deid import secret_from
from myomap.analyze.discover import MapSlice
from myomap.analyze.exports import overlay_png
from myomap.analyze.inventory import classify
from myomap.analyze.names import SourceNames, keyed_hash, patient_labels
from myomap.analyze.stack_order import order_slices
from myomap.conventions import MAP_TYPES
from myomap.geometry.aha import apical_normal
from myomap.geometry.levels import exam_levels
from myomap.geometry.view_plane import Plane, call_views
from myomap.io import vendor
from myomap.io.archives import unpacked_archives
from myomap.io.contours import Contours, write_contours
from myomap.io.cvi42 import PIXEL_ORIGIN_OFFSET, ContouredImage, WorkspaceError, read_workspace
from myomap.io.dicom import DicomError, DicomGeometry, SeriesInfo, read_frames, write_mr_image
from myomap.io.files import atomic_write_bytes
from myomap.io.header import ImageMeta, index_files
from myomap.io.labels import value_scaling, write_label_manifest
from myomap.io.series_kind import find_dicom_files, position_key

NOT_FOUND = "image not among the DICOM inputs"
OUTSIDE_MARGIN_PX = 1.0
"""How far (pixels) a contour point may lie beyond the image's edge pixels' centres before the contour is taken for another image's."""


class ContourImportError(ValueError):
    """The import cannot run at all (no workspace, a wrong map type, an output folder in the way); the message says why."""


@dataclass
class ContourImportReport:
    """What an import did: the manifest (None when nothing was written), counts, and one line per bad input."""

    manifest: Path | None = None
    images: int = 0
    subjects: int = 0
    contoured: int = 0  # images with contours in the workspaces
    skipped: Counter = field(default_factory=Counter)  # reason -> images
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Accepted:
    """A contoured image found among the DICOMs, in a map series."""

    meta: ImageMeta
    map_type: str
    contours: ContouredImage
    named: bool = True  # the header calls its series a map (not --map-type): its stored bits are checked


@dataclass(frozen=True)
class _MapImage:
    """An image of a map series of the exam, contoured or not: its place sets the levels."""

    meta: ImageMeta
    map_type: str
    named: bool = True
    cine: bool = False  # a phase of a cine given --map-type (Inventory.cines): the contrast call reads no level from it


@dataclass(frozen=True)
class _Planned:
    """An accepted image with its subject, level, frame, phase and folder (relative to OUT)."""

    item: _Accepted
    subject: str
    level: str
    frame: int
    phase: int | None
    folder: str


def import_contours(
    inputs: Sequence[str | Path],
    workspaces: Sequence[str | Path],
    out: str | Path,
    *,
    map_type: str | None = None,
    keep_phi: bool = False,
    overwrite: bool = False,
    origin_offset_px: float = PIXEL_ORIGIN_OFFSET,
    found: Callable[[int], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ContourImportReport:
    """Write ``out`` as a data set of the images contoured in ``workspaces`` among the DICOM ``inputs``; see the module docstring.

    ``map_type`` (``T1``/``T2``) is the type of contoured series the header
    does not call a map (None: such images are skipped).  ``origin_offset_px``
    is passed to :func:`myomap.io.cvi42.read_workspace`.  ``found`` gets the
    number of images to write, ``progress`` the subject after each.

    Raises
    ------
    ContourImportError
        No workspace given, an unknown map type, or ``out`` not an empty
        folder without ``overwrite``.
    """
    out = Path(out)
    _check_arguments(workspaces, out, map_type, overwrite)
    report = ContourImportReport()
    contoured = _read_workspaces(workspaces, origin_offset_px, report)
    candidates = {uid: image for uid, image in contoured.items() if _count_problem(image, report)}
    said = len(report.errors), len(report.notes)  # the workspaces' lines; the DICOM inputs' follow
    with unpacked_archives(list(inputs), keep_names=keep_phi) as unpacked:
        report.errors += unpacked.errors
        report.notes += unpacked.notes
        files, missing = find_dicom_files(unpacked.inputs, report.notes)
        report.errors += missing
        inventory = classify(index_files(files), map_type)
        report.errors += inventory.errors
        report.notes += inventory.notes
        frames = {uid: list(series) for uid, series in inventory.frames.items()}
        accepted = _accept(candidates, frames, inventory.kinds, report)
        planned = _plan(accepted, frames, inventory.kinds, keep_phi, frozenset(inventory.cines))
        if found is not None:
            found(len(planned))
        names = SourceNames(unpacked.inputs, keep_phi=True, hasher=str)
        secret = secret_from([p.item.meta.sop_uid for p in planned])
        rows = []
        for plan in planned:
            try:
                rows.append(_write(out, plan, secret, keep_phi, names))
            except DicomError as exc:  # its message names the file
                report.errors.append(str(exc))
            if progress is not None:
                progress(plan.subject)
        if not keep_phi:  # while the unpacked copies exist: their paths hold the archives' member names, which the caller cannot hide
            hidden = SourceNames(unpacked.inputs, keep_phi=False, hasher=partial(keyed_hash, secrets.token_hex(16)))
            report.errors[said[0] :] = [hidden.scrub(e) for e in report.errors[said[0] :]]
            report.notes[said[1] :] = [hidden.scrub(n) for n in report.notes[said[1] :]]
    if rows:
        report.manifest = write_label_manifest(out, rows)
    report.images, report.subjects = len(rows), len({r["subject"] for r in rows})
    return report


def _check_arguments(workspaces: Sequence[str | Path], out: Path, map_type: str | None, overwrite: bool) -> None:
    if not workspaces:
        raise ContourImportError("no cvi42 workspace given (--workspace WS.cvi42wsx)")
    if map_type is not None and map_type not in MAP_TYPES:
        raise ContourImportError(f"map type must be one of {', '.join(MAP_TYPES)}, got {map_type!r}")
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not overwrite)):
        raise ContourImportError(f"{out}: exists and is not an empty folder (--overwrite writes into it)")


def _read_workspaces(workspaces: Sequence[str | Path], offset: float, report: ContourImportReport) -> dict[str, ContouredImage]:
    """SOPInstanceUID -> contours over all workspaces (the first of an image contoured twice); error lines for bad workspaces."""
    contoured: dict[str, ContouredImage] = {}
    for workspace in workspaces:
        try:
            images = read_workspace(workspace, origin_offset_px=offset)
        except WorkspaceError as exc:
            report.errors.append(str(exc))
            continue
        for image in images:
            report.contoured += 1
            if image.sop_uid in contoured:
                report.skipped["image contoured again in a workspace (the first kept)"] += 1
            else:
                contoured[image.sop_uid] = image
    return contoured


def _count_problem(image: ContouredImage, report: ContourImportReport) -> bool:
    """True when both LV contours are usable; else the reason is counted in ``report``."""
    epi, endo = image.epicardial, image.endocardial
    if epi is None and endo is None:
        reason = "long-axis contours only" if image.long_axis_only else "no LV epi- or endocardial contour (other contours only)"
    elif epi is None or endo is None:
        reason = "only one of the LV epi- and endocardial contours"
    else:
        reason = epi.problem or endo.problem
    if reason:
        report.skipped[reason] += 1
    return not reason


def _accept(
    candidates: dict[str, ContouredImage], frames: dict[str, list[ImageMeta]], kinds: dict[str, str], report: ContourImportReport
) -> list[_Accepted]:
    """The candidates found among the DICOMs, in map series and inside their image; the others counted per reason."""
    by_uid: dict[str, list[ImageMeta]] = defaultdict(list)
    for series in frames.values():
        for meta in series:
            by_uid[meta.sop_uid].append(meta)
    accepted = []
    for uid, image in candidates.items():
        metas = by_uid.get(uid, [])
        if not metas:
            report.skipped[NOT_FOUND] += 1
            continue
        if len(metas) > 1:  # an enhanced file of one frame is named unambiguously
            report.skipped["a frame of a multi-frame file (cvi42 names the file, not the frame)"] += 1
            continue
        meta = metas[0]
        kind = kinds.get(meta.series_uid, "not relevant")
        if not kind.startswith(("T1 map", "T2 map")):
            report.skipped[f"series not a map: {kind.removeprefix('not relevant: ')}"] += 1
            continue
        if not _inside(image, meta):
            report.skipped["contour outside its image (drawn on another image?)"] += 1
            continue
        named = not kind.endswith("(--map-type)")
        problem = vendor.map_value_problem(meta.bits_stored, meta.scaling, named=named)
        if problem is not None:  # not a map in ms (analyze refuses it too): an error line, and no part in the levels
            report.errors.append(f"{meta.where}: {problem}")
            continue
        accepted.append(_Accepted(meta, kind[:2], image, named=named))
    return accepted


def _inside(image: ContouredImage, meta: ImageMeta) -> bool:
    points = np.concatenate([image.epicardial.points, image.endocardial.points])  # type: ignore[union-attr]
    limit = np.array([meta.columns - 1, meta.rows - 1], dtype=float) + OUTSIDE_MARGIN_PX
    return bool(np.all(points >= -OUTSIDE_MARGIN_PX) and np.all(points <= limit))


def _plan(
    accepted: list[_Accepted],
    frames: dict[str, list[ImageMeta]],
    kinds: dict[str, str],
    keep_phi: bool,
    cines: frozenset[str] = frozenset(),
) -> list[_Planned]:
    """Subjects, levels, frames, phases and folders, in subject and folder order; ``cines`` the cine series' UIDs."""
    dates = {(a.meta.patient_id, a.meta.study_uid): a.meta.study_datetime for a in accepted}  # a follow-up is -s2, whatever its UID
    labels = patient_labels(set(dates), keep_phi, dates=dates)
    by_subject: dict[str, list[_Accepted]] = defaultdict(list)
    for item in accepted:
        by_subject[labels[(item.meta.patient_id, item.meta.study_uid)]].append(item)
    exam: dict[tuple, list[_MapImage]] = defaultdict(list)  # (patient, study) -> the images of its map series
    for uid, series in frames.items():
        kind = kinds.get(uid, "")
        for meta in series if kind.startswith(("T1 map", "T2 map")) else []:
            exam[(meta.patient_id, meta.study_uid)].append(
                _MapImage(meta, kind[:2], named=not kind.endswith("(--map-type)"), cine=uid in cines)
            )
    planned: list[_Planned] = []
    for subject in sorted(by_subject):
        first = by_subject[subject][0].meta
        items = by_subject[subject]
        slots = _exam_slots(items, exam[(first.patient_id, first.study_uid)], cines)
        if slots is None:  # a contoured image without geometry: file order, as analyze orders such a stack
            slots = _file_order_slots(items)
        taken: Counter = Counter()
        for item, level, frame in slots:
            phase = _phase(item.meta, frames[item.meta.series_uid])
            folder = f"{item.map_type}_{level}_slice{frame:02d}" + ("" if phase is None else f"_phase{phase:02d}")
            taken[folder] += 1
            folder += "" if taken[folder] == 1 else f"-{taken[folder]}"  # another series at the same position (native and post T1)
            planned.append(_Planned(item, subject, level, frame, phase, f"{subject}/{folder}"))
    return planned


def _exam_slots(
    items: list[_Accepted], maps: list[_MapImage], cines: frozenset[str] = frozenset()
) -> list[tuple[_Accepted, str, int]] | None:
    """Each contoured image with its level and frame, as ``analyze`` orders the exam's maps; stack by stack, base to apex.

    The exam is the contoured images and the other images of the subject's
    map series that ``analyze`` would read (with geometry and PixelSpacing,
    decodable, not a long-axis view: :func:`myomap.geometry.view_plane.call_views`),
    ordered by :func:`myomap.analyze.stack_order.order_slices`: stacks by map
    type and contrast state, levels from where each plane crosses one long
    axis through the images' centres.  ``frame`` is the index of the image's
    position (ImagePositionPatient, 0.1 mm) among its stack's, base to apex.
    None when a contoured image has no usable ImageOrientationPatient or
    ImagePositionPatient (:func:`_file_order_slots` then decides).
    """
    if not all(_placed(i.meta) for i in items):
        return None
    contoured = {_key(i.meta) for i in items}
    images = {_key(i.meta): _MapImage(i.meta, i.map_type, i.named, i.meta.series_uid in cines) for i in items}
    for other in maps:
        if _placed(other.meta) and other.meta.spacing_mm is not None:
            images.setdefault(_key(other.meta), other)
    found = list(images.values())
    names = [(("SeriesDescription", i.meta.series_description), ("ProtocolName", i.meta.protocol_name)) for i in found]
    calls = call_views([Plane(i.meta.orientation, i.meta.position_mm, named) for i, named in zip(found, names)])
    found = [i for i, call in zip(found, calls) if _key(i.meta) in contoured or not call.long_axis]
    read = [(i, level) for i, level in zip(found, _t1_levels(found)) if _key(i.meta) in contoured or level is not None]  # as analyze reads
    ordered = order_slices([_map_slice(i, math.nan if level is None else level) for i, level in read])
    positions: dict[str, dict[tuple | None, int]] = defaultdict(dict)
    slot: dict[tuple, tuple[str, int]] = {}
    for s in ordered:
        here = position_key(s.source) if s.source is not None else None
        frame = positions[s.stack].setdefault(here, len(positions[s.stack]))
        slot[(s.sop_uid, s.frame)] = (s.slice_position, frame)
    rank = {key: k for k, key in enumerate(slot)}
    return [(i, *slot[_key(i.meta)]) for i in sorted(items, key=lambda i: rank[_key(i.meta)])]


def _file_order_slots(items: list[_Accepted]) -> list[tuple[_Accepted, str, int]]:
    """Levels and frames of contoured images without usable geometry: per map type, thirds of their file order."""

    def order(item: _Accepted) -> tuple:
        return item.meta.series_number or 0, item.meta.instance_number or 0, item.meta.sop_uid

    stacks = [stack for stack in (sorted((i for i in items if i.map_type == kind), key=order) for kind in MAP_TYPES) if stack]
    levels = exam_levels([[math.nan] * len(stack) for stack in stacks])
    return [(item, level, k) for stack, (names, _) in zip(stacks, levels) for k, (item, level) in enumerate(zip(stack, names))]


def _key(meta: ImageMeta) -> tuple:
    return meta.sop_uid, meta.frame


def _placed(meta: ImageMeta) -> bool:
    """Whether the image has ImageOrientationPatient (not degenerate) and ImagePositionPatient."""
    if meta.orientation is None or meta.position_mm is None:
        return False
    try:
        apical_normal(meta.orientation)
    except ValueError:  # a degenerate ImageOrientationPatient: no normal, no place along the long axis
        return False
    return True


def _t1_levels(images: list[_MapImage]) -> list[float | None]:
    """The T1 level of each T1 image (:func:`myomap.analyze.contrast.t1_level_ms`, as ``analyze`` measures it for the
    contrast call), NaN for a T2 image, None where ``analyze`` would not read the image (undecodable, not in ms)."""
    t1 = [k for k, i in enumerate(images) if i.map_type == "T1"]
    try:
        pixels: list[np.ndarray | None] = list(read_frames([images[k].meta for k in t1]))
    except DicomError:  # one bad file: the others one by one
        pixels = [_frame(images[k].meta) for k in t1]
    levels: list[float | None] = [math.nan] * len(images)
    for k, values in zip(t1, pixels):
        meta = images[k].meta
        if values is None or vendor.map_value_problem(meta.bits_stored, meta.scaling, named=images[k].named) is not None:
            levels[k] = None
        else:
            levels[k] = t1_level_ms(values * np.float32(vendor.ms_factor(meta.scaling) or 1.0))
    return levels


def _frame(meta: ImageMeta) -> np.ndarray | None:
    try:
        (pixels,) = read_frames([meta])
    except DicomError:
        return None
    return pixels


def _map_slice(item: _MapImage, level_ms: float) -> MapSlice:
    """The image as ``analyze`` holds a map it has not decoded (the pixels None, their T1 level kept).

    A contoured image without PixelSpacing (its write fails with the reason) is placed as if its pixels were 1 mm.
    """
    meta = item.meta
    return MapSlice(
        path=meta.path or Path(meta.sop_uid), map_type=item.map_type, pixels=None, spacing_mm=meta.spacing_mm or (1.0, 1.0),
        orientation=meta.orientation, position_mm=meta.position_mm, patient=meta.patient_id, study=meta.study_uid,
        series_uid=meta.series_uid, sop_uid=meta.sop_uid, series_description=meta.series_description,
        series_number=meta.series_number, frame=meta.frame, context=meta.context, source=meta, level_ms=level_ms,
        cine=item.cine,
    )  # fmt: skip


def _phase(meta: ImageMeta, series: list[ImageMeta]) -> int | None:
    """The image's rank among the trigger delays of its series' images at its position, when they differ (a cine); else None."""
    here = position_key(meta)
    delays = sorted({m.trigger_time_ms for m in series if position_key(m) == here and m.trigger_time_ms is not None})
    if len(delays) < 2 or meta.trigger_time_ms is None:
        return None
    return delays.index(meta.trigger_time_ms)


def _scaling(values: np.ndarray, slope: float, intercept: float) -> tuple[float, float]:
    """The source's own slope and intercept (in ms) where they store ``values`` exactly as uint16 and survive the header's text; else :func:`value_scaling`."""
    valued = values[np.isfinite(values)].astype(float)
    storable = valued.size == values.size or intercept <= 0  # NaN (no value) is written as 0 ms, which needs an intercept <= 0
    if valued.size and storable and slope > 0 and float(f"{slope:g}") == slope and float(f"{intercept:g}") == intercept:
        stored = np.rint((valued - intercept) / slope)
        if stored.min() >= 0 and stored.max() <= 65535 and np.allclose(stored * slope + intercept, valued, rtol=0, atol=slope * 1e-3):
            return slope, intercept
    return value_scaling(values)


def _write(out: Path, plan: _Planned, secret: str, keep_phi: bool, names: SourceNames) -> dict[str, str]:
    """Write one image and its contours; its manifest row.  DicomError (naming the file) when its pixels cannot be read."""
    meta, map_type = plan.item.meta, plan.item.map_type
    (pixels,) = read_frames([meta])
    factor = vendor.ms_factor(meta.scaling) or 1.0  # not None: its values were checked to be ms (_accept)
    pixels = pixels * np.float32(factor)

    def uid(*parts: str) -> str:
        return generate_uid(entropy_srcs=[secret, *parts])

    series = SeriesInfo(
        patient_id=plan.subject, patient_name="",
        study_uid=meta.study_uid if keep_phi and meta.study_uid else uid("study", meta.study_uid),
        series_uid=uid("series", meta.series_uid, map_type), series_number=meta.series_number or 1,
        series_description=f"{meta.series_description} (import-contours)" if keep_phi else f"{map_type} map (import-contours)",
        image_type=("DERIVED", "SECONDARY", f"{map_type} MAP"), field_strength_t=meta.field_strength_t or 0.0, study_date="",
    )  # fmt: skip
    geometry = DicomGeometry(
        meta.spacing_mm, meta.orientation or (1.0, 0.0, 0.0, 0.0, 1.0, 0.0), meta.position_mm or (0.0, 0.0, 0.0),  # type: ignore[arg-type]
        meta.slice_thickness_mm or 8.0,
    )  # fmt: skip
    folder = out / plan.folder
    folder.mkdir(parents=True, exist_ok=True)
    slope, intercept = _scaling(pixels, meta.scaling.slope * factor, meta.scaling.intercept * factor)
    write_mr_image(
        folder / "map.dcm", pixels, geometry=geometry, series=series, instance_number=meta.instance_number or 1,
        sop_uid=uid("image", meta.sop_uid), slope=slope, intercept=intercept, manufacturer="",
    )  # fmt: skip
    image = plan.item.contours
    contours = Contours(image.epicardial.points, image.endocardial.points, spacing_mm=meta.spacing_mm)  # type: ignore[union-attr]
    write_contours(folder / "contours.json", contours)
    atomic_write_bytes(folder / "overlay.png", overlay_png(pixels, map_type, contours))  # to check where the contours landed
    row = {"subject": plan.subject, "map_type": map_type, "slice": plan.level, "role": "map", "image": f"{plan.folder}/map.dcm"}
    row |= {"contours": f"{plan.folder}/contours.json", "frame": str(plan.frame), "phase": "" if plan.phase is None else str(plan.phase)}
    return row | ({"source": names.relative(meta.path)} if keep_phi and meta.path is not None else {})
