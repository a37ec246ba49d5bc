"""Whole-volume super-resolution: arrays in, arrays out.

ArSSR (:func:`super_resolve`)
    The LR volume is put on the models' scale by the training volumes' rule
    (:func:`arssr_core.data.intensity.to_model_scale`: minimum 0, foreground 99.9th
    percentile 1, not clipped) and encoded **once** into a feature map on the LR grid. The output grid is then
    decoded box by box (``BOX_POINTS`` cells each): a box's features are interpolated
    separably (:func:`interpolate`, the same trilinear weights as ``grid_sample`` with
    ``align_corners=False`` and border padding, without gathering 8 corners per point),
    its coordinates built from per-axis tables, the decoder run on ``chunk`` points per
    call (cache-sized on the CPU), and its intensities written into one preallocated
    float32 array. The output is mapped back to the input's intensity range:
    ``out * (max - min) + min``; it is not clipped (the decoder's final ReLU keeps it
    >= min). A constant input gives a constant output.

    Memory: when the LR has more than ``max_tile_voxels`` voxels the work is split into
    blocks (:func:`plan_blocks`): the encoder runs on one tile at a time (its core grown
    by ``halo + 1`` voxels of real context on every side that has any), the features of
    the core plus one voxel are kept, and the output cells nearest to that core are
    decoded before the next tile is encoded. Peak memory is then the encoder's
    activations on one tile, that tile's features (512 B per voxel for the 128-channel
    encoders), one box of interpolated features (64 MiB) and the output (4 B per output
    voxel), whatever the input size (measured: ``benchmarks/results/bench_infer.txt``).
    The default ``halo=None`` is the encoder's receptive-field radius
    (:func:`receptive_radius`): tiling is then exact up to float rounding. A shorter halo
    costs less compute and is approximate.

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
from ..data import intensity
from ..data.coords import axis_centres
from ..data.degrade import resize_cubic
from ..data.nifti import Volume, check_volume
from ..device import autocast, pick_device, pick_precision
from ..errors import CheckpointError, RequestError
from ..models import BASELINES, STUDY_MODELS, is_arssr
from .grid import GridRequest, OutputGrid, output_grid

#: Version of the numerics of this module and the models' inference paths: part of the
#: key of cached SR volumes (``evaluation.cached_sr``); bump it when outputs change.
#: 2: separable interpolation, block-wise decoding, RDN by depth slabs (equal to 1 within 5e-6).
#: 3: inputs on the models' scale by the training rule (data.intensity, robust), not min-max.
ENGINE_VERSION = 3
#: (Channels-last per-scale CNNs, :func:`memory_format`, kept 3: their outputs differ from the
#: default layout's by float32 summation order alone, as the same run's on another CPU kind.)

#: Decoder points per call (4,096: its activations, about 4 MiB per layer, stay in the CPU's
#: caches; much faster there than large calls: ``benchmarks/bench_infer.py``).
DEFAULT_CHUNK = 2 ** 12
#: Decoder points per call on a GPU, where large batches pay.
CUDA_CHUNK = 2 ** 18
#: Output cells whose features are interpolated at once (a box of the output grid; 64 MiB of features).
BOX_POINTS = 2 ** 17
#: Largest tile (core + halo) a convolutional network runs on at once, in voxels of its input grid.
DEFAULT_MAX_TILE_VOXELS = 2 ** 20
#: Context voxels added around each tile core; None = the network's receptive-field radius (exact).
DEFAULT_HALO: int | None = None


def tile_voxels(max_tile_voxels: int | None, precision: str) -> int:
    """Resolve a tile size: ``None`` = ``DEFAULT_MAX_TILE_VOXELS`` in fp32 and twice that in
    bf16/fp16 (activations of half the size): about 2 GiB of RDN encoder activations."""
    if max_tile_voxels is None:
        return DEFAULT_MAX_TILE_VOXELS * (1 if precision == "fp32" else 2)
    if int(max_tile_voxels) < 1:
        raise RequestError(f"tile size {max_tile_voxels} must be >= 1 voxel")
    return int(max_tile_voxels)


#: Most activation memory a per-scale CNN's tile takes (bytes). Its networks run on the HR grid
#: with a receptive radius of up to 20 voxels, so small tiles recompute wide halos (a whole
#: 1 mm brain at x2 in 2^20-voxel tiles computes 3.5x its voxels): large tiles where memory allows.
CNN_TILE_BYTES = 6 * 2 ** 30


def memory_budget(device: torch.device, cap: int = CNN_TILE_BYTES) -> int:
    """Activation bytes a tile may take on ``device``: ``cap``, at most a quarter of the host's
    RAM (CPU) or a third of the GPU's free memory; 2 GiB where neither can be read."""
    try:
        if device.type == "cuda":
            return min(cap, torch.cuda.mem_get_info(device)[0] // 3)
        return min(cap, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4)
    except (AttributeError, ValueError, OSError, RuntimeError):
        return min(cap, 2 * 2 ** 30)


def cnn_tile_voxels(model: nn.Module, max_tile_voxels: int | None, precision: str, device: torch.device) -> int:
    """Tile size of a same-grid CNN: ``max_tile_voxels`` if given, else the voxels whose
    activations (three maps of the widest conv layer's channels) fit :func:`memory_budget`,
    never fewer than :func:`tile_voxels`' default."""
    if max_tile_voxels is not None:
        return tile_voxels(max_tile_voxels, precision)
    widest = max((max(m.in_channels, m.out_channels) for m in model.modules() if isinstance(m, nn.Conv3d)), default=1)
    per_voxel = 3 * widest * (4 if precision == "fp32" else 2)
    return max(tile_voxels(None, precision), memory_budget(torch.device(device)) // per_voxel)


# ----------------------------------------------------------------------------- intensities

# One rule for training, evaluation and the CLI: :mod:`arssr_core.data.intensity` (robust, not
# clipped here). Inputs are put on the models' scale and outputs mapped back to the input's units.
to_model_scale = intensity.to_model_scale
from_model_scale = intensity.from_model_scale


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

@dataclass(frozen=True)
class AxisLookup:
    """Linear interpolation along one axis from ``n_in`` LR cells to ``n_out`` output cells
    over the same field of view: output cell ``i`` reads LR cells ``i0[i]`` and ``i1[i]``
    with weight ``w[i]`` on ``i1``; ``owner[i]`` is its nearest LR cell. The same
    sampling as ``grid_sample(align_corners=False, padding_mode="border")`` at the output's
    cell centres."""

    i0: np.ndarray
    i1: np.ndarray
    w: np.ndarray
    owner: np.ndarray

    @staticmethod
    def build(n_in: int, n_out: int) -> "AxisLookup":
        u = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0, n_in - 1.0)
        i0 = np.floor(u).astype(np.int64)
        owner = np.minimum(np.floor(u + 0.5).astype(np.int64), n_in - 1)
        return AxisLookup(i0, np.minimum(i0 + 1, n_in - 1), (u - i0).astype(np.float32), owner)

    def span(self, core: slice) -> slice:
        """The output cells whose nearest LR cell lies in ``core`` (a contiguous range)."""
        return slice(int(np.searchsorted(self.owner, core.start)), int(np.searchsorted(self.owner, core.stop)))


def interpolate(features: torch.Tensor, lookups: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
                ) -> torch.Tensor:
    """Trilinear interpolation of channels-last ``features`` (d, h, w, C) onto the grid that
    per-axis ``lookups`` ``(i0, i1, w)`` describe: (n0, n1, n2, C), one axis at a time
    (separable: the same weights as ``grid_sample``, about 6 multiply-adds per value)."""
    f = features
    for axis, (i0, i1, w) in enumerate(lookups):
        shape = [1, 1, 1, 1]
        shape[axis] = -1
        w = w.view(shape)
        a, b = f.index_select(axis, i0), f.index_select(axis, i1)
        f = torch.lerp(a, b, w)
    return f


def _boxes(shape: Sequence[int], chunk: int):
    """Sub-boxes (three slices) of a grid in C order, each with at most ``chunk`` cells."""
    n2 = min(shape[2], chunk)
    n1 = min(shape[1], max(1, chunk // n2))
    n0 = min(shape[0], max(1, chunk // (n1 * n2)))
    for a in range(0, shape[0], n0):
        for b in range(0, shape[1], n1):
            for c in range(0, shape[2], n2):
                yield slice(a, min(a + n0, shape[0])), slice(b, min(b + n1, shape[1])), slice(c, min(c + n2, shape[2]))


@dataclass(frozen=True)
class Block:
    """One unit of ArSSR inference: the encoder reads ``read`` (LR slices), keeps the features
    of ``region`` (the core plus one cell, what interpolation of its outputs touches) and
    the decoder fills the output box ``out``."""

    read: tuple[slice, slice, slice]
    region: tuple[slice, slice, slice]
    out: tuple[slice, slice, slice]


def plan_blocks(lr_shape: Sequence[int], lookups: Sequence[AxisLookup], halo: int,
                max_tile_voxels: int = DEFAULT_MAX_TILE_VOXELS) -> list[Block]:
    """Tile the LR grid (:func:`plan_tiles` with ``halo + 1``), and give each tile's core the
    output cells nearest to it; tiles that own no output cell are dropped."""
    blocks = []
    for t in plan_tiles(lr_shape, halo + 1, max_tile_voxels):
        out = tuple(lk.span(c) for lk, c in zip(lookups, t.core))
        if any(o.stop <= o.start for o in out):
            continue
        region = tuple(slice(max(0, c.start - 1), min(n, c.stop + 1)) for c, n in zip(t.core, lr_shape))
        blocks.append(Block(t.read, region, out))
    return blocks


def super_resolve(model: nn.Module, lr: np.ndarray, out_shape: Sequence[int], *, chunk: int | None = None,
                  precision: str = "fp32", device: str | torch.device = "cpu",
                  max_tile_voxels: int | None = None, halo: int | None = DEFAULT_HALO,
                  progress: bool = False, timings: dict | None = None) -> np.ndarray:
    """Super-resolve an LR volume with an ArSSR model onto a grid of ``out_shape`` (same field of view).

    ``lr``: (d, h, w) in any intensity range; returns float32 ``out_shape`` in the same range.
    Block by block (:func:`plan_blocks`; one block when the LR fits ``max_tile_voxels``):
    encode the block's LR box once, interpolate its features at the cell centres of its
    output box (:func:`interpolate`), decode ``chunk`` points at a time into the
    preallocated output. Memory is bounded by the tile size and ``chunk``, whatever the
    input and output sizes (the output array aside). ``precision``: fp32, bf16 (CPU or
    CUDA) or fp16 (CUDA); ``auto`` picks per device. ``halo=None`` is the encoder's exact
    receptive-field radius. ``chunk``: decoder points per call, ``None`` = ``DEFAULT_CHUNK``
    on the CPU, ``CUDA_CHUNK`` on a GPU. ``timings``, if given, receives ``encoder_s``, ``decoder_s``,
    ``queries`` and ``blocks``.
    """
    lr = check_volume(lr, "input")
    dev = pick_device(device)
    precision = pick_precision(precision, dev)
    out_shape = tuple(int(s) for s in out_shape)
    chunk = (CUDA_CHUNK if dev.type == "cuda" else DEFAULT_CHUNK) if chunk is None else int(chunk)
    if chunk < 1:
        raise RequestError(f"chunk {chunk} must be >= 1")
    lr01, lo, hi = to_model_scale(lr)
    if hi <= lo:
        return np.full(out_shape, lo, dtype=np.float32)
    model = model.to(dev).eval()
    lookups = [AxisLookup.build(n, m) for n, m in zip(lr.shape, out_shape)]
    centres = [torch.from_numpy(axis_centres(m).astype(np.float32)).to(dev) for m in out_shape]
    blocks = plan_blocks(lr.shape, lookups, _halo(model.encoder, halo), tile_voxels(max_tile_voxels, precision))
    x = torch.from_numpy(np.ascontiguousarray(lr01, dtype=np.float32))[None, None].to(dev)
    out = np.empty(out_shape, dtype=np.float32)
    t_enc = t_dec = 0.0
    with torch.inference_mode(), tqdm(total=out.size, desc="super-resolve", unit="vox", unit_scale=True,
                                      disable=not progress, file=sys.stderr, leave=False) as bar:
        for i, blk in enumerate(blocks):
            tag = f" {i + 1}/{len(blocks)}" if len(blocks) > 1 else ""
            bar.set_description(f"encoding{tag}")  # the encoder's pass shows as a pause here
            t0 = time.perf_counter()
            with autocast(dev, precision):
                f = model.encode(x[(slice(None), slice(None), *blk.read)])
            crop = tuple(slice(g.start - r.start, g.stop - r.start) for g, r in zip(blk.region, blk.read))
            f = f[(0, slice(None), *crop)].permute(1, 2, 3, 0)
            f = torch.empty(f.shape, dtype=torch.float32, device=dev).copy_(f)  # (d, h, w, C) fp32, one copy
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)  # so that encoder_s is the encoder's time, not its launch
            t1 = time.perf_counter()
            local = [(torch.from_numpy(lk.i0[o] - g.start).to(dev), torch.from_numpy(lk.i1[o] - g.start).to(dev),
                      torch.from_numpy(lk.w[o]).to(dev)) for lk, o, g in zip(lookups, blk.out, blk.region)]
            bar.set_description(f"decoding{tag}")
            box_shape = [o.stop - o.start for o in blk.out]
            for box in _boxes(box_shape, max(chunk, BOX_POINTS)):
                feats = interpolate(f, [tuple(t[b] for t in lk) for lk, b in zip(local, box)])
                cs = [c[o][b] for c, o, b in zip(centres, blk.out, box)]
                coords = torch.stack(torch.meshgrid(*cs, indexing="ij"), -1).view(-1, 3)
                feats = feats.view(-1, feats.shape[-1])
                y = torch.empty(len(coords), dtype=torch.float32, device=dev)
                for a in range(0, len(y), chunk):
                    with autocast(dev, precision):
                        y[a:a + chunk] = model.decode(feats[a:a + chunk], coords[a:a + chunk])
                target = tuple(slice(o.start + b.start, o.start + b.stop) for o, b in zip(blk.out, box))
                out[target] = y.view(*(b.stop - b.start for b in box)).cpu().numpy()
                bar.update(y.numel())
            del f
            t_dec += time.perf_counter() - t1
            t_enc += t1 - t0
    if timings is not None:
        timings.update(encoder_s=t_enc, decoder_s=t_dec, queries=out.size, blocks=len(blocks))
    return from_model_scale(out, lo, hi)


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


def memory_format(model: nn.Module, device: torch.device) -> torch.memory_format:
    """Memory layout a same-grid CNN runs in: channels-last (NDHWC) on the CPU for a model that
    declares ``channels_last = True`` (plain conv stacks: ResCNN, SRCNN3D; oneDNN's fp32
    convolutions run them 1.2-1.3x faster so, ``benchmarks/bench_memory_format.py``), the default
    layout otherwise (DCSRN's and RDN's concatenations ran slower channels-last). The outputs
    differ only by the summation order of float32 convolutions (max 1e-6 of the [0, 1] scale)."""
    if getattr(model, "channels_last", False) and torch.device(device).type == "cpu":
        return torch.channels_last_3d
    return torch.contiguous_format


def apply_cnn(model: nn.Module, lr: np.ndarray, out_shape: Sequence[int], *, precision: str = "fp32",
              device: str | torch.device = "cpu", max_tile_voxels: int | None = None,
              halo: int | None = DEFAULT_HALO, progress: bool = False, timings: dict | None = None) -> np.ndarray:
    """Per-scale baseline: normalise, cubic-upsample to ``out_shape``, apply the CNN (tiled), map back.

    Refuses an ``out_shape`` other than the model's trained scale (:func:`check_baseline_scale`).
    """
    lr = check_volume(lr, "input")
    out_shape = tuple(int(s) for s in out_shape)
    check_baseline_scale(model, lr.shape, out_shape)
    dev = pick_device(device)
    precision = pick_precision(precision, dev)
    lr01, lo, hi = to_model_scale(lr)
    if hi <= lo:
        return np.full(out_shape, lo, dtype=np.float32)
    t0 = time.perf_counter()
    up = resize_cubic(lr01, out_shape)
    model = model.to(dev).eval()
    t1 = time.perf_counter()
    with torch.inference_mode():
        fmt = memory_format(model, dev)
        model = model.to(memory_format=fmt)
        x = torch.from_numpy(up)[None, None].to(dev).contiguous(memory_format=fmt)

        def fn(t: torch.Tensor) -> torch.Tensor:
            with autocast(dev, precision):
                return model(t)

        y = run_tiled(fn, x, 1, halo=_halo(model, halo), max_tile_voxels=cnn_tile_voxels(model, max_tile_voxels, precision, dev),
                      progress=progress, desc="cnn tiles")
        out = y[0, 0].cpu().numpy()
    if timings is not None:
        timings.update(cubic_s=t1 - t0, cnn_s=time.perf_counter() - t1)
    return from_model_scale(out, lo, hi)


# ----------------------------------------------------------------------------- volumes

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


def header_description(method: str, grid: OutputGrid) -> str:
    """NIfTI description of an output: ``arssr-rdn x2.5`` / ``cubic x1x1x3`` (at most 79 bytes)."""
    f = np.asarray(grid.factors)
    fac = f"{f[0]:.3g}" if np.allclose(f, f[0]) else "x".join(f"{v:.3g}" for v in f)
    return f"arssr SR {method} x{fac}"[:79]


def upsample_volume(volume: Volume, request: GridRequest, *, method: str = "arssr",
                    checkpoint: str | Path | None = None, model: nn.Module | None = None,
                    device: str | torch.device = "auto", precision: str = "auto", chunk: int | None = None,
                    max_tile_voxels: int | None = None, halo: int | None = DEFAULT_HALO,
                    progress: bool = False, timings: dict | None = None) -> Volume:
    """Super-resolve a :class:`Volume` onto the grid ``request`` describes; returns a new Volume.

    ``method``: ``cubic``, or the name of a trained method (a label: the model is ``model``, or
    the weights at ``checkpoint``, an ArSSR model or a per-scale baseline at its trained scale;
    :func:`arssr_core.study.methods.default_checkpoint` finds the study's). The output keeps the
    input's orientation and field of view (affine from :func:`output_grid`) and a copy of its
    header with ``descrip`` naming method and scale.
    """
    if method != "cubic" and model is None and checkpoint is None:
        raise RequestError(f"method '{method}' needs a model or a checkpoint")
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
            model, name = load_sr_model(checkpoint, dev)
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
    header["descrip"] = header_description(name, grid).encode()
    return Volume(out, grid.affine, header, None)
