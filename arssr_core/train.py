"""Training loop for ArSSR and the per-scale baselines: Adam, L1, step lr decay,
best-on-validation checkpoint, exact resume, optional DDP under ``torchrun``.

Exact resume: model, optimiser, scheduler, step and data position are in the
checkpoint, and every sample is a pure function of (seed, epoch, index)
(:mod:`arssr_core.data.sampling`), so an interrupted run continues with the losses an
uninterrupted one would have had.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from .checkpoint import load_into, read_checkpoint, save_checkpoint
from .data.sampling import collate
from .device import autocast, pick_device, pick_precision
from .io_utils import atomic_path
from .models import build_model, is_arssr
from .models.mlp import check_alive


@dataclass
class TrainConfig:
    """Budget and optimiser of one training run (steps are optimiser steps)."""

    steps: int = 1000
    max_minutes: float | None = None  # wall-clock cap; the run stops cleanly when reached
    batch_size: int = 4  # global batch (split across DDP ranks)
    lr: float = 1e-4
    lr_step: int = 200  # halve the lr every lr_step steps
    lr_gamma: float = 0.5
    betas: tuple[float, float] = (0.9, 0.999)
    val_every: int = 100
    ckpt_every: int = 100
    seed: int = 0
    num_workers: int = 0
    precision: str = "auto"  # auto | fp32 | bf16 | fp16
    device: str = "auto"
    init: str = "default"  # "default" (PyTorch's) or "identity" (ArSSR starts as trilinear interpolation)
    extra: dict[str, Any] = field(default_factory=dict)


def _dist_info() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed() -> tuple[int, int]:
    """Join the process group torchrun describes (NCCL on CUDA, gloo on CPU); (rank, world)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return _dist_info()


class EpochBatches:
    """The global batches of one epoch: a permutation seeded by (seed, epoch), cut into
    ``batch_size`` pieces (last partial batch dropped); DDP rank ``r`` of ``w`` takes
    ``batch[r::w]`` of each, so the ranks together see the single-process batches."""

    def __init__(self, n: int, batch_size: int, seed: int, epoch: int, start: int = 0,
                 rank: int = 0, world: int = 1):
        perm = np.random.default_rng([seed, 7919, epoch]).permutation(n)
        nb = n // batch_size
        self.batches = [perm[i * batch_size:(i + 1) * batch_size][rank::world].tolist() for i in range(start, nb)]

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def batches_per_epoch(n: int, batch_size: int) -> int:
    nb = n // batch_size
    if nb == 0:
        raise ValueError(f"dataset of {n} samples is smaller than the batch size {batch_size}")
    return nb


def _step_loss(model: nn.Module, batch: dict[str, torch.Tensor], arssr: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if arssr:
        pred = model(batch["lr"], batch["coords"])
        return F.l1_loss(pred.float(), batch["values"]), pred
    pred = model(batch["inp"])
    return F.l1_loss(pred.float(), batch["target"]), pred


@torch.no_grad()
def validate(model: nn.Module, samples: Sequence[dict[str, torch.Tensor]], device: torch.device,
             precision: str = "fp32", batch_size: int = 8) -> dict[str, float]:
    """Mean L1 and PSNR (data range 1) over the fixed validation samples."""
    net = getattr(model, "module", model)
    arssr = is_arssr(net)
    was = net.training
    net.eval()
    l1s, psnrs = [], []
    for i in range(0, len(samples), batch_size):
        batch = {k: v.to(device) for k, v in collate(list(samples[i:i + batch_size])).items()}
        with autocast(device, precision):
            if arssr:
                pred, true = net(batch["lr"], batch["coords"]).float(), batch["values"]
            else:
                pred, true = net(batch["inp"]).float(), batch["target"]
        pred = pred.clamp(0, 1).flatten(1)
        true = true.flatten(1)
        l1s += (pred - true).abs().mean(1).tolist()
        mse = ((pred - true) ** 2).mean(1).clamp_min(1e-12)
        psnrs += (-10 * torch.log10(mse)).tolist()
    net.train(was)
    return {"val_l1": float(np.mean(l1s)), "val_psnr": float(np.mean(psnrs))}


def checkpoint_finished(path: str | Path, steps: int) -> bool:
    """True when ``path`` is a run's final checkpoint that reached ``steps`` (or its time budget)."""
    p = Path(path)
    if not p.exists():
        return False
    try:
        blob = read_checkpoint(p)
    except Exception:
        return False
    ts = blob.get("train_state") or {}
    return bool(blob.get("meta", {}).get("finished")) or int(ts.get("step", 0)) >= steps


def train(spec: dict[str, Any], dataset: Dataset, val_samples: Sequence[dict[str, torch.Tensor]],
          cfg: TrainConfig, out_dir: str | Path, resume: bool = True, init_from: str | Path | None = None,
          progress: bool = True, stop_after: int | None = None,
          meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train ``spec`` on ``dataset`` and keep ``out_dir/last.pt`` and ``out_dir/best.pt``.

    - ``resume``: continue from ``last.pt`` if present (exactly).
    - ``init_from``: start from another checkpoint's weights (same spec), new optimiser.
    - ``stop_after``: stop (as if killed) after this many steps of this call; for tests.
    Writes ``history.csv`` (per step) and ``validation.csv``. Returns a summary dict.
    """
    rank, world = init_distributed()
    device = pick_device(cfg.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", torch.cuda.current_device())
    precision = pick_precision(cfg.precision, device)
    out_dir = Path(out_dir)
    torch.manual_seed(cfg.seed)
    model = build_model(spec).to(device)
    arssr = is_arssr(model)
    if cfg.init == "identity" and hasattr(model, "init_identity"):
        model.init_identity()
    elif cfg.init not in ("default", "identity"):
        raise ValueError(f"unknown init '{cfg.init}' (default or identity)")
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_step, gamma=cfg.lr_gamma)
    scaler = torch.amp.GradScaler("cuda", enabled=(precision == "fp16"))
    step, history, val_hist, best, elapsed0 = 0, [], [], -math.inf, 0.0
    last, best_path = out_dir / "last.pt", out_dir / "best.pt"
    if resume and last.exists():
        blob = load_into(last, model)
        ts = blob["train_state"]
        opt.load_state_dict(ts["optimizer"])
        sched.load_state_dict(ts["scheduler"])
        step, best, elapsed0 = int(ts["step"]), float(ts["best"]), float(ts.get("elapsed", 0.0))
        history, val_hist = list(ts["history"]), list(ts["validation"])
        torch.set_rng_state(ts["torch_rng"])
    elif init_from is not None:
        load_into(init_from, model)
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    model.train()
    nb = batches_per_epoch(len(dataset), cfg.batch_size)
    run_meta = {"config": {**asdict(cfg), "betas": list(cfg.betas)}, "precision": precision,
                "device": str(device), "world_size": world, **(meta or {})}

    def state(finished: bool) -> tuple[dict, dict]:
        ts = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "step": step, "best": best,
              "elapsed": elapsed0 + time.perf_counter() - t0, "history": history, "validation": val_hist,
              "torch_rng": torch.get_rng_state()}
        return ts, {**run_meta, "finished": finished, "step": step, "best_val_psnr": best,
                    "elapsed_s": ts["elapsed"]}

    def save(finished: bool = False) -> None:
        if rank == 0:
            ts, m = state(finished)
            save_checkpoint(last, model, ts, m)
            _write_curves(out_dir, history, val_hist)

    t0 = time.perf_counter()
    bar = None
    if progress and rank == 0:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.steps, initial=step, desc=f"train {spec['name']}", unit="step")
    done_here, finished = 0, False
    while step < cfg.steps:
        epoch, start = divmod(step, nb)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        loader = DataLoader(dataset, batch_sampler=EpochBatches(len(dataset), cfg.batch_size, cfg.seed, epoch,
                                                                start, rank, world),
                            collate_fn=collate, num_workers=cfg.num_workers)
        for batch in loader:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with autocast(device, precision):
                loss, pred = _step_loss(model, batch, arssr)
            if step == 0 and arssr:
                check_alive(pred.detach(), f"{spec['name']} decoder at step 0")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            lr_used = opt.param_groups[0]["lr"]  # the lr of this step (before the scheduler moves it)
            sched.step()
            step += 1
            done_here += 1
            lval = loss.detach()
            if world > 1:
                dist.all_reduce(lval)
                lval /= world
            history.append({"step": step, "loss": float(lval), "lr": lr_used,
                            "time_s": elapsed0 + time.perf_counter() - t0})
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{float(lval):.4f}")
            if rank == 0 and (step % cfg.val_every == 0 or step == cfg.steps) and val_samples:
                v = validate(model, val_samples, device, precision)
                val_hist.append({"step": step, **v})
                if v["val_psnr"] > best:
                    best = v["val_psnr"]
                    ts, m = state(False)
                    save_checkpoint(best_path, model, None, {**m, "best_step": step})
            out_of_time = cfg.max_minutes is not None and (elapsed0 + time.perf_counter() - t0) > 60 * cfg.max_minutes
            if world > 1:
                flag = torch.tensor(float(out_of_time), device=device)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                out_of_time = bool(flag.item())
            if step % cfg.ckpt_every == 0 or step == cfg.steps or out_of_time:
                save(finished=step >= cfg.steps or out_of_time)
            if out_of_time:
                finished = True
                break
            if stop_after is not None and done_here >= stop_after:
                break
            if step >= cfg.steps:
                break
        if finished or (stop_after is not None and done_here >= stop_after):
            break
    if step >= cfg.steps:
        finished = True
    if bar is not None:
        bar.close()
    if rank == 0 and not (stop_after is not None and done_here >= stop_after and not finished):
        save(finished=finished)
    if rank == 0 and not best_path.exists():
        save_checkpoint(best_path, model, None, {**state(finished)[1], "best_step": step})
    return {"step": step, "finished": finished, "best_val_psnr": best, "out_dir": str(out_dir),
            "seconds": elapsed0 + time.perf_counter() - t0, "precision": precision, "device": str(device)}


def _write_curves(out_dir: Path, history: list[dict], val_hist: list[dict]) -> None:
    for name, rows in (("history.csv", history), ("validation.csv", val_hist)):
        if rows:
            with atomic_path(out_dir / name) as tmp:
                pd.DataFrame(rows).to_csv(tmp, index=False)


def load_curves(out_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-step history, validation) of a run folder; empty frames when absent."""
    out_dir = Path(out_dir)
    read = lambda n: pd.read_csv(out_dir / n) if (out_dir / n).exists() else pd.DataFrame()  # noqa: E731
    return read("history.csv"), read("validation.csv")
