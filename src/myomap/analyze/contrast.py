"""The contrast state of a map, native or post, from its scan context (:mod:`myomap.io.context`) and values.

Native and post-contrast T1 maps of one study must never pool: myocardial
T1 is about 1000 ms before gadolinium and 450 ms after.  Each series is
classified by the first rule that decides (recorded as ``contrast_rule``):

``ContrastBolusAgent``
    The series names an agent (:func:`myomap.io.context.contrast_agent`:
    the DICOM tag (0018,0010) or the enhanced MR contrast modules) that is
    not a "none" word (``none``, ``no``, ``n/a``, ``-``, ``nativ``, ...): post.
    Unless T1 series the agent calls post differ in level as native and
    post maps do (one at a native level, another below
    :data:`POST_LEVEL_RATIO` of it and acquired later where the times are
    known): some sites fill the contrast field at
    registration, so every series of the exam names the agent; the agent
    then decides nothing and the rules below decide every series.
``series-description`` / ``protocol-name``
    SeriesDescription, else ProtocolName, names the state.  Negated or
    "before" phrases are native first (``pre``/``non``/``un``/``w/o``/
    ``without``/``no``/``ohne``/``vor``/``sans``/``sin`` followed by
    ``contrast``, ``enh...``, ``gd``, ``gad...``, ``KM``, ``ce``, ``mdc``:
    ``precontrast``, ``pre-Gd``, ``non-enhanced``, ``unenhanced``, ``vor KM``).
    Then post words: ``post`` (alone or joined to an agent word:
    ``postcontrast``, ``post-Gd``; not ``posterior`` or ``post-op``), ``pc``, ``ce``,
    ``+c``, ``c+``, ``enh...``, ``gd``, ``gad...``, ``contrast``, ``KM``
    (Kontrastmittel), ``mdc`` (mezzo di contrasto), ``inj...``, agent names
    (Gadovist, Dotarem, ...) and minutes after injection (``15min``,
    ``10 min``).  Last, native words: ``pre``, ``native``, ``nativ``,
    ``nativo``, ``natif``.  Words are separated by anything but letters, so
    ``T2prep`` holds no ``pre`` and ``Gd`` in ``MOLLI_Gd`` counts.
``ContrastBolusStartTime``
    Some series of the study give the time the bolus was started: a series
    acquired after the earliest one is post, before it native.
``acquisition-time+value-range`` / ``value-range``
    T1 only: a series whose level (the median of its central pixels in a
    plausible T1 range) is below :data:`POST_LEVEL_RATIO` of the study's
    highest T1 series is post, confirmed by a later acquisition time when
    the times are known; a level below :data:`POST_LEVEL_MS` for its field
    strength is post when it is the study's only one, or when the study's
    highest level is below it too (a study of post-contrast maps only).
``default``
    Otherwise native (T2 maps are nearly always acquired before contrast).

A cine given ``--map-type`` (``MapSlice.cine``) holds signal, not ms: its
level says nothing of gadolinium and neither rule on values applies to it,
nor does it count as the study's highest T1 level.  The header rules decide;
else it is native by rule ``cine``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from myomap.io.context import ScanContext, past_midnight

POST_LEVEL_RATIO = 0.7
"""A T1 series below this fraction of the study's highest T1 level is post-contrast."""
POST_LEVEL_MS = {1.5: 700.0, 3.0: 850.0}
"""Central image level (ms) below which a lone T1 series is post-contrast, per field (native myocardium
and blood sit above 950 ms at 1.5 T and 1150 ms at 3 T; 15 min after 0.15 mmol/kg gadolinium both fall below 600 ms)."""
_AGENT_WORD = r"(?:contrast\w*|kontrast\w*|enh\w*|gd|gad\w*|km|ce|mdc)"
_NATIVE_PHRASE = re.compile(rf"(?<![a-z])(?:pre|non|un|w/o|without|no|ohne|vor|sans|sin|senza)[ -]?{_AGENT_WORD}(?![a-z])", re.IGNORECASE)
_POST_WORDS = re.compile(
    rf"(?<![a-z])(post(?:[ -]?(?:{_AGENT_WORD}|inj\w*))?|pc|ce|\+c|c\+|enh\w*|gd|gad\w*|contrast\w*|kontrast\w*|km|mdc|inj\w*"
    r"|dotarem|gadovist|gadavist|magnevist|multihance|prohance|clariscan|omniscan|elucirem|vueway|\d{1,2} ?min)(?![a-z])",
    re.IGNORECASE,
)
_POST_OPERATIVE = re.compile(r"(?<![a-z])post[ -]?op(?:erative|s)?(?![a-z])", re.IGNORECASE)  # "post-op": after surgery, not contrast
_NATIVE_WORDS = re.compile(r"(?<![a-z])(pre|native|nativ|nativo|natif)(?![a-z])", re.IGNORECASE)
_NO_AGENT = re.compile(r"(n/?a|nil|-*|0|nein|kein\w*|nativ\w*|(?:none|no|non|without|ohne)\b.*)", re.IGNORECASE)


def t1_level_ms(pixels: np.ndarray) -> float:
    """Median of the central half of a T1 map (where the heart is) over plausible T1 values, NaN if none."""
    rows, cols = pixels.shape
    centre = np.asarray(pixels, float)[rows // 4 : rows - rows // 4, cols // 4 : cols - cols // 4]
    values = centre[np.isfinite(centre) & (centre >= 50.0) & (centre <= 3500.0)]
    return float(np.median(values)) if values.size else float("nan")


@dataclass(frozen=True)
class ContrastCall:
    """One series' contrast state (``native`` or ``post``) and the rule that decided it."""

    state: str
    rule: str


def classify_series(context: ScanContext) -> ContrastCall | None:
    """The header rules alone: the contrast agent, then the description and the protocol name; None when none decides."""
    if not _NO_AGENT.fullmatch(context.contrast_agent.strip()):
        return ContrastCall("post", "ContrastBolusAgent")
    for text, rule in ((context.description, "series-description"), (context.protocol_name, "protocol-name")):
        state = description_state(text)
        if state:
            return ContrastCall(state, rule)
    return None


def description_state(text: str) -> str:
    """``post``, ``native`` or ``""``: what a series description or protocol name says of the contrast state.

    Examples
    --------
    >>> [description_state(t) for t in ("MOLLI_post_15min", "T1map_preGd", "ShMOLLI non-enhanced", "T2prep_SSFP", "T1 MAP +C")]
    ['post', 'native', 'native', '', 'post']
    >>> description_state("MOLLI post-op"), description_state("MOLLI postop pre-Gd")
    ('', 'native')
    """
    words = _NATIVE_PHRASE.sub(" native ", _POST_OPERATIVE.sub(" ", text.replace("_", " ")))
    if _POST_WORDS.search(words):
        return "post"
    return "native" if _NATIVE_WORDS.search(words) else ""


def classify_study(series: Sequence[tuple[str, ScanContext, float]]) -> list[ContrastCall]:
    """Contrast state of each series of one study, given ``(map_type, context, t1_level_ms)`` per series.

    Examples
    --------
    >>> native, post = ScanContext(acquisition_time_s=100.0), ScanContext(acquisition_time_s=1300.0)
    >>> [c.state + ":" + c.rule for c in classify_study([("T1", native, 1150.0), ("T1", post, 480.0)])]
    ['native:default', 'post:acquisition-time+value-range']
    >>> classify_study([("T1", ScanContext(description="MOLLI post 15min"), 450.0)])[0]
    ContrastCall(state='post', rule='series-description')
    """
    series = _times_past_midnight(series)
    calls = [classify_series(context) for _, context, _ in series]
    if _agent_contradicted(series, calls):  # the agent is the exam's, not the series': the other rules decide
        calls = [classify_series(replace(context, contrast_agent="")) for _, context, _ in series]
    bolus_s = min((c.contrast_start_s for _, c, _ in series if c.contrast_start_s is not None), default=None)
    calls = [call or _by_bolus_time(context, bolus_s) for (_, context, _), call in zip(series, calls)]
    levels = [level for map_type, _, level in series if map_type == "T1" and np.isfinite(level)]
    highest = max(levels, default=float("nan"))
    native_times = [
        c.acquisition_time_s for m, c, lv in series if m == "T1" and lv >= POST_LEVEL_RATIO * highest and c.acquisition_time_s is not None
    ]
    out = []
    for (map_type, context, level), call in zip(series, calls):
        if call is None:
            level = level if map_type == "T1" else float("nan")
            call = _by_level(context, level, highest, min(native_times, default=None), lone=len(levels) == 1)
        out.append(call)
    return out


def _times_past_midnight(series: Sequence[tuple[str, ScanContext, float]]) -> list[tuple[str, ScanContext, float]]:
    """The series with their acquisition and bolus times counted on past midnight when the exam ran across it.

    Times of day: a bolus at 23:55 and a post-contrast map at 00:10 made
    the map native (acquired "before" the bolus), and a map at 00:10 the
    earliest of the study (:func:`myomap.io.context.past_midnight`).
    """
    contexts = [context for _, context, _ in series]
    times = past_midnight([c.acquisition_time_s for c in contexts] + [c.contrast_start_s for c in contexts])
    n = len(contexts)
    return [
        (map_type, replace(context, acquisition_time_s=times[k], contrast_start_s=times[n + k]), level)
        for k, (map_type, context, level) in enumerate(series)
    ]


def _agent_contradicted(series: Sequence[tuple[str, ScanContext, float]], calls: list[ContrastCall | None]) -> bool:
    """Whether T1 series the agent calls post differ in level as native and post maps do: the agent is on every series.

    Some sites fill the contrast field at registration, so the native maps
    of the exam name the agent too.  Two such series whose T1 levels are a
    native one (at least :data:`POST_LEVEL_MS` for the field; the 3 T one
    when the field is not given) and one below :data:`POST_LEVEL_RATIO` of
    it, acquired later where both times are known, cannot both be
    post-contrast.  Two post-contrast maps far apart in time stay post: the
    later has the higher level.
    """
    named = [
        (level, context)
        for (map_type, context, level), call in zip(series, calls)
        if map_type == "T1" and call is not None and call.rule == "ContrastBolusAgent" and np.isfinite(level)
    ]
    if len(named) < 2:
        return False
    level, context = max(named, key=lambda item: item[0])
    field = context.field_strength_t
    if level < POST_LEVEL_MS[1.5 if field is not None and field <= 2.0 else 3.0]:
        return False
    first = context.acquisition_time_s
    return any(
        low < POST_LEVEL_RATIO * level and (first is None or other.acquisition_time_s is None or first < other.acquisition_time_s)
        for low, other in named
    )


def _by_bolus_time(context: ScanContext, bolus_s: float | None) -> ContrastCall | None:
    """Post when the series was acquired after the study's earliest ContrastBolusStartTime, native before; None without times."""
    if bolus_s is None or context.acquisition_time_s is None:
        return None
    return ContrastCall("post" if context.acquisition_time_s >= bolus_s else "native", "ContrastBolusStartTime")


def _by_level(context: ScanContext, level: float, highest: float, first_native_s: float | None, *, lone: bool) -> ContrastCall:
    if not np.isfinite(level):
        return ContrastCall("native", "default")
    post_level_ms = POST_LEVEL_MS[3.0 if (context.field_strength_t or 1.5) > 2.0 else 1.5]
    if lone:
        return ContrastCall("post", "value-range") if level < post_level_ms else ContrastCall("native", "default")
    if level >= POST_LEVEL_RATIO * highest:
        if highest < post_level_ms:  # every T1 series of the study is post-contrast (say 10 and 20 min after)
            return ContrastCall("post", "value-range")
        return ContrastCall("native", "default")
    later = context.acquisition_time_s is not None and first_native_s is not None and context.acquisition_time_s > first_native_s
    return ContrastCall("post", "acquisition-time+value-range" if later else "value-range")


def _level(item) -> float:
    """The T1 level of a slice: from its pixels, or as discovery measured it before dropping them; NaN for a cine."""
    if getattr(item, "cine", False):
        return float("nan")
    held = getattr(item, "level_ms", None)
    return t1_level_ms(item.pixels) if item.pixels is not None or held is None else held


def with_contrast(slices: list) -> list:
    """The maps of one study with ``contrast`` and ``contrast_rule`` set, one decision per series.

    ``slices`` are :class:`~myomap.analyze.discover.MapSlice` objects (any
    frozen dataclass with ``map_type``, ``series_uid``, ``context`` and
    ``pixels``, or ``level_ms`` where the pixels are not held); a series'
    T1 level is the median of its slices' levels (none for a cine).
    """
    series: dict[str, list] = {}
    for item in slices:
        series.setdefault(item.series_uid or str(item.path), []).append(item)
    keys = list(series)
    levels = {k: [lv for s in series[k] if np.isfinite(lv := _level(s))] if series[k][0].map_type == "T1" else [] for k in keys}
    facts = [(series[k][0].map_type, series[k][0].context, float(np.median(levels[k])) if levels[k] else float("nan")) for k in keys]
    calls = dict(zip(keys, classify_study(facts)))
    for k in keys:
        if getattr(series[k][0], "cine", False) and calls[k].rule == "default":
            calls[k] = ContrastCall("native", "cine")
    return [
        replace(s, contrast=calls[s.series_uid or str(s.path)].state, contrast_rule=calls[s.series_uid or str(s.path)].rule) for s in slices
    ]
