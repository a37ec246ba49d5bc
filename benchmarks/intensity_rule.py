"""What the intensity rule does to a head with skull: min-max inputs against the training rule.

Run: ``python benchmarks/intensity_rule.py [--profile cpu]``. Every committed model was trained
on volumes normalised robustly (minimum 0, foreground 99.9th percentile 1;
``arssr_core.data.intensity``). Until the engine took that rule, its inputs were min-max
normalised, so the brightest voxels of a scan (fat, skull, vessels, a contrast-enhanced
tumour) set the scale and the brain reached the model darker than in training.

Part 1 prints, for every registry volume, the gain between the two rules
(``intensity.brain_gain``: max over the foreground 99.9th percentile, on the raw volume): how
much darker min-max made the brain. Part 2 runs ArSSR-RDN (the committed ``cpu`` weights, fp32)
on the held-out validation slab of each training head with skull (``--heads``), in its raw units (so its skull and fat
keep their brightness), at x2 and x4, once with each input rule, and scores PSNR and SSIM on
the brain blocks the study scores (``evaluation.scoring_blocks``). These slabs are validation
data, never the test subject. Prints figures only; the committed output is
``benchmarks/results/intensity_rule.txt``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from arssr_core.data import intensity
from arssr_core.data.degrade import downsample
from arssr_core.data.nifti import load_volume
from arssr_core.data.prepare import REAL_LR, TRAIN_SOURCES, TUMOUR, fast_foreground_box
from arssr_core.data.sources import source_path
from arssr_core.data.volumes import TEST_SOURCE, split_volume
from arssr_core.infer import engine
from arssr_core.profiles import load_profile
from arssr_core.study import evaluation


def minmax_scale(x: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The engine's input rule before: min -> 0, max -> 1."""
    x = np.asarray(x, dtype=np.float32)
    lo, hi = intensity.minmax_range(x)
    return ((x - lo) / (hi - lo)).astype(np.float32), lo, hi


def raw_val_slab(name: str, val_fraction: float) -> np.ndarray:
    """The validation slab of a training head as ``prepare`` cuts it, but not clipped: on the
    training scale (brain about 0-1) with its bright voxels above 1."""
    src, fname = TRAIN_SOURCES[name]
    raw = load_volume(source_path(src, fname), canonical=True).data
    lo, hi = intensity.robust_range(raw)
    data = (np.asarray(raw, np.float32) - lo) / (hi - lo)
    box = fast_foreground_box(np.clip(data, 0, 1))
    return np.ascontiguousarray(split_volume(name, np.ascontiguousarray(data[box]), val_fraction).val)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--scales", type=float, nargs="+", default=[2.0, 4.0])
    ap.add_argument("--heads", nargs="+", default=["robex_head", "mrhead"],
                    help="training heads whose validation slab is super-resolved (default: the two with skull)")
    args = ap.parse_args()
    vols = {"colin27 (test)": TEST_SOURCE, "MRBrainTumor2 (lesion)": TUMOUR[:2],
            **{f"{k} (train)": v for k, v in TRAIN_SOURCES.items()},
            **{f"{k} (real LR)": v[:2] for k, v in REAL_LR.items()}}
    print("Part 1: how much darker min-max made each volume's brain (max / foreground 99.9th percentile)")
    for k, v in vols.items():
        print(f"  {k:34s} {intensity.brain_gain(load_volume(source_path(*v), canonical=True).data):6.3f}")

    cfg = load_profile(args.profile)
    model = evaluation._model(cfg["arssr"]["pretrained"])
    rows = []
    for name in args.heads:
        gt = raw_val_slab(name, cfg["data"]["val_fraction"])
        ref = np.clip(gt, 0, 1)
        for s in args.scales:
            lr = downsample(gt, s)
            srs = {}
            for rule, fn in (("min-max", minmax_scale), ("training rule", intensity.to_model_scale)):
                engine.to_model_scale = fn
                t0 = time.perf_counter()
                srs[(rule, s)] = engine.super_resolve(model, lr, gt.shape, precision="fp32")
                print(f"  {name} x{s:g} {rule}: {time.perf_counter() - t0:.1f} s", flush=True)
            engine.to_model_scale = intensity.to_model_scale
            t = evaluation.score_grid(ref, srs, metrics=("psnr", "ssim"), progress=False)
            rows += [{"volume": name, "gain": float(gt.max()), "scale": s, "rule": r.method, "psnr": r.psnr,
                      "ssim": r.ssim} for r in t.itertuples()]
    df = pd.DataFrame(rows)
    wide = df.pivot_table(index=["volume", "scale"], columns="rule", values=["psnr", "ssim"])
    wide[("psnr", "gain (dB)")] = wide[("psnr", "training rule")] - wide[("psnr", "min-max")]
    wide[("ssim", "gain")] = wide[("ssim", "training rule")] - wide[("ssim", "min-max")]
    print("\nPart 2: ArSSR-RDN on each training head's held-out validation slab (raw units), "
          "PSNR / SSIM on the brain blocks")
    with pd.option_context("display.width", 160, "display.float_format", "{:.4f}".format):
        print(wide)


if __name__ == "__main__":
    main()
