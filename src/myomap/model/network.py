"""Building the networks of the registry, and loading local ImageNet encoder weights."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from myomap.model.registry import CLASS_NAMES, ModelSpec


class EncoderWeightsError(ValueError):
    """Encoder weights that cannot be used: missing file, wrong kind, wrong architecture."""


def build_network(spec: ModelSpec, *, in_channels: int = 1, classes: int = len(CLASS_NAMES)) -> nn.Module:
    """A randomly initialised network for ``spec`` (nothing is downloaded)."""
    if spec.architecture == "smp-unet":
        import segmentation_models_pytorch as smp

        return smp.Unet(
            encoder_name=spec.encoder,
            encoder_weights=None,
            in_channels=in_channels,
            classes=classes,
            decoder_channels=spec.decoder_channels,
        )
    if spec.architecture == "original-unet":
        return OriginalUNet(in_channels, classes, spec.decoder_channels)
    raise ValueError(f"unknown architecture {spec.architecture!r}")


def load_encoder_weights(network: nn.Module, path: str | Path) -> int:
    """Load ImageNet weights of a torchvision/timm ResNet from a local file into the U-Net's encoder.

    The first convolution's RGB kernels are summed into one input channel
    (what a grey image through all three channels would give).  Returns the
    number of tensors loaded.  Files are read with ``weights_only=True``.

    Raises
    ------
    EncoderWeightsError
        Missing or unreadable file, or no tensor matching the encoder.
    """
    path = Path(path)
    if not path.is_file():
        raise EncoderWeightsError(
            f"{path}: encoder weights not found. Nothing is downloaded at run time: fetch the ImageNet weights of "
            "the encoder once on a machine with internet access (e.g. torchvision.models.resnet50(weights='IMAGENET1K_V2')"
            ".state_dict(), saved with torch.save) and pass the file with --encoder-weights"
        )
    if not hasattr(network, "encoder"):
        raise EncoderWeightsError(f"{path}: this architecture has no pretrained encoder")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling/format failure means "not a weights file we can use"
        raise EncoderWeightsError(f"{path}: not a readable PyTorch weights file ({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise EncoderWeightsError(f"{path}: expected a state dict of tensors")
    target = network.encoder.state_dict()
    loaded = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor) or key not in target:
            continue
        if key == "conv1.weight" and value.ndim == 4 and value.shape[1] == 3 and target[key].shape[1] == 1:
            value = value.sum(dim=1, keepdim=True)
        if value.shape == target[key].shape:
            loaded[key] = value
    if not loaded:
        raise EncoderWeightsError(f"{path}: no tensor matches the {type(network.encoder).__name__} encoder (weights of another model?)")
    network.encoder.load_state_dict(loaded, strict=False)
    return len(loaded)


class OriginalUNet(nn.Module):
    """The U-Net of Ronneberger et al. 2015 with padded convolutions (so output size = input size).

    segmentation_models_pytorch only offers encoder-based U-Nets, hence this
    small hand-written version for the paper's Table 6 ablation.
    """

    def __init__(self, in_channels: int, classes: int, widths: tuple[int, ...] = (64, 128, 256, 512, 1024)):
        super().__init__()
        self.down = nn.ModuleList()
        channels = in_channels
        for width in widths:
            self.down.append(_double_conv(channels, width))
            channels = width
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(channels, width, kernel_size=2, stride=2))
            self.merge.append(_double_conv(2 * width, width))
            channels = width
        self.head = nn.Conv2d(channels, classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else nn.functional.max_pool2d(x, 2))
            skips.append(x)
        skips.pop()
        for up, merge in zip(self.up, self.merge):
            x = merge(torch.cat([skips.pop(), up(x)], dim=1))
        return self.head(x)


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )
