"""Score the contours of a ``myomap analyze`` run on NIfTI images against the label images beside them.

Public cine data sets with expert contours ship each image with its labels
in a file of the same name plus ``_gt`` (ACDC: ``patient001_frame01.nii.gz``
and ``patient001_frame01_gt.nii.gz``; M&Ms: ``A0S9V9_sa.nii.gz`` and
``A0S9V9_sa_gt.nii.gz``, a 4-D cine labelled at end-diastole and
end-systole).  For every row of ``OUT/slices.csv`` whose source is such a
NIfTI file (run ``analyze`` with ``--keep-phi``: ``source`` is then
``input-K/<path in input K>``, and ``run.json`` lists the inputs), the label image's slice ``frame`` and phase ``phase`` is compared
with the contours ``analyze`` wrote (``contours.json``, filled as
:func:`myomap.geometry.masks.contours_to_mask` fills them), where the
expert labelled any myocardium: myocardium Dice per frame, a frame without
contours counting 0.  Prints the number of frames scored, the share with
contours, the mean and median Dice, and the lowest frames.

The myocardium's label value is 2 in ACDC and M&Ms (``--myocardium``).

Usage: python benchmarks/label_dice.py OUT [--myocardium 2] [--suffix _gt]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import nibabel
import numpy as np

from myomap.conventions import MYOCARDIUM
from myomap.geometry.masks import contours_to_mask
from myomap.io.contours import read_contours
from myomap.io.nifti import is_nifti


def label_path(source: Path, suffix: str) -> Path:
    """``x.nii.gz`` -> ``x<suffix>.nii.gz`` (and ``.nii`` alike)."""
    name = source.name
    ext = ".nii.gz" if name.lower().endswith(".nii.gz") else ".nii"
    return source.with_name(name[: -len(ext)] + suffix + ext)


def source_path(source: str, inputs: list[str]) -> Path | None:
    """The file a ``slices.csv`` source names (``input-K/...``), from the run's inputs; None when it names none."""
    head, _, rest = source.partition("/")
    if not head.startswith("input-") or not head[6:].isdigit() or not 1 <= int(head[6:]) <= len(inputs):
        return None
    root = Path(inputs[int(head[6:]) - 1])
    return root / rest if root.is_dir() else root


def score(out: Path, myocardium: int, suffix: str) -> list[tuple[str, float, bool]]:
    """``(what, Dice, has contours)`` for every labelled frame of the run in ``out``."""
    inputs = json.loads((out / "run.json").read_text())["inputs_seen"].get("paths", [])
    rows, labels = [], {}
    for row in csv.DictReader((out / "slices.csv").open(newline="")):
        source = source_path(row["source"], inputs)
        if source is None or not is_nifti(source) or not row.get("frame"):
            continue
        path = label_path(source, suffix)
        if path not in labels:
            labels[path] = np.asarray(nibabel.load(path).dataobj) if path.is_file() else None
        volume = labels[path]
        if volume is None:
            continue
        volume = volume.reshape(volume.shape + (1,) * (4 - volume.ndim))
        expert = volume[:, :, int(row["frame"]), int(row["phase"] or 0)].T == myocardium
        if not expert.any():
            continue  # a phase or slice the expert did not label
        written = out / row["folder"] / "contours.json"
        what = f"{source.name} slice {row['frame']}" + (f" phase {row['phase']}" if row["phase"] else "")
        if not written.is_file():
            rows.append((what, 0.0, False))
            continue
        contours = read_contours(written)
        mine = contours_to_mask(contours.epi, contours.endo, expert.shape) == MYOCARDIUM
        rows.append((what, 2.0 * np.count_nonzero(mine & expert) / (np.count_nonzero(mine) + np.count_nonzero(expert)), True))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the output folder of `myomap analyze ... --keep-phi`")
    parser.add_argument("--myocardium", type=int, default=2, help="the myocardium's value in the label images (ACDC, M&Ms: 2)")
    parser.add_argument("--suffix", default="_gt", help="what the label image's name adds to the image's")
    args = parser.parse_args()
    rows = score(args.out, args.myocardium, args.suffix)
    if not rows:
        raise SystemExit(f"{args.out}: no NIfTI frame with a label image beside it (was analyze run with --keep-phi?)")
    dice = np.array([d for _, d, _ in rows])
    found = sum(has for _, _, has in rows)
    print(
        f"{len(rows)} labelled frames, {found / len(rows):.0%} with contours, myocardium Dice mean {dice.mean():.3f}, median {np.median(dice):.3f}"
    )
    for what, d, has in sorted(rows, key=lambda r: r[1])[:5]:
        print(f"  {d:.3f}  {what}" + ("" if has else "  (no contours)"))


if __name__ == "__main__":
    main()
