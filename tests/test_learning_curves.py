"""The learning curves are read on validation, never on a test subject (issue 35): each run's
validation record on one clock, who leads at each budget, and cubic interpolation on the
per-scale networks' shared validation samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from arssr_core.models import build_model
from arssr_core.profiles import load_profile
from arssr_core.study import evaluation, learning_curves
from arssr_core.study.experiments import baseline_data
from arssr_core.study.pretrain import cpu_rate
from arssr_core.train import validate


def _record(folder, steps, psnr):
    folder.mkdir(parents=True)
    pd.DataFrame({"step": steps, "val_l1": 0.0, "val_psnr": psnr}).to_csv(folder / "validation.csv", index=False)


def test_a_runs_curve_is_its_validation_record_on_the_idle_cpu_clock_and_a_continuation_replaces_its_steps(tmp_path):
    # a run continued from step 500: the abandoned path's step 1000 (27.0) is replaced by the new one's (28.0)
    _record(tmp_path / "arssr-rdn", [0, 500, 1000, 1000, 1500], [26.0, 27.5, 27.0, 28.0, 28.5])
    m = evaluation.Method("ArSSR", "arssr", str(tmp_path / "arssr-rdn" / "best.pt"))
    c = learning_curves.validation_curves("cpu", [evaluation.cubic_method(), m])
    assert list(c["step"]) == [0, 500, 1000, 1500] and list(c["val_psnr"]) == [26.0, 27.5, 28.0, 28.5]
    rate = load_profile("cpu")["budget"]["cpu_s_per_step"]["arssr-rdn"]
    assert c["cpu_minutes"].tolist() == pytest.approx([s * rate / 60 for s in (0, 500, 1000, 1500)])
    assert c["fraction"].iloc[-1] == 1.0 and c["scale"].isna().all() and (c["seed"] == 0).all()
    rates = load_profile("cpu")["budget"]["cpu_s_per_step"]
    assert cpu_rate(load_profile("cpu"), "rescnn-x2-s1") == rates["rescnn"]
    assert cpu_rate(load_profile("cpu"), "arssr-rdn-s2") == rates["arssr-rdn"]


def test_the_leader_at_a_budget_is_the_best_at_its_last_validation_before_it_with_cubic_beside():
    rows = []
    for method, psnr in (("A", [30.0, 31.0, 31.5, 32.0]), ("B", [30.0, 31.5, 31.6, 31.7])):
        rows += [{"method": method, "run": method, "seed": 0, "scale": 2.0, "step": s, "fraction": s / 300,
                  "cpu_minutes": s / 10, "val_psnr": p} for s, p in zip((0, 100, 200, 300), psnr)]
    rows.append({"method": "A", "run": "A-s1", "seed": 1, "scale": 2.0, "step": 300, "fraction": 1.0,
                 "cpu_minutes": 30.0, "val_psnr": 40.0})  # a further seed does not rank the methods
    lead = learning_curves.leaders(pd.DataFrame(rows), cubic={2.0: 31.8})
    at = lead.set_index(["fraction", "method"])
    assert at.loc[(0.333, "B"), "leads"] and not at.loc[(0.333, "A"), "leads"]  # step 100: B 31.5 > A 31.0
    assert at.loc[(0.667, "B"), "val_psnr"] == 31.6 and at.loc[(0.667, "B"), "step"] == 200
    assert at.loc[(1.0, "A"), "leads"] and at.loc[(1.0, "A"), "val_psnr"] == 32.0
    assert at.loc[(1.0, "Cubic"), "val_psnr"] == 31.8 and not at.loc[(1.0, "Cubic"), "leads"]


def test_cubic_on_validation_is_where_the_identity_started_rescnn_begins():
    """ResCNN starts exactly at its cubic input (zero output layer): its step-0 validation PSNR
    is cubic interpolation's on the same samples."""
    cfg = load_profile("smoke")
    cubic = learning_curves.cubic_validation("smoke", [2.0])[2.0]
    torch.manual_seed(0)
    net = build_model("rescnn", channels=8, layers=4)
    start = validate(net, baseline_data(cfg, 2.0)[1], torch.device("cpu"))["val_psnr"]
    assert np.isfinite(cubic) and start == pytest.approx(cubic, abs=1e-4)
