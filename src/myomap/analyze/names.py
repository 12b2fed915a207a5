"""How a run names patients and source files in what it writes.

- Patients are ``patient-01``, ``patient-02``... in PatientID order, or,
  with ``keep_phi``, their PatientID made safe for a folder name: only
  letters, digits, ``-`` and ``_`` (no ``.``, ``..`` or separators), at most
  64 characters, and unique (two IDs that clean to the same name both get a
  short hash of the raw ID).
- Source files are named by their path relative to the input they were
  found under (``input-1/...``) with ``keep_phi``, else by a keyed hash
  (``file-3f2a...``); the key file, when given, maps hashes back to paths.
  :meth:`SourceNames.scrub` rewrites the paths inside error lines and
  notes the same way, for every file the run writes and for the terminal.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_PATH_END = re.compile(r"(?=: |, |\)[ ;]|\)$|;)")  # where a path in a message may end (SourceNames.scrub)
# What messages add after a file to name its frame (ImageMeta.where, MapSlice.where): never part of the path.
_FRAME_SUFFIX = re.compile(r"(.+) (?:frame \d+|slice \d+(?: volume \d+)?)")
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{k}" for k in range(10)), *(f"LPT{k}" for k in range(10))}  # Windows device names


def safe_name(raw: str) -> str:
    """``raw`` as a folder name: unsafe characters become ``_``; never empty, ``.``/``..`` or a Windows device name.

    Examples
    --------
    >>> safe_name("../etc"), safe_name("A/B"), safe_name(""), safe_name("nul")
    ('etc', 'A_B', 'unknown', 'nul_')
    """
    name = _UNSAFE.sub("_", raw).strip("_")[:64] or "unknown"
    return f"{name}_" if name.upper() in _RESERVED else name


def keyed_hash(secret: str, text: str) -> str:
    """A short hash of ``text`` (a source path) under ``secret``: it names the text without letting anyone test a guess of it."""
    return hashlib.sha256(f"{secret}\n{text}".encode()).hexdigest()[:12]


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def patient_labels(
    keys: Iterable[tuple[str, str]], keep_phi: bool, *, dates: Mapping[tuple[str, str], str] | None = None
) -> dict[tuple[str, str], str]:
    """A unique folder-safe label per (PatientID, StudyInstanceUID): anonymous, or the cleaned PatientID with ``keep_phi``.

    One patient with several studies gets ``-s2``, ``-s3``... for the later
    ones: in the order of ``dates`` (StudyDate + StudyTime as DICOM writes
    them, per key), then of the UIDs.  The UIDs alone say nothing of time:
    a follow-up whose UID sorts first would take the baseline's label, and
    without ``--keep-dates`` no output would show it.  The labels come in
    that order: by PatientID, a patient's studies by date.
    """
    dates = dates or {}
    keys = sorted(keys, key=lambda key: (key[0], dates.get(key, ""), key[1]))
    patients = sorted({p for p, _ in keys})
    if keep_phi:
        cleaned = {p: safe_name(p) for p in patients}
        clashes = {name for name in cleaned.values() if list(cleaned.values()).count(name) > 1}
        bases = {p: f"{name}-{_short_hash(p)}" if name in clashes else name for p, name in cleaned.items()}
    else:
        width = max(2, len(str(len(patients))))
        bases = {p: f"patient-{k + 1:0{width}d}" for k, p in enumerate(patients)}
    labels: dict[tuple[str, str], str] = {}
    for patient_key, study in keys:
        studies = [s for p, s in keys if p == patient_key]
        index = studies.index(study)
        labels[(patient_key, study)] = bases[patient_key] if index == 0 else f"{bases[patient_key]}-s{index + 1}"
    return labels


class SourceNames:
    """Names of source files in outputs: relative to their input (``keep_phi``) or a keyed hash."""

    def __init__(self, inputs: list[Path], keep_phi: bool, hasher: Callable[[str], str]) -> None:
        self.roots = [(Path(p), Path(p).resolve(), f"input-{k + 1}") for k, p in enumerate(inputs)]
        self.keep_phi = keep_phi
        self._hasher = hasher

    def relative(self, path: Path | str) -> str:
        """``input-K/<path relative to input K>`` (the file itself for an input that is a file)."""
        resolved = Path(path).resolve()
        for _, root, name in self.roots:
            if resolved == root:
                return name if root.is_dir() else f"{name}/{root.name}"
            if root in resolved.parents:
                return f"{name}/{resolved.relative_to(root).as_posix()}"
        return Path(path).name

    def name(self, path: Path | str) -> str:
        """What outputs call ``path``."""
        relative = self.relative(path)
        return relative if self.keep_phi else f"file-{self._hasher(relative)}"

    def scrub(self, message: str) -> str:
        """``message`` with every input path in it replaced by its output name.

        A path starts at an input and may end before ``: ``, ``, ``, a
        closing bracket before a space or ``;``, or the end of the message;
        since folder names hold those too (a PACS export's ``DOE, JOHN``),
        it ends at the last of them where it names something on disk, else
        before a frame named after a file on disk (``... frame 12``: the
        frames of one file told apart), else at the first where its folder
        is on disk and deeper than the first's (a file gone since), else at
        the first.
        """
        roots = sorted({str(r) for given, resolved, _ in self.roots for r in (given, resolved)}, key=len, reverse=True)
        if not roots:  # an empty alternation would match everywhere
            return message
        starts = re.compile("(?<![\\w./-])(?:" + "|".join(map(re.escape, roots)) + ")(?=[/:\\s,)]|$)")
        out, done = [], 0
        for start in starts.finditer(message):
            if start.start() < done:  # inside a path already replaced
                continue
            rest = message[start.end() :]
            ends = [start.end() + m.start() for m in _PATH_END.finditer(rest)] + [len(message)]
            candidates = [message[start.start() : end] for end in sorted(set(ends))]
            path = next((c for c in reversed(candidates) if os.path.lexists(c)), None)
            framed = (_FRAME_SUFFIX.fullmatch(c) for c in reversed(candidates))
            path = path or next((m.group(1) for m in framed if m is not None and os.path.lexists(m.group(1))), None)
            top = len(os.path.dirname(candidates[0]))
            path = path or next((c for c in candidates if len(os.path.dirname(c)) > top and os.path.isdir(os.path.dirname(c))), None)
            path = path or candidates[0]
            out += [message[done : start.start()], self.name(path)]
            done = start.start() + len(path)
        return "".join(out) + message[done:]


class KeyFile:
    """The local re-identification key of de-identified runs (JSON lines, kept outside the output folder).

    The first line holds the secret that keys every UID and path hash (so
    runs sharing a key file hash alike); each further line maps one
    patient's label back to its PatientID, PatientName, study, original
    UIDs and source paths.  Labels are per run (``patient-01`` of one run
    may be another patient in the next run with the same key file): a
    line's ``exam`` is the ``exam`` of the ``done.json`` of the patient
    folder it maps back.  A patient redone by a resumed run appears again;
    the last line of a label and exam counts.
    """

    def __init__(self, path: Path | str, new_secret: Callable[[], str]) -> None:
        self.path = Path(path)
        if self.path.is_file() and self.path.stat().st_size:
            try:
                head = json.loads(self.path.read_text(encoding="utf-8").splitlines()[0])
                self.secret = str(head["myomap_key_secret"])
            except (ValueError, KeyError, IndexError):
                raise ValueError(f"{self.path}: not a myomap key file") from None
        else:
            self.secret = new_secret()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # readable by its owner only
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(json.dumps({"myomap_key_secret": self.secret}) + "\n")

    def add(self, record: dict) -> None:
        """Append one patient's record (flushed to disk before returning)."""
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
