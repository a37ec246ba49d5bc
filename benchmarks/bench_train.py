"""Training throughput: ArSSR-RDN and the per-scale baselines, this package's step against
the one before it and against the authors' step, lever by lever, and the whole loop.

Figures only, no timed asserts. Every line says the precision it ran in; the header says
the CPU, whether it computes bf16 natively, and the threads.

What is measured (the ``cpu`` profile's settings unless said):

1. ArSSR-RDN **step** on fixed in-memory batches of real patches (batch 6, LR 10^3, K 3000
   queries per patch): forward, L1, backward, Adam.

   - ``authors``: the authors' step: fp32, ``grid_sample`` query, the whole decoder at once,
     their batch 15 and K 8000 (paper settings), the same model;
   - ``before``: this package's previous step (autocast, ``grid_sample``, whole decoder,
     NCDHW layout);
   - ``+ channels-last``: the same with channels-last 3D tensors;
   - ``+ chunked decoder``: corners gathered from a feature table and the decoder run on
     4096-query chunks with each chunk's backward right after its forward (NCDHW);
   - ``after``: both levers (:class:`arssr_core.models.objective.L1Objective`, what
     :func:`arssr_core.train.train` runs);
   - ``b15 K8000 before/after``: the same two steps at the paper's batch and K, where the
     decoder's 120,000 queries per step dominate.

2. The **loop** (ArSSR-RDN and each baseline): ``after`` steps fed by the profile's data
   pipeline (one loader worker), with the loader made anew every epoch (as before) and with
   one loader for the whole run (as now): the difference is the time spent waiting for data.

3. Each **baseline step** (patch 24^3, batch 4), NCDHW against channels-last.

Run ``python benchmarks/bench_train.py [--steps N] [--only arssr|baselines|loop]
[--precision auto|fp32|bf16]``. ``--emulate-avx2`` reruns the whole benchmark in a child
process with oneDNN and ATen limited to AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``,
``ATEN_CPU_CAPABILITY=avx2``): the same chip without native bf16, a stand-in for the
study's AVX2-only machines (their caches and clocks differ).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from functools import partial

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from arssr_core.data.sampling import ArSSRPatches, BaselinePatches, collate
from arssr_core.data.prepare import training_head
from arssr_core.device import autocast, describe_machine, pick_device, pick_precision
from arssr_core.models import build_model, count_parameters
from arssr_core.models.objective import L1Objective
from arssr_core.profiles import load_profile
from arssr_core.train import EpochBatches, RunBatches, batches_per_epoch


def plain_loss(model, batch, layout=torch.contiguous_format):
    """The step before the levers: ``grid_sample`` query and the whole decoder at once."""
    if "lr" in batch:
        pred = model(batch["lr"].contiguous(memory_format=layout), batch["coords"])
        return F.l1_loss(pred.float(), batch["values"])
    return F.l1_loss(model(batch["inp"].contiguous(memory_format=layout)).float(), batch["target"])


def timed(step, batches, warmup, steps, device) -> float:
    """Seconds per call of ``step(batch)``: mean of ``steps`` after ``warmup``."""
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


def make_step(model, loss_fn, device, precision, lr=1e-4):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()

    def step(batch):
        with autocast(device, precision):
            loss = loss_fn(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def fresh(name, device, channels_last=False, **args):
    torch.manual_seed(0)
    m = build_model(name, **args).to(device)
    if hasattr(m, "init_identity"):
        m.init_identity()
    return m.to(memory_format=torch.channels_last_3d) if channels_last else m


def draw(ds, n, batch_size, device):
    """``n`` batches of real samples, and the time to draw one sample (s)."""
    t0 = time.perf_counter()
    items = [ds[i % len(ds)] for i in range(n * batch_size)]
    per = (time.perf_counter() - t0) / len(items)
    return [{k: v.to(device) for k, v in collate(items[b * batch_size:(b + 1) * batch_size]).items()}
            for b in range(n)], per


def arssr_dataset(a, volumes, k=None):
    return ArSSRPatches(volumes, samples_per_volume=a["samples_per_volume"], crop=a["crop"], lr_size=a["lr_size"],
                        scale_range=tuple(a["scale_range"]), k=k or a["k"], min_foreground=a["min_foreground"],
                        augment=a["augment"])


def loop_seconds(step, ds, batch_size, steps, per_epoch_loader, workers=1) -> float:
    """Wall seconds per step of ``step`` fed by a DataLoader over ``ds``, from the end of the
    first step to the end of step ``steps + 1`` (so waits for data count, start-up does not)."""
    ends: list[float] = []

    def run(loader) -> bool:
        for batch in loader:
            step(batch)
            ends.append(time.perf_counter())
            if len(ends) > steps:
                return True
        return False

    if per_epoch_loader:  # a new loader (and worker) every epoch, as the loop did before
        epoch = 0
        while not run(DataLoader(ds, batch_sampler=EpochBatches(len(ds), batch_size, 0, epoch),
                                 collate_fn=collate, num_workers=workers)):
            epoch += 1
            ds.set_epoch(epoch)
    else:
        run(DataLoader(ds, batch_sampler=RunBatches(len(ds), batch_size, 0, 0, steps + 1), collate_fn=collate,
                       num_workers=workers, prefetch_factor=4 if workers else None))
    return (ends[-1] - ends[0]) / (len(ends) - 1)


def row(rows, name, precision, params, batch, sec, queries):
    rows.append((name, precision, params, batch, sec, batch / sec, queries / sec))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--steps", type=int, default=8, help="timed steps per configuration")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--loop-steps", type=int, default=24, help="steps per loop measurement (6 epochs of ArSSR)")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="auto", help="precision of this package's steps (auto by capability)")
    ap.add_argument("--only", choices=["arssr", "baselines", "loop"], default=None)
    ap.add_argument("--emulate-avx2", action="store_true",
                    help="rerun in a child process with oneDNN and ATen limited to AVX2 (no native bf16)")
    args = ap.parse_args()
    if args.emulate_avx2:
        env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
        argv = [a for a in sys.argv[1:] if a != "--emulate-avx2"]
        print("== emulated AVX2-only CPU: ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2", flush=True)
        sys.exit(subprocess.call([sys.executable, __file__, *argv], env=env))
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    precision = pick_precision(args.precision, device)
    prof = load_profile(args.profile)
    vol = training_head("mni152").data
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {describe_machine()}")
    print(f"profile {args.profile}, device {device}, precision {args.precision} -> {precision}, "
          f"load average {load:.1f} at start; {args.warmup} warm-up + {args.steps} timed steps")
    rows: list[tuple] = []
    a, ta = prof["arssr"], prof["arssr"]["train"]
    bs, k = int(ta["batch_size"]), int(a["k"])
    n_batches = 2

    if args.only in (None, "arssr"):
        ds = arssr_dataset(a, [vol, vol])
        batches, per = draw(ds, n_batches, bs, device)
        print(f"arssr sample (crop {a['crop']}, LR {a['lr_size']}^3, K {k}): {per * 1e3:.1f} ms to draw")
        model = fresh("arssr-rdn", device)
        params = count_parameters(model)
        # the authors' step: fp32, grid_sample, batch 15, K 8000
        ads = arssr_dataset(a, [vol] * 3, k=8000)
        abatches, _ = draw(ads, n_batches, 15, device)
        step = make_step(model, partial(plain_loss, model), device, "fp32")
        row(rows, "arssr-rdn authors (b15, K8000)", "fp32", params, 15,
            timed(step, abatches, 1, max(2, args.steps // 2), device), 15 * 8000)
        variants = [
            ("arssr-rdn before", False, None),
            ("arssr-rdn + channels-last", True, None),
            ("arssr-rdn + chunked decoder", False, "chunked"),
            ("arssr-rdn after (both)", True, "chunked"),
        ]
        precs = [precision] if precision == "fp32" else [precision, "fp32"]
        for name, chunked in (("arssr-rdn b15 K8000 before", False), ("arssr-rdn b15 K8000 after", True)):
            model = fresh("arssr-rdn", device, channels_last=chunked)
            loss_fn = L1Objective(model) if chunked else partial(plain_loss, model)
            step = make_step(model, loss_fn, device, precision)
            row(rows, name, precision, params, 15, timed(step, abatches, 1, max(2, args.steps // 2), device), 15 * 8000)
        for prec in precs:
            for name, cl, how in variants:
                model = fresh("arssr-rdn", device, channels_last=cl)
                if how == "chunked":
                    obj = L1Objective(model, channels_last=cl)
                    loss_fn = obj
                else:
                    layout = torch.channels_last_3d if cl else torch.contiguous_format
                    loss_fn = partial(plain_loss, model, layout=layout)
                step = make_step(model, loss_fn, device, prec)
                row(rows, name, prec, params, bs, timed(step, batches, args.warmup, args.steps, device), bs * k)

    if args.only in (None, "baselines"):
        b, tb = prof["baselines"], prof["baselines"]["train"]
        bbs = int(tb["batch_size"])
        scale = float(b["scales"][0])
        ds = BaselinePatches([vol], scale=scale, samples_per_volume=b["samples_per_volume"], patch=b["patch"],
                             min_foreground=b["min_foreground"], augment=b["augment"])
        batches, per = draw(ds, n_batches, bbs, device)
        print(f"baseline sample (patch {ds.n}^3 at x{scale:g}): {per * 1e3:.1f} ms to draw")
        for name in b["models"]:
            for cl in (False, True):
                model = fresh(name, device, channels_last=cl, scale=scale)
                layout = torch.channels_last_3d if cl else torch.contiguous_format
                step = make_step(model, partial(plain_loss, model, layout=layout),
                                 device, precision)
                row(rows, f"{name} {'channels-last' if cl else 'before (NCDHW)'}", precision,
                    count_parameters(model), bbs, timed(step, batches, args.warmup, args.steps, device),
                    bbs * ds.n ** 3)

    loops = []
    if args.only in (None, "loop"):
        from arssr_core.study.experiments import arssr_data, baseline_data

        workers = int(ta.get("num_workers", 1))
        ds, _ = arssr_data(prof)
        print(f"loop data: {len(ds)} ArSSR samples per epoch = {batches_per_epoch(len(ds), bs)} steps per epoch, "
              f"{workers} loader worker(s)")
        for name, new_step, per_epoch in (("before: step before, loader per epoch", False, True),
                                          ("step after, loader per epoch", True, True),
                                          ("after: step after, loader per run", True, False)):
            model = fresh("arssr-rdn", device, channels_last=new_step)
            loss_fn = L1Objective(model) if new_step else partial(plain_loss, model)
            step = make_step(model, loss_fn, device, precision)
            loops.append((f"arssr-rdn {name}", precision, bs,
                          loop_seconds(step, ds, bs, args.loop_steps, per_epoch, workers), bs * k))
        b, tb = prof["baselines"], prof["baselines"]["train"]
        bbs = int(tb["batch_size"])
        bds, _ = baseline_data(prof, float(b["scales"][0]))
        for name in b["models"]:
            model = fresh(name, device, channels_last=True, scale=float(b["scales"][0]))
            step = make_step(model, L1Objective(model), device, precision)
            loops.append((f"{name} channels-last, loader per run", precision, bbs,
                          loop_seconds(step, bds, bbs, args.loop_steps, False, workers), bbs * bds.n ** 3))

    if rows:
        print(f"\n{'step':34s} {'prec':5s} {'params':>10s} {'batch':>5s} {'s/step':>7s} {'samples/s':>9s} "
              f"{'queries/s':>10s}")
        for name, prec, params, bsz, sec, sps, qps in rows:
            print(f"{name:34s} {prec:5s} {params:10,d} {bsz:5d} {sec:7.3f} {sps:9.2f} {qps:10,.0f}")
        print("(queries/s: supervised HR voxels per second: K per patch for ArSSR, the whole patch for a baseline)")
        ref = {(r[0], r[1]): r for r in rows}
        for prec in sorted({r[1] for r in rows}):
            before, after = ref.get(("arssr-rdn before", prec)), ref.get(("arssr-rdn after (both)", prec))
            authors = ref.get(("arssr-rdn authors (b15, K8000)", "fp32"))
            if before and after:
                print(f"arssr-rdn {prec}: step after/before samples/s = {after[5] / before[5]:.2f}x; "
                      f"queries/s against the authors' step = {after[6] / authors[6]:.2f}x")
            pb, pa = ref.get(("arssr-rdn b15 K8000 before", prec)), ref.get(("arssr-rdn b15 K8000 after", prec))
            if pb and pa:
                print(f"arssr-rdn {prec} at b15 K8000: step after/before = {pa[5] / pb[5]:.2f}x; "
                      f"against the authors' fp32 step = {pa[5] / authors[5]:.2f}x")
    if loops:
        print(f"\n{'loop (profile data, real loader)':50s} {'prec':5s} {'s/step':>7s} {'samples/s':>9s} {'queries/s':>10s}")
        for name, prec, bsz, sec, q in loops:
            print(f"{name:50s} {prec:5s} {sec:7.3f} {bsz / sec:9.2f} {q / sec:10,.0f}")
        if len(loops) >= 3:
            print(f"arssr-rdn loop {loops[0][1]}: after/before samples/s = {loops[0][3] / loops[2][3]:.2f}x")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.1f} at the end")


if __name__ == "__main__":
    main()
