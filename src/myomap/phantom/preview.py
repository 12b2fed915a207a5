"""Montage PNG of one simulated subject: maps, weighted images and all observers' contours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from myomap.conventions import MAP_WINDOWS_MS
from myomap.io.files import atomic_path

OBSERVER_COLOURS = ("#ff3b30", "#ffd60a", "#34c7ff")  # reference, observer 2, observer 3
_CROP_MM = 110.0


def write_subject_preview(path: Path, subject: str, phenotype: str, field_t: float, images: list) -> None:
    """Write a montage: one row per map, columns: whole map, zoomed map with contours, weighted images.

    ``images`` is a list of ``(map_type, slice, ImageResult)``.
    """
    n_cols = 2 + max(len(result.times_ms) for _, _, result in images)
    fig = Figure(figsize=(1.45 * n_cols, 1.75 * len(images)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(images), n_cols, squeeze=False)
    for row, (map_type, position, result) in enumerate(images):
        lo, hi = MAP_WINDOWS_MS[map_type]
        crop = _crop(result)
        ax = axes[row, 0]
        ax.imshow(result.map_ms, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_ylabel(f"{map_type} {position}", fontsize=8)
        ax.set_title(f"{map_type} map" + (f" [{result.artefact}]" if result.artefact != "none" else ""), fontsize=7)
        ax = axes[row, 1]
        ax.imshow(result.map_ms, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        for contours, colour in zip(result.contours, OBSERVER_COLOURS):
            for points in (contours.epi, contours.endo):
                closed = np.vstack([points, points[:1]])
                ax.plot(closed[:, 0], closed[:, 1], color=colour, lw=0.7)
            if contours.rv_insertion is not None:
                ax.plot(*contours.rv_insertion, "o", color=colour, ms=2.5)
        ax.set_xlim(crop[0], crop[1])
        ax.set_ylim(crop[3], crop[2])
        ax.set_title(f"{lo:.0f}-{hi:.0f} ms", fontsize=7)
        for k in range(n_cols - 2):
            ax = axes[row, 2 + k]
            if k < len(result.times_ms):
                image = result.weighted[k]
                ax.imshow(image, cmap="gray", vmin=0, vmax=np.percentile(result.weighted, 99.5), interpolation="nearest")
                ax.set_xlim(crop[0], crop[1])
                ax.set_ylim(crop[3], crop[2])
                label = "TI" if map_type == "T1" else "T2prep"
                ax.set_title(f"{label} {result.times_ms[k]:.0f}", fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        if not ax.images:
            ax.axis("off")
    fig.suptitle(
        f"{subject} · {phenotype} · {field_t:g} T · contours: red reference, yellow observer 2, blue observer 3",
        fontsize=8,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97), pad=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})


def _crop(result) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) in pixels: a square of _CROP_MM around the reference epicardium."""
    centre = result.contours[0].epi.mean(axis=0)
    half_x = _CROP_MM / 2 / result.spacing_mm[1]
    half_y = _CROP_MM / 2 / result.spacing_mm[0]
    return centre[0] - half_x, centre[0] + half_x, centre[1] - half_y, centre[1] + half_y
