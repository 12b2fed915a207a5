"""The model shipped inside the package (see ``myomap/data/MODEL_CARD.md``).

``default_model.onnx`` is what ``analyze`` and ``demo`` run (ONNX Runtime,
no PyTorch needed); ``default_model.pt`` holds the same weights for
``myomap train --init embedded`` (fine-tuning on a site's own labels).
Importing this module imports nothing heavy.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_DATA = Path(str(resources.files("myomap") / "data"))
EMBEDDED_ONNX = _DATA / "default_model.onnx"
EMBEDDED_WEIGHTS = _DATA / "default_model.pt"


def init_weights_path(value: str | None) -> str | None:
    """A ``--init`` / ``init:`` value as a path: ``embedded`` names :data:`EMBEDDED_WEIGHTS`, anything else is kept."""
    return str(EMBEDDED_WEIGHTS) if value == "embedded" else value
