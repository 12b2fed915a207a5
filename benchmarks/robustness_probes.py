"""Probes of the model card's known limits, on the robustness benchmark's unseen phantom subjects.

Each probe shows the standard maps (or their cine-like frames) one more
way and prints the mean myocardium Dice, mean Hausdorff distance and share
of maps with contours, as ``benchmarks/robustness.py`` does, segmented as
``myomap analyze`` segments them (test-time augmentation on):

- smoothed maps: a Gaussian of 0.5, 0.8 and 1.2 pixels over the whole map,
  and of 0.8 pixels over the tissue only or over the lung and air speckle
  only (a vendor's filter on the map), and
  of 0.8 pixels with white noise of 5, 10 or 20 % of the myocardium's
  median added after it, T1 and T2 maps apart (a map smoothed by a
  vendor's filter, with fit noise);
- coarser acquisitions: each map refitted from its weighted source images
  after cutting their k-space to 70 % or 50 % of the lines along one axis
  (the phase-encoding one: rows on every other map, columns on the
  others), zero-filled back to the grid, the magnitude kept: a map
  acquired with fewer phase encodings than its matrix and interpolated,
  as most vendors' maps are (smoothing the map itself instead, as the rows
  above do, also smooths the fit's lung speckle into the tissue, which a
  scanner never does);
- systolic and thin walls: cine-like frames with the compact wall 3 or
  5 mm thicker, or 1.5 or 2.5 mm thinner (``views.change_wall``), told a
  native T1 map so that the image check's doubts apply (the last column
  counts the rings with two doubts: an LV flagged for review); and an
  apex at end-systole: the 12 T1 maps with the smallest cavities as
  cine-like frames with the wall 7 or 9 mm thicker, the cavity nearly
  closed (a few pixels to about 200 mm²; ``change_wall`` leaves a cavity
  that would fall under 10 pixels as it is);
- coil shading: cine-like frames darkened from top to bottom by 3x and 6x
  (a surface coil without intensity normalisation);
- banded cine: the benchmark's cine-band frames, and how many of those
  under 0.8 Dice the quality flag raises (``myomap.analyze.qc``);
- anisotropic pixels: rows 1.5 and 2 times coarser than columns (fewer
  phase-encoding lines, not interpolated back);
- display-windowed exports: the map clipped at a window whose top is 2,
  1.3 or 1.1 times the myocardium's median and stored in 8 bits (a
  screenshot or secondary capture; blood pool and fat saturated);
- zero-filled interpolation: each map refitted from its weighted source
  images as they are and after a scanner's 2x zero-filling (the images
  upsampled in k-space, then the magnitude fitted pixel by pixel at half
  the pixel size; a Siemens MOLLI map with interpolation on);
- above the base: each map with the heart painted out (as the robustness
  benchmark's no-heart row) and an ascending aorta and a pulmonary trunk
  drawn in, round pools of blood in a thin wall, as on a slice above the
  valve plane; the share of maps given a ring (target none);
- pericardial effusion: fluid in the pericardial sac, 5 mm all round or a
  dependent crescent up to 12 mm (toward the spine, 2 mm on the other
  side), on native T1, T2 and post-contrast T1 maps: a bright rim outside
  the myocardium (fluid above blood on native and post-contrast T1 maps,
  around blood on T2 maps), the pericardium pushed out beyond it;
- scar on post-contrast T1 maps: an infarct-like sector of 60-120 degrees,
  subendocardial (the inner half of the wall) or transmural, whose
  extracellular volume is 50-70 % (the blood's R1 change times 0.9-1.25
  at a haematocrit of 0.44) where the rest of the myocardium's is 25 %:
  as dark as the blood pool after gadolinium, as on a late-enhancement
  image; the reference contours still take the scar in;
- raised extracellular volume on post-contrast T1 maps: the whole
  myocardium (LV and RV walls, papillary muscles) given 0.7 or 0.85 of
  the blood's R1 change instead of 0.45 (an ECV of about 39 % or 48 %
  at a haematocrit of 0.44: diffuse fibrosis, amyloid), which brings its
  median to about 1.16 or 1.02 times the blood's;
- phase wrap-around: each map refitted from its weighted images folded
  to a phase field of view of 70 % and 55 % of the rows around the LV
  (the anatomy beyond it aliased back in from the other side, as on a
  map planned with a tight rectangular field of view);
- the issue's extremes of matrix, pixel size and field of view: the map
  resampled to 0.5 mm and to 3 mm pixels; a 120 mm square crop and a
  64 x 64 matrix of 3 mm pixels (192 mm), each with the heart anywhere in
  it (it stays whole inside); and a 450 mm field of view of 0.5 mm pixels
  (900 x 900), the map padded with the speckle of its own border;
- body size: each map as it is, its pixel size declared 0.5, 0.6, 0.75,
  1.25 and 1.4 times its own, so that the body and heart are that many
  times the phantom's (its LV's epicardium 51 mm across at the median
  slice, 36-59 mm from the 10th to the 90th percentile): a child's chest
  at 0.5-0.75 (an infant, a toddler, a school child), a large adult or a
  dilated heart above 1; the pixels do not change, only what they span;
  and at 0.5-1 times as ``analyze --heart-scale 0.6`` segments them (the
  model shown pixels 1/0.6 times their size: a toddler's heart at an
  adult's size, a school child's and an adult's larger than the model
  learned);
- a kidney on a liver slice: each standard map with the heart painted out
  (as the robustness benchmark's no-heart row) and a kidney painted
  45-55 mm from the spine toward the liver: an ellipse of 22-30 by 14-20 mm
  half-axes, a cortex of 5-8 mm around a uniform medulla, in 3-6 mm of
  perirenal fat (the map's subcutaneous fat value), with renal
  values (1.5 T native T1 about 1150 and 1550 ms, 15 % more at 3 T; T2
  about 90 and 110 ms): on a native T1 map a ring like myocardium around
  a pool like blood.  The share of maps given a ring (target none).
  Training may paint kidneys too (``kidney_share``,
  :func:`myomap.model.synth.kidney`: other shapes, random values);
- heart-free maps in their exams: each standard map with the heart
  painted out (as the no-heart row, its own draws), and each kidney map
  above, put in place of the map in its subject's exam of six (T1 and T2
  maps, basal, mid and apical, placed by their DICOM geometry), alone or
  with the other map of its slice position changed too (a slice below
  the heart is heart-free on both), and segmented as ``analyze`` segments
  an exam: how many get a ring before and after the exam's maps are
  checked against each other
  (:func:`myomap.analyze.patient.check_against_stack`), and how many rings
  of the other maps the check drops or replaces (also on the untouched
  exams);
- borrowed rings after another breath-hold: each native T1 map's ring (as
  segmented) lent to its post-contrast map with an ECV of about 48 %
  (the raised-ECV probe's maps, on which no LV is found on most) the way
  ``analyze`` lends it (:func:`myomap.analyze.patient.borrow_native_rings`),
  after the heart and the tissue within 10 mm of it moved 3-10 mm in
  plane while the body stayed (the post map drawn again with them moved):
  the Dice of the ring placed by the slice geometry alone and of the ring
  after the match on the post map;
- maps beside the native T1 map of their slice: T2 maps as simulated
  and blurred and noised as in the smoothed rows (0.8 pixels, 30 % of
  the myocardium; the phantom's T1 and T2 maps of a slice are two
  breath-holds, the LV 0-3 mm apart), and post-contrast maps (ECV ~25 %
  or ~48 %, or a transmural scar) with the heart moved 3-10 mm, each
  segmented alone, then as ``analyze`` segments a slice with both maps
  (:func:`myomap.analyze.patient.predict_native_first`: the T1 map's LV
  is the first candidate), then after
  :func:`~myomap.analyze.patient.borrow_native_rings` (the T1 ring where
  a map shows no LV or a ring that contradicts it): mean Dice and share
  with contours of each, and how many rings of their own were replaced;
- failed fits in the wall: a share (5, 10 or 20 %) of the myocardium's
  pixels (LV and RV walls, papillary muscles) stored as a failed
  pixel-wise fit: at the map's top (where its failed fits in the lung
  lie: 4000 ms on the phantom's T1 maps, 1000 ms on its T2 maps), at 0
  (with the air and lungs speckled, or blanked at 0: "0 on 0"), or as
  NaN (the lung's failures then NaN too), one by one or in clumps of
  five (a pixel and its four neighbours, the share counting the clumps'
  centres); ``analyze`` shows the network those at the top, the NaN
  ones and the zeros of a map blanked at 0 as the tissue around them
  (:func:`myomap.model.window.fill_failed_fits`), other zeros as they are;
- native T1 maps beside another map of their slice: each T1 map blurred
  by 0.8 pixels with noise of 20 % of its myocardium, or by 1 pixel
  with 30 %, beside its T2 map or its post-contrast map (ECV ~25 %) as
  simulated, segmented as ``analyze`` segments a slice, before and after
  :func:`~myomap.analyze.patient.search_native_t1_again` (a T1 map without
  an LV searched again where the other map shows it).

Usage::

    python benchmarks/robustness_probes.py --data runs/robustness [--model src/myomap/data/default_model.onnx]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from robustness import (
    Case,
    band_loss,
    cine_like,
    compare_masks,
    load,
    load_cases,
    no_heart,
    post_contrast,
    predict,
    rings_drawn,
    score,
)
from scipy import ndimage
from scipy.signal import resample

from myomap.analyze.discover import MapSlice
from myomap.analyze.patient import borrow_native_rings, check_against_stack, predict_native_first, search_native_t1_again
from myomap.analyze.qc import assess
from myomap.analyze.settings import AnalyzeConfig
from myomap.geometry.contours import mask_to_contours
from myomap.geometry.masks import contours_to_mask
from myomap.geometry.polygon import polygon_area
from myomap.io.dataset import load_dataset
from myomap.io.dicom import read_image
from myomap.mapping.pipeline import fit_series, read_weighted
from myomap.model.embedded import EMBEDDED_ONNX
from myomap.model.loading import ScaledHeart
from myomap.model.locate import NO_LV
from myomap.model.synth import wall_depth
from myomap.model.views import HEART_TISSUES, WALL_TISSUES, change_wall
from myomap.model.views import resample as resample_mm
from myomap.phantom.tissues import Tissue


def smoothed(c: Case, sigma: float, where: str = "all") -> Case:
    """The map blurred by ``sigma`` pixels everywhere, or only on the tissue, or only on the lung and air speckle."""
    blurred = cv2.GaussianBlur(c.pixels, (0, 0), sigma)
    speckle = np.isin(c.labels, [Tissue.AIR, Tissue.LUNG])
    pixels = {"all": blurred, "tissue": np.where(speckle, c.pixels, blurred), "speckle": np.where(speckle, blurred, c.pixels)}[where]
    return c.shown(pixels, c.spacing, c.epi, c.endo)


def smoothed_noisy(c: Case, sigma: float, share: float, rng) -> Case:
    """The map blurred by ``sigma`` pixels, then white noise of ``share`` of its myocardium's median added (kept non-negative).

    The noise was ``share`` of the blurred map's median until 4 December
    2026.  On a T2 map that median is the mean of the lung and air speckle,
    1.4 to 9 times the myocardium (median 2.8), so the rows then called
    5 and 10 % were up to 46 and 93 % of the myocardium; on T1 maps 0.8-1.1 times.
    """
    blurred = cv2.GaussianBlur(c.pixels, (0, 0), sigma)
    myocardium = float(np.median(c.pixels[c.labels == Tissue.LV_MYOCARDIUM]))
    noise = rng.normal(0.0, share * myocardium, blurred.shape).astype(np.float32)
    return c.shown(np.clip(blurred + noise, 0.0, None), c.spacing, c.epi, c.endo)


def wall_changed(c: Case, change_mm: float, rng) -> Case:
    """A cine-like frame of the map's slice with the compact wall ``change_mm`` thicker (thinner when negative), told a native T1 map."""
    labels, endo = change_wall(c.labels, c.epi, c.endo, c.spacing, change_mm)
    t1, t2 = (np.array(v, float) for v in c.relaxation)
    changed = labels != c.labels
    donor = c.labels == (Tissue.LV_MYOCARDIUM if change_mm > 0 else Tissue.LV_BLOOD)  # what the changed pixels became
    t1[changed], t2[changed] = np.median(t1[donor]), np.median(t2[donor])
    frame = cine_like(Case(c.pixels, c.spacing, c.epi, endo, labels, c.field, "T1", relaxation=(t1, t2)), rng)
    return Case(frame.pixels, frame.spacing, frame.epi, frame.endo, None, frame.field, "T1")  # bright blood, as on a native T1 map


def shaded(c: Case, ratio: float) -> Case:
    """The frame darkened from its top row to its bottom row by ``ratio`` (an anterior surface coil)."""
    gain = np.exp(-np.log(ratio) * np.linspace(0.0, 1.0, c.pixels.shape[0]))[:, None].astype(np.float32)
    return c.shown(c.pixels * gain, c.spacing, c.epi, c.endo)


def anisotropic(c: Case, ratio: float) -> Case:
    """The map with rows ``ratio`` times coarser than its columns (area-averaged), contours moved along."""
    rows, cols = c.pixels.shape
    new_rows = int(round(rows / ratio))
    scale = rows / new_rows
    pixels = cv2.resize(c.pixels, (cols, new_rows), interpolation=cv2.INTER_AREA)
    move = lambda xy: np.column_stack([xy[:, 0], (xy[:, 1] + 0.5) / scale - 0.5])  # noqa: E731  (cv2's pixel centres)
    return c.shown(pixels, (c.spacing[0] * scale, c.spacing[1]), move(c.epi), move(c.endo))


def _fit_again(folder: Path, change) -> np.ndarray:
    """The map fitted from the weighted images in ``folder`` after ``change`` ((n, rows, cols) -> (n, rows', cols'))."""
    series, model = read_weighted(folder.name, sorted(folder.glob("weighted_*.dcm")))
    fit = fit_series(replace(series, images=change(series.images.astype(float))), model)
    return np.nan_to_num(fit.t1_ms if model == "molli" else fit.t2_ms, nan=0.0).astype(np.float32)


def refitted(c: Case, folder: Path, factor: int) -> Case:
    """The map fitted again from the weighted images in ``folder``, zero-filled ``factor`` times in k-space first."""

    def zero_fill(images):  # Fourier interpolation is zero-filling; the scanner then stores the magnitude
        return np.abs(resample(resample(images, images.shape[1] * factor, axis=1), images.shape[2] * factor, axis=2))

    values = _fit_again(folder, zero_fill if factor > 1 else lambda images: images)
    spacing = (c.spacing[0] / factor, c.spacing[1] / factor)  # sample k lands on k * factor
    return c.shown(values, spacing, c.epi * factor, c.endo * factor)


def acquired_coarser(c: Case, folder: Path, share: float, axis: int) -> Case:
    """The map refitted from its weighted images with their k-space cut to ``share`` of its lines along ``axis``, zero-filled back."""

    def truncate(images):  # the central lines kept, the rest zero, as a scanner's zero-filled interpolation
        spectrum = np.fft.fftshift(np.fft.fft2(images), axes=(1, 2))
        n = images.shape[1 + axis]
        keep = np.zeros(n, bool)
        keep[n // 2 - int(n * share) // 2 : n // 2 + int(n * share) // 2] = True
        spectrum *= keep[:, None] if axis == 0 else keep[None, :]
        return np.abs(np.fft.ifft2(np.fft.ifftshift(spectrum, axes=(1, 2))))

    return c.shown(_fit_again(folder, truncate), c.spacing, c.epi, c.endo)


def wrapped(c: Case, folder: Path, share: float) -> Case:
    """The map fitted again from its weighted images after a phase field of view of ``share`` of the rows (aliasing).

    A field of view smaller than the body along the phase-encoding
    direction folds what lies beyond it back in from the other side (the
    magnitudes summed here; a scanner sums complex signals).  The window
    keeps the LV, as a planner would; the contours move with it.
    """
    rows = c.pixels.shape[0]
    kept = int(round(rows * share))
    start = int(np.clip(round(float(np.mean(c.epi[:, 1])) - kept / 2), 0, rows - kept))

    def fold(images):
        folded = np.zeros((images.shape[0], kept, images.shape[2]))
        for row in range(rows):  # row r lands on (r - start) mod kept
            folded[:, (row - start) % kept] += images[:, row]
        return folded

    shift = np.array([0.0, start])
    return c.shown(_fit_again(folder, fold), c.spacing, c.epi - shift, c.endo - shift)


def windowed(c: Case, top: float) -> Case:
    """The map as an 8-bit export of a display window from 0 to ``top`` times the myocardium's median."""
    high = top * float(np.median(c.pixels[c.labels == Tissue.LV_MYOCARDIUM]))
    return c.shown(np.round(np.clip(c.pixels, 0.0, high) / high * 255.0), c.spacing, c.epi, c.endo)


def above_the_base(c: Case, rng) -> Case:
    """The map with the heart painted out and the great vessels drawn in, as on a slice above the valve plane.

    An ascending aorta (12.5-17.5 mm radius) where the LV was and a
    pulmonary trunk (10-14 mm) 25-35 mm from it in any direction, each a
    pool of the map's own LV blood value inside a 1.5-2.5 mm wall of its
    myocardium's value, with 3 % noise: a round bright-blood structure in a
    thin wall, which a network trained to find the LV may take for one.
    """
    pixels = no_heart(c, rng).pixels.copy()
    blood = float(np.median(c.pixels[c.labels == Tissue.LV_BLOOD]))
    wall = float(np.median(c.pixels[c.labels == Tissue.LV_MYOCARDIUM]))
    y, x = np.mgrid[: pixels.shape[0], : pixels.shape[1]]
    centre = np.mean(c.epi, axis=0)
    angle, gap = rng.uniform(0.0, 2 * np.pi), rng.uniform(25.0, 35.0)
    trunk = centre + gap * np.array([np.cos(angle) / c.spacing[1], np.sin(angle) / c.spacing[0]])
    vessels = np.zeros(pixels.shape, bool)
    for (cx, cy), radius in ((centre, rng.uniform(12.5, 17.5)), (trunk, rng.uniform(10.0, 14.0))):
        distance = np.hypot((x - cx) * c.spacing[1], (y - cy) * c.spacing[0])
        outer = distance < radius + rng.uniform(1.5, 2.5)
        pixels[outer] = wall
        pixels[distance < radius] = blood
        vessels |= outer
    pixels[vessels] *= 1.0 + rng.normal(0.0, 0.03, int(vessels.sum()))
    return c.shown(pixels.astype(np.float32), c.spacing, c.epi[:0], c.endo[:0])


# Effusion over blood (median values) per map kind: a transudate's T1 and T2 are longer than blood's (MOLLI and a
# T2 fit with echoes up to 55 ms only bound them), and gadolinium reaches it more slowly than the blood pool.
_FLUID_OVER_BLOOD = {"T1": (1.2, 1.8), "T2": (0.8, 2.0), "T1-post": (1.5, 3.0)}
_INSIDE_SAC = (Tissue.LV_BLOOD, Tissue.LV_MYOCARDIUM, Tissue.PAPILLARY, Tissue.RV_BLOOD, Tissue.RV_WALL, Tissue.EPICARDIAL_FAT)


def spine_centre(labels: np.ndarray) -> np.ndarray:
    """The (row, col) centre of the vertebral body: the largest piece of bone marrow (not a rib or the sternum)."""
    bone, count = ndimage.label(labels == Tissue.BONE_MARROW)
    return np.argwhere(bone == 1 + int(np.argmax(ndimage.sum_labels(bone > 0, bone, range(1, count + 1))))).mean(axis=0)


def effusion(c: Case, labels: np.ndarray, thickness_mm: float, dependent: bool, rng) -> Case:
    """The map with a pericardial effusion: fluid ``thickness_mm`` thick outside the heart and its fat, the sac beyond it.

    ``labels`` are the map's tissue labels (``c`` may be a post-contrast
    copy, whose own labels are gone).  With ``dependent`` the fluid
    gathers toward the spine: ``thickness_mm`` there, 2 mm on the far side.
    The fluid takes the blood pool's median times a ratio for the map's
    kind (:data:`_FLUID_OVER_BLOOD`) with the blood's own spread; the
    pericardium (1.5 mm) takes its median value beyond the fluid.  Bone and
    the aorta are left as they are.
    """
    heart = np.isin(labels, _INSIDE_SAC)
    distance = ndimage.distance_transform_edt(~heart, sampling=c.spacing)
    y, x = np.mgrid[: labels.shape[0], : labels.shape[1]]
    centre = np.mean(c.epi, axis=0)
    reach = np.full(labels.shape, thickness_mm)
    if dependent:
        spine = spine_centre(labels)[::-1]  # (x, y)
        towards = np.arctan2(spine[1] - centre[1], spine[0] - centre[0])
        closeness = (1.0 + np.cos(np.arctan2(y - centre[1], x - centre[0]) - towards)) / 2.0
        reach = 2.0 + (thickness_mm - 2.0) * closeness**1.5
    free = ~heart & ~np.isin(labels, (Tissue.BONE_MARROW, Tissue.AORTA_BLOOD))
    fluid = free & (distance > 0) & (distance <= reach)
    sac = free & (distance > reach) & (distance <= reach + 1.5)
    blood = c.pixels[labels == Tissue.LV_BLOOD]
    ratio = rng.uniform(*_FLUID_OVER_BLOOD[c.kind])
    spread = 1.4826 * float(np.median(np.abs(blood - np.median(blood))))
    pixels = c.pixels.copy()
    pixels[fluid] = ratio * float(np.median(blood)) + rng.normal(0.0, spread, int(fluid.sum()))
    if (labels == Tissue.PERICARDIUM).any():
        pixels[sac] = float(np.median(c.pixels[labels == Tissue.PERICARDIUM]))
    return c.shown(np.clip(pixels, 0.0, None).astype(np.float32), c.spacing, c.epi, c.endo)


def scarred(c: Case, transmurality: float, rng) -> Case:
    """The native T1 map ``c`` turned post-contrast with a scar (see the module docstring) in the inner ``transmurality`` of its wall."""
    reference = contours_to_mask(c.epi, c.endo, c.pixels.shape)
    depth = wall_depth(reference)
    y, x = np.mgrid[: reference.shape[0], : reference.shape[1]]
    centre = np.mean(c.endo, axis=0)
    angle = np.angle(np.exp(1j * (np.arctan2(y - centre[1], x - centre[0]) - rng.uniform(-np.pi, np.pi))))
    sector = np.abs(angle) < np.deg2rad(rng.uniform(60.0, 120.0)) / 2
    scar = (reference == 1) & sector & (depth <= transmurality)
    return post_contrast(c, rng, scar=scar, scar_share=rng.uniform(0.9, 1.25))


def extreme_crop(c: Case, side_mm: float, spacing_mm: float | None, rng) -> Case:
    """A square of ``side_mm`` with the LV anywhere inside it (whole), after resampling to ``spacing_mm`` pixels (None: as stored)."""
    pixels, pixel_mm, epi, endo = (
        (c.pixels, c.spacing, c.epi, c.endo) if spacing_mm is None else resample_mm(c.pixels, c.spacing, c.epi, c.endo, spacing_mm)
    )
    rows, cols = pixels.shape
    side = np.array([min(cols, int(round(side_mm / pixel_mm[1]))), min(rows, int(round(side_mm / pixel_mm[0])))])
    low = np.maximum(np.ceil(epi.max(axis=0) + 2 - side + 1), 0)  # the first column / row that keeps the ring inside
    high = np.minimum(np.floor(epi.min(axis=0) - 2), [cols - side[0], rows - side[1]])
    x0, y0 = (int(rng.integers(low[k], max(low[k], high[k]) + 1)) for k in (0, 1))
    return c.shown(pixels[y0 : y0 + side[1], x0 : x0 + side[0]], pixel_mm, epi - [x0, y0], endo - [x0, y0])


def wide_field(c: Case, side_mm: float, spacing_mm: float, rng) -> Case:
    """The map centred in a square field of view of ``side_mm``, padded with values drawn from its own outer 4 pixels, then resampled."""
    rows, cols = c.pixels.shape
    side = [max(n, int(round(side_mm / s))) for n, s in zip((rows, cols), c.spacing)]
    border = np.concatenate([c.pixels[:4].ravel(), c.pixels[-4:].ravel(), c.pixels[:, :4].ravel(), c.pixels[:, -4:].ravel()])
    padded = rng.choice(border, size=side).astype(np.float32)
    y0, x0 = (side[0] - rows) // 2, (side[1] - cols) // 2
    padded[y0 : y0 + rows, x0 : x0 + cols] = c.pixels
    pixels, pixel_mm, epi, endo = resample_mm(padded, c.spacing, c.epi + [x0, y0], c.endo + [x0, y0], spacing_mm)
    return c.shown(pixels, pixel_mm, epi, endo)


def shown_at_scale(c: Case, factor: float) -> Case:
    """The map as it is, its pixels declared ``factor`` times their size: body and heart that many times smaller or larger."""
    return c.shown(c.pixels, (c.spacing[0] * factor, c.spacing[1] * factor), c.epi, c.endo)


def kidney_slice(c: Case, rng) -> Case:
    """The map with the heart painted out and a kidney beside its spine and liver (see the module docstring); no contours."""
    out = no_heart(c, rng)
    spine = spine_centre(c.labels)
    liver = np.argwhere(c.labels == Tissue.LIVER).mean(axis=0)
    toward = (liver - spine) * np.asarray(c.spacing)
    centre = spine + toward / np.linalg.norm(toward) * rng.uniform(45.0, 55.0) / np.asarray(c.spacing)
    rows, cols = np.mgrid[: c.pixels.shape[0], : c.pixels.shape[1]]
    angle = rng.uniform(0.0, np.pi)
    dx, dy = (cols - centre[1]) * c.spacing[1], (rows - centre[0]) * c.spacing[0]
    u, v = np.cos(angle) * dx + np.sin(angle) * dy, -np.sin(angle) * dx + np.cos(angle) * dy
    a, b, cortex, rim = rng.uniform(22.0, 30.0), rng.uniform(14.0, 20.0), rng.uniform(5.0, 8.0), rng.uniform(3.0, 6.0)
    fat = np.hypot(u / (a + rim), v / (b + rim)) < 1.0
    organ = np.hypot(u / a, v / b) < 1.0
    medulla = np.hypot(u / (a - cortex), v / (b - cortex)) < 1.0
    values = (1150.0, 1550.0) if c.map_type == "T1" else (90.0, 110.0)
    values = tuple(x * (1.15 if c.map_type == "T1" and c.field > 2 else 1.0) for x in values)
    pixels = out.pixels.copy()
    pixels[fat] = np.median(c.pixels[c.labels == Tissue.SUBCUTANEOUS_FAT])
    pixels[organ] = values[0]
    pixels[medulla] = values[1]
    pixels[fat] += rng.normal(0.0, 0.04 * values[0], int(fat.sum()))  # the kidney and its fat, with texture
    return out.shown(pixels, out.spacing, out.epi, out.endo)


def heart_moved(c: Case, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The map ``c`` with its heart, and the tissue within 10 mm of it, moved 3-10 mm in plane (the body still); the moved contours."""
    distance = rng.uniform(3.0, 10.0)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    dy, dx = distance * np.sin(angle) / c.spacing[0], distance * np.cos(angle) / c.spacing[1]
    near = ndimage.distance_transform_edt(~np.isin(c.labels, HEART_TISSUES), sampling=c.spacing) <= 10.0
    moved_near = ndimage.shift(near.astype(np.float32), (dy, dx), order=0) > 0.5
    pixels = np.where(moved_near, ndimage.shift(c.pixels, (dy, dx), order=1, mode="nearest"), c.pixels)
    return pixels.astype(np.float32), c.epi + [dx, dy], c.endo + [dx, dy]


def _at_one_plane(name: str, map_type: str, image: np.ndarray, spacing, contrast: str) -> MapSlice:
    """A map of one patient and study placed at the slice position every other such map has (one slice's maps)."""
    return MapSlice(Path(f"{name}.dcm"), map_type, image, spacing, (1.0, 0.0, 0.0, 0.0, 1.0, 0.0), (0.0, 0.0, 0.0),
                    "p", "s", name, name, name, contrast=contrast)  # fmt: skip


def borrowed_after_breath_hold(segmenter, natives: list[Case], posts: list[Case], rng) -> tuple[float, float, int]:
    """Mean Dice of the native rings lent to the moved post maps, by the slice geometry alone and after the match; how many lent."""
    predictions, _ = predict(segmenter, natives, True)
    placed, matched = [], []
    for native, post, prediction in zip(natives, posts, predictions):
        if prediction is None:
            continue
        pixels, epi, endo = heart_moved(post, rng)
        slices = [
            _at_one_plane(name, "T1", image, native.spacing, contrast)
            for name, image, contrast in (("post", pixels, "post"), ("native", native.pixels, "native"))
        ]
        lent = [None, prediction]
        if borrow_native_rings(slices, lent, [NO_LV, None]):
            placed.append(compare_masks(prediction.labels, epi, endo, spacing_mm=native.spacing).epicardial.dice)
            matched.append(compare_masks(lent[0].labels, epi, endo, spacing_mm=native.spacing).epicardial.dice)
    return float(np.mean(placed)), float(np.mean(matched)), len(matched)


def beside_native(segmenter, natives: list[Case], targets: list[Case], stack: tuple[str, str], rng, move: bool = False) -> dict:
    """Maps of ``stack`` (map type, contrast) segmented alone, after the native T1 map of their slice (its LV a hint), and
    after :func:`borrow_native_rings`: mean Dice and share with contours for each; and how many rings of their own were replaced.

    ``move`` moves each target's heart 3-10 mm first (:func:`heart_moved`: another breath-hold than the native map's).
    """
    dice: dict[str, list[float]] = {"alone": [], "with the T1 map's hint": [], "with the T1 ring lent": []}
    replaced = 0
    for native, target in zip(natives, targets):
        assert native.pixels.shape == target.pixels.shape and native.spacing == target.spacing  # one slice's two maps
        pixels, epi, endo = heart_moved(Case(target.pixels, target.spacing, target.epi, target.endo, native.labels), rng) if move else (
            target.pixels, target.epi, target.endo)  # fmt: skip
        slices = [
            _at_one_plane(name, map_type, image, native.spacing, contrast)
            for name, map_type, image, contrast in (("map", stack[0], pixels, stack[1]), ("t1", "T1", native.pixels, "native"))
        ]

        def scored(prediction) -> float:
            return 0.0 if prediction is None else compare_masks(prediction.labels, epi, endo, spacing_mm=native.spacing).epicardial.dice

        (alone,), _ = predict(segmenter, [Case(pixels, native.spacing, epi, endo, None, native.field, *stack)], True)
        predictions, reasons = predict_native_first(segmenter, slices, AnalyzeConfig())
        hinted = predictions[0]
        dice["alone"].append(scored(alone))
        dice["with the T1 map's hint"].append(scored(hinted))
        replaced += 0 in borrow_native_rings(slices, predictions, reasons) and hinted is not None
        dice["with the T1 ring lent"].append(scored(predictions[0]))
    rows = {how: (float(np.mean(values)), float(np.mean(np.asarray(values) > 0))) for how, values in dice.items()}
    return {"rows": rows, "replaced": replaced}


def beside_native_lines(segmenter, t1_maps: list[Case], t2_maps: list[Case]) -> None:
    """Print :func:`beside_native` for T2 maps as simulated and noisy, and post-contrast maps of three kinds, hearts moved."""
    rng = np.random.default_rng(5)
    noisy = [smoothed_noisy(c, 0.8, 0.30, rng) for c in t2_maps]
    for name, maps in (("as simulated", t2_maps), ("0.8 px, noise 30 % myo", noisy)):
        print(_beside_line(f"T2 maps, {name}, beside their T1 map", beside_native(segmenter, t1_maps, maps, ("T2", "native"), rng)))
    rng = np.random.default_rng(19)
    walls = [np.isin(c.labels, WALL_TISSUES) for c in t1_maps]
    kinds = {
        "ECV ~25 %": lambda c, wall: post_contrast(c, rng),
        "ECV ~48 %": lambda c, wall: post_contrast(c, rng, scar=wall, scar_share=0.85),
        "transmural scar": lambda c, wall: scarred(c, 1.0, rng),
    }
    for name, make in kinds.items():
        posts = [make(c, wall) for c, wall in zip(t1_maps, walls)]
        result = beside_native(segmenter, t1_maps, posts, ("T1", "post"), rng, move=True)
        print(_beside_line(f"post-contrast, {name}, heart moved 3-10 mm, beside the T1 map", result))


def t1_second_search_lines(segmenter, t1_maps: list[Case], t2_maps: list[Case]) -> None:
    """Print how noisy native T1 maps fare alone and after the second search beside the T2 or post-contrast map of their slice."""
    rng = np.random.default_rng(23)
    posts = [post_contrast(c, rng) for c in t1_maps]
    for sigma, share in ((0.8, 0.20), (1.0, 0.30)):
        noisy = [smoothed_noisy(c, sigma, share, np.random.default_rng(k)) for k, c in enumerate(t1_maps)]
        for name, others, stack in (("T2", t2_maps, ("T2", "native")), ("post-contrast", posts, ("T1", "post"))):
            scores: dict[str, list[float]] = {"alone": [], "second search": []}
            for t1, other in zip(noisy, others):
                slices = [_at_one_plane("t1", "T1", t1.pixels, t1.spacing, "native"),
                          _at_one_plane("other", stack[0], other.pixels, t1.spacing, stack[1])]  # fmt: skip
                predictions, reasons = predict_native_first(segmenter, slices, AnalyzeConfig())
                for how in scores:
                    if how == "second search":
                        search_native_t1_again(segmenter, slices, predictions, reasons, AnalyzeConfig())
                    found = predictions[0]
                    scores[how].append(
                        0.0 if found is None else compare_masks(found.labels, t1.epi, t1.endo, spacing_mm=t1.spacing).epicardial.dice
                    )
            rows = "; ".join(f"{how} {np.mean(d):.3f} ({np.mean(np.asarray(d) > 0):.0%})" for how, d in scores.items())
            print(f"T1 maps, {sigma:g} px, noise {share:.0%} myo, beside their {name} map: {rows}")


def _beside_line(name: str, result: dict) -> str:
    rows = "; ".join(f"{how} {d:.3f} ({f:.0%})" for how, (d, f) in result["rows"].items())
    return f"{name}: {rows}; {result['replaced']} rings of their own replaced"


def exam_maps(bench: list[Case], images) -> list[MapSlice]:
    """The benchmark's maps as ``analyze`` reads them (placed by their DICOM geometry), one study per subject."""
    maps = []
    for k, (case, image) in enumerate(zip(bench, images)):
        meta = read_image(image.source)[1]
        maps.append(MapSlice(image.source, case.map_type, case.pixels, case.spacing, meta.orientation, meta.position_mm,
                             image.subject, "study", str(k), str(k), str(k)))  # fmt: skip
    return maps


def in_exam(segmenter, maps: list[MapSlice], changed: dict[int, Case]) -> tuple[int, int, int]:
    """The maps ``changed`` (index into ``maps``: new map) put in place in their subjects' exams (every exam when none).

    Each exam is a subject's six maps (T1 and T2, basal, mid and apical;
    :func:`exam_maps`), segmented with
    :func:`myomap.analyze.patient.predict_native_first` and
    :func:`~myomap.analyze.patient.search_native_t1_again`.  Returns how many
    of the changed maps get a ring before and after
    :func:`myomap.analyze.patient.check_against_stack`, and how many rings
    of the exams' other maps it drops or replaces.
    """
    config = AnalyzeConfig()
    subjects = {maps[k].patient for k in changed} or {m.patient for m in maps}
    before = after = touched = 0
    for subject in subjects:
        members = [k for k, m in enumerate(maps) if m.patient == subject]
        slices = [replace(maps[k], pixels=changed[k].pixels) if k in changed else maps[k] for k in members]
        predictions, reasons = predict_native_first(segmenter, slices, config)
        search_native_t1_again(segmenter, slices, predictions, reasons, config)
        first = list(predictions)
        check_against_stack(segmenter, slices, predictions, reasons, config)
        for j, k in enumerate(members):
            if k in changed:
                before, after = before + (first[j] is not None), after + (predictions[j] is not None)
            else:
                touched += first[j] is not None and predictions[j] is not first[j]
    return before, after, touched


def failed_in_wall(c: Case, share: float, marker: str, clumped: bool, rng) -> Case:
    """``share`` of the wall's pixels (or, ``clumped``, clumps of five centred there) set to a failed fit's value.

    ``marker`` names that value: ``top``, the map's own top (the value its
    failed fits in the lung hold: 4000 ms on the phantom's T1 maps, 1000 ms
    on its T2 maps), ``0``, ``0 on 0`` (0 on a map whose air and lungs are
    blanked at 0) or ``NaN`` (a float map's failures, read from NIfTI or
    float DICOM as they are, and myomap's own fits).  With ``NaN`` the
    lung's and air's failures at the top become NaN too.
    """
    wall = np.isin(c.labels, WALL_TISSUES)
    where = wall & (rng.random(wall.shape) < share)
    if clumped:
        where = ndimage.binary_dilation(where)
    top = np.float32(c.pixels.max())
    pixels = np.where(c.pixels == top, np.float32(np.nan), c.pixels) if marker == "NaN" else c.pixels
    if marker == "0 on 0":
        pixels = np.where(np.isin(c.labels, [Tissue.AIR, Tissue.LUNG]), np.float32(0.0), pixels)
    value = {"top": top, "0": np.float32(0.0), "0 on 0": np.float32(0.0), "NaN": np.float32(np.nan)}[marker]
    return c.shown(np.where(where, value, pixels), c.spacing, c.epi, c.endo)


def failed_fit_lines(segmenter, bench: list[Case]) -> None:
    """The failed-fit rows: scattered at the top of the range, at 0 (on speckled or blanked air and lungs) and as NaN, and in clumps at the top and as NaN."""
    rows = (
        ("top", False, (0.05, 0.10, 0.20)),
        ("0", False, (0.10, 0.20)),
        ("0 on 0", False, (0.10, 0.20)),
        ("NaN", False, (0.10, 0.20)),
        ("top", True, (0.05,)),
        ("NaN", True, (0.05,)),
    )
    for marker, clumped, shares in rows:
        for share in shares:
            rng = np.random.default_rng(23)
            name = f"wall failed at {marker}, {share:.0%}{', clumps' if clumped else ''}"
            report(name, segmenter, [failed_in_wall(c, share, marker, clumped, rng) for c in bench])


def report(name: str, segmenter, cases: list[Case]) -> None:
    """Print Dice / HD / found and how many rings carry two of the image check's doubts (native T1 and T2 maps only)."""
    dice, hd, found, doubted = score(segmenter, cases, True)
    print(f"{name:<34}{len(cases):>5}{dice:>8.3f}{hd:>7.2f}{found:>7.0%}{doubted:>8}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the robustness benchmark's folder (simulated when missing)")
    parser.add_argument("--model", default=str(EMBEDDED_ONNX), help="a model file (.onnx or .pt); default: the embedded model")
    parser.add_argument("--subjects", type=int, default=12)
    args = parser.parse_args()
    segmenter = load(args.model)
    bench = load_cases(args.data, "bench", args.subjects)
    t1_maps = [c for c in bench if c.map_type == "T1"]
    t2_maps = [c for c in bench if c.map_type == "T2"]
    print(f"{'probe (test-time augmentation on)':<34}{'maps':>5}{'Dice':>8}{'HD':>7}{'found':>7}{'doubted':>8}")
    for sigma, where in ((0.5, "all"), (0.8, "all"), (1.2, "all"), (0.8, "tissue"), (0.8, "speckle")):
        report(f"smoothed {sigma} px ({where})", segmenter, [smoothed(c, sigma, where) for c in bench])
    for share in (0.05, 0.10, 0.20):
        for kind, maps in (("T1", t1_maps), ("T2", t2_maps)):
            rng = np.random.default_rng(5)
            report(f"smoothed 0.8 px, noise {share:.0%} myo, {kind}", segmenter, [smoothed_noisy(c, 0.8, share, rng) for c in maps])
    for change in (0.0, 3.0, 5.0, -1.5, -2.5):
        rng = np.random.default_rng(1)
        report(f"cine, wall {change:+.1f} mm, told T1", segmenter, [wall_changed(c, change, rng) for c in t1_maps])
    smallest = sorted(t1_maps, key=lambda c: polygon_area(c.endo) * c.spacing[0] * c.spacing[1])[:12]
    for change in (7.0, 9.0):
        rng = np.random.default_rng(1)
        report(f"cine, apex at end-systole, wall {change:+.0f} mm", segmenter, [wall_changed(c, change, rng) for c in smallest])
    cine_rng = np.random.default_rng(1)
    cine = [cine_like(c, cine_rng) for c in t1_maps]
    for ratio in (3.0, 6.0):
        report(f"cine, coil shading {ratio:g}x", segmenter, [shaded(c, ratio) for c in cine])
    cine_rng, band_rng = np.random.default_rng(1), np.random.default_rng(3)  # the robustness benchmark's cine-band frames
    banded = [cine_like(c, cine_rng, band_loss(c, band_rng)) for c in t1_maps]
    report("cine-band", segmenter, banded)
    predictions, _ = predict(segmenter, banded, True)
    poor = flagged = 0
    for case, prediction in zip(banded, predictions):
        if prediction is None:
            poor, flagged = poor + 1, flagged + 1  # no contours: analyze reports the slice as failed
            continue
        if compare_masks(prediction.labels, case.epi, case.endo, spacing_mm=case.spacing).epicardial.dice < 0.8:
            poor += 1
            contours = mask_to_contours(prediction.labels)
            quality = assess(
                prediction.labels, contours, spacing_mm=case.spacing, agreement=prediction.agreement, members=prediction.members
            )
            flagged += quality.review
    print(f"cine-band: {flagged} of the {poor} frames under 0.8 Dice flagged for review or without contours")
    for ratio in (1.5, 2.0):
        report(f"anisotropic pixels, rows {ratio:g}x", segmenter, [anisotropic(c, ratio) for c in bench])
    for top in (2.0, 1.3, 1.1):
        report(f"windowed 8-bit, top {top:g}x myocardium", segmenter, [windowed(c, top) for c in bench])
    images, _ = load_dataset(args.data / "bench", roles=("map",), observers=("reference",))  # load_cases' order
    for factor in (1, 2):
        cases = [refitted(c, image.source.parent, factor) for c, image in zip(bench, images)]
        for map_type in ("T1", "T2"):
            label = "refitted" if factor == 1 else f"zero-filled {factor}x, refitted"
            report(f"{label}, {map_type}", segmenter, [c for c in cases if c.map_type == map_type])
    for share in (0.7, 0.5):
        cases = [acquired_coarser(c, image.source.parent, share, k % 2) for k, (c, image) in enumerate(zip(bench, images))]
        for map_type in ("T1", "T2"):
            report(f"acquired {share:.0%} of lines, refitted, {map_type}", segmenter, [c for c in cases if c.map_type == map_type])
    rng = np.random.default_rng(5)
    above = [above_the_base(c, rng) for c in bench]
    share, drawn, flagged = rings_drawn(segmenter, above, True)
    print(f"above the base (aortic root, pulmonary trunk): {drawn} of {len(above)} maps given a ring ({share:.0%}), {flagged} flagged")
    rng = np.random.default_rng(7)
    t1_post = [post_contrast(c, rng) for c in t1_maps]
    for thickness, dependent in ((5.0, False), (12.0, True)):
        shape = f"{thickness:g} mm {'dependent' if dependent else 'all round'}"
        for name, group, labelled in (("T1", t1_maps, t1_maps), ("T2", t2_maps, t2_maps), ("T1-post", t1_post, t1_maps)):
            cases = [effusion(c, source.labels, thickness, dependent, rng) for c, source in zip(group, labelled)]
            report(f"effusion {shape}, {name}", segmenter, cases)
    for transmurality, label in ((0.5, "subendocardial"), (1.0, "transmural")):
        report(f"post-contrast, {label} scar", segmenter, [scarred(c, transmurality, rng) for c in t1_maps])
    walls = [np.isin(c.labels, WALL_TISSUES) for c in t1_maps]
    for share, ecv in ((0.7, 39), (0.85, 48)):
        cases = [post_contrast(c, rng, scar=wall, scar_share=share) for c, wall in zip(t1_maps, walls)]
        report(f"post-contrast, ECV ~{ecv} %", segmenter, cases)
    for share in (0.7, 0.55):
        cases = [wrapped(c, image.source.parent, share) for c, image in zip(bench, images)]
        for map_type in ("T1", "T2"):
            report(f"wrapped at {share:.0%} of the rows, {map_type}", segmenter, [c for c in cases if c.map_type == map_type])
    rng = np.random.default_rng(17)
    kidneys = [kidney_slice(c, rng) for c in bench]
    share, drawn, flagged = rings_drawn(segmenter, kidneys, True)
    print(f"kidney on a liver slice: {drawn} of {len(kidneys)} maps given a ring ({share:.0%}), {flagged} flagged")
    hearts_out = [no_heart(c, np.random.default_rng(k)) for k, c in enumerate(bench)]
    exams = exam_maps(bench, images)
    position = [(image.subject, image.slice) for image in images]
    for name, maps in (("heart painted out", hearts_out), ("kidney on a liver slice", kidneys)):
        for together in (False, True):  # one map, or the T1 and T2 maps of its slice position (the T2 map hinted by the T1 map)
            counts = np.zeros(3, int)
            for i in range(len(bench)):
                if together and bench[i].map_type != "T1":
                    continue
                same = [k for k in range(len(bench)) if position[k] == position[i]] if together else [i]
                counts += in_exam(segmenter, exams, {k: maps[k] for k in same})
            which = "T1 and T2 maps of a slice" if together else "one map"
            print(
                f"in its exam, {name} ({which}): {counts[0]} maps given a ring without the stack check, {counts[1]} with it; "
                f"{counts[2]} rings of the other maps dropped or replaced"
            )
    print(f"untouched exams: {in_exam(segmenter, exams, {})[2]} rings dropped or replaced by the stack check")
    rng = np.random.default_rng(13)
    walls = [np.isin(c.labels, WALL_TISSUES) for c in t1_maps]
    posts = [post_contrast(c, rng, scar=wall, scar_share=0.85) for c, wall in zip(t1_maps, walls)]
    posts = [
        Case(p.pixels, p.spacing, p.epi, p.endo, c.labels, p.field, p.map_type, p.contrast) for p, c in zip(posts, t1_maps)
    ]  # same anatomy
    placed, matched, lent = borrowed_after_breath_hold(segmenter, t1_maps, posts, rng)
    print(f"borrowed rings, heart moved 3-10 mm: Dice {placed:.3f} placed by the slice geometry, {matched:.3f} matched ({lent} maps)")
    beside_native_lines(segmenter, t1_maps, t2_maps)
    failed_fit_lines(segmenter, bench)
    t1_second_search_lines(segmenter, t1_maps, t2_maps)
    rng = np.random.default_rng(11)
    for target in (0.5, 3.0):
        report(f"{target:g} mm pixels", segmenter, [c.shown(*resample_mm(c.pixels, c.spacing, c.epi, c.endo, target)) for c in bench])
    report("120 mm crop, heart anywhere", segmenter, [extreme_crop(c, 120.0, None, rng) for c in bench])
    report("64 x 64 at 3 mm, heart anywhere", segmenter, [extreme_crop(c, 192.0, 3.0, rng) for c in bench])
    report("450 mm at 0.5 mm (900 px)", segmenter, [wide_field(c, 450.0, 0.5, rng) for c in bench])
    for factor in (0.5, 0.6, 0.75, 1.25, 1.4):
        report(f"body and heart {factor:g}x", segmenter, [shown_at_scale(c, factor) for c in bench])
    child = ScaledHeart(segmenter, 0.6)  # as analyze --heart-scale 0.6 segments
    for factor in (0.5, 0.6, 0.75, 1.0):
        report(f"body and heart {factor:g}x, --heart-scale 0.6", child, [shown_at_scale(c, factor) for c in bench])


if __name__ == "__main__":
    main()
