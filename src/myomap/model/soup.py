"""Weight averaging of models fine-tuned from one start: a "model soup".

Wortsman et al. (ICML 2022, "Model soups") showed that averaging the
weights of networks fine-tuned from the same starting point often keeps
what each learned and loses less than any one of them does elsewhere; it
costs no training and gives one network of the same size and speed.  It
works only for models that share an architecture and start: the weights of
independently trained networks do not line up, and their average is noise.
myomap's embedded model is such an average (its model card).

Written here: the averaging is a weighted sum per tensor, and no library
reads myomap's model files.  Batch-norm running statistics are averaged
like the weights (an approximation: the exact statistics of the averaged
network would need a pass over training data); integer buffers (batch
counts) are taken from the first model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from myomap.model.inference import ModelFileError, load_model_file, save_model_file
from myomap.model.loading import model_sha256

# What must agree for two model files to be averaged: the network and how it sees an image.
_SAME = ("spec", "class_names", "input_size", "normalisation", "crop", "window_spacing_mm")


def average_models(models: Sequence[str | Path], out: str | Path, weights: Sequence[float] | None = None) -> Path:
    """Write the weighted average of ``models`` (myomap model files of one architecture) to ``out``.

    ``weights`` (one per model, any positive scale; equal by default) are
    normalised to sum to 1.  The result's metadata is the first model's,
    with ``training`` naming the members, their SHA-256 and weights and
    keeping each member's own training record.

    Raises
    ------
    ModelFileError
        Fewer than two models, a weight that is not positive or a count that
        does not match, an unreadable model file, or models that differ in
        architecture, classes, input size, normalisation or geometry.
    """
    paths = [Path(m) for m in models]
    if len(paths) < 2:
        raise ModelFileError("averaging needs at least two model files")
    shares = [1.0] * len(paths) if weights is None else [float(w) for w in weights]
    if len(shares) != len(paths) or not all(w > 0 for w in shares):
        raise ModelFileError(f"averaging: expected {len(paths)} positive weights, got {list(weights or [])}")
    shares = [w / sum(shares) for w in shares]
    loaded = [load_model_file(p) for p in paths]
    first_meta = loaded[0][1]
    for path, (_, meta) in zip(paths[1:], loaded[1:]):
        differ = [name for name in _SAME if getattr(meta, name) != getattr(first_meta, name)]
        if differ:
            raise ModelFileError(f"{path}: cannot be averaged with {paths[0]}: its {', '.join(differ)} differ")
    states = [network.state_dict() for network, _ in loaded]
    network = loaded[0][0]
    averaged = {
        key: sum(w * s[key].float() for w, s in zip(shares, states)) if value.is_floating_point() else value
        for key, value in states[0].items()
    }
    network.load_state_dict(averaged)
    members = [
        {"file": path.name, "sha256": model_sha256(str(path)), "weight": round(w, 6), "training": meta.training}
        for path, w, (_, meta) in zip(paths, shares, loaded)
    ]
    out = Path(out)
    save_model_file(out, network, replace(first_meta, training={"averaged": members}))
    return out


__all__ = ["average_models"]
