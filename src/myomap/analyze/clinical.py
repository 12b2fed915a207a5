"""Patient-level clinical values of one analyze run: pooled per stack, with context, reference flags and ECV.

A stack is one map type in one contrast state (native T1, post-contrast
T1, T2): stacks never pool together.  Slices flagged for review are left
out of the pooled values unless asked (``include_review``); every pooled
row says how many slices it used (``n_slices``) and how many flagged ones
it left out (``slices_excluded``: those that would have pooled into its
region, e.g. a segment's level only).  Every row carries the field strength,
sequence and heart rate the DICOM header gives, and myocardial rows the
normal range that matches them (:mod:`myomap.quantify.ranges`) and a flag.
ECV rows carry the same context (of the native T1 stack), the slices each
state pooled, where the haematocrit came from, and the ECV normal range
and flag.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from myomap import conventions
from myomap.geometry.aha import slice_normal
from myomap.geometry.levels import SAME_PLANE_MM
from myomap.geometry.plane import image_centre_mm, pixel_to_patient
from myomap.geometry.polygon import polygon_centroid
from myomap.io.context import past_midnight
from myomap.quantify.ecv import ECV_COLUMNS, ecv_rows, synthetic_hematocrit, synthetic_hematocrit_unusable
from myomap.quantify.ranges import ReferenceRange, find_range, flag
from myomap.quantify.values import MIN_REGION_PIXELS, patient_values

STACKS = (("T1", "native"), ("T1", "post"), ("T2", "native"), ("T2", "post"))
CONTEXT_KEYS = ("field_strength_t", "sequence", "heart_rate_bpm")
RANGE_KEYS = ("reference_low", "reference_high", "reference_flag")
ECV_TABLE_COLUMNS = (*ECV_COLUMNS, "hematocrit_source", "n_slices_native", "n_slices_post", *CONTEXT_KEYS, *RANGE_KEYS)
"""Columns of ``ecv.csv``: the ECV values, then the haematocrit's source (``blood test`` or
``synthetic``), the slices whose T1 each contrast state pooled for that region, the native T1
stack's field, sequence and heart rate, and the ECV normal range with its flag."""


def context_columns(item) -> dict:
    """Field strength (T), sequence and heart rate (bpm) of a :class:`~myomap.analyze.discover.MapSlice` ("" when unknown)."""
    c = item.context
    return {"field_strength_t": c.field_strength_t or "", "sequence": c.sequence, "heart_rate_bpm": c.heart_rate_bpm or ""}


def stack_name(row: dict) -> str:
    """``T1``, ``T1-post`` or ``T2``: the stack of a pooled value row (native when the row has no contrast)."""
    return conventions.stack_name(row["map_type"], row.get("contrast", "native"))


def global_medians(rows: list[dict]) -> dict[str, float]:
    """Global median (eroded) per stack (``T1``, ``T1-post``, ``T2``) of a patient's value rows: what the index shows."""
    return {stack_name(r): r["median_ms"] for r in rows if r["region"] == "global" and r["eroded"] and not math.isnan(r["median_ms"])}


def fmt_value(value) -> str:
    """A CSV cell: "" for None and NaN, 6 significant digits for floats."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def slice_row(result) -> dict:
    """One row of ``slices.csv``."""
    s = result.slice
    row = {
        "patient": result.patient, "map_type": s.map_type, "contrast": s.contrast, "contrast_rule": s.contrast_rule,
        "slice": s.slice_position, "level_basis": s.level_basis, "order": s.order + 1,
        "folder": f"{result.patient}/{result.folder}", "origin": s.origin, "source": str(s.path),
        "series": s.series_label.removeprefix("series "),
        "trigger_time_ms": fmt_value(s.trigger_time_ms), "frame": fmt_value(s.frame), "phase": fmt_value(s.phase),
        "status": "error" if result.error else "review" if result.qc and result.qc.review else "ok",
        "confidence": fmt_value(result.qc.confidence if result.qc else math.nan),
        "contour_spread_mm": fmt_value(result.qc.contour_spread_mm if result.qc else math.nan),
        "qc_reasons": "; ".join(result.qc.reasons) if result.qc else "",
        "wall_mm": fmt_value(result.qc.wall_mm if result.qc else math.nan),
        "reference_point": result.reference_method,
        "aha_direction": ("clockwise" if s.clockwise else "counter-clockwise") + f" ({s.axis_basis})",
        **context_columns(s),
    }  # fmt: skip
    for eroded in (True, False):
        stats = next((v.stats for v in result.values if v.region == "global" and v.eroded == eroded), {})
        suffix = "" if eroded else "_uneroded"
        for key in ("median_ms", "mean_ms", "sd_ms", "iqr_ms", "n_pixels", "n_missing"):
            row[f"global_{key}{suffix}"] = fmt_value(stats.get(key, math.nan))
    blood = next((v.stats for v in result.values if v.region == "blood"), {})
    row["blood_median_ms"], row["blood_n_pixels"] = fmt_value(blood.get("median_ms", math.nan)), fmt_value(blood.get("n_pixels", math.nan))
    row["error"] = result.error or ""
    return row


def stack_rows(
    patient: str, results: Sequence, ranges: Sequence[ReferenceRange], *, include_review: bool = False
) -> tuple[list[dict], list[str]]:
    """Pooled rows of every stack of one patient, and notes on what was left out.

    ``results`` are :class:`~myomap.analyze.patient.SliceResult` objects.
    """
    rows, notes = [], []
    for map_type, contrast in STACKS:
        done, trusted, lines = pooled_slices(results, map_type, contrast, include_review=include_review)
        flagged = [] if include_review else [r for r in done if r.qc and r.qc.review]  # left out of the pooled values
        excluded = len(flagged)
        label = f"{contrast} {map_type}"
        notes += [f"{patient}: {label} {line}" for line in lines]
        for r in done:
            if r.analysis is not None and r.analysis.left_out:
                segments = ", ".join(map(str, r.analysis.left_out))
                notes.append(
                    f"{patient}: {label} {r.slice.slice_position} slice, segment(s) {segments}: blood, not wall "
                    "(a ring closed across the outflow tract?), left out of every value"
                )
        if excluded and not trusted:
            notes.append(
                f"{patient}: all {excluded} {label} slices are flagged for review; no pooled {label} values (--include-review pools them)"
            )
        elif excluded:
            notes.append(f"{patient}: {excluded} flagged {label} slice(s) left out of the pooled values")
        if not trusted:
            continue
        context = context_columns(trusted[0].slice)
        reference = find_range(ranges, map_type, contrast, trusted[0].slice.context.field_strength_t, context["sequence"])
        pooled = patient_values([v.as_row() for r in trusted for v in r.values])
        with_flagged = patient_values([v.as_row() for r in trusted + flagged for v in r.values]) if flagged else pooled
        would_pool = {(row["region"], row["eroded"]): row["n_slices"] for row in with_flagged}  # per region: its level's slices
        for row in pooled:
            rows.append(
                {
                    "patient": patient,
                    "map_type": map_type,
                    "contrast": contrast,
                    **row,
                    "slices_excluded": would_pool.get((row["region"], row["eroded"]), row["n_slices"]) - row["n_slices"],
                    **context,
                    **_range_columns(row["median_ms"], None if row["region"] == "blood" else reference),
                }
            )
    return rows, notes


def pooled_slices(results: Sequence, map_type: str, contrast: str, *, include_review: bool = False) -> tuple[list, list, list[str]]:
    """The analysed results of one stack, those its pooled values use, and lines on the time points and repeats left out.

    Pooled: not flagged for review (unless ``include_review``), of one
    post-contrast time point (:func:`one_time_point`), one per plane
    (:func:`latest_per_plane`).  Never a cine's phases (``MapSlice.cine``):
    a cine given ``--map-type`` holds signal, not ms, so it has slice rows
    and contours but gives no patient value and no ECV.
    """
    stack = [r for r in results if r.slice.map_type == map_type and r.slice.contrast == contrast and r.values and not r.error]
    done = [r for r in stack if not getattr(r.slice, "cine", False)]
    trusted = done if include_review else [r for r in done if not (r.qc and r.qc.review)]
    lines: list[str] = []
    if len(done) < len(stack):
        lines.append(
            f"{len(stack) - len(done)} cine phase(s) not pooled: a cine's pixels are signal, not ms (contours and slice rows only)"
        )
    if contrast == "post":
        trusted, time_points = one_time_point(trusted)
        lines += time_points
    trusted, repeats = latest_per_plane(trusted)
    return done, trusted, lines + repeats


REPEAT_PLANE_MM, REPEAT_PLANE_DEG = SAME_PLANE_MM, 5.0
"""Two maps whose planes lie this close (mm along the normal) and this parallel show one slice (a repeated acquisition);
they share one slice level too (:data:`myomap.geometry.levels.SAME_PLANE_MM`)."""


TIME_POINT_GAP_S = 300.0
"""Post-contrast slices acquired more than this apart (s) belong to different time points: the slices of one stack follow
each other breath-hold by breath-hold, while a second time point comes 10 min or more after the first."""


def one_time_point(results: Sequence) -> tuple[list, list[str]]:
    """The post-contrast results of the time point with the most slice planes, and a line when others were left out.

    Post-contrast T1 rises as gadolinium washes out, in the blood faster
    than in the myocardium: a stack of maps acquired at 10 min with a slice
    acquired again at 25 min mixed blood and myocardium of different times
    in one ECV (mid segments 19-20 % against 27 % from either time point
    alone).  Slices whose acquisition times are known are grouped into time
    points (gaps over :data:`TIME_POINT_GAP_S`); the one with the most planes
    (the later on a tie) is pooled.  Without times nothing is left out.
    """
    times = {key: t for key, t in exam_times(results).items() if t is not None}
    timed = sorted((r for r in results if id(r) in times), key=lambda r: times[id(r)])
    groups: list[list] = []
    for result in timed:
        if groups and times[id(result)] - times[id(groups[-1][-1])] <= TIME_POINT_GAP_S:
            groups[-1].append(result)
        else:
            groups.append([result])
    if len(groups) < 2:
        return list(results), []
    planes = [len(latest_per_plane(group)[0]) for group in groups]
    keep = max(range(len(groups)), key=lambda k: (planes[k], k))
    left = [r for k, group in enumerate(groups) if k != keep for r in group]
    minutes = [round((times[id(g[0])] - times[id(groups[0][0])]) / 60.0) for g in groups]
    line = (
        f"slices from {len(groups)} time points ({', '.join(f'+{m} min' for m in minutes)}): only the {planes[keep]} slice(s) at "
        f"+{minutes[keep]} min are pooled and give the ECV; {len(left)} slice(s) of the others left out "
        "(blood and myocardium T1 change after the injection)"
    )
    dropped = {id(r) for r in left}
    return [r for r in results if id(r) not in dropped], [line]


def exam_times(results: Sequence) -> dict[int, float | None]:
    """Acquisition time (s) of each result by ``id``, counted on past midnight when the exam ran across it
    (:func:`myomap.io.context.past_midnight`; None: unknown).

    AcquisitionTime is the time of day: a post-contrast stack acquired at
    23:58, 23:59 and 00:01 read as two time points 24 h apart, and a map
    repeated at 00:02 as acquired before the one at 23:59 it repeats.
    """
    times = past_midnight([r.slice.context.acquisition_time_s for r in results])
    return {id(r): t for r, t in zip(results, times)}


def latest_per_plane(results: Sequence) -> tuple[list, list[str]]:
    """The results of one stack to pool, one per slice plane, and a line for each series left out as a repeat.

    A map acquired again at the same plane in another series (after a
    failed breath-hold, or a second post-contrast time point) shows the
    same myocardium: pooling both would count its segments twice.  The
    last acquired is kept (acquisition time, else series number), since a
    slice is repeated when the first was poor; ``results`` hold only the
    slices that may pool, so a repeat flagged for review leaves its
    earlier map in.  Maps of one series at one plane (none but a cine's phases, which never pool) are all kept.
    """
    times = exam_times(results)
    latest_first = sorted(results, key=lambda r: (times[id(r)] or 0.0, r.slice.series_number or 0), reverse=True)
    kept: list = []
    lines = []
    for result in latest_first:
        same = next((k for k in kept if k.slice.series_uid != result.slice.series_uid and _same_plane(k, result)), None)
        if same is None:
            kept.append(result)
        else:
            lines.append(
                f"{result.slice.slice_position} slice of {result.slice.series_label} repeated in {same.slice.series_label} "
                "(the same plane): only the later is pooled"
            )
    kept_ids = {id(k) for k in kept}
    return [r for r in results if id(r) in kept_ids], lines


def _same_plane(a, b) -> bool:
    """Whether results ``a`` and ``b`` show one plane: parallel within REPEAT_PLANE_DEG, closer than REPEAT_PLANE_MM at the heart.

    The planes' distance is measured along ``a``'s normal through the middle
    of the two LV centres (:func:`_heart_point_mm`), not between their
    ImagePositionPatient: that is the top-left pixel, 150-250 mm from the
    heart, and a plane replanned 3 degrees about the LV moves it 10 mm along
    the normal.
    """
    sa, sb = a.slice, b.slice
    if None in (sa.position_mm, sb.position_mm):
        return False
    try:
        normals = [slice_normal(s.orientation) for s in (sa, sb)]
    except (TypeError, ValueError):  # no orientation, or a degenerate one
        return False
    cosine = float(np.dot(*normals))
    if abs(cosine) < np.cos(np.deg2rad(REPEAT_PLANE_DEG)):
        return False
    corners = [np.asarray(s.position_mm, dtype=float) for s in (sa, sb)]
    hearts = [h for h in (_heart_point_mm(a), _heart_point_mm(b)) if h is not None]
    at = np.mean(hearts, axis=0) if hearts else corners[1]
    # Where the line through ``at`` along a's normal crosses each plane.
    on_a = float(normals[0] @ (corners[0] - at))
    on_b = float(normals[1] @ (corners[1] - at)) / cosine
    return abs(on_b - on_a) < REPEAT_PLANE_MM


def _heart_point_mm(result) -> np.ndarray | None:
    """The LV centre of a result in the patient frame (its epicardial contour's centroid), else its image centre, else None."""
    item = result.slice
    analysis = getattr(result, "analysis", None)
    contours = getattr(analysis, "contours", None)
    pixels = getattr(item, "pixels", None)
    if contours is not None:
        return pixel_to_patient(polygon_centroid(contours.epi), item.orientation, item.position_mm, item.spacing_mm)
    if pixels is not None:
        return image_centre_mm(np.shape(pixels)[-2:], item.orientation, item.position_mm, item.spacing_mm)
    return None


def ecv_input(patient: str, results: Sequence, rows: list[dict], *, include_review: bool = False) -> tuple[list[dict], str]:
    """The pooled T1 rows that ECV pairs, and a note ("" when they are ``rows``' own).

    ECV compares the myocardium and blood of one region before and after
    contrast, so both states must show the same slices.  The segments do:
    each pools its own level.  The global and blood values pool every slice
    of their stack, so when a level has slices in one state only (its map of
    the other state flagged for review, failed or not acquired), global ECV
    paired, say, a native apex with a post-contrast stack without one.  Then
    both states are pooled again over the levels they share.  Without a
    shared level ``rows`` are used (:func:`patient_ecv` says that global ECV
    pairs different slices).
    """
    states = [pooled_slices(results, "T1", contrast, include_review=include_review)[1] for contrast in ("native", "post")]
    levels = [{r.slice.slice_position for r in state} for state in states]
    shared = [level for level in conventions.SLICE_POSITIONS if level in levels[0] & levels[1]]
    if not shared or levels[0] == levels[1]:
        return rows, ""
    out = []
    for contrast, state in zip(("native", "post"), states):
        kept = [r for r in state if r.slice.slice_position in shared]
        context = context_columns(kept[0].slice)
        for row in patient_values([v.as_row() for r in kept for v in r.values]):
            out.append({"patient": patient, "map_type": "T1", "contrast": contrast, **row, **context})
    alone = ", ".join(
        f"{level} ({'native' if level in levels[0] else 'post-contrast'} only)"
        for level in conventions.SLICE_POSITIONS
        if level in levels[0] ^ levels[1]
    )
    return out, f"{patient}: global ECV pools only the level(s) both T1 states have ({', '.join(shared)}); left out of it: {alone}"


def _range_columns(value: float, reference: ReferenceRange | None) -> dict:
    """:data:`RANGE_KEYS` of a value: the range and the value's flag against it (all "" without a range)."""
    if reference is None:
        return dict.fromkeys(RANGE_KEYS, "")
    return {"reference_low": reference.low, "reference_high": reference.high, "reference_flag": flag(value, reference)}


def patient_ecv(
    patient: str,
    rows: list[dict],
    hematocrit: float | None,
    *,
    synthetic: bool = False,
    post_found: bool = False,
    ranges: Sequence[ReferenceRange] = (),
) -> tuple[list[dict], str]:
    """ECV rows (:data:`ECV_TABLE_COLUMNS` and ``few_pixels``) of one patient from its pooled T1 rows, and a note ("" when nothing to say).

    ``hematocrit`` None uses a synthetic haematocrit from native blood T1
    when ``synthetic`` is set (the note says so), else skips ECV.  The
    synthetic relations are for MOLLI at 1.5 or 3 T
    (:func:`~myomap.quantify.ecv.synthetic_hematocrit_unusable`): with the
    field unknown or a native T1 stack of another sequence, ECV is skipped
    with the reason (no ECV rather than a wrong one); a stack whose header
    names no sequence is taken as MOLLI and the note says so.
    ``post_found`` says that post-contrast T1 slices exist even if none was
    pooled (all flagged), so that the note can say why ECV is missing.
    ``ranges`` give the ECV normal range that flags each row.
    """
    native = [r for r in rows if r["map_type"] == "T1" and r["contrast"] == "native"]
    post = [r for r in rows if r["map_type"] == "T1" and r["contrast"] == "post"]
    if not post and not post_found:  # a haematocrit given for a patient without post-contrast maps: say so (a map classed native?)
        return [], "" if hematocrit is None else f"{patient}: haematocrit given but no post-contrast T1 map found; ECV skipped"
    if not native:
        return [], f"{patient}: post-contrast T1 maps without (trusted) native ones; ECV skipped"
    if not post:
        return [], f"{patient}: no trusted post-contrast T1 values (all flagged for review); ECV skipped"
    note, source = "", "blood test"
    context = {key: native[0].get(key, "") for key in CONTEXT_KEYS}
    field_t = float(context["field_strength_t"]) if context["field_strength_t"] else None
    if hematocrit is None:
        if not synthetic:
            return [], f"{patient}: native and post-contrast T1 found but no haematocrit; ECV skipped (give --hematocrit)"
        unusable = synthetic_hematocrit_unusable(field_t, context["sequence"])
        if unusable:
            return [], f"{patient}: no synthetic haematocrit: {unusable}; ECV skipped (give --hematocrit)"
        blood = next((r["median_ms"] for r in native if r["region"] == "blood"), math.nan)
        hematocrit = synthetic_hematocrit(blood, field_t, context["sequence"])
        if not math.isfinite(hematocrit):
            return [], f"{patient}: no native blood-pool T1 for a synthetic haematocrit; ECV skipped"
        assumed = "" if context["sequence"] else "; the header names no T1 sequence, taken as MOLLI"
        note = f"{patient}: ECV uses a SYNTHETIC haematocrit {hematocrit:.2f} from native blood T1 at {field_t:g} T (not a blood test{assumed})"
        source = "synthetic"
    out = ecv_rows(patient, native, post, hematocrit)
    if not out:
        return [], f"{patient}: no blood-pool value in the native or post-contrast T1 maps; ECV skipped"
    reference = find_range(ranges, "ECV", "post", field_t, "any")
    slices = [{(r["region"], r["segment"]): r.get("n_slices", "") for r in state if r["eroded"]} for state in (native, post)]
    for row in out:  # the slices that pooled this region's T1 in each state
        key = ("global", None) if row["region"] == "global" else (f"segment_{row['segment']}", row["segment"])
        row.update(
            {"hematocrit_source": source, "n_slices_native": slices[0].get(key, ""), "n_slices_post": slices[1].get(key, ""), **context}
        )
        row.update(_range_columns(row["ecv_percent"], reference))
    lines = []
    whole = out[0] if out[0]["region"] == "global" else None
    if whole is not None and whole["n_slices_native"] != whole["n_slices_post"]:
        lines.append(
            f"{patient}: global ECV pairs native T1 of {whole['n_slices_native']} slice(s) with post-contrast T1 of "
            f"{whole['n_slices_post']}; the segments' ECV pairs each level's own"
        )
    few = [f"segment {r['segment']}" if r["segment"] else r["region"] for r in out if r["few_pixels"]]
    if few:
        lines.append(f"{patient}: no ECV for {', '.join(few)} (fewer than {MIN_REGION_PIXELS} myocardial pixels after erosion)")
    return out, "; ".join(filter(None, [note, *lines]))
