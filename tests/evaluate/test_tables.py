"""Cell formatting of the evaluation tables: mean (SD) and median (IQR)."""

import math

import numpy as np
import pandas as pd
import pytest

from myomap.evaluate.tables import format_mean_sd, format_median_iqr


@pytest.mark.parametrize(
    "values, kwargs, expected",
    [
        ([80.0, 85.0, 90.0], {}, "85.0 (5.0)"),
        ([80.0, np.nan, 85.0, 90.0], {}, "85.0 (5.0)"),
        (pd.Series([0.864, 0.916]), {"decimals": 3}, "0.890 (0.037)"),
        ((v for v in [1.0, 2.0, 3.0]), {}, "2.0 (1.0)"),
        ([86.4], {}, "86.4 (n/a)"),
        ([np.nan, np.nan], {}, "n/a"),
        ([], {"missing": "–"}, "–"),
    ],
)
def test_format_mean_sd(values, kwargs, expected):
    assert format_mean_sd(values, **kwargs) == expected


@pytest.mark.parametrize(
    "values, kwargs, expected",
    [
        ([1.0, 2.0, 3.0, 4.0, 5.0], {}, "3.0 (2.0–4.0)"),
        ([1.0, 2.0, 3.0, 4.0, 5.0, np.nan], {"style": "width"}, "3.0 (2.0)"),
        ([1041.73], {"decimals": 2}, "1041.73 (1041.73–1041.73)"),
        ([np.nan], {}, "n/a"),
    ],
)
def test_format_median_iqr(values, kwargs, expected):
    assert format_median_iqr(values, **kwargs) == expected


def test_format_median_iqr_uses_linear_quartiles():
    x = np.array([3.0, 1.0, 10.0, 7.0])
    q1, median, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    assert format_median_iqr(x, decimals=3) == f"{median:.3f} ({q1:.3f}–{q3:.3f})"
    assert math.isclose(q1, 2.5)
    assert math.isclose(q3, 7.75)
    with pytest.raises(ValueError, match="style"):
        format_median_iqr(x, style="sd")
