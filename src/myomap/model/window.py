"""Physical windows: the square patch of an image the network sees, at a fixed pixel size in mm.

A window is ``size`` × ``size`` pixels of ``spacing_mm`` each, centred on a
point of the native image, optionally rotated and mirrored.  One affine
matrix maps window pixels to native pixels; it is used to cut the window
out of the image (:func:`cut_window`), to map points into the window
(:func:`points_to_window`, for training masks) and to bring class
probabilities back to the native grid (:func:`window_to_native`).  Training
and inference share these functions, so what the network learnt is exactly
what it is shown.

Pixel coordinates follow docs/contours.md: x = column, y = row, the centre of the
top-left pixel at (0, 0); native spacing is ``(row_mm, col_mm)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Window:
    """Where a window sits in a native image.

    ``centre_xy`` is in native pixels; ``angle_deg`` rotates the window
    counter-clockwise on screen; ``mirror`` flips it left-right before the
    rotation.  ``native_spacing_mm`` is ``(row_mm, col_mm)`` of the image.
    ``stretch`` (training only; 1 at inference) scales the window's extent
    along the screen direction ``stretch_axis_deg``, so the anatomy in the
    window looks squeezed or stretched along it (an elliptical LV).
    """

    centre_xy: tuple[float, float]
    native_spacing_mm: tuple[float, float]
    native_shape: tuple[int, int]
    spacing_mm: float
    size: int
    angle_deg: float = 0.0
    mirror: bool = False
    stretch: float = 1.0
    stretch_axis_deg: float = 0.0

    def matrix(self) -> np.ndarray:
        """2 × 3 affine matrix from window (x, y) pixels to native (x, y) pixels."""
        a = np.deg2rad(self.angle_deg)
        rotation = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
        flip = np.diag([-1.0 if self.mirror else 1.0, 1.0])
        to_native_px = np.diag([1.0 / self.native_spacing_mm[1], 1.0 / self.native_spacing_mm[0]])
        linear = to_native_px @ _stretch(self.stretch, self.stretch_axis_deg) @ rotation @ flip * self.spacing_mm
        half = (self.size - 1) / 2.0
        offset = np.asarray(self.centre_xy, dtype=float) - linear @ np.array([half, half])
        return np.column_stack([linear, offset])

    @property
    def downsampling(self) -> float:
        """Native pixels per window pixel along the finer native axis (> 1 when the window is coarser)."""
        return self.spacing_mm / min(self.native_spacing_mm)


def _stretch(factor: float, axis_deg: float) -> np.ndarray:
    """2 x 2 scaling by ``factor`` along the screen direction ``axis_deg`` (identity for 1)."""
    if factor == 1.0:
        return np.eye(2)
    a = np.deg2rad(axis_deg)
    axis = np.array([np.cos(a), -np.sin(a)])  # screen angles: y runs down
    return np.eye(2) + (factor - 1.0) * np.outer(axis, axis)


def whole_image_window(shape: tuple[int, int], spacing_mm: tuple[float, float], size: int, min_spacing_mm: float) -> Window:
    """A window that holds the whole field of view, at ``min_spacing_mm`` or coarser."""
    fov_mm = max(shape[0] * spacing_mm[0], shape[1] * spacing_mm[1])
    centre = ((shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0)
    return Window(centre, tuple(spacing_mm), tuple(shape), max(fov_mm / size, min_spacing_mm), size)


def cut_window(image: np.ndarray, window: Window, *, interpolation: int = cv2.INTER_LINEAR) -> tuple[np.ndarray, np.ndarray]:
    """The window's pixels (float32) and a boolean mask of those that lie inside the native image.

    NaN and infinite pixels (failed fits) count as outside.  When the
    window is coarser than the image, the image is first smoothed with a
    Gaussian of about half a window pixel, so that fine texture (noise,
    speckle) does not alias into the coarse view.
    """
    source = np.asarray(image, dtype=np.float32)
    finite = np.isfinite(source)
    source = np.where(finite, source, 0.0).astype(np.float32)
    factor = window.downsampling
    if interpolation == cv2.INTER_LINEAR and factor > 1.5:
        sigma_x = 0.4 * window.spacing_mm / window.native_spacing_mm[1]
        sigma_y = 0.4 * window.spacing_mm / window.native_spacing_mm[0]
        source = cv2.GaussianBlur(source, (0, 0), sigmaX=sigma_x, sigmaY=sigma_y)
    flags = interpolation | cv2.WARP_INVERSE_MAP
    size = (window.size, window.size)
    pixels = cv2.warpAffine(source, window.matrix(), size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    inside = cv2.warpAffine(finite.astype(np.uint8), window.matrix(), size, flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderValue=0)
    return pixels, inside.astype(bool)


def points_to_window(xy: np.ndarray, window: Window) -> np.ndarray:
    """Native (x, y) pixel coordinates -> window pixel coordinates."""
    inverse = cv2.invertAffineTransform(window.matrix())
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    return xy @ inverse[:, :2].T + inverse[:, 2]


def points_to_native(xy: np.ndarray, window: Window) -> np.ndarray:
    """Window (x, y) pixel coordinates -> native pixel coordinates."""
    matrix = window.matrix()
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    return xy @ matrix[:, :2].T + matrix[:, 2]


def window_to_native(channels: np.ndarray, window: Window, *, outside: np.ndarray | None = None) -> np.ndarray:
    """Map (C, size, size) window maps (e.g. class probabilities) to the native (C, rows, cols) grid.

    Native pixels outside the window get ``outside`` (one value per channel; zeros by default).
    """
    rows, cols = window.native_shape
    outside = np.zeros(len(channels), np.float32) if outside is None else np.asarray(outside, np.float32)
    out = np.empty((len(channels), rows, cols), np.float32)
    for c, channel in enumerate(channels):
        out[c] = cv2.warpAffine(
            np.ascontiguousarray(channel, dtype=np.float32), window.matrix(), (cols, rows),
            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=float(outside[c]),
        )  # fmt: skip
    return out


def normalise_inside(pixels: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Rank normalisation of the pixels inside the image (see :func:`myomap.model.data.normalise`); 0 outside.

    Raises ValueError when the window holds no image, NaN pixels or a single value.
    """
    from myomap.model.data import normalise

    out = np.zeros(pixels.shape, np.float32)
    if not inside.any():
        raise ValueError("the window holds no image pixels")
    out[inside] = normalise(pixels[inside])
    return out


BLANK_MIN_SHARE = 0.02
"""A value (the image's lowest, highest or most common) held by at least this share of the pixels can be a blanked region."""
BLANK_MIN_SOLID = 0.5
"""... when at least this share of those pixels has its four neighbours (or the image edge) at the same value: a solid region."""
PICTURE_MAX_LEVELS = 256
"""An image with at most this many distinct values is a picture (an 8-bit export through a display window): its top
value is saturation (blood pool and fat), never a marker of failed fits."""


def is_picture(values: np.ndarray) -> bool:
    """Whether the finite ``values`` take at most :data:`PICTURE_MAX_LEVELS` distinct values (an 8-bit export)."""
    return np.unique(values[np.isfinite(values)]).size <= PICTURE_MAX_LEVELS


def fill_blank_regions(image: np.ndarray, seed: int = 0) -> np.ndarray:
    """The image with solid regions of its lowest, highest or most common value replaced by speckle, as the network saw lungs and air.

    Some vendors blank the background of a map (a signal threshold on the
    source images) or store failed fits at the top of the range as one
    solid region; the phantom's maps, on which the network learned, have
    fit speckle there (single pixels at 0 or at the top mixed with random
    values: under 10 % of them have four neighbours of the same value,
    against about 90 % in a blanked region).  A blanked region's pixels
    (those connected to its solid part; scattered pixels of the same value
    elsewhere stay) are replaced by uniform random values between 0 and twice the 99th
    percentile of the other pixels, as the training's synthetic speckle
    (:func:`myomap.model.synth.speckle`); the seed makes it repeatable.
    On the robustness benchmark's maps with blanked or top-valued lungs and
    air this took the myocardium Dice from 0.877 to 0.915.  On a picture
    (at most :data:`PICTURE_MAX_LEVELS` values: a display-windowed 8-bit
    export) a plateau at the highest value is saturation and stays: with
    the window's top at 1.3 times the myocardium's value the saturated
    blood pool used to be speckled, and the Dice fell to 0.734.  Written here:
    no imaging library treats blanked plateaus.  NaN pixels are left as
    they are.

    >>> image = np.tile(np.arange(8, dtype=np.float32) + 1, (8, 1))
    >>> image[:, :4] = 0.0  # a blanked half
    >>> filled = fill_blank_regions(image)
    >>> bool((filled[:, :4] > 0).all()), bool((filled[:, 4:] == image[:, 4:]).all())
    (True, True)
    >>> speckled = np.where(np.arange(64).reshape(8, 8) % 3 == 0, 0.0, image + 1)  # scattered zeros stay
    >>> bool((fill_blank_regions(speckled) == speckled).all())
    True
    """
    values = np.asarray(image, np.float32)
    finite = np.isfinite(values)
    if finite.sum() < 2:
        return values
    kept = values[finite]
    levels, counts = np.unique(kept, return_counts=True)
    blank = np.zeros(values.shape, bool)
    for value in {float(levels[0]), float(levels[-1]), float(levels[np.argmax(counts)])}:  # a stray value may undercut a 0 background
        if value == levels[-1] and levels.size <= PICTURE_MAX_LEVELS:
            continue  # a picture's saturated top (a windowed export's blood pool), no marker of failed fits
        blank |= _solid_region(values, finite, value)
    if not blank.any() or blank.sum() == finite.sum():
        return values
    top = 2.0 * float(np.percentile(values[finite & ~blank], 99))
    out = values.copy()
    out[blank] = np.random.default_rng(seed).uniform(0.0, max(top, 1e-6), int(blank.sum()))
    return out


def _solid_region(values: np.ndarray, finite: np.ndarray, value: float) -> np.ndarray:
    """The pixels at ``value`` connected to its solid part, when that makes a blanked region (else none)."""
    from scipy import ndimage

    same = finite & (values == value)
    solid = ndimage.binary_erosion(same, border_value=1)
    if same.sum() >= BLANK_MIN_SHARE * finite.sum() and solid.sum() >= BLANK_MIN_SOLID * same.sum():
        return ndimage.binary_propagation(solid, mask=same)  # the solid region and its rim, not scattered pixels
    return np.zeros(values.shape, bool)


FAILED_FIT_TISSUE_SPREAD = 0.5
"""A failed-fit pixel is filled when the interquartile range of its valid 5 x 5 neighbours is at most this share of their
median: it lies in tissue (or between blood and myocardium, 0.45), not in the lung and air speckle (about 1)."""
FAILED_FIT_MIN_NEIGHBOURS = 8
"""... and has at least this many valid neighbours to take the median of ..."""
FAILED_FIT_MAX_DENSITY = 0.35
"""... and when at most this share of its 5 x 5 neighbourhood (itself included) failed: a plateau at the top (a saturated
blood pool, a solid region of failures) stays."""
FAILED_FIT_PASSES = 3
"""The fill is repeated up to this many times, the pixels filled counting as valid in the next pass, so that touching or
elongated clumps of failures too dense at first fill from their rim inward (five-pixel crosses on 5 % of the wall: Dice
0.684 with one pass, 0.811 with three).  A compact block of 3 x 3 failures or more never fills: every pixel of it sees
over :data:`FAILED_FIT_MAX_DENSITY` failed, as at a plateau's corner."""


def fill_failed_fits(image: np.ndarray) -> np.ndarray:
    """The image with failed-fit pixels inside tissue replaced by the median of their valid neighbours.

    A pixel-wise fit that fails stores its pixel as NaN (research
    pipelines, myomap's own fits, float DICOM and NIfTI maps) or, on many
    scanners, at the map's top value (4095 ms), where its lung and air
    failures lie, or at 0.  In the lung the network learned such pixels as
    speckle; in the myocardium it never saw them, and on the robustness
    probes 5 % of the wall's pixels at the top cost 0.12 Dice and 20 % lost
    the LV on most maps.  A failure is a NaN or infinite pixel or, on an
    image that is no picture (:func:`is_picture`), a pixel at the image's
    top value (held by at least two pixels) or at its lowest value or 0
    where that value also blanks a solid region (:func:`fill_blank_regions`:
    the vendor marks pixels without a value so).  It is filled when at most
    :data:`FAILED_FIT_MAX_DENSITY` of its 5 x 5 neighbourhood failed and the
    others, at least :data:`FAILED_FIT_MIN_NEIGHBOURS`, have an
    interquartile range of at most :data:`FAILED_FIT_TISSUE_SPREAD` of their
    median: tissue, not speckle; up to :data:`FAILED_FIT_PASSES` times,
    so that touching and elongated clumps fill from their rim inward.
    Other failures stay as they are (NaN included).  Zeros on a map
    without a blanked region stay: there a zero is also dark tissue or
    noise clipped at 0, and filling every zero cost the probe's noisy T2
    maps (14-93 % of the myocardium) 0.02 Dice and drew a ring on a
    heart-free map (the model card's probes).  The
    values measured later come from the image as it is (the QC counts its
    failed fits).  Written here: no imaging library fills fit failures.

    >>> tissue = 1000.0 + np.arange(400, dtype=np.float32).reshape(20, 20) / 10  # smooth, 400 values: no picture
    >>> tissue[10, 10] = tissue[0, 0] = 4095.0
    >>> tissue[5, 5] = np.nan
    >>> rng = np.random.default_rng(0)  # lung speckle: random values, 40 % of them at 0 or the top
    >>> speckle = np.where(rng.random((20, 20)) < 0.4, rng.choice([0.0, 4095.0], (20, 20)), rng.uniform(0, 4095, (20, 20))).astype(np.float32)
    >>> filled = fill_failed_fits(np.hstack([tissue, speckle]))
    >>> round(float(filled[10, 10])), round(float(filled[5, 5])), bool(filled[:, :20].max() < 4095)  # the tissue's failures filled
    (1021, 1010, True)
    >>> failures, changed = speckle[:, 2:] == 4095, filled[:, 22:] != speckle[:, 2:]
    >>> int(failures.sum()), int(changed.sum())  # none of the speckle's here
    (68, 0)
    """
    from scipy import ndimage

    values = np.asarray(image, np.float32)
    finite = np.isfinite(values)
    if finite.sum() < 2:
        return values
    failed = ~finite
    if not is_picture(values):
        top = finite & (values == values[finite].max())
        if np.count_nonzero(top) >= 2:
            failed |= top
        for marker in {float(values[finite].min()), 0.0}:  # 0 too: a stray negative pixel may undercut a background at 0
            if _solid_region(values, finite, marker).any():  # the vendor's mark of no value (a blanked background)
                failed |= finite & (values == marker)
    if not failed.any():
        return values
    out = values.copy()
    for _ in range(FAILED_FIT_PASSES):
        # The lung and air speckle is dense in failures, a failing wall sparse (5-20 % on the probes).
        sparse = ndimage.uniform_filter(failed.astype(np.float32), 5, mode="constant") <= FAILED_FIT_MAX_DENSITY
        candidates = failed & sparse
        if not candidates.any():
            break
        valid = np.where(~failed, out, np.nan)
        windows = np.lib.stride_tricks.sliding_window_view(np.pad(valid, 2, constant_values=np.nan), (5, 5))
        neighbours = np.sort(windows[candidates].reshape(-1, 25), axis=1)  # NaN last
        count = np.count_nonzero(np.isfinite(neighbours), axis=1)
        at = [(q * (count - 1)).astype(int)[:, None] for q in (0.25, 0.5, 0.75)]  # quartiles of the finite values (0 when none)
        low, median, high = (np.take_along_axis(neighbours, k, 1)[:, 0] for k in at)
        tissue = (count >= FAILED_FIT_MIN_NEIGHBOURS) & (high - low <= FAILED_FIT_TISSUE_SPREAD * np.abs(median))
        if not tissue.any():
            break
        rows, cols = np.nonzero(candidates)
        out[rows[tissue], cols[tissue]] = median[tissue]
        failed[rows[tissue], cols[tissue]] = False
    return out


def as_network_sees(image: np.ndarray) -> np.ndarray:
    """A native image as the network is shown it, at inference and on training views of real images.

    Failed fits in tissue take the tissue's value (:func:`fill_failed_fits`),
    the other NaN and infinite pixels (a masked background, failures in the
    lung) become 0, and then blanked regions become speckle
    (:func:`fill_blank_regions`), so that a background masked with NaN
    looks like one blanked at 0.  In that order: the speckle of a blanked
    region reaches up to twice the other pixels' 99th percentile, so the
    top value would no longer mark the failures.
    """
    filled = fill_failed_fits(image)
    return fill_blank_regions(np.where(np.isfinite(filled), filled, np.float32(0.0)))
