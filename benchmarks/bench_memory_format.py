"""Channels-last (NDHWC) against the default layout for the convolutional networks, fp32 on the CPU.

Run: ``python benchmarks/bench_memory_format.py [--profile cpu] [--volume]``.

1. Each network (random weights, a 96x112x96 HR tile; RDN on a 48x56x48 LR tile) timed in both
   layouts, second call of each, with the largest output difference.
2. ``--volume``: ResCNN x2 through the inference engine (``infer.engine.apply_cnn``) on the
   whole Colin27 volume, in both layouts, with the committed weights: seconds, the largest
   difference of the two outputs, and each one's PSNR and SSIM on the brain blocks (Table 1's
   numbers, :func:`arssr_core.study.evaluation.score_grid`), so that the layout the engine picks (:func:`arssr_core.infer.engine.memory_format`)
   is checked against the outputs the study's tables were computed from.

The CPU is shared with whatever else runs (the matmul rate printed first says how much of it this
process had). Prints figures only; the committed output is
``benchmarks/results/bench_memory_format.txt``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from arssr_core.models.baselines import DCSRN, SRCNN3D
from arssr_core.models.rdn import RDN
from arssr_core.models.rescnn import ResCNN
from profile_stages import matmul_rate  # benchmarks/ is the script's folder, first on sys.path


def timed(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Output and seconds of the second call (the first builds oneDNN's kernels)."""
    with torch.inference_mode():
        model(x)
        t0 = time.perf_counter()
        y = model(x)
    return y, time.perf_counter() - t0


def networks() -> None:
    torch.manual_seed(0)
    print(f"{'network':8s} {'tile':>12s} {'default s':>10s} {'NDHWC s':>9s} {'speed-up':>9s} {'max|diff|':>10s}")
    for name, make, shape in [("ResCNN", ResCNN, (96, 112, 96)), ("SRCNN3D", SRCNN3D, (96, 112, 96)),
                              ("DCSRN", DCSRN, (96, 112, 96)), ("RDN", RDN, (48, 56, 48))]:
        model = make().eval()
        for p in model.parameters():  # ResCNN's output layer starts at zero: give every layer weights
            torch.nn.init.normal_(p, std=0.02)
        x = torch.rand(1, 1, *shape)
        y0, t0 = timed(model, x)
        y1, t1 = timed(model.to(memory_format=torch.channels_last_3d), x.contiguous(memory_format=torch.channels_last_3d))
        print(f"{name:8s} {'x'.join(map(str, shape)):>12s} {t0:10.2f} {t1:9.2f} {t0 / t1:8.2f}x "
              f"{float((y1 - y0).abs().max()):10.2e}")


def volume(profile: str) -> None:
    from arssr_core.data.degrade import downsample
    from arssr_core.infer import engine
    from arssr_core.study import evaluation
    from arssr_core.study.experiments import baseline_checkpoint

    gt = evaluation.evaluation_volume(profile)
    lr = downsample(gt, 2.0)
    model, _ = engine.load_sr_model(baseline_checkpoint(profile, "rescnn", 2.0))
    outs = {}
    for layout, flag in (("default", False), ("channels-last", True)):
        model.channels_last = flag  # the instance's choice, over the class's
        t0 = time.perf_counter()
        outs[layout] = engine.apply_cnn(model, lr, gt.shape, precision="fp32")
        took = time.perf_counter() - t0
        row = evaluation.score_grid(gt, {("ResCNN", 2.0): outs[layout]}, metrics=("psnr", "ssim"), progress=False).iloc[0]
        print(f"ResCNN x2 on Colin27 {'x'.join(map(str, gt.shape))}, {layout:13s}: {took:6.1f} s; Table 1's "
              f"PSNR {row['psnr']:.6f} dB, SSIM {row['ssim']:.6f}")
    d = np.abs(outs["default"] - outs["channels-last"])
    print(f"  largest difference of the two outputs: {d.max():.2e} (the volume's intensities span "
          f"{float(gt.min()):.3g}..{float(gt.max()):.3g})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--volume", action="store_true", help="also ResCNN x2 on the whole test volume")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; fp32 matmul {matmul_rate():.0f} GFLOP/s now")
    networks()
    if args.volume:
        volume(args.profile)


if __name__ == "__main__":
    main()
