"""Probe for issue 15: ArSSR-thick's recipe with the in-plane factor at 1 for a share of its
thick-slice samples.

ArSSR-thick (profile section ``anisotropic``) draws a thick-slice sample's in-plane factor from
``round(U(1, 3.04), 1)``: only about 2.5% of its thick-slice samples have the in-plane voxels at
the target resolution, which is what a clinical 1x1x3 mm series is. This probe runs the same
recipe (ArSSR-RDN's 12000 steps, then batch 6, lr 1e-4, seed 1, half thick-slice samples) with
``native``: the probability that a thick-slice sample's in-plane factor is set to 1. Nothing in
the package changes: the draw is replaced in this process only (``arssr_core.data.sampling``'s
``draw_anisotropic`` and the ``Anisotropic`` spec that ``arssr_data`` builds), with the same
random draws in the same order as ArSSR-thick's and one more (``native``) when ``native > 0``.

    python scripts/probe_native_inplane.py train OUT --native 0.5 --until N [--threads T]
    python scripts/probe_native_inplane.py score NAME=CKPT ... [--where val|test|both] [--csv F]
    python scripts/probe_native_inplane.py table CSV ... --diff A-B ...

``train`` goes on in resumable 250-step chunks until step N (exact resume from ``OUT/last.pt``;
a folder with only a committed ``best.pt`` and its records is continued from it with a new
Adam state, as the committed runs' stretches were), keeping the weights at the steps of
``SNAPSHOTS``. ``score`` prints the PSNR at issue 15's requests (3 and 5 mm slices along each
axis, isotropic x2 to x4; cubic degradation, fp32) on the validation slabs and/or notebook 09's
Colin27 cube. ``table`` joins score CSVs and prints the differences ``A - B`` (``--diff A-B``, or ``A:B`` where
the names hold a dash) per subject, their
mean over the validation slabs (with and without the CAT12 template, a smooth 0.5 mm average
on which every sharpening model loses) and on the test cube.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

import arssr_core.data.sampling as sampling
import arssr_core.study.experiments as experiments
from arssr_core.checkpoint import read_checkpoint
from arssr_core.data.degrade import downsample
from arssr_core.profiles import load_profile
from arssr_core.study import thick_slices
from arssr_core.study.evaluation import Method, score_grid, super_resolve_with

REQUESTS = thick_slices.thick_requests([3, 5], (0, 1, 2), iso=[2, 3, 4])
SNAPSHOTS = [2000, 4000, 7500, 10000, 12500, 15000, 17500, 20000, 22500]


@dataclasses.dataclass(frozen=True)
class NativeInplane(sampling.Anisotropic):
    """ArSSR-thick's spec and ``native``: the probability that the in-plane factor is 1."""

    native: float = 0.0

    @classmethod
    def from_config(cls, cfg: dict | None) -> "NativeInplane | None":
        base = sampling.Anisotropic.from_config(cfg)
        return None if base is None else cls(**dataclasses.asdict(base), native=float(cfg.get("native", 0.0)))


def draw_native(rng: np.random.Generator, spec: sampling.Anisotropic, axes: Sequence[int] = (0, 1, 2)
                ) -> tuple[tuple[float, float, float], str]:
    """``sampling.draw_anisotropic`` with the in-plane factor set to 1 with probability ``spec.native``.

    Written out rather than wrapped: the extra draw sits between the in-plane and the axis draws
    (the order the committed records were made with), so the package's function cannot be called
    for the rest."""
    thick = float(np.round(rng.uniform(*spec.thick), 1))
    inplane = min(float(np.round(rng.uniform(*spec.inplane), 1)), thick)
    native = getattr(spec, "native", 0.0)
    if native > 0 and rng.random() < native:
        inplane = 1.0
    axis = int(axes[int(rng.integers(len(axes)))])
    scales = [inplane] * 3
    scales[axis] = thick
    return (scales[0], scales[1], scales[2]), str(spec.profiles[int(rng.integers(len(spec.profiles)))])


def use_native_draw() -> None:
    """Replace the draw in this process (and the loader workers it forks)."""
    sampling.draw_anisotropic = draw_native
    experiments.Anisotropic = NativeInplane


def train(out: Path, native: float, until: int, threads: int) -> None:
    from arssr_core.study.experiments import arssr_data, run_setup, start_weights
    from arssr_core.train import train as train_loop

    use_native_draw()
    torch.set_num_threads(threads)
    cfg = copy.deepcopy(load_profile("cpu"))
    cfg["anisotropic"]["sampling"]["native"] = native
    spec, tcfg, meta = run_setup(cfg, "cpu", "anisotropic", "rdn")
    tcfg = dataclasses.replace(tcfg, snapshot_steps=SNAPSHOTS)
    ds, val = arssr_data(cfg, section="anisotropic")
    out.mkdir(parents=True, exist_ok=True)
    while True:
        last = out / "last.pt"
        step = int(read_checkpoint(last)["train_state"]["step"]) if last.exists() else 0
        if step >= until:
            break
        cont = not last.exists() and (out / "best.pt").exists() and (out / "history.csv").exists()
        init = out / "best.pt" if cont else None if last.exists() else start_weights(cfg, "anisotropic")
        t0 = time.time()
        train_loop(spec, ds, val, tcfg, out, resume=True, progress=False, stop_after=250, meta=meta,
                   init_from=init, continue_run=cont)
        now = int(read_checkpoint(last)["train_state"]["step"])
        print(f"step {now}: {(time.time() - t0) / max(1, now - step):.3f} s/step", flush=True)


def score(runs: dict[str, str], where: str, threads: int, csv: str | None) -> pd.DataFrame:
    torch.set_num_threads(threads)
    region = load_profile("cpu")["thick_slices"]["region"]
    subjects = {}
    if where in ("test", "both"):
        subjects["colin27"] = thick_slices.evaluation_region("cpu", region)
    if where in ("val", "both"):
        subjects.update({k: r["gt"] for k, r in thick_slices.validation_regions("cpu", region).items()})
    parts = []
    for subj, gt in subjects.items():
        srs = {}
        for k, f in REQUESTS.items():
            lr = downsample(gt, f, profile="cubic")
            for name, ck in runs.items():
                srs[(name, k)] = super_resolve_with(Method(name, "arssr", ck), lr, gt.shape, f, "cpu",
                                                    precision="fp32")
        parts.append(score_grid(gt, srs, metrics=("psnr",), progress=False).assign(subject=subj))
        print(f"{subj}: scored", flush=True)
    df = pd.concat(parts, ignore_index=True)
    if csv:
        df.to_csv(csv, index=False)
    print(df.pivot_table(index=["subject", "scale"], columns="method", values="psnr").to_string(
        float_format=lambda v: f"{v:.2f}"))
    return df


def table(csvs: Sequence[str], diffs: Sequence[str]) -> None:
    df = pd.concat([pd.read_csv(c) for c in csvs], ignore_index=True)
    wide = df.pivot_table(index=["subject", "scale"], columns="method", values="psnr")
    pairs = [d.split(":", 1) if ":" in d else d.split("-", 1) for d in diffs]  # A:B where names hold "-"
    out = pd.DataFrame({f"{a} - {b}": wide[a] - wide[b] for a, b in pairs})
    order = list(REQUESTS)
    fmt = lambda v: f"{v:+.2f}"  # noqa: E731
    print("PSNR (dB) per subject\n" + wide.to_string(float_format=lambda v: f"{v:.2f}") + "\n")
    print("differences per subject (dB)\n" + out.to_string(float_format=fmt) + "\n")
    subjects = out.index.get_level_values(0)
    val = subjects != "colin27"
    for label, keep in [("mean over the four validation slabs", val),
                        ("mean over the validation slabs without the CAT12 template",
                         val & (subjects != "cat12_template")),
                        ("Colin27 test cube", ~val)]:
        part = out[keep].groupby(level=1).mean().reindex(order)
        print(f"{label} (dB)\n" + part.to_string(float_format=fmt) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("out", type=Path)
    t.add_argument("--native", type=float, required=True)
    t.add_argument("--until", type=int, required=True)
    t.add_argument("--threads", type=int, default=2)
    s = sub.add_parser("score")
    s.add_argument("runs", nargs="+", help="NAME=CHECKPOINT")
    s.add_argument("--where", choices=["val", "test", "both"], default="both")
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--csv", default=None)
    tb = sub.add_parser("table")
    tb.add_argument("csvs", nargs="+")
    tb.add_argument("--diff", nargs="+", required=True, help="A-B (or A:B) pairs of method names")
    a = ap.parse_args()
    if a.cmd == "train":
        train(a.out, a.native, a.until, a.threads)
    elif a.cmd == "table":
        table(a.csvs, a.diff)
    else:
        score(dict(r.split("=", 1) for r in a.runs), a.where, a.threads, a.csv)


if __name__ == "__main__":
    main()
