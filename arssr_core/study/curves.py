"""Whether a training run had stopped improving: the trend of its validation PSNR over the last
part of its steps, with an interval (issue 34 item 4).

A verdict between two models says something about the methods only if neither was still
improving when its budget ended; otherwise it ranks the budgets. The trend is the ordinary
least-squares line through the run's validation PSNR (``validation.csv``: one point every
``val_every`` steps, on the run's fixed validation samples) over its last third of steps,
reported as the gain that line makes across that span (dB) with its 95% t-interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataError


@dataclass(frozen=True)
class Trend:
    """Gain (dB) of the fitted line over steps ``first``..``last`` (``points`` validations),
    with its 95% interval ``lo``..``hi``."""

    gain: float
    lo: float
    hi: float
    first: int
    last: int
    points: int

    @property
    def state(self) -> str:
        """``rising`` (interval above zero), ``falling`` (below) or ``flat`` (spans zero)."""
        return "rising" if self.lo > 0 else "falling" if self.hi < 0 else "flat"


def late_trend(val: pd.DataFrame, fraction: float = 1 / 3, column: str = "val_psnr") -> Trend:
    """The trend of ``column`` against ``step`` over the last ``fraction`` of the steps ``val``
    covers (its last step back to ``last * (1 - fraction)``)."""
    if not 0 < fraction <= 1:
        raise DataError(f"fraction must be in (0, 1], got {fraction}")
    if val.empty or column not in val or "step" not in val:
        raise DataError(f"a validation record needs 'step' and '{column}' columns with rows (got {list(val.columns)})")
    last = int(val["step"].max())
    tail = val[val["step"] >= last - last * fraction - 1e-9].dropna(subset=[column])
    if len(tail) < 3:
        raise DataError(f"{len(tail)} validation points in the last {fraction:.2g} of the run: need 3 for a trend")
    x, y = tail["step"].to_numpy(float), tail[column].to_numpy(float)
    fit = stats.linregress(x, y)
    span = x.max() - x.min()
    half = stats.t.ppf(0.975, len(x) - 2) * fit.stderr * span
    gain = fit.slope * span
    return Trend(float(gain), float(gain - half), float(gain + half), int(x.min()), int(x.max()), len(x))


def run_trend(run: str | Path, fraction: float = 1 / 3) -> Trend:
    """:func:`late_trend` of a run folder's ``validation.csv``."""
    path = Path(run) / "validation.csv"
    if not path.is_file():
        raise DataError(f"{path}: no validation record")
    return late_trend(pd.read_csv(path), fraction)


def trend_text(name: str, t: Trend) -> str:
    """``"ResCNN x2 still rose over its last third (steps 7500-11200): +0.16 dB [+0.08, +0.24]"``."""
    verb = {"rising": "still rose", "falling": "fell", "flat": "was flat"}[t.state]
    return f"{name} {verb} over its last third (steps {t.first}-{t.last}): {t.gain:+.2f} dB [{t.lo:+.2f}, {t.hi:+.2f}]"


def trend_table(runs: Iterable[tuple[str, str | Path]], fraction: float = 1 / 3) -> pd.DataFrame:
    """One row per ``(name, run folder)``: the trend of its validation PSNR over its last
    ``fraction`` of steps (gain and interval in dB) and whether it was still rising; a run with
    fewer than 3 validation points there has no trend (``too few points``)."""
    rows = []
    for name, run in runs:
        try:
            t = run_trend(run, fraction)
        except DataError:  # a run too short to have a trend (the smoke profile's few steps)
            rows.append({"model": name, "steps": "", "points": 0, "gain_db": np.nan, "lo": np.nan, "hi": np.nan,
                         "state": "too few points"})
            continue
        rows.append({"model": name, "steps": f"{t.first}-{t.last}", "points": t.points, "gain_db": t.gain,
                     "lo": t.lo, "hi": t.hi, "state": t.state})
    return pd.DataFrame(rows, columns=["model", "steps", "points", "gain_db", "lo", "hi", "state"])


def method_runs(profile: str, method) -> list[tuple[str, Path]]:
    """``[(name, run folder)]`` behind an evaluation method: an ArSSR model's one run, a per-scale
    network's run at each of its scales (``"ResCNN x2"``); none for cubic interpolation."""
    from .experiments import baseline_checkpoint

    if method.kind == "arssr":
        return [(method.name, Path(method.checkpoint).parent)]
    if method.kind == "baseline":
        return [(f"{method.name} x{float(s):g}", baseline_checkpoint(profile, method.model, s).parent)
                for s in method.scales or ()]
    return []


def compared_trends(profile: str, methods: Iterable) -> pd.DataFrame:
    """:func:`trend_table` of every run behind ``methods`` (:func:`method_runs`) that has a
    validation record."""
    runs = [(n, r) for m in methods for n, r in method_runs(profile, m) if (Path(r) / "validation.csv").is_file()]
    return trend_table(runs)


def training_caveat(profile: str, methods: Iterable) -> str:
    """One sentence for a verdict comparing ``methods``: which of their runs were still improving
    when their budgets ended (validation PSNR over the last third of steps, 95% interval above
    zero), so that the verdict ranks budgets as much as methods; else that none was."""
    return trends_caveat(compared_trends(profile, methods))


def trends_caveat(trends: pd.DataFrame) -> str:
    """:func:`training_caveat`'s sentence from a :func:`trend_table`."""
    trends = trends.dropna(subset=["gain_db"])
    if trends.empty:  # cubic only, or runs too short for a trend
        return ""
    rising = trends[trends["state"] == "rising"]
    if rising.empty:
        return "No compared run's validation PSNR still rose over its last third of steps."
    said = "; ".join(f"{r.model} {r.gain_db:+.2f} dB [{r.lo:+.2f}, {r.hi:+.2f}]" for r in rising.itertuples())
    return (f"Still improving when its budget ended (validation PSNR over the last third of its steps): {said}; "
            "a longer budget may change this verdict.")


def comparison_caveat(profile: str, methods: Iterable) -> str:
    """The caveat of a verdict comparing ``methods``: the profile's budgets
    (:func:`arssr_core.study.experiments.budget_caveat`), then :func:`training_caveat`."""
    from .experiments import budget_caveat

    methods = list(methods)
    return " ".join(x for x in (budget_caveat(profile), training_caveat(profile, methods)) if x)
