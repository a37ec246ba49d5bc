"""Training seeds in the evaluation (issue 35): which seed runs count, their scores side by
side, and intervals over seeds and blocks that replace the block-only ones."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from arssr_core.metrics.uncertainty import BlockTerms
from arssr_core.study import evaluation, pretrain, seeds


@pytest.fixture
def seeded_rescnn(tmp_path, monkeypatch):
    """The smoke profile's ResCNN x2 trained at seeds 1 and 2 (its budget), and a seed 3 stopped
    half-way, in a checkpoint folder of the test's own."""
    monkeypatch.setenv("ARSSR_CHECKPOINTS", str(tmp_path))
    root = tmp_path / "smoke"
    for job in pretrain.seed_jobs("smoke", [1, 2, 4], ["rescnn-x2"]):
        assert pretrain.run_job("smoke", job, root, chunk=10**9)["finished"]
    for k in (1, 2):
        (root / f"rescnn-x2-s{k}" / "last.pt").unlink()  # published as the committed runs are: no resume state
    shutil.copytree(root / "rescnn-x2-s2", root / "rescnn-x2-s3")
    hist = pd.read_csv(root / "rescnn-x2-s3" / "history.csv")
    hist.iloc[:1].to_csv(root / "rescnn-x2-s3" / "history.csv", index=False)  # short of the budget
    return root  # seed 4 keeps its last.pt: not counted


def test_a_model_counts_the_seeds_whose_runs_reached_their_budget(seeded_rescnn):
    rescnn = next(m for m in evaluation.baseline_methods("smoke") if m.model == "rescnn")
    got = seeds.seed_methods("smoke", rescnn)
    assert [(m.name, m.seed, m.scales) for m in got] == [("ResCNN", 0, (2.0, 3.0, 4.0)),
                                                         ("ResCNN s1", 1, (2.0,)), ("ResCNN s2", 2, (2.0,))]
    assert seeds.seed_methods("smoke", evaluation.cubic_method()) == [evaluation.cubic_method()]
    groups = seeds.seed_groups("smoke", [evaluation.cubic_method(), rescnn])
    assert [m.name for m in seeds.extra_seeds(groups)] == ["ResCNN s1", "ResCNN s2"]
    assert "ResCNN (3)" in seeds.seeds_note(groups)
    # each seed super-resolves with its own weights
    lr = np.random.default_rng(0).random((8, 8, 8)).astype(np.float32)
    a, b = (evaluation.super_resolve_with(m, lr, (16, 16, 16), 2.0, "smoke", precision="fp32") for m in got[1:])
    assert a.shape == (16, 16, 16) and not np.allclose(a, b)


def test_the_seed_table_puts_each_seed_of_a_model_side_by_side():
    groups = {"Cubic": [evaluation.Method("Cubic", "cubic")],
              "ArSSR": [evaluation.Method("ArSSR", "arssr", "a"), evaluation.Method("ArSSR s1", "arssr", "b", seed=1)]}
    table = pd.DataFrame({"method": ["ArSSR s1", "Cubic", "ArSSR", "Other"], "scale": [2.0] * 4,
                          "psnr": [30.5, 28.0, 30.0, 1.0], "ssim": [0.9, 0.8, 0.91, 0.1]})
    got = seeds.seed_table(table, groups)
    assert got[["method", "seed", "psnr"]].values.tolist() == [["Cubic", 0, 28.0], ["ArSSR", 0, 30.0], ["ArSSR", 1, 30.5]]
    spread = seeds.seed_spread(got)
    assert spread.to_dict("records") == [{"method": "ArSSR", "scale": 2.0, "seeds": 2, "psnr_mean": 30.25,
                                          "psnr_range": 0.5, "ssim_mean": pytest.approx(0.905),
                                          "ssim_range": pytest.approx(0.01)}]


def _terms(offset: float, n: int = 40, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    sse = rng.uniform(0.9, 1.1, n) * 10 ** (-offset / 10) * 1000
    return {"blocks": BlockTerms(sse, rng.uniform(0.8, 0.9, n) * 1000, np.full(n, 1000.0), 1.0),
            "lpips": rng.uniform(0.1, 0.2, 30)}


def test_seed_intervals_replace_the_block_only_ones_where_a_model_has_several_seeds():
    groups = {"A": [evaluation.Method("A", "arssr", "a"), evaluation.Method("A s1", "arssr", "b", seed=1),
                    evaluation.Method("A s2", "arssr", "c", seed=2)],
              "B": [evaluation.Method("B", "baseline", model="b")], "C": [evaluation.Method("C", "cubic")]}
    # the seeds of A disagree by 1 dB; B and C one run each
    terms = {("A", 2.0): _terms(30.0), ("A s1", 2.0): _terms(31.0, seed=1), ("A s2", 2.0): _terms(29.0, seed=2),
             ("B", 2.0): _terms(29.5, seed=3), ("C", 2.0): _terms(28.0, seed=4)}
    block_only = pd.concat([evaluation.paired_intervals(terms, "A", "B"), evaluation.paired_intervals(terms, "B", "C")])
    seeded = seeds.seed_intervals(terms, groups, [("A", "B"), ("B", "C")])
    assert set(seeded["a"]) == {"A"} and set(seeded["seeds"]) == {"3/1"}  # B - C: one run each, nothing to add
    got = seeds.with_seed_intervals(block_only, seeded)
    assert len(got) == len(block_only) and got[["a", "b", "scale", "metric"]].equals(block_only[["a", "b", "scale", "metric"]].reset_index(drop=True))
    a_psnr = got[(got["a"] == "A") & (got["metric"] == "psnr")].iloc[0]
    old = block_only[(block_only["a"] == "A") & (block_only["metric"] == "psnr")].iloc[0]
    assert a_psnr["seeds"] == "3/1" and a_psnr["hi"] - a_psnr["lo"] > 2 * (old["hi"] - old["lo"])  # wider: seeds disagree
    assert got[got["a"] == "B"]["seeds"].eq("1/1").all()
    assert seeds.with_seed_intervals(block_only, seeded.iloc[:0])["seeds"].eq("1/1").all()
