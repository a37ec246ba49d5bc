"""Train every compared model of a profile at its matched step budget, outside the study's
clock, in resumable chunks, and score the kept snapshots for the learning curves.

The study's ``cpu`` profile gives each compared model (ArSSR-RDN, the ablation encoders,
the per-scale baselines at each scale) the idle-CPU time of ArSSR-RDN's 4000 steps,
converted to that model's own optimiser steps (``budget`` in the profile). Those runs are
many CPU-hours, so they are made here once and their weights and records committed under
``checkpoints/pretrained/<tag>/``; the notebooks then take them like ArSSR-RDN's.

A run is cut into chunks of ``chunk`` steps (exact resume between chunks,
:func:`arssr_core.train.train`), so a job stopped by ``stop_by`` or by a killed process
continues where it stopped and ends with the weights of an uninterrupted run. Jobs run in
parallel processes (one thread each): on a GPU they share the device.
"""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..profiles import load_profile


@dataclass(frozen=True)
class Job:
    """One compared model's run: profile ``section``, registry ``model``, ``scale`` (baselines),
    folder ``tag`` and its step budget."""

    section: str
    model: str
    scale: float | None
    tag: str
    steps: int
    seed: int = 0

    def overrides(self) -> dict[str, Any]:
        """The profile overrides of this job's training seed (none for seed 0, the committed
        runs): the seed of the initial weights, the batch order and the sample draw
        (:func:`arssr_core.study.experiments.training_draw`); snapshots are not kept."""
        if not self.seed:
            return {}
        return {f"{self.section}.train.seed": int(self.seed), f"{self.section}.train.snapshots": [],
                f"{self.section}.train.snapshot_steps": []}


def seed_tag(tag: str, seed: int) -> str:
    """The run folder of training seed ``seed`` of run ``tag``: ``tag`` itself for seed 0 (the
    committed run), else ``<tag>-s<seed>`` (``rescnn-x2-s1``)."""
    return tag if not seed else f"{tag}-s{int(seed)}"


def seed_jobs(profile: str, seeds: list[int], only: list[str] | None = None) -> list[Job]:
    """The jobs of training seeds ``seeds`` (each >= 0) of a profile's runs ``only`` (their seed-0
    tags; default all), in the order of ``only``. Continued runs (a section with ``from``) have
    one seed: theirs starts from ArSSR-RDN's weights."""
    from dataclasses import replace

    from ..errors import ArssrError
    from .experiments import CONTINUED_SECTIONS

    base = {j.tag: j for j in jobs(profile)}
    tags = list(base) if only is None else list(only)
    unknown = [t for t in tags if t not in base]
    if unknown:
        raise ArssrError(f"no run {unknown} in profile '{profile}'; runs: {', '.join(base)}")
    bad = [int(s) for s in seeds if int(s) < 0]
    if bad:
        raise ArssrError(f"training seeds are whole numbers >= 0 (got {bad})")
    out = []
    for t in tags:
        for s in seeds:
            if s and base[t].section in CONTINUED_SECTIONS:
                raise ArssrError(f"{t} continues ArSSR-RDN's weights: it has no training seeds")
            out.append(replace(base[t], tag=seed_tag(t, s), seed=int(s)))
    return out


def jobs(profile: str) -> list[Job]:
    """Every compared model of a profile with its step budget (ablation RDN is ArSSR-RDN's run)."""
    from .experiments import SECTION_TAGS, section_config

    cfg = load_profile(profile)
    out = [Job("arssr", "rdn", None, "arssr-rdn", section_config(cfg, "arssr", "arssr-rdn").steps)]
    for section, tag in SECTION_TAGS.items():  # beyond the paper: ArSSR-RDN continued (notebook 09)
        if cfg.get(section):
            out.append(Job(section, "rdn", None, tag, section_config(cfg, section, "rdn").steps))
    for enc in cfg["ablation"]["encoders"]:
        if enc != "rdn":
            out.append(Job("ablation", enc, None, f"arssr-{enc}", section_config(cfg, "ablation", enc).steps))
    b = cfg["baselines"]
    for model in b["models"]:
        for s in b["scales"]:
            out.append(Job("baselines", model, float(s), f"{model}-x{float(s):g}",
                           section_config(cfg, "baselines", model).steps))
    return out


def run_job(profile: str, job: Job, out_root: str | Path, chunk: int = 1000, stop_by: float | None = None,
            threads: int = 1) -> dict[str, Any]:
    """Train ``job`` into ``out_root/<tag>`` in chunks of ``chunk`` steps until its budget is
    reached or the clock passes ``stop_by`` (a ``time.time()``); returns its state. A committed
    run of a smaller budget (``best.pt`` and records, no ``last.pt``) is continued from its
    ``best.pt`` (:func:`arssr_core.train.train`'s ``continue_run``)."""
    import torch

    from .experiments import arssr_data, baseline_data, run_setup, start_weights
    from ..train import checkpoint_finished, read_checkpoint, train

    torch.set_num_threads(threads)
    cfg = load_profile(profile, job.overrides())
    out = Path(out_root) / job.tag
    spec, tcfg, meta = run_setup(cfg, profile, job.section, job.model, job.scale)
    meta = {**meta, "seed": job.seed}
    chunk = max(tcfg.ckpt_every, chunk // tcfg.ckpt_every * tcfg.ckpt_every)  # each chunk ends on a saved step

    def done() -> int:
        return int(read_checkpoint(out / "last.pt")["train_state"]["step"]) if (out / "last.pt").exists() else 0

    cool = (cfg.get(job.section) or {}).get("cooldown")
    if cool and (in_cooldown(out) or main_finished(out, tcfg.steps)):
        return run_cooldown(cfg, job, out, spec, tcfg, meta, cool, chunk, stop_by)
    step = done()
    if not (out / "last.pt").exists() and run_finished(out, tcfg.steps):
        return {"tag": job.tag, "step": tcfg.steps, "steps": tcfg.steps, "finished": True}  # a committed run
    if checkpoint_finished(out / "last.pt", tcfg.steps):
        return {"tag": job.tag, "step": step, "steps": tcfg.steps, "finished": True}
    ds, val = baseline_data(cfg, job.scale) if job.section == "baselines" else arssr_data(cfg, section=job.section)
    while not checkpoint_finished(out / "last.pt", tcfg.steps):
        if stop_by is not None and time.time() > stop_by:
            break
        # a committed run (no resume state) of a smaller budget goes on from its kept weights
        cont = not (out / "last.pt").exists() and (out / "best.pt").exists() and (out / "history.csv").exists()
        init = out / "best.pt" if cont else None if (out / "last.pt").exists() else start_weights(cfg, job.section)
        train(spec, ds, val, tcfg, out, resume=True, progress=False, stop_after=chunk, meta=meta,
              init_from=init, continue_run=cont)  # a resumed chunk (last.pt) needs no start weights
        if done() <= step:
            raise RuntimeError(f"{job.tag}: a chunk of {chunk} steps saved no progress (at step {step})")
        step = done()
    return {"tag": job.tag, "step": step, "steps": tcfg.steps, "finished": step >= tcfg.steps}


def cooldown_record(run: str | Path) -> dict[str, Any] | None:
    """``meta["cooldown"]`` of a run folder's latest state (``last.pt``, else ``best.pt``): where
    its cool-down started, or None when that state is not of a cool-down."""
    from ..train import read_checkpoint

    run = Path(run)
    src = run / "last.pt" if (run / "last.pt").exists() else run / "best.pt"
    return read_checkpoint(src)["meta"].get("cooldown") if src.exists() else None


def in_cooldown(run: str | Path) -> bool:
    """True when a run folder's latest state (``last.pt``, else ``best.pt``) is of its cool-down."""
    return cooldown_record(run) is not None


def main_finished(run: str | Path, steps: int) -> bool:
    """True when a run folder's main stretch reached ``steps``: its resume state, or its
    committed record (no ``last.pt``)."""
    from ..train import checkpoint_finished

    run = Path(run)
    return checkpoint_finished(run / "last.pt", steps) if (run / "last.pt").exists() else run_finished(run, steps)


def cooldown_config(tcfg: Any, start: int, cool: dict[str, Any]) -> Any:
    """The training config of a cool-down of ``cool["steps"]`` steps at ``cool["lr"]`` from step
    ``start`` (the budget is absolute: ``start + steps``; the lr is constant within it)."""
    from dataclasses import replace

    steps, lr = int(cool["steps"]), float(cool["lr"])
    if steps < 1 or not 0 < lr <= tcfg.lr:
        raise ValueError(f"a cool-down needs steps >= 1 and 0 < lr <= the run's lr {tcfg.lr:g} (got {cool})")
    return replace(tcfg, steps=start + steps, lr=lr, lr_step=max(tcfg.lr_step, start + steps + 1))


def run_cooldown(cfg: dict[str, Any], job: Job, out: Path, spec: dict[str, Any], tcfg: Any, meta: dict[str, Any],
                 cool: dict[str, Any], chunk: int, stop_by: float | None) -> dict[str, Any]:
    """A finished run's cool-down: from its kept weights (``best.pt``, a new Adam state) for
    ``cool["steps"]`` more steps at the lower ``cool["lr"]``; the weights kept after it are the
    best on validation within the cool-down (:func:`arssr_core.train.train`'s ``fresh_best``).
    Resumable in chunks like the main stretch; ``meta["cooldown"]`` records where it started."""
    from .experiments import arssr_data
    from ..train import read_checkpoint, train

    c = cooldown_record(out)
    if c is None:
        m = read_checkpoint(out / "best.pt")["meta"]
        c = {"from_step": int(m.get("best_step", m.get("step", 0))), "steps": int(cool["steps"]), "lr": float(cool["lr"])}
    if (c["steps"], c["lr"]) != (int(cool["steps"]), float(cool["lr"])):
        raise ValueError(f"{job.tag}: its cool-down {c} is not the profile's {cool}")
    ccfg = cooldown_config(tcfg, c["from_step"], cool)

    def done() -> bool:
        return main_finished(out, ccfg.steps) and cooldown_record(out) is not None

    if done():
        return {"tag": job.tag, "step": ccfg.steps, "steps": ccfg.steps, "finished": True}
    ds, val = arssr_data(cfg, section=job.section)
    while not done():
        if stop_by is not None and time.time() > stop_by:
            break
        started = (out / "last.pt").exists() and cooldown_record(out) is not None  # last.pt is of the cool-down
        before = int(read_checkpoint(out / "last.pt")["train_state"]["step"]) if started else -1
        train(spec, ds, val, ccfg, out, resume=started, progress=False, stop_after=chunk,
              meta={**meta, "cooldown": c}, init_from=None if started else out / "best.pt",
              continue_run=not started, fresh_best=True)
        if int(read_checkpoint(out / "last.pt")["train_state"]["step"]) <= before:
            raise RuntimeError(f"{job.tag}: a cool-down chunk of {chunk} steps saved no progress (at step {before})")
    step = int(read_checkpoint(out / "last.pt")["train_state"]["step"])
    return {"tag": job.tag, "step": step, "steps": ccfg.steps, "finished": step >= ccfg.steps}


def run_finished(run: str | Path, steps: int) -> bool:
    """True when a run folder's record (``history.csv``) reached ``steps``: a committed run
    (whose ``last.pt``, the resume state, is not committed) is never trained again."""
    hist = Path(run) / "history.csv"
    return hist.is_file() and len(h := pd.read_csv(hist, usecols=["step"])) > 0 and int(h["step"].iloc[-1]) >= steps


def run_jobs(profile: str, out_root: str | Path, workers: int = 1, chunk: int = 1000,
             stop_by: float | None = None, only: list[str] | None = None, threads: int = 1,
             seeds: list[int] | None = None) -> pd.DataFrame:
    """:func:`run_job` for every job of a profile (or the tags in ``only``), ``workers`` at a
    time in separate processes; with ``seeds``, those training seeds of each
    (:func:`seed_jobs`); one row per job."""
    from tqdm.auto import tqdm

    todo = (seed_jobs(profile, seeds, only) if seeds else
            [j for j in jobs(profile) if only is None or j.tag in only])
    rows = []
    if workers <= 1:
        for j in tqdm(todo, desc="pretrain"):
            rows.append(run_job(profile, j, out_root, chunk, stop_by, threads))
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            futs = [pool.submit(run_job, profile, j, out_root, chunk, stop_by) for j in todo]
            for f in tqdm(as_completed(futs), total=len(futs), desc="pretrain"):
                rows.append(f.result())
    return pd.DataFrame(rows).sort_values("tag").reset_index(drop=True)


def cpu_rate(cfg: dict[str, Any], tag: str) -> float | None:
    """Seconds per optimiser step on the idle 2-core CPU (the profile ``cfg``'s
    ``budget.cpu_s_per_step``) of run ``tag``, keyed by the run's tag (a training seed's
    ``-s<k>`` dropped) or, for a per-scale network, by its model (``rescnn-x2-s1`` -> ``rescnn``);
    None where the profile gives no rate."""
    rates = (cfg.get("budget") or {}).get("cpu_s_per_step", {})
    base = re.sub(r"-s\d+$", "", tag)
    return rates.get(base, rates.get(base.split("-x")[0]))


def snapshot_steps(run: str | Path) -> list[int]:
    """The steps whose weights a run folder kept (``step-NNNNNN.pt``)."""
    return sorted(int(p.stem.split("-")[1]) for p in Path(run).glob("step-*.pt"))


def kept_weights(run: str | Path) -> dict[int, Path]:
    """Step -> file of every set of weights a run folder kept: its snapshots, and its ``best.pt``
    at its best step where no snapshot holds that step (the point where a curve whose
    snapshots were not kept ends)."""
    from ..train import read_checkpoint

    run = Path(run)
    out = {s: run / f"step-{s:06d}.pt" for s in snapshot_steps(run)}
    if (run / "best.pt").exists():
        best = read_checkpoint(run / "best.pt")["meta"].get("best_step")
        if best is not None and int(best) not in out:
            out[int(best)] = run / "best.pt"
    return dict(sorted(out.items()))


def score_snapshots(profile: str, out_root: str | Path, scales: list[float] | None = None,
                    only: list[str] | None = None, progress: bool = True, cubic: bool = True,
                    skip: set[tuple[str, int]] | None = None) -> pd.DataFrame:
    """PSNR (dB, the profile's test region, data range 1) of every kept set of weights of every
    job (:func:`kept_weights`; ``skip``: (tag, step) pairs scored before): the learning curves.
    ArSSR models at each of ``scales`` (default: the baselines' scales), a baseline at its own
    scale; cubic interpolation as the reference per scale. ``cpu_minutes`` places a point on
    the idle-CPU clock of the profile's ``budget.cpu_s_per_step``."""
    from tqdm.auto import tqdm

    from ..data.degrade import downsample, resize_cubic
    from ..device import machine, pick_device
    from .evaluation import evaluation_volume
    from ..infer.engine import apply_cnn, load_sr_model, super_resolve
    from ..metrics import evaluate
    from ..train import read_checkpoint

    cfg = load_profile(profile)
    scales = [float(s) for s in (scales or cfg["baselines"]["scales"])]
    gt = evaluation_volume(profile)  # the profile's evaluation region (cpu: the whole volume)
    lrs = {s: downsample(gt, s) for s in scales}
    psnr = lambda sr: evaluate(np.clip(sr, 0, 1), gt, normalize=False, metrics=("psnr",))["psnr"]  # noqa: E731
    rows = [{"tag": "cubic", "model": "cubic", "scale": s, "step": 0, "psnr": psnr(resize_cubic(lrs[s], gt.shape))}
            for s in scales] if cubic else []
    dev = pick_device("auto")
    todo = [(j, st, path) for j in jobs(profile) if only is None or j.tag in only
            for st, path in kept_weights(Path(out_root) / j.tag).items() if (j.tag, st) not in (skip or set())]
    for job, step, path in tqdm(todo, desc="score snapshots", disable=not progress):
        model, _ = load_sr_model(path, device=dev)
        segs = read_checkpoint(path)["meta"].get("segments") or []
        cont = [g["from_step"] for g in segs if g.get("continued_from")]
        rate = cpu_rate(cfg, job.tag)
        for s in ([job.scale] if job.scale else scales):
            if job.scale:
                sr = apply_cnn(model, lrs[s], gt.shape, precision="fp32", device=dev)
            else:
                sr = super_resolve(model, lrs[s], gt.shape, precision="fp32", device=dev)
            rows.append({"tag": job.tag, "model": job.model, "section": job.section, "scale": s, "step": step,
                         "fraction": step / job.steps, "cpu_minutes": step * rate / 60 if rate else None,
                         "psnr": psnr(sr), "continued_from": cont[-1] if cont else None, "weights": path.name})
    df = pd.DataFrame(rows)
    df["scored_on"] = machine()["cpu"] + (f" + {dev}" if dev.type == "cuda" else "")
    return df


def _score_one(profile: str, out_root: str, tag: str | None, skip: set[tuple[str, int]] | None = None) -> pd.DataFrame:
    import torch

    torch.set_num_threads(1)
    return score_snapshots(profile, out_root, only=[tag] if tag else [], progress=False, cubic=tag is None,
                           skip=skip)


def score_all(profile: str, out_root: str | Path, workers: int = 1, only: list[str] | None = None,
              skip: set[tuple[str, int]] | None = None) -> pd.DataFrame:
    """:func:`score_snapshots` of every job (and cubic), ``workers`` jobs at a time."""
    tags = [None] + [j.tag for j in jobs(profile) if only is None or j.tag in only]
    if workers <= 1:
        parts = [_score_one(profile, str(out_root), t, skip) for t in tags]
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            parts = list(pool.map(_score_one, [profile] * len(tags), [str(out_root)] * len(tags), tags,
                                  [skip] * len(tags)))
    return pd.concat(parts, ignore_index=True)


def continued_from(run: str | Path) -> int | None:
    """The step from which a run folder's last continuation went on from its kept weights
    (``meta["segments"]`` of its ``best.pt``), or None if it never was continued."""
    from ..train import read_checkpoint

    best = Path(run) / "best.pt"
    if not best.exists():
        return None
    seg = [g for g in read_checkpoint(best)["meta"].get("segments") or [] if g.get("continued_from")]
    return int(seg[-1]["from_step"]) if seg else None


def merge_curves(old: pd.DataFrame, new: pd.DataFrame, out_root: str | Path, profile: str) -> pd.DataFrame:
    """Learning-curve rows of ``old`` that ``new`` does not replace, with ``new``: a run's old
    snapshot stays where it lies on the path of its final weights (at or before the step its
    last continuation started from, or scored from that continuation: ``continued_from``);
    ``fraction`` and ``cpu_minutes`` follow the current budgets."""
    budget = {j.tag: j.steps for j in jobs(profile)}
    cfg = load_profile(profile)
    fresh = set(zip(new["tag"], new["step"], new["scale"]))
    start = {tag: continued_from(Path(out_root) / tag) for tag in set(old["tag"]) & set(budget)}  # one read a run
    keep = []
    for r in old.itertuples(index=False):
        b = start.get(r.tag)
        on_path = b is None or r.step <= b or getattr(r, "continued_from", None) == b
        keep.append((r.tag, r.step, r.scale) not in fresh and on_path)
    df = pd.concat([old[keep], new], ignore_index=True)
    for tag, steps in budget.items():
        at = df["tag"] == tag
        rate = cpu_rate(cfg, tag)
        df.loc[at, "fraction"] = df.loc[at, "step"] / steps
        if rate:
            df.loc[at, "cpu_minutes"] = df.loc[at, "step"] * rate / 60
    return df.sort_values(["tag", "scale", "step"]).reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m arssr_core.study.pretrain``: train (and score) a profile's compared models."""
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="cpu")
    p.add_argument("--out", default="checkpoints/pretrained", help="folder of the run folders")
    p.add_argument("--workers", type=int, default=1, help="jobs in parallel (processes)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of a job (with --workers 1)")
    p.add_argument("--chunk", type=int, default=1000, help="steps per resumable chunk")
    p.add_argument("--stop-after-s", type=float, default=None,
                   help="start no new chunk after this many seconds (the run resumes next time)")
    p.add_argument("--only", nargs="*", default=None, help="run tags (e.g. rescnn-x2 arssr-rdn)")
    p.add_argument("--seeds", nargs="*", type=int, default=None,
                   help="training seeds of each run (0: the committed run; 1 -> <tag>-s1, ...)")
    p.add_argument("--score", action="store_true", help="score the kept weights into learning_curves.csv")
    p.add_argument("--only-new", action="store_true",
                   help="score only the (run, step) points that learning_curves.csv does not hold yet")
    a = p.parse_args(argv)
    stop_by = time.time() + a.stop_after_s if a.stop_after_s else None
    state = run_jobs(a.profile, a.out, a.workers, a.chunk, stop_by, a.only, a.threads, a.seeds)
    print(state.to_string(index=False))
    if a.score:
        from ..io_utils import atomic_path

        path = Path(a.out) / "learning_curves.csv"
        skip = None
        if a.only_new and path.exists():
            old = pd.read_csv(path)
            skip = set(zip(old["tag"], old["step"].astype(int)))
        df = score_all(a.profile, a.out, a.workers, a.only, skip)
        if path.exists():  # rows scored before (other runs, earlier stretches) stay
            df = merge_curves(pd.read_csv(path), df, a.out, a.profile)
        with atomic_path(path) as tmp:
            df.to_csv(tmp, index=False)
        print(df.to_string(index=False))
    return 0 if state["finished"].all() else 3


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
