"""Helper for tests/test_train.py: train a tiny ArSSR with ``arssr_core.train.train`` on a
small real volume, in its own process.

Run under ``torchrun --nproc-per-node 2`` (CPU, gloo) for the DDP test, or as a plain
``python tests/ddp_worker.py`` for the kill-and-resume test (``--slow`` makes each
sample take longer so that the run can be killed part way). Every rank saves its final
weights to ``OUT/weights_rank{r}.pt`` and its summary to ``OUT/summary_rank{r}.json``.

The tiny configuration (``TINY_SPEC``, :func:`make_data`, :func:`tiny_config`) is shared
with test_train.py, which imports this file, so that the in-process reference runs train
exactly the same thing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

TINY_SPEC = {
    "name": "arssr-rdn",
    "args": {"blocks": 1, "channels": 8, "growth": 8, "out_channels": 16,
             "decoder_spec": {"name": "arssr_mlp", "args": {"hidden": 32}}},
}


def make_data(volume: np.ndarray, seed: int = 0, slow: float = 0.0, samples_per_volume: int = 8):
    """(training dataset, 4 validation samples): LR 4^3 patches of scale 2..4 from 16^3 crops, k=200."""
    from arssr_core.data.sampling import ArSSRPatches, fixed_samples

    class Patches(ArSSRPatches):
        def __getitem__(self, index):
            if slow:
                time.sleep(slow)
            return super().__getitem__(index)

    ds = Patches([volume], samples_per_volume=samples_per_volume, crop=16, lr_size=4, k=200, seed=seed)
    val = fixed_samples(ArSSRPatches([volume], samples_per_volume=4, crop=16, lr_size=4, k=200, seed=seed + 1), 4)
    return ds, val


def tiny_config(**kw):
    from arssr_core.train import TrainConfig

    base = dict(steps=4, batch_size=4, lr=1e-3, lr_step=3, val_every=2, ckpt_every=2, seed=0,
                num_workers=0, precision="fp32", device="cpu")
    return TrainConfig(**{**base, **kw})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--volume", required=True, help=".npy volume in [0, 1]")
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--ckpt-every", type=int, default=2)
    p.add_argument("--val-every", type=int, default=2)
    p.add_argument("--slow", type=float, default=0.0, help="seconds of sleep per sample")
    args = p.parse_args(argv)

    torch.set_num_threads(1)
    import arssr_core.train as tr

    built = []
    real_build = tr.build_model

    def capture(*a, **k):  # keep a handle on the model train() builds, to save its weights
        m = real_build(*a, **k)
        built.append(m)
        return m

    tr.build_model = capture
    volume = np.load(args.volume)
    ds, val = make_data(volume, slow=args.slow)
    cfg = tiny_config(steps=args.steps, batch_size=args.batch_size, ckpt_every=args.ckpt_every,
                      val_every=args.val_every)
    summary = tr.train(TINY_SPEC, ds, val, cfg, args.out, resume=True, progress=False)
    rank, world = tr._dist_info()
    out = Path(args.out)
    torch.save({k: v.detach().clone() for k, v in built[-1].state_dict().items()}, out / f"weights_rank{rank}.pt")
    (out / f"summary_rank{rank}.json").write_text(json.dumps({**summary, "rank": rank, "world": world,
                                                             "pid": os.getpid()}))
    if world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
