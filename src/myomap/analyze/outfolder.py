"""The output folder of one ``analyze`` run: a fresh, overwritten or resumed folder, ``run.json`` and per-patient completion.

- A run refuses a non-empty folder unless told ``overwrite`` (the folder is
  cleared, which is allowed only for an earlier myomap output that holds
  none of the inputs) or ``resume`` (patients already complete are kept,
  the others redone; the settings, model and inputs must be the same).
- ``run.json`` says what ran (version, model hash, settings, inputs seen)
  and its ``status``: ``incomplete`` from the start, ``complete`` only once
  every output is written.  A killed run therefore says ``incomplete``.
- Each patient's files are written, then its ``done.json`` (counts and
  error lines); a patient folder without one is incomplete and is redone
  on resume.
- SIGTERM is turned into :class:`RunInterrupted` (SIGINT already raises
  ``KeyboardInterrupt``), so the atomic writers delete their temporary
  files on the way out; leftovers of a hard kill are removed on resume.
"""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from myomap import __version__
from myomap.io.files import atomic_write_text

RUN_FILE = "run.json"
DONE_FILE = "done.json"
MODES = ("new", "overwrite", "resume")
_TEMP_GLOB = ".*.partial-*"  # the temporary names of myomap.io.files.atomic_path
_MYOMAP_MARKERS = (RUN_FILE, "analyze.yaml")


class OutputFolderError(ValueError):
    """An output folder this run may not use; the message says why and what to do."""


class RunInterrupted(BaseException):
    """The run got SIGTERM (a BaseException, so no ``except Exception`` swallows it)."""


@dataclass
class RunRecord:
    """What ``run.json`` holds; ``identity`` (settings, model, inputs) must match for a resume."""

    identity: dict
    inputs_seen: dict = field(default_factory=dict)
    status: str = "incomplete"
    started: str = ""
    finished: str = ""

    def as_json(self) -> str:
        data = {"myomap_version": __version__, "status": self.status, "started": self.started, "finished": self.finished}
        data.update(self.identity)
        data["inputs_seen"] = self.inputs_seen
        return json.dumps(data, indent=2, sort_keys=False) + "\n"


def _is_empty(out: Path) -> bool:
    return not out.exists() or not any(out.iterdir())


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def check_output_folder(out: Path, mode: str, inputs: list[Path], identity: dict | None = None) -> None:
    """Raise :class:`OutputFolderError` when a run in ``mode`` may not use ``out``; nothing is changed.

    :func:`prepare` checks with it; a command that does work before it
    analyses (``demo`` simulates its phantom first) calls it up front, so
    that a folder it may not use costs no work.  ``identity`` is checked
    against the earlier run's for ``resume`` (not when None).
    """
    if mode not in MODES:
        raise OutputFolderError(f"unknown output mode {mode!r}; choose from {', '.join(MODES)}")
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"{out}: exists and is not a folder")
    if _is_empty(out):
        return
    if mode == "new":
        raise OutputFolderError(f"{out}: not empty; give --overwrite to replace it or --resume to finish an interrupted run")
    if not any((out / name).is_file() for name in _MYOMAP_MARKERS):
        raise OutputFolderError(f"{out}: not empty and not a myomap analyze output; choose a new or empty folder")
    if any(_inside(p, out) for p in inputs):
        raise OutputFolderError(f"{out}: holds inputs of this run; choose another output folder")
    if mode == "resume" and identity is not None:
        _check_resumable(out, identity)


def prepare(out: Path, mode: str, identity: dict, inputs: list[Path]) -> RunRecord:
    """Make ``out`` ready for a run in ``mode`` (``new``, ``overwrite``, ``resume``); returns the run's record.

    Raises :class:`OutputFolderError` for a folder the mode may not use
    (:func:`check_output_folder`) and :class:`OSError` when it cannot be
    created.
    """
    check_output_folder(out, mode, inputs, identity)
    record = RunRecord(identity, started=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    if not _is_empty(out):
        if mode == "overwrite":
            for child in out.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        else:
            for stray in out.rglob(_TEMP_GLOB):
                stray.unlink()
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / RUN_FILE, record.as_json())
    return record


def _check_resumable(out: Path, identity: dict) -> None:
    try:
        previous = json.loads((out / RUN_FILE).read_text())
    except (OSError, ValueError):
        raise OutputFolderError(f"{out}: no readable {RUN_FILE} to resume from; give --overwrite to start again") from None
    changed = [key for key, value in identity.items() if previous.get(key) != value]
    if changed:
        raise OutputFolderError(
            f"{out}: cannot resume, the {', '.join(changed)} differ from the run there; give --overwrite to start again"
        )


def finish(out: Path, record: RunRecord, status: str) -> None:
    """Write ``run.json`` with its final ``status``."""
    record.status = status
    record.finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
    atomic_write_text(out / RUN_FILE, record.as_json())


def read_done(folder: Path) -> dict | None:
    """The completion record of a patient folder, or None when the patient is not complete."""
    try:
        return json.loads((folder / DONE_FILE).read_text())
    except (OSError, ValueError):
        return None


def start_patient(folder: Path) -> None:
    """An empty folder for a patient about to be (re)done."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def mark_done(folder: Path, record: dict) -> None:
    """Mark a patient complete, once all its files are written."""
    atomic_write_text(folder / DONE_FILE, json.dumps(record, indent=1) + "\n")


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Inside the block, SIGTERM raises :class:`RunInterrupted` (main thread only; elsewhere a no-op)."""

    def handler(signum, frame):
        raise RunInterrupted(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
