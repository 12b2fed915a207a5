"""Group comparisons: Welch's ANOVA and Kruskal–Wallis, each with post hoc tests and letters.

The paper (Kalapos et al. 2023, section 3.8) compares segmentation metrics
with Welch's ANOVA and a post hoc test, and T1/T2 values with
Kruskal–Wallis and Dwass–Steel–Critchlow–Fligner, and marks groups that do
not differ with shared superscript letters (:mod:`myomap.stats.letters`).
The tests are computed by pingouin, scikit-posthocs and scipy; this module
only prepares the data, checks the edges and returns plain dicts and tidy
DataFrames.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pingouin
import scikit_posthocs
from scipy import stats as scipy_stats

from myomap.stats.checks import prepare_groups, result_column
from myomap.stats.letters import compact_letters

_POSTHOC = {
    "games-howell": pingouin.pairwise_gameshowell,
    "tukey": pingouin.pairwise_tukey,
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
    data, summary, tested, excluded = prepare_groups(df, value, group, order)
    by_group = data.groupby(group, sort=False)[value]
    summary["mean"] = by_group.mean()
    summary["sd"] = by_group.std(ddof=1)
    summary["median"] = by_group.median()
    data = data[data[group].isin(tested)]
    flat = [g for g in tested if summary.at[g, "sd"] == 0]
    if flat:
        raise ValueError(f"{value!r}: groups {flat} have zero variance; Welch's ANOVA is undefined")

    aov = pingouin.welch_anova(data=data, dv=value, between=group)
    anova = {
        "F": float(aov.at[0, "F"]),
        "ddof1": int(aov.at[0, "ddof1"]),
        "ddof2": float(aov.at[0, "ddof2"]),
        "p": float(aov.at[0, result_column(aov, "p_unc", "p-unc")]),
        "np2": float(aov.at[0, "np2"]),
    }
    raw = _POSTHOC[posthoc](data=data, dv=value, between=group)
    pairs = raw.assign(p=raw[result_column(raw, "pval", "p_tukey", "p-tukey")])[_PAIR_COLUMNS]
    pairs = pairs.astype({c: float for c in _PAIR_COLUMNS[2:]}).reset_index(drop=True)

    rank = tested if order is not None else _by_descending(tested, summary["mean"])
    return {"anova": anova, **_with_letters(summary, tested, excluded, rank, pairs, alpha)}


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
    data, summary, tested, excluded = prepare_groups(df, value, group, order)
    by_group = data.groupby(group, sort=False)[value]
    summary["median"] = by_group.median()
    summary["q1"] = by_group.quantile(0.25)
    summary["q3"] = by_group.quantile(0.75)
    summary["iqr"] = summary["q3"] - summary["q1"]
    data = data[data[group].isin(tested)]
    samples = {g: data.loc[data[group] == g, value].to_numpy() for g in tested}
    if np.ptp(data[value].to_numpy()) == 0:
        raise ValueError(f"{value!r}: all values are identical, so the ranks carry no information")
    for i, a in enumerate(tested):
        for b in tested[i + 1 :]:
            if np.ptp(np.concatenate([samples[a], samples[b]])) == 0:
                raise ValueError(f"{value!r}: groups {a!r} and {b!r} hold one value between them, so their DSCF statistic is undefined")

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
    return {"kruskal": kruskal, **_with_letters(summary, tested, excluded, rank, pairs, alpha)}


def _with_letters(summary: pd.DataFrame, tested: list, excluded: list, rank: list, pairs: pd.DataFrame, alpha: float) -> dict[str, Any]:
    """The result's pairs, letters, summary and excluded groups.

    Letters are handed out in ``rank`` order and written into ``summary``
    ("" for excluded groups); ``"letters"`` holds them per tested group.
    """
    letters = compact_letters(rank, pairs, alpha=alpha)
    summary["letters"] = [letters.get(g, "") for g in summary.index]
    return {
        "pairs": pairs,
        "letters": {g: letters[g] for g in tested},
        "summary": summary,
        "excluded": excluded,
    }


def _by_descending(groups: list, stat: pd.Series) -> list:
    """``groups`` sorted by ``stat``, highest first; ties keep their order."""
    return sorted(groups, key=lambda g: -stat[g])
