"""Myocardial T1/T2 values from contours: per slice and pooled per patient.

One slice gives tidy rows, one per region and erosion setting:

- ``global``: the whole myocardium, between the epi- and endocardial contours;
- ``segment_<n>``: each AHA segment of the slice's level (basal 1-6, mid
  7-12, apical 13-16), see :func:`myomap.geometry.aha.aha_segments`;
- ``septal``: the conservative septal ROI recommended by the SCMR (the
  mid-wall band of the septal segments, :func:`myomap.geometry.aha.septal_roi`);
- ``blood``: the LV blood pool away from papillary muscles and trabeculae
  (:func:`blood_pool_roi`: the cavity's core, without the pixels that look
  like muscle and a margin around them), once, as ``eroded`` True.

Each myocardial region comes twice, with ``eroded`` False (as drawn) and
True (without the partial-volume border, :data:`DEFAULT_EROSION_MARGIN_PX`).
Segments and the septal ROI need the AHA reference point (the anterior RV
insertion); without it only the ``global`` and ``blood`` rows are produced.

Pixels that are NaN, inf, <= 0 or outside ``valid_range_ms`` (a failed
fit, a scanner's clipped value) are missing: left out of every statistic and
counted in ``n_missing``.  A region with fewer than ``min_pixels`` usable
pixels has ``few_pixels`` True.

Patient values pool the *pixels* of a patient's slices of one map type and
contrast state (the median of all pixels, not of slice medians); the septal
ROI pools the mid slices only (basal without a mid slice), where the
SCMR/EACVI 2017 consensus places it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from myomap.geometry.aha import (
    FIRST_SEGMENT,
    aha_segments,
    eroded_myocardium,
    septal_roi,
)
from myomap.geometry.masks import blood_pool_core
from myomap.geometry.polygon import polygon_mask

DEFAULT_EROSION_MARGIN_PX = 1.0
"""Erosion of the myocardial ROI for the ``eroded=True`` rows, in pixels.

1.0 removes the myocardial pixels that touch the blood pool or the outside
of the epicardium along a row or a column: the one-pixel border where a
pixel mixes myocardium with blood or fat (partial volume), which pulls T1
and above all T2 upwards.  It is passed to
:func:`myomap.geometry.aha.eroded_myocardium` as ``margin_px``; for
anisotropic pixels the larger spacing is the pixel size.
"""

MUSCLE_MARGIN_MM = 2.5
"""Blood-pool pixels this close to muscle in the cavity (clear of its 1.5-pixel border) are left out (:func:`blood_pool_roi`).

A papillary muscle or a trabecula blurs into the blood around it (the
point-spread function, partial volume, slight misregistration of the
source images): on the phantom, blood T2 medians of slices with a
papillary muscle in the core were 3-9 % low with the geometric core alone.
"""

MIN_MUSCLE_CONTRAST_SD = 3.0
"""Muscle is looked for in the blood pool only when blood and myocardium differ by this many blood noise SDs.

Below that (a late post-contrast map, a noisy one) clumps of noise would
be taken for muscle and the margins around them would bias the median;
the geometric core is used as it is.
"""

MIN_BLOOD_LEVEL_CONTRAST_SD = 4.0
"""The second route to looking for muscle: the blood's own level (:func:`blood_level`) this many of its noise SDs from the myocardium.

For cores that muscle and its partial volume fill so far that the core's
median and MAD lie in the muscle.  The level's split moves about one SD
into pure noise, hence more than :data:`MIN_MUSCLE_CONTRAST_SD`: on pure
and on interpolated noise without contrast the ratio stayed under 2.  On
synthetic post-contrast cavities (blood 350 ms, myocardium and two
papillary muscles 500 ms, blurred by one pixel, noise SD 30 ms) muscle was
found on 9 of 20 against 2 of 20 with the core's median and MAD alone.
The cost is on maps whose neighbouring pixels share noise (interpolated)
at low contrast: with blood 2 noise SDs below the myocardium a small core
(69 pixels) shrank around clumps of noise on 9 % of such maps (4 % with
the first route alone), moving its median by 9 ms on average (noise SD
30 ms); without contrast, on 3 % (none).  ``benchmarks/blood_pool_calibration.py``
prints these figures.
"""

BLOOD_LIKE_SHARE = 0.75
"""A segment whose eroded median lies this share of the way or more from the slice's myocardial median to its blood
pool's is blood, not wall (:func:`blood_like_segments`).

A basal slice through the outflow tract has no wall where the tract opens:
the ring the contours close there holds blood, and a segment there took
the blood's value (on a phantom basal native T1 map, segment 1 at 1520 ms
with the blood at 1532 and the wall at 961, flagged "high").  Three
quarters of the way, not half: an acute infarct's native T1 (about 1200-1300 ms
at 1.5 T with MOLLI against 1000 in the wall and 1550 in the blood) stays
below it, and a T2 map's oedema (60-70 ms against 50 and about 200) far below.
"""
MIN_BLOOD_CONTRAST = 1.2
"""The blood pool's median over the myocardium's at which :func:`blood_like_segments` looks at all (bright blood)."""

MIN_REGION_PIXELS = 10
"""A region with fewer usable pixels than this is flagged ``few_pixels`` (its statistics are unstable)."""
VALID_RANGE_MS = {"T1": (50.0, 3500.0), "T2": (5.0, 500.0)}
"""Values a fitted map can hold in tissue, per map type (ms); outside, a pixel is a failed or clipped fit.

T1: post-contrast blood (about 250 ms) to native blood at 3 T (about
2000 ms) with room for noise; scanners store failed fits at their maximum
(4095, 5000 ms).  T2: myocardium (about 50 ms) to blood (about 250 ms at
1.5 T) with room for noise.
"""

STAT_KEYS = (
    "n_pixels",
    "n_missing",
    "mean_ms",
    "median_ms",
    "sd_ms",
    "q1_ms",
    "q3_ms",
    "iqr_ms",
)
_REGION_ORDER = {"global": 0, "segment": 1, "septal": 2, "blood": 3}


@dataclass(frozen=True)
class RegionMask:
    """One region of a slice: name, AHA segment number (or None), erosion, pixel mask."""

    region: str
    segment: int | None
    eroded: bool
    mask: np.ndarray


def usable_pixels(values_ms: np.ndarray, valid_range_ms: tuple[float, float] | None = None) -> np.ndarray:
    """Boolean mask of the pixels that count: finite, > 0 and inside ``valid_range_ms`` (inclusive) when given."""
    values_ms = np.asarray(values_ms, dtype=float)
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(values_ms) & (values_ms > 0)
        if valid_range_ms is not None:
            usable &= (values_ms >= valid_range_ms[0]) & (values_ms <= valid_range_ms[1])
    return usable


def blood_level(values: np.ndarray, muscle_ms: float, *, max_steps: int = 20) -> tuple[float, float]:
    """Median and robust SD of the blood in a cavity's values, muscle and partial volume left aside.

    The median and the MAD of the whole cavity core are pulled towards the
    myocardium when papillary muscles and the partial volume around them
    fill a large part of it (on the phantom, over half of a mid-ventricular
    core).  Here the level is the median of the values closer to it than to
    ``muscle_ms``, refined from the core's median until it stops moving (a
    two-class split with the muscle's class fixed; at most ``max_steps``
    steps), and the SD is the MAD of the values on the far side of that
    level from the muscle, which hold blood noise only.  With no contrast
    between blood and muscle the split still moves the level about one SD
    into the noise, and the far-side SD comes out below the noise's, so
    :func:`blood_pool_roi` takes the larger of it and the neighbour-difference
    noise and asks for a clear contrast (:data:`MIN_BLOOD_LEVEL_CONTRAST_SD`).
    Empty ``values`` give NaN twice.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> blood, muscle = rng.normal(250.0, 5.0, 28), rng.normal(55.0, 5.0, 20)
    >>> core = np.concatenate([blood, np.linspace(80.0, 220.0, 16), muscle])  # partial volume between them
    >>> level, sd = blood_level(core, 55.0)
    >>> round(level), round(sd), round(float(np.median(core)))
    (247, 6, 187)
    """
    values = np.asarray(values, dtype=float).ravel()
    if values.size == 0:
        return float("nan"), float("nan")
    level = float(np.median(values))
    for _ in range(max_steps):
        closer = values[np.abs(values - level) < np.abs(values - muscle_ms)]
        if closer.size == 0 or float(np.median(closer)) == level:
            break
        level = float(np.median(closer))
    far = values[(values - level) * np.sign(level - muscle_ms) > 0]
    if far.size == 0:
        return level, 0.0
    return level, 1.4826 * float(np.median(np.abs(far - level)))


def neighbour_noise_sd(map_ms: np.ndarray, mask: np.ndarray) -> float:
    """Pixel noise SD from the differences of row and column neighbours that are both in ``mask`` (robust, MAD-based).

    Smooth variation (texture, shading) cancels in a neighbour difference and
    so does a muscle's level away from its edges.  On an interpolated map
    (zero-filled k-space) neighbours share noise and the figure is low.
    Hand-written: a few lines of NumPy.

    Examples
    --------
    >>> noise = np.random.default_rng(0).normal(0.0, 10.0, (40, 40))
    >>> ramp = np.linspace(0.0, 100.0, 40)[None, :]
    >>> round(neighbour_noise_sd(noise + ramp, np.ones((40, 40), bool)))
    10
    """
    diffs = [
        (map_ms[:, 1:] - map_ms[:, :-1])[mask[:, 1:] & mask[:, :-1]],
        (map_ms[1:, :] - map_ms[:-1, :])[mask[1:, :] & mask[:-1, :]],
    ]
    d = np.concatenate(diffs)
    return 1.4826 * float(np.median(np.abs(d))) / np.sqrt(2.0) if d.size else 0.0


def blood_pool_roi(
    map_ms: np.ndarray,
    epi_xy: np.ndarray,
    endo_xy: np.ndarray,
    *,
    spacing_mm: tuple[float, float],
    valid_range_ms: tuple[float, float] | None = None,
    margin_mm: float = MUSCLE_MARGIN_MM,
) -> np.ndarray:
    """The LV blood-pool ROI: the cavity's core clear of papillary muscles and trabeculae.

    The core is :func:`myomap.geometry.masks.blood_pool_core` (the central
    part of the cavity).  Muscle is found in the cavity clear of its
    one-and-a-half-pixel border (partial volume with the wall): a pixel
    whose 3 x 3 median is closer to the myocardium's median than to the
    blood's level (:func:`blood_level`) seeds it (the median filter keeps
    single noisy blood pixels from counting), and it grows over the
    neighbouring pixels whose own value is closer to the myocardium's (a
    muscle's whole width, which the median filter narrows).  Core pixels
    within ``margin_mm`` of muscle are left out (:data:`MUSCLE_MARGIN_MM`).
    Muscle is looked for only where the core's median is
    :data:`MIN_MUSCLE_CONTRAST_SD` robust SDs of the core's values from the
    myocardium's median, or the blood's level
    :data:`MIN_BLOOD_LEVEL_CONTRAST_SD` of the blood's noise SDs (the larger
    of its far-side MAD and :func:`neighbour_noise_sd` over the pixels
    closer to the blood), and the core has :data:`MIN_REGION_PIXELS`
    usable pixels.  The SCMR/EACVI 2017 consensus
    asks for a blood-pool ROI clear of papillary muscles and trabeculae
    (Messroghli et al., JCMR 2017;19:75).  Without usable myocardial or
    core pixels the core is returned as it is.

    Examples
    --------
    >>> t = np.linspace(0, 2 * np.pi, 90, endpoint=False)
    >>> circle = lambda r, x=30.0, y=30.0: np.column_stack([x + r * np.cos(t), y + r * np.sin(t)])
    >>> t2_ms = np.full((61, 61), 50.0)
    >>> t2_ms[polygon_mask(circle(18), t2_ms.shape)] = 220.0
    >>> t2_ms[polygon_mask(circle(2.5, 34.0, 30.0), t2_ms.shape)] = 50.0  # a papillary muscle in the core
    >>> roi = blood_pool_roi(t2_ms, circle(24), circle(18), spacing_mm=(1.0, 1.0))
    >>> bool(roi[30, 34]), bool(roi[30, 30]), bool(roi[30, 25]), set(t2_ms[roi].tolist())
    (False, False, True, {220.0})
    """
    from scipy import ndimage

    map_ms = np.asarray(map_ms, dtype=float)
    core = blood_pool_core(endo_xy, map_ms.shape, spacing_mm=spacing_mm)
    usable = usable_pixels(map_ms, valid_range_ms)
    cavity = polygon_mask(endo_xy, map_ms.shape)
    myocardium = polygon_mask(epi_xy, map_ms.shape) & ~cavity & usable
    if not (core & usable).any() or not myocardium.any():
        return core
    muscle_ms = float(np.median(map_ms[myocardium]))
    core_ms = map_ms[core & usable]
    if core_ms.size < MIN_REGION_PIXELS:  # too few values to tell muscle from noise
        return core
    core_median = float(np.median(core_ms))
    core_sd = 1.4826 * float(np.median(np.abs(core_ms - core_median)))
    blood_ms, blood_sd = blood_level(core_ms, muscle_ms)
    blood_class = core & usable & (np.abs(map_ms - blood_ms) < np.abs(map_ms - muscle_ms))
    blood_sd = max(blood_sd, neighbour_noise_sd(map_ms, blood_class))
    if (
        abs(core_median - muscle_ms) < MIN_MUSCLE_CONTRAST_SD * core_sd
        and abs(blood_ms - muscle_ms) < MIN_BLOOD_LEVEL_CONTRAST_SD * blood_sd
    ):
        return core
    rows, cols = np.nonzero(cavity)
    box = np.s_[max(rows.min() - 1, 0) : rows.max() + 2, max(cols.min() - 1, 0) : cols.max() + 2]
    values = np.where(usable[box], map_ms[box], blood_ms)
    inner = ndimage.distance_transform_edt(cavity[box], sampling=spacing_mm) > 1.5 * max(spacing_mm)
    like = inner & (np.abs(values - muscle_ms) < np.abs(values - blood_ms))
    smooth = ndimage.median_filter(values, size=3, mode="nearest")
    seeds = like & (np.abs(smooth - muscle_ms) < np.abs(smooth - blood_ms))
    if not seeds.any():
        return core
    muscle = np.zeros_like(core)
    muscle[box] = ndimage.binary_propagation(seeds, mask=like)
    return core & (ndimage.distance_transform_edt(~muscle, sampling=spacing_mm) > margin_mm)


def region_stats(values_ms: np.ndarray, mask: np.ndarray, *, valid_range_ms: tuple[float, float] | None = None) -> dict[str, float]:
    """Summary statistics of the map values inside a mask.

    Parameters
    ----------
    values_ms : (rows, cols) array
        T1 or T2 map in ms.
    mask : (rows, cols) bool array
        The region.
    valid_range_ms : (low, high), optional
        Values a fitted map can hold (e.g. :data:`VALID_RANGE_MS`); pixels
        outside are missing.

    Returns
    -------
    dict
        ``n_pixels`` (usable pixels), ``n_missing`` (pixels inside the mask
        that are NaN, inf, <= 0 or out of range, left out), ``mean_ms``,
        ``median_ms``, ``sd_ms`` (sample SD, ddof=1), ``q1_ms``, ``q3_ms``
        and ``iqr_ms`` (quartiles by linear interpolation).  With no usable
        pixel (an empty mask, or only missing pixels inside) all statistics
        are NaN and no warning is emitted; with a single pixel ``sd_ms`` is NaN.

    Raises
    ------
    ValueError
        ``values_ms`` and ``mask`` differ in shape.

    Examples
    --------
    >>> values = np.array([[1000.0, 1010.0], [np.nan, 1020.0], [0.0, 4095.0]])
    >>> stats = region_stats(values, np.ones((3, 2), bool), valid_range_ms=(50.0, 3500.0))
    >>> stats["n_pixels"], stats["n_missing"], stats["median_ms"], stats["iqr_ms"]
    (3, 3, 1010.0, 10.0)
    >>> region_stats(values, np.zeros((3, 2), bool))["mean_ms"]
    nan
    """
    values_ms = np.asarray(values_ms, dtype=float)
    mask = np.asarray(mask, dtype=bool)
    if values_ms.shape != mask.shape:
        raise ValueError(f"values and mask differ in shape: {values_ms.shape} and {mask.shape}")
    inside = values_ms[mask]
    kept = inside[usable_pixels(inside, valid_range_ms)]
    return _stats(kept, n_missing=inside.size - kept.size)


def _stats(kept_ms: np.ndarray, *, n_missing: int) -> dict[str, float]:
    """Statistics of usable values (see :func:`region_stats`)."""
    stats = dict.fromkeys(STAT_KEYS, float("nan"))
    stats["n_pixels"], stats["n_missing"] = int(kept_ms.size), int(n_missing)
    if kept_ms.size == 0:
        return stats
    q1, median, q3 = (float(q) for q in np.percentile(kept_ms, [25.0, 50.0, 75.0]))
    stats.update(mean_ms=float(np.mean(kept_ms)), median_ms=median, q1_ms=q1, q3_ms=q3, iqr_ms=q3 - q1)
    if kept_ms.size > 1:
        stats["sd_ms"] = float(np.std(kept_ms, ddof=1))
    return stats


def region_masks(
    shape: tuple[int, int],
    epi_xy: np.ndarray,
    endo_xy: np.ndarray,
    reference_xy: tuple[float, float] | None,
    slice_position: str,
    *,
    spacing_mm: tuple[float, float],
    erosion_margin_px: float = DEFAULT_EROSION_MARGIN_PX,
    clockwise: bool = False,
) -> list[RegionMask]:
    """The quantification regions of one slice, in the order of the rows of :func:`slice_values`.

    ``global``, then ``segment_<n>`` for every segment of the slice's level
    (ascending; a segment with no pixel gets an empty mask, not a missing
    entry), then ``septal``; each as drawn then eroded; then ``blood``, the
    cavity's geometric core (:func:`slice_values` measures the blood pool in
    :func:`blood_pool_roi`, which also leaves out muscle found in the map).  The
    eroded septal ROI is the septal ROI intersected with the eroded
    myocardium.  Without ``reference_xy`` no segments and no septal ROI.
    ``clockwise`` numbers the segments for an image seen from the base
    (:func:`myomap.geometry.aha.segments_run_clockwise`).

    Raises
    ------
    ValueError
        Unknown slice position, a negative erosion margin, contours with
        fewer than 3 points, or a reference point inside the blood pool.
    """
    if slice_position not in FIRST_SEGMENT:
        raise ValueError(f"slice position must be one of {', '.join(FIRST_SEGMENT)}, got {slice_position!r}")
    if not erosion_margin_px >= 0:
        raise ValueError(f"erosion margin must be >= 0 pixels, got {erosion_margin_px}")
    myocardium = polygon_mask(epi_xy, shape) & ~polygon_mask(endo_xy, shape)
    eroded = eroded_myocardium(epi_xy, endo_xy, shape, spacing_mm=spacing_mm, margin_px=erosion_margin_px)
    regions = [
        RegionMask("global", None, False, myocardium),
        RegionMask("global", None, True, eroded),
    ]
    blood = RegionMask("blood", None, True, blood_pool_core(endo_xy, shape, spacing_mm=spacing_mm))
    if reference_xy is None:
        return regions + [blood]
    labels = aha_segments(epi_xy, endo_xy, reference_xy, shape, slice_position, spacing_mm=spacing_mm, clockwise=clockwise)
    first = FIRST_SEGMENT[slice_position]
    for number in range(first, first + (4 if slice_position == "apical" else 6)):
        regions += [
            RegionMask(f"segment_{number}", number, False, labels == number),
            RegionMask(f"segment_{number}", number, True, (labels == number) & eroded),
        ]
    septal = septal_roi(epi_xy, endo_xy, reference_xy, shape, slice_position, spacing_mm=spacing_mm, clockwise=clockwise)
    return regions + [
        RegionMask("septal", None, False, septal),
        RegionMask("septal", None, True, septal & eroded),
        blood,
    ]


def slice_values(
    map_ms: np.ndarray,
    epi_xy: np.ndarray,
    endo_xy: np.ndarray,
    reference_xy: tuple[float, float] | None,
    slice_position: str,
    *,
    spacing_mm: tuple[float, float],
    erosion_margin_px: float = DEFAULT_EROSION_MARGIN_PX,
    clockwise: bool = False,
    valid_range_ms: tuple[float, float] | None = None,
    min_pixels: int = MIN_REGION_PIXELS,
    return_pixels: bool = False,
    blood_roi: np.ndarray | None = None,
    left_out: tuple[int, ...] = (),
) -> list[dict]:
    """T1/T2 statistics of one slice's regions, as tidy rows.

    Parameters
    ----------
    map_ms : (rows, cols) array
        T1 or T2 map in ms; missing pixels (NaN, inf, <= 0, out of
        ``valid_range_ms``) are left out and counted.
    epi_xy, endo_xy : (n, 2) arrays
        Epi- and endocardial contours, pixel (x = column, y = row).
    reference_xy : (x, y) or None
        The anterior RV insertion point in pixels (AHA reference), e.g. from
        the contours file or :func:`myomap.quantify.reference.estimate_rv_insertion`.
        None gives the ``global`` and ``blood`` rows only.
    slice_position : {"basal", "mid", "apical"}
    spacing_mm : (float, float)
        Pixel spacing (row, col) in mm.
    erosion_margin_px : float
        Border removed for the ``eroded=True`` rows (see
        :data:`DEFAULT_EROSION_MARGIN_PX`); 0 makes them equal to the others.
    clockwise : bool
        The image is seen from the base (mirrored), see
        :func:`myomap.geometry.aha.segments_run_clockwise`.
    valid_range_ms : (low, high), optional
        See :data:`VALID_RANGE_MS`.
    min_pixels : int
        Regions with fewer usable pixels get ``few_pixels`` True.
    blood_roi : bool array, optional
        The blood-pool ROI to measure; default :func:`blood_pool_roi` of this map.
    return_pixels : bool
        Add ``values_ms``, the 1-D array of the region's usable pixel
        values, to every row (for :func:`patient_values`).
    left_out : tuple of int
        AHA segments whose pixels count in no region (their own rows are
        empty): segments that hold blood, not wall (:func:`blood_like_segments`).

    Returns
    -------
    list of dict
        One row per region and erosion, in the order of
        :func:`region_masks`: ``slice``, ``region``, ``segment`` (int or
        None), ``eroded`` (bool), the :func:`region_stats` keys and
        ``few_pixels``.  An empty region (a thin wall fully eroded, a
        segment the contours miss) has ``n_pixels`` 0 and NaN statistics.

    Raises
    ------
    ValueError
        As :func:`region_masks` (notably a reference point inside the blood
        pool), or a map that is not 2-D.

    Examples
    --------
    >>> t = np.linspace(0, 2 * np.pi, 90, endpoint=False)
    >>> circle = lambda r: np.column_stack([20 + r * np.cos(t), 20 + r * np.sin(t)])
    >>> t1_ms = np.full((41, 41), 1000.0)
    >>> rows = slice_values(t1_ms, circle(12), circle(7), (14.0, 9.6), "basal", spacing_mm=(1.5, 1.5))
    >>> [row["region"] for row in rows if not row["eroded"]]
    ['global', 'segment_1', 'segment_2', 'segment_3', 'segment_4', 'segment_5', 'segment_6', 'septal']
    >>> rows[1]["eroded"], rows[1]["median_ms"], rows[-1]["region"]
    (True, 1000.0, 'blood')
    """
    map_ms = np.asarray(map_ms, dtype=float)
    if map_ms.ndim != 2:
        raise ValueError(f"map must be a 2-D array, got shape {map_ms.shape}")
    usable = usable_pixels(map_ms, valid_range_ms)
    regions = region_masks(
        map_ms.shape, epi_xy, endo_xy, reference_xy, slice_position,
        spacing_mm=spacing_mm, erosion_margin_px=erosion_margin_px, clockwise=clockwise,
    )  # fmt: skip
    if left_out:
        gone = np.logical_or.reduce([r.mask for r in regions if r.segment in left_out and not r.eroded] + [np.zeros(map_ms.shape, bool)])
        regions = [RegionMask(r.region, r.segment, r.eroded, r.mask & ~gone) if r.region != "blood" else r for r in regions]
    rows = []
    for region in regions:
        row = {
            "slice": slice_position,
            "region": region.region,
            "segment": region.segment,
            "eroded": region.eroded,
        }
        mask = region.mask
        if region.region == "blood":
            mask = (
                blood_roi
                if blood_roi is not None
                else blood_pool_roi(map_ms, epi_xy, endo_xy, spacing_mm=spacing_mm, valid_range_ms=valid_range_ms)
            )
        row.update(region_stats(map_ms, mask, valid_range_ms=valid_range_ms))
        row["few_pixels"] = row["n_pixels"] < min_pixels
        if return_pixels:
            row["values_ms"] = map_ms[mask & usable]
        rows.append(row)
    return rows


def blood_like_segments(rows: list[dict]) -> list[int]:
    """The segments of one slice's :func:`slice_values` rows whose eroded median is the blood's (:data:`BLOOD_LIKE_SHARE`).

    Only where the blood pool is bright (:data:`MIN_BLOOD_CONTRAST` times
    the myocardium or more: native T1 and bright-blood T2 maps); on a
    post-contrast map a scar comes close to the blood, and its values are
    the point of the map.  A segment with no eroded pixel is judged on its
    pixels as drawn.

    Examples
    --------
    >>> row = lambda region, segment, eroded, median: {"region": region, "segment": segment, "eroded": eroded, "median_ms": median}
    >>> rows = [row("global", None, True, 960.0), row("segment_1", 1, True, 1520.0), row("segment_2", 2, True, 1290.0)]
    >>> blood_like_segments(rows + [row("blood", None, True, 1530.0)]), blood_like_segments(rows + [row("blood", None, True, 1100.0)])
    ([1], [])
    """
    median = {(r["region"], r["eroded"]): r["median_ms"] for r in rows}
    muscle, blood = median.get(("global", True), np.nan), median.get(("blood", True), np.nan)
    if not blood >= MIN_BLOOD_CONTRAST * muscle:  # NaN too
        return []
    found = []
    for number in sorted({r["segment"] for r in rows if r["segment"] is not None}):
        value = median[(f"segment_{number}", True)]
        value = median[(f"segment_{number}", False)] if np.isnan(value) else value
        if value >= muscle + BLOOD_LIKE_SHARE * (blood - muscle):
            found.append(number)
    return found


def septal_slices(rows: list[dict]) -> str | None:
    """The level whose slices give the patient's septal ROI: ``mid``, else ``basal``, else None (apical only)."""
    return next((level for level in ("mid", "basal") if any(r["region"] == "septal" and r.get("slice") == level for r in rows)), None)


def patient_values(rows: list[dict], *, min_pixels: int = MIN_REGION_PIXELS) -> list[dict]:
    """Pool the slices of one patient, one map type and one contrast state into patient-level rows.

    Parameters
    ----------
    rows : list of dict
        The rows of :func:`slice_values` called with ``return_pixels=True``
        on each slice (several slices may share a level, e.g. two basal
        slices: their pixels pool).
    min_pixels : int
        Pooled regions with fewer usable pixels get ``few_pixels`` True.

    Returns
    -------
    list of dict
        One row per (region, eroded) found in ``rows``: ``region``,
        ``segment``, ``eroded``, ``n_slices`` (slices contributing), the
        :func:`region_stats` keys computed on the pooled pixels
        (``n_missing`` summed) and ``few_pixels``.  ``global`` and
        ``blood`` pool all slices; each segment pools the slices of its
        level; ``septal`` pools the mid slices, or the basal ones without a
        mid slice, and is left out when only apical slices have one.
        Ordered ``global``, segments by number, ``septal``, ``blood``;
        unpooled first.  An empty input gives ``[]``.

    Raises
    ------
    ValueError
        A row without ``values_ms`` (slice_values was called without
        ``return_pixels=True``).

    Examples
    --------
    >>> t = np.linspace(0, 2 * np.pi, 90, endpoint=False)
    >>> circle = lambda r: np.column_stack([20 + r * np.cos(t), 20 + r * np.sin(t)])
    >>> rows = []
    >>> for position, t2_ms in (("basal", 50.0), ("mid", 60.0)):
    ...     rows += slice_values(np.full((41, 41), t2_ms), circle(12), circle(7), (14.0, 9.6), position, spacing_mm=(1.5, 1.5), return_pixels=True)
    >>> pooled = {(row["region"], row["eroded"]): row for row in patient_values(rows)}
    >>> pooled["global", False]["n_slices"], pooled["global", False]["mean_ms"]
    (2, 55.0)
    >>> pooled["septal", False]["n_slices"], pooled["septal", False]["mean_ms"]
    (1, 60.0)
    """
    septal_level = septal_slices(rows)
    groups: dict[tuple[str, int | None, bool], list[dict]] = {}
    for row in rows:
        if "values_ms" not in row:
            raise ValueError(f"row {row.get('region')!r} has no pixel values: call slice_values(..., return_pixels=True)")
        if row["region"] == "septal" and row.get("slice") != septal_level:
            continue
        groups.setdefault((row["region"], row["segment"], bool(row["eroded"])), []).append(row)
    out = []
    for (region, segment, eroded), group in groups.items():
        pooled = np.concatenate([np.ravel(row["values_ms"]).astype(float) for row in group])
        kept = pooled[usable_pixels(pooled)]
        n_missing = sum(int(row.get("n_missing", 0)) for row in group) + pooled.size - kept.size
        stats = _stats(kept, n_missing=n_missing)
        out.append(
            {"region": region, "segment": segment, "eroded": eroded, "n_slices": len(group),
             **stats, "few_pixels": stats["n_pixels"] < min_pixels}
        )  # fmt: skip
    out.sort(key=lambda row: (_REGION_ORDER.get(row["region"].split("_")[0], 4), row["segment"] or 0, row["region"], row["eroded"]))
    return out
