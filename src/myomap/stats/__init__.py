"""Statistics of the evaluation study (the paper's Tables 2-5).

Welch's ANOVA with a post hoc test for segmentation metrics
(:func:`compare_metric`), Kruskal–Wallis with Dwass–Steel–Critchlow–Fligner
for T1/T2 values (:func:`compare_values`), the intraclass correlation of
values across observers (:func:`icc`), compact letter displays
(:func:`compact_letters`) and table formatting (:func:`format_mean_sd`,
:func:`format_median_iqr`).  The tests themselves come from pingouin,
scikit-posthocs and scipy.
"""

from myomap.stats.compare import (
    compact_letters,
    compare_metric,
    compare_values,
    format_mean_sd,
    format_median_iqr,
    icc,
)

__all__ = [
    "compact_letters",
    "compare_metric",
    "compare_values",
    "format_mean_sd",
    "format_median_iqr",
    "icc",
]
