"""Figures of volumes: orthogonal slices, mask overlays, LR/HR pairs and a slice viewer.

Every function takes arrays (RAS: axis 0 left->right, axis 1 posterior->anterior,
axis 2 inferior->superior) and voxel sizes, and returns a matplotlib Figure (or a
widget); nothing here reads files. Slices are shown in neurological convention
(the subject's left on the left of axial and coronal images; sagittal images have
anterior to the right), superior and anterior up, with the voxel aspect ratio
respected so that anisotropic scans look like heads.
"""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..data.masks import mask_centre


VIEWS = ("sagittal", "coronal", "axial")


def view_slice(data: np.ndarray, view: str, index: int | None = None) -> np.ndarray:
    """2D slice of a RAS volume for display (rows = up, first row at the top after ``origin='lower'``)."""
    ax = VIEWS.index(view)
    n = data.shape[ax]
    index = n // 2 if index is None else int(np.clip(index, 0, n - 1))
    return np.take(data, index, axis=ax).T  # (second remaining axis, first remaining axis)


def view_aspect(view: str, voxel_size: Sequence[float]) -> float:
    """Display aspect (height/width of a pixel) of a view."""
    vx, vy, vz = voxel_size
    return {"sagittal": vz / vy, "coronal": vz / vx, "axial": vy / vx}[view]


def overlay_mask(ax: plt.Axes, mask2d: np.ndarray, color: str = "red", alpha: float = 0.35,
                 aspect: float = 1.0, outline: bool = True) -> None:
    """Draw a 2D boolean mask (already oriented like the image) as a coloured fill and outline."""
    m = np.asarray(mask2d, dtype=bool)
    if not m.any():
        return
    rgba = np.zeros((*m.shape, 4))
    rgba[m] = matplotlib.colors.to_rgba(color, alpha)
    ax.imshow(rgba, origin="lower", aspect=aspect, interpolation="nearest")
    if outline:
        ax.contour(m.astype(float), levels=[0.5], colors=[color], linewidths=0.8, origin="lower")


def orthogonal_slices(data: np.ndarray, voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
                      point: Sequence[int] | None = None, masks: dict[str, np.ndarray] | None = None,
                      title: str | None = None, axes: Sequence[plt.Axes] | None = None,
                      vmin: float | None = 0.0, vmax: float | None = 1.0, cmap: str = "gray",
                      colors: Sequence[str] = ("red", "deepskyblue", "lime", "orange")) -> Figure:
    """Sagittal, coronal and axial slices through ``point`` (default: the centre), masks overlaid.

    ``masks`` maps a legend name to a boolean volume. With ``axes`` (three Axes) the
    slices are drawn there and their figure is returned.
    """
    data = np.asarray(data, dtype=np.float32)
    point = [n // 2 for n in data.shape] if point is None else [int(p) for p in point]
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(11, 3.8), constrained_layout=True)
    else:
        fig = axes[0].figure
    for ax, view, idx in zip(axes, VIEWS, point):
        asp = view_aspect(view, voxel_size)
        ax.imshow(view_slice(data, view, idx), cmap=cmap, vmin=vmin, vmax=vmax, origin="lower",
                  aspect=asp, interpolation="nearest")
        for (name, m), c in zip((masks or {}).items(), colors):
            overlay_mask(ax, view_slice(np.asarray(m), view, idx), c, aspect=asp)
        ax.set_title(f"{view} {idx}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if masks:
        handles = [matplotlib.patches.Patch(color=c, label=n) for n, c in zip(masks, colors)]
        axes[-1].legend(handles=handles, loc="lower right", fontsize=7, framealpha=0.7)
    if title:
        axes[0].set_ylabel(title, fontsize=8)
    return fig


def volumes_figure(items: Sequence[dict[str, Any]], title: str | None = None) -> Figure:
    """One row of orthogonal slices per item ``{"title", "data", "voxel_size", "masks"?, "point"?}``."""
    n = max(1, len(items))
    fig, axes = plt.subplots(n, 3, figsize=(11, 3.2 * n), constrained_layout=True, squeeze=False)
    for row, it in zip(axes, items):
        masks = it.get("masks") or None
        point = it.get("point")
        if point is None and masks:
            point = mask_centre(next(iter(masks.values())))
        orthogonal_slices(it["data"], it.get("voxel_size", (1, 1, 1)), point, masks, it.get("title"), row)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def pairs_figure(pairs: Sequence[dict[str, Any]], view: str = "axial", title: str | None = None) -> Figure:
    """LR / HR / |cubic upsampled LR - HR| of training pairs ``{"scale", "lr", "hr"}`` (mid slices)."""
    from ..data.degrade import resize_cubic

    fig, axes = plt.subplots(len(pairs), 3, figsize=(8, 2.8 * len(pairs)), constrained_layout=True, squeeze=False)
    for row, p in zip(axes, pairs):
        up = resize_cubic(p["lr"], p["hr"].shape)
        for ax, img, name in zip(row, (p["lr"], p["hr"], np.abs(up - p["hr"])),
                                 (f"LR {p['lr'].shape[0]}^3", f"HR {p['hr'].shape[0]}^3 (x{p['scale']:g})",
                                  "|cubic(LR) - HR|")):
            vmax = 1.0 if "|" not in name else 0.3
            im = ax.imshow(view_slice(img, view), cmap="gray" if "|" not in name else "magma", vmin=0, vmax=vmax,
                           origin="lower", interpolation="nearest")
            if "|" in name:
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=7)
            ax.set_title(name, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def example_pairs(volume: np.ndarray, scales: Sequence[float] = (2.0, 3.0, 4.0), lr_size: int = 10,
                  seed: int = 0, min_foreground: float = 0.3) -> list[dict[str, Any]]:
    """ArSSR training pairs as the sampler makes them: an HR cube of ``round(lr_size * s)``
    voxels (random crop with enough foreground) and its LR ``lr_size``^3 by cubic zoom."""
    from ..data.degrade import downsample
    from ..data.sampling import random_crop

    rng = np.random.default_rng(seed)
    out = []
    for s in scales:
        n = int(round(lr_size * s))
        hr = random_crop(np.asarray(volume, dtype=np.float32), (n, n, n), rng, min_foreground)
        out.append({"scale": float(s), "hr": hr, "lr": downsample(hr, s)})
    return out


def slice_viewer(data: np.ndarray, voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
                 mask: np.ndarray | None = None, title: str = ""):
    """An ipywidgets viewer: choose the view and scroll through slices (mask overlaid if given)."""
    import ipywidgets as widgets

    data = np.asarray(data, dtype=np.float32)

    def show(view: str = "axial", position: float = 0.5) -> None:
        ax_i = VIEWS.index(view)
        idx = int(round(position * (data.shape[ax_i] - 1)))
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        asp = view_aspect(view, voxel_size)
        ax.imshow(view_slice(data, view, idx), cmap="gray", vmin=0, vmax=1, origin="lower", aspect=asp)
        if mask is not None:
            overlay_mask(ax, view_slice(np.asarray(mask), view, idx), aspect=asp)
        ax.set_title(f"{title} {view} slice {idx}/{data.shape[ax_i] - 1}", fontsize=9)
        ax.axis("off")
        plt.show()

    return widgets.interactive(show, view=widgets.ToggleButtons(options=list(VIEWS), value="axial"),
                               position=widgets.FloatSlider(0.5, min=0.0, max=1.0, step=0.01,
                                                            description="slice", continuous_update=False))


def profile_note(profile: str) -> str:
    """A Markdown line saying what a profile's numbers mean (the smoke warning on every page)."""
    from ..profiles import load_profile

    cfg = load_profile(profile)
    if cfg.get("plumbing_only"):
        return (f"**Profile `{profile}`: {str(cfg.get('description', '')).strip()} "
                "The numbers and pictures on this page mean nothing.**")
    return f"Profile `{profile}`: {str(cfg.get('description', '')).strip()}"
