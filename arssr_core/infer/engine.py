"""Whole-volume super-resolution: arrays in, arrays out.

ArSSR (:func:`super_resolve`)
    The LR volume is min-max normalised to [0, 1] (the range the model was trained
    on), encoded **once** into a feature map on the LR grid, and the decoder is queried
    at the cell centres of the output grid in chunks of ``chunk`` points (coordinates
    of each chunk generated on the fly from flat indices, never all at once), each
    chunk written into one preallocated float32 array. The output is mapped back to
    the input's intensity range: ``out * (max - min) + min``; it is not clipped (the
    decoder's final ReLU keeps it >= min). A constant input gives a constant output.

    Memory: the LR image, the feature map (``C`` x 4 bytes per LR voxel, 512 B for
    the 128-channel encoders), one decoder chunk (about ``chunk`` x 3 KiB fp32) and the
    output (4 B per output voxel). The encoder's own activations (about 6 KiB per LR
    voxel for the RDN in fp32, 3.6 KiB in bf16, measured) are bounded by tiling: when the LR
    has more than ``max_tile_voxels`` voxels the encoder runs on overlapping tiles
    (each core grown by ``halo`` voxels of real context on every side that has any)
    and only the cores are kept. The default ``halo=None`` is the encoder's
    receptive-field radius (:func:`receptive_radius`, 28 for the RDN): tiling is then
    exact up to float rounding. A shorter halo costs less compute (halo 16 instead of 28
    roughly halves the tiling overhead of a 128^3 LR) and measured here at rounding level
    too (max |feature diff| 1.5e-7 at halo 16, 1.8e-6 at halo 8, RDN trained a few
    minutes, features ~0.09; random weights: 5e-7 at halo 12), but is not guaranteed.

Baselines (:func:`apply_cnn`)
    A per-scale CNN (SRCNN3D, DCSRN, ResCNN) takes the cubic-upsampled, normalised LR
    on the output grid; it runs tiled with the same halo scheme on large grids.

Cubic (:func:`cubic`)
    Cubic B-spline resampling over the same field of view
    (:func:`arssr_core.data.degrade.resize_cubic`, ``grid_mode=True``).

Precision: ``fp32``; ``bf16`` via autocast on the CPU or CUDA; ``fp16`` on CUDA. The
model weights stay fp32; the feature map is stored as float32.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import nibabel as nib
import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from ..checkpoint import load_model
from ..data.coords import axis_centres
from ..data.degrade import resize_cubic
from ..data.nifti import Volume, check_volume
from ..device import autocast, pick_device, pick_precision
from ..errors import CheckpointError, RequestError
from ..models import BASELINES, STUDY_MODELS, is_arssr
from ..paths import checkpoints_dir
from .grid import GridRequest, OutputGrid, output_grid

#: Decoder points per chunk (2^17 = 131,072: about 0.4 GiB of fp32 activations).
DEFAULT_CHUNK = 2 ** 17
#: Largest tile (core + halo) a convolutional network runs on at once, in voxels of its input grid.
DEFAULT_MAX_TILE_VOXELS = 2 ** 20
#: Context voxels added around each tile core; None = the network's receptive-field radius (exact).
DEFAULT_HALO: int | None = None


# ----------------------------------------------------------------------------- intensities

def normalise_minmax(x: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(D, H, W) -> (x in [0, 1] float32, min, max). A constant volume maps to zeros."""
    x = np.asarray(x, dtype=np.float32)
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return np.zeros_like(x), lo, hi
    return ((x - lo) / (hi - lo)).astype(np.float32, copy=False), lo, hi


def denormalise(y: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map a [0, 1] model output back to the input's range, in place: ``y * (hi - lo) + lo``."""
    y *= np.float32(hi - lo)
    y += np.float32(lo)
    return y


# ----------------------------------------------------------------------------- cubic

def cubic(lr: np.ndarray, out_shape: Sequence[int]) -> np.ndarray:
    """Cubic B-spline resampling of (d, h, w) onto ``out_shape`` over the same field of view; float32."""
    lr = check_volume(lr, "input")
    return resize_cubic(lr, tuple(int(s) for s in out_shape), grid_mode=True)


# ----------------------------------------------------------------------------- tiling

def receptive_radius(module: nn.Module) -> int:
    """Upper bound on a conv net's receptive-field radius in voxels: the sum of
    ``dilation * (k - 1) / 2`` over its Conv3d layers (exact for a chain, an upper bound
    for dense and residual nets whose longest path visits each conv once)."""
    r = 0
    for m in module.modules():
        if isinstance(m, nn.Conv3d):
            r += max(d * (k - 1) // 2 for k, d in zip(m.kernel_size, m.dilation))
    return r


@dataclass(frozen=True)
class Tile:
    """One tile: ``read`` is the input box (core grown by the halo, clipped to the
    volume), ``core`` the output box it owns, ``crop`` the core's place inside ``read``.
    Each is a tuple of three ``slice`` objects."""

    read: tuple[slice, slice, slice]
    core: tuple[slice, slice, slice]
    crop: tuple[slice, slice, slice]


def _axis_splits(n: int, parts: int, halo: int) -> list[tuple[slice, slice, slice]]:
    edges = [round(k * n / parts) for k in range(parts + 1)]
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        ra, rb = max(0, a - halo), min(n, b + halo)
        out.append((slice(ra, rb), slice(a, b), slice(a - ra, b - ra)))
    return out


def plan_tiles(shape: Sequence[int], halo: int, max_tile_voxels: int, max_parts: int = 64) -> list[Tile]:
    """Split a grid into tiles whose read boxes hold at most ``max_tile_voxels`` voxels.

    Chooses the numbers of parts per axis that minimise the total voxels computed
    (cores plus halos), fewest tiles on ties. A grid that fits is one tile.
    """
    shape = tuple(int(s) for s in shape)
    if int(np.prod(shape)) <= max_tile_voxels:
        full = tuple(slice(0, s) for s in shape)
        return [Tile(full, full, full)]
    best = None
    ranges = [range(1, min(s, max_parts) + 1) for s in shape]
    for parts in itertools.product(*ranges):
        splits = [_axis_splits(s, p, halo) for s, p in zip(shape, parts)]
        lens = [[r.stop - r.start for r, _, _ in ax] for ax in splits]
        biggest = math.prod(max(ls) for ls in lens)
        if biggest > max_tile_voxels:
            continue
        key = (math.prod(sum(ls) for ls in lens), math.prod(parts))
        if best is None or key < best[0]:
            best = (key, splits)
    if best is None:
        raise RequestError(
            f"cannot tile a {'x'.join(map(str, shape))} grid with a halo of {halo} into tiles of at most "
            f"{max_tile_voxels:,} voxels: raise the tile size (--tile-voxels) or lower the halo (--halo)"
        )
    tiles = []
    for combo in itertools.product(*best[1]):
        tiles.append(Tile(tuple(c[0] for c in combo), tuple(c[1] for c in combo), tuple(c[2] for c in combo)))
    return tiles


def run_tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, out_channels: int, *,
              halo: int, max_tile_voxels: int = DEFAULT_MAX_TILE_VOXELS, progress: bool = False,
              desc: str = "tiles") -> torch.Tensor:
    """Apply a same-grid conv net ``fn`` ((1, Cin, d, h, w) -> (1, out_channels, d, h, w))
    tile by tile; returns the stitched float32 output on ``x``'s device."""
    tiles = plan_tiles(x.shape[2:], halo, max_tile_voxels)
    if len(tiles) == 1:
        return fn(x).float()
    out = torch.empty((x.shape[0], out_channels, *x.shape[2:]), dtype=torch.float32, device=x.device)
    for t in tqdm(tiles, desc=desc, unit="tile", disable=not progress, file=sys.stderr, leave=False):
        y = fn(x[(slice(None), slice(None), *t.read)])
        out[(slice(None), slice(None), *t.core)] = y[(slice(None), slice(None), *t.crop)].float()
        del y
    return out


def _halo(model: nn.Module, halo: int | None) -> int:
    r = receptive_radius(model)
    return r if halo is None else max(0, min(int(halo), r))


# ----------------------------------------------------------------------------- ArSSR

def chunk_coords(axes: Sequence[torch.Tensor], start: int, stop: int) -> torch.Tensor:
    """Cell-centre coordinates (stop - start, 3) of flat (C-order) output indices
    ``start:stop``, from the per-axis centre tables ``axes`` (see :func:`axis_tables`)."""
    n1, n2 = axes[1].numel(), axes[2].numel()
    idx = torch.arange(start, stop, device=axes[0].device)
    i0 = idx // (n1 * n2)
    rem = idx - i0 * (n1 * n2)
    i1 = rem // n2
    i2 = rem - i1 * n2
    return torch.stack([axes[0][i0], axes[1][i1], axes[2][i2]], -1)


def axis_tables(shape: Sequence[int], device: torch.device | str = "cpu") -> list[torch.Tensor]:
    """Per-axis float32 cell centres of a grid (the values of :func:`arssr_core.data.coords.make_coords`)."""
    return [torch.from_numpy(axis_centres(int(n)).astype(np.float32)).to(device) for n in shape]


def encode(model: nn.Module, lr01: np.ndarray, *, device: torch.device, precision: str = "fp32",
           max_tile_voxels: int = DEFAULT_MAX_TILE_VOXELS, halo: int | None = DEFAULT_HALO,
           progress: bool = False) -> torch.Tensor:
    """Normalised LR (d, h, w) -> float32 feature map (1, C, d, h, w) on ``device``, tiled if large."""
    x = torch.from_numpy(np.ascontiguousarray(lr01, dtype=np.float32))[None, None].to(device)
    enc = model.encoder

    def fn(t: torch.Tensor) -> torch.Tensor:
        with autocast(device, precision):
            return model.encode(t)

    return run_tiled(fn, x, enc.out_channels, halo=_halo(enc, halo), max_tile_voxels=max_tile_voxels,
                     progress=progress, desc="encoder tiles")


def decode(model: nn.Module, features: torch.Tensor, out_shape: Sequence[int], *, chunk: int = DEFAULT_CHUNK,
           precision: str = "fp32", progress: bool = False) -> np.ndarray:
    """Query the decoder at every cell centre of ``out_shape``; returns float32 (X, Y, Z) in model units."""
    out_shape = tuple(int(s) for s in out_shape)
    if chunk < 1:
        raise RequestError(f"chunk {chunk} must be >= 1")
    device = features.device
    axes = axis_tables(out_shape, device)
    n = int(np.prod(out_shape, dtype=np.int64))
    out = np.empty(n, dtype=np.float32)
    with tqdm(total=n, desc="decoder", unit="vox", unit_scale=True, disable=not progress,
              file=sys.stderr, leave=False) as bar:
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            coords = chunk_coords(axes, start, stop)[None]
            with autocast(device, precision):
                y = model.query(features, coords)
            out[start:stop] = y[0].float().cpu().numpy()
            bar.update(stop - start)
    return out.reshape(out_shape)


def super_resolve(model: nn.Module, lr: np.ndarray, out_shape: Sequence[int], *, chunk: int = DEFAULT_CHUNK,
                  precision: str = "fp32", device: str | torch.device = "cpu",
                  max_tile_voxels: int = DEFAULT_MAX_TILE_VOXELS, halo: int | None = DEFAULT_HALO,
                  progress: bool = False, timings: dict | None = None) -> np.ndarray:
    """Super-resolve an LR volume with an ArSSR model onto a grid of ``out_shape`` (same field of view).

    ``lr``: (d, h, w) in any intensity range; returns float32 ``out_shape`` in the same range.
    ``chunk``: decoder points per batch. ``precision``: fp32, bf16 (CPU or CUDA) or fp16
    (CUDA); ``auto`` picks per device. ``max_tile_voxels``/``halo``: encoder tiling (see the
    module docstring; ``halo=None`` is the exact receptive-field radius). ``timings``, if
    given, receives ``encoder_s``, ``decoder_s`` and ``queries``.
    """
    lr = check_volume(lr, "input")
    dev = pick_device(device)
    precision = pick_precision(precision, dev)
    out_shape = tuple(int(s) for s in out_shape)
    lr01, lo, hi = normalise_minmax(lr)
    if hi <= lo:
        return np.full(out_shape, lo, dtype=np.float32)
    model = model.to(dev).eval()
    with torch.inference_mode():
        t0 = time.perf_counter()
        feats = encode(model, lr01, device=dev, precision=precision, max_tile_voxels=max_tile_voxels,
                       halo=halo, progress=progress)
        t1 = time.perf_counter()
        out = decode(model, feats, out_shape, chunk=chunk, precision=precision, progress=progress)
        t2 = time.perf_counter()
    del feats
    if timings is not None:
        timings.update(encoder_s=t1 - t0, decoder_s=t2 - t1, queries=out.size)
    return denormalise(out, lo, hi)


# ----------------------------------------------------------------------------- baselines

def check_baseline_scale(model: nn.Module, in_shape: Sequence[int], out_shape: Sequence[int]) -> float:
    """Refuse a request a per-scale baseline was not trained for; returns its scale.

    Accepted: every output axis ``round(n * s)`` (within one voxel) for the trained
    isotropic scale ``s``.
    """
    name = getattr(model, "spec", {}).get("name", type(model).__name__)
    s = getattr(model, "scale", None)
    if s is None:
        raise RequestError(f"{name} checkpoint records no trained scale; it cannot be used for inference")
    want = [round(n * float(s)) for n in in_shape]
    if any(abs(int(o) - w) > 1 for o, w in zip(out_shape, want)):
        got = "x".join(f"{o / i:.3g}" for o, i in zip(out_shape, in_shape))
        raise RequestError(
            f"{name} is a per-scale baseline trained for scale {float(s):g} only (isotropic); this request "
            f"needs factors {got} (output {'x'.join(map(str, out_shape))}). Use --scale {float(s):g}, "
            "--method cubic, or an ArSSR checkpoint for any scale"
        )
    return float(s)


def apply_cnn(model: nn.Module, lr: np.ndarray, out_shape: Sequence[int], *, precision: str = "fp32",
              device: str | torch.device = "cpu", max_tile_voxels: int = DEFAULT_MAX_TILE_VOXELS,
              halo: int | None = DEFAULT_HALO, progress: bool = False, timings: dict | None = None) -> np.ndarray:
    """Per-scale baseline: normalise, cubic-upsample to ``out_shape``, apply the CNN (tiled), map back.

    Refuses an ``out_shape`` other than the model's trained scale (:func:`check_baseline_scale`).
    """
    lr = check_volume(lr, "input")
    out_shape = tuple(int(s) for s in out_shape)
    check_baseline_scale(model, lr.shape, out_shape)
    dev = pick_device(device)
    precision = pick_precision(precision, dev)
    lr01, lo, hi = normalise_minmax(lr)
    if hi <= lo:
        return np.full(out_shape, lo, dtype=np.float32)
    t0 = time.perf_counter()
    up = resize_cubic(lr01, out_shape)
    model = model.to(dev).eval()
    t1 = time.perf_counter()
    with torch.inference_mode():
        x = torch.from_numpy(up)[None, None].to(dev)

        def fn(t: torch.Tensor) -> torch.Tensor:
            with autocast(dev, precision):
                return model(t)

        y = run_tiled(fn, x, 1, halo=_halo(model, halo), max_tile_voxels=max_tile_voxels,
                      progress=progress, desc="cnn tiles")
        out = y[0, 0].cpu().numpy()
    if timings is not None:
        timings.update(cubic_s=t1 - t0, cnn_s=time.perf_counter() - t1)
    return denormalise(out, lo, hi)


# ----------------------------------------------------------------------------- volumes

METHODS = ("arssr", "cubic")


def default_checkpoint() -> Path:
    """The checkpoint used when none is given: ``$ARSSR_CHECKPOINT``, else the default
    profile's trained ArSSR-RDN (``checkpoints/pretrained/arssr-rdn/best.pt``, then
    ``checkpoints/cpu/arssr-rdn/best.pt``); :class:`CheckpointError` saying how to get one."""
    env = os.environ.get("ARSSR_CHECKPOINT")
    if env:
        if not Path(env).is_file():
            raise CheckpointError(f"ARSSR_CHECKPOINT={env}: no such checkpoint file")
        return Path(env)
    tried = [checkpoints_dir(p) / "arssr-rdn" / "best.pt" for p in ("pretrained", "cpu")]
    for p in tried:
        if p.is_file():
            return p
    raise CheckpointError(
        "no trained ArSSR checkpoint found (looked for " + ", ".join(str(p) for p in tried)
        + "); get one with `make reproduce` or `arssr train arssr-rdn`, pass --checkpoint PATH, "
        "set ARSSR_CHECKPOINT, or use --method cubic"
    )


def load_sr_model(checkpoint: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, str]:
    """Load a checkpoint that can super-resolve: an ArSSR model or a per-scale baseline.

    Returns ``(model, name)``; a checkpoint of anything else (an encoder or decoder on its
    own) is refused with :class:`CheckpointError`.
    """
    model, blob = load_model(checkpoint, device=device)
    name = blob["spec"]["name"]
    if not is_arssr(model) and name not in BASELINES:
        raise CheckpointError(
            f"{checkpoint}: checkpoint holds '{name}', which cannot super-resolve a volume; "
            f"give an ArSSR checkpoint ({', '.join(n for n in STUDY_MODELS if n.startswith('arssr'))}) "
            f"or a per-scale baseline ({', '.join(BASELINES)})"
        )
    return model, name


def describe(method: str, grid: OutputGrid) -> str:
    """NIfTI description of an output: ``arssr-rdn x2.5`` / ``cubic x1x1x3`` (at most 79 bytes)."""
    f = np.asarray(grid.factors)
    fac = f"{f[0]:.3g}" if np.allclose(f, f[0]) else "x".join(f"{v:.3g}" for v in f)
    return f"arssr SR {method} x{fac}"[:79]


def upsample_volume(volume: Volume, request: GridRequest, *, method: str = "arssr",
                    checkpoint: str | Path | None = None, model: nn.Module | None = None,
                    device: str | torch.device = "auto", precision: str = "auto", chunk: int = DEFAULT_CHUNK,
                    max_tile_voxels: int = DEFAULT_MAX_TILE_VOXELS, halo: int | None = DEFAULT_HALO,
                    progress: bool = False, timings: dict | None = None) -> Volume:
    """Super-resolve a :class:`Volume` onto the grid ``request`` describes; returns a new Volume.

    ``method``: ``arssr`` (a ``model`` object, or a ``checkpoint`` path, or the default
    checkpoint; a per-scale baseline checkpoint is accepted at its trained scale) or
    ``cubic``. The output keeps the input's orientation and field of view (affine from
    :func:`output_grid`) and a copy of its header with ``descrip`` naming method and scale.
    """
    if method not in METHODS:
        raise RequestError(f"unknown method '{method}' ({', '.join(METHODS)})")
    data = check_volume(volume.data, str(volume.path or "input"))
    grid = output_grid(data.shape, volume.affine, request)
    timings = {} if timings is None else timings
    t0 = time.perf_counter()
    if method == "cubic":
        if model is not None or checkpoint is not None:
            raise RequestError("method 'cubic' takes no model or checkpoint")
        out, name = cubic(data, grid.shape), "cubic"
    else:
        dev = pick_device(device)
        if model is None:
            model, name = load_sr_model(checkpoint if checkpoint is not None else default_checkpoint(), dev)
        else:
            name = getattr(model, "spec", {}).get("name", type(model).__name__)
        kw = dict(precision=precision, device=dev, max_tile_voxels=max_tile_voxels, halo=halo,
                  progress=progress, timings=timings)
        if is_arssr(model):
            out = super_resolve(model, data, grid.shape, chunk=chunk, **kw)
        else:
            out = apply_cnn(model, data, grid.shape, **kw)
    timings["total_s"] = time.perf_counter() - t0
    header = volume.header.copy() if volume.header is not None else nib.Nifti1Header()
    header["descrip"] = describe(name, grid).encode()
    return Volume(out, grid.affine, header, None)
