"""Group comparisons and observer agreement: the statistics of the evaluation study.

The paper (Kalapos et al. 2023, section 3.8) compares segmentation metrics
with Welch's ANOVA and a post hoc test, T1/T2 values with Kruskal–Wallis and
Dwass–Steel–Critchlow–Fligner, marks groups that do not differ with shared
superscript letters, and gives the ICC of T1/T2 values across observers with
its 95 % confidence interval.  Every test here is computed by pingouin,
scikit-posthocs or scipy; this module only prepares the data, checks the
edges and turns the results into plain dicts and tidy DataFrames.

Conventions
-----------
* Values keep their units (Dice in %, distances in mm, T1/T2 in ms); nothing
  here rescales them.
* NaN values are dropped and counted per group (``n_missing``); a missing
  group label or an infinite value is an error, because neither can be
  attributed or ranked meaningfully.
* A pair of groups differs when its post hoc p-value is below ``alpha``
  (0.05 by default, as in the paper).
* Standard deviations are sample SDs (ddof = 1); quartiles use linear
  interpolation (numpy's default, type 7 of Hyndman & Fan, as R and jamovi).
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pingouin
import scikit_posthocs
from scipy import stats as scipy_stats

logger = logging.getLogger(__name__)

#: Fewest non-missing values a group needs to take part in a comparison.
MIN_VALUES_PER_GROUP = 2

_POSTHOC = {
    "games-howell": pingouin.pairwise_gameshowell,
    "tukey": pingouin.pairwise_tukey,
}

# Shrout & Fleiss names -> the labels of pingouin >= 0.7 (McGraw & Wong style).
# Older pingouin labels its rows with the Shrout & Fleiss names themselves.
_ICC_LABELS = {
    "ICC1": "ICC(1,1)",
    "ICC2": "ICC(A,1)",
    "ICC3": "ICC(C,1)",
    "ICC1k": "ICC(1,k)",
    "ICC2k": "ICC(A,k)",
    "ICC3k": "ICC(C,k)",
}

_PAIR_COLUMNS = ["A", "B", "mean_A", "mean_B", "diff", "se", "T", "p", "hedges"]


def compare_metric(
    df: pd.DataFrame,
    value: str,
    group: str,
    *,
    posthoc: str = "games-howell",
    alpha: float = 0.05,
    order: Sequence[Hashable] | None = None,
) -> dict[str, Any]:
    """Welch's ANOVA of a metric across groups, a post hoc test and letters.

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy data, one row per observation (e.g. one image).
    value : str
        Column of the metric, numeric, in its own unit (Dice in %, HD in mm).
        NaN values are dropped and counted; infinite values raise.
    group : str
        Column of the group labels (e.g. ``"model vs expert"``,
        ``"expert vs expert"``).
    posthoc : {"games-howell", "tukey"}
        Pairwise test after the ANOVA: Games–Howell
        (``pingouin.pairwise_gameshowell``, no equal-variance assumption,
        the natural partner of Welch's ANOVA) or Tukey HSD
        (``pingouin.pairwise_tukey``, what the paper names).
    alpha : float
        Significance level of the pairwise tests for the letters.
    order : sequence, optional
        The groups in the order of the table.  It sets the row order of
        ``summary`` and the order in which letters are handed out ("a" to
        the first group), as the paper's tables do.  By default rows follow
        the order of first appearance (category order for a categorical
        column) and "a" goes to the group with the highest mean, whether or
        not higher is better for the metric.

    Returns
    -------
    dict
        ``"anova"``: dict with ``F``, ``ddof1``, ``ddof2`` (Welch's
        fractional denominator degrees of freedom), ``p`` and ``np2``
        (partial eta squared).
        ``"pairs"``: DataFrame, one row per pair of tested groups, columns
        ``A``, ``B``, ``mean_A``, ``mean_B``, ``diff`` (mean_A − mean_B, in
        the metric's unit), ``se``, ``T``, ``p`` (already adjusted for the
        family of comparisons by the post hoc test) and ``hedges``.
        ``"letters"``: dict group -> compact letters (groups sharing a letter
        do not differ at ``alpha``), for the tested groups.
        ``"summary"``: DataFrame indexed by group with ``n`` (values used),
        ``n_missing`` (NaN values dropped), ``mean``, ``sd``, ``median`` and
        ``letters`` (``""`` for an excluded group).
        ``"excluded"``: list of groups left out of the tests because they
        have fewer than two values.

    Raises
    ------
    ValueError
        When a column is missing or not numeric, a group label is missing, a
        value is infinite, fewer than two groups have at least two values, a
        tested group has zero variance (Welch's weights are undefined), or
        ``posthoc`` or ``order`` is invalid.

    Examples
    --------
    >>> data = pd.DataFrame({
    ...     "who": ["model"] * 4 + ["expert"] * 4,
    ...     "dice": [84.0, 86.0, 85.0, 87.0, 90.0, 91.0, 92.0, 90.5],
    ... })
    >>> result = compare_metric(data, "dice", "who")
    >>> result["letters"]
    {'model': 'b', 'expert': 'a'}
    >>> result["summary"]["n"].tolist()
    [4, 4]
    """
    if posthoc not in _POSTHOC:
        raise ValueError(f"posthoc must be one of {sorted(_POSTHOC)}, not {posthoc!r}")
    data, summary, tested, excluded = _prepare(df, value, group, order)
    by_group = data.groupby(group, sort=False)[value]
    summary["mean"] = by_group.mean()
    summary["sd"] = by_group.std(ddof=1)
    summary["median"] = by_group.median()
    data = data[data[group].isin(tested)]
    flat = [g for g in tested if summary.at[g, "sd"] == 0]
    if flat:
        raise ValueError(
            f"{value!r}: groups {flat} have zero variance; Welch's ANOVA is undefined"
        )

    aov = pingouin.welch_anova(data=data, dv=value, between=group)
    anova = {
        "F": float(aov.at[0, "F"]),
        "ddof1": int(aov.at[0, "ddof1"]),
        "ddof2": float(aov.at[0, "ddof2"]),
        "p": float(aov.at[0, _column(aov, "p_unc", "p-unc")]),
        "np2": float(aov.at[0, "np2"]),
    }
    raw = _POSTHOC[posthoc](data=data, dv=value, between=group)
    pairs = raw.assign(p=raw[_column(raw, "pval", "p_tukey", "p-tukey")])[_PAIR_COLUMNS]
    pairs = pairs.astype({c: float for c in _PAIR_COLUMNS[2:]}).reset_index(drop=True)

    rank = tested if order is not None else _by_descending(tested, summary["mean"])
    return {
        "anova": anova,
        "pairs": pairs,
        "letters": _add_letters(summary, tested, rank, pairs, alpha),
        "summary": summary,
        "excluded": excluded,
    }


def compare_values(
    df: pd.DataFrame,
    value: str,
    group: str,
    *,
    alpha: float = 0.05,
    order: Sequence[Hashable] | None = None,
) -> dict[str, Any]:
    """Kruskal–Wallis test of values across groups, DSCF post hoc and letters.

    The paper's comparison of myocardial T1/T2 values between the model and
    each observer (its Table 5): rank-based, so skewed values and outliers
    do not dominate.

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy data, one row per observation (e.g. one slice and reader).
    value : str
        Column of the values, numeric (e.g. ``t2_ms``).  NaN values are
        dropped and counted; infinite values raise.
    group : str
        Column of the group labels (e.g. ``"model"``, ``"observer 1"``).
    alpha : float
        Significance level of the pairwise tests for the letters.
    order : sequence, optional
        Row order of ``summary`` and order in which letters are handed out
        ("a" to the first group).  By default rows follow the order of first
        appearance (category order for a categorical column) and "a" goes to
        the group with the highest median.

    Returns
    -------
    dict
        ``"kruskal"``: dict with ``H`` (tie-corrected), ``ddof1`` and ``p``
        (``scipy.stats.kruskal``).
        ``"pairs"``: DataFrame, one row per pair of tested groups, columns
        ``A``, ``B``, ``median_A``, ``median_B`` and ``p``, the
        Dwass–Steel–Critchlow–Fligner p-value
        (``scikit_posthocs.posthoc_dscf``, adjusted for all pairs by the
        studentized range distribution).
        ``"letters"``: dict group -> compact letters for the tested groups.
        ``"summary"``: DataFrame indexed by group with ``n``, ``n_missing``,
        ``median``, ``q1``, ``q3``, ``iqr`` (q3 − q1, what the paper's
        Table 5 prints in brackets) and ``letters``.
        ``"excluded"``: list of groups with fewer than two values, left out.

    Raises
    ------
    ValueError
        When a column is missing or not numeric, a group label is missing, a
        value is infinite, fewer than two groups have at least two values,
        all values are identical, or two groups together hold a single
        distinct value (their DSCF statistic is 0/0).

    Examples
    --------
    >>> data = pd.DataFrame({
    ...     "reader": ["model"] * 5 + ["observer 1"] * 5,
    ...     "t2_ms": [55.0, 56.0, 57.5, 56.5, 58.0, 50.0, 49.0, 51.5, 50.5, 49.5],
    ... })
    >>> compare_values(data, "t2_ms", "reader")["summary"]["median"].tolist()
    [56.5, 50.0]
    """
    data, summary, tested, excluded = _prepare(df, value, group, order)
    by_group = data.groupby(group, sort=False)[value]
    summary["median"] = by_group.median()
    summary["q1"] = by_group.quantile(0.25)
    summary["q3"] = by_group.quantile(0.75)
    summary["iqr"] = summary["q3"] - summary["q1"]
    data = data[data[group].isin(tested)]
    samples = {g: data.loc[data[group] == g, value].to_numpy() for g in tested}
    if np.ptp(data[value].to_numpy()) == 0:
        raise ValueError(
            f"{value!r}: all values are identical, so the ranks carry no information"
        )
    for i, a in enumerate(tested):
        for b in tested[i + 1 :]:
            if np.ptp(np.concatenate([samples[a], samples[b]])) == 0:
                raise ValueError(
                    f"{value!r}: groups {a!r} and {b!r} hold one value between them, "
                    "so their DSCF statistic is undefined"
                )

    h, p = scipy_stats.kruskal(*samples.values())
    kruskal = {"H": float(h), "ddof1": len(tested) - 1, "p": float(p)}
    matrix = scikit_posthocs.posthoc_dscf(data, val_col=value, group_col=group)
    pairs = pd.DataFrame(
        [
            {
                "A": a,
                "B": b,
                "median_A": float(summary.at[a, "median"]),
                "median_B": float(summary.at[b, "median"]),
                "p": float(matrix.at[a, b]),
            }
            for i, a in enumerate(tested)
            for b in tested[i + 1 :]
        ]
    )

    rank = tested if order is not None else _by_descending(tested, summary["median"])
    return {
        "kruskal": kruskal,
        "pairs": pairs,
        "letters": _add_letters(summary, tested, rank, pairs, alpha),
        "summary": summary,
        "excluded": excluded,
    }


def icc(
    df: pd.DataFrame,
    targets: str,
    raters: str,
    ratings: str,
    *,
    kind: str = "ICC2",
) -> dict[str, Any]:
    """Intraclass correlation of ratings across raters, with its 95 % CI.

    The default, ICC2, is the two-way random-effects model, absolute
    agreement, single rater: Shrout & Fleiss ICC(2,1), McGraw & Wong
    ICC(A,1).  It is the usual choice for comparing observers (Koo & Li
    2016) because the observers stand for the population of readers who
    could measure a patient (random, not fixed, raters); because a
    systematic offset between readers, such as one who draws tighter
    contours and so reads T2 lower, is disagreement that a clinician would
    see in ms (absolute agreement, not consistency); and because in practice
    one reader measures each patient (single rater, not the mean of k).
    The paper reports the ICC "for the average ratings across observers"
    (0.90 for T1, 0.81 for T2); ``kind="ICC2k"`` gives that average-rater
    form.

    Parameters
    ----------
    df : pandas.DataFrame
        Long data, one row per target and rater.
    targets : str
        Column identifying what was rated (e.g. subject and slice).
    raters : str
        Column identifying who rated it (e.g. observer, or the model).
    ratings : str
        Column of the numeric ratings (e.g. ``t1_ms``).
    kind : str
        One of ``ICC1``, ``ICC2``, ``ICC3``, ``ICC1k``, ``ICC2k``, ``ICC3k``
        (Shrout & Fleiss), or the pingouin label of the same form
        (``"ICC(A,1)"`` for ICC2).

    Returns
    -------
    dict
        ``kind`` (Shrout & Fleiss name), ``type`` (pingouin's label),
        ``icc``, ``ci95_lower``, ``ci95_upper`` (not rounded, unlike
        pingouin's default display), ``F``, ``df1``, ``df2``, ``p`` (of the
        F test against ICC = 0), ``n_targets`` and ``n_raters`` (used),
        ``n_dropped`` and ``dropped_targets``: targets left out because some
        rater's rating is missing (NaN or no row), so that every rater
        rates the same targets (complete cases).

    Raises
    ------
    ValueError
        When a column is missing, ratings are not numeric, a target or rater
        label is missing, a target has two ratings by the same rater, fewer
        than two raters or two complete targets remain, all complete ratings
        are identical (the ICC is 0/0), or ``kind`` is unknown.

    Examples
    --------
    >>> data = pd.DataFrame({
    ...     "slice": [1, 2, 3, 4] * 2,
    ...     "reader": ["A"] * 4 + ["B"] * 4,
    ...     "t1_ms": [1000.0, 1050.0, 980.0, 1100.0, 1010.0, 1045.0, 990.0, 1090.0],
    ... })
    >>> result = icc(data, "slice", "reader", "t1_ms")
    >>> round(result["icc"], 3), result["n_targets"], result["n_raters"]
    (0.983, 4, 2)
    """
    name = _icc_kind(kind)
    _require_columns(df, [targets, raters, ratings])
    _require_numeric(df, ratings)
    for column in (targets, raters):
        if df[column].isna().any():
            raise ValueError(
                f"{column!r} has {int(df[column].isna().sum())} missing labels"
            )
    duplicated = df.duplicated([targets, raters])
    if duplicated.any():
        first = df.loc[duplicated, [targets, raters]].iloc[0].tolist()
        raise ValueError(
            f"{int(duplicated.sum())} repeated (target, rater) pairs, e.g. {first}; "
            "average or drop them first"
        )

    wide = df.pivot(index=targets, columns=raters, values=ratings)
    complete = wide.dropna(how="any")
    dropped = [t for t in wide.index if t not in complete.index]
    if dropped:
        logger.info(
            "ICC of %r: %d targets without a rating by every rater dropped",
            ratings,
            len(dropped),
        )
    if complete.shape[1] < 2 or len(complete) < 2:
        raise ValueError(
            f"ICC of {ratings!r} needs at least 2 raters and 2 targets rated by all; "
            f"have {complete.shape[1]} raters and {len(complete)} complete targets"
        )
    if np.ptp(complete.to_numpy(dtype=float)) == 0:
        raise ValueError(
            f"ICC of {ratings!r}: all ratings are identical, so the ICC is undefined"
        )
    long = df[df[targets].isin(complete.index)]

    with _pingouin_full_precision(), warnings.catch_warnings():
        # pingouin 0.7 calls DataFrame.dropna(inplace=True), deprecated in pandas 3.1.
        warnings.filterwarnings(
            "ignore",
            message=r"The inplace keyword in DataFrame\.dropna is deprecated",
            category=DeprecationWarning,
            module=r"pingouin\.",
        )
        table = pingouin.intraclass_corr(
            data=long, targets=targets, raters=raters, ratings=ratings
        )
    row = table[table["Type"].isin([name, _ICC_LABELS[name]])].iloc[0]
    lower, upper = (float(x) for x in row["CI95"])
    return {
        "kind": name,
        "type": str(row["Type"]),
        "icc": float(row["ICC"]),
        "ci95_lower": lower,
        "ci95_upper": upper,
        "F": float(row["F"]),
        "df1": int(row["df1"]),
        "df2": int(row["df2"]),
        "p": float(row[_column(table, "pval", "p_unc", "p-unc")]),
        "n_targets": len(complete),
        "n_raters": complete.shape[1],
        "n_dropped": len(dropped),
        "dropped_targets": dropped,
    }


def compact_letters(
    groups: Sequence[Hashable],
    p_pairs: Mapping[frozenset, float] | pd.DataFrame,
    alpha: float = 0.05,
) -> dict[Hashable, str]:
    """Compact letter display: groups that share a letter do not differ.

    Each letter marks a maximal set of groups whose pairs all have
    p >= ``alpha`` (Piepho 2004).  The letters are computed by
    ``scikit_posthocs.compact_letter_display``; this function only builds
    its p-value matrix in the given order and strips its padding.  It
    does not run Piepho's final sweep, so with six or more groups a
    redundant letter can remain (still correct, not minimal).

    Parameters
    ----------
    groups : sequence
        The groups, in the order letters are handed out: the first group
        gets "a", and each further letter starts at the earliest group not
        yet covered by the letters before it.  ``compare_metric`` passes
        them by descending mean, ``compare_values`` by descending median.
    p_pairs : mapping or pandas.DataFrame
        The p-value of every pair of ``groups``: a mapping from a
        two-element key (``frozenset({a, b})`` or a tuple) to p; a long
        DataFrame with columns ``A``, ``B``, ``p`` (the ``pairs`` of
        :func:`compare_metric`); or a square DataFrame indexed and
        columned by group (a ``scikit_posthocs.posthoc_*`` result), where
        a NaN on one side of the diagonal is filled from the other.  Pairs
        of groups not in ``groups`` are ignored.
    alpha : float
        Pairs with p < alpha differ.

    Returns
    -------
    dict
        Group -> letters (e.g. ``"ab"``), in the order of ``groups``.  An
        empty ``groups`` gives ``{}``; a single group gets ``"a"``.

    Raises
    ------
    ValueError
        When ``groups`` repeats a name, a pair's p-value is missing, NaN,
        outside [0, 1] or given twice with different values, ``alpha`` is
        not in (0, 1), or more than 52 letters (a–z, A–Z) would be needed.

    Examples
    --------
    >>> p = {frozenset("AB"): 0.3, frozenset("BC"): 0.2, frozenset("AC"): 0.01}
    >>> compact_letters(["A", "B", "C"], p)
    {'A': 'a', 'B': 'ab', 'C': 'b'}
    """
    groups = list(groups)
    if len(set(groups)) != len(groups):
        raise ValueError(f"groups repeat a name: {groups}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), not {alpha}")
    if not groups:
        return {}
    matrix = pd.DataFrame(
        _p_matrix(groups, p_pairs), index=range(len(groups)), columns=range(len(groups))
    )
    # scikit-posthocs (0.17) implements the letters, so nothing is hand-written here.
    letters = scikit_posthocs.compact_letter_display(matrix, alpha=alpha)
    return {
        g: str(s).replace(" ", "")
        for g, s in zip(groups, letters.to_numpy(), strict=True)
    }


def format_mean_sd(
    values: Iterable[float], *, decimals: int = 1, missing: str = "n/a"
) -> str:
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
    spread = (
        f"{_fmt(q1, decimals, missing)}–{_fmt(q3, decimals, missing)}"
        if style == "range"
        else _fmt(q3 - q1, decimals, missing)
    )
    return f"{_fmt(median, decimals, missing)} ({spread})"


# --- helpers ---------------------------------------------------------------


def _prepare(
    df: pd.DataFrame, value: str, group: str, order: Sequence[Hashable] | None
) -> tuple[pd.DataFrame, pd.DataFrame, list, list]:
    """Checked rows without NaNs, the summary's counts, tested and excluded groups."""
    _require_columns(df, [value, group])
    _require_numeric(df, value)
    labels = df[group]
    if labels.isna().any():
        raise ValueError(
            f"{group!r} has {int(labels.isna().sum())} missing group labels"
        )
    values = df[value].astype(float)
    if np.isinf(values).any():
        raise ValueError(
            f"{value!r} has {int(np.isinf(values).sum())} infinite values; "
            "decide what they mean (e.g. a missing contour) before testing"
        )
    if isinstance(labels.dtype, pd.CategoricalDtype):
        present = set(labels)
        groups = [c for c in labels.cat.categories.tolist() if c in present]
        labels = labels.astype(object)
    else:
        groups = labels.drop_duplicates().tolist()
    if order is not None:
        order = list(order)
        if set(order) != set(groups) or len(set(order)) != len(order):
            raise ValueError(
                f"order {order} must list each group of {group!r} once: {groups}"
            )
        groups = order

    data = pd.DataFrame({group: labels.to_numpy(), value: values.to_numpy()})
    missing = data[value].isna().groupby(data[group], sort=False).sum()
    data = data.dropna(subset=[value])
    counts = data.groupby(group, sort=False)[value].count()
    summary = pd.DataFrame(index=pd.Index(groups, name=group))
    summary["n"] = counts.reindex(groups, fill_value=0).astype(int)
    summary["n_missing"] = missing.reindex(groups, fill_value=0).astype(int)
    tested = [g for g in groups if summary.at[g, "n"] >= MIN_VALUES_PER_GROUP]
    excluded = [g for g in groups if g not in tested]
    if len(tested) < 2:
        raise ValueError(
            f"{value!r}: at least 2 groups need {MIN_VALUES_PER_GROUP} or more "
            f"values; counts per group: {summary['n'].to_dict()}"
        )
    if excluded:
        logger.info(
            "%r: groups %s have fewer than %d values and are not tested",
            value,
            excluded,
            MIN_VALUES_PER_GROUP,
        )
    return data, summary, tested, excluded


def _require_columns(df: pd.DataFrame, columns: Sequence[str]) -> None:
    absent = [c for c in columns if c not in df.columns]
    if absent:
        raise ValueError(f"columns {absent} not in the data; it has {list(df.columns)}")


def _require_numeric(df: pd.DataFrame, column: str) -> None:
    dtype = df[column].dtype
    if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        raise ValueError(f"column {column!r} must be numeric, not {dtype}")


def _column(frame: pd.DataFrame, *names: str) -> str:
    """The first of ``names`` in ``frame`` (pingouin 0.7 renamed its p columns)."""
    for name in names:
        if name in frame.columns:
            return name
    raise KeyError(
        f"none of {names} in pingouin's result columns {list(frame.columns)}"
    )


def _add_letters(summary: pd.DataFrame, tested: list, rank: list, pairs: pd.DataFrame, alpha: float) -> dict:
    """Letters handed out in ``rank`` order, written into ``summary`` ("" for excluded groups); returned per tested group."""
    letters = compact_letters(rank, pairs, alpha=alpha)
    summary["letters"] = [letters.get(g, "") for g in summary.index]
    return {g: letters[g] for g in tested}


def _by_descending(groups: list, stat: pd.Series) -> list:
    """``groups`` sorted by ``stat``, highest first; ties keep their order."""
    return sorted(groups, key=lambda g: -stat[g])


def _p_matrix(
    groups: list, p_pairs: Mapping[frozenset, float] | pd.DataFrame
) -> np.ndarray:
    """Square p-value matrix in the order of ``groups``, 1 on the diagonal."""
    known: dict[frozenset, float] = {}

    def add(a: Hashable, b: Hashable, p: float) -> None:
        key = frozenset((a, b))
        if len(key) != 2 or not key <= wanted:
            return
        p = float(p)
        if math.isnan(p) or not 0 <= p <= 1:
            raise ValueError(
                f"p-value of pair {sorted(key, key=str)} is {p}, not in [0, 1]"
            )
        if key in known and not math.isclose(known[key], p):
            raise ValueError(
                f"pair {sorted(key, key=str)} has two p-values: {known[key]} and {p}"
            )
        known[key] = p

    wanted = frozenset(groups)
    if isinstance(p_pairs, pd.DataFrame) and {"A", "B", "p"} <= set(p_pairs.columns):
        for a, b, p in p_pairs[["A", "B", "p"]].itertuples(index=False):
            add(a, b, p)
    elif isinstance(p_pairs, pd.DataFrame):
        for a in p_pairs.index:
            for b in p_pairs.columns:
                if a != b and not pd.isna(p_pairs.at[a, b]):
                    add(a, b, p_pairs.at[a, b])
    else:
        for key, p in p_pairs.items():
            pair = tuple(key)
            if len(pair) != 2:
                raise ValueError(f"a pair key must hold two groups, not {key!r}")
            add(*pair, p)

    matrix = np.ones((len(groups), len(groups)))
    for i, a in enumerate(groups):
        for j in range(i + 1, len(groups)):
            key = frozenset((a, groups[j]))
            if key not in known:
                raise ValueError(f"no p-value for the pair {a!r}, {groups[j]!r}")
            matrix[i, j] = matrix[j, i] = known[key]
    return matrix


def _icc_kind(kind: str) -> str:
    if kind in _ICC_LABELS:
        return kind
    for name, label in _ICC_LABELS.items():
        if kind == label:
            return name
    raise ValueError(
        f"kind must be one of {list(_ICC_LABELS)} "
        f"(or {list(_ICC_LABELS.values())}), not {kind!r}"
    )


@contextlib.contextmanager
def _pingouin_full_precision() -> Iterator[None]:
    """Switch off pingouin's display rounding (by default CI95 has 2 decimals)."""
    saved = dict(pingouin.options)
    for key in [k for k in pingouin.options if k.startswith("round.")]:
        del pingouin.options[key]
    pingouin.options["round"] = None
    try:
        yield
    finally:
        pingouin.options.clear()
        pingouin.options.update(saved)


def _without_nan(values: Iterable[float]) -> np.ndarray:
    """``values`` as a flat float array without NaNs (infinities stay, shown as inf)."""
    x = np.asarray(
        list(values) if isinstance(values, Iterator) else values, dtype=float
    ).ravel()
    return x[~np.isnan(x)]


def _fmt(x: float, decimals: int, missing: str) -> str:
    return missing if math.isnan(x) else f"{x:.{decimals}f}"
