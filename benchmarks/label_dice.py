"""Score the contours of a ``myomap analyze`` run on NIfTI images against the label images beside them.

Public cine data sets with expert contours ship each image with its labels
in a file of the same name plus ``_gt`` (ACDC: ``patient001_frame01.nii.gz``
and ``patient001_frame01_gt.nii.gz``; M&Ms: ``A0S9V9_sa.nii.gz`` and
``A0S9V9_sa_gt.nii.gz``, a 4-D cine labelled at end-diastole and
end-systole).  Every label image under the run's inputs (run ``analyze``
with ``--keep-phi``: ``run.json`` then lists the inputs and ``slices.csv``
names each slice's file) is read, and each of its slices and phases on
which the expert labelled myocardium is compared with the contours
``analyze`` wrote for that slice and phase of the image (``contours.json``,
filled as :func:`myomap.geometry.masks.contours_to_mask` fills them):
myocardium Dice per frame.  A labelled frame without contours, or without
a row in ``slices.csv`` at all (the image was refused), counts 0.  Slices
and phases the expert left unlabelled are not scored, so contours drawn
there cost nothing.  Prints the number of frames scored, how many had
contours and how many no row, the mean and median Dice, and the lowest
frames.

The myocardium's label value is 2 in ACDC and M&Ms (``--myocardium``).

An input that is a ZIP archive is read as ``analyze`` reads it: its label
images are taken from the archive.  Label images inside other archives
(tar, or a ZIP within a folder or another archive) are not read: unpack
them and run ``analyze`` on the folder.

Usage: python benchmarks/label_dice.py OUT [--myocardium 2] [--suffix _gt]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import zipfile
from pathlib import Path

import nibabel
import numpy as np

from myomap.conventions import MYOCARDIUM
from myomap.geometry.masks import contours_to_mask
from myomap.io.contours import read_contours


def source_path(source: str, inputs: list[str]) -> Path | None:
    """The file a ``slices.csv`` source names (``input-K/...``; ``<archive>/<member>`` in a ZIP input), from the run's inputs; None when it names none."""
    head, _, rest = source.partition("/")
    if not head.startswith("input-") or not head[6:].isdigit() or not 1 <= int(head[6:]) <= len(inputs):
        return None
    root = Path(inputs[int(head[6:]) - 1])
    return root / rest if root.is_dir() or (rest and root.is_file() and zipfile.is_zipfile(root)) else root  # a ZIP: its member


def label_images(inputs: list[str], suffix: str) -> dict[Path, Path]:
    """Label image -> its image, for every ``<name><suffix>.nii[.gz]`` under ``inputs`` whose image is there too."""
    found = {}
    for root in map(Path, inputs):
        for path in sorted(root.rglob("*") if root.is_dir() else [root]):
            for ext in (".nii.gz", ".nii"):
                if path.name.lower().endswith(suffix.lower() + ext):
                    image = path.with_name(path.name[: -len(suffix + ext)] + ext)
                    if image.is_file():
                        found[path.resolve()] = image.resolve()
                    break
    return found


def _label_name(name: str, suffix: str) -> str | None:
    """The image's name for a label image's name (``x_gt.nii.gz`` -> ``x.nii.gz``), None for any other name."""
    for ext in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix.lower() + ext):
            return name[: -len(suffix + ext)] + ext
    return None


def archive_labels(inputs: list[str], suffix: str) -> dict[Path, Path]:
    """Label image -> its image for the members of inputs that are ZIP archives, as ``<archive>/<member>`` paths."""
    found = {}
    for root in map(Path, inputs):
        if not (root.is_file() and zipfile.is_zipfile(root)):
            continue
        with zipfile.ZipFile(root) as archive:
            members = set(archive.namelist())
        for member in sorted(members):
            image = _label_name(member, suffix)
            if image is not None and image in members:
                found[root.resolve() / member] = root.resolve() / image
    return found


def read_volume(label: Path) -> np.ndarray:
    """A label image's data, from the file or from the member of a ZIP archive (``<archive>/<member>``)."""
    archive = next((p for p in label.parents if p.is_file() and zipfile.is_zipfile(p)), None)
    if archive is None:
        return np.asarray(nibabel.load(label).dataobj)
    with zipfile.ZipFile(archive) as opened:
        data = opened.read(label.relative_to(archive).as_posix())
    return np.asarray(nibabel.Nifti1Image.from_bytes(gzip.decompress(data) if label.name.lower().endswith(".gz") else data).dataobj)


def inner_archives(inputs: list[str]) -> list[Path]:
    """Archives whose label images are not read: under input folders, and inputs that are archives but no ZIP."""
    kinds = (".zip", ".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tar.xz")
    found = []
    for root in map(Path, inputs):
        candidates = sorted(root.rglob("*")) if root.is_dir() else [] if zipfile.is_zipfile(root) else [root]
        found += [p for p in candidates if p.is_file() and p.name.lower().endswith(kinds)]
    return found


def score(out: Path, myocardium: int, suffix: str) -> list[tuple[str, float, str]]:
    """``(frame, Dice, state)`` for every labelled frame under the run's inputs; state ``contours``, ``none`` or ``no row``."""
    inputs = json.loads((out / "run.json").read_text())["inputs_seen"].get("paths", [])
    rows = {}
    for row in csv.DictReader((out / "slices.csv").open(newline="")):
        source = source_path(row["source"], inputs)
        if source is not None and row.get("frame"):
            rows[(source.resolve(), int(row["frame"]), int(row["phase"] or 0))] = row
    scored = []
    for label, image in (label_images(inputs, suffix) | archive_labels(inputs, suffix)).items():
        volume = read_volume(label)  # one label image at a time: a data set's labels need not fit in memory
        volume = volume.reshape(volume.shape + (1,) * (4 - volume.ndim))
        for k in range(volume.shape[2]):
            for t in range(volume.shape[3]):
                expert = volume[:, :, k, t].T == myocardium  # the image's slice as analyze reads it (myomap.io.nifti)
                if not expert.any():
                    continue
                what = f"{image.name} slice {k}" + (f" phase {t}" if volume.shape[3] > 1 else "")
                row = rows.get((image, k, t))
                written = out / row["folder"] / "contours.json" if row is not None else None
                if written is None or not written.is_file():
                    scored.append((what, 0.0, "no row" if row is None else "none"))
                    continue
                contours = read_contours(written)
                mine = contours_to_mask(contours.epi, contours.endo, expert.shape) == MYOCARDIUM
                if mine.shape != expert.shape:
                    raise SystemExit(f"{label}: slice {k} is {expert.shape}, its image's {mine.shape}")
                dice = 2.0 * np.count_nonzero(mine & expert) / (np.count_nonzero(mine) + np.count_nonzero(expert))
                scored.append((what, dice, "contours"))
    return scored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the output folder of `myomap analyze ... --keep-phi`")
    parser.add_argument("--myocardium", type=int, default=2, help="the myocardium's value in the label images (ACDC, M&Ms: 2)")
    parser.add_argument("--suffix", default="_gt", help="what the label image's name adds to the image's")
    args = parser.parse_args()
    rows = score(args.out, args.myocardium, args.suffix)
    if not rows:
        inputs = json.loads((args.out / "run.json").read_text())["inputs_seen"].get("paths", [])
        archives = inner_archives(inputs)
        hint = (
            f"label images inside archives are not read ({archives[0]}" + (f" and {len(archives) - 1} more" if len(archives) > 1 else "")
            + "): unpack them, run analyze on the folder with --keep-phi, and score that run"
            if archives
            else "run analyze with --keep-phi, so that run.json lists the inputs"
        )  # fmt: skip
        raise SystemExit(f"{args.out}: no labelled frame in a *{args.suffix} NIfTI image beside an image under the run's inputs; {hint}")
    dice = np.array([d for _, d, _ in rows])
    states = [state for *_, state in rows]
    print(
        f"{len(rows)} labelled frames: {states.count('contours')} with contours, {states.count('none')} without, "
        f"{states.count('no row')} not analysed; myocardium Dice mean {dice.mean():.3f}, median {np.median(dice):.3f}"
    )
    for what, d, state in sorted(rows, key=lambda r: r[1])[:5]:
        print(f"  {d:.3f}  {what}" + ("" if state == "contours" else f"  ({state})"))


if __name__ == "__main__":
    main()
