"""Writing the study's outputs: tables as CSV, figures as PNG, under ``results/<profile>/``;
and the plots that read training runs and score tables."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import matplotlib.pyplot as plt
import pandas as pd

from .io_utils import atomic_path
from .paths import results_dir

DPI = 100


def save_table(df: pd.DataFrame, profile: str, name: str) -> Path:
    """Write ``results/<profile>/tables/<name>.csv`` atomically; returns the path."""
    path = results_dir(profile) / "tables" / f"{name}.csv"
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    return path


def load_table(profile: str, name: str) -> pd.DataFrame:
    """Read back a table written by :func:`save_table`."""
    return pd.read_csv(results_dir(profile) / "tables" / f"{name}.csv")


def save_figure(fig: plt.Figure, profile: str, name: str, dpi: int = DPI) -> Path:
    """Write ``results/<profile>/figures/<name>.png`` atomically (modest resolution)."""
    path = results_dir(profile) / "figures" / f"{name}.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    return path


def plot_training_curves(runs: Mapping[str, Path | str], smooth: int = 25) -> plt.Figure:
    """Training L1 (smoothed over ``smooth`` steps) and validation PSNR of runs ``{label: run dir}``."""
    from .train import load_curves

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
    for label, d in runs.items():
        hist, val = load_curves(d)
        if not hist.empty:
            a.plot(hist["step"], hist["loss"].rolling(smooth, min_periods=1).mean(), label=label)
        if not val.empty:
            b.plot(val["step"], val["val_psnr"], marker=".", label=label)
    a.set(xlabel="step", ylabel="training L1 (smoothed)", yscale="log", title="training loss")
    b.set(xlabel="step", ylabel="validation PSNR (dB)", title="validation (held-out slabs)")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_metric_vs_scale(table: pd.DataFrame, metrics: tuple[str, ...] = ("psnr", "ssim", "lpips", "psi", "lpc_si"),
                         method_col: str = "method", scale_col: str = "scale") -> plt.Figure:
    """One panel per metric: value against scale, one line per method."""
    metrics = tuple(m for m in metrics if m in table.columns)
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.3 * len(metrics), 3.2), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        for method, g in table.groupby(method_col, sort=False):
            g = g.sort_values(scale_col)
            ax.plot(g[scale_col], g[m], marker="o", label=method)
        ax.set(xlabel="scale", title=m.upper().replace("_", "-"))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_sr_grid(gt, srs: Mapping, methods: list[str], scales: list[float], axis: int = 2,
                 index: int | None = None, zoom: tuple[slice, slice] | None = None) -> plt.Figure:
    """Rows: scales; columns: the LR input (nearest-upsampled for display), each method, GT.

    One slice along ``axis`` (default the middle one); ``zoom`` crops the displayed slice.
    Cells with no result (a baseline at a scale it was not trained for) stay blank.
    """
    import numpy as np

    index = gt.shape[axis] // 2 if index is None else index
    take = lambda v: np.take(v, index, axis=axis)  # noqa: E731
    cols = ["LR"] + list(methods) + ["GT"]
    fig, axes = plt.subplots(len(scales), len(cols), figsize=(2.1 * len(cols), 2.2 * len(scales)), squeeze=False)
    for r, s in enumerate(scales):
        for c, name in enumerate(cols):
            ax = axes[r][c]
            ax.set_xticks([]), ax.set_yticks([])
            if name == "GT":
                img = take(gt)
            elif name == "LR":
                lr = srs.get(("LR", float(s)))
                if lr is None:
                    continue
                li = int(round((index + 0.5) * lr.shape[axis] / gt.shape[axis] - 0.5))
                img = np.take(lr, min(max(li, 0), lr.shape[axis] - 1), axis=axis)
            else:
                v = srs.get((name, float(s)))
                if v is None:
                    ax.set_facecolor("0.9")
                    if r == 0:
                        ax.set_title(name, fontsize=9)
                    continue
                img = take(v)
            if zoom is not None and name != "LR":
                img = img[zoom]
            ax.imshow(np.rot90(img), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if r == 0:
                ax.set_title(name, fontsize=9)
            if c == 0:
                ax.set_ylabel(f"x{s:g}", fontsize=9)
    fig.tight_layout()
    return fig
