"""The training configuration: the paper's recipe by default (section 3.5; data sets as in docs/data_layout.md)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from myomap.config import ConfigError
from myomap.model.registry import get_spec


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run; saved as ``config.yaml`` in the run folder.

    The defaults are the paper's: U-Net with a ResNet-50 encoder, Adam,
    Jaccard loss, periodic cosine annealing with warm restarts, 150 epochs of
    which the first 70 use maps and weighted images and the last 80 maps
    only, random resized crops and brightness/contrast augmentation,
    224 × 224 input, a patient-level 65/20/15 split.  ``crop`` keeps a
    centred square of that share of the (square-padded) image side before
    resizing, at training and at inference.

    With ``window_spacing_mm`` set, the model instead works at that fixed
    pixel size: it is trained on random views (whole fields of view of
    120-450 mm, windows on the heart at any rotation, mirrored), a share
    ``synthetic_share`` of them synthesised from the phantom's label maps
    (domain randomisation), ``coarse_share`` of them coarse and
    ``stretch_share`` of them squeezed or stretched along a random direction
    (by ``stretch``, 0.8-1.25 by default), and ``wall_change_share`` of the synthesised ones with the
    compact wall 2.5 mm thinner to 6 mm thicker; a share ``no_heart_share``
    of all views is synthesised with the heart taken out and has an empty
    target (no ring where there is no LV), ``bottle_share`` of those a test
    object of tubes in a fill (a QA phantom), ``band_share`` of all views
    get a dark off-resonance band near the LV and ``window_share`` are shown
    as a display-windowed 8-bit export, ``blood_speckle_share`` of the
    maps that show a heart and have a tissue label map get blood pools
    speckled as at low SNR, ``scar_share`` of the maps that show a heart
    get a focal scar in the wall (its values moved toward the blood's, as
    on a post-contrast map of an infarct), ``diffuse_share`` of them the
    whole wall's values moved toward the blood's (diffuse disease),
    ``kidney_share`` of the synthesised views a kidney (beside the heart, or
    where the LV was on heart-free views: a liver slice),
    ``great_vessels_share`` of the other heart-free views (not test
    objects) the aortic root, pulmonary trunk and often a left atrium
    where the LV was (a slice above the base), and a
    share ``deform_share`` of
    all views is warped by a smooth random displacement (RMS 0.3-1 mm over
    10 mm); ``body_scale_share`` of all views show the whole image at
    ``body_scale`` (0.5-1 by default) times its size, its pixel size scaled
    (a child's chest); ``native_spacing_mm`` is the range of pixel sizes a share of the
    images is first resampled to, as other scanners reconstruct them; see
    :mod:`myomap.model.views`.  ``data_weights`` are the sampling weights of
    several data sets (equal by default); ``init`` is a model file whose
    weights the training starts from (fine-tuning).  For such models an epoch
    is ``max_images_per_epoch`` random views drawn with replacement, also in
    the maps-only stage.  ``max_minutes`` stops
    training after that wall time (the best checkpoint so far is kept).
    """

    model: str = "unet-resnet50"
    encoder_weights: str | None = None
    input_size: int = 224
    crop: float = 1.0
    epochs: int = 150
    weighted_epochs: int = 70
    batch_size: int = 16
    learning_rate: float = 3e-4
    weight_decay: float = 0.0
    loss: str = "jaccard"
    restart_epochs: int = 10
    min_learning_rate: float = 1e-6
    crop_scale: tuple[float, float] = (0.55, 1.0)
    rotate_deg: float = 15.0
    brightness_contrast: float = 0.25
    split: tuple[float, float, float] = (0.65, 0.20, 0.15)
    seed: int = 0
    max_images_per_epoch: int | None = None
    num_workers: int = 0
    accelerator: str = "auto"
    devices: str = "auto"
    num_nodes: int = 1
    precision: str = "auto"
    window_spacing_mm: float | None = None
    synthetic_share: float = 0.5
    coarse_share: float = 0.3
    stretch_share: float = 0.0
    stretch: tuple[float, float] = (0.8, 1.25)
    wall_change_share: float = 0.0
    no_heart_share: float = 0.0
    bottle_share: float = 0.0
    band_share: float = 0.0
    window_share: float = 0.0
    deform_share: float = 0.0
    blood_speckle_share: float = 0.0
    scar_share: float = 0.0
    diffuse_share: float = 0.0
    kidney_share: float = 0.0
    great_vessels_share: float = 0.0
    body_scale_share: float = 0.0
    body_scale: tuple[float, float] = (0.5, 1.0)
    native_spacing_mm: tuple[float, float] = (0.6, 2.6)
    data_weights: tuple[float, ...] = ()
    init: str | None = None
    max_minutes: float | None = None

    def validate(self) -> None:
        try:
            get_spec(self.model)
        except KeyError as exc:
            raise ConfigError(str(exc.args[0])) from None
        if self.loss not in ("jaccard", "dice", "ce", "jaccard+ce"):
            raise ConfigError(f"loss must be jaccard, dice, ce or jaccard+ce, got {self.loss!r}")
        if not 0 <= self.weighted_epochs <= self.epochs or self.epochs < 1:
            raise ConfigError(f"need 1 <= epochs and 0 <= weighted_epochs <= epochs, got {self.epochs} and {self.weighted_epochs}")
        if self.input_size < 32 or self.input_size % 32:
            raise ConfigError(f"input_size must be a multiple of 32 and at least 32, got {self.input_size}")
        if not 0.2 <= self.crop <= 1.0:
            raise ConfigError(f"crop must be within [0.2, 1] (share of the image side kept around the centre), got {self.crop}")
        if self.window_spacing_mm is not None and not 0.3 <= self.window_spacing_mm <= 5.0:
            raise ConfigError(f"window_spacing_mm must be within [0.3, 5] mm, got {self.window_spacing_mm}")
        if not 0.3 <= self.stretch[0] <= self.stretch[1] <= 3.0:
            raise ConfigError(f"stretch must be two factors within [0.3, 3], smallest first, got {list(self.stretch)}")
        if not 0.3 <= self.body_scale[0] <= self.body_scale[1] <= 3.0:
            raise ConfigError(f"body_scale must be two factors within [0.3, 3], smallest first, got {list(self.body_scale)}")
        low, high = self.native_spacing_mm
        if not 0.3 <= low <= high <= 5.0:
            raise ConfigError(
                f"native_spacing_mm must be two pixel sizes within [0.3, 5] mm, smallest first, got {list(self.native_spacing_mm)}"
            )
        for name in (f.name for f in fields(self) if f.name.endswith("_share")):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be within [0, 1], got {getattr(self, name)}")
        if any(w < 0 for w in self.data_weights) or (self.data_weights and sum(self.data_weights) <= 0):
            raise ConfigError(f"data_weights must be non-negative and not all zero, got {list(self.data_weights)}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")
