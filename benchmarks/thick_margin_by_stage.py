"""ArSSR-thick's margin over its isotropic control at each committed stage of their training.

Run: ``python benchmarks/thick_margin_by_stage.py [--region N] [--threads N]`` (in a git clone
with its history; about 5 minutes a stage, 21 minutes for the four, on 2 CPU cores).

Issue 15 asks ArSSR-thick to beat ArSSR-iso by 0.5 dB PSNR at 1x1x3 and 1x1x5 mm along every
axis while losing at most 0.1 dB at x2 to x4. Both runs were committed at each stage (their
``best.pt`` after 2000, 10000 and 22500 steps, and after the 2500-step cool-down at a tenth of
the learning rate, each the weights best on the run's own validation: ``meta["best_step"]``;
the last stage's margins are notebook 09's). Would more of the same training reach the
targets? This script takes each committed pair from the git history (``git log`` of the run
folders), and scores both on notebook 09's test region (Colin27, the profile's brain-centred cube) at the
issue's requests, with the paper's cubic degradation and fp32 inference as in the notebook.
Prints the PSNR of each and the margin (thick minus iso, dB) per stage: figures, no asserts.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from arssr_core.checkpoint import read_checkpoint
from arssr_core.data.degrade import downsample
from arssr_core.paths import REPO_ROOT
from arssr_core.profiles import load_profile
from arssr_core.study import thick_slices
from arssr_core.study.evaluation import Method, score_grid, super_resolve_with

RUNS = {"ArSSR-thick": "checkpoints/pretrained/arssr-rdn-aniso/best.pt",
        "ArSSR-iso": "checkpoints/pretrained/arssr-rdn-iso/best.pt"}
#: Issue 15's requests: 3 and 5 mm slices along each axis, and isotropic x2 to x4.
REQUESTS = thick_slices.thick_requests([3, 5], (0, 1, 2), iso=[2, 3, 4])


def git(*args: str) -> bytes:
    return subprocess.run(["git", "-C", str(REPO_ROOT), *args], check=True, capture_output=True).stdout


def stages() -> list[str]:
    """Commits (oldest first) where both runs' ``best.pt`` were committed together."""
    logs = [set(git("log", "--format=%H", "--", p).decode().split()) for p in RUNS.values()]
    ordered = git("log", "--reverse", "--format=%H", "--", *RUNS.values()).decode().split()
    return [c for c in ordered if all(c in s for s in logs)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--region", type=int, default=None, help="a brain-centred cube (default: notebook 09's region)")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    region = args.region or load_profile(args.profile)["thick_slices"]["region"]
    gt = thick_slices.evaluation_region(args.profile, region)
    lrs = {k: downsample(gt, f, profile="cubic") for k, f in REQUESTS.items()}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for commit in stages():
            t0, srs, kept = time.time(), {}, {}
            for name, path in RUNS.items():
                ckpt = Path(tmp) / f"{commit[:7]}-{Path(path).parent.name}.pt"
                ckpt.write_bytes(git("show", f"{commit}:{path}"))
                kept[name] = int(read_checkpoint(ckpt)["meta"]["best_step"])
                for k, f in REQUESTS.items():
                    srs[(name, k)] = super_resolve_with(Method(name, "arssr", str(ckpt)), lrs[k], gt.shape, f,
                                                        args.profile, precision="fp32")
            tab = score_grid(gt, srs, metrics=("psnr",), progress=False)
            wide = tab.pivot(index="scale", columns="method", values="psnr").reindex(list(REQUESTS))
            for req, r in wide.iterrows():
                rows.append({"commit": commit[:7], "thick step": kept["ArSSR-thick"], "iso step": kept["ArSSR-iso"],
                             "request": req, "ArSSR-thick": r["ArSSR-thick"], "ArSSR-iso": r["ArSSR-iso"],
                             "thick - iso": r["ArSSR-thick"] - r["ArSSR-iso"]})
            print(f"stage {commit[:7]}: kept steps thick {kept['ArSSR-thick']}, iso {kept['ArSSR-iso']} "
                  f"({time.time() - t0:.0f} s)", flush=True)
    df = pd.DataFrame(rows)
    print(f"\nColin27 test region ({region}, brain-centred), cubic degradation, fp32; PSNR (dB)\n")
    print(df.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    margin = df.pivot(index="request", columns="commit", values="thick - iso").reindex(list(REQUESTS))
    margin = margin[list(dict.fromkeys(df["commit"]))]
    margin.columns = [f"{c} (thick {s})" for c, s in dict(zip(df["commit"], df["thick step"])).items()]
    print("\nthick - iso (dB) per stage; targets: >= +0.50 at 1x1x3 and 1x1x5 on every axis, >= -0.10 at x2-x4\n")
    print(margin.to_string(float_format=lambda v: f"{v:+.2f}"))


if __name__ == "__main__":
    main()
