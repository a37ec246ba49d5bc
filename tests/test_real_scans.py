"""The real LR scans' steps (``arssr_core.study.real_scans``, notebook 05)."""

from __future__ import annotations

import pandas as pd
import pytest

from arssr_core.paths import REPO_ROOT
from arssr_core.study import real_scans

TABLES = REPO_ROOT / "results" / "cpu" / "tables"


def test_the_isotropic_requests_are_named_by_their_factor():
    assert real_scans.scale_factors([2, 3.0, 2.5]) == {"x2": 2.0, "x3": 3.0, "x2.5": 2.5}


def test_the_published_real_scan_verdicts_are_what_the_code_reads_from_the_published_tables():
    from arssr_core.data.prepare import REAL_LR
    from arssr_core.study import evaluation

    if not (TABLES / "05_verdicts.csv").exists():
        pytest.skip("no published cpu results")
    methods = [evaluation.cubic_method(), *[m for m in evaluation.baseline_methods("cpu") if m.model == "rescnn"],
               evaluation.arssr_method("cpu")]
    read = {n: pd.read_csv(TABLES / f"05_{n}.csv") for n in ("real_lr", "real_lr_intervals", "profile_consistency",
                                                             "simulated_pair", "simulated_intervals")}
    got = real_scans.verdicts("cpu", read["real_lr"], read["real_lr_intervals"], read["profile_consistency"],
                              read["simulated_pair"], read["simulated_intervals"], methods,
                              {k: v[2] for k, v in REAL_LR.items()})
    pd.testing.assert_frame_equal(got, pd.read_csv(TABLES / "05_verdicts.csv").fillna(""))
