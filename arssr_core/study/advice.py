"""Which ``arssr upsample`` method to offer for which kind of request, decided on held-out scans.

The evidence is notebook 09's table of the four validation slabs (``09_validation_slabs.csv``:
the held-out posterior slabs of the training volumes, never the test subject), where cubic
interpolation, ArSSR-RDN (``arssr``), ArSSR-RDN trained further on isotropic samples
(``arssr-iso``) and on thick-slice samples (``arssr-thick``) super-resolve isotropic requests
(``x3``) and thick-slice requests (``1x1x3``, ``1x1x5``). A user's scan is neither a training
nor a test volume, so the CLI's default and its advice come from these slabs alone.

The rule, per kind of request, on PSNR (dB): the *recommended* method has the highest mean over
every (slab, request) cell of that kind; a method whose mean falls short of it by more than
:data:`MARGIN_DB` is *not recommended*; a method below cubic in some cell by more than the
margin carries a *warning* that says in how many cells and by how much at most.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..paths import results_dir
from .methods import METHODS, cli_methods

#: The CLI's method name of each method of notebook 09's tables (:mod:`arssr_core.study.methods`).
CLI_NAMES = {METHODS[k].display: k for k in cli_methods()}

#: A PSNR difference (dB) below which two methods count as level: the study's verdict margin.
MARGIN_DB = 0.1


def request_kind(request: str) -> str:
    """``"isotropic"`` for ``x3``-style requests (one factor), ``"thick slices"`` for ``1x1x3``."""
    return "isotropic" if str(request).startswith("x") else "thick slices"


def validation_table(profile: str = "cpu") -> pd.DataFrame:
    """Notebook 09's scores on the validation slabs (one row per slab, method and request)."""
    path = results_dir(profile) / "tables" / "09_validation_slabs.csv"
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no validation table; run notebook 09 (make reproduce ONLY=09)")
    return pd.read_csv(path)


def method_choice(val: pd.DataFrame, metric: str = "psnr") -> pd.DataFrame:
    """Per kind of request and method: the cells scored, the mean ``metric``, the mean and the
    worst gain over cubic, the mean gain over the recommended method, how many cells fall below
    cubic by more than :data:`MARGIN_DB`, and the advice (``recommended``, ``not recommended``,
    ``warning``, ``level``; see the module docstring). ``val`` has columns subject, method,
    scale (the request) and ``metric``."""
    d = val.assign(kind=val["scale"].map(request_kind))
    cubic = d[d["method"] == "Cubic"].set_index(["kind", "subject", "scale"])[metric]
    rows = []
    for kind, k in d.groupby("kind", sort=False):
        means = k.groupby("method", sort=False)[metric].mean()
        best = means.drop("Cubic", errors="ignore").idxmax()
        for method, m in k.groupby("method", sort=False):
            gain = m.set_index(["kind", "subject", "scale"])[metric] - cubic
            below = int((gain < -MARGIN_DB).sum())
            behind = float(means[method] - means[best])
            if method == best:
                advice = "recommended"
            elif behind < -MARGIN_DB:
                advice = "not recommended"
            else:
                advice = "level"
            if below and method != "Cubic":
                advice += f"; warning: below cubic in {below} of {len(m)} cells (down to {gain.min():+.2f} dB)"
            rows.append({"kind": kind, "method": CLI_NAMES.get(method, method), "cells": len(m),
                         f"mean_{metric}": float(means[method]), "gain_vs_cubic": float(gain.mean()),
                         "worst_vs_cubic": float(gain.min()), "gain_vs_recommended": behind,
                         "cells_below_cubic": below, "advice": advice})
    return pd.DataFrame(rows)


def recommended(choice: pd.DataFrame, kind: str) -> str:
    """The CLI name of the recommended method for ``kind`` in a :func:`method_choice` table."""
    rows = choice[(choice["kind"] == kind) & choice["advice"].str.startswith("recommended")]
    if len(rows) != 1:
        raise ValueError(f"no single recommended method for {kind!r}")
    return str(rows["method"].iloc[0])
