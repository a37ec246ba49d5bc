"""What more training seeds cost, on this study's 2-core CPU and on a lent GPU.

Run: ``python benchmarks/seed_cost.py [--profile cpu] [--seeds 3]``. For every compared model of
the profile (``arssr_core.study.pretrain.jobs``) it prints the step budget, the seconds per
step the training loop takes on the idle 2-core Xeon with native bf16 (the profile's
``budget.cpu_s_per_step``, measured with ``benchmarks/bench_train.py``), the idle-CPU hours of
one run, and the CPU hours for the runs still missing to reach ``--seeds`` per model (the
committed run is seed 0), in the order issue 35 asks: ArSSR-RDN, ResCNN x2-x4, then DCSRN and
SRCNN3D, then the ablation encoders. The GPU line is measured: four ArSSR-RDN runs of 12000 steps
side by side on one H100 took 386 s (``checkpoints/probe/matched-scratch/README.md``). Prints
figures only; the committed output is ``benchmarks/results/seed_cost.txt``.
"""

from __future__ import annotations

import argparse

from arssr_core.profiles import load_profile
from arssr_core.study.experiments import CONTINUED_SECTIONS
from arssr_core.study.pretrain import jobs

#: Four ArSSR-RDN runs of 12000 steps side by side on one H100 (bf16): 386 s (the matched-scratch probe).
H100_FOUR_RUNS_S = 386.0
ORDER = ("arssr-rdn", "rescnn", "dcsrn", "srcnn3d", "arssr-rescnn", "arssr-srresnet")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    rate = load_profile(args.profile)["budget"]["cpu_s_per_step"]
    rows = []
    for j in jobs(args.profile):
        if j.section in CONTINUED_SECTIONS:
            continue  # notebook 09's continued runs: beyond the issue's list
        key = j.tag if j.tag in rate else j.model if j.model in rate else f"arssr-{j.model}"
        hours = j.steps * rate[key] / 3600
        family = j.tag if j.tag.startswith("arssr") else j.model
        rows.append((ORDER.index(family) if family in ORDER else len(ORDER), j.tag, j.steps, rate[key], hours))
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


if __name__ == "__main__":
    main()
