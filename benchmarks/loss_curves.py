"""The first steps of a fixed-seed ArSSR-RDN run, before and after a change to the training
step: the loss curves must agree in expectation (the arithmetic's order changed, so the
runs are not bit-identical, but nothing they learn should).

Each run is ``train_arssr('cpu', 'rdn')`` with the ``cpu`` profile's recipe and seed for
``--steps`` steps (validation every 250), from the identity start, one per code version::

    # this commit
    python benchmarks/loss_curves.py run --out /tmp/curves/after --steps 500
    # the previous code, from a worktree of it (its data folder linked in)
    git worktree add /tmp/old <commit> && ln -s $PWD/data/raw /tmp/old/data/raw
    python benchmarks/loss_curves.py run --out /tmp/curves/before --steps 500 --legacy --code /tmp/old
    # the figure and the summary
    python benchmarks/loss_curves.py plot /tmp/curves/before /tmp/curves/after -o benchmarks/results/loss_curves_500

``--code DIR`` imports ``arssr_core`` from DIR instead of the installed (editable) package;
``--legacy`` adds the overrides the code of that time needed (it had a wall-clock cap).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pandas as pd


def run(out: str, steps: int, legacy: bool, code: str | None = None) -> None:
    import sys

    import torch

    if code:  # drop the editable install's finder, then put the other checkout first
        sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()
                         and "editable" not in getattr(f, "__name__", "").lower()]
        sys.path.insert(0, str(Path(code).resolve()))

    from arssr_core.study.experiments import train_arssr

    torch.set_num_threads(2)
    shutil.rmtree(out, ignore_errors=True)
    over = {"arssr.train.steps": steps, "arssr.train.val_every": 250, "arssr.train.ckpt_every": 250}
    kw = {}
    if legacy:
        over["arssr.train.max_minutes"] = None
    else:
        kw["check"] = False  # a short run is not judged
    train_arssr("cpu", "rdn", retrain=True, out_dir=out, overrides=over, progress=False, **kw)


def plot(before: str, after: str, out: str, window: int = 25) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {"before": Path(before), "after": Path(after)}
    hist = {k: pd.read_csv(p / "history.csv") for k, p in runs.items()}
    val = {k: pd.read_csv(p / "validation.csv") for k, p in runs.items()}
    n = min(len(h) for h in hist.values())
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    lines = []
    for k, h in hist.items():
        h = h.iloc[:n]
        ax[0].plot(h["step"], h["loss"], alpha=0.25, lw=0.7)
        ax[0].plot(h["step"], h["loss"].rolling(window).mean(), label=f"{k} ({window}-step mean)",
                   color=ax[0].lines[-1].get_color())
        s = h["time_s"].diff().iloc[1:]
        ax[1].plot(h["step"].iloc[1:], s.rolling(window).mean(), label=k)
        last = h["loss"].iloc[n - 100:n]
        v = val[k].set_index("step")["val_psnr"]
        lines.append(f"{k:6s}: mean L1 over steps {n - 99}-{n} {last.mean():.5f} (sd {last.std():.5f}); "
                     f"mean s/step {s.mean():.3f}; validation PSNR "
                     + ", ".join(f"step {int(i)} {float(x):.3f} dB" for i, x in v.items()))
    a, b = (hist[k]["loss"].iloc[n - 100:n].to_numpy() for k in ("before", "after"))
    diff = b.mean() - a.mean()
    se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    lines.append(f"after - before, mean L1 over the last 100 steps: {diff:+.5f} (standard error {se:.5f})")
    ax[0].set(xlabel="optimiser step", ylabel="L1 loss (batch)", title="ArSSR-RDN, cpu recipe, seed 0")
    ax[0].legend()
    ax[1].set(xlabel="optimiser step", ylabel="seconds per step", title=f"wall time ({window}-step mean)")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(out + ".png", dpi=110)
    Path(out + ".txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--out", required=True)
    r.add_argument("--steps", type=int, default=500)
    r.add_argument("--legacy", action="store_true")
    r.add_argument("--code", default=None, help="import arssr_core from this checkout")
    p = sub.add_parser("plot")
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("-o", "--out", required=True, help="output path without extension (.png and .txt)")
    a = ap.parse_args()
    if a.cmd == "run":
        run(a.out, a.steps, a.legacy, a.code)
    else:
        plot(a.before, a.after, a.out)


if __name__ == "__main__":
    main()
