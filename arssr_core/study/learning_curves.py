"""The learning curves: each compared run's validation PSNR against its training time (issue 35).

The curves are read from each run's validation record (``validation.csv``: PSNR, data range 1,
one point every ``val_every`` steps on the run's fixed held-out samples), never scored on a test
subject. Training time is idle-CPU minutes: the step times the profile's measured rate
(``budget.cpu_s_per_step``), so the compared models are placed on one clock.

Which curves compare: the per-scale networks at one scale draw the same validation samples
(same slabs, patch and seed), and a run's training seeds share its samples, so those curves
rank the models at every budget. ArSSR's validation samples draw their scale from its training
range, so its curve shows its own progress, not a level to set beside the per-scale networks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..profiles import load_profile
from .curves import method_runs

COLUMNS = ["method", "run", "seed", "scale", "step", "fraction", "cpu_minutes", "val_psnr"]


def validation_curves(profile: str, methods: Iterable, seeds: bool = True) -> pd.DataFrame:
    """Long table (:data:`COLUMNS`) of the validation PSNR of every run behind ``methods``
    (evaluation methods; cubic has none) and, with ``seeds``, of each run's finished training
    seeds. ``scale`` is the per-scale network's scale, NaN for an ArSSR run (its samples mix
    scales); ``fraction`` is the step over the run's last step; ``cpu_minutes`` is NaN where the
    profile gives no rate."""
    from .pretrain import cpu_rate, seed_tag
    from .seeds import finished_seeds

    cfg = load_profile(profile)
    rows = []
    for m in methods:
        runs = method_runs(profile, m)  # a per-scale network's runs in the order of its scales
        scales = [float(s) for s in m.scales or ()] if m.kind == "baseline" else [np.nan] * len(runs)
        for (_, run), scale in zip(runs, scales):
            run = Path(run)
            for k in [0] + (finished_seeds(profile, run) if seeds else []):
                path = run.parent / seed_tag(run.name, k) / "validation.csv"
                if not path.is_file():
                    continue
                val = pd.read_csv(path).drop_duplicates("step", keep="last").sort_values("step")
                rate = cpu_rate(cfg, run.name)
                last = max(int(val["step"].max()), 1)
                rows.append(pd.DataFrame({
                    "method": m.name, "run": path.parent.name, "seed": k, "scale": scale,
                    "step": val["step"].astype(int), "fraction": val["step"] / last,
                    "cpu_minutes": val["step"] * rate / 60 if rate else np.nan, "val_psnr": val["val_psnr"]}))
    return pd.concat(rows, ignore_index=True)[COLUMNS] if rows else pd.DataFrame(columns=COLUMNS)


def cubic_validation(profile: str, scales: Iterable[float]) -> dict[float, float]:
    """Validation PSNR (dB) of cubic interpolation at each scale: the per-scale networks' shared
    validation samples scored with their own input (the cubic-upsampled LR) as the output, by the
    training loop's own validation (:func:`arssr_core.train.validate`)."""
    import torch

    from ..train import validate
    from .experiments import baseline_data

    cfg = load_profile(profile)
    return {float(s): validate(torch.nn.Identity(), baseline_data(cfg, float(s))[1], torch.device("cpu"))["val_psnr"]
            for s in scales}


def leaders(curves: pd.DataFrame, fractions: Iterable[float] = (1 / 3, 2 / 3, 1.0),
            cubic: dict[float, float] | None = None) -> pd.DataFrame:
    """Per scale of the per-scale networks (seed 0) and budget ``fraction``: each method's
    validation PSNR at its last validation point at or before that fraction of its budget, and
    the method that leads there. One row per (scale, fraction, method), with a ``Cubic`` row
    per (scale, fraction) from ``cubic`` (:func:`cubic_validation`); ``leads`` marks the best
    network (cubic is the reference, never the leader)."""
    base = curves[(curves["seed"] == 0) & curves["scale"].notna()]
    rows = []
    for (scale, method), g in base.groupby(["scale", "method"], sort=True):
        for f in fractions:
            at = g[g["fraction"] <= f + 1e-9]
            if len(at):
                r = at.iloc[-1]
                rows.append({"scale": scale, "fraction": round(float(f), 3), "method": method, "step": int(r["step"]),
                             "cpu_minutes": r["cpu_minutes"], "val_psnr": float(r["val_psnr"])})
    for scale in sorted(base["scale"].unique()):
        if cubic and float(scale) in cubic:
            rows += [{"scale": scale, "fraction": round(float(f), 3), "method": "Cubic", "step": 0, "cpu_minutes": 0.0,
                      "val_psnr": float(cubic[float(scale)])} for f in fractions]
    out = pd.DataFrame(rows, columns=["scale", "fraction", "method", "step", "cpu_minutes", "val_psnr"])
    if len(out):
        nets = out["method"] != "Cubic"  # the reference, not a contender
        best = out[nets].groupby(["scale", "fraction"])["val_psnr"].transform("max")
        out["leads"] = False
        out.loc[nets, "leads"] = out.loc[nets, "val_psnr"] == best
    return out


def leaders_table(leaders: pd.DataFrame) -> "pd.io.formats.style.Styler":
    """:func:`leaders` as the notebook shows it: validation PSNR (dB) by scale and fraction of the
    budget (rows) and method (columns)."""
    from .report import table

    wide = leaders.pivot_table(index=["scale", "fraction"], columns="method", values="val_psnr")
    return table(wide, "Validation PSNR (dB) of the per-scale networks at a third, two thirds and the whole of "
                       "their budgets (the last validation point at or before it), cubic on the same samples",
                 decimals=2).format_index("x{:g}".format, axis=0, level=0).format_index("{:.2f}".format, axis=0, level=1)


def plot_validation_curves(curves: pd.DataFrame, cubic: dict[float, float] | None = None) -> plt.Figure:
    """Validation PSNR against idle-CPU minutes (step where the profile gives no rate): one panel
    per scale of the per-scale networks, each method one colour, its further training seeds
    dashed in the same colour; a last panel for ArSSR, whose samples mix scales. The vertical
    range leaves out the first 5 % of each budget (the randomly initialised networks start far
    below). ``cubic``: scale -> cubic interpolation's validation PSNR, drawn dashed
    (:func:`cubic_validation`)."""
    x = "cpu_minutes" if curves["cpu_minutes"].notna().all() else "step"
    scales = sorted(curves["scale"].dropna().unique())
    panels = [(f"x{s:g}: shared validation samples", curves["scale"] == s) for s in scales]
    if curves["scale"].isna().any():
        panels.append(("ArSSR: its own samples (scales mixed)", curves["scale"].isna()))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), squeeze=False, sharex=True)
    colours = {m: f"C{i}" for i, m in enumerate(dict.fromkeys(curves["method"]))}
    for ax, (title, mask) in zip(axes[0], panels):
        for (method, seed), g in curves[mask].groupby(["method", "seed"], sort=False):
            ax.plot(g[x], g["val_psnr"], color=colours[method], lw=1.2 if seed == 0 else 0.8,
                    ls="-" if seed == 0 else "--", label=method if seed == 0 else f"{method} seed {seed}")
        scale = next((s for s in scales if title.startswith(f"x{s:g}:")), None)
        if cubic and scale is not None and scale in cubic:
            ax.axhline(cubic[scale], color="k", ls=":", lw=1, label="Cubic")
        late = curves[mask & (curves["fraction"] >= 0.05)]["val_psnr"]  # the first steps would squash the scale
        if len(late):
            lo, hi = late.min(), late.max()
            if cubic and scale in cubic:
                lo, hi = min(lo, cubic[scale]), max(hi, cubic[scale])
            ax.set_ylim(lo - 0.2, hi + 0.2)
        ax.set(xlabel="idle 2-core CPU minutes" if x == "cpu_minutes" else "step", title=title)
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("validation PSNR (dB)")
    fig.tight_layout()
    return fig
