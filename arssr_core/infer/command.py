"""The ``arssr upsample`` command: read a NIfTI (or a DICOM series), super-resolve it, write a
NIfTI atomically.

All checks that do not need the model run first (output path, input file, output grid
size), so a bad request fails in a second, and a failure at any point leaves no file.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..data.nifti import Volume, load_volume, save_volume
from ..errors import RequestError
from .engine import CUDA_CHUNK, DEFAULT_CHUNK, DEFAULT_MAX_TILE_VOXELS, METHODS, upsample_volume
from .grid import DEFAULT_MAX_VOXELS, GridRequest

EPILOG = """\
examples:
  arssr upsample t1.nii.gz -o t1_sr.nii.gz --scale 2.5
      every axis 2.5x finer (a 2 mm scan becomes 0.8 mm), with the trained ArSSR model
  arssr upsample thick.nii.gz -o iso.nii.gz --scale 1 1 3 --method arssr-thick
      thick slices along the third array axis to isotropic; the other axes unchanged
  arssr upsample t1.nii.gz -o t1_07.nii.gz --voxel-size 0.7
      a 0.7 mm isotropic grid over the same field of view (voxel size rounded so the grid fits it)
  arssr upsample t1.nii.gz -o t1_sr.nii.gz --shape 256 256 256 --precision bf16
  arssr upsample dicom/series_folder -o t1_sr.nii.gz --scale 2
      a DICOM series (a folder, or one file of it), converted with dcm2niix first
  arssr upsample t1.nii.gz -o t1_sr.nii.gz --scale 2 --method arssr-iso
      ArSSR-RDN trained further on isotropic samples (notebook 09's ArSSR-iso, beyond the paper's
      budget): +0.53 to +0.60 dB PSNR over the default at x2-x4 on a 96^3 cube of Colin27
  arssr upsample t1.nii.gz -o t1_cubic.nii.gz --scale 2 --method cubic
      cubic-spline interpolation, the reference any method should beat
  arssr upsample t1.nii.gz -o t1_srcnn.nii.gz --scale 2 --checkpoint checkpoints/cpu/srcnn3d-x2/best.pt
      a per-scale CNN baseline (only at the scale it was trained for)

notes:
  Axes are array axes (i, j, k) of the file, not world axes. The output covers the same
  field of view, keeps the orientation, and its affine places every voxel centre at the
  right world position. Intensities: the model sees the input min-max scaled to [0, 1];
  the output is mapped back to the input's range.
  Without --checkpoint, the trained arssr-rdn of the default profile is used
  (checkpoints/pretrained/arssr-rdn/best.pt, then checkpoints/cpu/arssr-rdn/best.pt, or
  $ARSSR_CHECKPOINT); get one with `make reproduce` or `arssr train arssr-rdn`.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``upsample`` to the ``arssr`` command's subparsers."""
    p = subparsers.add_parser(
        "upsample",
        help="super-resolve a 3D NIfTI volume at any scale (ArSSR, cubic or a per-scale baseline)",
        description="Super-resolve a 3D MR volume (NIfTI) onto a finer grid over the same field of view. "
                    "Give the output grid as a scale, a voxel size or a shape.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="IN", help="the 3D volume to super-resolve: a NIfTI file (.nii, .nii.gz) or a DICOM series (a folder, or one file of it)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.nii.gz",
                   help="where to write the result (.nii or .nii.gz; written atomically)")
    g = p.add_argument_group("output grid (give exactly one)").add_mutually_exclusive_group(required=True)
    g.add_argument("--scale", type=float, nargs="+", metavar="S",
                   help="one factor for every axis (2.5) or one per array axis (1 1 3)")
    g.add_argument("--voxel-size", type=float, nargs="+", metavar="MM",
                   help="target voxel size in mm: one value (isotropic) or three")
    g.add_argument("--shape", type=int, nargs=3, metavar=("X", "Y", "Z"), help="target grid shape")
    m = p.add_argument_group("method (default: the trained ArSSR model)").add_mutually_exclusive_group()
    m.add_argument("--checkpoint", metavar="PATH",
                   help="an ArSSR checkpoint (any scale) or a per-scale baseline checkpoint (its scale only)")
    m.add_argument("--method", choices=list(METHODS), default="arssr",
                   help="'arssr' (default): the paper's ArSSR-RDN; 'arssr-thick': ArSSR-RDN trained further "
                        "on thick-slice samples as well, for slices that average the tissue they span (a 96^3 cube of "
                        "Colin27, notebook 09, fp32: +1.02 dB PSNR over the same training on isotropic samples at 1x1x3 mm "
                        "with a Gaussian slice profile, +1.00 at 1x1x5; +0.08 to +0.65 dB at 3 and 5 mm slices under "
                        "cubic sampling; 0.05-0.10 dB lower at isotropic x2-x4; on a very smooth input, the 0.5 mm "
                        "CAT12 template, 3.3 dB below that training and 4.7 dB below cubic at 1x1x3); "
                        "'arssr-iso': ArSSR-RDN trained the same further steps on isotropic samples only "
                        "(beyond the paper's budget; +0.53 to +0.60 dB over 'arssr' at x2-x4 on that cube), "
                        "the better model for isotropic requests; "
                        "'cubic': cubic-spline interpolation, no model")
    r = p.add_argument_group("compute")
    r.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="auto = CUDA when PyTorch sees a GPU, else CPU")
    r.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="auto (default) = bf16 where the hardware computes it natively (CUDA; a CPU with "
                        "AVX512-BF16 or AMX), else fp32 (fp16 on CUDA without bf16). Measured on the 2-core "
                        "study CPU with AMX, Colin27 x2: fp32 65 s, bf16 25 s; bf16's output differs from fp32's by 0.006 RMS "
                        "on the brain (0.2-0.4 dB PSNR on a 96^3 brain cube), so use fp32 for numbers to compare "
                        "across machines (the study's tables are fp32). On a CPU "
                        "without native bf16, bf16 is emulated and about 50x slower than fp32, so auto "
                        "takes fp32 there. fp16 is CUDA only")
    r.add_argument("--max-voxels", type=int, default=DEFAULT_MAX_VOXELS, metavar="N",
                   help=f"refuse outputs larger than N voxels (default {DEFAULT_MAX_VOXELS:,} = 512^3)")
    r.add_argument("--chunk", type=int, default=None, metavar="N",
                   help=f"decoder points per call (default {DEFAULT_CHUNK:,} on the CPU, where small batches "
                        f"stay in cache, {CUDA_CHUNK:,} on a GPU)")
    r.add_argument("--tile-voxels", type=int, default=None, metavar="N",
                   help=f"run networks on tiles of at most N input voxels (default {DEFAULT_MAX_TILE_VOXELS:,} in "
                        f"fp32, {2 * DEFAULT_MAX_TILE_VOXELS:,} in bf16/fp16: peak memory under 3 GiB); lower it to "
                        "use less memory, raise it to avoid tiling (faster)")
    r.add_argument("--halo", type=int, default=-1, metavar="N",
                   help="context voxels around each tile (default -1: the network's full receptive "
                        "field, exact; a smaller N is faster on tiled inputs and approximate)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=run)
    return p


def check_output_path(path: str | Path) -> Path:
    """Refuse an output that is not ``.nii``/``.nii.gz`` or cannot be written, before any work."""
    path = Path(path)
    if not (path.name.endswith(".nii") or path.name.endswith(".nii.gz")):
        raise RequestError(f"{path}: output must end in .nii or .nii.gz")
    if path.is_dir():
        raise RequestError(f"{path}: is a folder, give a file name")
    parent = path.parent.resolve() if str(path.parent) else Path.cwd()
    existing = parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise RequestError(f"{path}: cannot write there, {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RequestError(f"{path}: cannot write there, no write permission on {existing}")
    return path


def check_affine(affine: np.ndarray, name: str | Path) -> None:
    """Refuse, before any work, a header whose voxel-to-world matrix is not finite or cannot be
    inverted (a zero voxel size, two axes along one direction): no output could be placed."""
    a = np.asarray(affine, dtype=float)
    if a.shape != (4, 4) or not np.isfinite(a).all():
        raise RequestError(f"{name}: the header's voxel-to-world matrix is not a finite 4x4 matrix")
    sizes = np.sqrt((a[:3, :3] ** 2).sum(0))
    if (sizes <= 1e-6).any() or abs(np.linalg.det(a[:3, :3])) <= 1e-9 * max(float(np.prod(sizes)), 1e-30):
        raise RequestError(f"{name}: the header's voxel-to-world matrix cannot be inverted (voxel sizes "
                           f"{', '.join(f'{s:.3g}' for s in sizes)} mm): fix the header (e.g. with fslorient) first")


def read_input(path: str | Path) -> Volume:
    """The input volume: a NIfTI file, or a DICOM series (a folder, or one of its files)
    converted with dcm2niix (:mod:`.dicom`); its header checked before any work."""
    from .dicom import convert_series, is_dicom

    p = Path(path)
    if not p.exists():
        raise RequestError(f"{path}: no such file or folder")
    if is_dicom(p) and not p.name.endswith((".nii", ".nii.gz")):
        with tempfile.TemporaryDirectory(prefix="arssr-dicom-") as tmp:
            vol = load_volume(convert_series(p, tmp))
            vol = Volume(np.array(vol.data), vol.affine, vol.header, p)
    else:
        vol = load_volume(p)
    check_affine(vol.affine, path)
    return vol


def run(args: argparse.Namespace) -> int:
    """Action of ``arssr upsample``; returns the exit code (errors raise ArssrError)."""
    out_path = check_output_path(args.output)
    for name in ("chunk", "tile_voxels"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise RequestError(f"--{name.replace('_', '-')} must be >= 1")
    vol = read_input(args.input)
    request = GridRequest(
        scale=tuple(args.scale) if args.scale else None,
        voxel_size=tuple(args.voxel_size) if args.voxel_size else None,
        shape=tuple(args.shape) if args.shape else None,
        max_voxels=args.max_voxels,
    )
    timings: dict = {}
    t0 = time.perf_counter()
    out = upsample_volume(
        vol, request, method=args.method, checkpoint=args.checkpoint, device=args.device,
        precision=args.precision, chunk=args.chunk, max_tile_voxels=args.tile_voxels,
        halo=None if args.halo < 0 else args.halo, progress=not args.quiet, timings=timings,
    )
    try:
        save_volume(out_path, out.data, out.affine, out.header)
    except OSError as e:
        raise RequestError(f"{out_path}: cannot write ({e})") from None
    if not args.quiet:
        shp = lambda s: "x".join(map(str, s))  # noqa: E731
        vs = lambda v: "x".join(f"{x:.3g}" for x in v)  # noqa: E731
        print(f"{shp(vol.data.shape)} ({vs(vol.voxel_size)} mm) -> {shp(out.data.shape)} "
              f"({vs(out.voxel_size)} mm), {out.header['descrip'].item().decode()}, "
              f"{time.perf_counter() - t0:.1f} s: {out_path}", file=sys.stderr)
    return 0
