import itertools
import warnings

import numpy as np
import pandas as pd
import pingouin
import pytest
import scikit_posthocs
from scipy import stats as scipy_stats

from myomap.stats import (
    compact_letters,
    compare_metric,
    compare_values,
    icc,
)


@pytest.fixture
def metrics() -> pd.DataFrame:
    """Three groups with different means and spreads, two NaNs in group "B"."""
    rng = np.random.default_rng(3)
    values = np.r_[rng.normal(86, 3, 12), rng.normal(88, 6, 15), rng.normal(91, 2, 10)]
    frame = pd.DataFrame({"who": ["A"] * 12 + ["B"] * 15 + ["C"] * 10, "dice": values})
    frame.loc[[13, 20], "dice"] = np.nan
    return frame


@pytest.fixture
def t2() -> pd.DataFrame:
    """T2 values (ms) of a model and three observers, rounded so that ties occur."""
    rng = np.random.default_rng(5)
    medians = {"model": 56.0, "obs1": 49.5, "obs2": 51.5, "obs3": 51.7}
    rows = [(who, round(rng.normal(m, 3), 0)) for who, m in medians.items() for _ in range(14)]
    frame = pd.DataFrame(rows, columns=["reader", "t2_ms"])
    frame.loc[[0, 30], "t2_ms"] = np.nan
    return frame


@pytest.fixture
def wine() -> pd.DataFrame:
    """pingouin's ICC example: 8 wines scored by 4 judges."""
    return pingouin.read_dataset("icc")


# --- compare_metric ---------------------------------------------------------


@pytest.mark.parametrize("posthoc", ["games-howell", "tukey"])
def test_compare_metric_equals_pingouin(metrics, posthoc):
    result = compare_metric(metrics, "dice", "who", posthoc=posthoc)
    clean = metrics.dropna()

    expected = pingouin.welch_anova(data=clean, dv="dice", between="who")
    assert result["anova"]["F"] == pytest.approx(expected.at[0, "F"], rel=1e-12)
    assert result["anova"]["ddof1"] == expected.at[0, "ddof1"]
    assert result["anova"]["ddof2"] == pytest.approx(expected.at[0, "ddof2"], rel=1e-12)
    assert result["anova"]["p"] == pytest.approx(expected.at[0, "p_unc"], rel=1e-12)

    if posthoc == "tukey":
        direct = pingouin.pairwise_tukey(data=clean, dv="dice", between="who")
        p_direct = direct["p_tukey"]
    else:
        direct = pingouin.pairwise_gameshowell(data=clean, dv="dice", between="who")
        p_direct = direct["pval"]
    pairs = result["pairs"]
    assert list(pairs.columns) == [
        "A",
        "B",
        "mean_A",
        "mean_B",
        "diff",
        "se",
        "T",
        "p",
        "hedges",
    ]
    assert pairs[["A", "B"]].to_numpy().tolist() == direct[["A", "B"]].to_numpy().tolist()
    np.testing.assert_allclose(pairs["diff"], direct["diff"], rtol=1e-12)
    np.testing.assert_allclose(pairs["p"], p_direct, rtol=1e-12)


def test_compare_metric_summary_counts_nan(metrics):
    summary = compare_metric(metrics, "dice", "who")["summary"]
    assert summary.index.tolist() == ["A", "B", "C"]
    assert summary["n"].tolist() == [12, 13, 10]
    assert summary["n_missing"].tolist() == [0, 2, 0]
    grouped = metrics.groupby("who")["dice"]
    np.testing.assert_allclose(summary["mean"], grouped.mean())
    np.testing.assert_allclose(summary["sd"], grouped.std(ddof=1))
    np.testing.assert_allclose(summary["median"], grouped.median())


def test_compare_metric_letters_follow_pairs(metrics):
    result = compare_metric(metrics, "dice", "who")
    letters = result["letters"]
    assert letters == result["summary"]["letters"].to_dict()
    for a, b, p in result["pairs"][["A", "B", "p"]].itertuples(index=False):
        assert bool(set(letters[a]) & set(letters[b])) == (p >= 0.05)
    highest = result["summary"]["mean"].idxmax()
    assert letters[highest].startswith("a")


def test_compare_metric_order_sets_rows_and_letters(metrics):
    result = compare_metric(metrics, "dice", "who", order=["B", "C", "A"])
    assert result["summary"].index.tolist() == ["B", "C", "A"]
    assert result["letters"]["B"].startswith("a")


def test_compare_metric_excludes_groups_with_one_value(metrics):
    frame = pd.concat([metrics, pd.DataFrame({"who": ["D", "D"], "dice": [80.0, np.nan]})])
    result = compare_metric(frame, "dice", "who")
    assert result["excluded"] == ["D"]
    assert result["summary"].loc["D", ["n", "n_missing"]].tolist() == [1, 1]
    assert result["summary"].at["D", "letters"] == ""
    assert "D" not in result["letters"]
    assert "D" not in set(result["pairs"]["A"]) | set(result["pairs"]["B"])
    same = compare_metric(metrics, "dice", "who")
    assert result["anova"] == same["anova"]


def test_compare_metric_keeps_integer_and_categorical_labels(metrics):
    numbered = metrics.assign(who=metrics["who"].map({"A": 1, "B": 2, "C": 3}))
    assert set(compare_metric(numbered, "dice", "who")["letters"]) == {1, 2, 3}
    categorical = metrics.assign(who=pd.Categorical(metrics["who"], categories=["C", "Z", "A", "B"]))
    assert compare_metric(categorical, "dice", "who")["summary"].index.tolist() == [
        "C",
        "A",
        "B",
    ]


def test_compare_metric_emits_no_warnings(metrics):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compare_metric(metrics, "dice", "who", posthoc="tukey")
        compare_metric(metrics, "dice", "who")


@pytest.mark.parametrize(
    "frame, message",
    [
        (
            pd.DataFrame({"who": list("AABC"), "dice": [1.0, 2.0, 3.0, 4.0]}),
            "at least 2 groups",
        ),
        (
            pd.DataFrame({"who": list("AABB"), "dice": [1.0, 2.0, 3.0, np.nan]}),
            "at least 2 groups",
        ),
        (
            pd.DataFrame({"who": list("AAAA"), "dice": [1.0, 2.0, 3.0, 4.0]}),
            "at least 2 groups",
        ),
        (
            pd.DataFrame({"who": ["A", "A", None, "B", "B"], "dice": [1.0, 2, 3, 4, 5]}),
            "missing group",
        ),
        (
            pd.DataFrame({"who": list("AABB"), "dice": [1.0, 2.0, np.inf, 4.0]}),
            "infinite",
        ),
        (pd.DataFrame({"who": list("AABB"), "dice": ["1", "2", "3", "4"]}), "numeric"),
        (
            pd.DataFrame({"who": list("AABB"), "hd": [1.0, 2.0, 3.0, 4.0]}),
            "not in the data",
        ),
        (
            pd.DataFrame({"who": list("AABB"), "dice": [1.0, 1.0, 3.0, 4.0]}),
            "zero variance",
        ),
    ],
)
def test_compare_metric_rejects(frame, message):
    with pytest.raises(ValueError, match=message):
        compare_metric(frame, "dice", "who")


def test_compare_metric_rejects_bad_options(metrics):
    with pytest.raises(ValueError, match="posthoc"):
        compare_metric(metrics, "dice", "who", posthoc="scheffe")
    with pytest.raises(ValueError, match="order"):
        compare_metric(metrics, "dice", "who", order=["A", "B"])


# --- compare_values ---------------------------------------------------------


def test_compare_values_equals_scipy_pingouin_and_scikit_posthocs(t2):
    result = compare_values(t2, "t2_ms", "reader")
    clean = t2.dropna()
    samples = [g["t2_ms"].to_numpy() for _, g in clean.groupby("reader", sort=False)]

    h, p = scipy_stats.kruskal(*samples)
    assert result["kruskal"] == {
        "H": pytest.approx(h),
        "ddof1": 3,
        "p": pytest.approx(p),
    }
    direct = pingouin.kruskal(data=clean, dv="t2_ms", between="reader")
    assert result["kruskal"]["H"] == pytest.approx(direct["H"].iloc[0], rel=1e-12)

    matrix = scikit_posthocs.posthoc_dscf(clean, val_col="t2_ms", group_col="reader")
    pairs = result["pairs"]
    assert len(pairs) == 6
    for a, b, p_pair in pairs[["A", "B", "p"]].itertuples(index=False):
        assert p_pair == pytest.approx(matrix.at[a, b], rel=1e-12)


def test_compare_values_summary_and_letters(t2):
    result = compare_values(t2, "t2_ms", "reader")
    summary = result["summary"]
    assert summary["n"].tolist() == [13, 14, 13, 14]
    assert summary["n_missing"].tolist() == [1, 0, 1, 0]
    for reader, row in summary.iterrows():
        x = t2.loc[t2["reader"] == reader, "t2_ms"].dropna().to_numpy()
        q1, median, q3 = np.quantile(x, [0.25, 0.5, 0.75])
        assert (row["median"], row["q1"], row["q3"]) == pytest.approx((median, q1, q3))
        assert row["iqr"] == pytest.approx(q3 - q1)
    letters = result["letters"]
    assert letters["model"] == "a"  # highest median, and it differs from every observer
    for a, b, p in result["pairs"][["A", "B", "p"]].itertuples(index=False):
        assert bool(set(letters[a]) & set(letters[b])) == (p >= 0.05)


def test_compare_values_emits_no_warnings(t2):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compare_values(t2, "t2_ms", "reader")


@pytest.mark.parametrize(
    "values, message",
    [
        ([50.0, 50.0, 50.0, 50.0, 50.0, 50.0], "identical"),
        ([50.0, 50.0, 50.0, 50.0, 51.0, 52.0], "one value between"),
        ([50.0, np.nan, 51.0, np.nan, 52.0, 53.0], "at least 2 groups"),
    ],
)
def test_compare_values_rejects(values, message):
    frame = pd.DataFrame({"reader": list("AABBCC"), "t2_ms": values})
    with pytest.raises(ValueError, match=message):
        compare_values(frame, "t2_ms", "reader")


# --- icc --------------------------------------------------------------------


def _pingouin_row(frame, label, **kwargs):
    saved = dict(pingouin.options)
    pingouin.options.pop("round.column.CI95")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            table = pingouin.intraclass_corr(data=frame, targets="Wine", raters="Judge", ratings="Scores", **kwargs)
    finally:
        pingouin.options.clear()
        pingouin.options.update(saved)
    return table.set_index("Type").loc[label]


@pytest.mark.parametrize(
    "kind, label",
    [
        ("ICC1", "ICC(1,1)"),
        ("ICC2", "ICC(A,1)"),
        ("ICC3", "ICC(C,1)"),
        ("ICC2k", "ICC(A,k)"),
    ],
)
def test_icc_equals_pingouin(wine, kind, label):
    result = icc(wine, "Wine", "Judge", "Scores", kind=kind)
    row = _pingouin_row(wine, label)
    assert result["kind"] == kind
    assert result["type"] == label
    assert result["icc"] == pytest.approx(row["ICC"], rel=1e-12)
    assert (result["ci95_lower"], result["ci95_upper"]) == pytest.approx(tuple(row["CI95"]), rel=1e-12)
    assert (result["F"], result["df1"], result["df2"]) == (
        pytest.approx(row["F"]),
        row["df1"],
        row["df2"],
    )
    assert result["p"] == pytest.approx(row["pval"], rel=1e-12)
    assert (result["n_targets"], result["n_raters"], result["n_dropped"]) == (8, 4, 0)


def test_icc2_matches_pingouins_rounded_display(wine):
    result = icc(wine, "Wine", "Judge", "Scores")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        shown = pingouin.intraclass_corr(data=wine, targets="Wine", raters="Judge", ratings="Scores")
    row = shown.set_index("Type").loc["ICC(A,1)"]
    assert [round(result["ci95_lower"], 2), round(result["ci95_upper"], 2)] == row["CI95"].tolist()
    assert pingouin.options["round.column.CI95"] == 2  # icc() left pingouin's options as they were


def test_icc_accepts_pingouin_label(wine):
    assert icc(wine, "Wine", "Judge", "Scores", kind="ICC(A,1)")["kind"] == "ICC2"


@pytest.mark.parametrize("how", ["row_absent", "rating_nan"])
def test_icc_drops_target_with_missing_rater(wine, how):
    gap = (wine["Wine"] == 3) & (wine["Judge"] == "B")
    frame = wine[~gap] if how == "row_absent" else wine.assign(Scores=wine["Scores"].where(~gap))
    result = icc(frame, "Wine", "Judge", "Scores")
    assert (result["n_targets"], result["n_raters"]) == (7, 4)
    assert (result["n_dropped"], result["dropped_targets"]) == (1, [3])
    expected = _pingouin_row(wine[wine["Wine"] != 3], "ICC(A,1)")
    assert result["icc"] == pytest.approx(expected["ICC"], rel=1e-12)
    assert (result["ci95_lower"], result["ci95_upper"]) == pytest.approx(tuple(expected["CI95"]), rel=1e-12)
    omitted = _pingouin_row(frame, "ICC(A,1)", nan_policy="omit")
    assert result["icc"] == pytest.approx(omitted["ICC"], rel=1e-12)


def test_icc_emits_no_warnings(wine):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        icc(wine, "Wine", "Judge", "Scores")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: pd.concat([f, f.iloc[[0]]]), "repeated"),
        (lambda f: f[f["Judge"] == "A"], "at least 2 raters"),
        (lambda f: f[f["Wine"] == 1], "at least 2 raters and 2 targets"),
        (lambda f: f.assign(Scores=5.0), "identical"),
        (lambda f: f.assign(Scores=f["Scores"].astype(str)), "numeric"),
        (lambda f: f.assign(Judge=f["Judge"].where(f["Wine"] != 2)), "missing labels"),
    ],
)
def test_icc_rejects(wine, change, message):
    with pytest.raises(ValueError, match=message):
        icc(change(wine), "Wine", "Judge", "Scores")


def test_icc_rejects_unknown_kind(wine):
    with pytest.raises(ValueError, match="kind"):
        icc(wine, "Wine", "Judge", "Scores", kind="ICC4")


# --- compact_letters --------------------------------------------------------


def _pairs(groups, different):
    """p = 0.001 for the pairs in ``different``, 0.5 for the others."""
    return {frozenset(pair): 0.001 if frozenset(pair) in different else 0.5 for pair in itertools.combinations(groups, 2)}


@pytest.mark.parametrize(
    "groups, different, expected",
    [
        ("ABC", [frozenset("AC")], {"A": "a", "B": "ab", "C": "b"}),
        ("ABC", [], {"A": "a", "B": "a", "C": "a"}),
        (
            "ABC",
            [frozenset("AB"), frozenset("AC"), frozenset("BC")],
            {"A": "a", "B": "b", "C": "c"},
        ),
        (
            "ABCD",
            [frozenset(p) for p in ("AC", "AD", "BD")],
            {"A": "a", "B": "ab", "C": "bc", "D": "c"},
        ),
        (
            "ABCD",
            [frozenset(p) for p in ("AB", "AC", "AD")],
            {"A": "a", "B": "b", "C": "b", "D": "b"},
        ),
        ("CBA", [frozenset("AC")], {"C": "a", "B": "ab", "A": "b"}),
    ],
)
def test_compact_letters_textbook_cases(groups, different, expected):
    assert compact_letters(list(groups), _pairs(groups, different)) == expected


def test_compact_letters_scikit_posthocs_docstring_case():
    x = [
        [1, 2, 1, 3, 1, 4],
        [12, 3, 11, 9, 3, 8, 1],
        [10, 22, 12, 9, 8, 3],
        [14, 12, 16, 17, 5, 9],
    ]
    matrix = scikit_posthocs.posthoc_dunn(x, p_adjust="holm")
    assert compact_letters([1, 2, 3, 4], matrix) == {1: "a", 2: "ab", 3: "b", 4: "b"}


def test_compact_letters_input_forms_agree():
    as_dict = {frozenset("AB"): 0.3, frozenset("BC"): 0.2, frozenset("AC"): 0.01}
    as_tuples = {("A", "B"): 0.3, ("B", "C"): 0.2, ("A", "C"): 0.01}
    long = pd.DataFrame({"A": ["A", "B", "A"], "B": ["B", "C", "C"], "p": [0.3, 0.2, 0.01]})
    square = pd.DataFrame(
        [[1.0, 0.3, 0.01], [np.nan, 1.0, 0.2], [np.nan, np.nan, 1.0]],
        index=list("ABC"),
        columns=list("ABC"),
    )
    expected = {"A": "a", "B": "ab", "C": "b"}
    for p_pairs in (as_dict, as_tuples, long, square):
        assert compact_letters(["A", "B", "C"], p_pairs) == expected


def test_compact_letters_alpha_is_strict():
    p_pairs = {frozenset("AB"): 0.05}
    assert compact_letters(["A", "B"], p_pairs) == {"A": "a", "B": "a"}
    assert compact_letters(["A", "B"], p_pairs, alpha=0.06) == {"A": "a", "B": "b"}


def test_compact_letters_edges():
    assert compact_letters([], {}) == {}
    assert compact_letters(["only"], {}) == {"only": "a"}
    assert compact_letters(["A", "B"], {frozenset("AB"): 0.5, frozenset("AZ"): 0.0}) == {"A": "a", "B": "a"}


@pytest.mark.parametrize(
    "groups, p_pairs, message",
    [
        (["A", "B", "C"], {frozenset("AB"): 0.5, frozenset("AC"): 0.5}, "no p-value"),
        (["A", "B"], {frozenset("AB"): float("nan")}, "not in"),
        (["A", "B"], {frozenset("AB"): 1.5}, "not in"),
        (["A", "A"], {}, "repeat"),
        (["A", "B"], {("A", "B", "C"): 0.5}, "two groups"),
        (
            ["A", "B"],
            pd.DataFrame({"A": ["A", "B"], "B": ["B", "A"], "p": [0.5, 0.01]}),
            "two p-values",
        ),
    ],
)
def test_compact_letters_rejects(groups, p_pairs, message):
    with pytest.raises(ValueError, match=message):
        compact_letters(groups, p_pairs)
