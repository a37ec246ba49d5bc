"""Training throughput of the cpu profile's steps: ArSSR-RDN (batch 6, K 3000 queries per
patch, LR 10^3) in bf16 autocast and fp32, and each per-scale baseline (srcnn3d, dcsrn,
rescnn; patch 24^3, batch 4) in the profile's precision.

One step = what ``arssr_core.train.train`` does per batch: forward under autocast, L1
loss, backward, Adam step. Batches are real samples of the MNI152 volume drawn as the
profile draws them (the time to draw them is reported separately: in training a loader
worker makes them beside the step). Prints figures only, no timed asserts.

Run: ``python benchmarks/bench_train.py [--steps N] [--warmup N] [--threads T]
[--device cpu|cuda] [--only arssr|baselines]``. On a busy shared 2-core machine compare
``--threads 1`` with the default: measured here under load average ~6-10, one thread
was 5-14x faster per step than two (thread oversubscription).
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import torch.nn.functional as F

from arssr_core.data.sampling import ArSSRPatches, BaselinePatches, collate
from arssr_core.data.volumes import load_training_volume
from arssr_core.device import autocast, pick_device
from arssr_core.models import build_model, count_parameters, is_arssr
from arssr_core.profiles import load_profile


def time_steps(model, batches, device, precision, lr, warmup, steps):
    """Seconds per optimiser step (mean of ``steps`` after ``warmup``)."""
    arssr = is_arssr(model)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()

    def step(batch):
        with autocast(device, precision):
            if arssr:
                pred, true = model(batch["lr"], batch["coords"]), batch["values"]
            else:
                pred, true = model(batch["inp"]), batch["target"]
            loss = F.l1_loss(pred.float(), true)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(warmup):
        step(batches[i % len(batches)])
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(steps):
        step(batches[(warmup + i) % len(batches)])
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def make_batches(ds, batch_size, n_batches, device):
    t0 = time.perf_counter()
    items = [ds[i % len(ds)] for i in range(batch_size * n_batches)]
    per_sample = (time.perf_counter() - t0) / len(items)
    batches = [{k: v.to(device) for k, v in collate(items[b * batch_size:(b + 1) * batch_size]).items()}
               for b in range(n_batches)]
    return batches, per_sample


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per configuration")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--only", choices=["arssr", "baselines"], default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    prof = load_profile(args.profile)
    vol = load_training_volume("mni152").data
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"profile {args.profile}, device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"cpus {os.cpu_count()}, load average {load:.1f} at start; {args.warmup} warm-up + {args.steps} timed steps")
    n_batches = args.warmup + args.steps
    rows = []

    if args.only in (None, "arssr"):
        a, t = prof["arssr"], prof["arssr"]["train"]
        ds = ArSSRPatches([vol], samples_per_volume=a["samples_per_volume"], crop=a["crop"], lr_size=a["lr_size"],
                          scale_range=tuple(a["scale_range"]), k=a["k"], min_foreground=a["min_foreground"],
                          augment=a["augment"])
        bs = int(t["batch_size"])
        batches, per_sample = make_batches(ds, bs, min(n_batches, 2), device)
        print(f"arssr sample (crop {a['crop']}, LR {a['lr_size']}^3, K {a['k']}): {per_sample * 1e3:.0f} ms each to draw")
        for precision in ("bf16", "fp32"):
            torch.manual_seed(0)
            model = build_model("arssr-rdn").to(device)
            sec = time_steps(model, batches, device, precision, float(t["lr"]), args.warmup, args.steps)
            rows.append((f"arssr-rdn {precision}", count_parameters(model), bs, sec, bs * a["k"] / sec))

    if args.only in (None, "baselines"):
        b, t = prof["baselines"], prof["baselines"]["train"]
        bs = int(t["batch_size"])
        scale = float(b["scales"][0])
        ds = BaselinePatches([vol], scale=scale, samples_per_volume=b["samples_per_volume"], patch=b["patch"],
                             min_foreground=b["min_foreground"], augment=b["augment"])
        batches, per_sample = make_batches(ds, bs, min(n_batches, 2), device)
        print(f"baseline sample (patch {ds.n}^3 at x{scale:g}): {per_sample * 1e3:.0f} ms each to draw")
        for name in b["models"]:
            torch.manual_seed(0)
            model = build_model(name, scale=scale).to(device)
            sec = time_steps(model, batches, device, t["precision"], float(t["lr"]), args.warmup, args.steps)
            rows.append((f"{name} {t['precision']}", count_parameters(model), bs, sec, bs * ds.n ** 3 / sec))

    print(f"\n{'step':22s} {'params':>10s} {'batch':>5s} {'s/step':>8s} {'samples/s':>10s} {'queries/s':>12s}")
    for name, params, bs, sec, q in rows:
        print(f"{name:22s} {params:10,d} {bs:5d} {sec:8.2f} {bs / sec:10.2f} {q:12,.0f}")
    print("(queries/s: supervised HR voxels per second; K per patch for ArSSR, the whole patch for a baseline)")
    try:
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
    except OSError:
        pass


if __name__ == "__main__":
    main()
