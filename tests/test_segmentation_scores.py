"""The segmentation experiment's steps (``arssr_core.study.segmentation_scores``, notebook 06)."""

from __future__ import annotations

import pandas as pd
import pytest

from arssr_core.paths import REPO_ROOT
from arssr_core.study import segmentation_scores

TABLES = REPO_ROOT / "results" / "cpu" / "tables"


def _published(name: str) -> pd.DataFrame:
    if not (TABLES / f"{name}.csv").exists():
        pytest.skip("no published cpu results")
    return pd.read_csv(TABLES / f"{name}.csv")


def test_the_mean_dice_is_the_regions_mean_with_the_volumes_psnr():
    dice = pd.DataFrame({"subject": "s", "method": ["A"] * 3 + ["B"] * 3, "scale": 2.0, "region": ["r1", "r2", "r3"] * 2,
                         "dice": [0.9, 0.8, 0.7, 0.6, 0.6, 0.9], "psnr": [30.0] * 3 + [28.0] * 3})
    means = segmentation_scores.mean_dice(dice)
    assert means[["method", "dice", "psnr"]].round(6).values.tolist() == [["A", 0.8, 30.0], ["B", 0.7, 28.0]]
    pd.testing.assert_frame_equal(segmentation_scores.mean_dice(_published("06_segmentation_dice")),
                                  _published("06_segmentation_mean_dice"), check_dtype=False)


def test_each_subject_gets_table_4_at_each_scale_and_its_mean_dice():
    from arssr_core.data.prepare import TEST_TITLES

    dice, means = _published("06_segmentation_dice"), _published("06_segmentation_mean_dice")
    subjects = [{"name": k, "title": v} for k, v in TEST_TITLES.items()]
    shown = segmentation_scores.dice_tables(dice, means, subjects)
    scales = sorted(set(dice["scale"]))
    assert len(shown) == len(subjects) * (len(scales) + 1)
    caption, table = shown[0]
    assert caption.startswith("Table 4, Colin27, x2:") and table.shape == (dice["method"].nunique(), dice["region"].nunique())
    assert shown[len(scales)][0] == "Colin27: mean Dice over the six regions"


def test_the_published_segmentation_verdicts_are_what_the_code_reads_from_the_published_tables():
    from arssr_core.data.prepare import TEST_TITLES
    from arssr_core.study import evaluation

    methods = [evaluation.cubic_method(), *evaluation.baseline_methods("cpu"), evaluation.arssr_method("cpu")]
    got = segmentation_scores.verdicts("cpu", _published("06_segmentation_mean_dice"), _published("06_segmentation_dice"),
                                       _published("06_dice_intervals"), methods, TEST_TITLES)
    published = _published("06_verdicts")
    pd.testing.assert_frame_equal(got[["claim", "verdict", "evidence"]], published[["claim", "verdict", "evidence"]])
    assert all(c.count("Matched budgets") == 1 for c in got["caveat"])


def test_the_segmentation_figure_shows_the_truth_then_each_method_at_the_scale():
    from arssr_core.study import evaluation

    labels = {("GT", 0.0): "gt", ("Cubic", 4.0): "c4", ("ArSSR", 4.0): "a4", ("ArSSR", 2.0): "a2"}
    methods = [evaluation.cubic_method(), evaluation.Method("ResCNN", "baseline"), evaluation.Method("ArSSR", "arssr")]
    assert segmentation_scores.shown_labels(labels, methods, 4) == {"GT": "gt", "Cubic x4": "c4", "ArSSR x4": "a4"}
