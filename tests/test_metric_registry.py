"""One registry of metric facts (issue 34 item 3): every module reads it, and no margin is
below the reproduction tolerance of the same quantity."""

from __future__ import annotations

import pytest

from arssr_core.errors import ArssrError
from arssr_core.metrics import registry


def test_every_judged_metric_has_a_direction_a_margin_at_or_above_its_tolerance_and_a_label():
    for key in ("psnr", "ssim", "lpips", "psi", "lpc_si", "dice"):
        m = registry.metric(key)
        assert m.better in (1, -1) and m.margin >= m.tolerance > 0 and m.label
    assert registry.metric("lpips").better == -1 and registry.label("lpc_si") == "LPC-SI"
    assert registry.label("gradient_ratio") == "GRADIENT-RATIO"  # outside the registry: upper-cased


def test_a_margin_below_the_tolerance_or_an_unknown_metric_is_refused():
    with pytest.raises(ArssrError, match="below its reproduction tolerance"):
        registry.Metric("x", "X", 1, margin=0.001, tolerance=0.005)
    with pytest.raises(ArssrError, match="unknown metric 'psnrr'.*psnr"):
        registry.metric("psnrr")


def test_the_study_reads_its_metric_facts_from_the_registry():
    from arssr_core.study import claims, evaluation, report, reproduction

    assert claims.MARGINS == registry.margins() and evaluation.BETTER == registry.directions()
    assert all(reproduction.TOLERANCES[k] == v for k, v in registry.tolerances().items())
    assert all(report.DECIMALS[k] == v for k, v in registry.decimals().items())
    assert evaluation.metric_label("profile_spread") == "profile spread"
