"""The Typer application, its global options, and what every command shares: the error console, errors, progress bars."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
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


# The lowest level at which another library's log records reach the terminal; any library not named here
# gets LIBRARY_FLOOR (matplotlib and PIL log every font and PNG chunk they touch at DEBUG, which would
# flood --verbose).  Libraries that read DICOM narrate file paths and attribute values (identifying data)
# in their messages and warnings, so they stay quieter still: highdicom's errors and pydicom's failures
# reach the user as our own one-line errors, which name files safely.
LIBRARY_FLOOR = logging.WARNING
LIBRARY_FLOORS = {"pydicom": logging.CRITICAL, "highdicom": logging.ERROR, "py.warnings": logging.ERROR}


class LibraryFloor(logging.Filter):
    """A handler filter: myomap's records pass (their logger's level decides), another library's from its floor up.

    A filter on the terminal handler rather than levels on the libraries'
    loggers, because a library may set its logger's level when it is
    imported, after the CLI has started: pydicom does (to WARNING), and its
    ERROR records of a damaged image, tracebacks included, then reached the
    terminal beside myomap's one error line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if name == "myomap" or name.startswith("myomap."):
            return True
        floor = next((level for library, level in LIBRARY_FLOORS.items() if name == library or name.startswith(library + ".")), None)
        return record.levelno >= (LIBRARY_FLOOR if floor is None else floor)


def _pydicom_floor(record: logging.LogRecord) -> bool:
    return record.levelno >= LIBRARY_FLOORS["pydicom"]


_PYDICOM_FLOOR = _pydicom_floor  # one object: a logger holds a filter once, however often the CLI starts in one process


def terminal_handler() -> logging.Handler:
    """The handler that writes log records to the error console, through :class:`LibraryFloor`."""
    handler = RichHandler(console=err, show_time=False, show_path=False)
    handler.addFilter(LibraryFloor())
    return handler


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug messages.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", handlers=[terminal_handler()])
    logging.getLogger("myomap").setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.captureWarnings(True)
    # The same floors on the libraries' loggers themselves, for any other handler (a user's logging setup, a test's
    # capture): levels, and on pydicom's logger a filter too, since pydicom sets its level again when it is imported.
    for library, level in LIBRARY_FLOORS.items():
        logging.getLogger(library).setLevel(level)
    logging.getLogger("pydicom").addFilter(_PYDICOM_FLOOR)


def through_terminal(*loggers: str) -> None:
    """Send these libraries' records through the terminal handler (and its floors) instead of their own handlers.

    Lightning gives its loggers a stream handler of its own when it is
    imported, so its INFO lines (accelerators found, a tip to install a
    cloud logger) reached the terminal beside myomap's; what matters of
    them myomap logs itself.
    """
    for name in loggers:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True


def error_line(message: str) -> None:
    """Print one ``error:`` line; the message is text, never markup (a path may hold ``[backup]`` or ``[/]``)."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    error_line(message)
    return typer.Exit(code=code)


def progress_bar() -> Progress:
    # Descriptions name series and files: text, never markup.
    return Progress(
        TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True
    )
