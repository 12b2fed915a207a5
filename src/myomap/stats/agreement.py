"""Observer agreement: the intraclass correlation of values across raters, with its 95 % CI.

The ICC is computed by pingouin; this module checks the data, keeps the
complete cases and returns the numbers unrounded.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pingouin

from myomap.stats.checks import require_columns, require_numeric, result_column

logger = logging.getLogger(__name__)

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
    complete, dropped = _complete_cases(df, targets, raters, ratings)
    long = df[df[targets].isin(complete.index)]

    with _pingouin_full_precision(), warnings.catch_warnings():
        # pingouin 0.7 calls DataFrame.dropna(inplace=True), deprecated in pandas 3.1.
        warnings.filterwarnings(
            "ignore",
            message=r"The inplace keyword in DataFrame\.dropna is deprecated",
            category=DeprecationWarning,
            module=r"pingouin\.",
        )
        table = pingouin.intraclass_corr(data=long, targets=targets, raters=raters, ratings=ratings)
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
        "p": float(row[result_column(table, "pval", "p_unc", "p-unc")]),
        "n_targets": len(complete),
        "n_raters": complete.shape[1],
        "n_dropped": len(dropped),
        "dropped_targets": dropped,
    }


def _complete_cases(df: pd.DataFrame, targets: str, raters: str, ratings: str) -> tuple[pd.DataFrame, list]:
    """Checked ratings, wide (target x rater) for the targets every rater rated; the targets dropped."""
    require_columns(df, [targets, raters, ratings])
    require_numeric(df, ratings)
    for column in (targets, raters):
        if df[column].isna().any():
            raise ValueError(f"{column!r} has {int(df[column].isna().sum())} missing labels")
    duplicated = df.duplicated([targets, raters])
    if duplicated.any():
        first = df.loc[duplicated, [targets, raters]].iloc[0].tolist()
        raise ValueError(f"{int(duplicated.sum())} repeated (target, rater) pairs, e.g. {first}; average or drop them first")

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
        raise ValueError(f"ICC of {ratings!r}: all ratings are identical, so the ICC is undefined")
    return complete, dropped


def _icc_kind(kind: str) -> str:
    if kind in _ICC_LABELS:
        return kind
    for name, label in _ICC_LABELS.items():
        if kind == label:
            return name
    raise ValueError(f"kind must be one of {list(_ICC_LABELS)} (or {list(_ICC_LABELS.values())}), not {kind!r}")


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
