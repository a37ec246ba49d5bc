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
import warnings
from pathlib import Path

import numpy as np

from ..data.nifti import Volume, load_volume, save_volume
from ..device import pick_device, pick_precision
from ..errors import RequestError
from ..study.methods import cli_methods, default_checkpoint
from .engine import CUDA_CHUNK, DEFAULT_CHUNK, DEFAULT_MAX_TILE_VOXELS, upsample_volume
from .grid import DEFAULT_MAX_VOXELS, GridRequest

#: The method ``arssr upsample`` uses when none is given: the one recommended for both kinds of
#: request (isotropic, thick slices) on the held-out validation slabs
#: (:func:`arssr_core.study.advice.method_choice`; a test keeps the two in step).
DEFAULT_METHOD = "arssr-iso"

#: What ``arssr upsample`` says on stderr when a method is chosen that the held-out validation
#: slabs do not recommend (:func:`arssr_core.study.advice.method_choice`; a test keeps them in step).
ADVICE = {
    "arssr-thick": "arssr-thick is experimental: on held-out scans it lost to the default (arssr-iso) on "
                   "thick slices, by several dB on a smooth 0.5 mm template; look at the result, or use the default",
}

EPILOG = """\
which method (chosen on held-out validation scans, never on the test subject):
  arssr-iso    default: best on held-out scans, isotropic and thick slices alike
  arssr        the paper's ArSSR-RDN at the study's budget (the study's tables)
  arssr-thick  experimental; lost to arssr-iso on held-out thick slices
  cubic        no model; beat every model on the smoothest held-out scan (a
               0.5 mm template) at 3x thicker slices. Measurements: README.

examples:
  arssr upsample t1.nii.gz -o sr.nii.gz --scale 2.5
  arssr upsample thick.nii.gz -o iso.nii.gz --scale 1 1 3    (3x along axis 3)
  arssr upsample t1.nii.gz -o sr.nii.gz --voxel-size 0.7
  arssr upsample dicom_folder -o sr.nii.gz --scale 2 --method cubic

Axes are array axes. The output keeps field of view and orientation, places each
voxel at its world position and names method, scale and precision in its header.
fp32 gives the same numbers on every machine. Weights: checkpoints/pretrained/.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``upsample`` to the ``arssr`` command's subparsers."""
    p = subparsers.add_parser(
        "upsample",
        help="super-resolve a 3D NIfTI volume at any scale (ArSSR, cubic or a per-scale baseline)",
        description="Super-resolve a 3D MR volume onto a finer grid over the same field of view.",
        epilog=EPILOG,
        formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(prog, max_help_position=30),
    )
    p.add_argument("input", metavar="IN", help="a NIfTI file or a DICOM series (folder or file)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="a .nii or .nii.gz (written atomically)")
    g = p.add_argument_group("output grid (exactly one)").add_mutually_exclusive_group(required=True)
    g.add_argument("--scale", type=float, nargs="+", metavar="S", help="one factor (2.5) or one per axis (1 1 3)")
    g.add_argument("--voxel-size", type=float, nargs="+", metavar="MM", help="in mm: one value or three")
    g.add_argument("--shape", type=int, nargs=3, metavar="N", help="the grid's shape")
    m = p.add_argument_group("method").add_mutually_exclusive_group()
    m.add_argument("--method", choices=list(cli_methods()), default=DEFAULT_METHOD, metavar="M",
                   help=f"{DEFAULT_METHOD} (default), {', '.join(x for x in cli_methods() if x != DEFAULT_METHOD)}")
    m.add_argument("--checkpoint", metavar="PATH", help="an ArSSR or per-scale baseline checkpoint")
    r = p.add_argument_group("compute")
    r.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], metavar="D",
                   help="auto (CUDA if any), cpu, cuda")
    r.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"], metavar="P",
                   help="auto (bf16 if native, else fp32), fp32, bf16, fp16")
    r.add_argument("--max-voxels", type=int, default=DEFAULT_MAX_VOXELS, metavar="N",
                   help=f"refuse larger outputs (default {DEFAULT_MAX_VOXELS:,})")
    r.add_argument("--chunk", type=int, default=None, metavar="N",
                   help=f"decoder points per call ({DEFAULT_CHUNK:,}; GPU {CUDA_CHUNK:,})")
    r.add_argument("--tile-voxels", type=int, default=None, metavar="N",
                   help=f"input voxels per tile (default {DEFAULT_MAX_TILE_VOXELS:,})")
    r.add_argument("--halo", type=int, default=-1, metavar="N", help="context around a tile (default: exact)")
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


def output_description(engine_text: str, method: str, checkpoint: str | None, precision: str, device: str) -> str:
    """The output header's description: what ran, at what scale, in what precision
    (``arssr SR arssr-iso x2 bf16``; ``arssr SR cubic x1x1x3``). ``engine_text`` is the engine's
    ``arssr SR <model> x<scale>``: without ``--checkpoint`` the model is named by the CLI method
    (``arssr-iso``, not the architecture ``arssr-rdn`` it shares with ``arssr``)."""
    words = engine_text.split()
    if method == "cubic" and checkpoint is None:
        return engine_text[:79]
    if checkpoint is None and len(words) >= 4:
        words[2] = method
    with warnings.catch_warnings():  # the engine has warned already where bf16 is only emulated
        warnings.simplefilter("ignore")
        used = pick_precision(precision, pick_device(device))
    return " ".join(words + [used])[:79]


def run(args: argparse.Namespace) -> int:
    """Action of ``arssr upsample``; returns the exit code (errors raise ArssrError)."""
    out_path = check_output_path(args.output)
    for name in ("chunk", "tile_voxels"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise RequestError(f"--{name.replace('_', '-')} must be >= 1")
    vol = read_input(args.input)
    if args.method in ADVICE and args.checkpoint is None and not args.quiet:
        print(f"arssr: note: {ADVICE[args.method]}", file=sys.stderr)
    request = GridRequest(
        scale=tuple(args.scale) if args.scale else None,
        voxel_size=tuple(args.voxel_size) if args.voxel_size else None,
        shape=tuple(args.shape) if args.shape else None,
        max_voxels=args.max_voxels,
    )
    timings: dict = {}
    t0 = time.perf_counter()
    checkpoint = args.checkpoint
    if checkpoint is None and args.method != "cubic":
        checkpoint = default_checkpoint(args.method)  # the study's weights of this method
    out = upsample_volume(
        vol, request, method=args.method, checkpoint=checkpoint, device=args.device,
        precision=args.precision, chunk=args.chunk, max_tile_voxels=args.tile_voxels,
        halo=None if args.halo < 0 else args.halo, progress=not args.quiet, timings=timings,
    )
    out.header["descrip"] = output_description(out.header["descrip"].item().decode(), args.method,
                                               args.checkpoint, args.precision, args.device).encode()
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
