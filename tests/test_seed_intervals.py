"""Intervals over training seeds and brain parts (two-level bootstrap)."""

import numpy as np
import pytest

from arssr_core.errors import DataError
from arssr_core.metrics.seed_intervals import seeds_blocks_diff, seeds_units_mean_diff
from arssr_core.metrics.uncertainty import bootstrap_mean_diff, block_terms, brain_blocks


def _experiment(rng, delta=0.5, seed_sd=0.4, unit_sd=0.3, seeds=3, units=60):
    """Per-unit scores of models a and b: a common unit effect, a per-seed offset (the training
    run) and per-unit noise; a is better by ``delta`` on average over training runs."""
    unit = rng.normal(0, 1.0, units)
    a = delta + unit + rng.normal(0, seed_sd, (seeds, 1)) + rng.normal(0, unit_sd, (seeds, units))
    b = unit + rng.normal(0, seed_sd, (seeds, 1)) + rng.normal(0, unit_sd, (seeds, units))
    return a, b


def test_the_two_level_interval_covers_a_known_difference_that_one_seed_misses():
    rng = np.random.default_rng(1)
    two, one = 0, 0
    trials = 60
    for t in range(trials):
        a, b = _experiment(rng, seeds=5)
        iv = seeds_units_mean_diff(a, b, n_boot=500, seed=t)
        two += iv.lo <= 0.5 <= iv.hi
        single = bootstrap_mean_diff(a[0], b[0], n_boot=500, seed=t)  # one seed per model: blocks only
        one += single.lo <= 0.5 <= single.hi
    assert two / trials >= 0.75, two / trials  # few seeds: a little below 95%, far above one seed's
    assert one / trials <= 0.5, one / trials   # block noise alone: the seed spread is left out


def test_it_is_wider_than_the_block_only_interval_when_seeds_disagree_and_equal_when_they_agree():
    rng = np.random.default_rng(2)
    a, b = _experiment(rng, seed_sd=0.5)
    two = seeds_units_mean_diff(a, b, n_boot=1000)
    one = bootstrap_mean_diff(a[0], b[0], n_boot=1000)
    assert two.hi - two.lo > 2 * (one.hi - one.lo)
    same = seeds_units_mean_diff(np.repeat(a[:1], 3, 0), np.repeat(b[:1], 3, 0), n_boot=1000, seed=0)
    ref = seeds_units_mean_diff(a[:1], b[:1], n_boot=1000, seed=0)
    assert same.hi - same.lo == pytest.approx(ref.hi - ref.lo, rel=0.15)  # identical seeds add nothing


def test_psnr_over_seeds_and_blocks():
    rng = np.random.default_rng(3)
    gt = rng.random((64, 64, 64)).astype(np.float32)
    blocks = brain_blocks(np.ones_like(gt), size=16)
    a = [block_terms(gt + rng.normal(0, s, gt.shape).astype(np.float32), gt, blocks, 1.0) for s in (0.02, 0.021, 0.019)]
    b = [block_terms(gt + rng.normal(0, s, gt.shape).astype(np.float32), gt, blocks, 1.0) for s in (0.04, 0.041)]
    iv = seeds_blocks_diff(a, b, "psnr", n_boot=300)
    assert 5.5 < iv.diff < 6.5 and iv.lo > 5 and iv.units == len(blocks)  # half the noise: +6 dB
    with pytest.raises(DataError, match="same blocks"):
        seeds_blocks_diff(a, [block_terms(gt, gt + 0.1, blocks[:-1], 1.0)], "psnr")
