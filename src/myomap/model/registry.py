"""Registry of segmentation networks and the settings that travel with the weights.

Importing this module does not import torch, so ``--help`` and config
checks stay instant.
"""

from __future__ import annotations

from dataclasses import dataclass

from myomap.conventions import CLASS_NAMES  # noqa: F401  (the classes a checkpoint defaults to; imported from here by model/)


@dataclass(frozen=True)
class ModelSpec:
    """How to build a network.

    ``architecture`` is ``smp-unet`` (segmentation_models_pytorch U-Net with
    the named encoder) or ``original-unet`` (Ronneberger et al. 2015, no
    pretrained encoder; ``decoder_channels`` are its five stage widths).
    """

    name: str
    architecture: str
    encoder: str | None
    decoder_channels: tuple[int, ...]
    description: str


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "unet-resnet50", "smp-unet", "resnet50", (256, 128, 64, 32, 16),
            "the paper's model: U-Net with a ResNet-50 encoder and a light decoder (~32 M parameters)",
        ),
        ModelSpec("unet-resnet18", "smp-unet", "resnet18", (128, 64, 32, 16, 16), "compact model (~12 M parameters)"),
        ModelSpec("unet-mobilenet", "smp-unet", "mobilenet_v2", (64, 32, 24, 16, 16), "compact model for CPUs (~3 M parameters, ~12 MB)"),
        ModelSpec("unet-resnet18-tiny", "smp-unet", "resnet18", (16, 16, 16, 16, 8), "smallest decoder, for tests and quick trials"),
        ModelSpec(
            "unet-original", "original-unet", None, (64, 128, 256, 512, 1024),
            "the original U-Net of Ronneberger et al. 2015 (paper's Table 6 ablation, ~31 M parameters)",
        ),
    )
}  # fmt: skip


def get_spec(name: str) -> ModelSpec:
    """The spec of model ``name``; an unknown name gives an error listing the valid ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None
