"""What more training seeds cost, on this study's 2-core CPU and on a lent GPU.

Run: ``python benchmarks/seed_cost.py [--profile cpu] [--seeds 3]``. For every compared model of
the profile (``arssr_core.study.pretrain.jobs``) it prints the step budget, the seconds per
step the training loop takes on the idle 2-core Xeon with native bf16 (the profile's
``budget.cpu_s_per_step``, measured with ``benchmarks/bench_train.py``), the idle-CPU hours of
one run, and the CPU hours for the runs still missing to reach ``--seeds`` per model (the
committed run is seed 0), in the order issue 35 asks: ArSSR-RDN, ResCNN x2-x4, then DCSRN and
SRCNN3D, then the ablation encoders. The GPU line is measured: four ArSSR-RDN runs of 12000 steps
side by side on one H100 took 386 s (``checkpoints/probe/matched-scratch/README.md``). Then the
seeds as they were trained: every seed folder under the profile's ``pretrained_root`` (finished,
still training, or missing), the seconds per step its record measured (``history.csv``'s
``time_s``: one thread at nice 19 beside the study's other work, so slower than the idle rate),
where it ran, and the hours the missing and unfinished seeds need at that measured rate. Prints
figures only; the committed output is ``benchmarks/results/seed_cost.txt``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from arssr_core.profiles import load_profile
from arssr_core.study.experiments import CONTINUED_SECTIONS
from arssr_core.paths import REPO_ROOT
from arssr_core.study.pretrain import cpu_rate, jobs, run_finished, seed_tag

#: Four ArSSR-RDN runs of 12000 steps side by side on one H100 (bf16): 386 s (the matched-scratch probe).
H100_FOUR_RUNS_S = 386.0
ORDER = ("arssr-rdn", "rescnn", "dcsrn", "srcnn3d", "arssr-rescnn", "arssr-srresnet")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    cfg = load_profile(args.profile)
    rows = []
    for j in jobs(args.profile):
        if j.section in CONTINUED_SECTIONS:
            continue  # notebook 09's continued runs: beyond the issue's list
        s_step = cpu_rate(cfg, j.tag)
        hours = j.steps * s_step / 3600
        family = j.tag if j.tag.startswith("arssr") else j.model
        rows.append((ORDER.index(family) if family in ORDER else len(ORDER), j.tag, j.steps, s_step, hours))
    more = args.seeds - 1
    print(f"# {args.profile} profile; idle 2-core Xeon with AMX (native bf16), 2 threads; {args.seeds} seeds per model "
          f"(seed 0 committed: {more} more each)")
    print(f"{'run':16s} {'steps':>6s} {'s/step':>7s} {'h/run':>6s} {'h for the rest':>15s} {'cumulative h':>13s}")
    total = 0.0
    for _, tag, steps, s, h in sorted(rows):
        total += more * h
        print(f"{tag:16s} {steps:6d} {s:7.3f} {h:6.2f} {more * h:15.2f} {total:13.2f}")
    print(f"GPU (H100, measured for ArSSR-RDN): four 12000-step runs side by side in {H100_FOUR_RUNS_S:.0f} s: "
          f"the {more} missing ArSSR-RDN seeds, run side by side, in about {H100_FOUR_RUNS_S / 60:.1f} GPU minutes")
    seeds_as_trained(args.profile, [(tag, steps) for _, tag, steps, _, _ in sorted(rows)], args.seeds)


def seeds_as_trained(profile: str, runs: list[tuple[str, int]], seeds: int) -> None:
    """Each seed folder's state and measured seconds per step; hours left at the measured rate."""
    from arssr_core.train import read_checkpoint

    root = REPO_ROOT / load_profile(profile)["pretrained_root"]
    print(f"\n# seeds as trained (under {root.relative_to(REPO_ROOT)}): seconds per step from each record's time_s")
    print(f"{'seed run':18s} {'state':>12s} {'steps':>12s} {'s/step':>7s} {'threads':>7s} {'where':>22s}")
    rates: dict[str, float] = {}
    todo: list[tuple[str, float]] = []
    for tag, steps in runs:
        for k in range(1, seeds):
            d: Path = root / seed_tag(tag, k)
            hist = d / "history.csv"
            h = pd.read_csv(hist) if hist.is_file() else pd.DataFrame()
            done = int(h["step"].iloc[-1]) if len(h) else 0
            state = ("finished" if (d / "best.pt").is_file() and not (d / "last.pt").exists() and run_finished(d, steps)
                     else "training" if done else "missing")
            where, threads, rate = "", "", float("nan")
            if len(h) > 1:
                rate = float(h["time_s"].iloc[-1] - h["time_s"].iloc[0]) / (int(h["step"].iloc[-1]) - int(h["step"].iloc[0]))
                rates.setdefault(tag.split("-x")[0], rate)
                ck = d / "last.pt" if (d / "last.pt").exists() else d / "best.pt"
                m = read_checkpoint(ck)["meta"].get("machine", {}) if ck.is_file() else {}
                where, threads = f"{m.get('gpu') or 'cpu'} ({read_checkpoint(ck)['meta'].get('precision', '?')})" if m else "", m.get("threads", "")
            if state != "finished":
                todo.append((tag, steps - done))
            print(f"{seed_tag(tag, k):18s} {state:>12s} {f'{done}/{steps}':>12s} {rate:7.3f} {threads!s:>7s} {where:>22s}")
    left = [(t, n, rates.get(t.split("-x")[0])) for t, n in todo]
    known = sum(n * r for _, n, r in left if r)
    unknown = sorted({t.split("-x")[0] for t, _, r in left if not r})
    print(f"steps left: {sum(n for _, n, _ in left)}; at the measured rates {known / 3600:.1f} h"
          + (f" (no measured rate yet for {', '.join(unknown)})" if unknown else ""))
    need = [(t, n, r) for t, n, r in left if t == "arssr-rdn" or t.startswith("rescnn-x")]
    print(f"of which ArSSR-RDN and ResCNN x2-x4 (the models issue 35 asks three seeds of): "
          f"{sum(n for _, n, _ in need)} steps, {sum(n * r for _, n, r in need if r) / 3600:.1f} h at the measured rates "
          f"(one thread, nice 19, beside the study's other work)")


if __name__ == "__main__":
    main()
