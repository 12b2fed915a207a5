"""The ``myomap`` command line: a thin layer that parses, calls the API and reports."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from myomap import __version__

app = typer.Typer(
    name="myomap",
    help="Segment the LV myocardium on cardiac MR T1/T2 maps and turn the contours into T1/T2 values.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
err = Console(stderr=True)
log = logging.getLogger("myomap")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"myomap {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug messages.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_time=False, show_path=False)],
    )


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)


@app.command()
def simulate(
    out: Annotated[Path, typer.Argument(help="Output folder (must not exist or be empty, unless --overwrite).")],
    subjects: Annotated[int, typer.Option("--subjects", "-n", help="Number of subjects.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives byte-identical output.")] = 0,
    field: Annotated[str, typer.Option(help="Field strength: 1.5T (the paper's), 3T, or mixed (half each).")] = "1.5T",
    artefact_fraction: Annotated[float, typer.Option(help="Share of images with a motion or off-resonance artefact.")] = 0.15,
    preview: Annotated[bool, typer.Option("--preview", help="Write a montage PNG per subject to OUT/preview/.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing, non-empty OUT.")] = False,
    workers: Annotated[int, typer.Option(help="Worker processes (0: one per CPU).")] = 0,
) -> None:
    """Simulate a cohort of T1/T2 mapping data with exact ground truth (the digital phantom).

    Per subject: basal, mid and apical MOLLI T1 and T2-prep T2 maps fitted
    pixel-wise from simulated weighted images (DICOM), reference contours,
    two further observers for test subjects, the noise-free truth
    (truth.npz), plus manifest.csv, subjects.csv and simulate.yaml.

    Example: [bold]myomap simulate cohort --subjects 40 --seed 7 --preview[/]
    """
    from myomap.phantom.cohort import SimulationConfig, SimulationError, simulate_cohort

    config = SimulationConfig(subjects=subjects, seed=seed, field=field, artefact_fraction=artefact_fraction)
    try:
        config.validate()
        with _progress() as bar:
            task = bar.add_task("simulating", total=subjects)
            manifest = simulate_cohort(
                out, config, overwrite=overwrite, preview=preview, workers=workers or None, progress=lambda _: bar.advance(task)
            )
    except SimulationError as exc:
        raise _fail(str(exc)) from None
    log.info("wrote %d subjects to %s (manifest: %s)", subjects, out, manifest.name)
    if preview:
        log.info("previews: %s", out / "preview")


@app.command("import-paper")
def import_paper(
    source: Annotated[Path, typer.Argument(help="Folder in the paper's layout: 'Patient (N)/T1_map_base/*.dcm' ...")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write manifest.csv to (the source is never modified).")],
) -> None:
    """Write a manifest for a data set in the paper's own folder layout.

    Slices that cannot be imported are reported one per line and make the
    exit code 1; the others are still written.

    Example: [bold]myomap import-paper /data/kalapos -o /data/kalapos-manifest[/]
    """
    from myomap.io.paper import import_paper_layout

    try:
        manifest, problems = import_paper_layout(source, out)
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    for problem in problems:
        err.print(f"[bold red]error:[/] {problem}", highlight=False, soft_wrap=True)
    log.info("wrote %s", manifest)
    if problems:
        raise typer.Exit(code=1)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
