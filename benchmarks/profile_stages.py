"""Where a cold run's time goes, by stage: inference per model and scale, each metric, the
interval terms, the bootstrap and a figure, on the study's test subject.

Run: ``python benchmarks/profile_stages.py [--profile cpu] [--scales 2 3 4] [--precision fp32]``.
Nothing is read from the result cache or the study's result store: every stage is computed as a
cold ``make reproduce`` computes it the first time (notebook 03's work on Colin27: the five
methods of Table 1 at each scale, then their scores and intervals). The scores and interval terms
use an empty result store of their own in a temporary folder, as a cold run uses the runner's:
the interval terms reuse the per-slice and per-block results the scores computed. Segmentation has its own benchmark
(``benchmarks/bench_segment.py``) and the per-notebook, per-cell times of a whole run are in
``benchmarks/results/time_by_cell.txt``. The CPU is shared with whatever else runs: the script
prints the matmul rate it got first, so that timings can be read against the share of the
machine it had. Prints figures only; the committed output is
``benchmarks/results/profile_stages.txt``.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch

from arssr_core import store
from arssr_core.data.degrade import downsample
from arssr_core.metrics import FULL_REFERENCE, evaluate
from arssr_core.study import evaluation, report

ROWS: list[dict] = []


@contextmanager
def stage(kind: str, what: str):
    t0 = time.perf_counter()
    yield
    ROWS.append({"stage": kind, "what": what, "seconds": time.perf_counter() - t0})
    print(f"  {kind:10s} {what:34s} {ROWS[-1]['seconds']:8.1f} s", flush=True)


def matmul_rate(n: int = 1024, reps: int = 20) -> float:
    """fp32 GFLOP/s this process gets now (a shared CPU gives less than its peak)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--scales", type=float, nargs="+", default=[2.0, 3.0, 4.0])
    ap.add_argument("--precision", default="fp32")
    args = ap.parse_args()
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"fp32 matmul {matmul_rate():.0f} GFLOP/s now")
    gt = evaluation.evaluation_volume(args.profile)
    methods = [evaluation.cubic_method(), *evaluation.baseline_methods(args.profile), evaluation.arssr_method(args.profile)]
    srs = {}
    for s in args.scales:
        lr = downsample(gt, s)
        for m in methods:
            if not m.accepts(s):
                continue
            with stage("inference", f"{m.name} x{s:g}"):
                srs[(m.name, s)] = evaluation.super_resolve_with(m, lr, gt.shape, s, args.profile, precision=args.precision)
    x = np.clip(srs[("ArSSR", args.scales[0])], float(gt.min()), float(gt.max()))
    stride = evaluation.load_profile(args.profile)["data"]["slice_stride"]
    for metric in FULL_REFERENCE:
        with stage("metric", f"{metric} (one volume)"):
            evaluate(x, gt, normalize=False, stride=stride, metrics=(metric,))
    os.environ[store.ENV] = tempfile.mkdtemp(prefix="arssr-profile-store-")  # empty, as a cold run's store
    with stage("scores", f"score_grid ({len(srs)} volumes)"):
        table = evaluation.score_grid(gt, srs, stride=stride, progress=False)
    with stage("terms", f"interval_terms ({len(srs)} volumes)"):
        terms = evaluation.interval_terms(gt, srs, stride=stride, progress=False)
    with stage("bootstrap", "paired_intervals ArSSR vs each"):
        for m in methods:
            if m.name != "ArSSR":
                evaluation.paired_intervals(terms, "ArSSR", m.name)
    with stage("figure", "plot_metric_vs_scale"):
        fig = report.plot_metric_vs_scale(table)
        fig.savefig("/dev/null", format="png")
    df = pd.DataFrame(ROWS)
    total = df["seconds"].sum()
    print("\nBy stage (seconds, share of this script's total):")
    by = df.groupby("stage", sort=False)["seconds"].sum()
    for k, v in by.items():
        print(f"  {k:10s} {v:8.1f} s  {v / total:6.1%}")
    print(f"  {'total':10s} {total:8.1f} s")


if __name__ == "__main__":
    main()
