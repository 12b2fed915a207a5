"""What each series of an exam is: T1/T2 map, weighted images for a fit, or not relevant.

Classification works on the header index alone (no pixel data read):

- **map**: the header names a T1 or T2 map (:func:`map_type_from_header`;
  a name in SeriesDescription alone does not count for images whose
  preparation times vary, such as motion-corrected MOLLI images of a
  protocol named ``T1MAP_...``),
  or the user gives ``map_type`` for series the header does not classify.
  A map is never inferred from its value range: a 64 x 64 test image
  whose values happen to look like ms is not a T1 map.  Several maps at one
  position in one series (a vendor's masked or filtered copy of the same
  map, a magnitude image beside it) give one slice: the lowest InstanceNumber among
  the images whose own ImageType names the map, with a note; but a
  series given its type with ``map_type`` whose images at one position
  differ in TriggerTime is a cine, and every cardiac phase is a slice; so
  is one whose name says cine (``cine_sax``, ``FIESTA``, ``sBTFE``) with one
  image per position (a phase exported alone, such as the one an expert
  contoured).
- **weighted**: images whose inversion or T2-preparation times
  (:mod:`myomap.io.vendor`) vary at one position (a MOLLI or T2-prep
  series), or single images of one study, geometry and protocol spread over
  several series, one series per time (:mod:`myomap.mapping.series`).
  Look-Locker TI scouts are not weighted images for a map.
- **not relevant**: everything else (localisers, even with ``map_type``, cine (images at a position
  whose trigger delays differ; ``map_type`` takes its phases as maps), LGE with its one
  inversion time, colour renderings of maps such as a vendor's RGB copy or
  a screenshot (a colour copy inside a map series is skipped with a note), a map's companions named like another map series of the
  study plus SD, ERR, GOF, ECV, MASK or the like, non-MR objects, files
  that are not images); skipped with one summary line.

A file whose header says it is an MR image (:attr:`ImageMeta.claims_mr_image`)
but which has no pixels (Rows or Columns 0) is an error line: the export is
broken, and a silent note would let a missing slice pass unnoticed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from myomap.io.context import mapping_sequence
from myomap.io.header import ImageMeta, Index
from myomap.io.series_kind import has_single_times, position_key, series_time_kind
from myomap.io.vendor import description_words, map_companion, map_type_from_header, named_map_type
from myomap.mapping.series import group_series

_SCOUT = re.compile(r"TI[ _-]?scout|look[ _-]?locker|TI[ _-]?find|\bTIS\b", re.IGNORECASE)
_LOCALISER = re.compile(r"locali[sz]er|survey|\bscout\b|\bloc\b|tri[ _-]?pilot", re.IGNORECASE)
# Late gadolinium enhancement, named as sites and vendors do (LGE_PSIR_sax, PSIR_TFL, late gad, delayed enhancement).
_LGE = re.compile(r"(?<![a-z])(?:LGE|PSIR|late[ _-]?(?:gad\w*|enh\w*)|delayed[ _-]?enh\w*|viability)(?![a-z])", re.IGNORECASE)
ONE_TIME_KIND = "not relevant: one preparation time (e.g. LGE)"


@dataclass(frozen=True)
class SeriesSummary:
    """One row of the table ``analyze`` prints: a series, what it is, and what is done with it.

    ``file`` is the path of a row that is one file (a NIfTI map or label
    image), whose name may hold the patient's (converters name files after
    the patient): the run shows it as it names source files.  ``exam`` is
    the series' raw (PatientID, StudyInstanceUID), which groups the rows
    per patient and is never shown; ``patient`` the run's label of that
    exam ("" where it has no map).
    """

    series: str
    kind: str
    slices: int
    images: int
    action: str
    file: str = ""
    exam: tuple[str, str] = ("", "")
    patient: str = ""


@dataclass
class Inventory:
    """The classified exam: map frames (one per slice), weighted groups, and the series each belongs to."""

    maps: list[tuple[str, ImageMeta]] = field(default_factory=list)
    weighted: dict[str, list[ImageMeta]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # series UID -> kind
    frames: dict[str, list[ImageMeta]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cines: set[str] = field(default_factory=set)  # UIDs of series given --map-type whose phases are slices (cines)


def classify(index: Index, map_type: str | None = None) -> Inventory:
    """Classify every series of ``index`` (see the module docstring)."""
    inventory = Inventory(errors=list(index.errors), notes=list(index.notes))
    other: list[ImageMeta] = []
    empty: dict[str, ImageMeta] = {}  # file -> its first frame: MR images without pixels, one error line per file
    for meta in index.frames:
        if (not meta.rows or not meta.columns) and meta.claims_mr_image:
            empty.setdefault(str(meta.path), meta)
        elif meta.modality not in ("MR", "") or not meta.rows or not meta.columns:
            other.append(meta)
        else:
            inventory.frames[meta.series_uid].append(meta)
    if other:
        inventory.notes.append(f"{len(other)} non-MR object(s) or file(s) without an image (e.g. {other[0].where}) skipped")
    inventory.errors.extend(
        f"{meta.path}: an MR image without pixels (Rows {meta.rows}, Columns {meta.columns}); nothing to analyse" for meta in empty.values()
    )
    candidates: list[ImageMeta] = []
    map_kinds = {uid: _map_kinds(frames) for uid, frames in inventory.frames.items()}
    map_descriptions: dict[str, set[tuple[str, ...]]] = defaultdict(set)  # study -> the map series' descriptions, as words
    for uid, frames in inventory.frames.items():
        if map_kinds[uid]:
            map_descriptions[frames[0].study_uid].add(description_words(frames[0].series_description))
    for uid, frames in inventory.frames.items():
        kinds = map_kinds[uid]
        first = frames[0]
        if all(m.is_colour for m in frames):  # a vendor's colour copy of a map, a screenshot: colours, not values
            inventory.kinds[uid] = f"not relevant: colour image ({first.photometric}), no values to measure"
        elif kinds and (word := map_companion(first.series_description, map_descriptions[first.study_uid])) is not None:
            inventory.kinds[uid] = f"not relevant: a map's companion ({word}), not its values"
        elif kinds:
            inventory.kinds[uid] = f"{sorted(kinds)[0]} map"
            inventory.maps.extend(_one_per_position(_grey(frames, inventory.notes), sorted(kinds)[0], inventory.notes))
        elif _SCOUT.search(f"{first.series_description} {first.protocol_name}"):
            inventory.kinds[uid] = "not relevant: Look-Locker TI scout"
        elif (kind := series_time_kind(frames)) is not None:
            inventory.kinds[uid] = f"{kind} weighted"
            candidates.extend(frames)
        elif has_single_times(frames) and _LGE.search(f"{first.series_description} {first.protocol_name}"):
            # An LGE stack or slice repeated at other inversion times (the blood nulled better) is no inversion-recovery series.
            inventory.kinds[uid] = ONE_TIME_KIND
        elif has_single_times(frames):
            inventory.kinds[uid] = "single-time"  # decided below, once grouped across series
            candidates.extend(frames)
        elif "LOCALIZER" in first.image_type or _LOCALISER.search(first.series_description):
            inventory.kinds[uid] = "not relevant: localiser"  # a survey of three planes, never a map, whatever --map-type says
        elif map_type is not None:
            _declared(inventory, uid, frames, map_type)
        elif _is_cine(frames):
            inventory.kinds[uid] = f"not relevant: {CINE_KIND}"
        elif "ORIGINAL" in first.image_type and (named := named_map_type(first.series_description)) is not None:
            # Named like a map but ORIGINAL (raw protocols are named t1map_...): not taken, but the table says how if it is one.
            inventory.kinds[uid] = (
                f"not relevant: named like a {named} map, ImageType ORIGINAL (if it is the map: --map-type {named} on it alone)"
            )
        else:
            inventory.kinds[uid] = "not relevant: no map type or preparation time in the header"
    _group_weighted(inventory, Index(candidates, [], [], index.damaged_series))
    return inventory


def _declared(inventory: Inventory, uid: str, frames: list[ImageMeta], map_type: str) -> None:
    """A series given its type by ``--map-type``: its maps, one per position, or a cine's phases."""
    inventory.kinds[uid] = f"{map_type} map (--map-type)"
    kept = _one_per_position(_grey(frames, inventory.notes), map_type, inventory.notes, phases=True)
    inventory.maps.extend(kept)
    if len(kept) > len({position_key(meta) or (str(meta.path),) for _, meta in kept}):
        inventory.cines.add(uid)  # two slices at one position: a cine's phases
    elif _named_cine(frames[0]):  # one phase per position (e.g. the frame an expert contoured), named a cine
        inventory.cines.add(uid)
        inventory.notes.append(
            f"{frames[0].series_label}: named a cine: its images are analysed as cine phases (signal, not {map_type} values)"
        )


CINE_KIND = "cine (--map-type T1 segments its cardiac phases, without T1 values)"
# How vendors and sites name a cine: cine_retro_sax, SAX CINE, FIESTA, TrueFISP or trufi, (s)B-TFE, bSSFP.
_CINE_NAME = re.compile(r"(?<![a-z])(?:cine|fiesta|trufi|true[ _-]?fisp|s?b[ _-]?tfe|bssfp)", re.IGNORECASE)


def _named_cine(meta: ImageMeta) -> bool:
    """The series description or protocol names a cine, and no mapping sequence or map (a MOLLI's readout is bSSFP too).

    >>> from myomap.io.header import ImageMeta
    >>> [_named_cine(ImageMeta(None, series_description=d)) for d in ("SAX_CINE_ED", "FIESTA CINE", "sBTFE_BH", "MOLLI_trufi", "T1 map")]
    [True, True, True, False, False]
    """
    words = f"{meta.series_description} {meta.protocol_name}"
    return bool(_CINE_NAME.search(words)) and not mapping_sequence(words) and map_type_from_header([], words) is None


def _is_cine(frames: list[ImageMeta], *, named: bool = True) -> bool:
    """Images at one slice position that all have a trigger delay, two or more of them different: a cine's phases.

    With ``named``, a series whose description or protocol names a mapping
    sequence or a map (``MOLLI_5(3)3``, ``T1MAP``) is not called a cine: its
    weighted images whose preparation times could not be read differ in
    trigger delay too (``--map-type`` would then take them for maps).
    """
    words = f"{frames[0].series_description} {frames[0].protocol_name}"
    if named and (mapping_sequence(words) or map_type_from_header([], words)):
        return False
    by_position: dict[tuple, list[float | None]] = defaultdict(list)
    for meta in frames:
        by_position[position_key(meta) or (str(meta.path),)].append(meta.trigger_time_ms)
    return any(None not in delays and len(set(delays)) > 1 for delays in by_position.values())


def _map_kinds(frames: list[ImageMeta]) -> set[str]:
    """The map types a series' headers name; a name in SeriesDescription alone yields to varying preparation times.

    Siemens maps are named after the protocol plus ``_MOCO_T1``, so the
    motion-corrected MOLLI images of a protocol named ``T1MAP_SAX`` carry a
    map word too: images whose inversion or T2-preparation times vary at one
    position are weighted images, whatever their name says.
    """
    by_image_type = {kind for m in frames if (kind := map_type_from_header(m.image_type, "")) is not None}
    if by_image_type:
        return by_image_type
    by_name = {kind for m in frames if (kind := map_type_from_header(m.image_type, m.series_description)) is not None}
    return by_name if by_name and series_time_kind(frames) is None and not _unlabelled_weighted(frames) else set()


def _unlabelled_weighted(frames: list[ImageMeta]) -> bool:
    """Three or more magnitude images at one position: weighted images whose times could not be read, not copies of a map.

    A de-identified export may strip the ImageComments that carry a
    T2-preparation or inversion time; the series (``T2MAP_SAX_MOCO``,
    ImageType ``...\\M\\ND\\MOCO``) is then named like a map.  A vendor's
    masked copy of a map comes one to a map.
    """
    by_position: dict[tuple, int] = defaultdict(int)
    for meta in frames:
        kind = meta.image_type[2].upper() if len(meta.image_type) > 2 else ""
        position = position_key(meta)
        if (kind == "M" or kind.startswith("M_")) and position is not None:  # frames placed apart, not a file's frames
            by_position[position] += 1
    return any(n >= 3 for n in by_position.values())


def _group_weighted(inventory: Inventory, candidates: Index) -> None:
    groups, errors, notes = group_series(candidates)
    inventory.errors.extend(errors)
    inventory.notes.extend(notes)
    for name, frames in groups.items():
        uids = {m.series_uid for m in frames}
        kind = series_time_kind(frames)
        if kind is None or len(frames) < 3:
            continue
        inventory.weighted[name] = frames
        for uid in uids:
            if inventory.kinds.get(uid) == "single-time":
                inventory.kinds[uid] = f"{kind} weighted (one series per time)"
    for uid, kind in inventory.kinds.items():
        if kind == "single-time":
            inventory.kinds[uid] = ONE_TIME_KIND


def _grey(frames: list[ImageMeta], notes: list[str]) -> list[ImageMeta]:
    """The frames of a map series that hold values: a series may hold a colour copy of its map beside it (one note).

    Which came first (InstanceNumber, file order) decided before: a colour
    copy listed first made the whole series a colour image, or was taken as
    the map of its position and refused, and the grey map was lost.
    """
    grey = [m for m in frames if not m.is_colour]
    if len(grey) < len(frames):
        notes.append(f"{frames[0].series_label}: {len(frames) - len(grey)} colour image(s) beside the map (renderings, no values) skipped")
    return grey


def _one_per_position(frames: list[ImageMeta], map_type: str, notes: list[str], *, phases: bool = False) -> list[tuple[str, ImageMeta]]:
    """One image per slice position; with ``phases``, one per position and trigger delay.

    The image kept is the first by InstanceNumber among those whose own
    ImageType names the map, else among all (a series may hold a magnitude
    image beside its map, or a masked copy of it).

    A series the user declared a map with ``--map-type`` may be a cine:
    where every image at a position has a trigger delay and they differ,
    they are cardiac phases, each a slice of its own (in delay order), not
    copies of one map.
    """
    by_position: dict[tuple, list[ImageMeta]] = defaultdict(list)
    for meta in frames:
        by_position[position_key(meta) or (str(meta.path),)].append(meta)
    kept, phased = [], 0
    for group in by_position.values():
        # The image whose own ImageType names the map first: a series may hold its magnitude image too (Philips).
        group.sort(key=lambda m: (map_type_from_header(m.image_type, "") != map_type, m.instance_number or 0, m.frame or 0, str(m.path)))
        delays = [m.trigger_time_ms for m in group]
        if phases and _is_cine(group, named=False):  # a cine's phases (the user said what it is); a copy without a delay stays a copy
            first = {delay: next(m for m in group if m.trigger_time_ms == delay) for delay in sorted(set(delays))}
            kept.extend((map_type, m) for m in first.values())
            phased += 1
        else:
            kept.append((map_type, group[0]))
    if phased:
        notes.append(
            f"{frames[0].series_label}: images at {phased} position(s) with different trigger delays (the cardiac phases "
            f"of a cine): each phase is analysed as a slice of its own, {len(kept)} in all"
        )
    extra = len(frames) - len(kept)
    if extra:
        notes.append(
            f"{frames[0].series_label}: {extra} further image(s) at positions (and trigger delays) already taken "
            "(e.g. a masked copy, a magnitude image); the map image of each is used"
        )
    return kept


def skipped_line(inventory: Inventory) -> str | None:
    """One summary line for every series that is not relevant."""
    skipped = {uid: kind for uid, kind in inventory.kinds.items() if kind.startswith("not relevant")}
    if not skipped:
        return None
    images = sum(len(inventory.frames[uid]) for uid in skipped)
    reasons = defaultdict(int)
    for kind in skipped.values():
        reasons[kind.split(": ", 1)[1]] += 1
    text = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
    return f"{len(skipped)} series ({images} images) skipped as not relevant: {text}"
