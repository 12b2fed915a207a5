"""Tables in the shape of the paper's Tables 2-5 (and 8), with their statistics, as Markdown and HTML.

Per image, a comparison's metric is the mean over its two contours (the
paper's Tables 2-4 report one value per metric); Dice and IoU in %.  Cells
are ``mean (SD)`` with the median below in the Markdown; superscript
letters come from Welch's ANOVA with Games-Howell post hoc tests across the
columns compared (metrics) or Kruskal-Wallis with Dwass-Steel-Critchlow-
Fligner tests (T1/T2 values): columns sharing a letter do not differ
significantly (p >= 0.05).  Where a test is undefined (a group without
variance, all values equal) the cells carry no letters.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd

from myomap.conventions import SLICE_POSITIONS
from myomap.stats import compare_metric, compare_values, icc

METRIC_NAMES = {"iou": "IoU ↑ (%)", "dice": "Dice ↑ (%)", "hd_mm": "Hausdorff distance ↓ (mm)", "msd_mm": "Mean surface distance ↓ (mm)"}
KIND_NAMES = {"model-vs-expert": "Automated vs expert", "expert-vs-expert": "Agreement of experts (inter-observer)"}


def per_image(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per image and comparison: metrics averaged over the two contours, Dice and IoU in %.

    Dice and IoU come from the masks, so an image where the model found no
    contour still counts (with its low overlap); Hausdorff and MSD need
    both contours and are NaN otherwise (left out of the means, counted in
    :func:`missing_table`).  Comparisons that could not be made at all (an
    observer without contours) are NaN throughout.  Rows come model first,
    then observer pairs, slices basal to apical, so that tables read like
    the paper's.
    """
    keys = ["subject", "map_type", "slice", "image", "kind", "comparison"]
    grouped = metrics.groupby(keys, as_index=False, sort=False)
    out = grouped[["dice", "iou"]].mean()
    distances = grouped[["hd_mm", "msd_mm"]].agg(lambda v: v.mean(skipna=False))
    out[["hd_mm", "msd_mm"]] = distances[["hd_mm", "msd_mm"]].to_numpy()
    out[["dice", "iou"]] *= 100.0
    rank = {"model-vs-expert": 0, "expert-vs-expert": 1}
    order = out.assign(_kind=out["kind"].map(rank), _slice=out["slice"].map({s: k for k, s in enumerate(SLICE_POSITIONS)}))
    return (
        order.sort_values(["_kind", "map_type", "_slice", "comparison"], kind="stable")
        .drop(columns=["_kind", "_slice"])
        .reset_index(drop=True)
    )


def _letters(frame: pd.DataFrame, metric: str, group: str) -> dict[str, str]:
    groups = frame.dropna(subset=[metric]).groupby(group, sort=False)[metric].count()
    if (groups >= 2).sum() < 2:
        return {}
    try:
        return compare_metric(frame, metric, group, order=list(groups.index))["letters"]  # "a" for the first column
    except ValueError:  # e.g. a group without variance: no test, so no letters
        return {}


def metric_table(images: pd.DataFrame, columns: str = "kind", strata: str | None = None) -> pd.DataFrame:
    """Rows: metrics, each as ``mean (SD)^letters`` and, below, its median; columns: values of ``columns``.

    With ``strata`` the columns repeat per stratum value.  Letters compare
    the columns within one stratum, as in the paper (e.g. model vs experts
    within T1, within T2).
    """
    table: dict[str, dict[str, str]] = {}
    for stratum, frame in [(None, images)] if strata is None else images.groupby(strata, sort=False):
        frame = frame[frame[columns].notna()]
        for metric, name in METRIC_NAMES.items():
            letters = _letters(frame, metric, columns)
            for column, part in frame.groupby(columns, sort=False):
                label = _label(column, stratum)
                cell = format_mean_sd(part[metric].to_numpy())
                if letters.get(column):
                    cell += f" ^{letters[column]}"
                table.setdefault(label, {})[name] = cell
                values = part[metric].dropna()
                table[label][f"{name}, median"] = f"{values.median():.1f}" if len(values) else "n/a"
        for column, part in frame.groupby(columns, sort=False):
            table[_label(column, stratum)]["images"] = str(part.dropna(subset=["dice"])["image"].nunique())
    return pd.DataFrame(table)


def _label(column: str, stratum) -> str:
    return KIND_NAMES.get(column, column) + ("" if stratum is None else f" · {stratum}")


def comparison_table(images: pd.DataFrame) -> pd.DataFrame:
    """Every single comparison (model vs each observer, each observer pair) side by side, with letters."""
    return metric_table(images, columns="comparison")


def values_table(values: pd.DataFrame, column: str = "median_ms") -> pd.DataFrame:
    """Table 5: median (IQR) of the per-image myocardial medians per rater and map type, letters from DSCF."""
    table: dict[str, dict[str, str]] = {}
    for map_type, frame in values.groupby("map_type", sort=True):
        present = frame.dropna(subset=[column])
        letters = {}
        if present.groupby("rater")[column].count().ge(2).sum() >= 2:
            # Letters in column order (model first), as in the paper's Table 5.
            try:
                letters = compare_values(present, column, "rater", order=list(dict.fromkeys(present["rater"])))["letters"]
            except ValueError:  # all values identical: no test, so no letters
                letters = {}
        for rater, part in frame.groupby("rater", sort=False):
            cell = format_median_iqr(part[column].to_numpy())
            if letters.get(rater):
                cell += f" ^{letters[rater]}"
            table.setdefault(rater, {})[f"{map_type} (ms)"] = cell
    return pd.DataFrame(table).T


def icc_table(values: pd.DataFrame, raters: list[str], column: str = "median_ms") -> pd.DataFrame:
    """ICC with 95 % CI of the per-image medians across ``raters``, per map type.

    Two forms: ICC2 (two-way random, absolute agreement, one rater) and
    ICC2k (the same for the average of the raters, the form the paper
    quotes: 0.90 for T1, 0.81 for T2).
    """
    rows = []
    for map_type, frame in values[values["rater"].isin(raters)].groupby("map_type", sort=True):
        frame = frame.assign(target=frame["image"]).dropna(subset=[column])
        for kind in ("ICC2", "ICC2k"):
            row = {"map type": map_type, "form": kind, "raters": ", ".join(raters)}
            try:
                result = icc(frame, "target", "rater", column, kind=kind)
            except ValueError as exc:
                rows.append({**row, "ICC": "n/a", "95 % CI": str(exc)})
                continue
            rows.append(
                {
                    **row,
                    "ICC": f"{result['icc']:.2f}",
                    "95 % CI": f"{result['ci95_lower']:.2f} to {result['ci95_upper']:.2f}",
                    "images": str(result["n_targets"]),
                }
            )
    return pd.DataFrame(rows).set_index(["map type", "form"]) if rows else pd.DataFrame()


def ablation_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Table 8: mean Hausdorff distance and MSD per post-processing configuration (and missing contours)."""
    out = {}
    for name, frame in rows.groupby("configuration", sort=False):
        out[name] = {
            "Hausdorff distance ↓ (mm)": format_mean_sd(frame["hd_mm"].to_numpy()),
            "Mean surface distance ↓ (mm)": format_mean_sd(frame["msd_mm"].to_numpy()),
            "missing contours": str(int(frame["missing"].sum())),
        }
    return pd.DataFrame(out).T


def missing_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """How many comparisons could not be made, per comparison and reason (counted, never dropped)."""
    gone = metrics[metrics["missing"].astype(bool)]
    if gone.empty:
        return pd.DataFrame({"comparison": [], "contour": [], "reason": [], "count": []})
    return gone.groupby(["comparison", "contour", "reason"], as_index=False).size().rename(columns={"size": "count"})


def to_markdown(sections: list[tuple[str, pd.DataFrame, str]], title: str) -> str:
    """Sections of (heading, table, note) as one Markdown document."""
    parts = [f"# {title}\n"]
    for heading, table, note in sections:
        parts.append(f"## {heading}\n")
        parts.append(table.to_markdown() if not table.empty else "_nothing to show_")
        parts.append(f"\n{note}\n" if note else "")
    return "\n".join(parts) + "\n"


def to_html(sections: list[tuple[str, pd.DataFrame, str]], title: str) -> str:
    """The same as a self-contained HTML page."""
    body = []
    for heading, table, note in sections:
        rendered = table.to_html(border=0, classes="t", na_rep="–") if not table.empty else "<p><em>nothing to show</em></p>"
        rendered = _superscripts(rendered)
        body.append(f"<h2>{html.escape(heading)}</h2>{rendered}" + (f"<p class='note'>{html.escape(note)}</p>" if note else ""))
    style = (
        "body{font-family:system-ui,sans-serif;margin:24px;color:#222}table.t{border-collapse:collapse;margin:8px 0}"
        "table.t td,table.t th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}table.t th{background:#f4f4f4}"
        ".note{color:#555;font-size:90%;max-width:900px}"
    )
    return f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head><body><h1>{html.escape(title)}</h1>{''.join(body)}</body></html>\n"


def _superscripts(text: str) -> str:
    """``86.4 (5.1) ^ab`` -> ``86.4 (5.1)<sup>ab</sup>`` inside rendered HTML cells."""
    return re.sub(r" \^([A-Za-z]+)<", r"<sup>\1</sup><", text)


__all__ = [
    "ablation_table",
    "comparison_table",
    "icc_table",
    "metric_table",
    "missing_table",
    "per_image",
    "to_html",
    "to_markdown",
    "values_table",
]


# --- cells: numbers formatted for the tables ------------------------------------


def format_mean_sd(values: Iterable[float], *, decimals: int = 1, missing: str = "n/a") -> str:
    """``"mean (SD)"`` of the non-NaN values, for tables.

    Parameters
    ----------
    values : array_like
        Numbers in any unit; NaN values are ignored.
    decimals : int
        Decimals of both numbers.
    missing : str
        Text for an undefined number: the whole result when no value is
        left, the SD when a single value is left (sample SD, ddof = 1).

    Examples
    --------
    >>> format_mean_sd([80.0, 85.0, 90.0, float("nan")])
    '85.0 (5.0)'
    >>> format_mean_sd([86.4]), format_mean_sd([])
    ('86.4 (n/a)', 'n/a')
    """
    x = _without_nan(values)
    if x.size == 0:
        return missing
    sd = _fmt(float(np.std(x, ddof=1)), decimals, missing) if x.size > 1 else missing
    return f"{_fmt(float(np.mean(x)), decimals, missing)} ({sd})"


def format_median_iqr(
    values: Iterable[float],
    *,
    decimals: int = 1,
    style: str = "range",
    missing: str = "n/a",
) -> str:
    """``"median (q1–q3)"`` of the non-NaN values, for tables.

    Parameters
    ----------
    values : array_like
        Numbers in any unit; NaN values are ignored.
    decimals : int
        Decimals of every number.
    style : {"range", "width"}
        ``"range"`` prints the quartiles, ``"56.2 (52.0–60.1)"``; ``"width"``
        prints the interquartile range q3 − q1, ``"56.2 (8.1)"``, as the
        paper's Table 5 does.  Quartiles use linear interpolation.
    missing : str
        The result when no value is left.

    Examples
    --------
    >>> format_median_iqr([50.0, 52.0, 56.2, 60.1, 61.0, float("nan")])
    '56.2 (52.0–60.1)'
    >>> format_median_iqr([50.0, 52.0, 56.2, 60.1, 61.0], style="width")
    '56.2 (8.1)'
    """
    if style not in ("range", "width"):
        raise ValueError(f"style must be 'range' or 'width', not {style!r}")
    x = _without_nan(values)
    if x.size == 0:
        return missing
    q1, median, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    spread = f"{_fmt(q1, decimals, missing)}–{_fmt(q3, decimals, missing)}" if style == "range" else _fmt(q3 - q1, decimals, missing)
    return f"{_fmt(median, decimals, missing)} ({spread})"


def _without_nan(values: Iterable[float]) -> np.ndarray:
    """``values`` as a flat float array without NaNs (infinities stay, shown as inf)."""
    x = np.asarray(list(values) if isinstance(values, Iterator) else values, dtype=float).ravel()
    return x[~np.isnan(x)]


def _fmt(x: float, decimals: int, missing: str) -> str:
    return missing if math.isnan(x) else f"{x:.{decimals}f}"
