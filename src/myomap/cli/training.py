"""Commands of the model: ``train``, ``export-onnx`` and ``average-models``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from myomap.cli.app import error_line, fail, log, through_terminal

if TYPE_CHECKING:
    from myomap.model.config import TrainConfig

# As analyze: 1 means some inputs failed (here: were left out of training), the rest was used.
EXIT_SOME_FAILED = 1


def train(
    data: Annotated[
        list[Path], typer.Argument(help="Data set folder(s) with manifest.csv (e.g. from myomap simulate, or your labelled scans).")
    ],
    run: Annotated[Path, typer.Option("--out", "-o", help="Run folder: checkpoints, logs, split, config and model.pt.")],
    config: Annotated[Path | None, typer.Option(help="YAML with TrainConfig settings; options given here override it.")] = None,
    model: Annotated[str | None, typer.Option(help="Network from the registry, e.g. unet-resnet50 (paper), unet-mobilenet (CPU).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Total epochs (paper: 150).")] = None,
    weighted_epochs: Annotated[int | None, typer.Option(help="First epochs that also use the weighted images (paper: 70).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Images per batch.")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="Adam learning rate.")] = None,
    loss: Annotated[str | None, typer.Option(help="jaccard (paper), dice, ce or jaccard+ce.")] = None,
    input_size: Annotated[int | None, typer.Option(help="Network input side in pixels (paper: 224).")] = None,
    crop: Annotated[
        float | None, typer.Option(help="Share of the image side kept around the centre before resizing (1: whole image).")
    ] = None,
    images_per_epoch: Annotated[int | None, typer.Option(help="Cap on training images per epoch (random subset), for short runs.")] = None,
    encoder_weights: Annotated[
        Path | None, typer.Option(help="Local file with ImageNet weights of the encoder (never downloaded).")
    ] = None,
    accelerator: Annotated[str | None, typer.Option(help="auto, cpu or gpu (Lightning).")] = None,
    devices: Annotated[str | None, typer.Option(help="Devices per node: auto, a count, or a list like 0,1 (Lightning).")] = None,
    num_nodes: Annotated[int | None, typer.Option(help="Nodes for multi-node training (Lightning).")] = None,
    window_spacing_mm: Annotated[
        float | None,
        typer.Option(
            help="Train a model that works at this fixed pixel size in mm (locate the LV, then segment a window on it), with random views and synthesised images."
        ),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            help="Sampling weight of each DATA, comma-separated (e.g. 1,3 to draw the second data set three times as often per image set)."
        ),
    ] = None,
    init: Annotated[
        str | None,
        typer.Option(
            help="Start from the weights of this model.pt (fine-tuning), or 'embedded' for the embedded default model. "
            "The run takes the model's network and input settings (--model, --input-size, --crop, --window-spacing-mm) "
            "unless given here or in --config; a different value given is refused."
        ),
    ] = None,
    max_minutes: Annotated[
        float | None, typer.Option(help="Stop after this many minutes of training; the best checkpoint is kept.")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last checkpoint.")] = False,
) -> None:
    """Train a segmentation model with the paper's recipe (U-Net, Jaccard loss, two-stage schedule).

    Several data sets can be mixed, each with a sampling weight; a site can
    fine-tune the embedded model on its own labelled slices with
    [bold]myomap train phantom mine -o runs/site --config configs/embedded.yaml --init embedded --weights 1,3 --epochs 30[/].

    Writes RUN/config.yaml, split.csv, checkpoints/{best,last}.ckpt, CSV and
    TensorBoard logs, and model.pt (everything inference needs).

    An input that cannot be used (an unreadable image, a contour file with
    too few points, an image without reference contours) is one error line
    per file and left out; training goes on with the rest.  Exit code: 0
    every input used, 1 some inputs left out or training not possible.

    Example: [bold]myomap train cohort -o runs/paper[/] or, on a CPU,
    [bold]myomap train cohort -o runs/cpu --model unet-mobilenet --input-size 160 --crop 0.5 --loss jaccard+ce --epochs 48 --weighted-epochs 22 --images-per-epoch 500[/]
    """
    from myomap.config import ConfigError, from_yaml
    from myomap.model.config import TrainConfig
    from myomap.model.embedded import init_weights_path

    overrides = dict(
        model=model, epochs=epochs, weighted_epochs=weighted_epochs, batch_size=batch_size, learning_rate=learning_rate, loss=loss,
        input_size=input_size, crop=crop, max_images_per_epoch=images_per_epoch, accelerator=accelerator, devices=devices, num_nodes=num_nodes,
        encoder_weights=str(encoder_weights) if encoder_weights else None, window_spacing_mm=window_spacing_mm, max_minutes=max_minutes,
        init=init_weights_path(init), data_weights=_weights(weights),
    )  # fmt: skip
    try:
        if resume and config is None and (run / "config.yaml").is_file():
            config = run / "config.yaml"
        text = config.read_text() if config is not None else ""
        settings = _fit_first_stage(from_yaml(TrainConfig, text, **overrides), weighted_epochs)
        settings.validate()
    except (ConfigError, OSError) as exc:
        raise fail(f"{config or 'settings'}: {exc}") from None

    from myomap.model.network import EncoderWeightsError
    from myomap.model.train import TrainingError, adopt_init_settings
    from myomap.model.train import train as run_training

    try:
        settings = adopt_init_settings(settings, _given(text, config, overrides))
    except (TrainingError, ValueError) as exc:
        raise fail(str(exc)) from None

    through_terminal("lightning", "lightning.pytorch", "lightning.fabric")

    dropped: list[str] = []

    def report(line: str) -> None:
        dropped.append(line)
        error_line(line)

    try:
        model_file = run_training(list(data), run, settings, resume=resume, dropped=report)
    except (TrainingError, EncoderWeightsError, FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from None
    log.info("model written to %s", model_file)
    if dropped:
        log.info("%d input file(s) left out of training (the error lines above)", len(dropped))
        raise typer.Exit(code=EXIT_SOME_FAILED)


def _fit_first_stage(settings: TrainConfig, weighted_epochs: int | None) -> TrainConfig:
    """``settings`` with the weighted-image stage cut to ``epochs`` when ``--epochs`` is shorter than the config's stage.

    ``--epochs 30`` with ``configs/embedded.yaml`` (40 epochs on weighted
    images first) then trains all 30 epochs on maps and weighted images,
    as the fine-tuning example does, instead of refusing the config; a
    ``--weighted-epochs`` given here is checked as it is.
    """
    if weighted_epochs is not None or not 1 <= settings.epochs < settings.weighted_epochs:
        return settings
    log.info(
        "--epochs %d: the first stage (maps and weighted images) cut from %d epochs to %d",
        settings.epochs,
        settings.weighted_epochs,
        settings.epochs,
    )
    return replace(settings, weighted_epochs=settings.epochs)


# Options whose name is not the TrainConfig field's with dashes.
_OPTION_NAMES = {"max_images_per_epoch": "--images-per-epoch", "data_weights": "--weights"}


def _given(text: str, config: Path | None, overrides: dict) -> dict[str, str]:
    """The settings the user set, each with where: an option given here, else the config file (its keys, even at default values)."""
    import yaml

    given = {key: str(config) for key in (yaml.safe_load(text) or {})}
    given.update({k: _OPTION_NAMES.get(k, "--" + k.replace("_", "-")) for k, v in overrides.items() if v is not None})
    return given


def _weights(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise fail(f"--weights: expected comma-separated numbers, got {text!r}") from None


def export_onnx_command(
    model: Annotated[Path, typer.Argument(help="A model.pt written by myomap train.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The .onnx file to write.")],
) -> None:
    """Export a trained model to ONNX (dynamic batch) for fast CPU inference with ONNX Runtime.

    Example: [bold]myomap export-onnx runs/cpu/model.pt -o model.onnx[/]
    """
    from myomap.model.inference import ModelFileError, export_onnx

    try:
        export_onnx(model, out)
    except ModelFileError as exc:
        raise fail(str(exc)) from None
    log.info("wrote %s", out)


def average_models_command(
    models: Annotated[list[Path], typer.Argument(help="Two or more model.pt files fine-tuned from one start (same network).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The averaged model.pt to write.")],
    weights: Annotated[str | None, typer.Option(help="Comma-separated weight per model (equal by default).")] = None,
) -> None:
    """Average the weights of models fine-tuned from one start (a model soup), for one model of the same size and speed.

    Averaging runs that started from the same weights (e.g. several --init
    fine-tunes of one model) often keeps what each learned; the average of
    independently trained networks is noise. Score the result before use.

    Example: [bold]myomap average-models runs/a/model.pt runs/b/model.pt -o soup.pt[/]
    """
    from myomap.model.inference import ModelFileError
    from myomap.model.soup import average_models

    try:
        average_models(models, out, _weights(weights))
    except ModelFileError as exc:
        raise fail(str(exc)) from None
    log.info("wrote %s", out)
