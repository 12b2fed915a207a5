"""From a data set to network inputs: normalisation, square padding, resizing, splits.

Normalisation is by rank: every pixel is replaced by the fraction of the
image's pixels below it (the empirical CDF).  That works for maps in ms and
weighted images in arbitrary units alike and is unchanged by any monotonic
change of the value scale (field strength, vendor scaling, windowing), so
a model does not learn one scanner's numbers.  Images are padded to a
square (keeping the aspect ratio, and so the anatomy's shape), optionally
cropped to a centred square holding ``crop`` of its side (the paper's fixed
crop at inference: short-axis slices are planned with the heart near the
centre), and resized to the network input; :func:`to_native` undoes all
three, with background outside the crop.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from myomap.geometry.masks import contours_to_mask
from myomap.io.dataset import SPLITS, ManifestRow, MapImage, read_manifest
from myomap.io.files import atomic_write_text

NORMALISATION = {"method": "rank"}

log = logging.getLogger(__name__)


MIN_SIDE = 32  # pixels a side below which no model segments an image


def check_image(image: np.ndarray) -> None:
    """ValueError for images no model can segment: not 2-D, or under ``MIN_SIDE`` pixels a side."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {image.shape}")
    if min(image.shape) < MIN_SIDE:
        raise ValueError(f"image of {image.shape[0]}x{image.shape[1]} pixels is too small (at least {MIN_SIDE} per side)")


def normalise(image: np.ndarray) -> np.ndarray:
    """Rank normalisation to [0, 1) (float32); ties share the lower rank.

    Raises ValueError for NaN pixels or a constant image, which carry no
    information to segment.
    """
    image = np.asarray(image, dtype=np.float32)
    if not np.all(np.isfinite(image)):
        raise ValueError("image contains NaN or infinite pixels")
    flat = image.ravel()
    ordered = np.sort(flat)
    if ordered[0] == ordered[-1]:
        raise ValueError("image has a single constant value")
    return (np.searchsorted(ordered, flat, side="left") / flat.size).astype(np.float32).reshape(image.shape)


@dataclass(frozen=True)
class Geometry:
    """How a native image was padded, cropped and resized: enough to map a prediction back."""

    shape: tuple[int, int]
    pad: tuple[int, int]  # rows added on top, columns added on the left
    side: int  # side of the padded square
    start: int  # first row and column of the centred crop in the padded square
    crop_side: int


def to_input(image: np.ndarray, size: int, *, crop: float = 1.0, interpolation: int = cv2.INTER_AREA) -> tuple[np.ndarray, Geometry]:
    """Pad to a square (zeros, centred), keep the centred ``crop`` of its side, resize to ``size`` × ``size``."""
    rows, cols = image.shape
    side = max(rows, cols)
    top, left = (side - rows) // 2, (side - cols) // 2
    square = np.zeros((side, side), dtype=image.dtype)
    square[top : top + rows, left : left + cols] = image
    crop_side = max(1, min(side, int(round(side * crop))))
    start = (side - crop_side) // 2
    square = square[start : start + crop_side, start : start + crop_side]
    if interpolation != cv2.INTER_NEAREST and crop_side <= size:
        interpolation = cv2.INTER_LINEAR  # INTER_AREA is for shrinking
    resized = cv2.resize(np.ascontiguousarray(square), (size, size), interpolation=interpolation)
    return resized, Geometry((rows, cols), (top, left), side, start, crop_side)


def points_to_input(xy: np.ndarray, geometry: Geometry, size: int) -> np.ndarray:
    """Native (x, y) pixel coordinates -> coordinates on the ``size`` × ``size`` network grid.

    Uses the pixel-centre convention of ``cv2.resize`` (the centre of pixel
    ``i`` sits at ``i``), so a contour rasterised on the network grid lines
    up with the resized image.
    """
    top, left = geometry.pad
    offset = np.array([left - geometry.start, top - geometry.start], dtype=float)
    return (np.asarray(xy, dtype=float) + offset + 0.5) * (size / geometry.crop_side) - 0.5


def to_native(channels: np.ndarray, geometry: Geometry, *, outside: np.ndarray | None = None) -> np.ndarray:
    """Map (C, size, size) maps (e.g. class probabilities) back to the native (C, rows, cols) grid.

    Pixels outside the crop get ``outside`` (one value per channel; zeros by default).
    """
    g = geometry
    square = np.zeros((len(channels), g.side, g.side), dtype=np.float32)
    if outside is not None:
        square[:] = np.asarray(outside, dtype=np.float32)[:, None, None]
    square[:, g.start : g.start + g.crop_side, g.start : g.start + g.crop_side] = np.stack(
        [cv2.resize(c, (g.crop_side, g.crop_side), interpolation=cv2.INTER_LINEAR) for c in channels]
    )
    top, left = g.pad
    return square[:, top : top + g.shape[0], left : left + g.shape[1]]


@dataclass(frozen=True)
class Sample:
    """One training image at network size with its reference label mask."""

    image: np.ndarray  # (size, size) float32, normalised
    mask: np.ndarray  # (size, size) uint8
    role: str
    map_type: str
    slice: str
    subject: str
    dataset: int = 0


def nan_as_zero(image: np.ndarray) -> np.ndarray:
    """The image with NaN and infinite pixels (failed fits, a masked background) at 0, as share-of-image models see them.

    Raises ValueError when no pixel is finite.
    """
    finite = np.isfinite(image)
    if not finite.any():
        raise ValueError("image contains only NaN or infinite pixels")
    return image if finite.all() else np.where(finite, image, np.float32(0.0))


def make_sample(image: MapImage, size: int, crop: float = 1.0, dataset: int = 0) -> Sample:
    """Normalise, pad, crop and resize an image; its reference mask is rasterised on the network grid.

    The mask is drawn from the contours moved to network coordinates rather
    than resized from the native mask: nearest-neighbour resizing shifts and
    blocks the borders (on the phantom a native -> network -> native round
    trip keeps only 0.95 Dice), which the network would learn as label noise.
    Raises ValueError for unusable pixels.
    """
    pixels, geometry = to_input(normalise(nan_as_zero(image.pixels)), size, crop=crop)
    reference = image.contours["reference"]
    mask = contours_to_mask(points_to_input(reference.epi, geometry, size), points_to_input(reference.endo, geometry, size), (size, size))
    return Sample(pixels, mask, image.role, image.map_type, image.slice, image.subject, dataset)


class SplitError(ValueError):
    """A manifest whose ``split`` column cannot be used; the message names the file, the subject and the lines."""


def patient_split(
    data: str | Path, shares: tuple[float, float, float], seed: int, saved: Path, earlier: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Subject -> train/val/test.

    A subject whose manifest rows give a ``split`` keeps it (rows with an
    empty cell say nothing); a subject named in ``earlier`` (the splits of
    the data sets before this one in a run) keeps that split, so that a
    patient in two data sets (T1 and T2 imported apart) is never trained on
    in one and validated on in the other; the other subjects are split
    among themselves by a seeded patient-level draw with ``shares`` (train,
    val, test).  The result is written to ``saved`` and read back from
    there on later calls (resume), so it never changes within a run.

    Raises
    ------
    SplitError
        A ``split`` value other than train, val or test, or one subject
        whose rows give two different values.
    """
    if saved.exists():
        return {row["subject"]: row["split"] for row in csv.DictReader(saved.open())}
    rows, _ = read_manifest(data)
    subjects = sorted({r.subject for r in rows})
    given = given_split(rows, _manifest_name(data))
    earlier = earlier or {}
    shared = {s: earlier[s] for s in subjects if s in earlier and s not in given}
    rest = [s for s in subjects if s not in given and s not in shared]
    split = {**given, **shared, **_seeded_split(rest, shares, seed, shared)}
    total = sum(shares)
    log.info(
        "%s: split of %d subject(s): %d given by the manifest's split column, %s%d drawn (seed %d, shares %s)",
        _manifest_name(data),
        len(subjects),
        len(given),
        f"{len(shared)} as in an earlier data set, " if shared else "",
        len(rest),
        seed,
        "/".join(f"{s / total:.2f}" for s in shares),
    )
    if clash := sorted(s for s in given if s in earlier and earlier[s] != given[s]):
        log.warning(
            "%s: the split column puts %s in another split than an earlier data set of the run; if they are the same patients, "
            "they are trained on and evaluated on",
            _manifest_name(data),
            ", ".join(f"{s} ({given[s]}, earlier {earlier[s]})" for s in clash[:5]) + (" ..." if len(clash) > 5 else ""),
        )
    lines = ["subject,split"] + [f"{s},{split[s]}" for s in sorted(split)]
    atomic_write_text(saved, "\n".join(lines) + "\n")
    return split


def given_split(rows: list[ManifestRow], manifest: str = "manifest.csv") -> dict[str, str]:
    """Subject -> split for the subjects whose rows give one; SplitError for an unknown value or disagreeing rows."""
    first: dict[str, ManifestRow] = {}
    for row in rows:
        if not row.split:
            continue
        if row.split not in SPLITS:
            raise SplitError(f"{manifest} line {row.line}: split {row.split!r} is not one of {', '.join(SPLITS)}")
        seen = first.setdefault(row.subject, row)
        if seen.split != row.split:
            raise SplitError(
                f"{manifest}: subject {row.subject!r} is in split {seen.split!r} on line {seen.line} and {row.split!r} on line "
                f"{row.line}; a patient's images must all be in one split"
            )
    return {subject: row.split for subject, row in first.items()}


def _seeded_split(
    subjects: list[str], shares: tuple[float, float, float], seed: int, placed: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A seeded patient-level split of ``subjects`` (sorted) with ``shares`` (train, val, test), rounded per split.

    ``placed`` (subject -> split) are subjects of the same data set whose
    split an earlier data set decided: they count toward the shares, so
    that the data set as a whole keeps them (a later data set whose default
    ``patient-01``... names another data set's is not left without test
    subjects).
    """
    order = np.random.default_rng(seed).permutation(len(subjects))
    total = sum(shares)
    counts = Counter((placed or {}).values())
    everyone = len(subjects) + counts.total()
    n_test = max(0, int(round(shares[2] / total * everyone)) - counts["test"])
    n_val = max(0, int(round(shares[1] / total * everyone)) - counts["val"])
    return {subjects[index]: "test" if rank < n_test else "val" if rank < n_test + n_val else "train" for rank, index in enumerate(order)}


def _manifest_name(data: str | Path) -> str:
    path = Path(data)
    return str(path / "manifest.csv" if path.is_dir() else path)
