"""Training seeds in the evaluation: each compared model's finished seed runs as methods, their
scores side by side, and intervals over seeds and brain blocks together (issue 35).

A model's seed 0 is its committed run; seed ``k`` is the run ``<tag>-s<k>`` beside it
(:func:`arssr_core.study.pretrain.seed_jobs`), counted only once its record reaches the
profile's step budget, so a run still training is never scored. Where a model has one seed,
its intervals are the paired block (or slice) bootstrap of :mod:`arssr_core.metrics.uncertainty`;
where either model of a comparison has more, the two-level bootstrap of
:mod:`arssr_core.metrics.seed_intervals` (seeds, then blocks or slices) replaces it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from .evaluation import Method
from .experiments import baseline_checkpoint
from .pretrain import jobs, run_finished, seed_tag


def _budgets(profile: str) -> dict[str, int]:
    return {j.tag: j.steps for j in jobs(profile)}


def finished_seeds(profile: str, run: str | Path) -> list[int]:
    """The training seeds (> 0) of the run folder ``run`` (its seed 0) whose folders
    ``<run>-s<k>`` beside it hold kept weights and a record that reached the run's budget, and
    no resume state (``last.pt``: a run still training, or finished here and not yet published
    as the committed runs are; delete it to count the seed). A run in progress is never read."""
    run = Path(run)
    steps = _budgets(profile).get(run.name)
    if steps is None:
        return []
    out = []
    for d in run.parent.glob(f"{run.name}-s*"):
        k = d.name[len(run.name) + 2:]
        if k.isdigit() and int(k) > 0 and (d / "best.pt").is_file() and not (d / "last.pt").exists() \
                and run_finished(d, steps):
            out.append(int(k))
    return sorted(out)


def seed_methods(profile: str, method: Method) -> list[Method]:
    """``method`` (seed 0) and one method per finished training seed of its runs, named
    ``"<name> s<k>"``; a per-scale baseline's seed takes the scales whose run has finished.
    Cubic interpolation has no seeds."""
    out = [method]
    if method.kind == "arssr":
        run = Path(method.checkpoint).parent
        out += [replace(method, name=f"{method.name} s{k}", checkpoint=str(run.parent / seed_tag(run.name, k) / "best.pt"),
                        seed=k) for k in finished_seeds(profile, run)]
    elif method.kind == "baseline":
        by_seed: dict[int, list[float]] = {}
        for s in method.scales or ():
            for k in finished_seeds(profile, baseline_checkpoint(profile, method.model, s).parent):
                by_seed.setdefault(k, []).append(float(s))
        out += [replace(method, name=f"{method.name} s{k}", scales=tuple(sc), seed=k) for k, sc in sorted(by_seed.items())]
    return out


def seed_groups(profile: str, methods: Iterable[Method]) -> dict[str, list[Method]]:
    """``{method name: [its seed 0, seed k, ...]}`` for ``methods`` (:func:`seed_methods`)."""
    return {m.name: seed_methods(profile, m) for m in methods}


def extra_seeds(groups: dict[str, list[Method]]) -> list[Method]:
    """The seed methods beyond each model's committed run (what the study still has to score)."""
    return [m for ms in groups.values() for m in ms[1:]]


def seed_table(table: pd.DataFrame, groups: dict[str, list[Method]]) -> pd.DataFrame:
    """Every seed's scores, one row per (model, seed, scale): ``table`` (a score table whose
    ``method`` column holds seed methods' names, e.g. Table 1 and the extra seeds' rows) with the
    model's name in ``method`` and the seed in a ``seed`` column after it."""
    name_of = {m.name: (base, m.seed) for base, ms in groups.items() for m in ms}
    rows = table[table["method"].isin(name_of)].copy()
    rows["seed"] = rows["method"].map(lambda n: name_of[n][1]).astype(int)
    rows["method"] = rows["method"].map(lambda n: name_of[n][0])
    cols = list(rows.columns)
    cols.remove("seed")
    cols.insert(cols.index("method") + 1, "seed")
    order = {base: i for i, base in enumerate(groups)}
    rows = rows[cols].assign(_o=rows["method"].map(order)).sort_values(["_o", "scale", "seed"], kind="stable")
    return rows.drop(columns="_o").reset_index(drop=True)


def seed_spread(seeds: pd.DataFrame, metrics: Sequence[str] = ("psnr", "ssim")) -> pd.DataFrame:
    """Per model and scale with several seeds: the number of seeds and each metric's mean and
    range (max - min) over them."""
    rows = []
    for (m, s), g in seeds.groupby(["method", "scale"], sort=False):
        if len(g) < 2:
            continue
        row: dict[str, Any] = {"method": m, "scale": s, "seeds": len(g)}
        for k in metrics:
            row[f"{k}_mean"] = float(g[k].mean())
            row[f"{k}_range"] = float(g[k].max() - g[k].min())
        rows.append(row)
    return pd.DataFrame(rows)


def seed_intervals(terms: dict[tuple[str, float], dict[str, Any]], groups: dict[str, list[Method]],
                   pairs: Iterable[tuple[str, str]], metrics: Sequence[str] = ("psnr", "ssim", "lpips", "psi", "lpc_si"),
                   n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Two-level bootstrap 95% intervals of ``a - b`` (seeds, then blocks or slices) for each of
    ``pairs`` where either model has more than one seed scored at a scale: the columns of
    :func:`arssr_core.study.evaluation.paired_intervals` and ``seeds`` (``"3/1"``: a's and b's)."""
    from ..metrics.seed_intervals import seeds_blocks_diff, seeds_units_mean_diff

    rows = []
    for a, b in pairs:
        scales = sorted({s for (n, s) in terms if n == a} & {s for (n, s) in terms if n == b})
        for s in scales:
            ta = [terms[(m.name, s)] for m in groups.get(a, []) if (m.name, s) in terms]
            tb = [terms[(m.name, s)] for m in groups.get(b, []) if (m.name, s) in terms]
            if max(len(ta), len(tb)) < 2:
                continue
            for k in metrics:
                if k in ("lpips", "psi", "lpc_si"):  # means over slices
                    if any(t.get(k) is None for t in ta + tb):
                        continue
                    iv = seeds_units_mean_diff(np.stack([t[k] for t in ta]), np.stack([t[k] for t in tb]), n_boot, seed)
                    unit = "slices"
                else:
                    iv = seeds_blocks_diff([t["blocks"] for t in ta], [t["blocks"] for t in tb], k, n_boot, seed)
                    unit = "blocks"
                rows.append({"a": a, "b": b, "scale": s, "metric": k, "diff": iv.diff, "lo": iv.lo, "hi": iv.hi,
                             "units": f"{iv.units} {unit}", "seeds": f"{len(ta)}/{len(tb)}"})
    return pd.DataFrame(rows, columns=["a", "b", "scale", "metric", "diff", "lo", "hi", "units", "seeds"])


def with_seed_intervals(intervals: pd.DataFrame, seeded: pd.DataFrame) -> pd.DataFrame:
    """``intervals`` (block-only, :func:`arssr_core.study.evaluation.paired_intervals`) with each
    row that ``seeded`` also has (a, b, scale, metric) replaced by the interval over seeds and
    blocks; a ``seeds`` column says which is which (``"1/1"``: one run each, block-only)."""
    key = ["a", "b", "scale", "metric"]
    out = intervals.assign(seeds="1/1")
    if seeded.empty:
        return out
    keep = out.merge(seeded[key], on=key, how="left", indicator=True)["_merge"].eq("left_only").to_numpy()
    merged = pd.concat([out[keep], seeded[out.columns]], ignore_index=True)
    order = {tuple(r): i for i, r in enumerate(out[key].itertuples(index=False))}
    merged["_o"] = [order.get(tuple(r), len(order)) for r in merged[key].itertuples(index=False)]
    return merged.sort_values("_o", kind="stable").drop(columns="_o").reset_index(drop=True)


def seeds_note(groups: dict[str, list[Method]]) -> str:
    """One sentence: which models have how many training seeds in this evaluation."""
    counts = {name: len(ms) for name, ms in groups.items() if ms[0].kind != "cubic"}
    several = [f"{n} ({c})" for n, c in counts.items() if c > 1]
    if not several:
        return ("Every model is one training run (seed 0): the intervals are over brain blocks and slices only, "
                "and leave out how much another training run would move a score.")
    one = [n for n, c in counts.items() if c == 1]
    return (f"Training seeds scored: {', '.join(several)}; one run each: {', '.join(one) or 'none'}. Comparisons "
            "involving a model with several seeds use intervals over seeds and blocks (or slices) together.")


def subject_seeds(profile: str, subject: dict[str, Any], table: pd.DataFrame, terms: dict, groups: dict[str, list[Method]],
                  pairs: Sequence[tuple[str, str]], scales: Iterable[float], stride: int = 1
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One test subject's seeds (``subject`` as from :func:`arssr_core.study.evaluation.main_test`):
    every seed's scores (:func:`seed_table`, ``table`` holding the committed runs' rows) and the
    intervals of ``pairs`` (block- or slice-only where both models have one seed, over seeds and
    blocks where either has more, :func:`with_seed_intervals`). ``terms`` (the subject's
    :func:`~arssr_core.study.evaluation.interval_terms`) gains the extra seeds' terms."""
    from . import evaluation

    gt, exclude = subject["gt"], subject.get("exclude")
    extra = evaluation.sr_grid(profile, subject["name"], gt, extra_seeds(groups), scales)
    mine = table[table["subject"] == subject["name"]].drop(columns="subject") if "subject" in table.columns else table
    scores = seed_table(pd.concat([mine, evaluation.score_grid(gt, extra, stride=stride, exclude=exclude)]), groups)
    terms.update(evaluation.interval_terms(gt, extra, stride=stride, exclude=exclude))
    block_only = pd.concat([evaluation.paired_intervals(terms, a, b) for a, b in pairs], ignore_index=True)
    return scores, with_seed_intervals(block_only, seed_intervals(terms, groups, pairs))
