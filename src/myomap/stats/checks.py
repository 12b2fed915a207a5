"""Input checks shared by the group tests and the ICC.

Conventions of :mod:`myomap.stats`: NaN values are dropped and counted per
group (``n_missing``); a missing group label or an infinite value is an
error, because neither can be attributed or ranked meaningfully.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

#: Fewest non-missing values a group needs to take part in a comparison.
MIN_VALUES_PER_GROUP = 2


def prepare_groups(
    df: pd.DataFrame, value: str, group: str, order: Sequence[Hashable] | None
) -> tuple[pd.DataFrame, pd.DataFrame, list, list]:
    """Checked rows without NaNs, the summary's counts, tested and excluded groups."""
    require_columns(df, [value, group])
    require_numeric(df, value)
    labels = df[group]
    if labels.isna().any():
        raise ValueError(f"{group!r} has {int(labels.isna().sum())} missing group labels")
    values = df[value].astype(float)
    if np.isinf(values).any():
        raise ValueError(
            f"{value!r} has {int(np.isinf(values).sum())} infinite values; decide what they mean (e.g. a missing contour) before testing"
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
            raise ValueError(f"order {order} must list each group of {group!r} once: {groups}")
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
            f"{value!r}: at least 2 groups need {MIN_VALUES_PER_GROUP} or more values; counts per group: {summary['n'].to_dict()}"
        )
    if excluded:
        logger.info(
            "%r: groups %s have fewer than %d values and are not tested",
            value,
            excluded,
            MIN_VALUES_PER_GROUP,
        )
    return data, summary, tested, excluded


def require_columns(df: pd.DataFrame, columns: Sequence[str]) -> None:
    absent = [c for c in columns if c not in df.columns]
    if absent:
        raise ValueError(f"columns {absent} not in the data; it has {list(df.columns)}")


def require_numeric(df: pd.DataFrame, column: str) -> None:
    dtype = df[column].dtype
    if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        raise ValueError(f"column {column!r} must be numeric, not {dtype}")


def result_column(frame: pd.DataFrame, *names: str) -> str:
    """The first of ``names`` in ``frame`` (pingouin 0.7 renamed its p columns)."""
    for name in names:
        if name in frame.columns:
            return name
    raise KeyError(f"none of {names} in pingouin's result columns {list(frame.columns)}")
