"""Vendor conventions for preparation times and pixel values, written down in one place.

Inversion time of an inversion-recovery weighted image (MOLLI, plain IR),
sources in the order they are tried:

1. ``InversionTime`` (0018,0082); in an enhanced multi-frame file the
   frame's MR Modifier ``InversionTimes`` (0018,9079).
2. ImageComments (0020,4000) ``TI 123``, ``TI=123``, ``TI: 123 ms``: Siemens
   MOLLI raw images carry it there.
3. Philips private "inversion delay" (2005,1572), FL in ms: Philips MOLLI
   exports keep it only there (InversionTime absent, or one value for all).

T2-preparation time of a T2-prepared weighted image:

1. ImageComments ``T2prep=25ms`` (the phantom), ``T2 prep. duration = 25 ms``
   (Siemens MyoMaps), ``T2P = 25``, ``t2-prep duration: 25 ms``.
2. ``EchoTime`` (0018,0081), or the frame's ``EffectiveEchoTime``
   (0018,9082): Philips and GE write the preparation duration there, and a
   multi-echo spin echo has its echo times there.

For a series, a source counts only when every image has it and the values
are not all equal (several vendors write one InversionTime, e.g. 0, into
every image of a MOLLI or T2-prep series; that is no information), so a
constant InversionTime falls back to the comments and the private tag.
A private tag that holds garbage is ignored with a note.

Map type: ImageType ``T1 MAP``, ``T2 MAP`` and the vendor spellings
``T1MAP``, ``MOCO_T1``, ``T2_MAPPING``; SeriesDescription only for images
that are not ORIGINAL (raw protocols are often named ``t1map_molli``).

Pixel values: ``RealWorldValueMappingSequence`` (0040,9096), from the
frame's functional groups or the top level, maps stored values with
RealWorldValueSlope / RealWorldValueIntercept in the units of its
MeasurementUnitsCodeSequence (Philips maps); of several mappings (the
sequence may hold one per unit, e.g. a unitless one beside the one in ms)
the first in ms or s is used, else the first; otherwise RescaleSlope /
RescaleIntercept (per frame: Pixel Value Transformation), otherwise the
stored values.  A map must come out in ms: RWV units ``ms`` are taken as
they are, ``s`` times 1000; RWV in other units (``Hz``, ``mm2/s``) is
refused.  Rescaled values are taken as ms (what the standard's MR maps and
the phantom store), and so are the values of a unitless RWV (units ``1``,
"no units", or none given): Philips writes its RWV with the slope and
intercept of the console's displayed value (``DV = PV * RS + RI``,
dcm2niix's Philips notes and issue #455, where a map's RWV carried no
unit), which for a map is its value in ms; refusing it would refuse the
map.  A unitless mapping that is not ms (a T1 in s) gives values the
quality check flags as implausible for the map type.  A map stored in 8 bits or fewer without a value
mapping (:func:`display_levels`) holds the grey levels of a rendering
(a secondary capture, a copy converted to lossy JPEG baseline, which has
8 bits only), not ms: scanners store maps in 12 or 16 bits, and 0-255 ms
cannot hold a native T1 (about 1000 ms and more).
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TI_COMMENT = re.compile(r"\bTI\s*[=:]?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
T2PREP_COMMENT = re.compile(r"\bT2\s*-?\s*(?:prep\w*|P)\.?\s*(?:duration)?\s*[=:]?\s*(\d+(?:\.\d+)?)\s*(?:ms)?", re.IGNORECASE)
MAP_WORDS = re.compile(
    r"\b(T[12])[ _-]?(MAPS?|MAPPING|MOCO)\b|\b(MOCO|MAP)[ _-]?(T[12])\b(?!\s*\*)|(?:\b|(?<=SMAR))(T[12])MAPS?\b"
    r"|\b(T[12])[ _-]?(?:MOLLI|SHMOLLI|SASHA|SAPPHIRE|T2PREP|GRASE)[ _-]?(?:MAPS?|MAPPING)\b",
    re.IGNORECASE,
)
"""Words that name a T1 or T2 map: ``T1 MAP``, ``T2_MAPPING``, ``MOCO_T1``, ``T1MAP``, ``T1 maps``, ``T1 MOLLI map`` (a
sequence's name between) and GE's ``SMART1Map`` (not ``Map T2*``: a T2* map)."""
COMPANION_WORDS = frozenset(
    "SD SDMAP STD STDEV STDDEV SIGMA ERR ERROR CHI CHI2 CHISQ GOF FIT CONF CONFIDENCE SNR ECV R2 RSQ MASK MASKED".split()
)
"""Words that, added to a map's series description, name one of its companions: an SD or error map, a fit quality, ECV, a mask."""
PHILIPS_INVERSION_DELAY = (0x2005, 0x1572)
_PHILIPS_CREATOR = (0x2005, 0x0015)  # private creator of the (2005,15xx) block
_MS = {"ms", "msec", "millisecond", "milliseconds"}
_S = {"s", "sec", "second", "seconds"}
_NO_UNITS = {"", "1", "no units", "{no units}", "none"}  # UCUM's unity code is "1"; "" when no MeasurementUnitsCodeSequence


@dataclass(frozen=True)
class ValueScaling:
    """``value = stored * slope + intercept``; ``source`` names the tags used, ``units`` as the header gives them."""

    slope: float = 1.0
    intercept: float = 0.0
    source: str = "stored values"
    units: str = ""


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
    >>> map_type_from_header(["DERIVED", "PRIMARY", "OTHER"], "SMART1Map"), map_type_from_header([], "SMARTMap")
    ('T1', None)
    """
    image_type = [str(v).upper() for v in image_type]
    texts = [" ".join(image_type)] + ([] if "ORIGINAL" in image_type else [description])
    return next((found for text in texts if (found := named_map_type(text)) is not None), None)


def named_map_type(text: str) -> str | None:
    """``T1``/``T2`` when ``text`` (an ImageType joined, a SeriesDescription) holds words that name a map (:data:`MAP_WORDS`).

    >>> named_map_type("T1 Map"), named_map_type("t1map_molli_sax"), named_map_type("cine_sax")
    ('T1', 'T1', None)
    >>> named_map_type("SAX T1 MOLLI map"), named_map_type("T2 maps basal"), named_map_type("T1 MOLLI"), named_map_type("Map T2*")
    ('T1', 'T2', None, None)
    """
    match = MAP_WORDS.search(re.sub(r"[\\_]", " ", text))  # underscores and backslashes separate words
    return None if match is None else next(g for g in match.groups() if g and g.upper().startswith("T")).upper()


def description_words(description: str) -> tuple[str, ...]:
    """A series description as upper-case words (split at anything but letters and digits).

    >>> description_words("MOCO_T1_SD-map")
    ('MOCO', 'T1', 'SD', 'MAP')
    """
    return tuple(re.findall(r"[A-Z0-9]+", description.upper()))


def map_companion(description: str, map_descriptions: Collection[tuple[str, ...]]) -> str | None:
    """The word that makes a map-named series a companion of another map series (its SD, error, fit quality, ECV, mask), else None.

    Inline mapping can store, next to a map, a pixel-wise SD or error map,
    a goodness-of-fit map, an ECV map or a masked copy under the map's own
    series description plus such a word (``MOCO_T1`` and ``MOCO_T1_SD``);
    their pixels are not the map's values, or are its values again.  A word
    counts only where the description without it is that of another map
    series of the study (``map_descriptions``, as :func:`description_words`
    gives them): a protocol named ``T1 map pre ECV`` or ``T2 map high SNR``
    is a map.  The same holds for a suffix glued to the map type
    (``T1S``, ``T1SD``, ``T2STD``, ``T1ERR``): Siemens exports a
    ``..._MOCO_T1S`` series beside the ``..._MOCO_T1`` map, which public
    code reading these exports leaves out (docs/clinical_values.md).

    Examples
    --------
    >>> maps = {("MOCO", "T1"), ("MOCO", "T1", "SD"), ("T1", "MAP", "PRE", "ECV"), ("T1MAP", "SAX", "MOCO", "T1")}
    >>> map_companion("MOCO_T1_SD", maps), map_companion("MOCO_T1", maps), map_companion("T1 map pre ECV", maps)
    ('SD', None, None)
    >>> map_companion("T1MAP_SAX_MOCO_T1S", maps), map_companion("T1MAP_SAX_MOCO_T1SD", maps), map_companion("SAX_MOCO_T1S", maps)
    ('T1S', 'T1SD', None)
    """
    words = description_words(description)
    found = [w for w in words if w in COMPANION_WORDS]
    rest = tuple(w for w in words if w not in COMPANION_WORDS)
    if found and rest in map_descriptions:
        return found[0]
    for k, word in enumerate(words):
        glued = _GLUED_COMPANION.fullmatch(word)
        if glued and (*words[:k], glued.group(1), *words[k + 1 :]) in map_descriptions:
            return word
    return None


_GLUED_COMPANION = re.compile(r"(T[12])(S|SD|STD|ERR)")  # a map type with a companion suffix glued to it: T1S, T1SD, T2STD


def comment_inversion_time(meta) -> float | None:
    match = TI_COMMENT.search(meta.image_comments)
    return float(match.group(1)) if match else None


def comment_t2prep_time(meta) -> float | None:
    match = T2PREP_COMMENT.search(meta.image_comments)
    return float(match.group(1)) if match else None


# Per kind, the sources in the order they are tried: (name, reader of an ImageMeta).
TIME_SOURCES: dict[str, tuple[tuple[str, Callable], ...]] = {
    "inversion": (
        ("InversionTime", lambda m: m.inversion_time_ms),
        ("ImageComments TI", comment_inversion_time),
        ("Philips (2005,1572)", lambda m: m.vendor_inversion_ms),
    ),
    "t2prep": (
        ("ImageComments T2prep", comment_t2prep_time),
        ("EchoTime", lambda m: m.echo_time_ms),
    ),
}


def image_time(meta, kind: str) -> tuple[float | None, str]:
    """The first time one image carries (``kind`` ``inversion`` or ``t2prep``), and its source.

    EchoTime is not a T2-preparation time on its own (every image has one),
    so for one image only the comments count for ``t2prep``.
    """
    for name, reader in TIME_SOURCES[kind]:
        value = reader(meta)
        if value is not None and name != "EchoTime":
            return float(value), name
    return None, ""


def series_times(metas: Sequence, kind: str) -> tuple[np.ndarray, str] | None:
    """Times of a series (one per image) from the first source that every image has and that varies."""
    for name, reader in TIME_SOURCES[kind]:
        values = [reader(m) for m in metas]
        if all(v is not None for v in values):
            times = np.asarray(values, dtype=float)
            if np.unique(times).size > 1:
                return times, name
    return None


def philips_inversion_delay(ds, path: Path) -> tuple[float | None, tuple[str, ...]]:
    """The Philips inversion delay in ms, and a note when the tag is there but holds no usable number."""
    element = ds.get(PHILIPS_INVERSION_DELAY)
    if element is None or element.value in (None, b"", ""):
        return None, ()
    creator = ds.get(_PHILIPS_CREATOR)
    if creator is not None and "PHILIPS" not in str(creator.value).upper():
        return None, ()  # the block belongs to another creator: not the inversion delay
    value = element.value
    try:
        if isinstance(value, bytes):  # implicit VR without a private dictionary: the raw FL
            value = struct.unpack("<f", value)[0] if len(value) == 4 else float(value.decode("ascii").strip("\0 "))
        elif isinstance(value, (list, tuple)) or hasattr(value, "__len__") and not isinstance(value, str):
            value = value[0]
        value = float(value)
    except (ValueError, UnicodeDecodeError, TypeError, IndexError, struct.error):
        value = math.nan
    if not math.isfinite(value) or not 0 <= value < 100_000:
        shown = element.value[:16] if isinstance(element.value, (bytes, str)) else element.value
        return None, (f"{path}: private tag (2005,1572) holds {shown!r}, not an inversion delay in ms; ignored",)
    return value, ()


def value_scaling(ds, path: Path, number: Callable, items: Iterable = ()) -> ValueScaling:
    """How stored values become real-world values (see the module docstring); ``items`` are functional groups."""
    containers = [*items, ds]
    mappings = []
    for container in containers:
        for mapping in container.get("RealWorldValueMappingSequence", None) or []:
            slope = number(mapping, "RealWorldValueSlope", path)
            if slope is None:
                continue  # a LUT mapping: not used
            units = mapping.get("MeasurementUnitsCodeSequence")
            unit = str(units[0].get("CodeValue", "")) if units else ""
            mappings.append(ValueScaling(slope, number(mapping, "RealWorldValueIntercept", path) or 0.0, "RealWorldValueMapping", unit))
    if mappings:  # the sequence may hold several mappings (one per unit): the one in a time unit, else the first
        return next((m for m in mappings if m.units.strip().lower() in _MS | _S), mappings[0])
    for container in containers:
        transform = container.get("PixelValueTransformationSequence")
        source = transform[0] if transform else container
        slope = number(source, "RescaleSlope", path)
        if slope is not None or number(source, "RescaleIntercept", path) is not None:
            return ValueScaling(slope if slope is not None else 1.0, number(source, "RescaleIntercept", path) or 0.0, "Rescale")
    return ValueScaling()


def display_levels(bits_stored: int, scaling: ValueScaling) -> bool:
    """Pixels of 8 bits or fewer and no value mapping (none, or slope 1 and intercept 0): a rendering's display levels, not ms.

    >>> display_levels(8, ValueScaling()), display_levels(12, ValueScaling()), display_levels(8, ValueScaling(10.0, 0.0, "Rescale"))
    (True, False, False)
    """
    unitless = scaling.source != "RealWorldValueMapping" or scaling.units.strip().lower() in _NO_UNITS
    identity = unitless and scaling.slope == 1.0 and scaling.intercept == 0.0
    return 0 < bits_stored <= 8 and identity


def map_value_problem(bits_stored: int, scaling: ValueScaling, *, named: bool = True) -> str | None:
    """Why a map's stored values cannot be taken as ms (:func:`display_levels`, :func:`ms_factor`), or None.

    ``named``: the header calls the image a map; one given its type by the
    user (a cine whose contours are compared) is not refused for its bits.
    """
    if named and display_levels(bits_stored, scaling):
        return (
            f"map stored in {bits_stored} bits without a value mapping: the grey levels of a rendering "
            "(a screenshot, a lossy JPEG copy), not ms; export the scanner's map"
        )
    if ms_factor(scaling) is None:
        return f"map with RealWorldValueMapping in units {scaling.units!r}, not a time; its values cannot be taken as ms"
    return None


def ms_factor(scaling: ValueScaling) -> float | None:
    """Factor from real-world values to ms for a map; None when the units are another quantity's (see the module docstring).

    >>> [ms_factor(ValueScaling(1.0, 0.0, "RealWorldValueMapping", u)) for u in ("ms", "s", "1", "", "Hz")]
    [1.0, 1000.0, 1.0, 1.0, None]
    """
    if scaling.source != "RealWorldValueMapping":
        return 1.0
    unit = scaling.units.strip().lower()
    return 1.0 if unit in _MS or unit in _NO_UNITS else 1000.0 if unit in _S else None
