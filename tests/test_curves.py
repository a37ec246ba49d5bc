"""Whether a run had stopped improving (issue 34 item 4): the trend of its validation PSNR over
its last third of steps, with an interval, in the verdicts' caveats and on the front page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from arssr_core.errors import DataError
from arssr_core.study import curves, evaluation


def _curve(gain_per_1000: float, noise: float = 0.02, steps: int = 12000) -> pd.DataFrame:
    """A validation record every 250 steps: a straight line and a zig-zag of +-``noise`` dB."""
    s = np.arange(0, steps + 1, 250)
    return pd.DataFrame({"step": s, "val_l1": 0.0, "val_psnr": 28 + gain_per_1000 * s / 1000 + noise * (-1.0) ** np.arange(len(s))})


def test_a_rising_curve_is_rising_with_its_gain_inside_the_interval_and_a_flat_one_is_flat():
    t = curves.late_trend(_curve(0.05))  # 0.05 dB per 1000 steps: 0.2 dB over the last third (8000-12000)
    assert t.state == "rising" and (t.first, t.last, t.points) == (8000, 12000, 17)
    assert t.lo < t.gain < t.hi and t.gain == pytest.approx(0.2, abs=0.05) and t.hi - t.lo < 0.1
    flat = curves.late_trend(_curve(0.0, noise=0.1))
    assert flat.state == "flat" and flat.lo < 0 < flat.hi
    assert curves.late_trend(_curve(-0.05)).state == "falling"
    assert "still rose over its last third (steps 8000-12000): +0.2" in curves.trend_text("ResCNN x2", t)
    with pytest.raises(DataError, match="need 3"):
        curves.late_trend(_curve(0.05).iloc[:3].assign(step=[0, 1, 1000]))


def test_the_caveat_names_the_runs_still_rising_and_nothing_for_cubic(tmp_path, monkeypatch):
    runs = {"up": _curve(0.05), "flat": _curve(0.0, noise=0.1)}
    for name, df in runs.items():
        (tmp_path / name).mkdir()
        df.to_csv(tmp_path / name / "validation.csv", index=False)
    up = evaluation.Method("Up", "arssr", str(tmp_path / "up" / "best.pt"))
    flat = evaluation.Method("Flat", "arssr", str(tmp_path / "flat" / "best.pt"))
    text = curves.training_caveat("cpu", [evaluation.cubic_method(), up, flat])
    assert text.startswith("Still improving") and "Up +0.2" in text and "Flat" not in text
    assert curves.training_caveat("cpu", [flat]).startswith("No compared run")
    assert curves.training_caveat("cpu", [evaluation.cubic_method()]) == ""
    table = curves.compared_trends("cpu", [up, flat])
    assert table["state"].tolist() == ["rising", "flat"]


def test_the_front_page_says_which_committed_runs_were_still_rising(tmp_path, monkeypatch):
    from arssr_core.study.book import late_trends

    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path))
    assert "notebook 02 measures it" in late_trends("cpu")
    (tmp_path / "cpu" / "tables").mkdir(parents=True)
    pd.DataFrame([{"model": "ResCNN x2", "steps": "7500-11200", "points": 16, "gain_db": 0.30, "lo": 0.11, "hi": 0.48,
                   "state": "rising"},
                  {"model": "ArSSR", "steps": "8250-12000", "points": 16, "gain_db": 0.25, "lo": -0.27, "hi": 0.77,
                   "state": "flat"}]).to_csv(tmp_path / "cpu" / "tables" / "02_late_trends.csv", index=False)
    text = late_trends("cpu")
    assert text.startswith("1 of the 2 compared runs were still improving") and "ResCNN x2 +0.30 dB [+0.11, +0.48]" in text
    assert "flat or falling (ArSSR +0.25 dB [-0.27, +0.77])" in text


def test_a_run_too_short_for_a_trend_gets_a_row_that_says_so_and_no_caveat(tmp_path):
    (tmp_path / "short").mkdir()
    _curve(0.05, steps=500).to_csv(tmp_path / "short" / "validation.csv", index=False)  # 0, 250, 500: 1 point in the last third
    short = evaluation.Method("Short", "arssr", str(tmp_path / "short" / "best.pt"))
    table = curves.compared_trends("cpu", [short])
    assert table["state"].tolist() == ["too few points"] and table["gain_db"].isna().all()
    assert curves.training_caveat("cpu", [short]) == ""


def test_the_budget_caveat_names_every_prepared_test_subject(monkeypatch, tmp_path):
    """The caveat of every verdict counts the test subjects of the prepared catalog, by title."""
    from arssr_core.study import experiments

    monkeypatch.setattr("arssr_core.data.catalog.records",
                        lambda profile, role=None: [{"name": "colin27", "title": "Colin27"},
                                                    {"name": "t2", "title": "Tumour brain"}])
    assert experiments.budget_caveat("cpu").endswith("; 2 test subjects (Colin27; Tumour brain).")
    monkeypatch.setattr("arssr_core.data.catalog.records", lambda profile, role=None: [{"name": "colin27"}])
    assert experiments.subjects_phrase("cpu") == "one test subject (colin27)"
    monkeypatch.undo()
    monkeypatch.setenv("ARSSR_DATA", str(tmp_path))  # nothing prepared there
    assert experiments.subjects_phrase("cpu") == "no test subject prepared yet"
