"""Statistics of the evaluation study (the paper's Tables 2-5).

Welch's ANOVA with a post hoc test for segmentation metrics
(:func:`compare_metric`), Kruskal–Wallis with Dwass–Steel–Critchlow–Fligner
for T1/T2 values (:func:`compare_values`), both in :mod:`myomap.stats.groups`;
the intraclass correlation of values across observers (:func:`icc`, in
:mod:`myomap.stats.agreement`); compact letter displays
(:func:`compact_letters`, in :mod:`myomap.stats.letters`).  The tests
themselves come from pingouin, scikit-posthocs and scipy; the table cells
built from them are formatted in :mod:`myomap.evaluate.tables`.

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

from myomap.stats.agreement import icc
from myomap.stats.groups import compare_metric, compare_values
from myomap.stats.letters import compact_letters

__all__ = ["compact_letters", "compare_metric", "compare_values", "icc"]
