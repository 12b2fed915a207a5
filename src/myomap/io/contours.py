"""Contours in the paper's JSON interchange format.

Coordinates are pixels of the image they belong to, ``x`` = column and
``y`` = row, the centre of the top-left pixel at (0, 0) (OpenCV's
convention).  Optional keys: ``rv_insertion_x``/``rv_insertion_y`` (the
anterior RV insertion point) and ``pixel_spacing_mm`` ([row, col]).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from myomap.io.files import atomic_write_text


class ContourError(ValueError):
    """A contours file that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class Contours:
    """Epi- and endocardial contours of one image as ordered (n, 2) arrays of pixel (x, y)."""

    epi: np.ndarray
    endo: np.ndarray
    rv_insertion: tuple[float, float] | None = None
    spacing_mm: tuple[float, float] | None = None

    def to_json_dict(self) -> dict:
        out: dict = {
            "epicardial_contours_x": _round(self.epi[:, 0]),
            "epicardial_contours_y": _round(self.epi[:, 1]),
            "endocardial_contours_x": _round(self.endo[:, 0]),
            "endocardial_contours_y": _round(self.endo[:, 1]),
        }
        if self.rv_insertion is not None:
            out["rv_insertion_x"], out["rv_insertion_y"] = (round(float(c), 4) for c in self.rv_insertion)
        if self.spacing_mm is not None:
            out["pixel_spacing_mm"] = [round(float(s), 6) for s in self.spacing_mm]
        return out


def _round(values: np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in values]


def write_contours(path: str | Path, contours: Contours) -> None:
    """Write contours as JSON (atomically: a temporary file renamed into place)."""
    atomic_write_text(Path(path), json.dumps(contours.to_json_dict(), separators=(",", ":")))


def read_contours(path: str | Path) -> Contours:
    """Read and validate a contours JSON file.

    Raises
    ------
    ContourError
        Missing file or key, unreadable JSON, x and y of different length,
        fewer than three points, or non-finite coordinates.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ContourError(f"{path}: contours file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContourError(f"{path}: not a readable contours JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ContourError(f"{path}: expected a JSON object with contour keys")
    epi = _points(data, "epicardial", path)
    endo = _points(data, "endocardial", path)
    rv = None
    if "rv_insertion_x" in data and "rv_insertion_y" in data:
        rv = (float(data["rv_insertion_x"]), float(data["rv_insertion_y"]))
    spacing = data.get("pixel_spacing_mm")
    if spacing is not None:
        spacing = (float(spacing[0]), float(spacing[1]))
    return Contours(epi=epi, endo=endo, rv_insertion=rv, spacing_mm=spacing)


def _points(data: dict, name: str, path: Path) -> np.ndarray:
    kx, ky = f"{name}_contours_x", f"{name}_contours_y"
    if kx not in data or ky not in data:
        raise ContourError(f"{path}: missing key {kx if kx not in data else ky}")
    try:
        x = np.asarray(data[kx], dtype=float).ravel()
        y = np.asarray(data[ky], dtype=float).ravel()
    except (TypeError, ValueError):
        raise ContourError(f"{path}: {name} coordinates are not numbers") from None
    if x.size != y.size:
        raise ContourError(f"{path}: {name} contour has {x.size} x but {y.size} y values")
    if x.size < 3:
        raise ContourError(f"{path}: {name} contour has {x.size} points, at least 3 are needed")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ContourError(f"{path}: {name} contour has non-finite coordinates")
    return np.column_stack([x, y])
