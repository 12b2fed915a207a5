"""Compact letter display: groups that share a letter do not differ significantly.

The letters are computed by scikit-posthocs; this module builds the p-value
matrix it needs from the pairs of a post hoc test.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd
import scikit_posthocs


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
    matrix = pd.DataFrame(_p_matrix(groups, p_pairs), index=range(len(groups)), columns=range(len(groups)))
    # scikit-posthocs (0.17) implements the letters, so nothing is hand-written here.
    letters = scikit_posthocs.compact_letter_display(matrix, alpha=alpha)
    return {g: str(s).replace(" ", "") for g, s in zip(groups, letters.to_numpy(), strict=True)}


def _p_matrix(groups: list, p_pairs: Mapping[frozenset, float] | pd.DataFrame) -> np.ndarray:
    """Square p-value matrix in the order of ``groups``, 1 on the diagonal."""
    known: dict[frozenset, float] = {}

    def add(a: Hashable, b: Hashable, p: float) -> None:
        key = frozenset((a, b))
        if len(key) != 2 or not key <= wanted:
            return
        p = float(p)
        if math.isnan(p) or not 0 <= p <= 1:
            raise ValueError(f"p-value of pair {sorted(key, key=str)} is {p}, not in [0, 1]")
        if key in known and not math.isclose(known[key], p):
            raise ValueError(f"pair {sorted(key, key=str)} has two p-values: {known[key]} and {p}")
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
