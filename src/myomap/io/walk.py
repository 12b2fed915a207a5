"""Walking an input folder as a user sees it: through its links to folders, each folder once.

An exam on a shared disk is often put together from links (a folder of
links to series folders, a link to a file kept elsewhere).  Python's own
walks do not follow links to folders (:meth:`pathlib.Path.rglob`, and
:func:`os.walk` by default), so such a series would be silently left out;
following them blindly would run without end round a link to a folder
above it.  :func:`walk_folder` follows every link and enters each real
folder (its device and inode) once: a second way into a folder (a loop,
or two links to one folder) and a link that leads nowhere are listed as
skipped for the caller's one note.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def walk_folder(folder: Path, skipped: list[Path] | None = None) -> Iterator[tuple[Path, list[str], list[str]]]:
    """``(folder, sub-folder names, file names)`` for ``folder`` and every folder below it, through links, top down.

    As :func:`os.walk`, with links followed: file names are those of
    regular files (or of links to one), sorted; sub-folder names are
    sorted, real folders before links to folders, and the caller may
    remove names from the list to leave those folders out.  A folder met
    a second time (by a link that loops back, or a second link to it) is
    not entered again, and a link that leads nowhere is no file; both are
    added to ``skipped`` when given.  Folders that cannot be listed are
    passed over, as :func:`os.walk` does.
    """
    seen = {_identity(folder)}
    for root, dirs, names in os.walk(folder, followlinks=True):
        here = Path(root)
        entered = []
        for name in sorted(dirs, key=lambda n: (os.path.islink(here / n), n)):
            identity = _identity(here / name)
            if identity in seen:
                if skipped is not None:
                    skipped.append(here / name)
                continue
            seen.add(identity)
            entered.append(name)
        dirs[:] = entered
        if skipped is not None:
            skipped.extend(here / n for n in sorted(names) if not os.path.exists(here / n) and os.path.islink(here / n))
        yield here, dirs, sorted(n for n in names if os.path.isfile(here / n))


def skipped_note(where: str, skipped: list[Path], *, example: bool = True) -> str:
    """The one note on the links :func:`walk_folder` skipped below ``where``, the first named when ``example``."""
    named = f" (e.g. {skipped[0]})" if example else ""
    return f"{where}: {len(skipped)} link(s) leading nowhere or back to a folder already read, skipped{named}"


def _identity(path: Path) -> tuple[int, int]:
    status = os.stat(path)
    return status.st_dev, status.st_ino
