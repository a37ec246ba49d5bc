"""Verdicts in four statuses on constructed tables, and bootstrap intervals on synthetic data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from arssr_core.study import claims
from arssr_core.metrics import psnr
from arssr_core.metrics.uncertainty import (block_metric, block_terms, bootstrap_diff, bootstrap_mean_diff,
                                             brain_blocks)


def _table(rows):
    return pd.DataFrame(rows, columns=["method", "scale", "psnr", "ssim"])


def _iv(a, b, rows):
    return pd.DataFrame([{"a": a, "b": b, "scale": s, "metric": m, "diff": d, "lo": lo, "hi": hi, "units": "x"}
                         for s, m, d, lo, hi in rows])


def test_claim_held_when_every_difference_is_clear_and_above_the_margin():
    t = _table([("A", 2, 30.0, 0.90), ("B", 2, 29.5, 0.88), ("A", 3, 28.0, 0.85), ("B", 3, 27.6, 0.84)])
    iv = _iv("A", "B", [(2, "psnr", 0.5, 0.3, 0.7), (2, "ssim", 0.02, 0.01, 0.03),
                        (3, "psnr", 0.4, 0.2, 0.6), (3, "ssim", 0.01, 0.005, 0.015)])
    assert claims.claim_beats(t, "A", "B", ["psnr", "ssim"], "A beats B", iv)["verdict"] == "held"


def test_claim_did_not_hold_when_one_comparison_goes_clearly_against_it():
    t = _table([("A", 2, 30.0, 0.90), ("B", 2, 29.5, 0.88), ("A", 3, 27.0, 0.85), ("B", 3, 27.6, 0.84)])
    iv = _iv("A", "B", [(2, "psnr", 0.5, 0.3, 0.7), (3, "psnr", -0.6, -0.8, -0.4)])
    v = claims.claim_beats(t, "A", "B", ["psnr"], "A beats B", iv)
    assert v["verdict"] == "did not hold" and "x3 PSNR -0.6" in v["evidence"]


@pytest.mark.parametrize("diff,lo,hi", [(0.5, -0.1, 1.1),      # interval spans zero
                                        (0.05, 0.01, 0.09)])   # clear of zero but below 0.1 dB
def test_claim_inconclusive_when_the_interval_spans_zero_or_the_effect_is_below_the_margin(diff, lo, hi):
    t = _table([("A", 2, 30.0 + diff, 0.9), ("B", 2, 30.0, 0.9)])
    v = claims.claim_beats(t, "A", "B", ["psnr"], "A beats B", _iv("A", "B", [(2, "psnr", diff, lo, hi)]))
    assert v["verdict"] == "inconclusive"


def test_claim_untestable_when_the_per_scale_network_does_not_beat_cubic():
    t = _table([("Cubic", 2, 29.20, 0.9), ("Net", 2, 29.21, 0.9), ("ArSSR", 2, 30.5, 0.92),
                ("Cubic", 3, 26.40, 0.8), ("Net", 3, 27.30, 0.85), ("ArSSR", 3, 27.2, 0.84)])
    flat = claims.not_above_cubic(t, "Net")
    assert list(flat) == [2.0] and "does not beat cubic at x2" in flat[2.0]
    only_x2 = claims.claim_beats(t[t["scale"] == 2], "Net", "ArSSR", ["psnr"], "Net beats ArSSR", untestable=flat)
    assert only_x2["verdict"] == "untestable" and "untestable and left out" in only_x2["caveat"]
    iv = _iv("Net", "ArSSR", [(2, "psnr", -1.29, -1.5, -1.1), (3, "psnr", 0.1, 0.05, 0.15)])
    both = claims.claim_beats(t, "Net", "ArSSR", ["psnr"], "Net beats ArSSR", iv, untestable=flat, caveat="budget")
    assert both["verdict"] == "held" and "budget" in both["caveat"]  # x3 only: +0.1 dB is not < margin
    assert both["caveat"].startswith("All 1 comparisons for; the closest: x3 PSNR")  # names what decided it


def test_no_verdict_rests_on_a_comparison_without_an_interval():
    """A clear point estimate without an interval leaves a claim inconclusive and the caveat
    says so; with an interval the same numbers decide it."""
    t = _table([("A", 2, 31.0, 0.95), ("B", 2, 29.0, 0.85)])
    bare = claims.claim_beats(t, "A", "B", ["psnr", "ssim"], "A beats B")
    assert bare["verdict"] == "inconclusive" and "2 without an interval" in bare["caveat"]
    iv = _iv("A", "B", [(2, "psnr", 2.0, 1.5, 2.5), (2, "ssim", 0.1, 0.08, 0.12)])
    assert claims.claim_beats(t, "A", "B", ["psnr", "ssim"], "A beats B", iv)["verdict"] == "held"
    against = claims.claim_beats(t, "B", "A", ["psnr"], "B beats A", iv)
    assert against["verdict"] == "did not hold" and against["caveat"].startswith("Decided by 1 of 1 comparisons against: x2 PSNR")
    spread = claims.claim_small_spread(t, ["A", "B"], "psnr", 0.5, "within 0.5 dB")
    assert spread["verdict"] == "inconclusive" and "decides nothing" in spread["caveat"]
    assert claims.claim_small_spread(t, ["A", "B"], "psnr", 0.5, "within 0.5 dB", intervals=iv)["verdict"] == "did not hold"
    assert claims.claim_small_spread(t, ["A", "B"], "psnr", 3.0, "within 3 dB", intervals=iv)["verdict"] == "held"
    assert claims.not_above_cubic(_table([("Cubic", 2, 29.0, 0.9), ("Net", 2, 29.5, 0.9)]), "Net") == {}  # setup check: point
    spread = claims.claim_small_spread(t, ["Net", "ArSSR"], "psnr", 0.5, "spread", untestable=["Net"])
    assert spread["verdict"] == "untestable"


def test_verdict_table_has_the_four_fields_and_only_the_four_statuses():
    t = _table([("A", 2, 30.0, 0.9), ("B", 2, 29.0, 0.9)])
    vt = claims.verdict_table([claims.claim_beats(t, "A", "B", ["psnr"], "c"),
                               claims.claim_lead_grows(t, "A", "B", "psnr", "grows")])
    assert list(vt.columns) == ["claim", "verdict", "evidence", "caveat"]
    assert set(vt["verdict"]) <= set(claims.STATUSES)
    assert vt.loc[1, "verdict"] == "untestable"  # one scale: no trend to test


def test_ranking_claim_uses_the_margin():
    t = pd.DataFrame({"method": ["A", "B", "C"] * 2, "subject": ["s1"] * 3 + ["s2"] * 3,
                      "psnr": [31.0, 30.0, 29.0, 31.0, 30.95, 29.0]})
    v = claims.claim_ranking(t, ["A", "B", "C"], "psnr", "A > B > C", by="subject")
    assert v["verdict"] == "inconclusive" and "s2" in v["evidence"]


def _volume(seed=0, n=64):
    rng = np.random.default_rng(seed)
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(rng.random((n, n, n)), 2)


def test_block_psnr_of_all_blocks_equals_psnr_over_those_voxels():
    gt = _volume()
    sr = gt + np.random.default_rng(1).normal(0, 0.01, gt.shape)
    blocks = brain_blocks(np.ones_like(gt), 32)
    t = block_terms(sr, gt, blocks, data_range=1.0)
    assert len(blocks) == 8
    assert block_metric(t, "psnr") == pytest.approx(psnr(sr, gt, data_range=1.0), abs=1e-9)


def test_paired_bootstrap_covers_a_known_psnr_difference():
    gt = _volume()
    rng = np.random.default_rng(2)
    a = gt + rng.normal(0, 0.010, gt.shape)
    b = gt + rng.normal(0, 0.020, gt.shape)  # twice the noise: PSNR lower by 20 log10(2) = 6.02 dB
    blocks = brain_blocks(np.ones_like(gt), 16)
    iv = bootstrap_diff(block_terms(a, gt, blocks, 1.0), block_terms(b, gt, blocks, 1.0), "psnr", 1000)
    assert iv.lo < 20 * np.log10(2) < iv.hi and iv.lo > 5.5 and not iv.spans_zero()
    same = bootstrap_diff(block_terms(a, gt, blocks, 1.0), block_terms(a, gt, blocks, 1.0), "psnr")
    assert same.diff == 0 and same.spans_zero()


def test_paired_mean_bootstrap_covers_the_shift_and_is_reproducible():
    rng = np.random.default_rng(3)
    b = rng.random(200)
    a = b + 0.01 + rng.normal(0, 0.005, 200)
    iv = bootstrap_mean_diff(a, b, seed=7)
    assert iv.lo < 0.01 < iv.hi and iv.lo > 0
    assert bootstrap_mean_diff(a, b, seed=7) == iv
    with pytest.raises(Exception, match="one length"):
        bootstrap_mean_diff(a, b[:10])


def test_brain_blocks_keep_only_blocks_with_enough_foreground():
    m = np.zeros((64, 64, 64))
    m[:32, :32, :32] = 1
    m[32:, 32:, 32:48] = 1  # half of one block
    assert len(brain_blocks(m, 32, 0.5)) == 2
    with pytest.raises(Exception, match="too few"):
        brain_blocks(m, 32, 0.9)


def test_compare_judges_the_intervals_own_estimate_in_either_direction():
    t = _table([("A", 2, 30.0, 0.90), ("B", 2, 29.0, 0.88)])  # whole-volume difference +1.0 dB
    iv = _iv("B", "A", [(2, "psnr", -0.05, -0.1, 0.0)])         # B - A over blocks: -0.05 [-0.1, 0.0]
    c = claims.compare(t, "A", "B", ["psnr"], iv).iloc[0]
    assert (c["diff"], c["lo"], c["hi"]) == pytest.approx((0.05, 0.0, 0.1))
    assert c["judgement"] == "inconclusive"  # the paired estimate decides, not the whole-volume gap
    assert claims.compare(t, "A", "B", ["psnr"]).iloc[0]["diff"] == pytest.approx(1.0)


def test_paired_dice_bootstrap_covers_a_known_difference_per_region_and_for_the_mean():
    from arssr_core.metrics import dice
    from arssr_core.metrics.uncertainty import bootstrap_dice_diff, dice_from_terms, dice_terms

    rng = np.random.default_rng(0)
    ref = rng.integers(1, 3, size=(64, 64, 64)).astype(np.uint8)  # two regions everywhere
    good = ref.copy()
    bad = ref.copy()
    flip = rng.random(ref.shape) < 0.2  # 20 % of voxels mislabelled in "bad"
    bad[flip] = 3 - bad[flip]
    blocks = brain_blocks(np.ones(ref.shape), 16)
    tg, tb = dice_terms(good, ref, blocks, [1, 2]), dice_terms(bad, ref, blocks, [1, 2])
    whole = dice(bad, ref, labels=[1, 2])
    assert dice_from_terms(tb) == pytest.approx([whole[1], whole[2]])  # block sums = the whole volume's Dice
    iv = bootstrap_dice_diff(tg, tb, n_boot=500, seed=0)
    for key, want in ((1, 1 - whole[1]), (2, 1 - whole[2]), ("mean", 1 - (whole[1] + whole[2]) / 2)):
        assert iv[key].diff == pytest.approx(want) and iv[key].lo <= want <= iv[key].hi and iv[key].lo > 0


def test_profile_consistency_is_zero_for_one_formula_and_grows_with_disagreement():
    from arssr_core.data.degrade import resize_cubic
    from arssr_core.study.evaluation import profile_consistency

    x = np.linspace(0, 1, 16)
    lr = np.add.outer(np.add.outer(x, x), x) / 3  # a linear ramp: every interpolation agrees
    factors = {"x2": 2.0, "x4": 4.0}
    same = {("Lin", r): resize_cubic(lr, tuple(int(n * f) for n in lr.shape)) for r, f in factors.items()}
    off = {**same, ("Off", "x2"): same[("Lin", "x2")] + 0.1, ("Off", "x4"): same[("Lin", "x4")]}
    t = profile_consistency(lr, (2.0, 2.0, 2.0), {**same, **{k: v for k, v in off.items() if k[0] == "Off"}}, factors)
    spread = t.set_index("method")["profile_spread"]
    assert spread["Lin"] < 0.01 and spread["Off"] == pytest.approx(0.05, abs=0.01)  # std of {+0.1, 0} = 0.05


@pytest.mark.parametrize("lo, hi, verdict", [(0.55, 0.9, "held"), (0.3, 0.45, "did not hold"),
                                             (0.4, 0.8, "inconclusive")])
def test_threshold_claim_needs_the_whole_interval_past_the_stated_effect(lo, hi, verdict):
    """'a beats b by at least 0.5 dB': held when the whole interval is >= 0.5, did not hold when
    it is all below, inconclusive when it straddles 0.5 (point estimate 0.6 each time)."""
    t = _table([("A", "1x1x3", 30.6, 0.9), ("B", "1x1x3", 30.0, 0.9), ("A", "x2", 20.0, 0.9), ("B", "x2", 30.0, 0.9)])
    iv = _iv("A", "B", [("1x1x3", "psnr", 0.6, lo, hi)])
    row = claims.claim_threshold(t, "A", "B", "psnr", 0.5, "A beats B by 0.5 dB", ["1x1x3"], iv)
    assert row["verdict"] == verdict and "x2" not in row["evidence"]  # only the requested keys


def test_threshold_claim_of_a_bounded_loss():
    """'a loses at most 0.1 dB to b' is a threshold of -0.1 on a - b, without intervals too."""
    t = _table([("A", 2, 29.95, 0.9), ("B", 2, 30.0, 0.9), ("A", 3, 27.7, 0.9), ("B", 3, 28.0, 0.9)])
    assert claims.claim_threshold(t, "A", "B", "psnr", -0.1, "loss", [2])["verdict"] == "held"
    assert claims.claim_threshold(t, "A", "B", "psnr", -0.1, "loss")["verdict"] == "did not hold"  # x3: -0.3
    assert claims.claim_threshold(t, "A", "B", "psnr", -0.1, "loss", ["x9"])["verdict"] == "untestable"


def test_lead_grows_only_when_it_rises_without_a_drop_on_the_way():
    """Rising end to end is not enough: a lead that drops beyond the margin between two
    neighbouring scales on the way is inconclusive (LPIPS: lower is better, lead = b - a)."""
    def t(leads):
        return pd.DataFrame([{"method": m, "scale": s, "lpips": 0.2 - (v if m == "A" else 0.0)}
                             for s, v in zip((2, 3, 4), leads) for m in ("A", "B")])
    assert claims.claim_lead_grows(t([0.01, 0.02, 0.03]), "A", "B", "lpips", "grows")["verdict"] == "held"
    v = claims.claim_lead_grows(t([0.01, 0.03, 0.02]), "A", "B", "lpips", "grows")
    assert v["verdict"] == "inconclusive" and "from x3 to x4" in v["evidence"]
    assert claims.claim_lead_grows(t([0.03, 0.02, 0.01]), "A", "B", "lpips", "grows")["verdict"] == "did not hold"


@pytest.mark.parametrize("factor", [2.0, 2.5, 3.0, 4.0])
def test_the_sr_line_passes_through_the_lr_voxels_physical_centre_at_every_scale(factor):
    """Issue 34: the profile-consistency claim compares lines through the same physical point at
    every scale; an SR volume that is linear across the line gives, at each scale, the value at
    the LR voxel column's centre (before: up to half an LR voxel off between scales)."""
    from arssr_core.study.evaluation import _sr_line

    n = int(round(12 * factor))
    idx = np.arange(n)
    pos = (idx + 0.5) / factor  # SR voxel centres in LR voxel units
    sr = (0 * idx[:, None, None] + 2.0 * pos[None, :, None] + 3.0 * pos[None, None, :]).astype(np.float32)
    j, k = 5, 7
    want = 2.0 * (j + 0.5) + 3.0 * (k + 0.5)
    np.testing.assert_allclose(_sr_line(sr, j, k, factor), want, rtol=1e-5)


def test_a_rare_region_is_present_in_every_dice_resample():
    """A region in 3 of 64 blocks: resampling all blocks would leave it out of about 5 % of the
    resamples (a tie there), pulling the interval's low end to zero; resampled among its own
    blocks, the interval of a clear difference stays around its point estimate."""
    from arssr_core.metrics.uncertainty import bootstrap_dice_diff, dice_terms

    rng = np.random.default_rng(1)
    ref = np.ones((64, 64, 64), np.uint8)
    ref[2:14, 2:14, 2:14] = 2  # region 2 in block (0, 0, 0) only ...
    ref[18:30, 2:14, 2:14] = 2  # ... and two more
    ref[34:46, 2:14, 2:14] = 2
    good, bad = ref.copy(), ref.copy()
    flip = (rng.random(ref.shape) < 0.3) & (ref == 2)
    bad[flip] = 1
    blocks = brain_blocks(np.ones(ref.shape), 16)
    iv = bootstrap_dice_diff(dice_terms(good, ref, blocks, [1, 2]), dice_terms(bad, ref, blocks, [1, 2]), n_boot=500)
    assert iv[2].units == 3 and iv[2].lo > 0.05 and iv[2].lo <= iv[2].diff <= iv[2].hi
    assert iv[1].units == 64 and iv["mean"].lo > 0
    lonely = ref.copy()
    lonely[ref == 2] = 1
    lonely[2:14, 2:14, 2:14] = 3  # region 3 in one block: no interval
    one = bootstrap_dice_diff(dice_terms(lonely, lonely, blocks, [1, 3]), dice_terms(lonely, ref, blocks, [1, 3]))
    assert one[3].units == 1 and np.isnan(one[3].lo) and np.isnan(one["mean"].lo)


def test_a_verdict_stands_only_where_the_test_subjects_agree():
    """per_subject judges a claim on each subject's rows (and intervals) and keeps the verdict
    only where both give it; a disagreement is inconclusive and the caveat says so."""
    from arssr_core.study.claims import claim_beats, per_subject

    def table(d2):
        return pd.DataFrame({"subject": ["s1"] * 2 + ["s2"] * 2, "method": ["A", "B"] * 2, "scale": [2.0] * 4,
                             "psnr": [31.0, 30.0, 30.0 + d2, 30.0]})

    def iv(lo2, hi2):
        return pd.DataFrame([{"subject": "s1", "a": "A", "b": "B", "scale": 2.0, "metric": "psnr", "diff": 1.0,
                              "lo": 0.8, "hi": 1.2},
                             {"subject": "s2", "a": "A", "b": "B", "scale": 2.0, "metric": "psnr", "diff": 0.0,
                              "lo": lo2, "hi": hi2}])

    def judge(t, i):
        return claim_beats(t, "A", "B", ["psnr"], "A beats B", i)

    both = per_subject(table(1.0), iv(0.8, 1.2).assign(diff=[1.0, 1.0]), judge, {"s1": "One", "s2": "Two"})
    assert both["verdict"] == "held" and "One: held, Two: held" in both["caveat"]
    split = per_subject(table(0.0), iv(-0.2, 0.2), judge, {"s1": "One", "s2": "Two"})
    assert split["verdict"] == "inconclusive" and "disagree" in split["caveat"] and "One: held" in split["caveat"]
    assert "One:" in split["evidence"] and "Two:" in split["evidence"]
    single = per_subject(table(1.0)[lambda d: d["subject"] == "s1"].drop(columns="subject"), None, judge)
    assert single["verdict"] == "inconclusive"  # no interval: decides nothing


def test_a_caveat_judged_on_two_subjects_says_their_common_part_once():
    """The caveat every subject shares (budgets, test subjects) is stated once, after each
    subject's own sentences, not repeated inside every subject's clause."""
    from arssr_core.study.claims import across_subjects

    common = "Matched budgets far below the paper's: 12000 steps (x2 1.0, x3 2.0). Still improving: B x4 +0.22 dB."
    rows = {"One": {"claim": "c", "verdict": "held", "evidence": "e1",
                    "caveat": "Decided by 2 of 2 comparisons: x2 PSNR +1.0; ... " + common},
            "Two": {"claim": "c", "verdict": "did not hold", "evidence": "e2",
                    "caveat": "Decided by 1 of 2 comparisons against: x3 PSNR -0.4. " + common
                              + " untestable and left out: B does not beat cubic at x2."}}
    cav = across_subjects(rows)["caveat"]
    assert cav.count("Matched budgets") == 1 and cav.count("Still improving") == 1
    assert cav.index("One: Decided by 2 of 2") < cav.index("Two: Decided by 1 of 2") < cav.index("On every subject: Matched")
    assert "Two: Decided by 1 of 2 comparisons against: x3 PSNR -0.4." in cav
    assert "untestable and left out: B does not beat cubic at x2." in cav  # Two's own, kept with Two
    alone = across_subjects({"One": rows["One"], "Two": {**rows["Two"], "caveat": ""}})["caveat"]
    assert "On every subject" not in alone and alone.count("Matched budgets") == 1  # nothing shared: as before
