"""The evaluation study and the demo: ``evaluate`` and ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from myomap.cli.analysis import EXIT_USAGE, print_analysis
from myomap.cli.app import error_line, fail, log, progress_bar


def evaluate(
    data: Annotated[Path, typer.Argument(help="Data set folder with manifest.csv (its split column chooses the images).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for CSVs, tables and figures.")],
    model: Annotated[str, typer.Option(help="Model file (.pt or .onnx), or 'embedded'.")] = "embedded",
    split: Annotated[str, typer.Option(help="Which split to evaluate: test, val, train, or all.")] = "test",
    split_file: Annotated[
        Path | None,
        typer.Option(
            "--split-file",
            help="subject,split table that decides the splits instead of the manifest's split column: the RUN/split.csv a training run drew (split-2.csv for its second data set).",
        ),
    ] = None,
    observers: Annotated[
        str, typer.Option(help="Comma-separated observers, the first being the reference (manifest columns contours, contours_obs2, ...).")
    ] = "reference,obs2,obs3",
    figures: Annotated[bool, typer.Option("--figures/--no-figures", help="Draw the figures.")] = True,
    tta: Annotated[
        bool,
        typer.Option(
            "--tta/--no-tta",
            help="Test-time augmentation, as myomap analyze segments by default (--no-tta: the model's single pass, as in the paper).",
        ),
    ] = True,
    heart_scale: Annotated[
        float,
        typer.Option(
            "--heart-scale",
            help="The subjects' hearts against an adult's, for a data set of children: the model sees each map as myomap analyze --heart-scale shows it. Needs a fixed-pixel-size model (the embedded one is).",
        ),
    ] = 1.0,
) -> None:
    """Reproduce the paper's evaluation: model against every observer and observers against each other.

    The model segments as myomap analyze does (test-time augmentation);
    --no-tta gives its single pass, as in the paper.

    Writes metrics.csv (tidy, per image, comparison and contour), values.csv
    (myocardial T1/T2 per image and rater), Tables 2-5 and 8 with Welch
    ANOVA / Games-Howell, Kruskal-Wallis / DSCF and ICC as tables.md and
    tables.html, and figures/. Missing comparisons are counted, not dropped.

    The manifest's split column chooses the images; for a data set without
    one, --split-file RUN/split.csv scores the test subjects of the split
    that myomap train drew and saved.

    Example: [bold]myomap evaluate cohort --model runs/cpu/model.pt -o study[/]

    Example: [bold]myomap evaluate data/acdc --model runs/acdc/model.pt --split-file runs/acdc/split.csv -o study[/]
    """
    try:
        from myomap.evaluate.run import EvaluateConfig
        from myomap.evaluate.run import evaluate as run_evaluate
        from myomap.evaluate.study import EvaluationError
    except ImportError as exc:
        raise fail(f"myomap evaluate needs the evaluate extra ({exc.name or exc} is missing): pip install 'myomap[evaluate]'") from None
    from myomap.io.dataset import OBSERVER_COLUMNS, ManifestError
    from myomap.model.inference import ModelFileError

    names = tuple(o.strip() for o in observers.split(",") if o.strip())
    unknown = [n for n in names if n not in OBSERVER_COLUMNS]
    if unknown or not names:
        raise fail(f"--observers: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(OBSERVER_COLUMNS)}")
    config = EvaluateConfig(
        model=model,
        split=split,
        split_file=str(split_file) if split_file else None,
        observers=names,
        figures=figures,
        tta=tta,
        heart_scale=heart_scale,
    )
    try:
        with progress_bar() as bar:
            bar.add_task("evaluating", total=None)
            result = run_evaluate(data, out, config)
    except EvaluationError as exc:
        for error in exc.errors:
            error_line(error)
        raise fail(str(exc)) from None
    except (ModelFileError, ManifestError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{out}: cannot write ({exc.strerror or exc})") from None
    for error in result.errors:
        error_line(error)
    missing = int(result.metrics["missing"].sum()) if not result.metrics.empty else 0
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    log.info(
        "%d maps evaluated, %d comparisons could not be made (see tables.md); %s -> %s",
        result.metrics["image"].nunique(),
        missing,
        timing,
        out,
    )
    if result.errors:
        raise typer.Exit(code=1)


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: phantom/ (the simulated data) and analysis/.")] = Path(
        "myomap-demo"
    ),
    subjects: Annotated[int, typer.Option("--subjects", "-n", help="Number of simulated subjects.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed of the phantom.")] = 1,
) -> None:
    """The whole chain on the embedded defaults: simulate a small cohort, analyse it, compare with the truth.

    Writes OUT/phantom (a simulated cohort at 1.5 T and 3 T), OUT/analysis
    (everything myomap analyze writes; open OUT/analysis/index.html) and
    OUT/analysis/truth.csv (Dice against the reference observer and value
    errors against the phantom's truth, per slice).

    An earlier demo in OUT is replaced; an OUT/analysis that is not a
    myomap output is refused (exit code 2) before anything is simulated.

    Example: [bold]myomap demo -o demo-out[/]
    """
    from myomap.analyze.outfolder import OutputFolderError, check_output_folder
    from myomap.analyze.settings import AnalyzeConfig
    from myomap.analyze.truth import summarise_truth, truth_rows, write_truth_csv
    from myomap.phantom.cohort import SimulationConfig, SimulationError, simulate_cohort
    from myomap.report.analysis import analyze as run_analyze

    phantom = out / "phantom"
    rows: list[dict] = []
    try:
        # Simulating takes a while: an output folder the analysis may not use is refused first.
        if out.exists() and not out.is_dir():
            raise OutputFolderError(f"{out}: exists and is not a folder")
        check_output_folder(out / "analysis", "overwrite", [phantom])
    except OutputFolderError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    try:
        with progress_bar() as bar:
            task = bar.add_task("simulating", total=subjects)
            simulate_cohort(
                phantom, SimulationConfig(subjects=subjects, seed=seed, field="mixed"), overwrite=True, progress=lambda _: bar.advance(task)
            )
            task = bar.add_task("analysing", total=None)
            # The phantom ships the true RV insertion points; estimate them as on real data.
            result = run_analyze(
                [phantom], out / "analysis", AnalyzeConfig(reference_point="estimate"), mode="overwrite",
                found=lambda n: bar.update(task, total=n), progress=lambda k: bar.advance(task, k), on_patient=lambda done: rows.extend(truth_rows(done)),
            )  # fmt: skip
    except SimulationError as exc:
        raise fail(str(exc)) from None
    except OutputFolderError as exc:  # the folder changed while the phantom was simulated
        raise fail(str(exc), EXIT_USAGE) from None
    print_analysis(result)
    write_truth_csv(out / "analysis" / "truth.csv", rows)
    summary = summarise_truth(rows)
    log.info(
        "against the phantom truth (%d slices): myocardium Dice %.3f, Hausdorff %.2f mm; median error T1 %+.1f ms, T2 %+.2f ms (eroded ROI)",
        summary["slices"], summary.get("dice_myocardium", float("nan")), summary.get("hd_mm", float("nan")),
        summary.get("T1_median_error_ms", float("nan")), summary.get("T2_median_error_ms", float("nan")),
    )  # fmt: skip
    log.info("report: %s", out / "analysis" / "index.html")
    if result.failed:
        raise typer.Exit(code=1)
