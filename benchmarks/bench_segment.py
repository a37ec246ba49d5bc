"""Seconds for the 6-region ANTs segmentation of one full-size Colin27 (181 x 217 x 181, 1 mm).

Run: ``python benchmarks/bench_segment.py [--cache-dir DIR] [--also-multithreaded]``.
Prints figures only (no timed asserts), wall and CPU seconds (the machine is shared). Times: the registration (template -> subject,
priors warped; once per subject), reading it back from the cache, and Atropos on the
ground truth with the registration cached (target <= 150 s on the 2-core CPU). Then, as a
sense of scale for the Dice table, Atropos on two altered copies: Gaussian noise
(sigma 0.01) and a Gaussian blur (sigma 1 voxel), with their Dice against the ground truth.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy.ndimage import gaussian_filter

from arssr_core import segment as seg
from arssr_core.data.sources import source_path


class _Clock:
    """Wall seconds and CPU seconds (this process and its children, all threads) of a block.

    On a shared machine the wall time depends on the load; the CPU time does not (much):
    a one-thread job's CPU time is its wall time on an idle core.
    """

    def __enter__(self) -> "_Clock":
        self._w, self._c = time.perf_counter(), self._cpu()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self._w, self._cpu() - self._c

    @staticmethod
    def _cpu() -> float:
        ch = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + ch.ru_utime + ch.ru_stime

    def __str__(self) -> str:
        return f"{self.wall:7.2f} s wall {self.cpu:7.2f} s cpu"


def _dice(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    out = {}
    for k, name in seg.REGION_NAMES.items():
        ia, ib = a == k, b == k
        out[name] = round(2 * float(np.count_nonzero(ia & ib)) / max(int(ia.sum() + ib.sum()), 1), 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cache-dir", type=Path, default=None,
                    help="registration cache (default: a fresh temporary folder, so it is timed)")
    ap.add_argument("--also-multithreaded", action="store_true",
                    help="also time the in-process multi-threaded registration (deterministic=False)")
    args = ap.parse_args()

    img = nib.as_closest_canonical(nib.load(source_path("colin27", "ch2bet.nii.gz")))
    gt = np.asarray(img.dataobj, dtype=np.float32)
    gt = (gt - gt.min()) / (gt.max() - gt.min())
    affine = img.affine
    print(f"volume {gt.shape}, cpus {os.cpu_count()}, "
          f"ITK threads {os.environ.get('ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS')}")

    with tempfile.TemporaryDirectory(prefix="bench_segment_") as tmp:
        cache = args.cache_dir or Path(tmp)
        with _Clock() as c:
            priors = seg.register_atlas(gt, affine, cache)
        what = "read from cache" if priors.from_cache else "computed, child process, 1 ITK thread"
        print(f"registration       {c}   ({what}; took {priors.seconds:.1f} s wall when computed)")
        if args.also_multithreaded:
            with _Clock() as c:
                seg.register_atlas(gt, affine, None, deterministic=False)
            print(f"registration (MT)  {c}   (in-process, ITK threads as above)")
        with _Clock() as c:
            priors = seg.register_atlas(gt, affine, cache)
        print(f"registration again {c}   (from cache: {priors.from_cache})")

    with _Clock() as c:
        labels = seg.segment(gt, affine, priors)
    print(f"segment (Atropos)  {c}   ground truth, registration cached")
    counts = {name: int((labels == k).sum()) for k, name in seg.REGION_NAMES.items()}
    means = {k: round(v, 4) for k, v in seg.region_means(gt, labels).items()}
    print(f"voxels per region  {counts}")
    print(f"mean intensity     {means}")
    atlas = priors.atlas_labels()
    print(f"Dice vs atlas argmax {_dice(labels, atlas)}")

    rng = np.random.default_rng(0)
    altered = {
        "noise 0.01": gt + rng.normal(0, 0.01, gt.shape).astype(np.float32),
        "blur 1 vox": gaussian_filter(gt, 1.0),
    }
    for name, vol in altered.items():
        with _Clock() as c:
            lab = seg.segment(vol, affine, priors)
        print(f"segment {name:10s} {c}   Dice vs GT {_dice(lab, labels)}")


if __name__ == "__main__":
    main()
