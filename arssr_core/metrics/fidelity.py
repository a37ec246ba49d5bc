"""Full-reference fidelity of a volume: PSNR and SSIM on the whole 3D array.

``data_range`` defaults to the GT's ``max - min`` (as the authors' evaluation code).
Identical inputs give PSNR ``inf`` (documented, no warning) and SSIM 1.

With a ``mask`` (same shape, non-zero = inside) both metrics are restricted to the
mask's *voxels*: PSNR uses the mean squared error over those voxels; SSIM is the
mean of scikit-image's full SSIM map over those voxels. The map is computed on the
mask's bounding box grown by the window's half-width (3 voxels), which gives the
same values there as the whole volume would, faster. ``data_range`` is still the
GT's range over the whole volume.
"""

from __future__ import annotations

import math

import numpy as np
from skimage.metrics import structural_similarity

from ..errors import DataError
from .checks import as_array, same_shape, value_range

SSIM_WIN = 7


def _pair(sr: object, gt: object) -> tuple[np.ndarray, np.ndarray]:
    a = as_array(sr, "sr")
    b = as_array(gt, "gt")
    same_shape(a, b)
    return a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)


def _range(gt: np.ndarray, data_range: float | None) -> float:
    if data_range is None:
        lo, hi = value_range(gt, "gt")
        return hi - lo
    if not (math.isfinite(data_range) and data_range > 0):
        raise DataError(f"data_range must be a positive finite number, got {data_range!r}")
    return float(data_range)


def _mask(mask: object, shape: tuple[int, ...]) -> np.ndarray:
    m = as_array(mask, "mask") != 0
    if m.shape != shape:
        raise DataError(f"shape mismatch: mask has shape {m.shape}, volumes have shape {shape}")
    if not m.any():
        raise DataError("mask is empty: it selects no voxel")
    return m


def psnr(sr: object, gt: object, *, data_range: float | None = None, mask: object = None) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range^2 / MSE)``; ``inf`` if equal.

    ``sr``, ``gt``: same-shape 2D or 3D arrays. ``mask``: optional, see module docstring.
    """
    a, b = _pair(sr, gt)
    dr = _range(b, data_range)
    diff = a - b
    if mask is not None:
        diff = diff[_mask(mask, b.shape)]
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(dr * dr / mse)


def ssim(sr: object, gt: object, *, data_range: float | None = None, mask: object = None) -> float:
    """Structural similarity (scikit-image defaults: 7-voxel uniform window), -1..1.

    ``sr``, ``gt``: same-shape 2D or 3D arrays, each side at least 7 long.
    ``mask``: optional, see module docstring.
    """
    a, b = _pair(sr, gt)
    if min(b.shape) < SSIM_WIN:
        raise DataError(f"SSIM needs every side to be at least {SSIM_WIN} long, got shape {b.shape}")
    dr = _range(b, data_range)
    if mask is None:
        return float(structural_similarity(b, a, data_range=dr, win_size=SSIM_WIN))
    m = _mask(mask, b.shape)
    h = SSIM_WIN // 2
    box = []
    for ax in range(b.ndim):
        other = tuple(i for i in range(b.ndim) if i != ax)
        idx = np.flatnonzero(m.any(axis=other))
        lo, hi = max(idx[0] - h, 0), min(idx[-1] + h + 1, b.shape[ax])
        if hi - lo < SSIM_WIN:  # grow small boxes to one window
            lo, hi = max(min(lo, b.shape[ax] - SSIM_WIN), 0), max(hi, min(lo + SSIM_WIN, b.shape[ax]))
        box.append(slice(lo, hi))
    box = tuple(box)
    _, smap = structural_similarity(b[box], a[box], data_range=dr, win_size=SSIM_WIN, full=True)
    return float(smap[m[box]].mean())
