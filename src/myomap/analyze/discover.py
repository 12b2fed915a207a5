"""Finding the T1 and T2 maps of an exam, per patient, base to apex.

Inputs are folders (recursive) and files of a whole exam as a PACS or
scanner exports it, in any transfer syntax, classic or enhanced
multi-frame, and NIfTI maps (:mod:`myomap.io.nifti`).  Headers are indexed
without pixel data and every series classified as a T1/T2 map, weighted
images for a fit, or not relevant (:mod:`myomap.analyze.inventory`: maps
only from the header or ``--map-type``, never from the value range).  Only
the maps are decoded; with ``fit_missing`` the weighted images of slices
without a scanner map of that type are fitted into maps (grouped across
series where each series holds one time).  Duplicate images
(SOPInstanceUID seen before) are dropped with a note; several maps at one
position in one series give one slice, except the cardiac phases of a
cine given ``--map-type`` (one slice each, in trigger-delay order).

Long-axis maps (2/3/4-chamber, LVOT) are left out with one error line per
series (:mod:`myomap.analyze.long_axis`, rules in
:mod:`myomap.geometry.view_plane`).  Slices are grouped per patient and
study.  Each series is called native or
post-contrast (:mod:`myomap.analyze.contrast`, the deciding rule kept), and
each stack (map type and contrast state) is ordered base to apex along the
LV long axis from ImageOrientationPatient and ImagePositionPatient: the
slice normal is oriented toward the patient's left, anterior and inferior
(where the apex points), and slices are sorted by their position along it.
Levels (basal, mid, apical) come from thirds of the extent of the exam's
largest stack along that axis, for every stack
(:func:`myomap.geometry.levels.exam_levels`, which records its
evidence), and each slice records whether it is seen from the base
(mirrored), so that AHA segments are numbered the right way round.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from myomap.analyze.contrast import classify_series, t1_level_ms
from myomap.analyze.inventory import Inventory, SeriesSummary, classify, map_type_from_header, skipped_line
from myomap.analyze.long_axis import without_long_axis
from myomap.analyze.stack_order import order_slices
from myomap.conventions import MAP_TYPES, stack_name
from myomap.geometry.aha import APEX_DIRECTION_LPS
from myomap.io import vendor
from myomap.io.context import DAY_S, ScanContext, past_midnight
from myomap.io.dicom import DecodeError, DicomError, read_frames
from myomap.io.header import ImageMeta, index_files
from myomap.io.nifti import NiftiError, NiftiLabelImage, cine_phase_copies, find_nifti, read_nifti_map, slice_pixels, volume_digests
from myomap.io.series_kind import find_dicom_files, position_key
from myomap.mapping.series import SeriesError

# Where the LV apex points in the DICOM patient frame (LPS: +x left, +y posterior, +z superior).
APEX_DIRECTION = APEX_DIRECTION_LPS


@dataclass(frozen=True)
class MapSlice:
    """One T1 or T2 map slice ready to analyse.

    ``pixels`` are float32 ms, or None for a scanner or NIfTI map until
    :meth:`loaded` decodes it again from ``source`` or reads it again from
    its NIfTI file (discovery keeps only the headers, so a cohort of any
    size fits in memory); ``spacing_mm`` is (row, col).  ``patient``
    and ``study`` are the raw DICOM PatientID and StudyInstanceUID, used
    for grouping only: outputs name patients by an anonymous label unless
    the user asks otherwise.  ``origin`` is ``scanner`` for maps read from
    DICOM, ``nifti`` for NIfTI maps, and ``fitted`` for maps fitted here
    from weighted images, in which case ``path`` is the first weighted
    image.  ``frame`` is the frame of a multi-frame file (None: one frame),
    or the slice index of a NIfTI map (``phase``: its volume, in a 4-D cine).
    ``context`` holds field strength, sequence and heart rate as the header
    gives them; ``contrast`` (``native``/``post``) and ``contrast_rule``
    say how it was called; ``level_basis`` how the slice level was found;
    ``clockwise`` that the image is seen from the base (AHA segments run
    clockwise on screen) and ``axis_basis`` how the long axis was found.
    """

    path: Path
    map_type: str
    pixels: np.ndarray | None
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
    series_number: int | None = None
    frame: int | None = None
    context: ScanContext = ScanContext()
    contrast: str = "native"
    contrast_rule: str = ""
    level_basis: str = ""
    clockwise: bool = False
    axis_basis: str = ""
    source: ImageMeta | None = None  # where ``pixels`` come from when they are not held
    ms_per_unit: float = 1.0
    level_ms: float | None = None  # the T1 level of the pixels (contrast.t1_level_ms) when they are not held
    phase: int | None = None  # the volume of a 4-D NIfTI cine (its cardiac phase); ``frame`` is then the slice index
    phase_ms: float | None = None  # that phase's time after the first, when the file gives its time step a unit
    cine: bool = False  # a cardiac phase of a cine given --map-type: its pixels are signal, not ms
    study_datetime: str = ""  # StudyDate + StudyTime (DICOM): orders a patient's studies for their labels
    image_shape: tuple[int, int] | None = None  # (rows, columns) of a NIfTI slice whose pixels are not held

    def loaded(self) -> MapSlice:
        """This slice with its pixels (decoded or read again when discovery dropped them)."""
        if self.pixels is not None:
            return self
        if self.origin == "nifti" and self.frame is not None:
            try:
                return replace(self, pixels=slice_pixels(self.path, self.frame, self.phase))
            except NiftiError as exc:  # the file changed since discovery
                raise DicomError(str(exc)) from None
            except OSError as exc:
                raise DicomError(f"{self.path}: cannot be read again ({exc.strerror or exc})") from None
        if self.source is None:
            return self
        (pixels,) = read_frames([self.source])
        return replace(self, pixels=pixels * np.float32(self.ms_per_unit))

    @property
    def where(self) -> str:
        """The file, with the frame of a multi-frame DICOM or the slice (and volume) of a NIfTI map, for messages.

        The slices of one file (a cine's phases, an enhanced map series) are then told apart in error lines.
        """
        if self.origin == "nifti" and self.frame is not None:
            return f"{self.path} slice {self.frame + 1}" + ("" if self.phase is None else f" volume {self.phase + 1}")
        return self.source.where if self.source is not None else str(self.path)

    @property
    def trigger_time_ms(self) -> float | None:
        """The image's trigger delay (ms after the R wave; a cine's phases differ in it), None when unknown.

        A 4-D NIfTI has none: its phase's time after the first phase stands in.
        """
        return self.source.trigger_time_ms if self.source is not None else self.phase_ms

    @property
    def stack(self) -> str:
        """``T1``, ``T2`` or ``T1-post``: the map type, with the contrast state when post-contrast."""
        return stack_name(self.map_type, self.contrast)

    @property
    def kind(self) -> str:
        """What the model is told the image is (its image check's tests, :mod:`myomap.model.evidence`): the stack, or ``cine``.

        A cine's phases get the native T1 map's blood test (bSSFP blood is bright), not its unstable-ring test or doubts.
        """
        return "cine" if self.cine else self.stack

    @property
    def series_label(self) -> str:
        """``series 12 'MOLLI T1 MAP'``: where the slice came from, for cards and rows."""
        return f"series {'?' if self.series_number is None else self.series_number} '{self.series_description}'"

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
    """What :func:`discover` found: slices per patient (ordered), errors and notes (one line each).

    ``series`` is the found-series table; ``fittable`` counts weighted
    groups without a scanner map that were not fitted (no ``fit_missing``);
    ``unreadable_maps`` counts maps found but not read.
    """

    patients: dict[tuple[str, str], list[MapSlice]]
    errors: list[str]
    notes: list[str]
    series: list[SeriesSummary] = field(default_factory=list)
    fittable: int = 0
    unreadable_maps: int = 0


def discover(inputs: Iterable[str | Path], *, fit_missing: bool = False, map_type: str | None = None) -> Discovery:
    """Find the maps among ``inputs`` (files and folders, recursively, any order).

    Headers are indexed first (no pixel data) and every series classified
    (:mod:`myomap.analyze.inventory`); only the maps, and with
    ``fit_missing`` the weighted images of slices without a map, are read.
    ``map_type`` (``T1`` or ``T2``) makes maps of the series the header
    does not classify, and is the type of NIfTI maps without a sidecar.
    Unreadable, truncated or undecodable maps, maps without PixelSpacing
    and failed fits give error lines naming the file (undecodable ones one
    line per transfer syntax), and so do long-axis maps, which are left
    out; what is not relevant gives one note.
    """
    if map_type not in (None, *MAP_TYPES):
        raise ValueError(f"map type must be T1 or T2, got {map_type!r}")
    inputs = list(inputs)
    earlier: list[str] = []
    files, errors = find_dicom_files(inputs, earlier)
    inventory = classify(index_files(files), map_type)
    errors.extend(inventory.errors)
    notes = earlier + list(inventory.notes)
    slices, failed = _read_maps(inventory, errors)
    actions, fittable = _use_weighted(inventory, slices, fit_missing, errors)
    if fittable:
        notes.append(f"{fittable} weighted series without a scanner map not used; --fit-missing fits maps from them")
    nifti, labels = _nifti_slices(inputs, map_type, errors, notes)
    if labels:
        notes.append(f"{len(labels)} NIfTI label image(s) skipped (segmentations, not maps), e.g. {labels[0]}")
    slices, long_axis = without_long_axis(slices + nifti, errors)
    rows = _rows(inventory, slices, failed, actions, long_axis) + _nifti_rows(nifti, long_axis)
    rows += [SeriesSummary(path.name, "not relevant: label image (NIfTI)", 0, 0, "skip", str(path)) for path in labels]
    skipped = skipped_line(inventory)
    notes.extend([skipped] if skipped else [])
    return Discovery(_by_patient(slices, notes), errors, notes, rows, fittable=fittable, unreadable_maps=sum(failed.values()))


def _use_weighted(inventory: Inventory, slices: list[MapSlice], fit_missing: bool, errors: list[str]) -> tuple[dict[str, str], int]:
    """Fit (with ``fit_missing``) the weighted groups whose slice has no scanner map; the action per series, and how many were left.

    One map per slice and acquisition: of the series of one slice that are
    one acquisition (:func:`_same_acquisition`: Siemens exports the raw and
    the motion-corrected images; a slice may be acquired again after a
    failed breath-hold), the motion-corrected and then the latest is
    fitted, the next where a fit fails.  A native and a post-contrast
    acquisition of one slice are both fitted (or one fitted beside the
    other's scanner map): they were taken for one, and the exam lost its
    native T1 or its ECV.
    """
    actions: dict[str, str] = {}
    fittable = 0
    have: dict[tuple, list[ScanContext]] = defaultdict(list)
    for m in slices:
        have[(m.study, m.map_type, _where(m.position_mm))].append(m.context)
    fitted_here: dict[tuple, list[ScanContext]] = defaultdict(list)
    times = _weighted_times(inventory.weighted)
    for name, frames in sorted(inventory.weighted.items(), key=lambda item: _fit_preference(item[1][0], times[item[0]])):
        kind = inventory.kinds[frames[0].series_uid].split()[0]
        key, context = (frames[0].study_uid, kind, position_key(frames[0])), frames[0].context
        if any(_same_acquisition(context, other) for other in have[key]):
            action = "not fitted: the scanner's map is used"
        elif not fit_missing:
            action, fittable = "not used: --fit-missing fits it", fittable + 1
        elif any(_same_acquisition(context, other) for other in fitted_here[key]):
            action = "not fitted: another series of this slice is fitted"
        else:
            fitted = _fit_one(name, frames, errors)
            action = "fitted" if fitted is not None else "fit failed"
            if fitted is not None:
                slices.append(fitted)
                fitted_here[key].append(context)
        for meta in frames:
            actions.setdefault(meta.series_uid, action)
    return actions, fittable


# Series of one slice acquired this close (s) are one acquisition (raw and motion-corrected images, the map made of
# them, a repeat after a failed breath-hold); post-contrast maps are acquired 10-20 min after the native ones.
SAME_ACQUISITION_S = 300.0


def _same_acquisition(a: ScanContext, b: ScanContext) -> bool:
    """Whether one map stands for both series of a slice: acquired within ``SAME_ACQUISITION_S`` (times of day: 23:59:30
    and 00:00:30 are a minute apart), or, a time unknown, not told apart by the header's contrast words or agent."""
    if a.acquisition_time_s is not None and b.acquisition_time_s is not None:
        apart = abs(a.acquisition_time_s - b.acquisition_time_s) % DAY_S
        return min(apart, DAY_S - apart) <= SAME_ACQUISITION_S
    return _header_state(a) == _header_state(b)


def _header_state(context: ScanContext) -> str:
    call = classify_series(context)
    return "native" if call is None else call.state


def _weighted_times(weighted: dict[str, list[ImageMeta]]) -> dict[str, float | None]:
    """The acquisition time of each weighted series, counted on past midnight where its study ran across it."""
    by_study: dict[str, list[str]] = defaultdict(list)
    for name, frames in weighted.items():
        by_study[frames[0].study_uid].append(name)
    times: dict[str, float | None] = {}
    for names in by_study.values():
        times.update(zip(names, past_midnight([weighted[n][0].context.acquisition_time_s for n in names])))
    return times


def _fit_preference(meta: ImageMeta, time_s: float | None) -> tuple:
    """Sort key of the weighted series of one slice, the one to fit first: motion-corrected, then the latest acquired."""
    return (not _motion_corrected(meta), -(time_s or 0.0), -(meta.series_number or 0))


def _motion_corrected(meta: ImageMeta) -> bool:
    """A motion-corrected series: MOCO in its ImageType or as a word of its description (Siemens)."""
    return "MOCO" in (v.upper() for v in meta.image_type) or "MOCO" in vendor.description_words(meta.series_description)


def _nifti_rows(nifti: list[MapSlice], long_axis: dict[str, int]) -> list[SeriesSummary]:
    rows = []
    for path in dict.fromkeys(s.path for s in nifti):
        mine = [s for s in nifti if s.path == path]
        action = _analyse_action(len(mine) - long_axis.get(str(path), 0), 0, long_axis.get(str(path), 0))
        phases = len({s.phase for s in mine})
        kind = f"{mine[0].map_type} map (NIfTI" + (f" cine, {phases} phases)" if phases > 1 else ")")
        rows.append(
            SeriesSummary(path.name, kind, len({s.frame for s in mine}), len(mine), action, str(path), (mine[0].patient, mine[0].study))
        )
    return rows


def _analyse_action(done: int, failed: int, long_axis: int) -> str:
    if long_axis and not done and not failed:
        return "skip: long-axis view"
    return (
        f"analyse {done} slice(s)"
        + (f", {failed} unreadable" if failed else "")
        + (f", {long_axis} long-axis skipped" if long_axis else "")
    )


def _by_patient(slices: list[MapSlice], notes: list[str]) -> dict[tuple[str, str], list[MapSlice]]:
    patients: dict[tuple[str, str], list[MapSlice]] = defaultdict(list)
    for item in slices:
        patients[(item.patient, item.study)].append(item)
    for group in patients.values():
        if any(s.orientation is None or s.position_mm is None for s in group):
            notes.append(
                f"{group[0].path.parent}: maps without ImageOrientationPatient/ImagePositionPatient; "
                "their order and basal/mid/apical labels follow the file order"
            )
    ordered = {key: order_slices(patients[key]) for key in sorted(patients)}
    for group in ordered.values():
        for stack in sorted({s.stack for s in group if s.axis_basis == "mixed-orientations"}):
            notes.append(
                f"{group[0].path.parent}: {stack} slices with different orientations in one stack; "
                "each slice's AHA direction comes from its own orientation and the anatomical prior"
            )
    return ordered


def _read_maps(inventory: Inventory, errors: list[str]) -> tuple[list[MapSlice], dict[str, int]]:
    """Decode the map frames; failures are errors (one line per transfer syntax for missing decoders).

    Each file is decoded once for all its map frames (:func:`_decoded_frames`): a multi-frame file
    taken frame by frame was decoded whole for every frame.
    """
    slices: list[MapSlice] = []
    failed: dict[str, int] = defaultdict(int)
    undecodable: dict[str, list[str]] = defaultdict(list)
    levels: dict[int, float | DicomError] = {}  # per map frame: the T1 level of its pixels, or why it cannot be used
    for indices in _by_file([meta for _, meta in inventory.maps]).values():
        # One file at a time, keeping only the levels: discovery holds no pixels (see MapSlice.loaded).
        for k, pixels in zip(indices, _decoded_frames([inventory.maps[k][1] for k in indices])):
            map_type, meta = inventory.maps[k]
            named = not inventory.kinds.get(meta.series_uid, "").endswith("(--map-type)")
            levels[k] = pixels if isinstance(pixels, DicomError) else _map_level(map_type, meta, pixels, named=named)
    for k, (map_type, meta) in enumerate(inventory.maps):
        level = levels[k]
        if isinstance(level, DecodeError):
            undecodable[level.syntax].append(str(level))
            failed[meta.series_uid] += 1
        elif isinstance(level, DicomError):
            errors.append(str(level))
            failed[meta.series_uid] += 1
        else:
            factor = float(vendor.ms_factor(meta.scaling) or 1.0)  # not None: _map_level checked it
            cine = meta.series_uid in inventory.cines  # its level is signal, not ms: no contrast call from it
            item = replace(_slice(meta, map_type, None), source=meta, ms_per_unit=factor, level_ms=math.nan if cine else level, cine=cine)
            slices.append(item)
    for lines in undecodable.values():
        errors.append(lines[0] if len(lines) == 1 else f"{len(lines)} map images cannot be decoded, e.g. {lines[0]}")
    return slices, failed


def _map_level(map_type: str, meta: ImageMeta, pixels: np.ndarray, *, named: bool = True) -> float | DicomError:
    """The T1 level of a decoded map frame (NaN for T2: for the contrast call), or the error when its values are not ms.

    A map its header ``named`` (not one given its type by ``--map-type``, such as a cine whose contours are
    compared) stored in 8 bits without a value mapping is refused (:func:`myomap.io.vendor.display_levels`).
    """
    problem = vendor.map_value_problem(meta.bits_stored, meta.scaling, named=named)
    if problem is not None:
        return DicomError(f"{meta.where}: {problem}")
    factor = vendor.ms_factor(meta.scaling) or 1.0
    return t1_level_ms(pixels * np.float32(factor)) if map_type == "T1" else math.nan


def _by_file(metas: list[ImageMeta]) -> dict[Path | None, list[int]]:
    """The indices of ``metas`` per file, in order."""
    files: dict[Path | None, list[int]] = defaultdict(list)
    for k, meta in enumerate(metas):
        files[meta.path].append(k)
    return files


def _decoded_frames(metas: list[ImageMeta]) -> list[np.ndarray | DicomError]:
    """The pixels of ``metas`` (frames of one or more files), or per frame the :class:`DicomError` that stops it.

    Each file is decoded once for all its frames (:func:`myomap.io.dicom.read_frames`).  A file whose read
    fails for another reason than its pixel data's encoding is read again frame by frame, so that one bad
    frame (NaN pixels) does not take the file's other frames with it.
    """
    result: list[np.ndarray | DicomError] = [DicomError("not read")] * len(metas)
    for indices in _by_file(metas).values():
        frames = [metas[k] for k in indices]
        try:
            pixels: list[np.ndarray | DicomError] = list(read_frames(frames))
        except DecodeError as exc:
            pixels = [exc] * len(frames)
        except DicomError as exc:
            pixels = [exc] if len(frames) == 1 else [_one_frame(meta) for meta in frames]
        for k, item in zip(indices, pixels):
            result[k] = item
    return result


def _one_frame(meta: ImageMeta) -> np.ndarray | DicomError:
    try:
        (pixels,) = read_frames([meta])
    except DicomError as exc:
        return exc
    return pixels


def load_slices(slices: list[MapSlice]) -> list[MapSlice | DicomError]:
    """Each slice with its pixels (:meth:`MapSlice.loaded`), or the :class:`DicomError` that stops it.

    The DICOM maps' files are decoded once for all their slices (:func:`_decoded_frames`): the
    cardiac phases of a multi-frame cine were each a decode of the whole file.
    """
    pending = {
        k: item.source for k, item in enumerate(slices) if item.pixels is None and item.origin != "nifti" and item.source is not None
    }
    decoded = dict(zip(pending, _decoded_frames(list(pending.values()))))
    result: list[MapSlice | DicomError] = []
    for k, item in enumerate(slices):
        pixels = decoded.get(k)
        if isinstance(pixels, DicomError):
            result.append(pixels)
        elif pixels is not None:
            result.append(replace(item, pixels=pixels * np.float32(item.ms_per_unit)))
        else:
            try:
                result.append(item.loaded())
            except DicomError as exc:
                result.append(exc)
    return result


def _rows(
    inventory: Inventory, slices: list[MapSlice], failed: dict[str, int], actions: dict[str, str], long_axis: dict[str, int]
) -> list[SeriesSummary]:
    """The found-series table, in SeriesNumber order."""
    done = defaultdict(int)
    for item in slices:
        if item.origin == "scanner":
            done[item.series_uid] += 1
    kept = Counter(meta.series_uid for _, meta in inventory.maps)  # a map series' slices: one per position, or per phase of a cine
    rows = []
    for uid, frames in sorted(inventory.frames.items(), key=lambda kv: (kv[1][0].series_number or 0, kv[0])):
        kind = inventory.kinds.get(uid, "not relevant")
        positions = kept[uid] if uid in kept else len({position_key(m) for m in frames})
        if kind.startswith("not relevant"):
            action = "skip"
        elif "map" in kind:
            action = _analyse_action(done[uid], failed.get(uid, 0), long_axis.get(uid, 0))
        else:
            action = actions.get(uid, "not used") + (", then skipped: long-axis view" if uid in long_axis else "")
        exam = (frames[0].patient_id, frames[0].study_uid)
        rows.append(SeriesSummary(frames[0].series_label.removeprefix("series "), kind, positions, len(frames), action, exam=exam))
    return rows


def _nifti_slices(inputs: list, map_type: str | None, errors: list[str], notes: list[str]) -> tuple[list[MapSlice], list[Path]]:
    """Slices of the NIfTI maps among ``inputs`` (their type from a sidecar or ``map_type``), and the label images skipped.

    Files whose geometry came from their qform give one note
    (:attr:`myomap.io.nifti.NiftiMap.geometry_note`, the first named).

    Their pixels are read again when a slice is loaded (:func:`myomap.io.nifti.slice_pixels`), so that a
    folder of 4-D cines fits in memory; the T1 level the contrast call needs is kept.

    A 3-D file whose pixels are those of one phase of a 4-D cine among the inputs (ACDC ships its labelled
    frames as ``patientNNN_frameNN.nii.gz`` beside ``patientNNN_4d.nii.gz``) is that phase again: its slices are
    a cine's (no contrast call from their signal, no pooled values), and still analysed, so that contours lie
    beside the file its expert labels name.
    """
    slices, labels, qform = [], [], []
    digests: dict[Path, dict[int | None, bytes]] = {}  # per file, its volumes' pixel digests
    for path in find_nifti(inputs):
        try:
            found = read_nifti_map(path, map_type)
        except NiftiLabelImage:
            labels.append(path)
            continue
        except NiftiError as exc:
            errors.append(str(exc))
            continue
        if found.geometry_note:
            qform.append(found.geometry_note)
        digests[path] = volume_digests(found)
        for item in found.slices:
            found_slice = MapSlice(
                path=path,
                map_type=found.map_type,
                pixels=None,
                spacing_mm=item.spacing_mm,
                orientation=item.orientation,
                position_mm=item.position_mm,
                patient=found.patient,
                study=found.study,
                series_uid=str(path),
                sop_uid=f"{path}#{item.index}" + (f"@{item.phase}" if item.phase is not None else ""),
                series_description=found.series_description,
                context=found.context,
                origin="nifti",
                frame=item.index,
                level_ms=t1_level_ms(item.pixels) if found.map_type == "T1" and item.phase is None else math.nan,
                phase=item.phase,
                cine=item.phase is not None,
                phase_ms=item.phase_ms,
                image_shape=(int(item.pixels.shape[0]), int(item.pixels.shape[1])),
            )  # fmt: skip
            if np.isfinite(item.pixels).any():
                slices.append(found_slice)
            else:  # refused here, as a DICOM map is, so that it takes no place in its stack's order
                errors.append(f"{found_slice.where}: image holds no finite pixels (all NaN or infinite)")
    copies = cine_phase_copies(digests)
    notes += [f"{path}: the pixels of {phase} (a cine phase saved again): analysed as a cine phase" for path, phase in copies.items()]
    if qform:
        notes.append(qform[0] + (f" (and in {len(qform) - 1} more NIfTI file(s))" if len(qform) > 1 else ""))
    return [replace(s, cine=True, level_ms=math.nan) if s.path in copies else s for s in slices], labels


def _slice(meta: ImageMeta, map_type: str, pixels: np.ndarray | None, origin: str = "scanner") -> MapSlice:
    return MapSlice(
        path=meta.path,
        map_type=map_type,
        pixels=pixels,
        spacing_mm=meta.spacing_mm,
        orientation=meta.orientation,
        position_mm=meta.position_mm,
        patient=meta.patient_id,
        study=meta.study_uid,
        series_uid=meta.series_uid,
        sop_uid=meta.sop_uid,
        series_description=meta.series_description,
        origin=origin,
        series_number=meta.series_number,
        frame=meta.frame,
        context=meta.context,
        study_datetime=meta.study_datetime,
    )


def _fit_one(name: str, frames: list[ImageMeta], errors: list[str]) -> MapSlice | None:
    """Fit a map from one weighted group, with the defaults of ``myomap fit``; None (and an error line) on failure."""
    from myomap.mapping.pipeline import background_mask, fit_series, read_weighted

    try:
        series, model = read_weighted(name, frames)
    except (SeriesError, DicomError) as exc:
        errors.append(str(exc))
        return None
    if frames[0].spacing_mm is None:
        errors.append(f"{frames[0].where}: missing PixelSpacing (0028,0030)")
        return None
    map_type = "T2" if model == "t2" else "T1"
    # The defaults of `myomap fit`: background blanked, the plain signal model (no noise-floor removal).
    try:
        fit = fit_series(series, model, mask=background_mask(series.images))
    except SeriesError as exc:  # too few images for the model
        errors.append(str(exc))
        return None
    # Failed-fit and background pixels stay NaN: quantification counts them as missing, and the network
    # is shown those inside the myocardium as the tissue around them (myomap.model.window.fill_failed_fits).
    fitted = np.asarray(fit.t1_ms if map_type == "T1" else fit.t2_ms, dtype=np.float32)
    valued = np.isfinite(fitted)
    if not valued.any():  # refused here, as a map without a finite pixel is, so it takes no place in its stack
        errors.append(f"{name}: the {map_type} fit gave no pixel a value")
        return None
    return _slice(series.frames[0], map_type, np.where(valued, fitted, np.float32(np.nan)), origin="fitted")


def _where(position: tuple[float, ...] | None) -> tuple | None:
    return None if position is None else tuple(round(float(c), 1) for c in position)


__all__ = [
    "Discovery",
    "MapSlice",
    "SeriesSummary",
    "discover",
    "load_slices",
    "map_type_from_header",
]
