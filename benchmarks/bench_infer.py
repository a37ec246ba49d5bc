"""Benchmark of whole-volume inference (``arssr_core.infer``) on the real Colin27.

For Colin27 ``ch2bet`` (181x217x181, 1 mm, min-max normalised) down-sampled x2
(LR 90x108x90) and x4 (LR 45x54x45) and super-resolved back to 181x217x181 with the
real ``arssr-rdn`` architecture, it prints per configuration (fp32, bf16): encoder
seconds, decoder queries/s, total seconds and peak RSS. Each configuration runs in its
own subprocess so that the peak RSS (``getrusage``'s ``ru_maxrss``) is clean.

Weights: ``checkpoints/pretrained/arssr-rdn/best.pt`` if it exists (then the x2 PSNR
of fp32 and bf16 against the HR volume is printed too), else random (seed 0), which is
fine for timing; the bf16-vs-fp32 output difference is then reported as a PSNR of the
bf16 output against the fp32 one.

With ``--large`` it adds two 0.5 mm outputs (362x434x362, 57 M voxels) in bf16: from
the 2 mm LR (x4, one block: memory does not grow with the output size beyond the
output array itself) and from the 1 mm volume itself (x2 of a 7 M-voxel input: the
engine tiles, and the peak stays bounded at the cost of recomputed halos).

It also runs, on a small LR (32^3 Colin27 crop, x2 -> 64^3), the authors' inference
loop (the whole encoder re-run for every output slice, one decoder call per slice;
a re-implementation of that loop's cost structure with this package's model, so the
ratio measures the loop, not our faster kernels; the authors' own code took
138.6 s on a 2-core AMD EPYC) against ours, and prints the ratio; and the FLOP estimate (conv and
linear multiply-adds x 2) with the fraction of the matmul rate measured at the start
(reference on a 2-core AMD EPYC: 252 GFLOP/s bf16, 106 fp32).

The CPU is shared: the script first measures the matmul rate it actually gets and
prints it beside the reference, so that timings can be read against the share of the
machine the run had.

    python benchmarks/bench_infer.py            # full: x2 and x4 on the whole volume
    python benchmarks/bench_infer.py --large    # and the two 0.5 mm outputs
    python benchmarks/bench_infer.py --quick    # a 96x112x96 brain-centred crop, and
                                                # 4 of the authors' 64 slices (extrapolated)
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REF_FP32, REF_BF16 = 106.0, 252.0  # GFLOP/s, matmul 262144x256x256 on a 2-core AMD EPYC with AVX512-BF16
QUICK_CROP = (96, 112, 96)


# ----------------------------------------------------------------------------- helpers

def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def hr_volume(crop: tuple[int, int, int] | None) -> np.ndarray:
    """Colin27 ch2bet, min-max normalised to [0, 1], optionally a centred crop."""
    from arssr_core.data.nifti import load_volume
    from arssr_core.data.sources import source_path

    v = load_volume(source_path("colin27", "ch2bet.nii.gz")).data
    v = (v - v.min()) / (v.max() - v.min())
    if crop is not None:
        st = [(n - c) // 2 for n, c in zip(v.shape, crop)]
        v = v[tuple(slice(s, s + c) for s, c in zip(st, crop))]
    return np.ascontiguousarray(v, dtype=np.float32)


def get_model(checkpoint: str | None):
    import torch

    from arssr_core.infer import load_sr_model
    from arssr_core.models import build_model

    if checkpoint:
        return load_sr_model(checkpoint)[0]
    torch.manual_seed(0)
    return build_model("arssr-rdn").eval()


def flops(model) -> tuple[float, float]:
    """(encoder FLOPs per LR voxel, decoder FLOPs per query): 2 x multiply-adds of every
    Conv3d (same-size output grids) and Linear layer; trilinear lookup not counted."""
    import torch.nn as nn

    enc = sum(m.weight.numel() for m in model.encoder.modules() if isinstance(m, nn.Conv3d))
    dec = sum(m.weight.numel() for m in model.decoder.modules() if isinstance(m, nn.Linear))
    return 2.0 * enc, 2.0 * dec


def matmul_rate() -> tuple[float, float]:
    import torch

    a, w = torch.rand(262144, 256), torch.rand(256, 256)
    out = []
    for dt in (torch.float32, torch.bfloat16):
        x, y = a.to(dt), w.to(dt)
        best = math.inf
        for _ in range(3):
            t = time.perf_counter()
            x @ y
            best = min(best, time.perf_counter() - t)
        out.append(2 * 262144 * 256 * 256 / best / 1e9)
    return out[0], out[1]


def psnr(x: np.ndarray, ref: np.ndarray) -> float:
    mse = float(np.mean((x.astype(np.float64) - ref) ** 2))
    rng = float(ref.max() - ref.min())
    return math.inf if mse == 0 else 10 * math.log10(rng ** 2 / mse)


# ----------------------------------------------------------------------------- workers (subprocess)

def worker_ours(cfg: dict) -> dict:
    import torch

    from arssr_core.data.degrade import downsample
    from arssr_core.infer import super_resolve

    hr = hr_volume(tuple(cfg["crop"]) if cfg["crop"] else None)
    lr = downsample(hr, cfg["scale"]) if cfg["scale"] != 1 else hr
    out_shape = tuple(round(n * cfg.get("up", 1)) for n in hr.shape)
    del hr
    model = get_model(cfg["checkpoint"])
    with torch.inference_mode():  # warm-up: oneDNN kernel selection, not timed
        super_resolve(model, lr[:8, :8, :8], (12, 12, 12), precision=cfg["precision"])
    t = {}
    t0 = time.perf_counter()
    out = super_resolve(model, lr, out_shape, precision=cfg["precision"], timings=t,
                        max_tile_voxels=cfg.get("tile_voxels"),
                        halo=cfg.get("halo") if cfg.get("tile_voxels") else None)
    t["total_s"] = time.perf_counter() - t0
    if cfg.get("save"):
        np.save(cfg["save"], out)
    return {**t, "lr_shape": lr.shape, "out_shape": out_shape, "peak_rss_mib": peak_rss_mib()}


def worker_authors(cfg: dict) -> dict:
    """The authors' inference loop: for every output slice along axis 0, ``model(lr, coords
    of that slice)``, i.e. the whole encoder again plus the decoder on one slice (fp32)."""
    import torch

    from arssr_core.data.coords import make_coords
    from arssr_core.data.degrade import downsample

    hr = hr_volume(None if cfg.get("whole") else (64, 64, 64))
    lr = downsample(hr, 2)
    model = get_model(cfg["checkpoint"])
    with torch.no_grad():  # warm-up, as for ours
        model(torch.from_numpy(lr[:8, :8, :8])[None, None], torch.zeros(1, 8, 3))
    x = torch.from_numpy(lr)[None, None]
    coords = torch.from_numpy(make_coords(hr.shape))  # all at once, as theirs
    per = hr.shape[1] * hr.shape[2]
    n = cfg["slices"] or hr.shape[0]
    out = np.zeros(hr.shape, np.float32)
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(n):
            pred = model(x, coords[None, i * per:(i + 1) * per])  # encoder + decoder, every slice
            out[i] = pred.view(hr.shape[1:]).numpy()
    dt = time.perf_counter() - t0
    return {"slices_run": n, "slices_total": hr.shape[0], "seconds_run": dt,
            "seconds_full": dt * hr.shape[0] / n, "peak_rss_mib": peak_rss_mib()}


def worker_ours_small(cfg: dict) -> dict:
    import torch

    from arssr_core.data.degrade import downsample
    from arssr_core.infer import super_resolve

    hr = hr_volume((64, 64, 64))
    lr = downsample(hr, 2)
    model = get_model(cfg["checkpoint"])
    with torch.inference_mode():
        super_resolve(model, lr[:8, :8, :8], (12, 12, 12))
    t = {}
    t0 = time.perf_counter()
    super_resolve(model, lr, hr.shape, timings=t)
    t["total_s"] = time.perf_counter() - t0
    return {**t, "peak_rss_mib": peak_rss_mib()}


WORKERS = {"ours": worker_ours, "authors": worker_authors, "ours_small": worker_ours_small}


def spawn(kind: str, cfg: dict) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, json.dumps(cfg)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"worker {kind} {cfg} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"a {QUICK_CROP} crop and 4 authors' slices")
    ap.add_argument("--scales", type=float, nargs="+", default=[2.0, 4.0])
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--tile-voxels", type=int, default=None,
                    help="also run x2 fp32 with the encoder tiled at this many voxels per tile")
    ap.add_argument("--halo", type=int, default=16, help="halo of that tiled run (default 16; -1 exact)")
    ap.add_argument("--large", action="store_true",
                    help="also two 0.5 mm outputs in bf16 (362x434x362, 57 M voxels): from the 2 mm LR (one "
                         "block), and from the 1 mm volume itself (7 M LR voxels: tiled)")
    ap.add_argument("--skip-authors", action="store_true")
    ap.add_argument("--authors-whole", type=int, default=0, metavar="N",
                    help="also time the authors' loop on the whole x2 brain for N of its 181 output slices "
                         "(extrapolated) against our x2 fp32 total from this run")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker[0]](json.loads(args.worker[1]))))
        return

    from arssr_core.paths import checkpoints_dir

    ckpt = checkpoints_dir("pretrained") / "arssr-rdn" / "best.pt"
    tmp = Path(tempfile.mkdtemp(prefix="bench_infer_"))
    checkpoint = None
    if ckpt.is_file():  # a snapshot: a training run may rewrite best.pt while we measure
        checkpoint = str(tmp / "best.pt")
        shutil.copyfile(ckpt, checkpoint)
    crop = QUICK_CROP if args.quick else None
    f32, b16 = matmul_rate()
    print(f"# bench_infer  {'quick: crop ' + 'x'.join(map(str, crop)) if crop else 'full volume 181x217x181'};"
          f" weights: {'snapshot of ' + str(ckpt) if checkpoint else 'random (seed 0)'}")
    import torch

    from arssr_core.device import describe_machine, pick_precision

    print(f"# machine: {describe_machine()}; precision auto -> {pick_precision('auto', torch.device('cpu'))}")
    print(f"# CPU share now: matmul fp32 {f32:.0f} GFLOP/s (ref {REF_FP32:.0f}), bf16 {b16:.0f} GFLOP/s "
          f"(ref {REF_BF16:.0f}); timings scale roughly with ref/measured")
    model = get_model(checkpoint)
    enc_f, dec_f = flops(model)
    print(f"# FLOPs: encoder {enc_f / 1e6:.2f} MFLOP per LR voxel, decoder {dec_f / 1e6:.3f} MFLOP per query")
    del model

    rows, outs = [], {}
    configs = [(s, 1, p, None) for s in args.scales for p in args.precisions]
    if args.tile_voxels:
        configs.append((args.scales[0], 1, "fp32", args.tile_voxels))
    if args.large:
        configs += [(2.0, 2, "bf16", None), (1.0, 2, "bf16", None)]
    hdr = (f"{'scale':>5} {'prec':>5} {'tile':>8} {'LR':>11} {'output':>11} {'blk':>3} {'enc s':>7} {'dec q/s':>9} "
           f"{'total s':>8} {'peak MiB':>8} {'enc GF/s':>8} {'dec GF/s':>8} {'%pk':>5}")
    print(hdr)
    for down, up, prec, tile in configs:
        save = str(tmp / f"x{down:g}_{prec}_{tile}.npy") if (down, up) == (args.scales[0], 1) else None
        r = spawn("ours", {"scale": down, "up": up, "precision": prec, "crop": crop, "checkpoint": checkpoint,
                           "save": save, "tile_voxels": tile, "halo": None if args.halo < 0 else args.halo})
        lr_vox, q = math.prod(r["lr_shape"]), r["queries"]
        eg, dg = enc_f * lr_vox / r["encoder_s"] / 1e9, dec_f * q / r["decoder_s"] / 1e9
        tot_g = (enc_f * lr_vox + dec_f * q) / r["total_s"] / 1e9
        pk = b16 if prec != "fp32" else f32
        print(f"{down * up:>5g} {prec:>5} {str(tile or '-'):>8} {'x'.join(map(str, r['lr_shape'])):>11} "
              f"{'x'.join(map(str, r['out_shape'])):>11} {r['blocks']:>3} "
              f"{r['encoder_s']:>7.1f} {q / r['decoder_s']:>9.0f} {r['total_s']:>8.1f} {r['peak_rss_mib']:>8.0f} "
              f"{eg:>8.1f} {dg:>8.1f} {100 * tot_g / pk:>4.0f}%", flush=True)
        rows.append((down, prec, tile, r))
        if save:
            outs[(prec, tile)] = save
    print("# %pk: FLOPs of encoder (on the LR, halos not counted) plus decoder per second, against the matmul "
          "rate measured above in the same precision; above 100% the convolution kernels beat that matmul")
    if ("fp32", None) in outs and ("bf16", None) in outs:
        a, b = np.load(outs[("fp32", None)]), np.load(outs[("bf16", None)])
        print(f"# bf16 vs fp32 at x{args.scales[0]:g}: max |diff| {np.abs(a - b).max():.4g} (intensity units of "
              f"the [0,1] input), PSNR of bf16 against fp32 {psnr(b, a.astype(np.float64)):.1f} dB")
        if checkpoint:
            hr = hr_volume(crop)
            pa, pb = psnr(a, hr), psnr(b, hr)
            print(f"# PSNR vs HR at x{args.scales[0]:g}: fp32 {pa:.3f} dB, bf16 {pb:.3f} dB, cost {pa - pb:+.4f} dB")
        if ("fp32", args.tile_voxels) in outs and args.tile_voxels:
            c = np.load(outs[("fp32", args.tile_voxels)])
            print(f"# tiled (halo {args.halo}) vs untiled encoder (fp32): max |diff| {np.abs(a - c).max():.3g}")

    if not args.skip_authors:
        n = 4 if args.quick else 0
        au = spawn("authors", {"checkpoint": checkpoint, "slices": n})
        ours = spawn("ours_small", {"checkpoint": checkpoint})
        kind = (f"{au['slices_run']} of {au['slices_total']} slices in {au['seconds_run']:.1f} s, extrapolated"
                if au["slices_run"] < au["slices_total"] else "all slices")
        print(f"# LR 32^3 x2 -> 64^3, fp32: authors' loop {au['seconds_full']:.1f} s ({kind}; peak "
              f"{au['peak_rss_mib']:.0f} MiB), ours {ours['total_s']:.1f} s (encoder {ours['encoder_s']:.1f} s; "
              f"peak {ours['peak_rss_mib']:.0f} MiB): {au['seconds_full'] / ours['total_s']:.1f}x faster")
    if args.authors_whole:
        mine = next((r for d, p, t, r in rows
                     if (d, p, t) == (2.0, "fp32", None) and tuple(r["out_shape"]) == (181, 217, 181)),
                    None)
        au = spawn("authors", {"checkpoint": checkpoint, "slices": args.authors_whole, "whole": True})
        line = (f"# whole brain x2 (LR 90x108x90 -> 181x217x181), fp32: authors' loop {au['seconds_full']:.0f} s "
                f"({au['slices_run']} of {au['slices_total']} slices in {au['seconds_run']:.1f} s, extrapolated)")
        if mine:
            line += f", ours {mine['total_s']:.1f} s: {au['seconds_full'] / mine['total_s']:.0f}x faster"
        print(line, flush=True)
    f32b, b16b = matmul_rate()
    print(f"# CPU share at the end: matmul fp32 {f32b:.0f} GFLOP/s, bf16 {b16b:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
