"""ZIP archives among the inputs: read from a temporary copy, as the folder they hold.

A PACS or a colleague often hands an exam over as one ``.zip``.  Every
input that is a ZIP archive is unpacked, for the duration of a ``with``
block, into its own temporary folder, which then stands in for it; the
inputs themselves are only read, and the copy is deleted at the end.
Python's :mod:`zipfile` drops absolute paths and ``..`` from member names
on extraction, so an archive cannot write outside its folder.  An archive
that cannot be read (damaged, encrypted, the disk full) is one error line
and is left out; the other inputs go on.
"""

from __future__ import annotations

import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Unpacked:
    """The inputs to read (each archive replaced by its temporary folder, in place), and one line per archive."""

    inputs: list[Path]
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def is_zip_archive(path: Path) -> bool:
    """A file that is a ZIP archive (by its content, not its name)."""
    return path.is_file() and zipfile.is_zipfile(path)


@contextmanager
def unpacked_archives(inputs: Sequence[str | Path], *, label: str = "{path}") -> Iterator[Unpacked]:
    """Unpack the ZIP archives among ``inputs`` into temporary folders for the ``with`` block.

    ``label`` names an archive in the notes and errors: ``{path}`` is its
    path, ``{k}`` its 1-based place among the inputs (``input-{k}`` keeps
    a file name that may hold a patient's name out of a shared log).
    """
    paths = [Path(p) for p in inputs]
    if not any(is_zip_archive(p) for p in paths):
        yield Unpacked(paths)
        return
    with tempfile.TemporaryDirectory(prefix="myomap-unzip-") as tmp:
        result = Unpacked([])
        for k, path in enumerate(paths, start=1):
            if not is_zip_archive(path):
                result.inputs.append(path)
                continue
            name = label.format(path=path, k=k)
            folder = Path(tmp) / f"input-{k}"
            try:
                with zipfile.ZipFile(path) as archive:
                    members = [m for m in archive.infolist() if not m.is_dir()]
                    archive.extractall(folder)
            except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, OSError, EOFError) as exc:
                # RuntimeError: encrypted; NotImplementedError: an unsupported compression method; zlib: damaged data
                result.errors.append(f"{name}: a ZIP archive that cannot be unpacked ({type(exc).__name__}: {exc}); left out")
                continue
            folder.mkdir(exist_ok=True)  # an empty archive is an empty folder
            result.inputs.append(folder)
            result.notes.append(f"{name}: a ZIP archive; its {len(members)} file(s) read from a temporary copy")
        yield result
