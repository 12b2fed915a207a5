"""Every map shown to the network as the standard short-axis display shows it, whatever way it is stored.

Scanners and converters store one slice with its rows and columns in any
of eight ways (turned by quarter turns, mirrored or not).  The network's
test-time augmentation (:data:`myomap.model.inference.TTA_TURNED`) uses
four of the eight views, each with its own intensity change, so the
consensus of a slice depended on how it was stored: on phantom maps
rewritten with their header kept true, a basal slice's contour spread
moved across the review threshold and its basal segments were reported
or not (0-90 ms apart in segment 1) with the storage alone.

:func:`standard_view` turns a map with a known orientation into the
display the SCMR recommends (seen from the apex, anterior up, within 45
degrees), so that the network sees the same pixels however the map was
stored; :func:`to_view` and :func:`from_view` carry images, points and
predictions there and back exactly (quarter turns and mirrors permute
pixels, nothing is resampled).  A map without an orientation is shown as
stored.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from myomap.quantify.reference import ANTERIOR_LPS, projected_angle


@dataclass(frozen=True)
class View:
    """Mirror left to right first (when the image is seen from the base), then ``turns`` quarter turns counter-clockwise."""

    turns: int = 0
    mirror: bool = False


def standard_view(orientation: tuple[float, ...] | None, clockwise: bool) -> View:
    """The view that shows a map seen from the apex with the patient's anterior up (within 45 degrees).

    ``clockwise`` says the stored image is seen from the base
    (:func:`myomap.geometry.aha.segments_run_clockwise`).

    >>> standard_view((1.0, 0.0, 0.0, 0.0, 1.0, 0.0), False), standard_view((0.0, 1.0, 0.0, 1.0, 0.0, 0.0), True)
    (View(turns=0, mirror=False), View(turns=1, mirror=True))
    """
    if orientation is None:
        return View()
    anterior = projected_angle(ANTERIOR_LPS, orientation)
    if anterior is None:  # anterior along the normal: no up to turn to
        return View(0, clockwise)
    if clockwise:
        anterior = 180.0 - anterior  # a left-right mirror
    turns = int(round(((90.0 - anterior) % 360.0) / 90.0)) % 4
    return View(turns, clockwise)


def to_view(image: np.ndarray, view: View) -> np.ndarray:
    """``image`` (..., rows, cols) as ``view`` shows it (``image`` itself when the view is the stored one)."""
    if view == View():
        return image
    shown = image[..., ::-1] if view.mirror else image
    return np.ascontiguousarray(np.rot90(shown, view.turns, axes=(-2, -1)))


def from_view(image: np.ndarray, view: View) -> np.ndarray:
    """An image (..., rows, cols) on ``view`` back on the stored grid."""
    back = np.rot90(image, -view.turns, axes=(-2, -1))
    return np.ascontiguousarray(back[..., ::-1] if view.mirror else back)


def spacing_in_view(spacing_mm: tuple[float, float], view: View) -> tuple[float, float]:
    """The (row, col) pixel size on ``view``: an odd number of quarter turns swaps them."""
    return (spacing_mm[1], spacing_mm[0]) if view.turns % 2 else spacing_mm


def point_in_view(xy: tuple[float, float], shape: tuple[int, int], view: View) -> tuple[float, float]:
    """The pixel point (x, y) of the stored image of ``shape`` (rows, cols) on ``view``.

    >>> point_in_view((1.0, 0.0), (2, 3), View(1, False)), point_in_view((1.0, 0.0), (2, 3), View(0, True))
    ((0.0, 1.0), (1.0, 0.0))
    """
    x, y = xy
    rows, cols = shape
    if view.mirror:
        x = cols - 1 - x
    for _ in range(view.turns):  # one turn counter-clockwise: column c of row r lands at row (cols - 1 - c), column r
        x, y, rows, cols = y, cols - 1 - x, cols, rows
    return float(x), float(y)


def prediction_from_view(prediction, view: View):
    """A :class:`~myomap.model.inference.Prediction` made on ``view``, on the stored grid (None stays None)."""
    if prediction is None or view == View():
        return prediction
    back = {"probabilities": from_view(prediction.probabilities, view), "labels": from_view(prediction.labels, view)}
    if prediction.uncertainty is not None:
        back["uncertainty"] = from_view(prediction.uncertainty, view)
    return replace(prediction, **back, members=tuple(from_view(m, view) for m in prediction.members))
