"""Training with PyTorch Lightning: the paper's recipe, on a CPU, one GPU or many.

Run folder layout::

    RUN/config.yaml          the TrainConfig used (rerun with --config)
    RUN/split.csv            subject -> train/val/test, reused on resume
    RUN/checkpoints/         best.ckpt (by validation IoU), last.ckpt (Lightning, for --resume)
    RUN/logs/                CSV and TensorBoard logs
    RUN/model.pt             the best weights with everything inference needs
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import albumentations as A
import cv2
import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from myomap.config import to_yaml
from myomap.io.dataset import LoadError, iter_images
from myomap.io.files import atomic_write_text
from myomap.model.config import TrainConfig
from myomap.model.data import NORMALISATION, Sample, make_sample, patient_split
from myomap.model.inference import default_meta, save_model_file
from myomap.model.network import build_network, load_encoder_weights
from myomap.model.registry import CLASS_NAMES, get_spec
from myomap.model.synth import SynthSettings
from myomap.model.views import Source, ViewSettings, draw_view, fixed_view, load_sources

log = logging.getLogger(__name__)


# Training maps validated on when the 'val' split has none (Lightning needs some to pick the best checkpoint).
VAL_FALLBACK_MAPS = 8


class TrainingError(RuntimeError):
    """Training cannot start: no usable data, an empty split, a bad run folder."""


def load_samples(
    data: Path, split: dict[str, str], size: int, crop: float, errors: list[str | LoadError], dataset: int = 0
) -> dict[str, list[Sample]]:
    """All images of the data set at network size, grouped by split; unusable images go to ``errors``.

    Manifest rows that fail to load go there as :class:`LoadError` (so that
    the rows of one bad file can be told apart and merged), images that load
    but cannot be used as one line of text each.
    """
    load_errors: list = []
    groups: dict[str, list[Sample]] = {"train": [], "val": [], "test": []}
    for image in iter_images(data, observers=("reference",), errors=load_errors):
        if "reference" not in image.contours:
            errors.append(f"{image.source}: no reference contours, skipped")
            continue
        try:
            sample = make_sample(image, size, crop, dataset)
        except ValueError as exc:
            errors.append(f"{image.source}: {exc}")
            continue
        groups.setdefault(split.get(image.subject, "train"), []).append(sample)
    errors.extend(load_errors)
    return groups


def dropped_lines(errors: list[str | LoadError]) -> list[str]:
    """The inputs left out of training, one line per file and reason, in the order first met.

    The rows of a map and its weighted images share one contour file, so a
    bad contour file fails every row that names it: one line, naming the
    file first and then its manifest lines (``contours.json: ... (manifest
    lines 2-10)``), not one per row.
    """
    rows: dict[str, list[int]] = {}
    for error in errors:
        if isinstance(error, LoadError):
            rows.setdefault(error.message, []).append(error.line)
        else:
            rows.setdefault(str(error), [])
    return [f"{message} ({_manifest_lines(lines)})" if lines else message for message, lines in rows.items()]


def _manifest_lines(lines: list[int]) -> str:
    """``manifest line 4`` or ``manifest lines 2-10, 35``: consecutive lines as ranges."""
    spans: list[list[int]] = []
    for line in sorted(set(lines)):
        if spans and line == spans[-1][1] + 1:
            spans[-1][1] = line
        else:
            spans.append([line, line])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
    return f"manifest line{'' if len(set(lines)) == 1 else 's'} {text}"


class _ViewDataset(Dataset):
    """Random views of native-grid sources (fixed-pixel-size models); ``rng`` is reseeded every epoch."""

    def __init__(self, sources: list[Source], view: ViewSettings, rng: np.random.Generator | None):
        self.sources = sources
        self.view = view
        self.rng = rng

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int):
        source = self.sources[index]
        image, mask = fixed_view(source, self.view) if self.rng is None else draw_view(source, self.rng, self.view)
        return torch.from_numpy(image)[None], torch.from_numpy(mask.astype(np.int64))


def view_settings(config: TrainConfig) -> ViewSettings:
    return ViewSettings(
        config.window_spacing_mm,
        config.input_size,
        synthetic_share=config.synthetic_share,
        coarse_share=config.coarse_share,
        stretch_share=config.stretch_share,
        stretch=tuple(config.stretch),
        wall_change_share=config.wall_change_share,
        no_heart_share=config.no_heart_share,
        bottle_share=config.bottle_share,
        band_share=config.band_share,
        window_share=config.window_share,
        blood_speckle_share=config.blood_speckle_share,
        scar_share=config.scar_share,
        diffuse_share=config.diffuse_share,
        kidney_share=config.kidney_share,
        great_vessels_share=config.great_vessels_share,
        deform_share=config.deform_share,
        native_spacing_mm=tuple(config.native_spacing_mm),
        body_scale_share=config.body_scale_share,
        body_scale=tuple(config.body_scale),
    )


class _SampleDataset(Dataset):
    def __init__(self, samples: list[Sample], transform: A.Compose | None):
        self.samples = samples
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        sample = self.samples[index]
        image, mask = sample.image, sample.mask
        if self.transform is not None:
            out = self.transform(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None], torch.from_numpy(
            np.ascontiguousarray(mask, dtype=np.int64)
        )


def augmentation(config: TrainConfig) -> A.Compose:
    """Random resized crop, small rotation, brightness and contrast (the paper's augmentation)."""
    size = config.input_size
    return A.Compose(
        [
            A.Affine(rotate=(-config.rotate_deg, config.rotate_deg), p=0.7),
            # NEAREST_EXACT: cv2's plain nearest resize is not centre-aligned and would shift the labels.
            A.RandomResizedCrop(
                size=(size, size), scale=config.crop_scale, ratio=(0.85, 1.15), mask_interpolation=cv2.INTER_NEAREST_EXACT, p=1.0
            ),
            A.RandomBrightnessContrast(config.brightness_contrast, config.brightness_contrast, p=0.8),
        ],
        seed=config.seed,
    )


class SegmentationData(L.LightningDataModule):
    """Maps and weighted images for the first ``weighted_epochs`` epochs, maps only afterwards.

    ``samples`` are network-size :class:`Sample` objects (share-of-image
    models) or native-grid :class:`Source` objects (fixed-pixel-size models,
    drawn as random views).  Several data sets are sampled by their
    ``data_weights``.
    """

    def __init__(self, samples: dict[str, list], config: TrainConfig):
        super().__init__()
        self.samples = samples
        self.config = config

    def _dataset(self, items: list, train: bool, epoch: int = 0) -> Dataset:
        if self.config.window_spacing_mm is None:
            return _SampleDataset(items, augmentation(self.config) if train else None)
        rng = np.random.default_rng([self.config.seed, epoch]) if train else None
        return _ViewDataset(items, view_settings(self.config), rng)

    def train_dataloader(self) -> DataLoader:
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        use = self.samples["train"] if epoch < self.config.weighted_epochs else [s for s in self.samples["train"] if s.role == "map"]
        generator = torch.Generator().manual_seed(self.config.seed + epoch)
        count = min(len(use), self.config.max_images_per_epoch or len(use))
        weights = sample_weights(use, self.config.data_weights)
        if self.config.window_spacing_mm is not None and self.config.max_images_per_epoch:
            # Every draw is a new random view, so epochs keep their size when the maps-only stage starts.
            count = self.config.max_images_per_epoch
            weights = weights or [1.0] * len(use)
        sampler = (
            torch.utils.data.WeightedRandomSampler(weights, num_samples=count, replacement=True, generator=generator)
            if weights is not None
            else None
        )
        if sampler is None and count < len(use):
            sampler = torch.utils.data.RandomSampler(use, num_samples=count, generator=generator)
        return DataLoader(
            self._dataset(use, True, epoch),
            batch_size=self.config.batch_size,
            shuffle=sampler is None,
            sampler=sampler,
            num_workers=self.config.num_workers,
            drop_last=len(use) > self.config.batch_size,
        )

    def val_dataloader(self) -> DataLoader:
        maps = [s for s in self.samples["val"] if s.role == "map"]
        if not maps:  # _load_samples has warned that such a "best" checkpoint means little
            maps = [s for s in self.samples["train"] if s.role == "map"][:VAL_FALLBACK_MAPS]
        return DataLoader(self._dataset(maps, False), batch_size=self.config.batch_size, num_workers=self.config.num_workers)


def sample_weights(items: list, data_weights: tuple[float, ...]) -> list[float] | None:
    """Per-item sampling weights giving each data set its share ``data_weights`` (None: one data set or no weights)."""
    datasets = [getattr(item, "dataset", 0) for item in items]
    if not data_weights or len(set(datasets)) < 2:
        return None
    counts = np.bincount(datasets)
    return [data_weights[d] / counts[d] if d < len(data_weights) else 0.0 for d in datasets]


class SegmentationModule(L.LightningModule):
    """The network, its loss, Adam and periodic cosine annealing with warm restarts."""

    def __init__(self, config: TrainConfig):
        super().__init__()
        self.config = config
        self.network = build_network(get_spec(config.model))
        if config.encoder_weights:
            loaded = load_encoder_weights(self.network, config.encoder_weights)
            log.info("loaded %d encoder tensors from %s", loaded, config.encoder_weights)
        if config.init:
            self.network.load_state_dict(_init_weights(config.init, config))
            log.info("starting from the weights of %s", config.init)
        self.loss = _loss(config.loss)
        self._intersection = torch.zeros(len(CLASS_NAMES))
        self._union = torch.zeros(len(CLASS_NAMES))
        self.images_seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)

    def training_step(self, batch, batch_idx: int):
        x, y = batch
        if x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        loss = self.loss(self(x), y)
        self.images_seen += x.shape[0]
        self.log("train_loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=x.shape[0])
        return loss

    def on_validation_epoch_start(self) -> None:
        self._intersection.zero_()
        self._union.zero_()

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        pred = self(x).argmax(dim=1)
        for c in range(len(CLASS_NAMES)):
            p, t = pred == c, y == c
            self._intersection[c] += (p & t).sum().cpu()
            self._union[c] += (p | t).sum().cpu()

    def on_validation_epoch_end(self) -> None:
        iou = self._intersection / self._union.clamp(min=1)
        # The selection metric: mean IoU of myocardium and blood pool (background is easy and large).
        self.log("val_iou", iou[1:].mean().item(), prog_bar=True, sync_dist=True)
        self.log("val_iou_myocardium", iou[1].item(), sync_dist=True)

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=self.config.learning_rate, weight_decay=self.config.weight_decay)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            optimizer, T_0=self.config.restart_epochs, eta_min=self.config.min_learning_rate
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


# TrainConfig settings that decide what the network sees, as a model file records them (ModelMeta).
INIT_SETTINGS = ("model", "input_size", "crop", "window_spacing_mm")


def init_settings(path: str) -> tuple[dict, dict]:
    """The :data:`INIT_SETTINGS` of the model file ``path`` (``embedded``: the shipped one) and its state dict.

    Raises TrainingError when the model's normalisation, class names or
    network spec differ from what this version trains: no setting can
    make such weights see what they were trained on.
    """
    from myomap.model.embedded import init_weights_path
    from myomap.model.inference import load_model_file

    network, meta = load_model_file(init_weights_path(path))
    if meta.normalisation != NORMALISATION:
        raise TrainingError(f"{path}: the --init model normalises its input by {meta.normalisation}, training here by {NORMALISATION}")
    if tuple(meta.class_names) != tuple(CLASS_NAMES):
        raise TrainingError(f"{path}: the --init model has classes {list(meta.class_names)}, training here {list(CLASS_NAMES)}")
    try:
        spec = get_spec(meta.spec.name)
    except KeyError:
        raise TrainingError(f"{path}: the --init model's network {meta.spec.name!r} is not in the registry") from None
    if spec != meta.spec:
        raise TrainingError(f"{path}: the --init model's {meta.spec.name!r} was built with other settings than the registry's")
    settings = {"model": meta.spec.name, "input_size": meta.input_size, "crop": meta.crop, "window_spacing_mm": meta.window_spacing_mm}
    return settings, network.state_dict()


def adopt_init_settings(config: TrainConfig, explicit: Mapping[str, str] | None = None) -> TrainConfig:
    """``config`` with the input settings of its ``init`` model (:data:`INIT_SETTINGS`) where the user did not set them.

    ``explicit`` maps the settings the user gave (a command-line option or
    a config file) to where they were given, for the message.  A given
    setting that differs from the model's is refused: weights trained on
    one pixel size, window or crop see something else at other settings,
    and the model file written records the run's settings (the embedded
    weights, unchanged by a run at a learning rate of 1e-12 but saved for
    224-px whole-image inputs, scored an epicardial Dice of 0.749 instead
    of 0.875 on the same maps).
    Without ``init`` the config is returned as it is.

    Raises TrainingError for such a conflict or an unusable model file.
    """
    if not config.init:
        return config
    explicit = explicit or {}
    model, _ = init_settings(config.init)
    _check_init_settings(config, model, {k: v for k, v in explicit.items() if k in INIT_SETTINGS})
    adopted = {k: v for k, v in model.items() if k not in explicit and not _same(getattr(config, k), v)}
    if adopted:
        log.info("from the --init model: %s", ", ".join(f"{k} {v}" for k, v in adopted.items()))
    return replace(config, **adopted)


def _check_init_settings(config: TrainConfig, model: dict, given: Mapping[str, str]) -> None:
    """TrainingError for the first setting in ``given`` (name -> where it was given) that differs from the model's."""
    for name in INIT_SETTINGS:
        if name in given and not _same(getattr(config, name), model[name]):
            if name == "model":
                raise TrainingError(f"{config.init}: --init model is {model[name]!r}, but this run trains {config.model!r} ({given[name]})")
            raise TrainingError(
                f"{config.init}: the --init model works with {_shown(name, model[name])}, but {given[name]} sets "
                f"{_shown(name, getattr(config, name))}; leave it unset to take the model's, or train without --init"
            )


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9)
    return a == b


def _shown(name: str, value) -> str:
    return "no fixed pixel size (a share-of-image model)" if name == "window_spacing_mm" and value is None else f"{name} {value}"


def _init_weights(path: str, config: TrainConfig) -> dict:
    """The state dict of the model file ``path`` to start from; TrainingError when any of its :data:`INIT_SETTINGS` differs from ``config``."""
    model, state = init_settings(path)
    _check_init_settings(config, model, dict.fromkeys(INIT_SETTINGS, "this run's config"))
    return state


def _loss(name: str):
    """The paper's Jaccard loss, or a variant: dice, ce, or jaccard+ce (converges faster from scratch)."""
    import segmentation_models_pytorch as smp

    jaccard = smp.losses.JaccardLoss(mode="multiclass", from_logits=True)
    if name == "jaccard":
        return jaccard
    if name == "dice":
        return smp.losses.DiceLoss(mode="multiclass", from_logits=True)
    ce = torch.nn.CrossEntropyLoss()
    if name == "ce":
        return ce
    return lambda logits, target: jaccard(logits, target) + ce(logits, target)


def _split_file(run: Path, k: int) -> Path:
    """The split file of the ``k``-th data set (0-based) of a run: ``split.csv``, ``split-2.csv``..."""
    return run / ("split.csv" if k == 0 else f"split-{k + 1}.csv")


def _start_run(datas: list[Path], run: Path, config: TrainConfig, dropped: Callable[[str], None] | None, resume: bool) -> dict[str, list]:
    """Write ``config.yaml`` and the split files into ``run`` and load the samples (:func:`_load_samples`).

    A new run that fails here (a bad manifest or split column, no usable
    images) leaves none of these files behind, nor the folder if it made
    it: a folder with a ``config.yaml`` holds a run, which a new run
    refuses and which has no checkpoint to resume, so the same command
    could not be run again once the data were fixed.
    """
    made = not run.exists()
    new = [] if resume else [p for p in [run / "config.yaml", *(_split_file(run, k) for k in range(len(datas)))] if not p.exists()]
    run.mkdir(parents=True, exist_ok=True)
    try:
        atomic_write_text(run / "config.yaml", to_yaml(config))
        return _load_samples(datas, run, config, dropped)
    except BaseException:
        for path in new:
            path.unlink(missing_ok=True)
        if made and not any(run.iterdir()):
            run.rmdir()
        raise


def _load_samples(datas: list[Path], run: Path, config: TrainConfig, dropped: Callable[[str], None] | None = None) -> dict[str, list]:
    """Every data set's samples by split, each data set split by patient (its split file written into ``run``).

    Each input left out is one line to ``dropped`` (:func:`dropped_lines`), or a logged warning without it.
    """
    errors: list[str | LoadError] = []
    samples: dict[str, list] = {"train": [], "val": [], "test": []}
    assigned: dict[str, str] = {}  # subject -> split of the first data set naming it: a patient stays in one split
    for k, path in enumerate(datas):
        split = patient_split(path, config.split, config.seed, _split_file(run, k), assigned)
        assigned = {**split, **assigned}
        if config.window_spacing_mm is None:
            groups = load_samples(path, split, config.input_size, config.crop, errors, dataset=k)
        else:
            groups = load_sources(path, split, k, errors)
        for name, items in groups.items():
            samples.setdefault(name, []).extend(items)
    for line in dropped_lines(errors):
        dropped(line) if dropped is not None else log.warning(line)
    if not samples["train"]:
        raise TrainingError(f"{', '.join(map(str, datas))}: no usable training images (split 'train' is empty)")
    counts = {k: sum(s.role == "map" for s in v) for k, v in samples.items()}
    log.info("maps per split: %s; weighted training images: %d", counts, sum(s.role == "weighted" for s in samples["train"]))
    if not counts.get("val"):
        log.warning(
            "no validation maps (split 'val' is empty): the 'best' checkpoint is chosen on %d training maps, which says nothing "
            "about unseen patients; give more subjects or mark some 'val' in the manifest's split column",
            min(VAL_FALLBACK_MAPS, counts["train"]),
        )
    return samples


def _trainer(run: Path, config: TrainConfig, progress_bar: bool) -> tuple[L.Trainer, L.pytorch.callbacks.ModelCheckpoint]:
    """The Lightning trainer of a run, with the checkpoint callback that keeps the best and the last model."""
    checkpoints = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=run / "checkpoints", filename="best", monitor="val_iou", mode="max", save_last=True
    )
    loggers = [L.pytorch.loggers.CSVLogger(run / "logs", name="csv"), L.pytorch.loggers.TensorBoardLogger(run / "logs", name="tensorboard")]
    precision = config.precision
    if precision == "auto":
        precision = "bf16-mixed" if torch.cuda.is_available() else "32-true"
    trainer = L.Trainer(
        max_epochs=config.epochs,
        max_time={"minutes": config.max_minutes} if config.max_minutes else None,
        accelerator=config.accelerator,
        devices=config.devices if config.devices == "auto" else _devices(config.devices),
        num_nodes=config.num_nodes,
        precision=precision,
        callbacks=[checkpoints],
        logger=loggers,
        reload_dataloaders_every_n_epochs=1,
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        log_every_n_steps=1,
        deterministic=False,
    )
    return trainer, checkpoints


def train(
    data,
    run: str | Path,
    config: TrainConfig,
    *,
    resume: bool = False,
    progress_bar: bool = True,
    dropped: Callable[[str], None] | None = None,
) -> Path:
    """Train on one data set or several (``data`` a path or a list) into the run folder ``run``; returns ``model.pt``.

    Each data set gets its own seeded patient split (``split.csv``,
    ``split-2.csv``, ...); with several, ``config.data_weights`` sets how
    often each is sampled.  Inputs that cannot be used (an unreadable
    image, a contour file with too few points, an image without reference
    contours) are left out and training goes on with the rest: before
    training starts, ``dropped(line)`` is called once per bad file and
    reason (:func:`dropped_lines`); without ``dropped`` each line is logged
    as a warning.

    Raises
    ------
    TrainingError
        No training images, or a run folder that already holds a run when
        ``resume`` is False.
    """
    config.validate()
    datas = [Path(d) for d in (data if isinstance(data, (list, tuple)) else [data])]
    run = Path(run)
    if config.data_weights and len(config.data_weights) != len(datas):
        raise TrainingError(f"{len(config.data_weights)} data weights given for {len(datas)} data sets")
    last = run / "checkpoints" / "last.ckpt"
    if resume and not last.exists():
        raise TrainingError(f"{run}: nothing to resume (no checkpoints/last.ckpt)")
    if not resume and (run / "config.yaml").exists():
        raise TrainingError(f"{run}: already holds a run; use --resume to continue it or choose another folder")
    L.seed_everything(config.seed, workers=True, verbose=False)
    module = SegmentationModule(config)  # before anything is written: bad encoder or init weights fail here
    samples = _start_run(datas, run, config, dropped, resume)
    trainer, checkpoints = _trainer(run, config, progress_bar)
    log.info(
        "training on %s (%d device(s), %s)",
        type(trainer.accelerator).__name__.removesuffix("Accelerator"),
        trainer.num_devices,
        trainer.precision,
    )
    if torch.cuda.is_available():
        module.network = module.network.to(memory_format=torch.channels_last)
    start = time.perf_counter()
    trainer.fit(module, datamodule=SegmentationData(samples, config), ckpt_path=str(last) if resume else None)
    seconds = time.perf_counter() - start

    best = checkpoints.best_model_path or checkpoints.last_model_path
    state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
    module.load_state_dict(state)
    training = {
        "data": [str(d) for d in datas],
        "epochs": trainer.current_epoch,
        "best_val_iou": float(checkpoints.best_model_score) if checkpoints.best_model_score is not None else None,
        "seconds": round(seconds, 1),
        "images_per_second": round(module.images_seen / seconds, 2) if seconds > 0 else None,
        "config": to_yaml(config),
    }
    if config.window_spacing_mm is not None:
        training["synthesis"] = to_yaml(SynthSettings())
    model_path = run / "model.pt"
    if trainer.is_global_zero:
        save_model_file(
            model_path,
            module.network.to("cpu").to(memory_format=torch.contiguous_format),
            default_meta(get_spec(config.model), config.input_size, training, crop=config.crop, window_spacing_mm=config.window_spacing_mm),
        )
    return model_path


def _devices(value: str):
    try:
        return int(value)
    except ValueError:
        return value  # e.g. "0,1" or "auto", understood by Lightning
