"""The lesion experiment's steps after scoring (``arssr_core.study.lesions``, notebook 04)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from arssr_core.paths import REPO_ROOT
from arssr_core.study import lesions

TABLES = REPO_ROOT / "results" / "cpu" / "tables"


def test_the_lesion_volume_table_counts_each_volumes_lesion_voxels():
    mask = np.zeros((8, 8, 8), bool)
    mask[2:4, 2:4, 2:5] = True
    t = lesions.volume_table([{"title": "T", "name": "t", "kind": "real", "gt": np.zeros((8, 8, 8)), "mask": mask}])
    assert t.to_dict("records") == [{"subject": "T", "id": "t", "kind": "real", "shape": (8, 8, 8), "lesion voxels": 12}]


def test_the_published_lesion_verdicts_are_what_the_code_reads_from_the_published_tables():
    from arssr_core.data.prepare import LESION_TITLES
    from arssr_core.study import evaluation

    if not (TABLES / "04_verdicts.csv").exists():
        pytest.skip("no published cpu results")
    methods = [evaluation.cubic_method(), *evaluation.baseline_methods("cpu"), evaluation.arssr_method("cpu")]
    got = lesions.verdicts("cpu", pd.read_csv(TABLES / "04_lesion.csv"), pd.read_csv(TABLES / "04_intervals.csv"),
                           methods, LESION_TITLES)
    pd.testing.assert_frame_equal(got, pd.read_csv(TABLES / "04_verdicts.csv").fillna(""))
