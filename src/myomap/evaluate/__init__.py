"""The paper's evaluation study (``myomap evaluate``): metrics, tables, statistics and figures.

- :mod:`myomap.evaluate.study`: loading a split with all observers, per-image metrics and values.
- :mod:`myomap.evaluate.tables`: Tables 2-5 and 8 with letters from :mod:`myomap.stats`.
- :mod:`myomap.evaluate.figures`: distributions, overlays, achievable Hausdorff, ablation, Bland-Altman.
- :mod:`myomap.evaluate.run`: :func:`~myomap.evaluate.run.evaluate`, the whole study into one folder.
- :mod:`myomap.evaluate.labels`: ``myomap import-labels``, NIfTI label images (ACDC, M&Ms) as a data set to train and evaluate on
  (here, not in :mod:`myomap.io`, because it fits contours with :mod:`myomap.geometry`, a layer above ``io``).
"""
