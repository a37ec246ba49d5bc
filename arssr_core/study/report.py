"""Writing the study's outputs: tables as CSV, figures as PNG, under ``results/<profile>/``;
and the plots that read training runs and score tables."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd

from ..io_utils import atomic_path
from ..paths import results_dir
from ..metrics.registry import decimals as metric_decimals
from .evaluation import BETTER, metric_label

DPI = 100


def save_table(df: pd.DataFrame, profile: str, name: str) -> None:
    """Write ``results/<profile>/tables/<name>.csv`` atomically."""
    with atomic_path(results_dir(profile) / "tables" / f"{name}.csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")


#: Decimals shown per metric (PSNR in dB to 0.01; a gradient energy ratio to 1e-3; the rest to 1e-4).
DECIMALS = {**metric_decimals(), "start_val_psnr": 2, "best_val_psnr": 2, "minutes": 1, "gradient_ratio": 3}


def table(df: pd.DataFrame, caption: str | None = None,
          decimals: int | None = None) -> "pd.io.formats.style.Styler":
    """A table shown whole (no "..." columns or rows) for a notebook or the book: numbers to
    ``decimals`` places, else :data:`DECIMALS` by column (else 4); in a paper-layout table
    (columns (scale, metric), see :func:`arssr_core.study.evaluation.paper_layout`) scales read
    "x2", each metric carries an arrow (higher or lower is better) and the best method per column
    is bold; so do the headers of a table pivoted by scale (columns named ``scale``). A verdict
    table's caveat shared by several rows is written once, in the caption, and marked † in those rows."""

    if not df.index.is_unique:  # e.g. a concatenation of tables: its row labels mean nothing
        df = df.reset_index(drop=True)
    df, shared = shared_caveat(df)
    if shared:
        caption = f"{caption or 'Verdicts'} († the caveat of every row so marked: {shared})"
    sty = df.style
    if isinstance(df.columns, pd.MultiIndex) and df.columns.nlevels == 2:
        for col in df.columns:
            m = col[1]
            if m in BETTER and df[col].notna().any():
                best = df[col].idxmax() if BETTER[m] > 0 else df[col].idxmin()
                sty = sty.set_properties(subset=pd.IndexSlice[[best], [col]], **{"font-weight": "bold"})
            sty = sty.format(precision=decimals or DECIMALS.get(m, 4), subset=[col], na_rep="—")  # a request the method cannot make
        sty = sty.format_index(_request_label, axis=1, level=0)
        sty = sty.format_index(_metric_header, axis=1, level=1)
    else:
        num = df.select_dtypes("number").columns
        sty = sty.format(na_rep="", subset=[c for c in df.columns if c not in num])  # a field a row does not have
        for c in num:
            sty = sty.format(precision=decimals or DECIMALS.get(c, 4), subset=[c], na_rep="")
        if df.columns.name == "scale":  # a table pivoted by scale: its headers read x2, x2.5
            sty = sty.format_index(_request_label, axis=1)
        else:  # psnr -> PSNR, lpc_si_mean -> LPC-SI mean
            sty = sty.format_index(_column_label, axis=1)
        for c in ("scale", "from"):  # a scale column (and the scale a change is from) reads as the headers: x2, x2.5
            if c in num:
                sty = sty.format(lambda v: f"x{v:g}" if pd.notna(v) else "", subset=[c])
        if "metric" in df.columns and df["metric"].isin(list(BETTER)).any():  # psnr -> PSNR
            sty = sty.format(lambda v: metric_label(v) if v in BETTER else v, subset=["metric"])
        sty = sty.hide(axis="index") if isinstance(df.index, pd.RangeIndex) else sty
        sty = sty.set_properties(**{"text-align": "left", "white-space": "normal"})
    if caption:
        sty = sty.set_caption(caption)
    return sty


def _column_label(col: object) -> object:
    """A column header for a reader: a metric (``psnr``) or a metric's statistic
    (``lpc_si_range``) in the metric's own writing (``PSNR``, ``LPC-SI range``); others as they are."""
    if not isinstance(col, str):
        return col
    for m in sorted(BETTER, key=len, reverse=True):
        if col == m:
            return metric_label(m)
        if col.startswith(m + "_"):
            return f"{metric_label(m)} {col[len(m) + 1:].replace('_', ' ')}"
    return col


def scale_table(long: pd.DataFrame, value: str, caption: str | None = None,
                index: str | list[str] = "method") -> "pd.io.formats.style.Styler":
    """A long table (one row per ``index`` and ``scale``) shown by scale: a row per ``index`` in
    the order of appearance, a column per scale in ascending order headed x2, x2.5, ``value`` to
    its :data:`DECIMALS` places (else 4)."""
    wide = long.pivot_table(index=index, columns="scale", values=value, sort=False)
    return table(wide[sorted(wide.columns)], caption, decimals=DECIMALS.get(value))


def shared_caveat(df: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """``df`` with the caveat most rows begin with replaced by "†" (any row-specific rest kept),
    and that caveat; ``(df, None)`` where no caveat is shared by two rows or more."""
    if "caveat" not in df.columns or len(df) < 2:
        return df, None
    text = df["caveat"].fillna("").astype(str)
    common = text[text != ""].value_counts()
    starts = {c: int(text.str.startswith(c).sum()) for c in common.index}
    shared = max(starts, key=lambda c: (starts[c], len(c)), default=None)
    if shared is None or starts[shared] < 2:
        return df, None
    marked = [("†" + t[len(shared):]) if t.startswith(shared) else t for t in text]
    return df.assign(caveat=marked), shared


def _request_label(v: object) -> object:
    """A scale or request as a column header: ``2.0`` -> ``x2``, ``"1mm"`` -> ``"1 mm"``."""
    if isinstance(v, (int, float)):
        return f"x{v:g}"
    return v.replace("mm", " mm") if isinstance(v, str) and v.endswith("mm") and " " not in v else v


def metric_arrow(m: str, symbol: bool = False) -> str:
    """The direction a metric improves in, as a suffix for titles and captions:
    " (higher is better)" / " (lower is better)", with the arrow in front when ``symbol``;
    "" for a quantity that has no better direction."""
    if m not in BETTER:
        return ""
    word = "higher" if BETTER[m] > 0 else "lower"
    return f" {_arrow(m)} ({word} is better)" if symbol else f" ({word} is better)"


def _arrow(m: str) -> str:
    """↑ for a metric where higher is better, ↓ where lower is (``m`` in :data:`BETTER`)."""
    return "↑" if BETTER[m] > 0 else "↓"


def _metric_header(v: object) -> object:
    """A metric as a column header with its arrow (higher or lower is better); a narrow column
    may break the line before the arrow, never inside the name (``LPC-SI``)."""
    if v not in BETTER:
        return v
    return f'<span style="white-space: nowrap">{metric_label(v)}</span> {_arrow(v)}'


#: Metric groups of a paper-layout table shown as separate tables, so that each fits the page.
METRIC_GROUPS = {"fidelity": ("psnr", "ssim"), "perceptual distance": ("lpips",), "sharpness": ("psi", "lpc_si")}


def _html(*stylers: "pd.io.formats.style.Styler"):
    from IPython.display import HTML

    return HTML("\n".join(s.to_html() for s in stylers))


def paper_tables(scores: pd.DataFrame, caption: str, groups: Mapping[str, Sequence[str]] | None = None):
    """A score table (``method``, ``scale``, metric columns) in the paper's layout (methods as
    rows, scales as column groups, metrics within), one table per metric group
    (:data:`METRIC_GROUPS`) so that each fits the page; groups without a scored metric are left
    out. Returns displayable HTML."""
    from .evaluation import paper_layout

    parts = []
    for name, metrics in (groups or METRIC_GROUPS).items():
        ms = [m for m in metrics if m in scores.columns and scores[m].notna().any()]
        if ms:
            parts.append(table(paper_layout(scores, ms), f"{caption}: {name} ({', '.join(metric_label(m) for m in ms)})"))
    return _html(*parts)


def metric_tables(scores: pd.DataFrame, metrics: Sequence[str], caption: str, rows: str = "scale",
                  columns: str = "method"):
    """One table per metric with ``rows`` down and ``columns`` across (e.g. requests by
    methods, for many requests), the best value of each row in bold. Returns displayable HTML."""

    parts = []
    for m in metrics:
        wide = scores.pivot_table(index=rows, columns=columns, values=m, sort=False)
        wide = wide[[c for c in dict.fromkeys(scores[columns]) if c in wide.columns]]
        wide = wide.rename_axis(index="request" if rows == "scale" else rows, columns=None)
        sty = wide.style.format(precision=DECIMALS.get(m, 4), na_rep="—")
        if m in BETTER:
            sty = sty.highlight_max(axis=1, props="font-weight: bold") if BETTER[m] > 0 else \
                sty.highlight_min(axis=1, props="font-weight: bold")
        parts.append(sty.set_caption(f"{caption}: {metric_label(m)}{metric_arrow(m, symbol=True)}"))
    return _html(*parts)


def settings_table(values: Mapping[str, object], caption: str | None = None) -> "pd.io.formats.style.Styler":
    """A recipe or record (``{setting: value}``) as a two-column table shown whole: every value
    as text (a per-model dict of steps reads ``srcnn3d 33650, dcsrn 22800``), no index."""
    def text(v: object) -> str:
        if isinstance(v, Mapping):
            return ", ".join(f"{k} {w}" for k, w in v.items())
        if isinstance(v, (list, tuple)):
            return ", ".join(f"{w:g}" if isinstance(w, float) else str(w) for w in v)
        return f"{v:g}" if isinstance(v, float) else str(v)

    df = pd.DataFrame({"setting": list(values), "value": [text(v) for v in values.values()]})
    return table(df, caption)


#: Columns of a run summary (:func:`arssr_core.study.experiments.checkpoint_summary`) shown per row;
#: the settings every run shares go to the caption.
RUN_COLUMNS = ("encoder", "model", "scale", "parameters", "steps_run", "best_step", "minutes", "start_val_psnr",
               "best_val_psnr", "trained_on")
RUN_SHARED = ("batch_size", "lr", "init", "precision", "data")
#: Column headers of :func:`runs_table` as a reader reads them.
RUN_LABELS = {"steps_run": "steps run", "best_step": "best step", "minutes": "minutes trained",
              "start_val_psnr": "val PSNR at step 0 (dB)", "best_val_psnr": "best val PSNR (dB)", "trained_on": "trained on"}


def runs_table(runs: pd.DataFrame, caption: str) -> "pd.io.formats.style.Styler":
    """Run summaries as a narrow table: one row per run with its own numbers
    (:data:`RUN_COLUMNS`), the settings shared by every run (:data:`RUN_SHARED`) in the caption."""
    shared = [f"{c.replace('_', ' ')} {runs[c].iloc[0]}" for c in RUN_SHARED
              if c in runs and runs[c].astype(str).nunique() == 1]
    cols = [c for c in RUN_COLUMNS if c in runs and not (c == "model" and "encoder" in runs)]
    sty = table(runs[cols], caption + (f" (every run: {'; '.join(shared)})" if shared else ""))
    return sty.format_index(lambda v: RUN_LABELS.get(v, v), axis=1)


def save_figure(fig: plt.Figure, profile: str, name: str, dpi: int = DPI) -> None:
    """Write ``results/<profile>/figures/<name>.png`` atomically (modest resolution)."""
    with atomic_path(results_dir(profile) / "figures" / f"{name}.png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")


def plot_training_curves(runs: Mapping[str, Path | str], smooth: int = 25) -> plt.Figure:
    """Training L1 (smoothed over ``smooth`` steps) and validation PSNR of runs ``{label: run
    folder}`` (or a checkpoint in it)."""
    from ..train import load_curves

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
    for label, d in runs.items():
        hist, val = load_curves(Path(d).parent if Path(d).is_file() else d)
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
                         method_col: str = "method", scale_col: str = "scale", title: str | None = None) -> plt.Figure:
    """One panel per metric: value against scale, one line per method; ``title`` above all
    panels (e.g. the test subject), clear of the panels' own titles."""

    metrics = tuple(m for m in metrics if m in table.columns)
    cols = min(3, len(metrics))
    rows = -(-(len(metrics) + 1) // cols) if len(metrics) > 2 else 1  # a free panel holds the legend
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.9 * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax, m in zip(flat, metrics):
        for method, g in table.groupby(method_col, sort=False):
            g = g.sort_values(scale_col)
            ax.plot(g[scale_col], g[m], marker="o", ms=4, label=method)
        ax.set_xlabel("scale", fontsize=10)
        ax.set_title(metric_label(m) + metric_arrow(m), fontsize=10)
        ax.tick_params(labelsize=9)
        ax.grid(alpha=0.3)
    handles, labels = flat[0].get_legend_handles_labels()
    spare = flat[len(metrics):]
    for ax in spare:
        ax.axis("off")
    if spare:
        spare[0].legend(handles, labels, loc="center", fontsize=10, frameon=False)
    else:
        flat[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def plot_seed_scores(seeds: pd.DataFrame, metrics: tuple[str, ...] = ("psnr", "ssim")) -> plt.Figure:
    """One panel per metric: each training seed's score against scale (a dot per seed, the line
    through the seeds' mean), one colour per model (``seeds``: :func:`arssr_core.study.seeds.seed_table`)."""
    metrics = tuple(m for m in metrics if m in seeds.columns)
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.0), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        for i, (method, g) in enumerate(seeds.groupby("method", sort=False)):
            colour = f"C{i}"
            mean = g.groupby("scale")[m].mean()
            ax.plot(mean.index, mean.to_numpy(), color=colour, lw=1, label=f"{method} ({g['seed'].nunique()})")
            ax.scatter(g["scale"], g[m], color=colour, s=12)
        ax.set_xlabel("scale", fontsize=10)
        ax.set_title(metric_label(m) + metric_arrow(m), fontsize=10)
        ax.tick_params(labelsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, title="model (seeds)", title_fontsize=8)
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


def plot_orthogonal(volumes: Mapping[str, "np.ndarray"], centre: tuple[int, int, int] | None = None,
                    zoom_box: tuple[int, int, int] | None = None, zoom_size: int | None = 32,
                    outline: "np.ndarray | None" = None, outline_label: str = "lesion") -> plt.Figure:
    """Rows: the three orthogonal views through ``centre``; columns: the volumes (same grid).

    ``zoom_box``: a point whose ``zoom_size`` neighbourhood is shown enlarged in an extra
    row (axial view), with its box drawn on the axial slice; ``zoom_size=None`` sizes the box to
    hold the outline's extent in that slice with a margin (at least 32 voxels), so that a large
    lesion is seen whole with its surroundings. ``outline``: a boolean volume (same grid) drawn
    as a red contour on every view, e.g. the lesion mask.
    """
    import numpy as np
    from matplotlib.patches import Rectangle

    names = list(volumes)
    ref = volumes[names[-1]]
    centre = tuple(n // 2 for n in ref.shape) if centre is None else centre
    rows = 3 + (zoom_box is not None)
    if zoom_box is not None and zoom_size is None:
        zoom_size = 32
        if outline is not None and np.any(outline[:, :, centre[2]]):
            inside = np.argwhere(outline[:, :, centre[2]])
            reach = np.abs(inside - np.asarray(zoom_box[:2])).max()  # voxels from the box's centre
            zoom_size = max(32, 2 * int(reach) + 16)
    fig, axes = plt.subplots(rows, len(names), figsize=(2.3 * len(names), 2.3 * rows), squeeze=False)
    def contour(ax, m2d) -> None:
        if m2d is not None and np.any(m2d):
            ax.contour(np.rot90(m2d.astype(float)), levels=[0.5], colors=["red"], linewidths=0.8)

    cut = lambda a: [a[centre[0], :, :], a[:, centre[1], :], a[:, :, centre[2]]]  # noqa: E731
    for c, name in enumerate(names):
        v = volumes[name]
        for r, img in enumerate(cut(v)):
            ax = axes[r][c]
            ax.imshow(np.rot90(img), cmap="gray", vmin=0, vmax=1)
            contour(ax, cut(outline)[r] if outline is not None else None)
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=12)
        if zoom_box is not None:
            h = zoom_size // 2
            x0, y0 = max(zoom_box[0] - h, 0), max(zoom_box[1] - h, 0)
            ax = axes[2][c]
            n1 = v.shape[1]
            ax.add_patch(Rectangle((x0 - 0.5, n1 - (y0 + zoom_size) - 0.5), zoom_size, zoom_size,
                                   fill=False, ec="yellow", lw=1))
            patch = v[x0:x0 + zoom_size, y0:y0 + zoom_size, centre[2]]
            axes[3][c].imshow(np.rot90(patch), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if outline is not None:
                contour(axes[3][c], outline[x0:x0 + zoom_size, y0:y0 + zoom_size, centre[2]])
            axes[3][c].set_xticks([]), axes[3][c].set_yticks([])
    for r, lab in enumerate(["sagittal", "coronal", "axial", "zoom"][:rows]):
        axes[r][0].set_ylabel(lab, fontsize=12)
    if outline is not None and np.any(outline):
        from matplotlib.lines import Line2D

        axes[0][-1].legend(handles=[Line2D([], [], color="red", lw=1, label=outline_label)], loc="lower right",
                           fontsize=7, framealpha=0.7)
    fig.tight_layout()
    return fig


def cortex_line(gt: "np.ndarray", axis_slice: int | None = None, threshold: float = 0.05) -> tuple[int, int]:
    """A line along axis 0 through the middle axial slice, at the row (axis 1) through the brain's
    middle: it crosses cortex on both sides. Returns ``(row, slice)`` indices."""
    z = gt.shape[2] // 2 if axis_slice is None else axis_slice
    return gt.shape[1] // 2, z


def plot_profiles(gt: "np.ndarray", volumes: Mapping[str, "np.ndarray"], row: int, z: int,
                  span: tuple[int, int] | None = None, title: str = "") -> plt.Figure:
    """Intensity along axis 0 at (row, z): the GT against each method."""
    import numpy as np

    a, b = span if span is not None else (0, gt.shape[0])
    x = np.arange(a, b)
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(x, gt[a:b, row, z], color="k", lw=2, label="GT")
    for name, v in volumes.items():
        ax.plot(x, v[a:b, row, z], lw=1, label=name)
    ax.set(xlabel="voxel along the left-right axis", ylabel="intensity", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    return fig


def gather_verdicts(profile: str, before: str = "08") -> pd.DataFrame:
    """The computed verdicts (``*_verdicts.csv``) of the notebooks numbered below ``before``
    (the paper's experiments; 09 onwards go beyond the paper) in one table, with their source."""
    frames = []
    for p in sorted((results_dir(profile) / "tables").glob("*_verdicts.csv")):
        if p.stem[:2] >= before:
            continue
        df = pd.read_csv(p)
        df.insert(0, "notebook", p.stem.removesuffix("_verdicts"))
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["notebook", "claim", "verdict", "evidence"])


def plot_thick_slices(table: pd.DataFrame, kinds: Mapping[str, str], metric: str = "psnr") -> plt.Figure:
    """One panel per thick axis: ``metric`` against the slice thickness (mm, 1 mm in-plane),
    one line per method. ``kinds`` maps each request label of ``table["scale"]`` to its kind
    (:func:`arssr_core.study.thick_slices.request_kinds`); requests of other kinds are left out."""
    import re


    t = table.assign(kind=table["scale"].map(kinds))
    t = t[t["kind"].fillna("").str.startswith("axis")]
    t = t.assign(thick=t["scale"].map(lambda s: max(float(v) for v in re.split("x", str(s)) if v)))
    panels = list(dict.fromkeys(t["kind"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2), squeeze=False, sharey=True)
    for ax, kind in zip(axes[0], panels):
        for method, g in t[t["kind"] == kind].groupby("method", sort=False):
            g = g.sort_values("thick")
            ax.plot(g["thick"], g[metric], marker="o", ms=4, label=method)
        ax.set_title(f"thick along {kind}", fontsize=10)
        ax.set_xlabel("slice thickness (mm), 1 mm in-plane", fontsize=9)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=9)
    axes[0][0].set_ylabel(metric_label(metric) + metric_arrow(metric), fontsize=9)
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_subject_gains(gains: pd.DataFrame, ylabel: str = "PSNR gain (dB)") -> plt.Figure:
    """One panel per gain column of ``gains`` (:func:`arssr_core.study.thick_slices.subject_gains`:
    ``subject``, ``request`` and ``A - B`` columns): a bar per request, grouped by subject; above
    zero A is better."""
    import numpy as np

    cols = [c for c in gains.columns if c not in ("subject", "request")]
    subjects = list(dict.fromkeys(gains["subject"]))
    requests = list(dict.fromkeys(gains["request"]))
    width = 0.8 / max(1, len(requests))
    fig, axes = plt.subplots(1, len(cols), figsize=(4.6 * len(cols), 3.8), squeeze=False)
    for ax, col in zip(axes[0], cols):
        wide = gains.pivot_table(index="subject", columns="request", values=col, sort=False).reindex(subjects)
        x = np.arange(len(subjects))
        for i, r in enumerate(requests):
            ax.bar(x + (i - (len(requests) - 1) / 2) * width, wide[r], width, label=r)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(x, subjects, rotation=15, ha="right", fontsize=10)
        ax.set_title(col, fontsize=11)
        ax.set_ylabel(ylabel, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.tick_params(axis="y", labelsize=10)
    axes[0][-1].legend(fontsize=9, title="request", title_fontsize=9)
    fig.tight_layout()
    return fig


def figure_paths(profile: str, prefix: str = "") -> list[Path]:
    """PNG figures of a profile whose names start with ``prefix``."""
    return sorted((results_dir(profile) / "figures").glob(f"{prefix}*.png"))


def plot_lines_mm(lines: Mapping[str, tuple["np.ndarray", float]], title: str = "") -> plt.Figure:
    """Intensity profiles on a millimetre axis: ``{label: (1D values, voxel size in mm)}``,
    each sampled at its own cell centres over the same extent."""
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 3))
    for label, (vals, vs) in lines.items():
        x = (np.arange(len(vals)) + 0.5) * vs
        ax.plot(x, vals, marker="." if len(vals) < 60 else None, lw=1, label=label)
    ax.set(xlabel="mm", ylabel="intensity", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_segmentations(image: "np.ndarray", labels: Mapping[str, "np.ndarray"], colours: Mapping[int, str],
                       names: Mapping[int, str], centre: tuple[int, int, int] | None = None) -> plt.Figure:
    """Rows: label maps ``{title: labels}`` over ``image``; columns: the three orthogonal views."""
    import numpy as np
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    centre = tuple(n // 2 for n in image.shape) if centre is None else centre
    cmap = ListedColormap([colours[k] for k in sorted(colours)])
    fig, axes = plt.subplots(len(labels), 3, figsize=(7.5, 2.5 * len(labels)), squeeze=False)
    for r, (title, lab) in enumerate(labels.items()):
        for c in range(3):
            sl = [slice(None)] * 3
            sl[c] = centre[c]
            img, lb = image[tuple(sl)], lab[tuple(sl)].astype(float)
            ax = axes[r][c]
            ax.imshow(np.rot90(img), cmap="gray", vmin=0, vmax=1)
            ax.imshow(np.rot90(np.ma.masked_where(lb == 0, lb - 1)), cmap=cmap, vmin=0, vmax=len(colours) - 1,
                      alpha=0.55, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
        axes[r][0].set_ylabel(title, fontsize=9)
    fig.legend(handles=[Patch(color=colours[k], label=names[k]) for k in sorted(colours)], loc="lower center",
               ncol=len(colours), fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_learning_curves(curves: pd.DataFrame, tags: Mapping[str, str] | None = None) -> plt.Figure:
    """Test PSNR (whole volume) against idle-CPU minutes of training, one panel per scale:
    each run's snapshots (``curves`` of :func:`arssr_core.study.pretrain.score_snapshots`), cubic
    as a dashed line. ``tags``: run tag -> legend label (default: every tag, as is)."""
    scales = sorted(curves.loc[curves["tag"] != "cubic", "scale"].unique())
    fig, axes = plt.subplots(1, len(scales), figsize=(4.2 * len(scales), 3.6), squeeze=False)
    for ax, s in zip(axes[0], scales):
        sub = curves[curves["scale"] == s]
        cub = sub[sub["tag"] == "cubic"]["psnr"]
        for tag, label in (tags or {t: t for t in sub["tag"].unique() if t != "cubic"}).items():
            run = sub[(sub["tag"] == tag) & (sub["step"] > 0)].sort_values("step")
            if len(run):
                ax.plot(run["cpu_minutes"], run["psnr"], marker="o", ms=3, label=label)
        if len(cub):
            ax.axhline(float(cub.iloc[0]), color="k", ls="--", lw=1, label="Cubic")
        ax.set(xlabel="training time (idle 2-core CPU minutes)", ylabel="test PSNR (dB)", title=f"x{s:g}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_intervals(intervals: pd.DataFrame, group: str | None = None, labels: Mapping[str, str] | None = None,
                   metrics: Sequence[str] | None = None,
                   pairs: Sequence[tuple[str, str]] | None = None) -> plt.Figure:
    """Forest plot of paired differences ``a - b`` with their 95% intervals (rows of
    :func:`arssr_core.study.evaluation.paired_intervals`: ``a``, ``b``, ``scale``, ``metric``,
    ``diff``, ``lo``, ``hi``): one panel per metric (columns) and per value of ``group`` (rows,
    e.g. the subject, written as ``labels`` says), one line per comparison and scale. Each
    difference is signed so that right of zero means ``a`` is better (LPIPS turned round); the
    grey band is the margin below which a difference does not count (:data:`claims.MARGINS`).
    ``pairs``: the ``(a, b)`` comparisons to draw, in that order (default: all)."""
    import numpy as np

    from .claims import MARGINS

    if pairs is not None:
        order = {tuple(p): k for k, p in enumerate(pairs)}
        rank = np.array([order.get(ab, -1) for ab in zip(intervals["a"], intervals["b"])])
        if (rank < 0).all():
            raise ValueError(f"none of the pairs {list(pairs)} is among the intervals' comparisons")
        keep = np.flatnonzero(rank >= 0)
        intervals = intervals.iloc[keep[np.argsort(rank[keep], kind="stable")]]

    metrics = [m for m in (metrics or dict.fromkeys(intervals["metric"])) if m in set(intervals["metric"])]
    groups = list(dict.fromkeys(intervals[group])) if group else [None]
    rows_of = {g: intervals if g is None else intervals[intervals[group] == g] for g in groups}
    n_lines = max(len(r[r["metric"] == m]) for r in rows_of.values() for m in metrics)
    fig, axes = plt.subplots(len(groups), len(metrics), squeeze=False,  # narrow: legible at book width
                             figsize=(2.3 * len(metrics) + 2.2, len(groups) * (0.24 * n_lines + 0.9)))
    for i, g in enumerate(groups):
        for j, m in enumerate(metrics):
            ax = axes[i][j]
            r = rows_of[g][rows_of[g]["metric"] == m].reset_index(drop=True)
            sign = BETTER.get(m, 1)
            d, lo, hi = sign * r["diff"], np.minimum(sign * r["lo"], sign * r["hi"]), np.maximum(sign * r["lo"], sign * r["hi"])
            y = np.arange(len(r))[::-1]
            counts = (lo > MARGINS.get(m, 0.0)) | (hi < -MARGINS.get(m, 0.0))
            ax.axvspan(-MARGINS.get(m, 0.0), MARGINS.get(m, 0.0), color="0.85", lw=0)
            ax.axvline(0, color="0.4", lw=0.8)
            ax.errorbar(d, y, xerr=[d - lo, hi - d], fmt="none", ecolor="0.3", elinewidth=1, capsize=2)
            ax.scatter(d, y, s=14, zorder=3, c=np.where(counts, "tab:blue", "white"), edgecolors="tab:blue")
            ax.set_yticks(y)
            ax.set_yticklabels([f"{a} vs {b}, {_request_label(s)}" for a, b, s in zip(r["a"], r["b"], r["scale"])]
                               if j == 0 else [], fontsize=9)
            ax.set_ylim(-0.7, n_lines - 0.3)
            ax.tick_params(axis="x", labelsize=9)
            ax.grid(axis="x", alpha=0.3)
            title = f"{metric_label(m)}{' (dB)' if m == 'psnr' else ''}, first better →"
            ax.set_title(title if g is None or j else f"{(labels or {}).get(g, g)}\n{title}", fontsize=10, loc="left")
    fig.tight_layout()
    return fig
