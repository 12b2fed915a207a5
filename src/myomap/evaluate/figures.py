"""Figures of the evaluation study (matplotlib object API, Agg): the paper's Figs. 5-9 and Bland-Altman plots."""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from myomap.conventions import MAP_WINDOWS_MS, SLICE_POSITIONS
from myomap.geometry.contours import mask_to_contours
from myomap.io.files import atomic_write_bytes

_COLOURS = {"model": "#d62728", "reference": "#2ca02c", "obs2": "#1f77b4", "obs3": "#ff7f0e"}


def _save(fig: Figure, path: Path) -> Path:
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    atomic_write_bytes(path, buffer.getvalue())
    return path


def metric_distributions(metrics: pd.DataFrame, path: Path, *, by: str = "comparison") -> Path:
    """Box plots of Dice and Hausdorff distance per ``by`` group, epicardial and endocardial (Figs. 5 and 8)."""
    present = metrics[~metrics["missing"].astype(bool)]
    groups = list(dict.fromkeys(present[by]))
    fig = Figure(figsize=(max(7.0, 1.3 * len(groups) * 2), 6.5))
    axes = fig.subplots(2, 2)
    for row, (metric, label) in enumerate((("dice", "Dice"), ("hd_mm", "Hausdorff distance (mm)"))):
        for col, contour in enumerate(("epicardial", "endocardial")):
            ax = axes[row, col]
            data = [present[(present[by] == g) & (present["contour"] == contour)][metric].dropna().to_numpy() for g in groups]
            ax.boxplot(data, showfliers=True, widths=0.6)
            ax.set_xticks(range(1, len(groups) + 1), groups, rotation=30, ha="right", fontsize=8)
            ax.set_title(f"{contour}: {label}", fontsize=10)
            ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def overlays(images: Sequence, predictions: Sequence, per_image: pd.DataFrame, path: Path, *, reference: str = "reference") -> Path:
    """Best, median and worst model segmentation (by Dice against ``reference``) per slice position (Figs. 6 and 7)."""
    chosen = per_image[(per_image["kind"] == "model-vs-expert") & (per_image["comparison"] == f"model vs {reference}")]
    by_path = {str(image.source): (image, labels) for image, labels in zip(images, predictions)}
    positions = [p for p in SLICE_POSITIONS if (chosen["slice"] == p).any()]
    fig = Figure(figsize=(9.5, 3.2 * max(1, len(positions))))
    axes = np.atleast_2d(fig.subplots(max(1, len(positions)), 3))
    for row, position in enumerate(positions):
        ranked = chosen[chosen["slice"] == position].sort_values("dice", ascending=False)
        picks = {"best": ranked.iloc[0], "median": ranked.iloc[len(ranked) // 2], "worst": ranked.iloc[-1]}
        for col, (label, pick) in enumerate(picks.items()):
            ax = axes[row, col]
            image, labels = by_path[pick["image"]]
            _draw(ax, image, labels)
            ax.set_title(f"{position}, {label}: Dice {pick['dice']:.1f} %", fontsize=9)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.legend(handles=[_line(c, n) for n, c in _COLOURS.items()], loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return _save(fig, path)


def _line(colour: str, name: str):
    from matplotlib.lines import Line2D

    return Line2D([0], [0], color=colour, lw=1.5, label=name)


def _draw(ax, image, labels) -> None:
    lo, hi = MAP_WINDOWS_MS[image.map_type]
    ax.imshow(image.pixels, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
    every = [(points, _COLOURS.get(name, "#9467bd")) for name, c in image.contours.items() for points in (c.epi, c.endo)]
    if labels is not None:
        fitted = mask_to_contours(labels)
        every += [(c.points, _COLOURS["model"]) for c in (fitted.epi, fitted.endo) if c.points is not None]
    for points, colour in every:
        closed = np.vstack([points, points[:1]])
        ax.plot(closed[:, 0], closed[:, 1], color=colour, lw=1.0)
    if every:
        allpoints = np.vstack([p for p, _ in every])
        (x0, y0), (x1, y1) = allpoints.min(axis=0), allpoints.max(axis=0)
        pad = 0.5 * max(x1 - x0, y1 - y0)
        ax.set_xlim(x0 - pad, x1 + pad)
        ax.set_ylim(y1 + pad, y0 - pad)


def achievable_hd(rows: pd.DataFrame, path: Path) -> Path:
    """Histogram of the best achievable Hausdorff distance per reference contour (Fig. 9)."""
    fig = Figure(figsize=(6.5, 3.6))
    ax = fig.subplots()
    for contour, colour in (("epicardial", "#2ca02c"), ("endocardial", "#d62728")):
        values = rows[rows["contour"] == contour]["hd_mm"].dropna().to_numpy()
        if values.size:
            ax.hist(values, bins=25, alpha=0.6, color=colour, label=f"{contour} (median {np.median(values):.2f} mm)")
    ax.set_xlabel("best achievable Hausdorff distance (mm)")
    ax.set_ylabel("contours")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def ablation(rows: pd.DataFrame, path: Path) -> Path:
    """Mean Hausdorff distance per cumulative post-processing configuration (Table 8 as a chart)."""
    names = list(dict.fromkeys(rows["configuration"]))
    fig = Figure(figsize=(7.5, 3.4))
    ax = fig.subplots()
    for offset, contour, colour in ((-0.2, "epicardial", "#2ca02c"), (0.2, "endocardial", "#d62728")):
        means = [rows[(rows["configuration"] == n) & (rows["contour"] == contour)]["hd_mm"].mean() for n in names]
        ax.bar(np.arange(len(names)) + offset, means, width=0.4, color=colour, label=contour)
    ax.set_xticks(range(len(names)), [n.replace(" (", "\n(") for n in names], fontsize=7)
    ax.set_ylabel("mean Hausdorff distance (mm)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def bland_altman(values: pd.DataFrame, path: Path, observers: Sequence[str], column: str = "median_ms") -> Path:
    """Bland-Altman plots of the model's myocardial T1/T2 against each observer's (pingouin)."""
    import pingouin

    map_types = sorted(values["map_type"].unique())
    fig = Figure(figsize=(3.6 * len(observers), 3.2 * len(map_types)))
    axes = np.atleast_2d(fig.subplots(len(map_types), len(observers)))
    wide = values.pivot_table(index=["image", "map_type"], columns="rater", values=column).reset_index()
    for row, map_type in enumerate(map_types):
        for col, observer in enumerate(observers):
            ax = axes[row, col]
            frame = wide[wide["map_type"] == map_type]
            if "model" not in frame or observer not in frame:
                ax.set_axis_off()
                continue
            frame = frame.dropna(subset=["model", observer])
            if len(frame) < 3:
                ax.set_axis_off()
                continue
            pingouin.plot_blandaltman(frame["model"].to_numpy(), frame[observer].to_numpy(), ax=ax, s=10)
            ax.set_title(f"{map_type}: model − {observer} (ms)", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)
