"""``myomap evaluate``: the whole study in one call, written to one folder.

Output layout::

    OUT/evaluate.yaml     the settings
    OUT/metrics.csv       tidy: one row per image, comparison and contour (missing ones included, with the reason)
    OUT/values.csv        myocardial median per image and rater (whole ROI and eroded)
    OUT/ablation.csv      Table 8: every post-processing configuration against the reference
    OUT/achievable.csv    Fig. 9: best achievable Hausdorff distance per reference contour
    OUT/tables.md, tables.html   Tables 2-5 and 8 with their statistics
    OUT/figures/*.png     distributions, best/median/worst overlays, achievable HD, ablation, Bland-Altman
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from myomap.config import to_yaml
from myomap.evaluate import figures, tables
from myomap.evaluate.study import EvaluationError, ablation_rows, achievable_rows, load_study, predict, score
from myomap.io.dataset import read_manifest, read_split_file
from myomap.io.files import atomic_write_text
from myomap.model.loading import EMBEDDED_MODEL, heart_scale_problem, load_segmenter
from myomap.quantify.values import DEFAULT_EROSION_MARGIN_PX


@dataclass(frozen=True)
class EvaluateConfig:
    """Settings of one study; saved as ``OUT/evaluate.yaml``.  ``split`` ``all`` takes every map.

    ``split_file`` (a training run's ``split.csv``: ``subject,split``)
    decides the subjects' splits instead of the manifest's split column.
    ``heart_scale`` shows the model every map as ``myomap analyze
    --heart-scale`` does (:class:`myomap.model.loading.ScaledHeart`): a
    data set of children's hearts.
    """

    model: str = EMBEDDED_MODEL
    split: str = "test"
    split_file: str | None = None
    observers: tuple[str, ...] = ("reference", "obs2", "obs3")
    erosion_margin_px: float = DEFAULT_EROSION_MARGIN_PX
    figures: bool = True
    title: str = "myomap evaluation"
    tta: bool = True  # segment as ``myomap analyze`` does by default (test-time augmentation)
    heart_scale: float = 1.0  # the subjects' hearts against an adult's (children: below 1), as ``myomap analyze --heart-scale``


@dataclass
class EvaluateResult:
    metrics: pd.DataFrame
    values: pd.DataFrame
    errors: list[str]
    seconds: dict[str, float] = field(default_factory=dict)
    out: Path | None = None


def _no_maps(data: str | Path, config: EvaluateConfig, splits: dict[str, str] | None, errors: list[str]) -> str:
    """Why the split holds no maps, and what to try."""
    unread = f"; {len(errors)} row(s) could not be used (above)" if errors else ""
    if splits is None:
        decides = "the manifest's split column decides; --split-file RUN/split.csv takes a training run's seeded split"
    else:
        subjects = {row.subject for row in read_manifest(data)[0]}
        named = sum(1 for s in subjects if s in splits)
        decides = f"{config.split_file} names {named} of the data set's {len(subjects)} subjects"
        if not named:
            decides += " (a run trained on several data sets saves split-2.csv... for the later ones)"
    return f"{data}: no maps in split {config.split!r} ({decides}; --split all takes every map){unread}"


def run_study(
    images, predictions, config: EvaluateConfig, out: Path, *, note: str = ""
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Score, tabulate and plot given predictions (no inference); returns metrics, values and timings."""
    start = time.perf_counter()
    metric_rows, value_rows = score(images, predictions, config.observers, erosion_margin_px=config.erosion_margin_px)
    metrics, values = pd.DataFrame(metric_rows), pd.DataFrame(value_rows)
    reference = config.observers[0]
    ablation = pd.DataFrame(ablation_rows(images, predictions, reference))
    achievable = pd.DataFrame(achievable_rows(images, reference))
    scored = time.perf_counter()

    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("metrics", metrics), ("values", values), ("ablation", ablation), ("achievable", achievable)):
        atomic_write_text(out / f"{name}.csv", frame.to_csv(index=False, float_format="%.5g"))
    per_image = tables.per_image(metrics)
    observed = [o for o in config.observers if (values["rater"] == o).any()]
    sections = _table_sections(metrics, values, per_image, ablation, observed, config)
    title = config.title + (f" ({note})" if note else "")
    atomic_write_text(out / "tables.md", tables.to_markdown(sections, title))
    atomic_write_text(out / "tables.html", tables.to_html(sections, title))
    tabulated = time.perf_counter()
    if config.figures and not per_image.empty:
        _draw_figures(out / "figures", images, predictions, metrics, values, per_image, ablation, achievable, observed, reference)
    done = time.perf_counter()
    return metrics, values, {"scoring": scored - start, "tables": tabulated - scored, "figures": done - tabulated}


def _table_sections(
    metrics, values, per_image, ablation, observed: list[str], config: EvaluateConfig
) -> list[tuple[str, pd.DataFrame, str]]:
    """The sections of ``tables.md`` and ``tables.html``: (title, table, note)."""
    reference = config.observers[0]
    return [
        (
            "Table 2: overall",
            tables.metric_table(per_image),
            "Mean (SD) per image, the two contours averaged, with the median in the row below; Welch ANOVA + Games-Howell letters.",
        ),
        (
            "Table 3: per map type",
            tables.metric_table(per_image, strata="map_type"),
            "Letters compare model and experts within one map type.",
        ),
        (
            "Table 4: per slice",
            tables.metric_table(per_image, strata="slice"),
            "Letters compare model and experts within one slice position.",
        ),
        ("Every comparison", tables.comparison_table(per_image), "Model against each observer and each pair of observers."),
        (
            "Table 5: myocardial T1 and T2 (whole ROI)",
            tables.values_table(values),
            "Median (IQR) of per-image medians; Kruskal-Wallis + DSCF letters.",
        ),
        (
            "Table 5b: the same with the eroded ROI",
            tables.values_table(values, "median_eroded_ms"),
            f"ROI eroded by {config.erosion_margin_px:g} px.",
        ),
        (
            "ICC across observers",
            tables.icc_table(values, observed),
            "Two-way random effects, absolute agreement: ICC2 for one rater, ICC2k for their average.",
        ),
        ("ICC across observers and the model", tables.icc_table(values, observed + ["model"]), ""),
        (
            "Table 8: post-processing ablation",
            tables.ablation_table(ablation) if not ablation.empty else pd.DataFrame(),
            f"Against {reference}.",
        ),
        (
            "Comparisons that could not be made",
            tables.missing_table(metrics),
            "Hausdorff and MSD of these are left out of the means above; the Dice and IoU of a missing model contour are counted (from its mask); an observer without contours leaves the comparison out entirely.",
        ),
    ]


def _draw_figures(
    folder: Path, images, predictions, metrics, values, per_image, ablation, achievable, observed: list[str], reference: str
) -> None:
    """Every figure of the study into ``folder``."""
    folder.mkdir(exist_ok=True)
    figures.metric_distributions(metrics, folder / "distributions.png")
    figures.metric_distributions(
        metrics.assign(group=metrics["kind"] + " · " + metrics["slice"]), folder / "distributions_per_slice.png", by="group"
    )
    figures.overlays(images, predictions, per_image, folder / "overlays.png", reference=reference)
    if not achievable.empty:
        figures.achievable_hd(achievable, folder / "achievable_hd.png")
    if not ablation.empty:
        figures.ablation(ablation, folder / "ablation.png")
    figures.bland_altman(values, folder / "bland_altman.png", observed)


def evaluate(data: str | Path, out: str | Path, config: EvaluateConfig = EvaluateConfig()) -> EvaluateResult:
    """Predict the split's maps with the model, then :func:`run_study`.

    Raises
    ------
    EvaluationError
        The split holds no (readable) maps, the model's classes do not
        match or the heart scale is out of range; its ``errors`` are the
        images that could not be read.
    ModelFileError
        The model file cannot be used.
    ManifestError
        The manifest or the split file cannot be read.
    """
    out = Path(out)
    if problem := heart_scale_problem(config.heart_scale):
        raise EvaluationError(problem)
    splits = read_split_file(config.split_file) if config.split_file else None
    segmenter = load_segmenter(config.model, config.heart_scale)
    images, errors = load_study(data, None if config.split == "all" else config.split, config.observers, splits)
    if not images:
        raise EvaluationError(_no_maps(data, config, splits, errors), errors)
    start = time.perf_counter()
    predictions, predict_errors = predict(images, segmenter, tta=config.tta)
    inference = time.perf_counter() - start
    errors += predict_errors
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "evaluate.yaml", to_yaml(config))
    metrics, values, seconds = run_study(images, predictions, config, out, note=f"{len(images)} maps, split {config.split}")
    return EvaluateResult(metrics, values, errors, {"inference": inference, **seconds}, out)
