"""Pseudo-subjects: new anatomy and contrast from one training volume.

HCP-1200 gives the paper 780 training subjects; we have four volumes. A pseudo-subject
changes both what the brain looks like and how it is imaged:

- anatomy: a smooth elastic deformation (a cubic B-spline free-form deformation with
  control points every ``spacing_mm`` and displacements of standard deviation
  ``displacement_mm``; with the defaults the field is diffeomorphic in practice,
  the largest displacement gradient stays well below 1) and a left-right flip
  (probability ``p_flip``; only the L-R axis, so the brain stays upright);
- contrast: a gamma change ``x ** g`` with ``log g ~ U(log 0.7, log 1.4)`` and a
  smooth multiplicative bias field ``exp(b)``, ``b`` a B-spline field with control
  points every ``bias_spacing_mm`` scaled so that its standard deviation is
  ``bias_std`` (about +-10-20 % intensity over the head).

The volume is resampled with cubic splines (order 3; linear interpolation would blur
the HR ground truth that super-resolution learns from) and, after gamma and bias, put
back on the training volumes' robust scale (minimum -> 0, 99.9th percentile of the
foreground -> 1, clipped), so a bright bias field does not saturate the white matter.
Arrays are processed in slabs along axis 0 so that a 0.5 mm volume (about 4.5e7
voxels) needs no full-size coordinate arrays. Everything is a pure function of the
seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage

from .nifti import check_volume, normalise


@dataclass(frozen=True)
class AugmentParams:
    """Settings of :func:`pseudo_subject` (all lengths in mm)."""

    spacing_mm: float = 32.0
    displacement_mm: float = 3.0
    p_flip: float = 0.5
    gamma: tuple[float, float] = (0.7, 1.4)
    bias_spacing_mm: float = 64.0
    bias_std: float = 0.1
    order: int = 3


def bspline3(t: np.ndarray) -> np.ndarray:
    """Cubic B-spline kernel (support (-2, 2))."""
    a = np.abs(t)
    out = np.where(a < 1, 2.0 / 3.0 - a**2 + 0.5 * a**3, 0.0)
    return np.where((a >= 1) & (a < 2), (2.0 - a) ** 3 / 6.0, out)


def _basis(n: int, spacing_vox: float) -> np.ndarray:
    """(n, g) B-spline weights of ``g`` control points spaced ``spacing_vox`` voxels on an axis of ``n``."""
    spacing_vox = max(float(spacing_vox), 1.0)
    g = int(np.ceil((n - 1) / spacing_vox)) + 3
    knots = (np.arange(g) - 1) * spacing_vox
    return bspline3((np.arange(n)[:, None] - knots[None, :]) / spacing_vox)


def smooth_field(shape: Sequence[int], spacing_vox: Sequence[float], rng: np.random.Generator,
                 channels: int = 1) -> tuple[np.ndarray, list[np.ndarray]]:
    """Random B-spline control coefficients and per-axis bases; evaluate with :func:`eval_field`."""
    bases = [_basis(int(n), s) for n, s in zip(shape, spacing_vox)]
    coef = rng.standard_normal((channels, *[b.shape[1] for b in bases]))
    return coef, bases


def eval_field(coef: np.ndarray, bases: list[np.ndarray], rows: slice | None = None) -> np.ndarray:
    """The field ``(channels, X, Y, Z)`` (or the slab ``rows`` of axis 0), float32."""
    bx, by, bz = bases
    if rows is not None:
        bx = bx[rows]
    t = np.einsum("cabk,zk->cabz", coef, bz)
    t = np.einsum("cabz,yb->cayz", t, by)
    return np.einsum("cayz,xa->cxyz", t, bx).astype(np.float32)


def elastic_deform(data: np.ndarray, voxel_size: Sequence[float], rng: np.random.Generator,
                   spacing_mm: float = 32.0, displacement_mm: float = 3.0, order: int = 3,
                   slab: int = 16) -> np.ndarray:
    """Warp ``data`` by a random smooth displacement field (see the module notes)."""
    data = np.asarray(data, dtype=np.float32)
    vs = np.asarray(voxel_size, dtype=np.float64)
    coef, bases = smooth_field(data.shape, spacing_mm / vs, rng, channels=3)
    # B-spline coefficients N(0,1) give a field of std about 0.5; scale to the wanted std, in voxels
    norm = float(np.sqrt(np.mean(eval_field(coef[:, ::1], [b[:: max(1, len(b) // 16)] for b in bases]) ** 2)))
    coef = coef * (displacement_mm / max(norm, 1e-6) / vs)[:, None, None, None]
    src = ndimage.spline_filter(data, order=order, output=np.float32, mode="mirror") if order > 1 else data
    out = np.empty_like(data)
    yy, zz = np.meshgrid(np.arange(data.shape[1], dtype=np.float32),
                         np.arange(data.shape[2], dtype=np.float32), indexing="ij")
    for x0 in range(0, data.shape[0], slab):
        rows = slice(x0, min(x0 + slab, data.shape[0]))
        disp = eval_field(coef, bases, rows)
        xs = np.arange(rows.start, rows.stop, dtype=np.float32)[:, None, None]
        coords = np.stack([xs + disp[0], yy[None] + disp[1], zz[None] + disp[2]])
        out[rows] = ndimage.map_coordinates(src, coords, order=order, mode="mirror", prefilter=False,
                                            output=np.float32)
    return out


def bias_field(shape: Sequence[int], voxel_size: Sequence[float], rng: np.random.Generator,
               spacing_mm: float = 64.0, std: float = 0.1) -> np.ndarray:
    """A smooth multiplicative field ``exp(b)`` with ``std(b) ~= std``, float32."""
    coef, bases = smooth_field(shape, spacing_mm / np.asarray(voxel_size, dtype=np.float64), rng)
    probe = eval_field(coef, [b[:: max(1, len(b) // 16)] for b in bases])
    coef = coef * (std / max(float(probe.std()), 1e-6))
    return np.exp(eval_field(coef, bases)[0]).astype(np.float32)


def pseudo_subject(data: np.ndarray, voxel_size: Sequence[float], seed: int | Sequence[int],
                   params: AugmentParams = AugmentParams()) -> tuple[np.ndarray, dict]:
    """One pseudo-subject of a volume in [0, 1] (RAS; axis 0 is left-right).

    Returns the new volume (same shape, float32 in [0, 1], robust scale) and a record of what was drawn.
    """
    data = check_volume(data, "pseudo-subject input")
    rng = np.random.default_rng(seed)
    out = elastic_deform(data, voxel_size, rng, params.spacing_mm, params.displacement_mm, params.order)
    flip = bool(rng.random() < params.p_flip)
    if flip:
        out = out[::-1]
    out = np.clip(out, 0.0, 1.0)
    g = float(np.exp(rng.uniform(np.log(params.gamma[0]), np.log(params.gamma[1]))))
    out = out**g
    out *= bias_field(out.shape, voxel_size, rng, params.bias_spacing_mm, params.bias_std)
    out = np.ascontiguousarray(normalise(out, "robust"), dtype=np.float32)
    info = {"params": asdict(params), "seed": list(np.atleast_1d(seed).tolist()), "flip_lr": flip,
            "gamma_drawn": g}
    return out, info
