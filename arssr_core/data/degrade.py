"""The paper's degradation: cubic-spline down-sampling of an HR volume by a scale factor.

``scipy.ndimage.zoom(order=3)`` as in the authors' code, isotropic or per axis. The
output shape is ``round(n / s)`` per axis. We pass ``grid_mode=True`` so that the LR
and HR grids cover the same field of view with cell centres aligned as in
:mod:`.coords` (the authors' default call, ``grid_mode=False``, pins the corner voxel
centres instead, a small zoom error that also misplaces the LR in world space). The
authors' exact call is available with ``grid_mode=False``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from ..errors import RequestError

MAX_SCALE = 16.0


def as_scales(scale: float | Sequence[float], ndim: int = 3) -> tuple[float, ...]:
    """A scalar or per-axis scale -> a validated tuple of ``ndim`` positive floats."""
    s = np.atleast_1d(np.asarray(scale, dtype=np.float64))
    if s.size == 1:
        s = np.repeat(s, ndim)
    if s.size != ndim:
        raise RequestError(f"scale {scale!r}: give one value or {ndim} (one per axis)")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise RequestError(f"scale {scale!r}: every scale must be a finite number > 0")
    if np.any(s > MAX_SCALE) or np.any(s < 1.0 / MAX_SCALE):
        raise RequestError(f"scale {scale!r}: outside [1/{MAX_SCALE:g}, {MAX_SCALE:g}]")
    return tuple(float(v) for v in s)


def lr_shape(hr_shape: Sequence[int], scale: float | Sequence[float]) -> tuple[int, ...]:
    """Shape of the LR grid of an HR grid down-sampled by ``scale``: ``round(n / s)``."""
    s = as_scales(scale, len(hr_shape))
    return tuple(max(1, int(round(n / v))) for n, v in zip(hr_shape, s))


def resize_cubic(volume: np.ndarray, shape: Sequence[int], grid_mode: bool = True) -> np.ndarray:
    """Cubic-spline resampling of a 3D array onto a grid of ``shape`` over the same field of view."""
    zoom = [o / i for o, i in zip(shape, volume.shape)]
    mode = "grid-mirror" if grid_mode else "mirror"
    out = ndimage.zoom(volume.astype(np.float32, copy=False), zoom, order=3, mode=mode, grid_mode=grid_mode)
    if out.shape != tuple(shape):  # zoom rounds; pin the requested shape
        raise RequestError(f"resampling to {tuple(shape)} gave {out.shape}")
    return out


def downsample(hr: np.ndarray, scale: float | Sequence[float], grid_mode: bool = True) -> np.ndarray:
    """HR (D, H, W) -> LR (round(D/s), ...) by cubic spline zoom, as the paper degrades."""
    return resize_cubic(hr, lr_shape(hr.shape, scale), grid_mode=grid_mode)
