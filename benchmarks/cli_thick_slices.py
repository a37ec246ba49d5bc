"""Thick slices to isotropic through ``arssr upsample``, on a real scan no model trained on.

Run: ``python benchmarks/cli_thick_slices.py [--scan mrbraintumor2|mrhead] [--thick 3 5] [--threads N]``.

Issue 15 measured, through the command line, ArSSR 29.30 dB against cubic 29.26 dB at
(1, 1, 3) on a scan outside the study, where notebook 09 finds ArSSR well above cubic on
the test subject. This script repeats the measurement end to end on files. The default scan,
``MRBrainTumor2`` (qtim registry package; 256 x 256 x 130 at 0.94 x 0.94 x 1.2 mm, a
contrast-enhanced T1 with skull and a tumour), is in no model's training data (notebook 04
tests on it). ``--scan mrhead`` takes Slicer's ``MRHead`` (the same package, 1 x 1 x 1.3 mm),
which **is a training volume** of every committed model (all but its posterior validation
slab): a number on it shows what a model does on data it has seen, not on a user's scan.
The scan is normalised as the study's real scans (``data.nifti.normalise``, robust), cut to a
head-centred 160 x 160 x 120 box (a multiple of 3 and 5 slices, so that the LR grid covers
the same field of view), down-sampled along its last axis by the study's cubic degradation
with its world placement (``data.nifti.resampled_affine``), written as NIfTI,
super-resolved by ``arssr upsample`` with each method (a per-axis scale: its voxel size is
kept), read back, checked to land on the ground truth's grid (shape and affine) and scored:
PSNR and SSIM on the whole box (data range 1) and PSNR inside the head (ground truth > 0.05).
Prints figures only.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from arssr_core.cli import main as arssr
from arssr_core.data.degrade import downsample
from arssr_core.data.nifti import normalise, resampled_affine
from arssr_core.data.prepare import shift_affine
from arssr_core.data.sources import source_path
from arssr_core.data.volumes import foreground_box
from arssr_core.metrics import psnr, ssim
from arssr_core.paths import checkpoints_dir

BOX = (160, 160, 120)
SCANS = {"mrbraintumor2": "MRBrainTumor2.nii.gz", "mrhead": "MRHead.nii.gz"}  # --scan -> qtim file
METHODS = {  # label -> arguments of `arssr upsample`
    "Cubic": ["--method", "cubic"],
    "ArSSR": ["--method", "arssr"],
    "ArSSR-iso": ["--checkpoint", str(checkpoints_dir("pretrained") / "arssr-rdn-iso" / "best.pt")],
    "ArSSR-thick": ["--method", "arssr-thick"],
}


def head_box(volume: np.ndarray, size: tuple[int, int, int]) -> tuple[slice, ...]:
    """A box of ``size`` voxels centred on the head's bounding box, kept inside the volume."""
    centre = [(b.start + b.stop) // 2 for b in foreground_box(volume, threshold=0.1)]
    starts = [min(max(0, c - n // 2), m - n) for c, n, m in zip(centre, size, volume.shape)]
    return tuple(slice(a, a + n) for a, n in zip(starts, size))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scan", choices=sorted(SCANS), default="mrbraintumor2",
                    help="mrbraintumor2: in no model's training data; mrhead: a training volume")
    ap.add_argument("--thick", type=int, nargs="+", default=[3, 5], help="slice factors along the last axis")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: PyTorch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    img = nib.load(source_path("qtim", SCANS[args.scan]))
    v = normalise(np.asarray(img.dataobj, dtype=np.float32), "robust")
    box = head_box(v, BOX)
    gt = np.ascontiguousarray(v[box])
    affine = shift_affine(img.affine, [b.start for b in box])
    head = gt > 0.05
    print(f"{SCANS[args.scan].split('.')[0]} {v.shape} at {tuple(round(float(z), 2) for z in img.header.get_zooms())} mm; "
          f"box {gt.shape}; torch threads {torch.get_num_threads()}")
    print(f"{'request':10s} {'method':12s} {'PSNR':>7s} {'PSNR head':>9s} {'SSIM':>7s} {'seconds':>8s}")
    with tempfile.TemporaryDirectory() as tmp:
        for s in args.thick:
            lr = downsample(gt, (1, 1, s))
            lr_path = Path(tmp) / f"lr{s}.nii.gz"
            nib.save(nib.Nifti1Image(lr, resampled_affine(affine, gt.shape, lr.shape)), lr_path)
            for label, how in METHODS.items():
                out = Path(tmp) / f"sr{s}_{label}.nii.gz"
                t0 = time.perf_counter()
                arssr(["upsample", str(lr_path), "-o", str(out), "--scale", "1", "1", str(s), *how, "-q"])
                dt = time.perf_counter() - t0
                res = nib.load(out)
                sr = np.clip(np.asarray(res.dataobj, dtype=np.float32), 0, 1)
                if sr.shape != gt.shape or not np.allclose(res.affine, affine, atol=1e-4):
                    raise SystemExit(f"{label}: output grid {sr.shape} {res.affine.tolist()} is not the ground truth's")
                head_psnr = 10 * np.log10(1 / np.mean((gt[head] - sr[head]) ** 2))
                print(f"1x1x{s:<6d} {label:12s} {psnr(gt, sr):7.2f} {head_psnr:9.2f} {ssim(gt, sr):7.4f} {dt:8.0f}",
                      flush=True)


if __name__ == "__main__":
    main()
