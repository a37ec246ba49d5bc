"""The paper's degradation: cubic-spline down-sampling of an HR volume by a scale factor.

``scipy.ndimage.zoom(order=3)`` as in the authors' code, isotropic or per axis. The
output shape is ``round(n / s)`` per axis. We pass ``grid_mode=True`` so that the LR
and HR grids cover the same field of view with cell centres aligned as in
:mod:`.coords` (the authors' default call, ``grid_mode=False``, pins the corner voxel
centres instead, a small zoom error that also misplaces the LR in world space). The
authors' exact call is available with ``grid_mode=False``.

Beyond the paper, a real acquisition's slice profile: ``profile="gaussian"`` (FWHM of one
LR voxel) or ``"box"`` (width of one LR voxel) low-passes every axis whose scale exceeds 1
before the cubic sampling, as a thick slice averages the tissue it spans; ``"cubic"``
samples the spline without that averaging, as the paper does.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from ..errors import RequestError

MAX_SCALE = 16.0
SLICE_PROFILES = ("cubic", "gaussian", "box")
FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


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


def box_kernel(width: float) -> np.ndarray:
    """1D box of ``width`` voxels (any real width >= 1) on the voxel grid: each tap weighs the
    overlap of its voxel with the box centred on the middle tap; sums to 1."""
    half = width / 2.0
    r = int(np.ceil(half - 0.5))
    taps = np.arange(-r, r + 1, dtype=np.float64)
    w = np.clip(np.minimum(taps + 0.5, half) - np.maximum(taps - 0.5, -half), 0.0, None)
    return (w / w.sum()).astype(np.float32)


def slice_profile_blur(volume: np.ndarray, scale: float | Sequence[float], profile: str = "gaussian") -> np.ndarray:
    """Low-pass every axis whose scale exceeds 1 by the slice profile of an LR voxel that
    spans ``scale`` HR voxels: a Gaussian of FWHM ``scale`` or a box of width ``scale``."""
    if profile not in SLICE_PROFILES:
        raise RequestError(f"slice profile '{profile}': choose one of {', '.join(SLICE_PROFILES)}")
    out = volume.astype(np.float32, copy=True)
    if profile == "cubic":
        return out
    for ax, s in enumerate(as_scales(scale, volume.ndim)):
        if s <= 1.0:
            continue
        if profile == "gaussian":
            out = ndimage.gaussian_filter1d(out, s * FWHM_TO_SIGMA, axis=ax, mode="mirror")
        else:
            out = ndimage.correlate1d(out, box_kernel(s), axis=ax, mode="mirror")
    return out


def downsample(hr: np.ndarray, scale: float | Sequence[float], grid_mode: bool = True,
               profile: str = "cubic") -> np.ndarray:
    """HR (D, H, W) -> LR (round(D/s), ...) by cubic spline zoom, as the paper degrades;
    ``profile`` "gaussian" or "box" first averages each LR voxel's slab
    (:func:`slice_profile_blur`)."""
    if profile != "cubic":
        hr = slice_profile_blur(hr, scale, profile)
    return resize_cubic(hr, lr_shape(hr.shape, scale), grid_mode=grid_mode)
