"""Seconds per metric on one full-size pair: Colin27 (181 x 217 x 181, 1 mm) vs a blurred copy.

Run: ``python benchmarks/bench_metrics.py [--stride K] [--device cpu|cuda]``. Prints
figures only (no timed asserts); the target is <= 60 s in total on the 2-core CPU.
"""

from __future__ import annotations

import argparse
import os
import time

import nibabel as nib
import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from arssr_core.data.sources import source_path
from arssr_core.metrics import dice, lpc_si, lpips, psi, psnr, ssim
from arssr_core.metrics.checks import minmax


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--stride", type=int, default=1, help="every k-th foreground slice")
    ap.add_argument("--device", default=None, help="LPIPS device (default: cuda if available)")
    args = ap.parse_args()

    gt = minmax(np.asarray(nib.load(source_path("colin27", "ch2bet.nii.gz")).dataobj), "gt")
    sr = minmax(gaussian_filter(gt, 1.0), "sr")
    labels_gt = np.digitize(gt, [0.05, 0.4, 0.7])
    labels_sr = np.digitize(sr, [0.05, 0.4, 0.7])
    from arssr_core.device import describe_machine

    print(f"machine: {describe_machine()}")
    print(f"volume {gt.shape}, stride {args.stride}, torch threads {torch.get_num_threads()}, "
          f"cpus {os.cpu_count()}")

    jobs = {
        "psnr": lambda: psnr(sr, gt),
        "ssim": lambda: ssim(sr, gt),
        "lpips": lambda: lpips(sr, gt, stride=args.stride, device=args.device),
        "psi": lambda: psi(sr, ref=gt, stride=args.stride),
        "lpc_si": lambda: lpc_si(sr, ref=gt, stride=args.stride),
        "dice": lambda: dice(labels_sr, labels_gt, [1, 2, 3]),
    }
    total = 0.0
    for name, job in jobs.items():
        t0 = time.perf_counter()
        value = job()
        dt = time.perf_counter() - t0
        total += dt
        shown = {k: round(v, 4) for k, v in value.items()} if isinstance(value, dict) else f"{value:.6g}"
        print(f"{name:8s} {dt:7.2f} s   value {shown}")
    print(f"{'total':8s} {total:7.2f} s")


if __name__ == "__main__":
    main()
