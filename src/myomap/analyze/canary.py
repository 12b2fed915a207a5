"""A PHI canary exam: DICOM maps whose every identifying attribute carries a unique, searchable value.

Every attribute of DICOM PS3.15 Table E.1-1 (the Basic Profile's list, as
``dicom-anonymizer`` carries it) that has a textual VR gets a canary value
(``CNRY`` + a number, a canary date or time, a UID under a canary root), and
every file also holds a private block and lies in a folder whose name is a
canary.  :func:`canary_hits` then searches every byte of an output folder
for them.  Numeric, age and sex attributes (IS, DS, US, AS, PatientSex) are filled
too but cannot be searched for (a ``042Y``, ``O`` or ``7`` occurs by chance).
Used by the tests and ``benchmarks/safety.py``.
"""

from __future__ import annotations

import base64
import io
import re
import shutil
from pathlib import Path

import pydicom
from PIL import Image
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset

UID_ROOT = "1.2.826.0.1.3680043.9.7777"  # canary UIDs: nothing else uses this root
PATH_CANARY = "CNRYPATH-Doe-John-19420101"
PRIVATE_CANARY = "CNRYPRIVATE"
_SHARED_UIDS = {(0x0020, 0x000D), (0x0020, 0x0052)}  # study and frame of reference: one per exam


def _annex_e_tags() -> list[tuple[int, int]]:
    from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector

    from myomap.analyze.deid import EDITION

    tags = dicom_anonymization_database_selector(EDITION)["ALL_TAGS"]
    return sorted({tag for tag in tags if len(tag) == 2 and tag[0] not in (0x0000, 0x0002)})


def _value(vr: str, k: int, file_index: int, tag: tuple[int, int]):
    """A canary value of VR ``vr`` for the ``k``-th attribute; None for a VR it cannot hold."""
    text = f"CNRY{k:04X}"
    if tag == (0x0010, 0x0040):
        return "O"  # PatientSex has enumerated values (M, F, O) that readers check; not searchable
    if vr in ("LO", "SH", "LT", "ST", "UT", "UC", "CS", "AE"):
        return text
    if vr == "PN":
        return f"{text}^{text}G"
    if vr == "DA":
        return f"18{k // 12 % 100:02d}{k % 12 + 1:02d}{k % 28 + 1:02d}"
    if vr == "TM":
        return f"0{k % 10}3{k % 10}5{k % 10}.7{k:05d}"
    if vr == "DT":
        return f"18{k % 100:02d}0101120000.7{k:05d}"
    if vr == "UI":
        return f"{UID_ROOT}.{k}" + ("" if tag in _SHARED_UIDS else f".{file_index}")
    if vr == "UR":
        return f"http://{text.lower()}.invalid"
    if vr in ("OB", "UN"):
        return text.encode()
    if vr == "SQ":
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = text, "99CNRY", f"{text} meaning"
        return [item]
    if vr == "AS":
        return "042Y"
    if vr in ("IS", "DS"):
        return "7"
    return None


def canary_strings(dates: bool = True) -> list[bytes]:
    """Every searchable canary (the patterns :func:`canary_hits` looks for).

    ``dates=False`` leaves out the dates and times of the study, its series
    and images (a run that keeps them on purpose), not the patient's own
    (group 0010: birth date and time), which no option keeps.
    """
    found = {b"CNRY", UID_ROOT.encode(), PATH_CANARY.encode(), PRIVATE_CANARY.encode()}
    for k, tag in enumerate(_annex_e_tags()):
        vr = dictionary_VR(tag) if _known(tag) else ""
        if vr in ("DA", "TM", "DT") and (dates or tag[0] == 0x0010):
            found.add(str(_value(vr, k, 0, tag)).encode())
    return sorted(found)


def _known(tag) -> bool:
    try:
        dictionary_VR(tag)
    except KeyError:
        return False
    return True


def add_canaries(ds: Dataset, file_index: int) -> Dataset:
    """Fill every Annex E attribute of ``ds`` with a canary and add a private block; returns ``ds``."""
    for k, tag in enumerate(_annex_e_tags()):
        if not _known(tag):
            continue
        vr = dictionary_VR(tag).split(" or ")[0]
        value = _value(vr, k, file_index, tag)
        if value is not None:
            ds.add_new(tag, vr, value)
    block = ds.private_block(0x0029, f"{PRIVATE_CANARY} CREATOR", create=True)
    block.add_new(0x10, "LO", f"{PRIVATE_CANARY} patient")
    block.add_new(0x11, "UI", f"{UID_ROOT}.99999.{file_index}")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def write_canary_exam(subject: Path, out: Path) -> Path:
    """Copy the maps of one phantom ``subject`` into ``out/<canary folder>/`` with canaries everywhere; returns that folder."""
    folder = out / PATH_CANARY
    folder.mkdir(parents=True, exist_ok=True)
    for index, source in enumerate(sorted(subject.glob("T*_*/map.dcm"))):
        ds = pydicom.dcmread(source)
        add_canaries(ds, index)
        target = folder / f"{PATH_CANARY}-{source.parent.name}"
        target.mkdir(exist_ok=True)
        ds.save_as(target / "map.dcm", enforce_file_format=True)
        contours = source.parent / "contours.json"
        if contours.is_file():
            shutil.copy(contours, target / "contours.json")
    return folder


def canary_hits(folder: Path, text: str = "", *, dates: bool = True) -> list[tuple[str, str]]:
    """``(file, canary)`` for every canary found in any byte or name of any file under ``folder`` (and in ``text``, as ``<text>``).

    ``dates=False`` does not count the canary dates and times (for a run that keeps them on purpose).
    """
    patterns = canary_strings(dates)
    hits = []
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    sources = [(str(p), str(p.relative_to(folder)).encode() + b"\n" + _searchable_bytes(p)) for p in files] + [("<text>", text.encode())]
    for name, data in sources:
        lowered = data.lower()
        hits.extend((name, pattern.decode()) for pattern in patterns if pattern.lower() in lowered)
    return hits


def _searchable_bytes(path: Path) -> bytes:
    """The bytes of a file where text could hide; for a PNG its text chunks, not the compressed pixels.

    Deflated pixel data is noise-like and holds any 4-byte string by chance (about once in 10^8
    bytes for ``CNRY`` in any letter case), so searching it would fail runs at random.  Base64
    images inside a page (the HTML report) are just as random as text (``cnry`` in any case about
    once in 10^6 characters): each is decoded and searched as its own file would be.
    """
    data = path.read_bytes()
    if path.suffix.lower() == ".png":
        return _png_text(data)
    return _DATA_URI.sub(lambda m: _decoded(m.group(1), m.group(2)), data)


_DATA_URI = re.compile(rb"data:([a-z0-9.+/-]+);base64,([A-Za-z0-9+/=]+)", re.IGNORECASE)


def _decoded(mime: bytes, payload: bytes) -> bytes:
    try:
        raw = base64.b64decode(payload, validate=True)
    except ValueError:
        return payload  # not base64 after all: searched as it stands
    return _png_text(raw) if mime.lower() == b"image/png" else raw


def _png_text(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        chunks = dict(image.info)
    return "\n".join(f"{key}={value}" for key, value in chunks.items()).encode(errors="replace")
