"""Circle cvi42 XML workspaces (``.cvi42wsx``): the contours an expert drew on each image, by SOPInstanceUID.

The format, as public parsers of exported workspaces read it (Bai et al.'s
``ukbb_cardiac``, the Auckland biventricular-modelling tools, Contour42)
and as no published specification documents it:

- XML in four namespaces, ``.../cvi42/Workspace/`` plus ``Hash/``,
  ``List/`` and ``Point/`` below it; every element of interest carries a
  ``Hash:key`` attribute.
- An element keyed ``ImageStates`` (typically under
  ``StudyMapStates``/``List:item``) holds one child per image, keyed by the
  image's DICOM SOPInstanceUID.  That child may hold one keyed
  ``Contours``, whose children are keyed by contour name:
  ``saepicardialContour`` and ``saendocardialContour`` (the short-axis LV
  epi- and endocardium), ``sarvendocardialContour``,
  ``saReferenceMyoContour``, the long-axis ``la...`` contours, and so on.
- A contour holds a child keyed ``Points`` (``List:item`` children with
  ``Point:x`` and ``Point:y`` text: x is the column, y the row) and one
  keyed ``SubpixelResolution`` (an integer, usually 4): a point's pixel
  coordinate is its value divided by the resolution.

Where the pixel origin lies is not documented, and public code disagrees:
the Auckland modelling code (``Contours.from_2d_to_3d``) subtracts half a
pixel before placing points with ImagePositionPatient, i.e. it takes
cvi42's (0, 0) for the top-left *corner* of the first pixel (it shifts one
axis only, which looks like a slip in writing ``F[0:1, 3]`` for
``F[0:2, 3]``); ``ukbb_cardiac`` fills polygons on a 4-times finer grid
and keeps every 4th sample from the first, which treats (0, 0) as the
pixel's *centre*, though nothing there says it was checked; Contour42 feeds
the values to MATLAB's ``poly2mask`` unchanged, which fits neither (MATLAB
puts the first pixel's centre at (1, 1)).  The one deliberate, written-out
conversion is the corner convention, and :data:`PIXEL_ORIGIN_OFFSET` takes
it: ``x = Point:x / SubpixelResolution - 0.5`` (likewise y) in the
data layout's convention (the centre of the top-left pixel at (0, 0)).
This is the best reading of the evidence, not a verified fact: if it is
wrong the contours lie half a pixel (about 0.7 mm) left of and above where
they were drawn.  A site that can check it (a workspace contour against a
mask cvi42 exported) can pass ``origin_offset_px`` to
:func:`read_workspace`.

Compression: the binary workspace (``.cvi42ws``) is a zlib stream of a
proprietary binary format that public tools only scrape by pattern; it is
refused with a line saying how to export XML instead.  An XML workspace in
a ZIP archive (UK Biobank hands them out one ZIP per participant) is read
from it; XML compressed with zlib or gzip (not seen in public material,
but it costs nothing) is inflated.  Everything is read as a stream
(workspaces reach hundreds of MB): of the tree only the open elements and
the open image's contours are held, and of each image only the points of
its two LV contours are kept.  A document that declares a DOCTYPE is refused
(cvi42 writes none), so no entity of any kind is ever expanded.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast
from xml.etree import ElementTree

import numpy as np

HASH_KEY = "{http://www.circlecvi.com/cvi42/Workspace/Hash/}key"
_POINT = "{http://www.circlecvi.com/cvi42/Workspace/Point/}"
EPICARDIAL = "saepicardialContour"
ENDOCARDIAL = "saendocardialContour"
LONG_AXIS_PREFIX = "la"  # laepicardialContour, larvendocardialContour, lalaContour, laxLvExtentPoints...
PIXEL_ORIGIN_OFFSET = 0.5
"""Pixels subtracted from cvi42's coordinates (its (0, 0) taken for the top-left pixel's corner; see the module docstring)."""

_CHUNK = 1 << 20
_PROLOG_LIMIT = 1 << 20  # bytes before the root element that are searched for a DOCTYPE; more is no workspace
_DOCTYPES = tuple("<!DOCTYPE".encode(encoding) for encoding in ("utf-8", "utf-16-le", "utf-16-be"))  # expat reads no other wide encoding
_BINARY_HINT = (
    "a binary cvi42 workspace (.cvi42ws), which cannot be read; in cvi42 export it as XML "
    "(Workspace > Export Workspace, type 'Cvi42 XML Workspace (*.cvi42wsx)')"
)


class WorkspaceError(ValueError):
    """A workspace that cannot be used at all; the message names the file and the reason."""


@dataclass(frozen=True)
class WorkspaceContour:
    """One LV contour: (n, 2) pixel (x, y) in the data layout's convention, or why it cannot be used (``problem``)."""

    points: np.ndarray
    problem: str = ""


@dataclass(frozen=True)
class ContouredImage:
    """The contours of one image: the names of all of them, and the two LV contours where drawn."""

    sop_uid: str
    names: frozenset[str]
    epicardial: WorkspaceContour | None = None
    endocardial: WorkspaceContour | None = None

    @property
    def long_axis_only(self) -> bool:
        """Only long-axis contours (``la...``) and no short-axis LV one."""
        return self.epicardial is None and self.endocardial is None and any(n.startswith(LONG_AXIS_PREFIX) for n in self.names)


def read_workspace(path: str | Path, *, origin_offset_px: float = PIXEL_ORIGIN_OFFSET) -> list[ContouredImage]:
    """The contoured images of a cvi42 XML workspace (plain, zlib- or gzip-compressed, or the ``.cvi42wsx`` members of a ZIP).

    Images without any contour are left out; an image keyed twice is
    returned twice (the caller decides).  A contour's points are divided by
    its SubpixelResolution and shifted by ``origin_offset_px``; one with
    fewer than 3 points, a point that is not a finite number or no positive
    whole SubpixelResolution comes back with its ``problem`` said.  The file
    is only read.

    Raises
    ------
    WorkspaceError
        Missing or unreadable file, a binary ``.cvi42ws`` workspace, data
        that is not XML, not well-formed or in an encoding expat cannot read
        (a multi-byte one other than UTF-8/16), a DOCTYPE, a ZIP archive without
        a ``.cvi42wsx`` member, or no ``ImageStates`` element.
    """
    path = Path(path)
    try:
        with path.open("rb") as stream:
            head = stream.read(4)
            if head.startswith(b"PK\x03\x04"):
                return _read_archive(path, origin_offset_px)
            stream.seek(0)
            return _parse(_document(stream, str(path)), str(path), origin_offset_px)
    except FileNotFoundError:
        raise WorkspaceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise WorkspaceError(f"{path}: a folder, not a cvi42 workspace file") from None
    except OSError as exc:
        raise WorkspaceError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _read_archive(path: Path, offset: float) -> list[ContouredImage]:
    """The workspaces kept in a ZIP archive (hidden members skipped); members are named by number, not name (names may hold a participant's ID)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [
                m for m in archive.infolist() if m.filename.lower().endswith(".cvi42wsx") and not m.is_dir() and not _hidden(m.filename)
            ]
            if not members:
                raise WorkspaceError(f"{path}: a ZIP archive without a .cvi42wsx workspace in it")
            images: list[ContouredImage] = []
            for k, member in enumerate(members, start=1):
                where = f"{path} (workspace {k} of {len(members)} in the ZIP archive)"
                with archive.open(member) as stream:
                    images += _parse(_document(stream, where), where, offset)
            return images
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise WorkspaceError(f"{path}: a damaged or encrypted ZIP archive ({type(exc).__name__})") from None


def _hidden(name: str) -> bool:
    """A hidden member, as a folder's hidden files are skipped: macOS's ``__MACOSX/._x.cvi42wsx`` (AppleDouble, not XML) among them."""
    parts = name.replace("\\", "/").split("/")
    return parts[0] == "__MACOSX" or any(part.startswith(".") and part not in (".", "..") for part in parts)


def _document(stream: IO[bytes], where: str) -> Iterator[bytes]:
    """The XML bytes of ``stream`` in chunks: inflated when it starts as a zlib or gzip stream; WorkspaceError when it is no XML."""
    head = stream.read(_CHUNK)
    inflater = None
    if head[:2] == b"\x1f\x8b" or (len(head) > 1 and head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0):
        inflater = zlib.decompressobj(wbits=47)  # 32 + 15: a zlib or a gzip header, whichever it is
    chunks = _inflated(head, stream, inflater, where) if inflater is not None else _plain(head, stream)
    first = next(chunks, b"")
    text = first.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not (text.startswith(b"<") or first.startswith((b"\xff\xfe", b"\xfe\xff"))):
        raise WorkspaceError(f"{where}: {_BINARY_HINT if inflater is not None else 'not a cvi42 XML workspace (not XML)'}")
    yield first
    yield from chunks


def _plain(head: bytes, stream: IO[bytes]) -> Iterator[bytes]:
    chunk = head
    while chunk:
        yield chunk
        chunk = stream.read(_CHUNK)


def _inflated(head: bytes, stream: IO[bytes], inflater, where: str) -> Iterator[bytes]:
    chunk = head
    try:
        while chunk and not inflater.eof:
            data = inflater.decompress(chunk)
            if data:
                yield data
            chunk = stream.read(_CHUNK)
        rest = inflater.flush()
    except zlib.error:
        raise WorkspaceError(f"{where}: compressed data that cannot be inflated (damaged or cut short)") from None
    if rest:
        yield rest
    if not inflater.eof:
        raise WorkspaceError(f"{where}: compressed data cut short")


def _parse(chunks: Iterable[bytes], where: str, offset: float) -> list[ContouredImage]:
    """Stream-parse one XML document; keep only the ``Contours`` of each image state, drop every other element as it ends."""
    parser: ElementTree.XMLPullParser[ElementTree.Element] = ElementTree.XMLPullParser(events=("start", "end"))
    tree = _Pruned(offset)
    prolog: bytes | None = b""
    try:
        for chunk in chunks:
            if prolog is not None:  # before the root element: where a DOCTYPE would be
                if len(prolog) > _PROLOG_LIMIT:
                    raise WorkspaceError(f"{where}: not a cvi42 XML workspace (no XML element in its first MB)")
                prolog += chunk
                if any(doctype in prolog for doctype in _DOCTYPES):
                    raise WorkspaceError(f"{where}: declares a DOCTYPE, which cvi42 workspaces do not; refused (no entity is expanded)")
            parser.feed(chunk)
            tree.follow(_events(parser))
            if tree.stack:
                prolog = None
        parser.close()
        tree.follow(_events(parser))
    except ElementTree.ParseError as exc:
        raise WorkspaceError(f"{where}: not well-formed XML ({exc})") from None
    except WorkspaceError:
        raise
    except ValueError as exc:  # expat refuses a declared multi-byte encoding (Shift_JIS, UTF-32...) with a ValueError
        raise WorkspaceError(f"{where}: XML in an encoding that cannot be read ({exc})") from None
    if not tree.found_states:
        raise WorkspaceError(f"{where}: no ImageStates element: not a cvi42 workspace, or one without image states")
    return tree.images


def _events(parser: ElementTree.XMLPullParser) -> Iterator[tuple[str, ElementTree.Element]]:
    """The start and end events parsed so far (only those were asked for, so each carries an element)."""
    return cast("Iterator[tuple[str, ElementTree.Element]]", parser.read_events())


class _Pruned:
    """Follows the parser's events, keeping of the tree only the open elements and the ``Contours`` of the open image.

    Each open element has a role: ``states`` (an ImageStates), ``image``
    (its child: one image) or ``other``; an ended image is read
    (:func:`_image`), and every ended element but an image's ``Contours``
    is cleared and removed from its parent, so memory stays bounded.  Inside
    a ``Contours`` only the depth is counted (most elements of a workspace
    are contour points, so this path is the one to keep short).
    """

    def __init__(self, offset: float) -> None:
        self.offset = offset
        self.stack: list[ElementTree.Element] = []
        self.roles: list[str] = []
        self.images: list[ContouredImage] = []
        self.found_states = False
        self.inside_contours = 0  # depth below (and including) an image's Contours element

    def follow(self, events: Iterator[tuple[str, ElementTree.Element]]) -> None:
        stack, roles = self.stack, self.roles
        for event, element in events:
            if self.inside_contours:
                self.inside_contours += 1 if event == "start" else -1
                continue
            if event == "start":
                key = element.get(HASH_KEY)
                above = roles[-1] if roles else ""
                if above == "image" and key == "Contours":
                    self.inside_contours = 1  # kept in its image until the image ends
                    continue
                role = "states" if key == "ImageStates" else "image" if above == "states" else "other"
                self.found_states |= role == "states"
                stack.append(element)
                roles.append(role)
                continue
            stack.pop()
            if roles.pop() == "image" and (image := _image(element, self.offset)) is not None:
                self.images.append(image)
            element.clear()
            if stack:  # every earlier child has gone the same way, so the search is short
                stack[-1].remove(element)


def _image(element: ElementTree.Element, offset: float) -> ContouredImage | None:
    contours = next((child for child in element if child.get(HASH_KEY) == "Contours"), None)
    if contours is None:
        return None
    named = {child.get(HASH_KEY) or "": child for child in contours}
    named.pop("", None)
    if not named:
        return None
    lv = {name: _contour(named[name], offset) for name in (EPICARDIAL, ENDOCARDIAL) if name in named}
    return ContouredImage(element.get(HASH_KEY) or "", frozenset(named), lv.get(EPICARDIAL), lv.get(ENDOCARDIAL))


def _contour(element: ElementTree.Element, offset: float) -> WorkspaceContour:
    """Points in the data layout's pixels, or the problem: no SubpixelResolution, unreadable or non-finite points, fewer than 3."""
    parts = {child.get(HASH_KEY): child for child in element}
    resolution = (parts["SubpixelResolution"].text or "").strip() if "SubpixelResolution" in parts else ""
    if not resolution.isdecimal() or int(resolution) <= 0:  # isdigit() passes "²", which int() refuses
        return WorkspaceContour(np.empty((0, 2)), "contour without a positive whole SubpixelResolution")
    coordinates = []
    for item in parts["Points"] if "Points" in parts else []:
        x, y = item.find(f"{_POINT}x"), item.find(f"{_POINT}y")
        try:
            coordinates.append((float((x.text or "").strip()), float((y.text or "").strip())))  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            return WorkspaceContour(np.empty((0, 2)), "contour with unreadable or non-finite point coordinates")
    points = np.asarray(coordinates, dtype=float).reshape(-1, 2)
    if not np.all(np.isfinite(points)):
        return WorkspaceContour(np.empty((0, 2)), "contour with unreadable or non-finite point coordinates")
    if len(points) < 3:
        return WorkspaceContour(np.empty((0, 2)), "contour with fewer than 3 points")
    return WorkspaceContour(points / int(resolution) - offset)
