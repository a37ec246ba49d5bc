"""Simulated acquisitions: a low-resolution scan by k-space truncation, and Rician noise.

A scanner measures k-space, the Fourier transform of the object, and an LR scan of
the same field of view measures only the central part of it. :func:`kspace_truncate`
does exactly that to an HR volume: FFT, keep the central ``m = round(n / s)``
coefficients per axis, inverse FFT on the ``m``-point grid, magnitude. The result is
the LR grid itself (no interpolation), band-limited like a real LR acquisition
(sinc point-spread function, Gibbs ringing at sharp edges), unlike the paper's
cubic-spline zoom.

Where the LR voxels sit. Truncating the DFT samples the band-limited object at HR
index positions ``j * f`` (``f = n / m``), i.e. the first LR voxel centre would sit
on the first HR voxel centre. Before truncating we shift the object by
``delta = (f - 1) / 2`` HR voxels (a linear phase ramp in k-space), so LR voxel ``j``
sits at HR index ``(j + 0.5) f - 0.5``: the cell faces of both grids coincide, the
convention of :func:`arssr_core.data.nifti.resampled_affine`, of
:func:`arssr_core.data.degrade.downsample` and of the coordinate frame of
:mod:`arssr_core.data.coords`. The LR affine is therefore
``resampled_affine(affine, hr_shape, lr_shape)``.

Intensity: the spectrum is scaled by ``prod(m) / prod(n)`` so that the mean intensity
is kept. A magnitude image is returned, as scanners reconstruct magnitude images.

Rician noise: ``|x + n_r + i n_i|`` with ``n_r, n_i ~ N(0, sigma^2)``, the noise of a
magnitude image whose complex channels carry white Gaussian noise.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import DataError
from .degrade import as_scales, lr_shape
from .nifti import check_volume


def kspace_truncate(data: np.ndarray, scale: float | Sequence[float] = 2.0,
                    shape: Sequence[int] | None = None, align_centres: bool = True) -> np.ndarray:
    """LR volume of ``data`` by keeping the central ``1/scale`` of k-space per axis.

    ``shape`` (the LR grid) defaults to ``round(n / scale)`` per axis. With
    ``align_centres`` the LR grid shares the HR grid's field of view with cell faces
    aligned (see the module notes); otherwise LR voxel 0 sits on HR voxel 0.
    Returns float32 magnitudes.
    """
    data = check_volume(data, "k-space truncation input")
    n = np.asarray(data.shape)
    m = np.asarray(lr_shape(data.shape, as_scales(scale)) if shape is None else shape, dtype=int)
    if m.shape != (3,) or np.any(m < 2) or np.any(m > n):
        raise DataError(f"k-space truncation: LR shape {tuple(m)} must lie between 2 and the HR shape {tuple(n)}")
    spec = np.fft.fftshift(np.fft.fftn(data.astype(np.float64)))
    lo = n // 2 - m // 2  # fftshifted index of frequency -m//2
    spec = spec[tuple(slice(int(a), int(a + b)) for a, b in zip(lo, m))]
    if align_centres:
        f = n / m
        delta = 0.5 * (f - 1.0)  # shift in HR voxels so that LR voxel j sits at (j + .5) f - .5
        for ax in range(3):
            k = np.arange(m[ax]) - m[ax] // 2  # signed frequency of each kept (shifted) row
            ramp = np.exp(2j * np.pi * k * delta[ax] / n[ax])
            spec = spec * ramp.reshape([-1 if a == ax else 1 for a in range(3)])
    lr = np.fft.ifftn(np.fft.ifftshift(spec)) * (np.prod(m) / np.prod(n))
    return np.abs(lr).astype(np.float32)


def add_rician_noise(data: np.ndarray, sigma: float, rng: np.random.Generator | int | None = 0) -> np.ndarray:
    """``|data + N(0, sigma) + i N(0, sigma)|``, float32 (sigma in intensity units)."""
    if sigma < 0:
        raise DataError(f"Rician noise: sigma {sigma} must be >= 0")
    rng = np.random.default_rng(rng)
    data = np.asarray(data, dtype=np.float32)
    re = data + rng.normal(0.0, sigma, data.shape).astype(np.float32)
    im = rng.normal(0.0, sigma, data.shape).astype(np.float32)
    return np.sqrt(re * re + im * im).astype(np.float32)


def simulate_pair(hr: np.ndarray, scale: float | Sequence[float] = 2.0, noise: float = 0.02,
                  lr_noise: bool = True, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    """A simulated LR/HR pair of one subject from a clean HR volume in [0, 1].

    LR: :func:`kspace_truncate` of the clean volume; HR reference: the clean volume with
    Rician noise of ``sigma = noise * max``. With ``lr_noise`` the LR also gets Rician
    noise, at ``sigma / sqrt(prod(n / m))``: the noise that truncating the same white
    k-space noise leaves on the coarser grid (bigger voxels, higher SNR).
    Returns ``(lr, hr_noisy, info)``.
    """
    hr = check_volume(hr, "simulation input")
    rng = np.random.default_rng(seed)
    sigma = float(noise) * float(hr.max())
    lr = kspace_truncate(hr, scale)
    ratio = float(np.prod(np.asarray(hr.shape) / np.asarray(lr.shape)))
    sigma_lr = sigma / np.sqrt(ratio) if lr_noise else 0.0
    hr_noisy = add_rician_noise(hr, sigma, rng)
    if sigma_lr > 0:
        lr = add_rician_noise(lr, sigma_lr, rng)
    info = {"scale": list(as_scales(scale)), "lr_shape": list(lr.shape), "sigma_hr": sigma,
            "sigma_lr": float(sigma_lr), "method": "k-space truncation (central 1/s per axis), magnitude"}
    return lr, hr_noisy, info
