"""Paired bootstrap intervals for the difference of a metric between two SR methods.

One test brain gives one number per method; how much of a difference between two methods
is noise is estimated by resampling the brain's parts with replacement, the same parts for
both methods (paired), and recomputing the metric on each resample:

- PSNR and SSIM: cubic blocks of the volume (``size`` voxels a side, default 32) holding at
  least ``min_fraction`` foreground. Per block we keep the sum of squared errors and the sum
  of the SSIM map, so a resample's PSNR is ``10 log10(range^2 / mean squared error)`` and its
  SSIM the mean of the map over the resampled voxels.
- LPIPS: the 2D slices it is averaged over (the three orientations, every ``stride``-th
  foreground slice); a resample's LPIPS is the mean over the resampled slices.

The interval is the 2.5th and 97.5th percentile of ``n_boot`` resampled differences
(``a - b``), with a fixed seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.metrics import structural_similarity

from ..errors import DataError
from .checks import as_array, same_shape, value_range
from .fidelity import SSIM_WIN
from ..store import stored

Block = tuple[slice, slice, slice]


def brain_blocks(foreground: np.ndarray, size: int = 32, min_fraction: float = 0.5) -> list[Block]:
    """Non-overlapping ``size``^3 blocks tiling the volume (from its corner) with at least
    ``min_fraction`` of their voxels in ``foreground``; a partial edge block is dropped."""
    fg = np.asarray(foreground) != 0
    if fg.ndim != 3:
        raise DataError(f"brain_blocks wants a 3D mask, got shape {fg.shape}")
    out = []
    for i in range(0, fg.shape[0] - size + 1, size):
        for j in range(0, fg.shape[1] - size + 1, size):
            for k in range(0, fg.shape[2] - size + 1, size):
                b = (slice(i, i + size), slice(j, j + size), slice(k, k + size))
                if fg[b].mean() >= min_fraction:
                    out.append(b)
    if len(out) < 2:
        raise DataError(f"only {len(out)} block(s) of {size}^3 voxels with {min_fraction:.0%} foreground: "
                        "too few to resample")
    return out


@dataclass
class BlockTerms:
    """Per-block sums of one SR volume against its GT: squared error, SSIM map, voxel count."""

    sse: np.ndarray
    ssim_sum: np.ndarray
    n: np.ndarray
    data_range: float


@stored()
def block_terms(sr: object, gt: object, blocks: list[Block], data_range: float | None = None,
                keep: np.ndarray | None = None) -> BlockTerms:
    """The sums :func:`bootstrap_diff` resamples, for each of ``blocks``; with ``keep`` (a
    boolean volume), over each block's voxels in ``keep`` only (a region left out of the score,
    such as a tumour among healthy tissue, moves nothing)."""
    a = as_array(sr, "sr", ndims=(3,)).astype(np.float64)
    b = as_array(gt, "gt", ndims=(3,)).astype(np.float64)
    same_shape(a, b)
    if data_range is None:
        lo, hi = value_range(b, "gt")
        data_range = hi - lo
    _, smap = structural_similarity(a, b, win_size=SSIM_WIN, data_range=data_range, full=True)
    sq = (a - b) ** 2
    if keep is not None:
        keep = np.asarray(keep, dtype=bool)
        same_shape(keep, b, ("keep", "gt"))
        sq, smap = np.where(keep, sq, 0.0), np.where(keep, smap, 0.0)
        n = np.array([keep[x].sum() for x in blocks], dtype=float)
    else:
        n = np.array([sq[x].size for x in blocks], dtype=float)
    return BlockTerms(np.array([sq[x].sum() for x in blocks]), np.array([smap[x].sum() for x in blocks]), n,
                      float(data_range))


def block_metric(t: BlockTerms, metric: str, idx: np.ndarray | None = None) -> np.ndarray | float:
    """PSNR (dB) or SSIM over the blocks ``idx`` (all if None); ``idx`` may be 2D (one
    resample per row), which gives one value per row."""
    if idx is None:
        idx = np.arange(len(t.n))
    n = t.n[idx].sum(-1)
    if metric == "psnr":
        mse = np.maximum(t.sse[idx].sum(-1) / n, 1e-20)
        return 10 * np.log10(t.data_range ** 2 / mse)
    if metric == "ssim":
        return t.ssim_sum[idx].sum(-1) / n
    raise DataError(f"block metrics are psnr and ssim, not '{metric}'")


def resample_indices(n: int, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """``(n_boot, n)`` indices drawn with replacement (fixed seed): the paired resamples."""
    if n < 2:
        raise DataError(f"need at least 2 units to resample, got {n}")
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


@dataclass
class Interval:
    """A difference ``a - b`` (point estimate on all units) and its bootstrap 95% interval."""

    diff: float
    lo: float
    hi: float
    units: int

    def spans_zero(self) -> bool:
        return self.lo <= 0 <= self.hi


def _interval(point: float, boots: np.ndarray, units: int) -> Interval:
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return Interval(float(point), float(lo), float(hi), units)


def bootstrap_diff(a: BlockTerms, b: BlockTerms, metric: str, n_boot: int = 2000, seed: int = 0) -> Interval:
    """Paired bootstrap of ``metric(a) - metric(b)`` over the same blocks."""
    if len(a.n) != len(b.n):
        raise DataError(f"paired bootstrap needs the same blocks: {len(a.n)} vs {len(b.n)}")
    idx = resample_indices(len(a.n), n_boot, seed)
    point = block_metric(a, metric) - block_metric(b, metric)
    return _interval(point, block_metric(a, metric, idx) - block_metric(b, metric, idx), len(a.n))


def bootstrap_mean_diff(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0) -> Interval:
    """Paired bootstrap of ``mean(a) - mean(b)`` over units (e.g. per-slice LPIPS)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1:
        raise DataError(f"paired values must be two 1D arrays of one length, got {a.shape} and {b.shape}")
    d = a - b
    idx = resample_indices(len(d), n_boot, seed)
    return _interval(d.mean(), d[idx].mean(-1), len(d))


@dataclass
class DiceTerms:
    """Per-block, per-region counts of one segmentation against the reference's:
    ``inter`` = |A ∩ B| and ``size`` = |A| + |B| (blocks x regions), for ``regions``."""

    inter: np.ndarray
    size: np.ndarray
    regions: tuple[int, ...]


def dice_terms(labels: object, reference: object, blocks: list[Block], regions: list[int]) -> DiceTerms:
    """The counts :func:`bootstrap_dice_diff` resamples, for each of ``blocks`` and ``regions``."""
    a = as_array(labels, "labels", ndims=(3,))
    b = as_array(reference, "reference", ndims=(3,))
    same_shape(a, b)
    inter = np.array([[np.count_nonzero((a[x] == r) & (b[x] == r)) for r in regions] for x in blocks], float)
    size = np.array([[np.count_nonzero(a[x] == r) + np.count_nonzero(b[x] == r) for r in regions] for x in blocks],
                    float)
    return DiceTerms(inter, size, tuple(int(r) for r in regions))


def dice_from_terms(t: DiceTerms, idx: np.ndarray | None = None) -> np.ndarray:
    """Dice per region over the blocks ``idx`` (all if None; 2D: one row per resample), shape
    ``(..., regions)``; a region absent from both segmentations of a resample scores 1."""
    if idx is None:
        idx = np.arange(len(t.inter))
    inter, size = t.inter[idx].sum(-2), t.size[idx].sum(-2)
    return np.where(size > 0, 2 * inter / np.maximum(size, 1), 1.0)


def bootstrap_dice_diff(a: DiceTerms, b: DiceTerms, n_boot: int = 2000, seed: int = 0) -> dict[object, Interval]:
    """Paired bootstrap of Dice(a) - Dice(b) over the same blocks, per region and for the mean
    over regions (key ``"mean"``).

    Each region resamples only the blocks where it is present (in either segmentation), so every
    resample holds the region: a block without it would enter as a tie and pull the interval
    towards zero, leaving the point estimate at its edge. A region in fewer than two blocks gets
    no interval (NaN bounds). The mean's resamples average the regions' (same resample number)."""
    if a.inter.shape != b.inter.shape or a.regions != b.regions:
        raise DataError(f"paired Dice bootstrap needs the same blocks and regions: {a.inter.shape} vs {b.inter.shape}")
    rng = np.random.default_rng(seed)
    point = dice_from_terms(a) - dice_from_terms(b)
    present = (a.size > 0) | (b.size > 0)  # (blocks, regions)
    boots = np.full((n_boot, len(a.regions)), np.nan)
    units = []
    for i in range(len(a.regions)):
        rows = np.flatnonzero(present[:, i])
        units.append(len(rows))
        if len(rows) < 2:
            continue
        idx = rows[rng.integers(0, len(rows), size=(n_boot, len(rows)))]
        boots[:, i] = dice_from_terms(a, idx)[:, i] - dice_from_terms(b, idx)[:, i]
    out: dict[object, Interval] = {}
    for i, r in enumerate(a.regions):
        out[r] = (_interval(point[i], boots[:, i], units[i]) if units[i] >= 2
                  else Interval(float(point[i]), float("nan"), float("nan"), units[i]))
    ok = [i for i in range(len(a.regions)) if units[i] >= 2]
    out["mean"] = (_interval(point.mean(), boots[:, ok].mean(-1), len(a.inter)) if len(ok) == len(a.regions)
                   else Interval(float(point.mean()), float("nan"), float("nan"), len(a.inter)))
    return out
