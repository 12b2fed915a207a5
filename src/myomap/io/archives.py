"""ZIP archives among the inputs: read from a temporary copy, as the folder they hold.

A PACS or a colleague often hands an exam over as one ``.zip``.  Every
input that is a ZIP archive is unpacked, for the duration of a ``with``
block, into its own temporary folder, which then stands in for it; the
inputs themselves are only read, and the copy is deleted at the end.
Python's :mod:`zipfile` drops absolute paths and ``..`` from member names
on extraction, so an archive cannot write outside its folder.  An archive
that cannot be read (damaged, encrypted, the disk full) is one error line
and is left out; the other inputs go on.  Archives inside an archive or
inside an input folder are not unpacked (such a file is not DICOM: a
note).
"""

from __future__ import annotations

import shutil
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
    """A file that is a ZIP archive by its content, and not a DICOM file (``DICM`` at byte 128) whose tail happens to look like one."""
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        if handle.read(132)[128:] == b"DICM":
            return False
    return zipfile.is_zipfile(path)


# Why an archive could not be unpacked, without the exception's text: that names the member files,
# whose paths can hold a patient's name.
_REASONS = (
    (RuntimeError, "it is encrypted"),
    (NotImplementedError, "it uses a compression method this Python cannot read"),
    ((zipfile.BadZipFile, zlib.error, EOFError), "it is damaged"),
)


def _reason(exc: Exception, detailed: bool) -> str:
    if isinstance(exc, OSError):
        reason = f"its files cannot be written to a temporary folder ({exc.strerror or type(exc).__name__})"
    else:
        reason = next(text for kinds, text in _REASONS if isinstance(exc, kinds))
    return f"{reason}: {type(exc).__name__}: {exc}" if detailed else reason


@contextmanager
def unpacked_archives(inputs: Sequence[str | Path], *, keep_names: bool = True) -> Iterator[Unpacked]:
    """Unpack the ZIP archives among ``inputs`` into temporary folders for the ``with`` block.

    Each archive's folder takes its place in :attr:`Unpacked.inputs`, one
    entry per input, also for an archive that fails (an empty folder, with
    an error line) or holds no file (an error line too).  With
    ``keep_names`` the notes and errors name an archive by its path and
    give the exception's text; without, ``input-K`` (its 1-based place among
    the inputs) and a fixed reason: an archive's name and its members' can
    hold a patient's name.  The copies go to the system's temporary folder
    (``TMPDIR``), which must have room for them.
    """
    paths = [Path(p) for p in inputs]
    zipped = [is_zip_archive(p) for p in paths]
    if not any(zipped):
        yield Unpacked(paths)
        return
    with tempfile.TemporaryDirectory(prefix="myomap-unzip-") as tmp:
        result = Unpacked([])
        for k, (path, is_zip) in enumerate(zip(paths, zipped), start=1):
            if not is_zip:
                result.inputs.append(path)
                continue
            name = str(path) if keep_names else f"input-{k}"
            folder = Path(tmp) / f"input-{k}"
            result.inputs.append(folder)
            try:
                with zipfile.ZipFile(path) as archive:
                    members = [m for m in archive.infolist() if not m.is_dir()]
                    archive.extractall(folder)
            except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, OSError, EOFError) as exc:
                shutil.rmtree(folder, ignore_errors=True)  # nothing half-unpacked is read
                folder.mkdir()
                result.errors.append(f"{name}: a ZIP archive that cannot be unpacked, {_reason(exc, keep_names)}; left out")
                continue
            folder.mkdir(exist_ok=True)
            if members:
                result.notes.append(f"{name}: a ZIP archive; its {len(members)} file(s) read from a temporary copy")
            else:
                result.errors.append(f"{name}: a ZIP archive with no files")
        yield result
