"""The encoder ablation's steps after scoring (``arssr_core.study.encoder_ablation``, notebook 07)."""

from __future__ import annotations

import pandas as pd
import pytest

from arssr_core.paths import REPO_ROOT
from arssr_core.study import encoder_ablation

TABLES = REPO_ROOT / "results" / "cpu" / "tables"


def test_every_two_encoders_and_each_against_cubic_get_an_interval_per_subject():
    calls = []

    def fake_paired(terms, a, b):
        calls.append((terms, a, b))
        return pd.DataFrame([{"a": a, "b": b}])

    mp = pytest.MonkeyPatch()
    mp.setattr(encoder_ablation.evaluation, "paired_intervals", fake_paired)
    try:
        got = encoder_ablation.encoder_intervals({"one": "t1", "two": "t2"}, ["A", "B", "C"])
    finally:
        mp.undo()
    pairs = [("A", "B"), ("A", "C"), ("A", "Cubic"), ("B", "C"), ("B", "Cubic"), ("C", "Cubic")]
    assert [(t, a, b) for t, a, b in calls] == [(t, a, b) for t in ("t1", "t2") for a, b in pairs]
    assert list(got["subject"]) == ["one"] * 6 + ["two"] * 6


def test_the_published_ablation_verdicts_are_what_the_code_reads_from_the_published_tables():
    """Notebook 07's verdicts (claim, verdict, evidence) follow from its published Table 5,
    intervals and equal-step table; the caveat says the budgets once."""
    from arssr_core.data.prepare import TEST_TITLES
    from arssr_core.profiles import load_profile
    from arssr_core.study import evaluation
    from arssr_core.study.experiments import train_arssr

    if not (TABLES / "07_verdicts.csv").exists():
        pytest.skip("no published cpu results")
    runs = {e: train_arssr("cpu", e, section="ablation")["best"] for e in load_profile("cpu")["ablation"]["encoders"]}
    methods = [evaluation.cubic_method()] + [evaluation.Method(f"ArSSR-{e}", "arssr", p) for e, p in runs.items()]
    got = encoder_ablation.verdicts("cpu", pd.read_csv(TABLES / "07_encoder_ablation.csv"),
                                    pd.read_csv(TABLES / "07_intervals.csv"), pd.read_csv(TABLES / "07_equal_steps.csv"),
                                    methods, TEST_TITLES)
    published = pd.read_csv(TABLES / "07_verdicts.csv")
    pd.testing.assert_frame_equal(got[["claim", "verdict", "evidence"]], published[["claim", "verdict", "evidence"]])
    assert all(c.count("Matched budgets") == 1 for c in got["caveat"])


def test_the_ablations_methods_are_cubic_then_each_encoder_under_its_display_name():
    from pathlib import Path

    from arssr_core.study import experiments

    runs = experiments.train_encoders("cpu", ["rescnn", "srresnet"])  # the committed runs, nothing trained
    assert {e: Path(p).parent.name for e, p in runs.items()} == {"rescnn": "arssr-rescnn", "srresnet": "arssr-srresnet"}
    methods = encoder_ablation.encoder_methods(runs)
    assert [(m.name, m.kind) for m in methods] == [("Cubic", "cubic"), ("ArSSR-rescnn", "arssr"), ("ArSSR-srresnet", "arssr")]
    assert encoder_ablation.labelled(runs) == {"ArSSR-rescnn": runs["rescnn"], "ArSSR-srresnet": runs["srresnet"]}
    summary = experiments.runs_summary(runs, key="encoder")
    assert list(summary["encoder"]) == ["rescnn", "srresnet"] and list(summary["model"]) == ["arssr-rescnn", "arssr-srresnet"]
