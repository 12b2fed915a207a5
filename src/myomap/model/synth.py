"""Domain randomisation: training images synthesised from the phantom's tissue label maps.

After SynthSeg (Billot et al., Med Image Anal 2023;86:102789): an image is
rendered from a label map by a chain of small random steps, each with its
range as an explicit setting, so that the network learns shape and context
rather than one scanner's contrast.  The chain here:

1. :func:`extra_organs`: further stomach, spleen and unnamed blobs at
   random places, painted outside the heart, so that the network does not
   learn where the phantom puts its organs.
2. :func:`label_intensities`: a mean value per label, from a physiological
   family (native T1, post-contrast T1 with blood darker than myocardium,
   T2) or fully random, with texture inside each label.
3. :func:`speckle`: the random-looking values a pixel-wise fit gives in
   lung and air (and, drawn by the training views, :func:`blood_speckle`
   in the blood pools of a low-SNR map, and :func:`scar` and :func:`diffuse` in the wall).
4. :func:`bias_field`, :func:`blur`, :func:`resolution`, :func:`ringing`,
   :func:`motion_ghost`, :func:`noise`: appearance artefacts.

Before the chain, the training views may paint a kidney into the label map
(:func:`kidney`, ``kidney_share``): on a native T1 map its cortex and
medulla look like a myocardium around a blood pool.

Geometry (field of view, zoom, translation, rotation, mirroring) is drawn
by the training data loader with :mod:`myomap.model.window`, the same code
that cuts windows at inference.  Label values are the phantom's
:class:`~myomap.phantom.tissues.Tissue` codes; the organs added here use
codes above them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from myomap.conventions import BLOOD_POOL, MYOCARDIUM, Tissue

STOMACH, SPLEEN = Tissue.STOMACH, Tissue.SPLEEN
BLOB = len(Tissue)  # an organ of no kind in particular, painted only here
N_LABELS = BLOB + 1
# A kidney's cortex and medulla (:func:`kidney`), painted only here and drawn after the other labels' means.
KIDNEY_CORTEX, KIDNEY_MEDULLA = N_LABELS, N_LABELS + 1

# Relative mean values per label for the physiological families (ms-like, then jittered).
# Native T1 and T2 follow the phantom's tissue table at 1.5 T; post-contrast T1 follows
# typical values 10-20 min after gadolinium (blood ~300-400 ms, myocardium ~450-550 ms).
_FAMILIES: dict[str, dict[int, float]] = {
    "t1_native": {
        Tissue.LUNG: 1200, Tissue.SUBCUTANEOUS_FAT: 280, Tissue.MUSCLE: 1030, Tissue.LIVER: 580, Tissue.BONE_MARROW: 600,
        Tissue.AORTA_BLOOD: 1575, Tissue.EPICARDIAL_FAT: 280, Tissue.RV_BLOOD: 1575, Tissue.RV_WALL: 1000,
        Tissue.LV_BLOOD: 1575, Tissue.LV_MYOCARDIUM: 1000, Tissue.PAPILLARY: 1000, STOMACH: 1400, SPLEEN: 1100, BLOB: 900,
        Tissue.PERICARDIUM: 850, Tissue.OUTFLOW_BLOOD: 1575,
    },
    "t1_post": {
        Tissue.LUNG: 500, Tissue.SUBCUTANEOUS_FAT: 230, Tissue.MUSCLE: 650, Tissue.LIVER: 400, Tissue.BONE_MARROW: 350,
        Tissue.AORTA_BLOOD: 330, Tissue.EPICARDIAL_FAT: 230, Tissue.RV_BLOOD: 330, Tissue.RV_WALL: 480,
        Tissue.LV_BLOOD: 330, Tissue.LV_MYOCARDIUM: 480, Tissue.PAPILLARY: 480, STOMACH: 600, SPLEEN: 420, BLOB: 500,
        Tissue.PERICARDIUM: 500, Tissue.OUTFLOW_BLOOD: 330,
    },
    "t2": {
        Tissue.LUNG: 40, Tissue.SUBCUTANEOUS_FAT: 70, Tissue.MUSCLE: 35, Tissue.LIVER: 46, Tissue.BONE_MARROW: 50,
        Tissue.AORTA_BLOOD: 225, Tissue.EPICARDIAL_FAT: 70, Tissue.RV_BLOOD: 225, Tissue.RV_WALL: 50,
        Tissue.LV_BLOOD: 225, Tissue.LV_MYOCARDIUM: 50, Tissue.PAPILLARY: 50, STOMACH: 90, SPLEEN: 70, BLOB: 60,
        Tissue.PERICARDIUM: 30, Tissue.OUTFLOW_BLOOD: 225,
    },
}  # fmt: skip
FAMILIES = tuple(_FAMILIES) + ("random",)
# Kidney values per family, on the same scale: native T1 (MOLLI, 1.5 T) about 1000-1200 ms in the cortex and
# 1400-1600 ms in the medulla, as myocardium and blood; after gadolinium both fall to about 300-400 ms; T2 about
# 85 and 110 ms (reviews of renal relaxometry, e.g. Wolf et al., Invest Radiol 2018;53:187).
_KIDNEY = {"t1_native": (1150.0, 1550.0), "t1_post": (330.0, 380.0), "t2": (85.0, 110.0)}


@dataclass(frozen=True)
class SynthSettings:
    """Randomisation ranges of the synthesis chain (each step's probability and range).

    Saved with the model's training settings, so the data set a model was
    trained on is these settings plus the label maps.
    """

    family_weights: tuple[float, float, float, float] = (0.3, 0.2, 0.2, 0.3)  # t1_native, t1_post, t2, random
    intensity_jitter: float = 0.25  # relative SD of each label's mean around its family value
    min_blood_myo_contrast: float = 0.15  # |blood - myocardium| / max of the two, at least
    texture: tuple[float, float] = (0.0, 0.12)  # relative SD of smooth within-label texture
    p_extra_organs: float = 0.6
    p_speckle: float = 0.8
    bias: tuple[float, float] = (0.0, 0.35)  # peak relative amplitude of the smooth multiplicative field
    blur_px: tuple[float, float] = (0.0, 1.2)
    p_resolution: float = 0.35
    resolution_factor: tuple[float, float] = (1.2, 2.5)
    p_ringing: float = 0.2
    p_motion: float = 0.2
    noise: tuple[float, float] = (0.0, 0.08)  # SD relative to the myocardial value


def synthesise(labels: np.ndarray, rng: np.random.Generator, settings: SynthSettings = SynthSettings()) -> np.ndarray:
    """One random image (float32, non-negative) from a tissue label map, same grid."""
    if rng.random() < settings.p_extra_organs:
        labels = extra_organs(labels, rng)
    image, myo_level = label_intensities(labels, rng, settings)
    if rng.random() < settings.p_speckle:
        image = speckle(image, labels, rng)
    image = bias_field(image, rng, settings.bias)
    image = blur(image, rng.uniform(*settings.blur_px))
    if rng.random() < settings.p_resolution:
        image = resolution(image, rng.uniform(*settings.resolution_factor))
    if rng.random() < settings.p_ringing:
        image = ringing(image, rng)
    if rng.random() < settings.p_motion:
        image = motion_ghost(image, rng)
    image = noise(image, rng, rng.uniform(*settings.noise) * myo_level)
    return np.clip(image, 0.0, None).astype(np.float32)


def extra_organs(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Paint 1-3 random ellipses (stomach, spleen, an unnamed blob) where the label is lung, liver or muscle."""
    out = labels.copy()
    rows, cols = labels.shape
    free = np.isin(labels, (Tissue.LUNG, Tissue.LIVER, Tissue.MUSCLE))
    if not free.any():
        return out
    candidates = np.argwhere(free)
    yy, xx = np.mgrid[:rows, :cols]
    for label in rng.choice([STOMACH, SPLEEN, BLOB], size=int(rng.integers(1, 4))):
        cy, cx = candidates[rng.integers(len(candidates))]
        a, b = rng.uniform(0.04, 0.15, 2) * min(rows, cols)
        angle = rng.uniform(0, np.pi)
        du, dv = xx - cx, yy - cy
        p, q = np.cos(angle) * du + np.sin(angle) * dv, -np.sin(angle) * du + np.cos(angle) * dv
        out[((p / a) ** 2 + (q / b) ** 2 < 1.0) & free] = label
    return out


# Labels a test object's tubes and fill may take: blood-like, myocardium-like and other values of
# every family, so that a bright tube in a myocardium-valued fill (a native-T1 "LV" without a heart) occurs.
_BOTTLE_LABELS = (
    Tissue.LV_BLOOD, Tissue.LV_MYOCARDIUM, Tissue.LIVER, Tissue.MUSCLE, Tissue.SUBCUTANEOUS_FAT, STOMACH, SPLEEN, BLOB,
)  # fmt: skip


def bottle_labels(shape: tuple[int, int], spacing_mm: tuple[float, float], centre_xy, rng: np.random.Generator) -> np.ndarray:
    """Label map of a test object of tubes in a fill (a T1MES-like QA phantom), one tube centred on ``centre_xy``.

    Written here: no library draws such objects.  A round or rectangular
    container of one fill label holds a jittered grid of 2 x 2 to 4 x 4
    tubes of 4-16 mm radius, each of a random label, with a thin
    wall of no signal (air) on most objects; everything outside is air.  The
    container is placed so that one tube sits at ``centre_xy`` (native
    pixel x, y), where the training window looks.  A share of the views
    with no heart in them are such objects with an empty target: a bright
    tube in a darker fill looks like an LV blood pool to a network that never
    saw one.
    """
    rows, cols = shape
    y, x = np.mgrid[:rows, :cols].astype(np.float32)
    x_mm, y_mm = (x - centre_xy[0]) * spacing_mm[1], (y - centre_xy[1]) * spacing_mm[0]
    out = np.full(shape, Tissue.AIR, np.uint8)
    radius = rng.uniform(4.0, 16.0)
    pitch = radius * rng.uniform(2.4, 4.0)  # centre to centre, mm
    n = int(rng.integers(2, 5))  # tubes per row and column
    first = rng.integers(n, size=2)  # which grid position is the centred tube
    grid = (np.arange(n) - first[:, None]) * pitch  # (2, n) offsets in mm of the columns and rows
    margin = radius + rng.uniform(8.0, 25.0)
    half = np.array([grid[0].min() - margin, grid[0].max() + margin, grid[1].min() - margin, grid[1].max() + margin])  # container box, mm
    if rng.random() < 0.5:  # round container around the grid's centre
        cx, cy = (half[0] + half[1]) / 2, (half[2] + half[3]) / 2
        reach = np.hypot(half[1] - half[0], half[3] - half[2]) / 2
        inside = np.hypot(x_mm - cx, y_mm - cy) < reach
    else:
        inside = (x_mm > half[0]) & (x_mm < half[1]) & (y_mm > half[2]) & (y_mm < half[3])
    out[inside] = rng.choice(_BOTTLE_LABELS)
    wall = rng.uniform(0.8, 2.0) if rng.random() < 0.7 else 0.0
    for dx in grid[0]:
        for dy in grid[1]:
            if dx or dy:
                dx, dy = dx + rng.normal(0.0, 1.0), dy + rng.normal(0.0, 1.0)
            r = np.hypot(x_mm - dx, y_mm - dy)
            out[r < radius + wall] = Tissue.AIR
            out[r < radius] = rng.choice(_BOTTLE_LABELS)
    return out


def label_intensities(labels: np.ndarray, rng: np.random.Generator, settings: SynthSettings) -> tuple[np.ndarray, float]:
    """Image of per-label means with smooth texture; returns it and the myocardial mean."""
    family = FAMILIES[rng.choice(len(FAMILIES), p=np.asarray(settings.family_weights) / sum(settings.family_weights))]
    if family == "random":
        means = rng.uniform(0.05, 1.0, N_LABELS)
    else:
        base = np.ones(N_LABELS)
        for label, value in _FAMILIES[family].items():
            base[int(label)] = value
        means = base * np.clip(1.0 + settings.intensity_jitter * rng.standard_normal(N_LABELS), 0.3, 2.0)
        means /= means[Tissue.LV_MYOCARDIUM]
    if labels.max() >= KIDNEY_CORTEX:  # drawn after the others, so that views without a kidney keep their draws
        means = np.append(means, _kidney_means(family, means, rng, settings))
    means[Tissue.AIR] = rng.uniform(0.0, 0.1) * means.max()
    blood, myo = means[Tissue.LV_BLOOD], means[Tissue.LV_MYOCARDIUM]
    if abs(blood - myo) < settings.min_blood_myo_contrast * max(blood, myo):
        # Without contrast between blood and muscle there is nothing to segment; push them apart.
        sign = 1.0 if blood >= myo else -1.0
        means[Tissue.LV_BLOOD] = myo * (1.0 + sign * rng.uniform(settings.min_blood_myo_contrast, 0.8))
        means[Tissue.RV_BLOOD] = means[Tissue.AORTA_BLOOD] = means[Tissue.LV_BLOOD]
    # The outflow tract is the LV cavity's own blood: no edge may separate them.
    means[Tissue.OUTFLOW_BLOOD] = means[Tissue.LV_BLOOD]
    if rng.random() < 0.7:  # papillary muscles and trabeculae look like myocardium
        means[Tissue.PAPILLARY] = means[Tissue.LV_MYOCARDIUM]
    image = means[labels].astype(np.float32)
    amplitude = rng.uniform(*settings.texture)
    if amplitude > 0:
        field = cv2.GaussianBlur(rng.standard_normal(labels.shape).astype(np.float32), (0, 0), rng.uniform(1.0, 3.0))
        image *= 1.0 + amplitude * field / max(float(field.std()), 1e-6)
    return image, float(means[Tissue.LV_MYOCARDIUM])


def _kidney_means(family: str, means: np.ndarray, rng: np.random.Generator, settings: SynthSettings) -> np.ndarray:
    """Cortex and medulla means: the family's values (jittered, on the scale of ``means``), random ones, or half the time
    on a random family the LV's own (cortex like the myocardium, medulla like the blood)."""
    if family == "random":
        if rng.random() < 0.5:
            return means[[Tissue.LV_MYOCARDIUM, Tissue.LV_BLOOD]] * rng.uniform(0.9, 1.1, 2)
        return rng.uniform(0.05, 1.0, 2)
    myocardium = _FAMILIES[family][Tissue.LV_MYOCARDIUM]
    return (
        np.asarray(_KIDNEY[family])
        / myocardium
        * means[Tissue.LV_MYOCARDIUM]
        * np.clip(1.0 + settings.intensity_jitter * rng.standard_normal(2), 0.3, 2.0)
    )


def kidney(labels: np.ndarray, spacing_mm: tuple[float, float], centre_xy, rng: np.random.Generator, keep: np.ndarray) -> np.ndarray:
    """The label map with a kidney's cross-section painted at ``centre_xy`` (pixel x, y), never over the pixels ``keep`` (bool).

    Written here: no library draws organs.  A native T1 map shows a kidney
    as a ring of cortex (like myocardium) around a brighter medulla (like
    blood), in a rim of perirenal fat (dark, like epicardial fat): the LV's
    pattern on a slice through the upper abdomen, where the heart is not
    (a liver slice).  An ellipse of 20-35 by 13-24 mm half-axes with a
    cortex of 4-9 mm around the medulla: one region, or 3-6 pyramids with
    columns of cortex between them; on 60 % a renal sinus of fat opening
    through the cortex on one long side (the hilum), and on 80 % a rim of
    2-8 mm of fat around it.
    """
    rows, cols = labels.shape
    y, x = np.mgrid[:rows, :cols].astype(np.float32)
    angle = rng.uniform(0.0, np.pi)
    dx_mm, dy_mm = (x - centre_xy[0]) * spacing_mm[1], (y - centre_xy[1]) * spacing_mm[0]
    u, v = np.cos(angle) * dx_mm + np.sin(angle) * dy_mm, -np.sin(angle) * dx_mm + np.cos(angle) * dy_mm
    a, b = rng.uniform(20.0, 35.0), rng.uniform(13.0, 24.0)
    a, b = max(a, b), min(a, b)  # the long axis first: the hilum on a long side
    cortex = rng.uniform(4.0, 9.0)
    r = np.hypot(u / a, v / b)
    organ = r < 1.0
    inner = np.hypot(u / max(a - cortex, 2.0), v / max(b - cortex, 2.0)) < 1.0
    if rng.random() < 0.5:  # pyramids: sectors of the medulla, columns of cortex between them
        n = int(rng.integers(3, 7))
        sector = (np.arctan2(v / b, u / a) + rng.uniform(0.0, 2.0 * np.pi)) % (2.0 * np.pi / n)
        inner &= np.abs(sector - np.pi / n) < (np.pi / n) * rng.uniform(0.55, 0.8)
    out = labels.copy()
    paintable = ~keep
    if rng.random() < 0.8:
        fat = np.hypot(u / (a + rng.uniform(2.0, 8.0)), v / (b + rng.uniform(2.0, 8.0))) < 1.0
        out[fat & paintable] = Tissue.SUBCUTANEOUS_FAT
    out[organ & paintable] = KIDNEY_CORTEX
    out[inner & paintable] = KIDNEY_MEDULLA
    if rng.random() < 0.6:  # the renal sinus and the hilum, on one long side
        side = rng.choice([-1.0, 1.0])
        sinus = (np.hypot(u / (0.45 * a), (v - side * 0.35 * b) / (0.45 * b)) < 1.0) | ((np.abs(u) < 0.25 * a) & (side * v > 0.3 * b))
        out[sinus & organ & paintable] = Tissue.SUBCUTANEOUS_FAT
    return out


def great_vessels(labels: np.ndarray, spacing_mm: tuple[float, float], centre_xy, rng: np.random.Generator) -> np.ndarray:
    """The label map with the great vessels of a slice above the valve plane painted in around ``centre_xy`` (pixel x, y).

    Written here: no library draws anatomy.  Above the base a short-axis
    stack cuts the aortic root, the pulmonary trunk and the atria: round
    pools of blood in a thin wall, which a network trained to find the LV
    can take for a small one (a heart-free view with them has an empty
    target).  An aortic root of 11-18 mm radius within 10 mm of the
    centre, on 40 % with the three bulges of its sinuses; a pulmonary
    trunk of 8-15 mm radius (its other axis 0.75-1 times that) 22-40 mm
    from it; on half of them a left atrium (an ellipse of 15-30 mm
    half-axis, the other 0.5-0.9 times that) 25-45 mm from the root on the
    other side.  Each pool has a wall of 1-3 mm (at least a pixel) of
    muscle-like tissue (RV wall) or of pericardium, walls of pools that
    touch stay between them, and on 70 % a rim of 1-5 mm of epicardial fat
    lies around the vessels.
    """
    rows, cols = labels.shape
    y, x = np.mgrid[:rows, :cols].astype(np.float32)
    xy_mm = np.stack([x * spacing_mm[1], y * spacing_mm[0]])
    root = np.asarray(centre_xy, np.float32) * [spacing_mm[1], spacing_mm[0]] + rng.uniform(-10.0, 10.0, 2)
    away = rng.uniform(0.0, 2.0 * np.pi)
    pools = [(root, rng.uniform(11.0, 18.0), 1.0, 0.0, Tissue.AORTA_BLOOD)]
    trunk = root + rng.uniform(22.0, 40.0) * np.array([np.cos(away), np.sin(away)])
    pools.append((trunk, rng.uniform(8.0, 15.0), rng.uniform(0.75, 1.0), rng.uniform(0.0, np.pi), Tissue.RV_BLOOD))
    if rng.random() < 0.5:
        toward = away + np.pi + rng.uniform(-0.8, 0.8)  # on the other side of the root, give or take 45 degrees
        atrium = root + rng.uniform(25.0, 45.0) * np.array([np.cos(toward), np.sin(toward)])
        pools.append((atrium, rng.uniform(15.0, 30.0), rng.uniform(0.5, 0.9), rng.uniform(0.0, np.pi), Tissue.LV_BLOOD))
    wall_label = Tissue.RV_WALL if rng.random() < 0.7 else Tissue.PERICARDIUM
    out = labels.copy()
    inside, walled, fat = [], [], []
    rim = rng.uniform(1.0, 5.0) if rng.random() < 0.7 else 0.0
    for k, (centre, radius, squeeze, angle, _) in enumerate(pools):
        dx, dy = xy_mm[0] - centre[0], xy_mm[1] - centre[1]
        u, v = np.cos(angle) * dx + np.sin(angle) * dy, -np.sin(angle) * dx + np.cos(angle) * dy
        lobes = 0.12 * np.cos(3.0 * np.arctan2(v, u) + away) if k == 0 and rng.random() < 0.4 else 0.0
        # Distances past the pool's edge in mm along its short axis (an ellipse's walls no thinner there).
        past = (np.hypot(u, v / squeeze) - radius * (1.0 + lobes)) * squeeze
        wall = max(rng.uniform(1.0, 3.0), *spacing_mm)  # at least a pixel
        inside.append(past < 0.0)
        walled.append(past < wall)
        fat.append(past < wall + rim)
    if rim > 0.0:
        out[np.any(fat, axis=0)] = Tissue.EPICARDIAL_FAT
    out[np.any(walled, axis=0)] = wall_label
    for k, (*_, blood) in enumerate(pools):  # vessels that touch keep both walls between them
        others = [w for j, w in enumerate(walled) if j != k]
        out[inside[k] & ~np.any(others, axis=0)] = blood
    return out


def speckle(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Replace a random share of lung and air pixels by uniform random values over the image's range."""
    return _scatter(image, labels, (Tissue.AIR, Tissue.LUNG), (0.3, 1.0), (1.0, 3.0), rng)


# The blood pools whose fitted values scatter at low SNR (see blood_speckle).
_BLOOD = (Tissue.LV_BLOOD, Tissue.RV_BLOOD, Tissue.OUTFLOW_BLOOD, Tissue.AORTA_BLOOD)


def blood_speckle(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Replace 2-25 % of the blood pools' pixels by uniform random values up to 1-2x the image's 99th percentile.

    At low SNR a pixel-wise fit of the blood pool's long T2 (or of flowing
    blood) scatters: the robustness benchmark's low-SNR T2 maps show bright
    and dark dots all over the LV and RV blood, which the eighth-stage
    model took for myocardium (trained with this, the tenth did only a
    little better on them; see the model card).  ``labels`` is the image's
    tissue label map.
    """
    return _scatter(image, labels, _BLOOD, (0.02, 0.25), (1.0, 2.0), rng)


def _scatter(image, labels, tissues, share: tuple[float, float], top: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """A random share (drawn from ``share``) of the ``tissues``' pixels set to uniform values from 0 to ``top`` x the 99th percentile."""
    where = np.isin(labels, tissues) & (rng.random(labels.shape) < rng.uniform(*share))
    out = image.copy()
    high = float(np.percentile(image, 99)) * rng.uniform(*top)
    out[where] = rng.uniform(0.0, high, int(where.sum()))
    return out


def scar(image: np.ndarray, reference: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A focal scar in the LV wall: a sector of 40-140 degrees, from the endocardium out, its values moved toward the blood's.

    ``reference`` is the image's class mask (:data:`~myomap.conventions.MYOCARDIUM`,
    :data:`~myomap.conventions.BLOOD_POOL`).  An infarct (or a patch of
    fibrosis, or oedema) grows from the endocardium outward: here it
    reaches from 30 % of the way through the wall to all of it at the
    sector's middle (transmural there in about a third of the scars),
    tapering to 55 % of that reach at its edges.  Depth is measured in
    pixels, so on a very anisotropic grid the reach is approximate.  Each pixel there is shifted by
    40-120 % of the difference between the blood pool's and the
    myocardium's medians, so its own texture and noise stay: raised native
    T1 and T2, and on a post-contrast T1 map a scar of high extracellular
    volume as dark as the blood (its partition coefficient near the
    blood's; Ugander et al., Eur Heart J 2012;33:1268 measured infarcts'
    ECV at about 51 %).  The target does not change: the scar is myocardium,
    which readers contour through.  Written here: no library draws one.
    """
    rows, cols = np.nonzero(reference == BLOOD_POOL)
    if rows.size == 0:  # no blood pool to grow from (_toward_blood checks the values)
        return image
    depth = wall_depth(reference)
    y, x = np.mgrid[: image.shape[0], : image.shape[1]]
    offset = np.angle(np.exp(1j * (np.arctan2(y - rows.mean(), x - cols.mean()) - rng.uniform(-np.pi, np.pi))))
    half_width = np.deg2rad(rng.uniform(40.0, 140.0)) / 2
    reach = rng.uniform(0.3, 1.3) * (0.55 + 0.45 * np.cos(np.pi / 2 * np.clip(offset / half_width, -1.0, 1.0)))
    where = (reference == MYOCARDIUM) & (np.abs(offset) < half_width) & (depth <= reach)
    return _toward_blood(image, where, reference, rng.uniform(0.4, 1.2))


def diffuse(image: np.ndarray, reference: np.ndarray, rng: np.random.Generator, wall: np.ndarray | None = None) -> np.ndarray:
    """The whole wall's values moved 30-90 % of the way from the myocardium's median to the blood pool's, texture kept.

    Diffuse disease (amyloid, diffuse fibrosis: an extracellular volume of
    35-60 % against 25 %) brings the myocardium close to the blood on a
    post-contrast T1 map, and native T1 toward it too.  ``reference`` is
    the image's class mask; ``wall`` (bool, optional) every myocardial
    pixel to move (LV wall, papillary muscles, RV wall when the tissue
    labels are known), else the reference's myocardium.  The target does
    not change.
    """
    where = reference == MYOCARDIUM if wall is None else wall
    return _toward_blood(image, where, reference, rng.uniform(0.3, 0.9))


def _toward_blood(image: np.ndarray, where: np.ndarray, reference: np.ndarray, fraction: float) -> np.ndarray:
    """``image`` with the pixels in ``where`` shifted by ``fraction`` of (blood pool median - myocardium median)."""
    finite = np.isfinite(image)
    myocardium, blood = (reference == MYOCARDIUM) & finite, (reference == BLOOD_POOL) & finite
    if not myocardium.any() or not blood.any():
        return image
    out = image.copy()
    out[where] += fraction * float(np.median(image[blood]) - np.median(image[myocardium]))
    return out


def wall_depth(reference: np.ndarray) -> np.ndarray:
    """How far each pixel lies through the wall of class mask ``reference``: 0 at the blood pool, 1 at the epicardium."""
    from_blood = ndimage.distance_transform_edt(reference != BLOOD_POOL)
    to_outside = ndimage.distance_transform_edt(reference > 0)
    return from_blood / np.maximum(from_blood + to_outside, 1e-6)


def bias_field(image: np.ndarray, rng: np.random.Generator, amplitude: tuple[float, float]) -> np.ndarray:
    """Multiply by a smooth random field (coil sensitivity, B1 inhomogeneity) of peak amplitude in ``amplitude``."""
    coarse = rng.standard_normal((4, 4)).astype(np.float32)
    field = cv2.resize(coarse, image.shape[::-1], interpolation=cv2.INTER_CUBIC)
    field /= max(float(np.abs(field).max()), 1e-6)
    return image * np.exp(rng.uniform(*amplitude) * field)


def blur(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur (partial volume, the scanner's interpolation); sigma 0 leaves the image."""
    return cv2.GaussianBlur(image, (0, 0), sigma_px) if sigma_px > 0.05 else image


def resolution(image: np.ndarray, factor: float) -> np.ndarray:
    """Acquire at ``factor`` times coarser pixels and interpolate back to the grid."""
    rows, cols = image.shape
    small = cv2.resize(image, (max(4, round(cols / factor)), max(4, round(rows / factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (cols, rows), interpolation=cv2.INTER_LINEAR)


def ringing(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gibbs ringing: truncate k-space along a random axis to 35-70 % of its extent."""
    axis = int(rng.integers(2))
    spectrum = np.fft.fftshift(np.fft.fft2(image))
    n = image.shape[axis]
    keep = int(n * rng.uniform(0.35, 0.7)) // 2
    mask = np.zeros(n, bool)
    mask[n // 2 - keep : n // 2 + keep] = True
    spectrum = spectrum * (mask[:, None] if axis == 0 else mask[None, :])
    return np.abs(np.fft.ifft2(np.fft.ifftshift(spectrum))).astype(np.float32)


def motion_ghost(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ghosts along the phase-encoding axis: shifted faint copies of the image."""
    axis = int(rng.integers(2))
    shift = int(rng.integers(6, max(7, image.shape[axis] // 4)))
    weight = rng.uniform(0.05, 0.3)
    return (image + weight * (np.roll(image, shift, axis=axis) + np.roll(image, -shift, axis=axis)) / 2).astype(np.float32)


def display_window(
    image: np.ndarray, rng: np.random.Generator, top: tuple[float, float] = (70.0, 99.5), bottom: tuple[float, float] = (0.0, 10.0)
) -> np.ndarray:
    """A display-windowed 8-bit export: clipped between two random percentiles of the image, then stored in 256 levels.

    A map saved as a screenshot or a secondary capture keeps only its
    display window: the blood pool and fat saturate at the top, the lungs at
    the bottom.
    """
    low, high = np.percentile(image, [rng.uniform(*bottom), rng.uniform(*top)])
    if high <= low:
        return image
    return np.round((np.clip(image, low, high) - low) / (high - low) * 255.0).astype(np.float32)


def band(image: np.ndarray, centre_xy, spacing_mm: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """A dark off-resonance band of a bSSFP readout: a straight line at any angle within 25 mm of ``centre_xy``.

    Signal loss of 40-95 % on a Gaussian profile of 1-4 mm SD (3 T, the
    frequency not adjusted); ``centre_xy`` is a native pixel (x, y).
    """
    rows, cols = image.shape
    y, x = np.mgrid[:rows, :cols].astype(np.float32)
    angle = rng.uniform(0.0, np.pi)
    distance_mm = (x - centre_xy[0]) * spacing_mm[1] * np.cos(angle) + (y - centre_xy[1]) * spacing_mm[0] * np.sin(angle)
    distance_mm -= rng.uniform(-25.0, 25.0)
    loss = rng.uniform(0.4, 0.95) * np.exp(-0.5 * (distance_mm / rng.uniform(1.0, 4.0)) ** 2)
    return (image * (1.0 - loss)).astype(np.float32)


def noise(image: np.ndarray, rng: np.random.Generator, sd: float) -> np.ndarray:
    """Add Gaussian noise of standard deviation ``sd`` (the fit noise of a map)."""
    return image + rng.normal(0.0, sd, image.shape).astype(np.float32) if sd > 0 else image
