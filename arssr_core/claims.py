"""The paper's claims as computed verdicts over score tables (held / did not hold, with numbers).

Every verdict is computed from a table the notebook produced; nothing here is written
in advance of the numbers.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .evaluation import BETTER


def _fmt(scale: object) -> str:
    return f"x{scale:g}" if isinstance(scale, (int, float, np.floating)) else str(scale)


def _better(a: float, b: float, metric: str) -> bool:
    return (a - b) * BETTER[metric] > 0


def compare(table: pd.DataFrame, a: str, b: str, metrics: Sequence[str]) -> pd.DataFrame:
    """Rows (scale, metric, a, b, a_better) for every scale both methods have."""
    rows = []
    ta = table[table["method"] == a].set_index("scale")
    tb = table[table["method"] == b].set_index("scale")
    for s in sorted(set(ta.index) & set(tb.index)):
        for m in metrics:
            if m in table.columns:
                va, vb = float(ta.loc[s, m]), float(tb.loc[s, m])
                rows.append({"scale": s, "metric": m, a: va, b: vb, "a_better": _better(va, vb, m)})
    return pd.DataFrame(rows)


def _verdict(ok: np.ndarray) -> str:
    if len(ok) == 0:
        return "not tested"
    return "held" if ok.all() else ("did not hold" if not ok.any() else f"partly ({int(ok.sum())}/{len(ok)})")


def claim_beats(table: pd.DataFrame, a: str, b: str, metrics: Sequence[str], claim: str) -> dict:
    """Verdict that method ``a`` beats ``b`` on ``metrics`` at every shared scale."""
    c = compare(table, a, b, metrics)
    ok = c["a_better"].to_numpy() if len(c) else np.array([], bool)
    fails = c[~c["a_better"]] if len(c) else c
    ev = "; ".join(f"{_fmt(r.scale)} {r.metric}: {r[a]:.4g} vs {r[b]:.4g}" for _, r in fails.head(6).iterrows())
    return {"claim": claim, "verdict": _verdict(ok),
            "evidence": (f"{int(ok.sum())}/{len(ok)} comparisons favour {a}" + (f"; against: {ev}" if ev else ""))}


def claim_lead_grows(table: pd.DataFrame, a: str, b: str, metric: str, claim: str) -> dict:
    """Verdict that ``a``'s advantage over ``b`` in ``metric`` grows with scale (Spearman > 0)."""
    c = compare(table, a, b, [metric])
    if len(c) < 2:
        return {"claim": claim, "verdict": "not tested", "evidence": "fewer than two shared scales"}
    lead = (c[a] - c[b]) * BETTER[metric]
    rho = pd.Series(lead.to_numpy()).corr(pd.Series(c["scale"].to_numpy()), method="spearman")
    ev = ", ".join(f"{_fmt(s)}: {v:+.4g}" for s, v in zip(c["scale"], lead))
    return {"claim": claim, "verdict": "held" if rho > 0 and lead.iloc[-1] > lead.iloc[0] else "did not hold",
            "evidence": f"lead of {a} over {b} in {metric} by scale: {ev} (Spearman {rho:+.2f})"}


def verdict_table(rows: list[dict]) -> pd.DataFrame:
    """Verdict rows as a table (claim, verdict, evidence)."""
    return pd.DataFrame(rows, columns=["claim", "verdict", "evidence"])


def claim_small_spread(table: pd.DataFrame, methods: Sequence[str], metric: str, tolerance: float,
                       claim: str) -> dict:
    """Verdict that ``methods`` differ by at most ``tolerance`` in ``metric`` at every scale."""
    t = table[table["method"].isin(methods)]
    spread = t.groupby("scale")[metric].agg(lambda v: float(v.max() - v.min()))
    ok = (spread <= tolerance).to_numpy()
    ev = ", ".join(f"{_fmt(s)}: {v:.3g}" for s, v in spread.items())
    return {"claim": claim, "verdict": _verdict(ok), "evidence": f"spread of {metric} across {len(methods)} models by scale: {ev} (tolerance {tolerance:g})"}
