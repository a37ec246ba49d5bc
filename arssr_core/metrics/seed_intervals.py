"""Intervals that include training variance: a two-level bootstrap over seeds, then brain parts.

One training run per model leaves out how much another draw of the data and initialisation
moves a score. With several training seeds per model, each bootstrap replicate draws, with
replacement, the seeds of model ``a`` and of model ``b`` (independently: the runs are not
paired) and the brain parts (blocks or slices, shared by both: the test volume is the same),
scores every drawn seed on the drawn parts, averages over the drawn seeds of each model and
takes the difference. The interval is the 2.5th and 97.5th percentile of ``n_boot`` replicates;
the point estimate is the difference of the seed-averaged scores on all parts. With one seed
per model it is the paired block (or slice) bootstrap of :mod:`.uncertainty`; when the seeds
disagree it is wider.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..errors import DataError
from .uncertainty import BlockTerms, Interval, block_metric


def _two_level(score_a: Callable[[np.ndarray | None], np.ndarray], n_a: int,
               score_b: Callable[[np.ndarray | None], np.ndarray], n_b: int,
               n_units: int, n_boot: int, seed: int) -> Interval:
    """The bootstrap itself. ``score_x(idx)`` gives each seed's score on the resampled units
    ``idx`` (``(n_boot, n_units)``): an array ``(seeds, n_boot)``; on all units (``idx=None``):
    ``(seeds,)``."""
    if n_units < 2:
        raise DataError(f"need at least 2 units to resample, got {n_units}")
    if n_a < 1 or n_b < 1:
        raise DataError(f"need at least one seed per model, got {n_a} and {n_b}")
    rng = np.random.default_rng(seed)
    units = rng.integers(0, n_units, size=(n_boot, n_units))
    seeds_a = rng.integers(0, n_a, size=(n_boot, n_a))
    seeds_b = rng.integers(0, n_b, size=(n_boot, n_b))
    a = np.asarray(score_a(units), float).reshape(n_a, n_boot).T  # (n_boot, seeds)
    b = np.asarray(score_b(units), float).reshape(n_b, n_boot).T
    boots = np.take_along_axis(a, seeds_a, 1).mean(1) - np.take_along_axis(b, seeds_b, 1).mean(1)
    point = float(np.mean(score_a(None)) - np.mean(score_b(None)))
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return Interval(point, float(lo), float(hi), n_units)


def seeds_blocks_diff(a: Sequence[BlockTerms], b: Sequence[BlockTerms], metric: str, n_boot: int = 2000,
                      seed: int = 0) -> Interval:
    """Two-level bootstrap of ``metric`` (``psnr`` or ``ssim``) of model ``a`` minus model ``b``:
    one :class:`BlockTerms` per training seed of each, all on the same blocks."""
    sizes = {len(t.n) for t in [*a, *b]}
    if len(sizes) != 1:
        raise DataError(f"every seed must be scored on the same blocks, got block counts {sorted(sizes)}")
    n = sizes.pop()

    def scorer(terms: Sequence[BlockTerms]) -> Callable[[np.ndarray | None], np.ndarray]:
        return lambda idx: np.stack([np.asarray(block_metric(t, metric, idx), float) for t in terms])

    return _two_level(scorer(a), len(a), scorer(b), len(b), n, n_boot, seed)


def seeds_units_mean_diff(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0) -> Interval:
    """Two-level bootstrap of the mean over units (slices: LPIPS, PSI, LPC-SI) of model ``a``
    minus model ``b``: ``a`` is ``(seeds_a, units)``, ``b`` ``(seeds_b, units)``, the same units."""
    a, b = np.atleast_2d(np.asarray(a, float)), np.atleast_2d(np.asarray(b, float))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise DataError(f"values must be (seeds, units) arrays over the same units, got {a.shape} and {b.shape}")

    def scorer(v: np.ndarray) -> Callable[[np.ndarray | None], np.ndarray]:
        return lambda idx: v.mean(1) if idx is None else v[:, idx].mean(-1)

    return _two_level(scorer(a), a.shape[0], scorer(b), b.shape[0], a.shape[1], n_boot, seed)
