"""Which model a run uses: the embedded one or a model file, loaded for inference, and its fingerprint.

``analyze`` and ``evaluate`` both load their model here.  ONNX models run
on ONNX Runtime (no PyTorch); a ``.pt`` file needs the ``model`` extra.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

EMBEDDED_MODEL = "embedded"
NOT_VALIDATED = "segmented by the embedded phantom-trained model, which is not validated on patient data: check every contour"


def embedded_model_path() -> Path:
    """The compact model shipped inside the package, as ONNX (see ``myomap/data/MODEL_CARD.md``).

    ONNX Runtime runs it on a plain CPU, so analysing needs no PyTorch.
    """
    from myomap.model.embedded import EMBEDDED_ONNX

    return EMBEDDED_ONNX


def model_path(model: str) -> Path:
    """The file behind ``model``: a path, or the embedded ONNX file for ``embedded``."""
    return embedded_model_path() if model == EMBEDDED_MODEL else Path(model)


def load_segmenter(model: str):
    """A Segmenter for a ``.pt`` model file, an OnnxSegmenter for ``.onnx``, the embedded model for ``embedded``."""
    from myomap.model.inference import ModelFileError, OnnxSegmenter, Segmenter

    path = model_path(model)
    if model == EMBEDDED_MODEL and not path.is_file():
        raise ModelFileError(f"{path}: the embedded model is missing from this installation; reinstall myomap or give --model")
    if path.suffix.lower() == ".onnx":
        return OnnxSegmenter.from_file(path)
    try:
        return Segmenter.from_file(path)
    except ImportError as exc:
        raise ModelFileError(
            f"{path}: a PyTorch model file needs the model extra ({exc.name or exc} is missing): "
            "pip install 'myomap[model]', or convert it once with myomap export-onnx and pass the .onnx"
        ) from None


def model_sha256(model: str) -> str:
    """SHA-256 of the model file (the embedded one for ``embedded``)."""
    digest = hashlib.sha256()
    with model_path(model).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
