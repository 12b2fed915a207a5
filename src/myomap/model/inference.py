"""Prediction with a trained model, eager PyTorch or ONNX Runtime.

A model file holds everything inference needs: the registry name and spec
of the network, class names, input size, normalisation and the weights.
It is written with ``torch.save`` and read with ``weights_only=True``, so
loading never executes pickled code.  :class:`Segmenter` takes images of
any size: it normalises, pads to a square, resizes to the network input and
maps the class probabilities back to the native grid.

Two kinds of model exist.  Older ones (``window_spacing_mm`` unset) see a
centred share (``crop``) of the square-padded image.  Models trained at a
fixed pixel size (``window_spacing_mm`` set) first locate the LV on the
whole field of view, then segment a window of fixed physical size centred
on it (:mod:`myomap.model.locate`); they need each image's pixel spacing.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from myomap.model.data import NORMALISATION, Geometry, check_image, nan_as_zero, normalise, to_input, to_native
from myomap.model.registry import CLASS_NAMES, ModelSpec
from myomap.model.window import Window, window_to_native

MODEL_FORMAT = "myomap-segmenter"
MODEL_VERSION = 1


class ModelFileError(ValueError):
    """A model file that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class ModelMeta:
    """What travels with the weights."""

    spec: ModelSpec
    class_names: tuple[str, ...]
    input_size: int
    normalisation: dict
    training: dict
    crop: float = 1.0
    window_spacing_mm: float | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["spec"]["decoder_channels"] = list(self.spec.decoder_channels)
        data["class_names"] = list(self.class_names)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ModelMeta:
        spec = dict(data["spec"])
        spec["decoder_channels"] = tuple(spec["decoder_channels"])
        return cls(
            ModelSpec(**spec),
            tuple(data["class_names"]),
            int(data["input_size"]),
            dict(data["normalisation"]),
            dict(data.get("training", {})),
            float(data.get("crop", 1.0)),
            None if data.get("window_spacing_mm") is None else float(data["window_spacing_mm"]),
        )


def save_model_file(path: str | Path, network, meta: ModelMeta) -> None:
    """Write weights and metadata (atomically)."""
    import torch

    from myomap.io.files import atomic_path

    payload = {"format": MODEL_FORMAT, "version": MODEL_VERSION, "meta": json.dumps(meta.to_dict()), "state_dict": network.state_dict()}
    with atomic_path(Path(path)) as tmp:
        torch.save(payload, tmp)


def load_model_file(path: str | Path):
    """Read a model file; returns ``(network, meta)`` with the network in eval mode.

    Raises
    ------
    ModelFileError
        Missing, corrupt or foreign file (e.g. a Lightning checkpoint or
        another project's weights), or weights that do not fit the network.
    """
    import torch

    from myomap.model.network import build_network

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    if path.suffix.lower() == ".onnx":
        raise ModelFileError(f"{path}: an ONNX file; this needs the PyTorch model file (model.pt) that myomap train wrote")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # its message is torch's advice, over several lines, to load the file unsafely
        raise ModelFileError(
            f"{path}: not a myomap model file (not plain PyTorch weights, the only kind myomap loads: "
            "a whole pickled model, an ONNX file under another name, or another format)"
        ) from None
    except Exception as exc:  # unpickling errors of all kinds mean "not a model file we can read"
        reason = (str(exc).strip().splitlines() or [""])[0]
        raise ModelFileError(f"{path}: not a readable model file ({type(exc).__name__}: {reason[:200]})") from None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        hint = (
            " (a Lightning checkpoint: use the run's model.pt)"
            if isinstance(payload, dict) and "pytorch-lightning_version" in payload
            else ""
        )
        raise ModelFileError(f"{path}: not a myomap model file{hint}")
    if payload.get("version") != MODEL_VERSION:
        raise ModelFileError(f"{path}: model file version {payload.get('version')} is not supported (expected {MODEL_VERSION})")
    try:
        meta = ModelMeta.from_dict(json.loads(payload["meta"]))
        network = build_network(meta.spec, classes=len(meta.class_names))
        network.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(
            f"{path}: model file is damaged or does not match its network ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    network.eval()
    return network, meta


@dataclass
class Prediction:
    """Class probabilities (C, rows, cols) on the native grid, the label image and, with TTA, the uncertainty.

    ``uncertainty`` is the per-pixel standard deviation of the probabilities
    across test-time augmentations, averaged over classes (0 = all agree).
    ``agreement`` is the mean Dice of each augmentation's myocardium with
    the consensus myocardium, on the network grid (1 = all agree; NaN when
    no augmentation finds myocardium).  ``members`` are the label images
    of the single augmentations on the native grid.  ``doubts`` are what
    the image check held against the ring being the LV, when enough
    witnesses did (:meth:`myomap.model.evidence.RingEvidence.doubts`).
    """

    probabilities: np.ndarray
    labels: np.ndarray
    uncertainty: np.ndarray | None = None
    agreement: float | None = None
    members: tuple[np.ndarray, ...] = ()
    doubts: tuple[str, ...] = ()


# Test-time augmentations: (quarter turns, left-right mirror, row shift, column shift in input pixels, gamma
# on the normalised square input); four members, each with an intensity change, keep TTA at 4x one pass.
# Fixed-pixel-size models are trained at any rotation, mirrored or not, so turned and mirrored copies are
# the most different views of a slice still in their training distribution: on the robustness benchmark's
# unseen phantom maps the mean Dice rose from 0.906 with the shifts to 0.915 (benchmarks/robustness.py).
# Share-of-image models were trained upright with small rotations only, and keep the shifts.
TTA_TURNED = ((0, False, 0, 0, 1.0), (1, True, 0, 0, 0.85), (2, False, 0, 0, 1.2), (3, True, 0, 0, 1.0))
TTA_SHIFTED = ((0, False, 0, 0, 1.0), (0, False, 4, 0, 0.85), (0, False, -4, 4, 1.2), (0, False, 0, -4, 1.0))
# Side in pixels of the one whole-field-of-view view the LV search starts with (myomap.model.locate):
# a 256-pixel view shows a 380 mm field of view at ~1.5 mm, fine enough to find a small apical LV.
SEARCH_SIZE = 256


class Segmenter:
    """Eager PyTorch inference on CPU or GPU."""

    def __init__(self, network, meta: ModelMeta, device: str = "cpu"):
        import torch

        self.meta = meta
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()

    @classmethod
    def from_file(cls, path: str | Path, device: str = "cpu") -> Segmenter:
        network, meta = load_model_file(path)
        return cls(network, meta, device)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Network output (B, C, S, S) for normalised inputs (B, 1, S, S)."""
        import torch

        with torch.inference_mode():
            return self.network(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)).float().cpu().numpy()

    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, Geometry]:
        """Normalised network input (S, S) and the geometry to map back (share-of-image models); ValueError for unusable images.

        NaN and infinite pixels (failed fits, a masked background) are shown as 0, as in training (:func:`nan_as_zero`).
        """
        check_image(image)
        return to_input(normalise(nan_as_zero(image)), self.meta.input_size, crop=self.meta.crop)

    @property
    def search_size(self) -> int:
        """Side of the whole-field-of-view view the LV search starts with (the network is fully convolutional)."""
        return max(SEARCH_SIZE, self.meta.input_size)

    @property
    def physical(self) -> bool:
        """True for a model that works at a fixed pixel size and needs the pixel spacing."""
        return self.meta.window_spacing_mm is not None

    def predict(
        self,
        images: list[np.ndarray],
        spacings_mm: list[tuple[float, float]] | None = None,
        *,
        tta: bool = False,
        batch_size: int = 16,
        kinds: list[str | None] | None = None,
    ) -> list[Prediction]:
        """Segment native-size images (any size and aspect); raises ValueError for the first image it cannot segment.

        ``kinds`` as in :meth:`predict_each`.
        """
        predictions, reasons = self.predict_each(images, spacings_mm, tta=tta, batch_size=batch_size, kinds=kinds)
        for reason in reasons:
            if reason:
                raise ValueError(reason)
        return predictions  # type: ignore[return-value]

    def predict_each(
        self,
        images: list[np.ndarray],
        spacings_mm: list[tuple[float, float]] | None = None,
        *,
        tta: bool = False,
        batch_size: int = 16,
        kinds: list[str | None] | None = None,
        hints: list[tuple[float, float] | None] | None = None,
    ) -> tuple[list[Prediction | None], list[str | None]]:
        """Segment what can be segmented: None and the reason (NaN, constant, tiny, no left ventricle) in place of the rest.

        ``spacings_mm`` are the (row, col) pixel spacings; a model that works
        at a fixed pixel size needs them.  ``kinds`` are the maps' stack
        names when known (``"T1"`` native, ``"T1-post"``, ``"T2"``; ``"cine"``
        for a cine's phase, :mod:`myomap.model.evidence`): a model
        that works at a fixed pixel size then takes no ring whose blood pool
        is not brighter than its myocardium on a native T1 map for the LV,
        and hands on the image check's doubts about the ring on native T1
        and T2 maps (:mod:`myomap.model.evidence`).  ``hints`` are native
        (x, y) pixel points where the LV is expected (None where unknown),
        tried first by a fixed-pixel-size model (:mod:`myomap.model.locate`)
        and ignored by the older share-of-image models.
        """
        if self.physical:
            if spacings_mm is None or len(spacings_mm) != len(images):
                raise ValueError("this model works at a fixed pixel size: give the pixel spacing of every image")
            from myomap.model.locate import predict_physical

            return predict_physical(self, images, spacings_mm, tta=tta, batch_size=batch_size, kinds=kinds, hints=hints)
        prepared, where, reasons = [], [], [None] * len(images)
        for k, image in enumerate(images):
            try:
                prepared.append(self.prepare(image))
                where.append(k)
            except ValueError as exc:
                reasons[k] = str(exc)
        predictions: list[Prediction | None] = [None] * len(images)
        for k, prediction in zip(where, self.predict_prepared(prepared, tta=tta, batch_size=batch_size) if prepared else []):
            predictions[k] = prediction
        return predictions, reasons

    @property
    def tta_members(self) -> tuple:
        """The test-time augmentations this model is given (:data:`TTA_TURNED` or :data:`TTA_SHIFTED`)."""
        return TTA_TURNED if self.physical else TTA_SHIFTED

    def probabilities(self, inputs: np.ndarray, members=TTA_SHIFTED[:1], batch_size: int = 16) -> np.ndarray:
        """Softmax outputs (M, B, C, S, S) of normalised inputs (B, S, S) under test-time augmentations ``members``."""
        out = np.zeros((len(members), len(inputs), len(self.meta.class_names), *np.shape(inputs)[1:]), np.float32)
        for m, (turns, mirror, dy, dx, gamma) in enumerate(members):
            augmented = np.power(inputs, gamma)
            augmented = np.rot90(augmented[:, :, ::-1] if mirror else augmented, turns, axes=(1, 2))
            augmented = np.ascontiguousarray(np.roll(augmented, (dy, dx), axis=(1, 2)))
            for start in range(0, len(inputs), batch_size):
                chunk = augmented[start : start + batch_size, None]
                # Undone in reverse order: shift back, turn back, mirror back.
                back = np.rot90(np.roll(_softmax(self.logits(chunk)), (-dy, -dx), axis=(2, 3)), -turns, axes=(2, 3))
                out[m, start : start + len(chunk)] = back[..., ::-1] if mirror else back
        return out

    def predict_prepared(self, prepared: list[tuple[np.ndarray, Geometry]], *, tta: bool = False, batch_size: int = 16) -> list[Prediction]:
        """:meth:`predict` for images already passed through :meth:`prepare`."""
        members = self.tta_members if tta else self.tta_members[:1]
        probabilities = self.probabilities(np.stack([p[0] for p in prepared]), members, batch_size)
        results = []
        background = np.eye(len(self.meta.class_names), dtype=np.float32)[0]  # outside the crop
        for k, (_, geometry) in enumerate(prepared):
            mean = _native(probabilities[:, k].mean(axis=0), geometry, outside=background)
            uncertainty = _native(probabilities[:, k].std(axis=0), geometry).mean(axis=0) if tta else None
            agreement = _agreement(probabilities[:, k]) if tta else None
            members = (
                tuple(_native(p, geometry, outside=background).argmax(axis=0).astype(np.uint8) for p in probabilities[:, k]) if tta else ()
            )
            results.append(Prediction(mean, np.argmax(mean, axis=0).astype(np.uint8), uncertainty, agreement, members))
        return results


class OnnxSegmenter(Segmenter):
    """The same pre- and post-processing with ONNX Runtime on the CPU."""

    def __init__(self, session, meta: ModelMeta):
        self.meta = meta
        self.session = session
        self.input_name = session.get_inputs()[0].name

    @classmethod
    def from_file(cls, path: str | Path, device: str = "cpu", threads: int | None = None) -> OnnxSegmenter:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"{path}: ONNX file not found")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for invalid files
            raise ModelFileError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {str(exc)[:200]})") from None
        raw = session.get_modelmeta().custom_metadata_map.get("myomap")
        if raw is None:
            raise ModelFileError(f"{path}: an ONNX model without myomap metadata (exported by another tool?)")
        try:
            meta = ModelMeta.from_dict(json.loads(raw))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: damaged myomap metadata ({type(exc).__name__}: {str(exc)[:200]})") from None
        _check_onnx_graph(path, session, meta)
        return cls(session, meta)

    @property
    def search_size(self) -> int:
        """As for PyTorch, unless the ONNX file fixes the input size (files exported before December 2026)."""
        fixed = all(isinstance(side, int) for side in self.session.get_inputs()[0].shape[2:])
        return self.meta.input_size if fixed else super().search_size

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]


def _check_onnx_graph(path: Path, session, meta: ModelMeta) -> None:
    """Refuse an ONNX graph that cannot take what myomap feeds or give what it reads, before a run writes anything.

    myomap feeds one float input (batch, 1, S, S), with S the metadata's
    input size (and the larger LV-search view where the image axes are
    dynamic), and reads one score per class name from the first output.  A
    graph that does not fit would otherwise fail on the first slice with an
    ONNX Runtime traceback, or, with the wrong number of classes, make every
    input look like it holds no left ventricle.  The declared shapes give the
    clear reason; one blank batch at the input size catches graphs whose
    declared shapes are free but whose output is not.
    """
    inputs, outputs = session.get_inputs(), session.get_outputs()
    size, classes = meta.input_size, len(meta.class_names)
    fed = f"myomap feeds (batch, 1, {size}, {size}) images"
    if len(inputs) != 1:
        raise ModelFileError(f"{path}: the ONNX graph takes {len(inputs)} inputs; {fed} as its only input")
    shape = inputs[0].shape
    fixed = [side if isinstance(side, int) else None for side in shape]
    if len(shape) != 4 or fixed[0] is not None or fixed[1] not in (None, 1) or any(side not in (None, size) for side in fixed[2:]):
        raise ModelFileError(f"{path}: the ONNX graph takes input of shape {_shape_text(shape)}; {fed}")
    shape = outputs[0].shape
    if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != classes):
        raise ModelFileError(
            f"{path}: the ONNX graph gives output of shape {_shape_text(shape)}; its metadata names {classes} classes "
            f"({', '.join(meta.class_names)}), one score map each"
        )
    try:
        probe = session.run(None, {inputs[0].name: np.zeros((2, 1, size, size), np.float32)})[0]
    except Exception as exc:  # onnxruntime raises its own exception types; the first line says what did not fit
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"{path}: the ONNX graph does not run on a (2, 1, {size}, {size}) input ({reason[:200]})") from None
    if np.shape(probe) != (2, classes, size, size):
        raise ModelFileError(
            f"{path}: the ONNX graph gives output of shape {_shape_text(np.shape(probe))} for a (2, 1, {size}, {size}) input; "
            f"myomap reads (2, {classes}, {size}, {size}), one score map per class of its metadata ({', '.join(meta.class_names)})"
        )


def _shape_text(shape) -> str:
    """A tensor shape as text, ``(batch, 1, 64, 64)``: round brackets, which rich does not take for markup."""
    return "(" + ", ".join(str(side) for side in shape) + ")"


def export_onnx(model_file: str | Path, out: str | Path, *, opset: int = 17) -> Path:
    """Export a model file to ONNX with dynamic batch and image axes; the metadata travels in the file."""
    import onnx
    import torch

    from myomap.io.files import atomic_path

    network, meta = load_model_file(model_file)
    size = meta.input_size
    dummy = torch.zeros(2, 1, size, size)
    out = Path(out)
    with atomic_path(out) as tmp:
        torch.onnx.export(
            network,
            (dummy,),
            str(tmp),
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"}, "logits": {0: "batch", 2: "height", 3: "width"}},
            opset_version=opset,
            dynamo=False,
        )
        model = onnx.load(str(tmp))
        entry = model.metadata_props.add()
        entry.key, entry.value = "myomap", json.dumps(meta.to_dict())
        onnx.save(model, str(tmp))
    return out


def default_meta(
    spec: ModelSpec, input_size: int, training: dict | None = None, *, crop: float = 1.0, window_spacing_mm: float | None = None
) -> ModelMeta:
    return ModelMeta(spec, CLASS_NAMES, input_size, dict(NORMALISATION), training or {}, crop, window_spacing_mm)


def _native(channels: np.ndarray, geometry, *, outside: np.ndarray | None = None) -> np.ndarray:
    """Window or share-of-image geometry: map (C, S, S) back to the native grid."""
    if isinstance(geometry, Window):
        return window_to_native(channels, geometry, outside=outside)
    return to_native(channels, geometry, outside=outside)


def _agreement(members: np.ndarray, myocardium: int = 1) -> float:
    """Mean Dice between each member's myocardium (M, C, S, S probabilities) and the consensus."""
    consensus = members.mean(axis=0).argmax(axis=0) == myocardium
    scores = []
    for member in members:
        own = member.argmax(axis=0) == myocardium
        total = own.sum() + consensus.sum()
        scores.append(2.0 * np.logical_and(own, consensus).sum() / total if total else np.nan)
    return float(np.nanmean(scores)) if np.isfinite(scores).any() else float("nan")


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)
