"""The Typer application, its global options, and what every command shares: the error console, errors, progress bars."""

from __future__ import annotations

import logging
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
    logging.getLogger("myomap").setLevel(logging.DEBUG if verbose else logging.INFO)
    # Libraries that read DICOM narrate file paths and attribute values (identifying data) in their debug
    # messages and warnings, so they stay quiet even with --verbose: highdicom's errors and pydicom's
    # failures reach the user as our own one-line errors, which name files safely.
    logging.getLogger("highdicom").setLevel(logging.ERROR)
    logging.getLogger("pydicom").setLevel(logging.CRITICAL)
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.ERROR)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=code)


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True)
