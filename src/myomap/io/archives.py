"""ZIP archives among the inputs: read from a temporary copy, as the folder they hold.

A PACS or a colleague often hands an exam over as one ``.zip``, a study
portal a folder of them, an archiver a ZIP of ZIPs.  Every input that is a
ZIP archive is unpacked, for the duration of a ``with`` block, into its own
temporary folder, which then stands in for it; an input folder that holds
``.zip`` files is mirrored in one for the same time (its files hard-linked
where the file system allows, else copied; its links to files and folders
followed, so the mirror holds no link).  In that folder each
archive at any depth (up to :data:`MAX_DEPTH` archives deep) is unpacked
into a folder of the archive's own name (``input-K/studies/a.zip/...``), so
files are named as where they lie.  The inputs themselves are only read,
and the copies and mirrors are deleted at the end.  Python's :mod:`zipfile` drops
absolute paths and ``..`` from member names on extraction, so an archive
cannot write outside its folder.  An archive that cannot be read (damaged,
encrypted, larger than the free space of the temporary folder's disk) is
one error line and is left out; the other inputs and archives go on.  A
file that is an archive only by its name or its first bytes (one cut short,
as by an interrupted download) is such a damaged archive.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from myomap.io.walk import skipped_note, walk_folder


@dataclass
class Unpacked:
    """The inputs to read (each archive replaced by its temporary folder, in place), and one line per archive."""

    inputs: list[Path]
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


MAX_DEPTH = 4
"""Archives nested deeper than this inside an input are left packed (a note): no unpacking without end."""
FREE_MARGIN_BYTES = 10**9
"""Space left free on the temporary folder's disk: an archive whose files, or a folder's copied file, would take more is an
error."""


_MEMBER_HEADER = b"PK\x03\x04"
"""The signature that starts a ZIP archive's first member, and so the archive."""


def _size(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.1f} MB"


def _lacks_room(directory: Path, sizes: Sequence[int]) -> str | None:
    """Why files of ``sizes`` bytes would not fit in ``directory`` with :data:`FREE_MARGIN_BYTES` left free, or None.

    Each file takes whole blocks of the file system, and one more for its
    entry: a million one-byte members of a small archive take gigabytes.
    """
    block = os.statvfs(directory).f_frsize if hasattr(os, "statvfs") else 4096
    need = sum((-(-size // block) + 1) * block for size in sizes)
    free = shutil.disk_usage(directory).free
    if need > free - FREE_MARGIN_BYTES:
        return f"would leave less than {_size(FREE_MARGIN_BYTES)} free in the temporary folder ({_size(need)} needed, {_size(free)} free)"
    return None


def is_zip_archive(path: Path) -> bool:
    """A file that is a ZIP archive, or was meant to be one, and not a DICOM file (``DICM`` at byte 128).

    A file is taken for an archive by its name (``.zip``), its first bytes
    (a member's header, ``PK\\x03\\x04``) or its end record
    (:func:`zipfile.is_zipfile`): an archive cut short (an interrupted
    download) has no end record, and is a damaged archive, not a file that
    is not DICOM.  A DICOM file whose tail happens to look like an end
    record is not an archive.
    """
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        head = handle.read(132)
    if head[128:] == b"DICM":
        return False
    return head.startswith(_MEMBER_HEADER) or path.name.lower().endswith(".zip") or zipfile.is_zipfile(path)


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


def _extract(path: Path, folder: Path, keep_names: bool) -> str | None:
    """Unpack ``path`` into ``folder`` (left empty when it fails); why it cannot be, or None.

    An archive whose files would not fit on the temporary folder's disk
    (:data:`FREE_MARGIN_BYTES` kept free) is not unpacked at all: a ZIP
    "bomb", or an archive of a whole PACS, fails with one line before it
    fills the disk that the run's other work and the system need.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            # zipfile never writes more than a member's declared size (it stops there, and the CRC check fails),
            # so the declared sizes bound what the unpacking writes
            no_room = _lacks_room(folder.parent, [m.file_size for m in members]) if members else None
            if no_room:
                folder.mkdir(exist_ok=True)
                return f"that {no_room}; left out"
            archive.extractall(folder)
    except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, OSError, EOFError) as exc:
        shutil.rmtree(folder, ignore_errors=True)  # nothing half-unpacked is read
        folder.mkdir()
        return f"that cannot be unpacked, {_reason(exc, keep_names)}; left out"
    folder.mkdir(exist_ok=True)
    return None if members else "with no files"


def _archives_under(folder: Path) -> Iterator[Path]:
    """The ``.zip`` files (by name, and not DICOM) anywhere under ``folder``, through links (:func:`walk_folder`), lazily."""
    for root, _, files in walk_folder(folder):
        yield from (root / n for n in files if n.lower().endswith(".zip") and is_zip_archive(root / n))


def _inner_archives(folder: Path) -> list[Path]:
    return sorted(_archives_under(folder))


def _unpack_inner(folder: Path, name: str, keep_names: bool, result: Unpacked) -> int:
    """Unpack every archive under ``folder`` (a temporary copy) in place of its file, deeper ones too; how many were unpacked."""
    count = 0
    for _ in range(MAX_DEPTH):
        found = _inner_archives(folder)
        if not found:
            return count
        for path in found:
            inner = path.relative_to(folder).as_posix()
            staging = Path(tempfile.mkdtemp(prefix=".myomap-unzip-", dir=path.parent))  # a fresh name: no file of the input's is met
            problem = _extract(path, staging, keep_names)
            if problem:  # without keep_names the archive's path stays out: member names can hold a patient's name
                result.errors.append(
                    f"{name}/{inner}: a ZIP archive {problem}" if keep_names else f"{name}: a ZIP archive inside it {problem}"
                )
            path.unlink()
            staging.rename(path)  # the archive's files now lie in a folder of its name
            count += not problem
    if _inner_archives(folder):
        result.notes.append(f"{name}: ZIP archives nested more than {MAX_DEPTH} deep left packed")
    return count


def _mirror(source: Path, target: Path, tmp_root: Path) -> list[Path]:
    """``source`` mirrored at ``target`` for unpacking its archives there; the links left out.

    The mirror holds no links: it is walked as a folder's own reading walks
    it (:func:`walk_folder`: through links to folders, each real folder
    once), and a link to a file is mirrored as its target, so a relative
    link does not lead nowhere from the temporary folder and no archive in
    a linked folder is unpacked into the input.  Files are hard-linked
    where the file system allows, else copied (the input is never written:
    an archive's link is only removed from the mirror; a copy that would
    leave less than :data:`FREE_MARGIN_BYTES` free raises
    :class:`OSError`, and the input is left out).  Links that lead nowhere
    or back to a folder already mirrored are returned (no error), and the
    temporary folder is left out when it lies inside ``source``; the
    mirror's folders are new, so writable even where the input's are not
    (a CD's).
    """
    skipped: list[Path] = []
    for root, dirs, files in walk_folder(source, skipped):
        dirs[:] = [d for d in dirs if (root / d).resolve() != tmp_root]
        here = target / root.relative_to(source)
        here.mkdir(exist_ok=True)
        for name in files:
            _link_or_copy(os.path.realpath(root / name), here / name)
    return skipped


def _link_or_copy(src: str, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another disk, or a file the user may read but not link: a copy, if there is room
        no_room = _lacks_room(dst.parent, [os.path.getsize(src)])
        if no_room:
            raise OSError(errno.ENOSPC, f"copying a file {no_room}") from None
        shutil.copy2(src, dst)


@contextmanager
def unpacked_archives(inputs: Sequence[str | Path], *, keep_names: bool = True) -> Iterator[Unpacked]:
    """Unpack the ZIP archives among ``inputs``, and those inside them or inside input folders, into temporary folders for the ``with`` block.

    Each archive's folder, or each folder's mirror with the archives in it
    unpacked, takes its input's place in :attr:`Unpacked.inputs`, one
    entry per input, also for an archive that fails (an empty folder, with
    an error line) or holds no file (an error line too).  With
    ``keep_names`` the notes and errors name an archive by its path and
    give the exception's text; without, ``input-K`` (its 1-based place among
    the inputs) and a fixed reason: an archive's name and its members' can
    hold a patient's name.  The copies go to the system's temporary folder
    (``TMPDIR``); an archive, or a folder's copied file, that would leave
    less than :data:`FREE_MARGIN_BYTES` free there is an error line and is
    not unpacked or mirrored.
    """
    paths = [Path(p) for p in inputs]
    kinds = ["zip" if is_zip_archive(p) else "holds zip" if p.is_dir() and next(_archives_under(p), None) else None for p in paths]
    if not any(kinds):
        yield Unpacked(paths)
        return
    with tempfile.TemporaryDirectory(prefix="myomap-unzip-") as tmp:
        result = Unpacked([])
        for k, (path, kind) in enumerate(zip(paths, kinds), start=1):
            if kind is None:
                result.inputs.append(path)
                continue
            name = str(path) if keep_names else f"input-{k}"
            folder = Path(tmp) / f"input-{k}"
            result.inputs.append(folder)
            if kind == "zip":
                problem = _extract(path, folder, keep_names)
                if problem:
                    result.errors.append(f"{name}: a ZIP archive {problem}")
                    continue
                inner = _unpack_inner(folder, name, keep_names, result)
                files = sum(1 for p in folder.rglob("*") if p.is_file())
                result.notes.append(f"{name}: a ZIP archive; its {files} file(s) read from a temporary copy" + _also(inner))
                continue
            try:
                skipped = _mirror(path, folder, Path(tmp).resolve())
            except (OSError, shutil.Error) as exc:
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()
                reason = f"{type(exc).__name__}: {exc}" if keep_names else "a file in it cannot be read, or the temporary folder is full"
                result.errors.append(
                    f"{name}: a folder holding ZIP archives that cannot be mirrored in a temporary folder ({reason}); left out"
                )
                continue
            if skipped:  # without keep_names the link stays out: its path can hold a patient's name
                result.notes.append(skipped_note(name, skipped, example=keep_names))
            inner = _unpack_inner(folder, name, keep_names, result)
            result.notes.append(f"{name}: a folder holding ZIP archives, read from a temporary mirror" + _also(inner))
        yield result


def _also(inner: int) -> str:
    return f" with {inner} archive(s) inside it unpacked" if inner else ""
