"""Training loop for ArSSR and the per-scale baselines: Adam, L1, step lr decay,
best-on-validation checkpoint, exact resume, optional DDP under ``torchrun``.

Budgets are optimiser steps at a batch size, never wall-clock time: for its seed, thread
count and precision a run gives the same weights on any machine, busy or idle. The time
it took is recorded with the run (``history.csv``, the checkpoint's ``meta``), together
with the machine (:func:`arssr_core.device.machine`) and the precision that ``auto`` chose.

Exact resume: model, optimiser, scheduler, step and data position are in the
checkpoint, and every sample is a pure function of (seed, epoch, index)
(:mod:`arssr_core.data.sampling`), so an interrupted run continues with the losses an
uninterrupted one would have had. One loader serves the whole run (its worker starts
once and draws the next batches while the current step computes).

The run validates before its first step: ``start_val_psnr`` is where it started (for
ArSSR with the identity start: trilinear interpolation), and ``interp_val_psnr`` is the
plain interpolation a model is fed (the cubic input of a residual baseline).
:func:`require_trained` stops a run that never left its starting point.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from .checkpoint import load_into, read_checkpoint, save_checkpoint
from .data.sampling import collate
from .device import autocast, machine, pick_device, pick_precision
from .errors import ArssrError
from .io_utils import atomic_path
from .models import build_model, is_arssr
from .models.mlp import check_alive
from .models.objective import L1Objective

#: A trained model must beat its starting point on validation by more than this (dB PSNR).
MIN_GAIN_DB = 0.05


class UntrainedModelError(ArssrError):
    """A model that did not train (validation never ran, or no better than its start)."""


@dataclass
class TrainConfig:
    """Budget and optimiser of one training run (steps are optimiser steps)."""

    steps: int = 1000  # the budget: optimiser steps at batch_size (never wall-clock time)
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
    chunk: int | None = None  # ArSSR: queries per decoder call (None: 4096 on CPU, 2^18 on CUDA; speed only)
    snapshots: tuple[float, ...] = ()  # fractions of ``steps`` whose weights are kept (learning curves)
    snapshot_steps: tuple[int, ...] = ()  # and absolute steps (0: the untrained start)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if int(self.steps) < 1:
            raise ArssrError(f"training budget must be at least 1 step (got {self.steps})")
        if any(not 0 < float(f) <= 1 for f in self.snapshots):
            raise ArssrError(f"snapshots are fractions of the budget in (0, 1] (got {list(self.snapshots)})")

    def snapshot_at(self) -> list[int]:
        """The steps whose weights are kept as ``step-NNNNNN.pt`` (within the budget, sorted)."""
        at = {int(round(self.steps * float(f))) for f in self.snapshots}
        at |= {int(s) for s in self.snapshot_steps if 0 <= int(s) <= self.steps}
        return sorted(at)


def train_config(settings: dict[str, Any], **override: Any) -> TrainConfig:
    """A :class:`TrainConfig` from a profile's ``train`` section; a wall-clock budget
    (``max_minutes``) is refused: budgets are steps."""
    settings = {**settings, **override}
    if "max_minutes" in settings:
        raise ArssrError("training budgets are optimiser steps, not minutes: replace 'max_minutes' "
                         f"by 'steps' in the profile (got max_minutes={settings['max_minutes']})")
    known = set(TrainConfig.__dataclass_fields__)
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ArssrError(f"unknown training settings {unknown}; known: {sorted(known)}")
    return TrainConfig(**settings)


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


class RunBatches(Sampler):
    """The batches of a whole run from step ``start`` to ``steps``, as lists of
    ``(epoch, index)`` keys: epoch after epoch of :class:`EpochBatches`, so that one loader
    (one worker start) serves the run and the data of step ``n`` is the same whether the run
    was resumed or not."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int, steps: int, rank: int = 0, world: int = 1):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.start, self.steps, self.rank, self.world = int(start), int(steps), rank, world
        self.per_epoch = batches_per_epoch(n, batch_size)

    def __iter__(self):
        step = self.start
        while step < self.steps:
            epoch, first = divmod(step, self.per_epoch)
            for batch in EpochBatches(self.n, self.batch_size, self.seed, epoch, first, self.rank, self.world):
                yield [(epoch, i) for i in batch]
                step += 1
                if step >= self.steps:
                    return

    def __len__(self) -> int:
        return max(0, self.steps - self.start)


def batches_per_epoch(n: int, batch_size: int) -> int:
    nb = n // batch_size
    if nb == 0:
        raise ValueError(f"dataset of {n} samples is smaller than the batch size {batch_size}")
    return nb


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
        l1, psnr = _scores(pred, true)
        l1s += l1
        psnrs += psnr
    net.train(was)
    return {"val_l1": float(np.mean(l1s)), "val_psnr": float(np.mean(psnrs))}


def _scores(pred: torch.Tensor, true: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-sample L1 and PSNR (data range 1) of predictions clamped to [0, 1]."""
    pred, true = pred.clamp(0, 1).flatten(1), true.flatten(1)
    mse = ((pred - true) ** 2).mean(1).clamp_min(1e-12)
    return (pred - true).abs().mean(1).tolist(), (-10 * torch.log10(mse)).tolist()


@torch.no_grad()
def interpolation_psnr(samples: Sequence[dict[str, torch.Tensor]], arssr: bool) -> float:
    """Validation PSNR of plain interpolation: trilinear of the LR at the queries (ArSSR's
    identity start) or the cubic-upsampled input itself (a baseline's input)."""
    psnrs: list[float] = []
    for i in range(0, len(samples), 8):
        batch = collate(list(samples[i:i + 8]))
        if arssr:
            c = batch["coords"]
            grid = c.flip(-1).view(c.shape[0], 1, 1, -1, 3)
            pred = F.grid_sample(batch["lr"], grid, mode="bilinear", padding_mode="border",
                                 align_corners=False).flatten(1)
            psnrs += _scores(pred, batch["values"])[1]
        else:
            psnrs += _scores(batch["inp"], batch["target"])[1]
    return float(np.mean(psnrs))


def checkpoint_finished(path: str | Path, steps: int) -> bool:
    """True when ``path`` is a run's final checkpoint that reached ``steps``."""
    p = Path(path)
    if not p.exists():
        return False
    try:
        blob = read_checkpoint(p)
    except Exception:
        return False
    ts = blob.get("train_state") or {}
    return int(ts.get("step", blob.get("meta", {}).get("step", 0))) >= steps


def _allreduce_mean(t: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        dist.all_reduce(t)
        t /= world
    return t


def train(spec: dict[str, Any], dataset: Dataset, val_samples: Sequence[dict[str, torch.Tensor]],
          cfg: TrainConfig, out_dir: str | Path, resume: bool = True, init_from: str | Path | None = None,
          progress: bool = True, stop_after: int | None = None,
          meta: dict[str, Any] | None = None, continue_run: bool = False,
          fresh_best: bool = False) -> dict[str, Any]:
    """Train ``spec`` on ``dataset`` for ``cfg.steps`` optimiser steps; keep ``out_dir/last.pt``
    and ``out_dir/best.pt``.

    - ``resume``: continue from ``last.pt`` if present (exactly).
    - ``init_from``: start from another checkpoint's weights (same spec), new optimiser.
    - ``continue_run`` (with ``init_from``, a run's ``best.pt`` whose resume state is gone):
      go on with that run from the checkpoint's step towards a larger ``cfg.steps``. Its
      records up to that step are kept, the optimiser starts anew, and the new stretch in
      ``meta["segments"]`` says so and which later steps of the old run were discarded.
    - ``fresh_best`` (with ``continue_run``): the kept weights are chosen among this stretch's
      validations only (a cool-down at a lower lr), not against the old run's best score.
    - ``stop_after``: stop (as if killed) after this many steps of this call; for tests.
    - ``cfg.snapshots``/``cfg.snapshot_steps``: weights kept at those steps
      (:func:`snapshot_path`), for learning curves.
    Writes ``history.csv`` (per step: loss, lr, seconds since the start) and
    ``validation.csv`` (step 0 = before training). Returns a summary dict.
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
    segments: list[dict[str, Any]] = []  # where each resumed stretch of the run was trained
    continued = False
    start_psnr = interp_psnr = None
    last, best_path = out_dir / "last.pt", out_dir / "best.pt"
    if resume and last.exists():
        blob = load_into(last, model)
        ts = blob["train_state"]
        opt.load_state_dict(ts["optimizer"])
        sched.load_state_dict(ts["scheduler"])
        step, best, elapsed0 = int(ts["step"]), float(ts["best"]), float(ts.get("elapsed", 0.0))
        history, val_hist = list(ts["history"]), list(ts["validation"])
        start_psnr, interp_psnr = blob["meta"].get("start_val_psnr"), blob["meta"].get("interp_val_psnr")
        segments = _segments(blob["meta"])
        torch.set_rng_state(ts["torch_rng"])
    elif init_from is not None:
        blob = load_into(init_from, model)
        continued = continue_run
        if continue_run:
            step, history, val_hist, segments = _continue_from(blob, out_dir, device, precision, init_from)
            m = blob["meta"]
            best, elapsed0 = float(m.get("best_val_psnr", -math.inf)), float(m.get("elapsed_s", 0.0))
            if fresh_best:
                best = -math.inf
            start_psnr, interp_psnr = m.get("start_val_psnr"), m.get("interp_val_psnr")
    model = model.to(memory_format=torch.channels_last_3d)  # the convolutions' fast layout (CPU and CUDA)
    objective: nn.Module = L1Objective(model, cfg.chunk)
    if world > 1:
        objective = nn.parallel.DistributedDataParallel(
            objective, device_ids=[device.index] if device.type == "cuda" else None)
    model.train()
    if interp_psnr is None and val_samples:
        interp_psnr = interpolation_psnr(val_samples, arssr)
    if not segments or segments[-1]["device"] != str(device) or segments[-1]["precision"] != precision:
        segments.append({"from_step": step, "device": str(device), "precision": precision, "cpu": machine()["cpu"]})
    run_meta = {"config": {**asdict(cfg), "betas": list(cfg.betas)}, "precision": precision, "segments": segments,
                "device": str(device), "world_size": world, "machine": machine(), "interp_val_psnr": interp_psnr,
                "residual": bool(getattr(model, "residual", False)), **(meta or {})}

    def state(finished: bool) -> tuple[dict, dict]:
        ts = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "step": step, "best": best,
              "elapsed": elapsed0 + time.perf_counter() - t0, "history": history, "validation": val_hist,
              "torch_rng": torch.get_rng_state()}
        return ts, {**run_meta, "start_val_psnr": start_psnr, "finished": finished, "step": step,
                    "best_val_psnr": best, "elapsed_s": ts["elapsed"]}

    def save(finished: bool = False) -> None:
        if rank == 0:
            ts, m = state(finished)
            save_checkpoint(last, model, ts, m)
            _write_curves(out_dir, history, val_hist)

    def run_validation() -> None:
        nonlocal best, start_psnr
        v = validate(model, val_samples, device, precision)
        val_hist.append({"step": step, **v})
        if step == 0:
            start_psnr = v["val_psnr"]
        if v["val_psnr"] > best:
            best = v["val_psnr"]
            save_checkpoint(best_path, model, None, {**state(False)[1], "best_step": step})

    keep = set(cfg.snapshot_at())

    def snapshot() -> None:
        if rank == 0 and step in keep:
            save_checkpoint(snapshot_path(out_dir, step), model, None, {**state(False)[1], "snapshot": True})

    t0 = time.perf_counter()
    if continued and rank == 0:  # the kept weights now carry the record of their continuation
        save_checkpoint(best_path, model, None, {**state(False)[1], "best_step": step})
    if step == 0 and rank == 0 and val_samples:
        run_validation()  # the starting point
    if step == 0:
        snapshot()
    bar = None
    if progress and rank == 0:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.steps, initial=step, desc=f"train {spec['name']}", unit="step")
    sampler = RunBatches(len(dataset), cfg.batch_size, cfg.seed, step, cfg.steps, rank, world)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=cfg.num_workers,
                        prefetch_factor=4 if cfg.num_workers else None)
    done_here = 0
    for batch in loader:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        if step == 0 and arssr:
            with torch.no_grad(), autocast(device, precision):
                check_alive(model(batch["lr"][:1], batch["coords"][:1]), f"{spec['name']} decoder at step 0")
        with autocast(device, precision):
            loss = objective(batch)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        lr_used = opt.param_groups[0]["lr"]  # the lr of this step (before the scheduler moves it)
        sched.step()
        step += 1
        done_here += 1
        lval = _allreduce_mean(loss.detach().float(), world)
        history.append({"step": step, "loss": float(lval), "lr": lr_used,
                        "time_s": elapsed0 + time.perf_counter() - t0})
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{float(lval):.4f}")
        if rank == 0 and (step % cfg.val_every == 0 or step == cfg.steps) and val_samples:
            run_validation()
        snapshot()
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            save(finished=step >= cfg.steps)
        if stop_after is not None and done_here >= stop_after:
            break
    finished = step >= cfg.steps
    if bar is not None:
        bar.close()
    if rank == 0 and (finished or stop_after is None):
        save(finished=finished)
    if rank == 0 and not best_path.exists():
        save_checkpoint(best_path, model, None, {**state(finished)[1], "best_step": step})
    return {"step": step, "finished": finished, "best_val_psnr": best, "start_val_psnr": start_psnr,
            "interp_val_psnr": interp_psnr, "out_dir": str(out_dir),
            "seconds": elapsed0 + time.perf_counter() - t0, "precision": precision, "device": str(device)}


def _segments(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The stretches a checkpoint's run was trained in (one, from its own record, if it predates them)."""
    return list(meta.get("segments") or [{"from_step": 0, "device": meta.get("device"),
                                          "precision": meta.get("precision"),
                                          "cpu": (meta.get("machine") or {}).get("cpu")}])


def _continue_from(blob: dict[str, Any], out_dir: Path, device: torch.device, precision: str,
                   init_from: str | Path) -> tuple[int, list[dict], list[dict], list[dict]]:
    """(step, history, validation, segments) of a run continued from its checkpoint ``blob``:
    the records of ``out_dir`` up to the checkpoint's step, and a new stretch that says the
    optimiser was reset and which steps of the old run after it were dropped."""
    m = blob["meta"]
    step = int(m.get("best_step", m.get("step", 0)))
    hist, val = load_curves(out_dir)
    last = int(hist["step"].iloc[-1]) if len(hist) else step
    history = hist[hist["step"] <= step].to_dict("records") if len(hist) else []
    val_hist = val[val["step"] <= step].to_dict("records") if len(val) else []
    segments = _segments(m)
    segments.append({"from_step": step, "device": str(device), "precision": precision, "cpu": machine()["cpu"],
                     "continued_from": Path(init_from).name, "optimizer": "new",
                     "dropped_steps": [step + 1, last] if last > step else None})
    return step, history, val_hist, segments


def snapshot_path(out_dir: str | Path, step: int) -> Path:
    """Where a run keeps its weights after ``step`` optimiser steps."""
    return Path(out_dir) / f"step-{int(step):06d}.pt"


def training_verdict(meta: dict[str, Any], min_gain_db: float = MIN_GAIN_DB) -> str | None:
    """Why a run did not train (``None`` if it did), from a checkpoint's ``meta``.

    Not trained: validation never ran; or the best validation PSNR is not above the starting
    point by ``min_gain_db``. The starting point is the validation before the first step,
    and for a residual network (it adds to its cubic input) also that input itself."""
    best = meta.get("best_val_psnr")
    if best is None or not math.isfinite(float(best)):
        return "its validation never ran (no validation PSNR recorded)"
    start = meta.get("start_val_psnr")
    ref, what = None, ""
    if start is not None and math.isfinite(float(start)):
        ref, what = float(start), f"its starting point ({float(start):.2f} dB before step 1)"
    interp = meta.get("interp_val_psnr")
    if meta.get("residual") and interp is not None and (ref is None or float(interp) > ref):
        ref, what = float(interp), f"its cubic input ({float(interp):.2f} dB)"
    if ref is None:
        return None
    if float(best) <= ref + min_gain_db:
        return (f"its best validation PSNR {float(best):.2f} dB is no better than {what} "
                f"(needs > {min_gain_db} dB more)")
    return None


def require_trained(checkpoint: str | Path, setting: str = "the profile's steps",
                    val_samples: Sequence[dict[str, torch.Tensor]] | None = None,
                    min_gain_db: float = MIN_GAIN_DB) -> dict[str, Any]:
    """Raise :class:`UntrainedModelError` if the run behind ``checkpoint`` did not train; the
    message names the model, its steps and what to do. Returns the checkpoint's meta.

    A record that predates the step-0 validation has its starting point rebuilt (same seed
    and init as :func:`train`) and validated on ``val_samples`` when they are given."""
    blob = read_checkpoint(checkpoint)
    meta = dict(blob.get("meta", {}))
    if meta.get("start_val_psnr") is None and val_samples:
        cfg = meta.get("config", {})
        torch.manual_seed(int(cfg.get("seed", 0)))
        start = build_model(blob["spec"])
        if cfg.get("init") == "identity" and hasattr(start, "init_identity"):
            start.init_identity()
        meta["start_val_psnr"] = validate(start, val_samples, torch.device("cpu"), "fp32")["val_psnr"]
    why = training_verdict(meta, min_gain_db)
    if why:
        name = blob["spec"]["name"]
        scale = meta.get("scale")
        tag = name + (f" x{float(scale):g}" if scale else "")
        steps, seconds = meta.get("step"), meta.get("elapsed_s") or 0
        hist = Path(checkpoint).with_name("history.csv")
        if hist.is_file():  # the whole run, not the step its best weights are from
            h = pd.read_csv(hist)
            if len(h):
                steps, seconds = int(h["step"].iloc[-1]), float(h["time_s"].iloc[-1])
        raise UntrainedModelError(
            f"{tag} did not train: after {steps} steps ({meta.get('precision')}, "
            f"{float(seconds) / 60:.1f} min) {why}. Its results would only measure "
            f"the budget, so the study stops here. Raise its budget ({setting}), check the run's "
            f"history.csv beside {checkpoint}, then rerun with retrain.")
    return meta


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
