"""bf16 against fp32 inference for the three ArSSR-RDN models of notebook 09.

Run: ``python benchmarks/thick_precision.py [--requests 1x1x3 x2] [--threads N]`` (3 minutes
for the default two requests, 6 for all five, on a 2-core Xeon with AMX).

Every table of the study is computed in fp32 (CPUs with and without native bf16 compute it
alike), while ``arssr upsample --precision auto`` runs bf16 where the hardware has it. The
models were trained under bf16 autocast, and bf16 inference moves their scores by different
amounts, so a margin between two models may depend on the precision. This script scores the
paper's ArSSR-RDN, ArSSR-iso and ArSSR-thick (their committed kept weights) on notebook 09's
test region (Colin27, the profile's brain-centred cube, the paper's cubic degradation) in both
precisions and prints each PSNR, bf16 minus fp32 per model, and ArSSR-thick minus ArSSR-iso
in each precision: figures, no asserts. bf16 needs a CPU with AVX512-BF16 or AMX (or CUDA):
elsewhere it is emulated, about 50x slower, and the script refuses it.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from arssr_core.data.degrade import downsample
from arssr_core.device import describe_machine, native_bf16, pick_device
from arssr_core.profiles import load_profile
from arssr_core.study import evaluation, thick_slices
from arssr_core.study.evaluation import score_grid, super_resolve_with

#: request label -> per-axis factors (thick slices along the last axis, or isotropic)
ALL_REQUESTS = {**thick_slices.thick_requests([3, 5], (2,)), **thick_slices.thick_requests([], iso=[2, 3, 4])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--requests", nargs="+", default=["1x1x3", "x2"], choices=list(ALL_REQUESTS))
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not native_bf16(pick_device("auto")):
        raise SystemExit("this machine has no native bf16 (CUDA, or a CPU with AVX512-BF16 or AMX): "
                         "bf16 would be emulated, about 50x slower; run this on one that has it")
    print(describe_machine(), flush=True)

    spec = load_profile(args.profile)["thick_slices"]
    gt = thick_slices.evaluation_region(args.profile, spec["region"])
    methods = [evaluation.arssr_method(args.profile),
               evaluation.continued_method(args.profile, "isotropic_control", "ArSSR-iso"),
               evaluation.continued_method(args.profile, "anisotropic", "ArSSR-thick")]
    rows = []
    for precision in ("fp32", "bf16"):
        for req in args.requests:
            f = ALL_REQUESTS[req]
            lr = downsample(gt, f, profile="cubic")
            for m in methods:
                t0 = time.time()
                sr = super_resolve_with(m, lr, gt.shape, f, args.profile, precision=precision)
                psnr = float(score_grid(gt, {(m.name, req): sr}, metrics=("psnr",), progress=False)["psnr"].iloc[0])
                rows.append({"precision": precision, "request": req, "method": m.name, "psnr": psnr})
                print(f"{precision} {req:>6} {m.name:<12} {psnr:6.2f} dB ({time.time() - t0:.0f} s)", flush=True)
    df = pd.DataFrame(rows)
    wide = df.pivot_table(index=["request", "method"], columns="precision", values="psnr", sort=False)
    wide["bf16 - fp32"] = wide["bf16"] - wide["fp32"]
    print(f"\nColin27 test region ({spec['region']}, brain-centred), cubic degradation; PSNR (dB)\n")
    print(wide[["fp32", "bf16", "bf16 - fp32"]].to_string(
        formatters={"fp32": "{:.2f}".format, "bf16": "{:.2f}".format, "bf16 - fp32": "{:+.2f}".format}))
    per = df.pivot_table(index=["request", "precision"], columns="method", values="psnr", sort=False)
    margin = (per["ArSSR-thick"] - per["ArSSR-iso"]).unstack("precision")
    print("\nArSSR-thick - ArSSR-iso (dB) in each precision\n")
    print(margin.to_string(float_format=lambda v: f"{v:+.2f}"))


if __name__ == "__main__":
    main()
