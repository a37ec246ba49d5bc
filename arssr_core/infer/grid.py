"""The output grid of a super-resolution request: its shape, affine and size check.

A request names the output grid in one of three ways (exactly one):

- ``scale``: one factor (isotropic, e.g. 2.5) or one per array axis (e.g. (1, 1, 3):
  thick slices along axis 2 to isotropic); output shape ``round(n * s)`` per axis.
- ``voxel_size``: the target voxel edge in mm, one value or one per axis; output
  shape ``round(n * v_in / v_out)`` per axis.
- ``shape``: the output grid shape itself.

The output grid always covers the input's field of view (the outer cell faces of both
grids coincide), so the realised voxel size is ``FOV / n_out`` and may differ from a
requested ``voxel_size`` by the rounding of ``n_out`` (at most half an output voxel
over the whole FOV). The affine keeps the input's orientation and places the first and
last voxel centres where they belong (:func:`arssr_core.data.nifti.resampled_affine`,
with the half-voxel shift the authors' code leaves out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..data.degrade import as_scales
from ..data.nifti import resampled_affine, voxel_size
from ..errors import RequestError

#: Default limit on the number of output voxels (512^3 = 134,217,728: 512 MiB as float32).
DEFAULT_MAX_VOXELS = 512 ** 3


@dataclass(frozen=True)
class GridRequest:
    """What output grid to produce. Give exactly one of ``scale``, ``voxel_size``, ``shape``.

    ``scale`` and ``voxel_size`` take one value (isotropic) or three (per array axis,
    voxel sizes in mm); ``shape`` takes three positive integers. ``max_voxels`` bounds
    the output size (default 512^3).
    """

    scale: float | tuple[float, ...] | None = None
    voxel_size: float | tuple[float, ...] | None = None
    shape: tuple[int, ...] | None = None
    max_voxels: int = DEFAULT_MAX_VOXELS

    def __post_init__(self) -> None:
        given = [k for k in ("scale", "voxel_size", "shape") if getattr(self, k) is not None]
        if len(given) != 1:
            raise RequestError(
                "give exactly one of a scale, a voxel size or an output shape"
                + (f" (got {' and '.join(given)})" if given else "")
            )
        if int(self.max_voxels) < 1:
            raise RequestError(f"max voxels {self.max_voxels!r} must be a positive integer")

    def describe(self) -> str:
        """Short human form: ``scale 2.5``, ``scale 1x1x3``, ``voxel size 0.7 mm``, ``shape 64x64x64``."""
        if self.scale is not None:
            return f"scale {_fmt(self.scale)}"
        if self.voxel_size is not None:
            return f"voxel size {_fmt(self.voxel_size)} mm"
        return f"shape {_fmt(self.shape)}"


@dataclass(frozen=True)
class OutputGrid:
    """A resolved output grid: ``shape`` (3 ints), ``affine`` (4x4, voxel -> world mm),
    ``factors`` = out/in voxels per axis (the effective scale) and ``voxel_size`` (mm)."""

    shape: tuple[int, int, int]
    affine: np.ndarray
    factors: tuple[float, float, float]
    voxel_size: tuple[float, float, float]


def _fmt(v) -> str:
    vals = np.atleast_1d(np.asarray(v, dtype=np.float64))
    if vals.size > 1 and np.all(vals == vals[0]):
        vals = vals[:1]
    return "x".join(f"{x:.4g}" for x in vals)


def _triple(values, name: str) -> tuple[float, float, float]:
    v = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if v.size == 1:
        v = np.repeat(v, 3)
    if v.size != 3:
        raise RequestError(f"{name} {values!r}: give one value or three (one per axis)")
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise RequestError(f"{name} {values!r}: every value must be a finite number > 0")
    return tuple(float(x) for x in v)


def output_shape(in_shape: Sequence[int], in_voxel_size: Sequence[float], request: GridRequest) -> tuple[int, int, int]:
    """Output grid shape for ``request`` given the input shape and voxel size (mm)."""
    n = np.asarray(in_shape, dtype=np.float64)
    if len(n) != 3:
        raise RequestError(f"input shape {tuple(in_shape)} is not 3D")
    if request.scale is not None:
        s = np.asarray(as_scales(request.scale, 3))
        out = np.round(n * s)
    elif request.voxel_size is not None:
        v = np.asarray(_triple(request.voxel_size, "voxel size"))
        out = np.round(n * np.asarray(in_voxel_size, dtype=np.float64) / v)
    else:
        shp = np.atleast_1d(np.asarray(request.shape))
        if shp.size != 3 or not np.all(np.isfinite(shp.astype(np.float64))):
            raise RequestError(f"shape {request.shape!r}: give three integers (one per axis)")
        if np.any(shp != np.round(shp)) or np.any(shp < 1):
            raise RequestError(f"shape {request.shape!r}: every axis must be a whole number >= 1")
        out = shp.astype(np.float64)
    out = np.maximum(out, 1)
    return tuple(int(x) for x in out)


def check_size(shape: Sequence[int], max_voxels: int = DEFAULT_MAX_VOXELS) -> None:
    """Refuse an output grid over ``max_voxels`` with a message that says how to override."""
    n = int(np.prod(np.asarray(shape, dtype=np.int64)))
    if n > max_voxels:
        dims = "x".join(str(int(s)) for s in shape)
        raise RequestError(
            f"output grid {dims} = {n:,} voxels ({n * 4 / 2**20:,.0f} MiB as float32) is over the "
            f"limit of {int(max_voxels):,} voxels; ask for a smaller scale or shape, or raise the "
            f"limit with --max-voxels {n} (Python: GridRequest(..., max_voxels={n}))"
        )


def output_grid(in_shape: Sequence[int], affine: np.ndarray, request: GridRequest) -> OutputGrid:
    """Resolve ``request`` for an input grid (``in_shape``, 4x4 ``affine``) to an :class:`OutputGrid`."""
    in_shape = tuple(int(s) for s in in_shape)
    shape = output_shape(in_shape, voxel_size(affine), request)
    check_size(shape, request.max_voxels)
    out_affine = resampled_affine(affine, in_shape, shape)
    factors = tuple(float(o) / float(i) for o, i in zip(shape, in_shape))
    return OutputGrid(shape, out_affine, factors, voxel_size(out_affine))
