"""Training views for fixed-pixel-size models: random fields of view, scales, rotations and mirrors.

A :class:`Source` is one training image on its native grid with its
reference contours and, for phantom data, the tissue label map it was
simulated from.  :func:`draw_view` makes one network input and target
from it the way inference will see it (:mod:`myomap.model.locate`):

- the image itself (physics-simulated map or weighted image, or a user's
  labelled scan) or, with probability ``synthetic_share``, an image
  synthesised from the label map (:mod:`myomap.model.synth`), of which a
  share ``wall_change_share`` with the compact wall thickened or thinned
  (:func:`change_wall`: a systolic frame, hypertrophy, a thinned scar);
- sometimes resampled to another native pixel size (``native_spacing_mm``,
  0.6-2.6 mm by default) and
  sometimes cropped to a tight field of view around an off-centre heart;
- with probability ``no_heart_share``, a *heart-free* view: the label map
  with every heart tissue taken over by its nearest neighbouring tissue
  (:func:`remove_heart`: lung, liver, chest wall, aorta, as on a slice above
  or below the heart), synthesised, with an all-background target, so that
  the network learns to draw no ring where there is no LV; a share
  ``bottle_share`` of those is a test object of tubes in a fill instead
  (:func:`myomap.model.synth.bottle_labels`: a QA phantom such as T1MES),
  with a tube where the LV was, and a share ``kidney_share`` of the others
  gets a kidney within ±20 mm per axis of where the LV was
  (:func:`myomap.model.synth.kidney`: a cortex like myocardium around a
  medulla like blood on a native T1 map, as on a liver slice), and a share
  ``great_vessels_share`` of those without one the aortic root, pulmonary
  trunk and often a left atrium there (:func:`myomap.model.synth.great_vessels`:
  pools of blood in thin walls, as on a slice above the base);
- with probability ``kidney_share``, a synthesised view with a heart gets
  a kidney too, at least 45 mm from the heart;
- with probability ``blood_speckle_share`` (maps, simulated or synthesised,
  with a heart) the blood pools speckled as a low-SNR fit leaves them
  (:func:`myomap.model.synth.blood_speckle`), and with probability
  ``scar_share`` (maps with a heart, simulated, synthesised or a user's) a
  focal scar in the wall, its values moved toward the blood's
  (:func:`myomap.model.synth.scar`: on a post-contrast map as dark as the
  blood), still myocardium in the target; with probability
  ``diffuse_share`` the whole wall's values moved toward the blood's
  (:func:`myomap.model.synth.diffuse`: diffuse disease, on a
  post-contrast map a myocardium close to the blood);
- with probability ``body_scale_share`` the whole image shown at
  ``body_scale`` times its size (:func:`scaled_body`: its pixel size
  scaled, a child's chest below 1);
- with probability ``band_share`` a dark off-resonance band near the LV
  (:func:`myomap.model.synth.band`), and with probability
  ``window_share`` the image as a display-windowed 8-bit export
  (:func:`myomap.model.synth.display_window`: blood pool and fat
  saturated);
- then either a *coarse* view (a field of view of 120-450 mm fitted into
  the window, the LV anywhere in it) or a *fine* view (the model's pixel
  size, ±15 % zoom, centred on the LV within ±15 mm), at any in-plane
  rotation and mirrored half of the time, and with probability
  ``stretch_share`` squeezed or stretched along a random direction by
  ``stretch`` (an elliptical LV: an oblique plane, a D-shaped septum);
- with probability ``deform_share``, image and target warped together by a
  smooth random displacement field (:func:`deform`: albumentations'
  elastic transform, smoothed over ``deform_scale_mm`` with an RMS
  displacement drawn from ``deform_mm``): anatomy off the phantom's
  elliptical shapes (bulges, flattened walls, an irregular blood pool).

The target mask is rasterised from the contours moved into the window, as
for the share-of-image models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import albumentations as A
import cv2
import numpy as np
from scipy import ndimage
from skimage.measure import find_contours

from myomap.conventions import Tissue
from myomap.geometry.masks import contours_to_mask
from myomap.geometry.polygon import polygon_mask
from myomap.model.synth import (
    SynthSettings,
    band,
    bias_field,
    blood_speckle,
    bottle_labels,
    diffuse,
    display_window,
    great_vessels,
    kidney,
    noise,
    scar,
    synthesise,
)
from myomap.model.window import Window, as_network_sees, cut_window, normalise_inside, points_to_window

if TYPE_CHECKING:
    from myomap.io.dataset import LoadError


@dataclass(frozen=True)
class Source:
    """A training image on its native grid."""

    pixels: np.ndarray
    spacing_mm: tuple[float, float]
    epi: np.ndarray  # (n, 2) native pixel (x, y)
    endo: np.ndarray
    labels: np.ndarray | None  # tissue label map (phantom), for synthesis
    role: str
    dataset: int = 0


@dataclass(frozen=True)
class ViewSettings:
    """Probabilities and ranges of the geometric randomisation."""

    window_spacing_mm: float
    size: int
    synthetic_share: float = 0.5
    coarse_share: float = 0.3
    tight_fov_share: float = 0.25
    resample_share: float = 0.3
    native_spacing_mm: tuple[float, float] = (0.6, 2.6)
    zoom: tuple[float, float] = (0.85, 1.18)
    centre_sd_mm: float = 5.0
    centre_max_mm: float = 15.0
    coarse_fov_mm: tuple[float, float] = (120.0, 450.0)
    wall_change_share: float = 0.0
    wall_change_mm: tuple[float, float] = (-2.5, 6.0)
    stretch_share: float = 0.0
    stretch: tuple[float, float] = (0.8, 1.25)
    no_heart_share: float = 0.0
    bottle_share: float = 0.0
    band_share: float = 0.0
    window_share: float = 0.0
    deform_share: float = 0.0
    deform_mm: tuple[float, float] = (0.3, 1.0)
    deform_scale_mm: float = 10.0
    blood_speckle_share: float = 0.0
    scar_share: float = 0.0
    diffuse_share: float = 0.0
    kidney_share: float = 0.0
    great_vessels_share: float = 0.0
    body_scale_share: float = 0.0
    body_scale: tuple[float, float] = (0.5, 1.0)


def draw_view(
    source: Source, rng: np.random.Generator, view: ViewSettings, synth: SynthSettings = SynthSettings()
) -> tuple[np.ndarray, np.ndarray]:
    """One normalised (S, S) input and its (S, S) uint8 target (0 background, 1 myocardium, 2 blood pool)."""
    heart_free = None
    if source.labels is not None and view.no_heart_share > 0 and rng.random() < view.no_heart_share:  # no draw when off (older recipes)
        if view.bottle_share > 0 and rng.random() < view.bottle_share:
            heart_free = bottle_labels(source.labels.shape, source.spacing_mm, np.mean(source.epi, axis=0), rng)
        else:
            heart_free = remove_heart(source.labels)
            if heart_free is not None and view.kidney_share > 0 and rng.random() < view.kidney_share:  # where the LV was
                centre = np.mean(source.epi, axis=0) + rng.uniform(-20.0, 20.0, 2) / np.asarray(source.spacing_mm)[::-1]
                heart_free = kidney(heart_free, source.spacing_mm, centre, rng, np.zeros(heart_free.shape, bool))
            elif heart_free is not None and view.great_vessels_share > 0 and rng.random() < view.great_vessels_share:
                heart_free = great_vessels(heart_free, source.spacing_mm, np.mean(source.epi, axis=0), rng)
    if heart_free is not None:  # the window stays around where the LV was
        pixels, endo = synthesise(heart_free, rng, synth), source.endo
    else:
        pixels, endo, labels = _appearance(source, rng, view, synth)
        if view.blood_speckle_share > 0 and labels is not None and rng.random() < view.blood_speckle_share:  # no draw when off
            pixels = blood_speckle(pixels, labels, rng)
        is_map = labels is not None or source.role == "map"
        if view.scar_share > 0 and is_map and rng.random() < view.scar_share:  # no draw when off (older recipes)
            pixels = scar(pixels, contours_to_mask(source.epi, endo, pixels.shape), rng)
        if view.diffuse_share > 0 and is_map and rng.random() < view.diffuse_share:  # no draw when off (older recipes)
            wall = None if labels is None else np.isin(labels, WALL_TISSUES)
            pixels = diffuse(pixels, contours_to_mask(source.epi, endo, pixels.shape), rng, wall)
    spacing, epi = source.spacing_mm, source.epi
    if view.body_scale_share > 0 and rng.random() < view.body_scale_share:  # no draw when off (older recipes keep their views)
        spacing = scaled_body(spacing, rng, view.body_scale)
    if view.band_share > 0 and rng.random() < view.band_share:  # no draw when off (older recipes keep their views)
        pixels = band(pixels, np.mean(epi, axis=0), spacing, rng)
    if view.window_share > 0 and rng.random() < view.window_share:
        pixels = as_network_sees(display_window(pixels, rng))  # as inference shows a windowed export
    if rng.random() < view.resample_share:
        pixels, spacing, epi, endo = resample(pixels, spacing, epi, endo, rng.uniform(*view.native_spacing_mm))
    if rng.random() < view.tight_fov_share:
        pixels, epi, endo = _tight_crop(pixels, spacing, epi, endo, rng)
    window = _window(pixels.shape, spacing, np.mean(epi, axis=0), rng, view)
    image = normalise_inside(*cut_window(pixels, window))
    if heart_free is not None:
        mask = np.zeros((view.size, view.size), np.uint8)
    else:
        mask = contours_to_mask(points_to_window(epi, window), points_to_window(endo, window), (view.size, view.size))
    if view.deform_share > 0 and rng.random() < view.deform_share:  # no draw when off (older recipes keep their views)
        image, mask = deform(image, mask, rng, window.spacing_mm, rms_mm=rng.uniform(*view.deform_mm), scale_mm=view.deform_scale_mm)
    return image, mask


# RMS displacement (pixels) of albumentations' ElasticTransform per unit of alpha / sigma (measured on 2.0.8 for
# sigma 4-16 px: 0.056-0.064); tests/model/test_views.py checks the displacement in mm.
_ELASTIC_RMS_PER_ALPHA_OVER_SIGMA = 0.06


def deform(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, spacing_mm: float, *, rms_mm: float, scale_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """``image`` (linear) and ``mask`` (nearest) warped by one smooth random field: RMS ``rms_mm`` per axis, smoothed over ``scale_mm``."""
    sigma = scale_mm / spacing_mm
    alpha = rms_mm / spacing_mm * sigma / _ELASTIC_RMS_PER_ALPHA_OVER_SIGMA
    transform = A.ElasticTransform(alpha=alpha, sigma=sigma, border_mode=cv2.BORDER_CONSTANT, fill=0.0, fill_mask=0, p=1.0)
    transform.set_random_seed(int(rng.integers(2**31)))
    out = transform(image=image, mask=mask)
    return out["image"].astype(np.float32), out["mask"].astype(np.uint8)


KIDNEY_CLEARANCE_MM = 45.0  # a kidney painted beside the heart is centred at least this far from it (its half-length is at most 35 mm)
HEART_TISSUES = (
    Tissue.LV_BLOOD, Tissue.LV_MYOCARDIUM, Tissue.PAPILLARY, Tissue.RV_BLOOD, Tissue.RV_WALL,
    Tissue.EPICARDIAL_FAT, Tissue.PERICARDIUM, Tissue.OUTFLOW_BLOOD,
)  # fmt: skip
# The myocardium of the tissue label maps: LV and RV walls, papillary muscles.
WALL_TISSUES = (Tissue.LV_MYOCARDIUM, Tissue.PAPILLARY, Tissue.RV_WALL)


def remove_heart(labels: np.ndarray) -> np.ndarray | None:
    """The label map with every heart tissue (:data:`HEART_TISSUES`) replaced by the nearest other tissue.

    None when there is no other tissue to take over (a map of heart only).

    >>> labels = np.full((5, 7), Tissue.LUNG, np.uint8)
    >>> labels[:, 5:] = Tissue.LIVER
    >>> labels[1:4, 2:5] = Tissue.LV_MYOCARDIUM
    >>> remove_heart(labels)[2].tolist() == [Tissue.LUNG] * 4 + [Tissue.LIVER] * 3
    True
    """
    heart = np.isin(labels, HEART_TISSUES)
    if heart.all():
        return None
    if not heart.any():
        return labels
    _, (rows, cols) = ndimage.distance_transform_edt(heart, return_indices=True)
    return labels[rows, cols]


def fixed_view(source: Source, view: ViewSettings) -> tuple[np.ndarray, np.ndarray]:
    """The fine window centred on the reference LV, no randomisation (validation)."""
    centre = np.mean(source.epi, axis=0)
    window = Window((float(centre[0]), float(centre[1])), source.spacing_mm, source.pixels.shape, view.window_spacing_mm, view.size)
    image = normalise_inside(*cut_window(as_network_sees(source.pixels), window))
    mask = contours_to_mask(points_to_window(source.epi, window), points_to_window(source.endo, window), (view.size, view.size))
    return image, mask


def _appearance(
    source: Source, rng: np.random.Generator, view: ViewSettings, synth: SynthSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The view's native image, its endocardial contour (moved when the wall was changed) and its tissue labels, if known."""
    if source.labels is not None and rng.random() < view.synthetic_share:
        labels, endo = source.labels, source.endo
        if view.wall_change_share > 0 and rng.random() < view.wall_change_share:  # no draw when off: older recipes keep their views
            labels, endo = change_wall(labels, source.epi, endo, source.spacing_mm, rng.uniform(*view.wall_change_mm))
        if view.kidney_share > 0 and rng.random() < view.kidney_share:
            labels = _kidney_beside_the_heart(labels, source.spacing_mm, rng)
        return synthesise(labels, rng, synth), endo, labels
    pixels = as_network_sees(source.pixels)  # as inference shows them (a user's scans may be blanked, or fail in the wall)
    if rng.random() < 0.3:  # mild extra bias and noise on the physics images too
        level = float(np.median(pixels))
        pixels = noise(bias_field(pixels, rng, (0.0, 0.2)), rng, rng.uniform(0.0, 0.05) * abs(level))
    return pixels, source.endo, source.labels if source.role == "map" else None  # a weighted image's blood is no fit


def _kidney_beside_the_heart(labels: np.ndarray, spacing_mm, rng: np.random.Generator) -> np.ndarray:
    """``labels`` with a kidney (:func:`myomap.model.synth.kidney`) centred in lung, liver or muscle at least 45 mm from the heart."""
    heart = np.isin(labels, HEART_TISSUES)
    far = ndimage.distance_transform_edt(~heart, sampling=spacing_mm) > KIDNEY_CLEARANCE_MM
    candidates = np.argwhere(far & np.isin(labels, (Tissue.LUNG, Tissue.LIVER, Tissue.MUSCLE)))
    if not heart.any() or len(candidates) == 0:
        return labels
    row, col = candidates[rng.integers(len(candidates))]
    return kidney(labels, spacing_mm, (float(col), float(row)), rng, heart)


def change_wall(labels: np.ndarray, epi, endo, spacing_mm, change_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """A label map and endocardial contour with the compact wall ``change_mm`` thicker (or thinner when negative).

    Thickening turns the cavity's outer band into myocardium; thinning turns
    myocardium next to the cavity into blood but keeps 2 mm of wall under
    the epicardium.  The epicardium stays.  When the cavity would vanish
    (under 10 pixels), nothing changes.
    """
    cavity = polygon_mask(endo, labels.shape)
    if change_mm >= 0:
        new_cavity = ndimage.distance_transform_edt(cavity, sampling=spacing_mm) > change_mm
        changed, tissue = cavity & ~new_cavity, Tissue.LV_MYOCARDIUM
    else:
        wall_left_mm = ndimage.distance_transform_edt(polygon_mask(epi, labels.shape), sampling=spacing_mm)
        near = ndimage.distance_transform_edt(~cavity, sampling=spacing_mm) <= -change_mm
        changed = near & ~cavity & (wall_left_mm > 2.0) & (labels == Tissue.LV_MYOCARDIUM)
        new_cavity, tissue = cavity | changed, Tissue.LV_BLOOD
    if new_cavity.sum() < 10:
        return labels, endo
    traced = find_contours(np.pad(new_cavity, 1).astype(float), 0.5)
    out = labels.copy()
    out[changed] = tissue
    rows_cols = max(traced, key=len) - 1.0  # undo the padding
    return out, rows_cols[:, ::-1].copy()


def resample(pixels, spacing, epi, endo, target_mm: float):
    """The same field of view on pixels of ``target_mm`` (as a scanner's reconstruction would); contours follow."""
    rows, cols = pixels.shape
    new_rows = max(16, int(round(rows * spacing[0] / target_mm)))
    new_cols = max(16, int(round(cols * spacing[1] / target_mm)))
    scale_y, scale_x = new_rows / rows, new_cols / cols
    interpolation = cv2.INTER_AREA if scale_x < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(np.ascontiguousarray(pixels, np.float32), (new_cols, new_rows), interpolation=interpolation)
    scale = np.array([scale_x, scale_y])

    def move(xy):  # pixel-centre convention of cv2.resize
        return (np.asarray(xy) + 0.5) * scale - 0.5

    return resized, (spacing[0] / scale_y, spacing[1] / scale_x), move(epi), move(endo)


def scaled_body(spacing: tuple[float, float], rng: np.random.Generator, scale: tuple[float, float]) -> tuple[float, float]:
    """The pixel size that shows an image's body and heart at a size drawn log-uniformly from ``scale``: a child's chest below 1.

    The phantom's hearts are adults' (an LV about 50 mm across at the
    median slice); scaling the pixel size, not the pixels, shrinks the whole
    chest alike, organs and round vessels with the heart.
    """
    factor = float(np.exp(rng.uniform(*np.log(scale))))
    return (spacing[0] * factor, spacing[1] * factor)


def _tight_crop(pixels, spacing, epi, endo, rng: np.random.Generator):
    """A square field of view of 100-220 mm holding the LV, which may sit anywhere but the very edge."""
    rows, cols = pixels.shape
    side_mm = rng.uniform(100.0, 220.0)
    half = np.array([side_mm / 2 / spacing[1], side_mm / 2 / spacing[0]])
    lv = np.mean(epi, axis=0)
    radius = np.ptp(epi, axis=0) / 2
    room = np.maximum(half - radius - 2.0, 0.0)
    centre = lv + rng.uniform(-1.0, 1.0, 2) * room
    c0, r0 = np.maximum(np.round(centre - half).astype(int), 0)
    c1, r1 = min(cols, int(round(centre[0] + half[0]))), min(rows, int(round(centre[1] + half[1])))
    if c1 - c0 < 32 or r1 - r0 < 32:
        return pixels, epi, endo
    shift = np.array([c0, r0])
    return pixels[r0:r1, c0:c1], epi - shift, endo - shift


def _window(shape, spacing, lv_xy: np.ndarray, rng: np.random.Generator, view: ViewSettings) -> Window:
    angle, mirror = rng.uniform(0.0, 360.0), bool(rng.random() < 0.5)
    pixel_mm = np.array([spacing[1], spacing[0]])
    if rng.random() < view.coarse_share:
        fov = rng.uniform(*view.coarse_fov_mm)
        window_mm = max(fov / view.size, view.window_spacing_mm)
        room = max(fov / 2 - 40.0, 0.0)
        centre = lv_xy + rng.uniform(-room, room, 2) / pixel_mm
    else:
        window_mm = view.window_spacing_mm * rng.uniform(*view.zoom)
        offset = np.clip(rng.normal(0.0, view.centre_sd_mm, 2), -view.centre_max_mm, view.centre_max_mm)
        centre = lv_xy + offset / pixel_mm
    stretch, axis = 1.0, 0.0
    if view.stretch_share > 0 and rng.random() < view.stretch_share:  # log-uniform; no draw when off (older recipes keep their views)
        stretch, axis = float(np.exp(rng.uniform(*np.log(view.stretch)))), rng.uniform(0.0, 180.0)
    centre_xy = (float(centre[0]), float(centre[1]))
    return Window(centre_xy, tuple(spacing), tuple(shape), float(window_mm), view.size, angle, mirror, stretch, axis)


def load_sources(data, split: dict[str, str], dataset: int, errors: list[str | LoadError]) -> dict[str, list[Source]]:
    """Every image of a data set with reference contours, grouped by split, with its label map when the manifest has one.

    The phantom's manifest names a ``truth`` file per image (``truth.npz``
    with a ``labels`` array); user data sets have none and are used as they
    are.  Unusable rows go to ``errors``: those that fail to load as their
    :class:`~myomap.io.dataset.LoadError`, the others as one line of text.
    """
    from pathlib import Path

    from myomap.io.dataset import iter_images, read_manifest

    root = Path(data)
    rows, _ = read_manifest(root / "manifest.csv" if root.is_dir() else root)
    root = root if root.is_dir() else root.parent
    truth = {(root / r.image).resolve(): root / r.extra["truth"] for r in rows if r.extra.get("truth")}
    label_cache: dict = {}
    load_errors: list = []
    groups: dict[str, list[Source]] = {"train": [], "val": [], "test": []}
    for image in iter_images(root, observers=("reference",), errors=load_errors):
        reference = image.contours.get("reference")
        if reference is None or len(reference.epi) < 3 or len(reference.endo) < 3:
            errors.append(f"{image.source}: no usable reference contours, skipped")
            continue
        labels = _labels(truth.get(Path(image.source).resolve()), image.pixels.shape, label_cache)
        source = Source(image.pixels, image.spacing_mm, reference.epi, reference.endo, labels, image.role, dataset)
        groups.setdefault(split.get(image.subject, "train"), []).append(source)
    errors.extend(load_errors)
    return groups


def _labels(path, shape, cache: dict) -> np.ndarray | None:
    if path is None:
        return None
    if path not in cache:
        try:
            with np.load(path) as npz:
                cache[path] = npz["labels"].astype(np.uint8) if "labels" in npz else None
        except (OSError, ValueError):
            cache[path] = None
    labels = cache[path]
    return labels if labels is not None and labels.shape == shape else None
