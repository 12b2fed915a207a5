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


MIN_HEART_SCALE, MAX_HEART_SCALE = 0.3, 2.0  # an infant's heart to a dilated one, against an adult's


def heart_scale_problem(heart_scale: float) -> str | None:
    """Why ``heart_scale`` cannot be used (outside the range a heart's size can take), or None."""
    if MIN_HEART_SCALE <= heart_scale <= MAX_HEART_SCALE:  # NaN fails
        return None
    return f"heart scale must be within [{MIN_HEART_SCALE:g}, {MAX_HEART_SCALE:g}], got {heart_scale:g}"


def load_segmenter(model: str, heart_scale: float = 1.0):
    """A Segmenter for a ``.pt`` model file, an OnnxSegmenter for ``.onnx``, the embedded model for ``embedded``.

    ``heart_scale`` other than 1 wraps it in :class:`ScaledHeart` (a child's heart); only a model that works at a
    fixed pixel size can take it.
    """
    from myomap.model.inference import ModelFileError, OnnxSegmenter, Segmenter

    path = model_path(model)
    if model == EMBEDDED_MODEL and not path.is_file():
        raise ModelFileError(f"{path}: the embedded model is missing from this installation; reinstall myomap or give --model")
    segmenter: OnnxSegmenter | Segmenter
    if path.suffix.lower() == ".onnx":
        segmenter = OnnxSegmenter.from_file(path)
    else:
        try:
            segmenter = Segmenter.from_file(path)
        except ImportError as exc:
            raise ModelFileError(
                f"{path}: a PyTorch model file needs the model extra ({exc.name or exc} is missing): "
                "pip install 'myomap[model]', or convert it once with myomap export-onnx and pass the .onnx"
            ) from None
    if heart_scale == 1.0:
        return segmenter
    if not segmenter.physical:
        raise ModelFileError(f"{path}: a heart scale needs a model that works at a fixed pixel size; this one sees a share of the image")
    return ScaledHeart(segmenter, heart_scale)


class ScaledHeart:
    """A fixed-pixel-size segmenter shown images as if their pixels were ``1 / scale`` times their size.

    The embedded model was trained on adult hearts (an LV 51 mm across at
    mid-ventricle on the phantom); a child's heart is seen at a size it
    never learned and is lost more often (robustness probe "body and heart
    Nx": contours on 86 % of maps at half the size).  Telling it the heart
    is ``scale`` times an adult's shows it at an adult's size.  The
    contours come back on the native grid; values, areas and distances
    downstream use the true pixel size.  The image check's limits (a ring's
    least myocardial area, the band around it) then apply at the adult
    size too.
    """

    def __init__(self, segmenter, scale: float) -> None:
        self.segmenter, self.scale = segmenter, float(scale)

    def __getattr__(self, name: str):
        return getattr(self.segmenter, name)

    def predict_each(self, images, spacings_mm=None, **options):
        """:meth:`Segmenter.predict_each <myomap.model.inference.Segmenter.predict_each>` with every pixel ``1 / scale`` its size."""
        return self.segmenter.predict_each(images, self._scaled(spacings_mm), **options)

    def predict(self, images, spacings_mm=None, **options):
        """:meth:`Segmenter.predict <myomap.model.inference.Segmenter.predict>` with every pixel ``1 / scale`` its size."""
        return self.segmenter.predict(images, self._scaled(spacings_mm), **options)

    def _scaled(self, spacings_mm):
        return None if spacings_mm is None else [(row / self.scale, col / self.scale) for row, col in spacings_mm]


def model_sha256(model: str) -> str:
    """SHA-256 of the model file (the embedded one for ``embedded``)."""
    digest = hashlib.sha256()
    with model_path(model).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
