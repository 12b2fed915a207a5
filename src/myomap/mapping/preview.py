"""The preview figure of ``myomap fit`` (matplotlib object API, written atomically as PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from myomap.conventions import MAP_WINDOWS_MS
from myomap.io.files import atomic_path


def fit_preview(path: Path, values_ms: np.ndarray, r2: np.ndarray, *, kind: str, title: str) -> None:
    """Side by side: the fitted map (display window for ``kind``) and its R² map."""
    lo, hi = MAP_WINDOWS_MS[kind]
    gray, viridis = colormaps["gray"].with_extremes(bad="#3a1f5c"), colormaps["viridis"].with_extremes(bad="#3a1f5c")
    fig = Figure(figsize=(8.5, 4.2))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    im = axes[0].imshow(values_ms, cmap=gray, vmin=lo, vmax=hi, interpolation="nearest")
    fig.colorbar(im, ax=axes[0], fraction=0.046, label=f"{kind} (ms)")
    axes[0].set_title(f"{kind} map")
    im = axes[1].imshow(r2, cmap=viridis, vmin=0.8, vmax=1.0, interpolation="nearest")
    fig.colorbar(im, ax=axes[1], fraction=0.046, label="R²")
    axes[1].set_title("goodness of fit (R²)")
    fig.text(0.5, 0.02, "purple: not fitted (background or failed fit)", ha="center", fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
