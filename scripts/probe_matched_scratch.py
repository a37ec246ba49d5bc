"""Probe for issue 15: ArSSR-thick and its isotropic control, each trained from scratch at
ArSSR-RDN's budget, at two data seeds.

Issue 15 asks for the thick-slice model "trained at the same budget as ArSSR-RDN". Notebook
09's committed pair does something else: both runs continue ArSSR-RDN's 12000 steps for 22500
more (and a cool-down), so their margin is that of a long fine-tuning. This probe trains the
pair the issue names: from the identity initialisation, with ArSSR-RDN's whole recipe (profile
section ``arssr``: 12000 steps, batch 6, lr 2e-4 constant, L1, K 3000, bf16 where native),
uninterrupted, one run with ArSSR-thick's samples (section ``anisotropic``'s ``sampling``: half
thick-slice, half the paper's isotropic draw) and one with the paper's isotropic samples only
(ArSSR-RDN's own recipe, run in one piece). Two data seeds (0: ArSSR-RDN's; 1) give the spread
of the margin from one training draw to the next. Nothing in the package changes: the profile
is copied and edited in this process.

    python scripts/probe_matched_scratch.py train OUT --sampling thick|iso --seed S [--until N]
                                                  [--deadline-s T] [--chunk C] [--threads T]

``train`` goes on in resumable chunks (exact resume from ``OUT/last.pt``) until step N (default:
ArSSR-RDN's budget) or, between chunks, until T seconds have passed; rerun it to go on. The
weights kept are the best on the run's own validation samples (``best.pt``), as every committed
run's. Score and compare the kept weights with ``scripts/probe_native_inplane.py score`` and
``table`` (issue 15's requests on the validation slabs and notebook 09's Colin27 cube).
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch

from arssr_core.checkpoint import read_checkpoint
from arssr_core.profiles import load_profile

SECTIONS = {"thick": "anisotropic", "iso": "isotropic_control"}


def probe_config(sampling: str, seed: int) -> tuple[dict, str]:
    """(profile config, section) of one probe run: the section's samples at ``seed``, ArSSR-RDN's
    training recipe and identity start (no ``from``)."""
    cfg = copy.deepcopy(load_profile("cpu"))
    section = SECTIONS[sampling]
    thick_samples = cfg["anisotropic"]["sampling"]
    cfg[section] = {"seed": int(seed), "train": {**cfg["arssr"]["train"], "snapshots": [], "snapshot_steps": []}}
    if sampling == "thick":
        cfg[section]["sampling"] = thick_samples
    return cfg, section


def train(out: Path, sampling: str, seed: int, until: int | None, deadline_s: float | None,
          chunk: int, threads: int) -> int:
    """Train one probe run into ``out``; returns the step it reached."""
    from arssr_core.study.experiments import arssr_data, run_setup
    from arssr_core.train import train as train_loop

    stop_by = time.time() + deadline_s if deadline_s is not None else None  # from the process's start
    torch.set_num_threads(threads)
    cfg, section = probe_config(sampling, seed)
    spec, tcfg, meta = run_setup(cfg, "cpu", section, "rdn")
    until = min(until or tcfg.steps, tcfg.steps)
    chunk = max(tcfg.ckpt_every, chunk // tcfg.ckpt_every * tcfg.ckpt_every)  # each chunk ends on a saved step
    meta = {**meta, "probe": "matched_scratch", "sampling_kind": sampling, "seed": int(seed)}
    ds, val = arssr_data(cfg, section=section)
    out.mkdir(parents=True, exist_ok=True)
    last = out / "last.pt"
    step = int(read_checkpoint(last)["train_state"]["step"]) if last.exists() else 0
    while step < until and (stop_by is None or time.time() < stop_by):
        t0 = time.time()
        train_loop(spec, ds, val, tcfg, out, resume=True, progress=False, stop_after=chunk,
                   meta=meta)
        now = int(read_checkpoint(last)["train_state"]["step"])
        if now <= step:
            raise RuntimeError(f"{out}: a chunk saved no progress (at step {step})")
        print(f"{out.name} step {now}: {(time.time() - t0) / (now - step) * 1000:.1f} ms/step", flush=True)
        step = now
    kept = read_checkpoint(out / "best.pt")["meta"].get("best_step") if (out / "best.pt").exists() else None
    print(f"{out.name}: step {step} of {tcfg.steps}; kept step {kept}", flush=True)
    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("out", type=Path)
    t.add_argument("--sampling", choices=sorted(SECTIONS), required=True)
    t.add_argument("--seed", type=int, required=True)
    t.add_argument("--until", type=int, default=None, help="stop at this step (default: the budget)")
    t.add_argument("--deadline-s", type=float, default=None, help="start no chunk after this many seconds")
    t.add_argument("--chunk", type=int, default=1000, help="steps per resumable chunk")
    t.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    train(a.out, a.sampling, a.seed, a.until, a.deadline_s, a.chunk, a.threads)


if __name__ == "__main__":
    main()
