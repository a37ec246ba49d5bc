"""The paper's claims as computed verdicts over score tables, in four statuses.

- **held**: every comparison the claim makes favours it beyond the margin, with a paired
  bootstrap 95% interval (where the experiment gives one) that excludes zero;
- **did not hold**: at least one comparison goes clearly against it (same test);
- **inconclusive**: otherwise: an interval spans zero, an effect is below the margin
  (:data:`MARGINS`: 0.1 dB PSNR, 0.002 SSIM, 0.005 LPIPS, PSI, LPC-SI and Dice), or a
  comparison has no interval: no "held" or "did not hold" rests on a point estimate alone;
- **untestable**: the setup decides it, not the method: a per-scale network that does not
  beat cubic by the margin at its own scale, an ablation encoder that does not beat cubic.

Every verdict carries its evidence (numbers) and a caveat (budget, data, what was left
out). Nothing here is written in advance of the numbers.
"""

from __future__ import annotations

import math
import re
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..metrics.registry import margins
from .evaluation import BETTER, metric_label

#: Smallest difference that counts, per metric (in the metric's units; never below the metric's
#: reproduction tolerance): :func:`arssr_core.metrics.registry.margins`.
MARGINS = margins()
STATUSES = ("held", "did not hold", "inconclusive", "untestable")
COLUMNS = ["claim", "verdict", "evidence", "caveat"]


def _key(scale: object) -> object:
    """A scale as a float where it is a number ("x2"-style requests and labels stay strings)."""
    try:
        return float(scale)
    except (TypeError, ValueError):
        return scale


def _fmt(scale: object) -> str:
    return f"x{scale:g}" if isinstance(scale, (int, float, np.integer, np.floating)) else str(scale)


def judge(diff: float, metric: str, lo: float = math.nan, hi: float = math.nan, point_only: bool = False) -> str:
    """One comparison ``a - b``: ``"for"`` (a better beyond the margin, interval clear of 0),
    ``"against"`` (b better, same test) or ``"inconclusive"`` (also: no interval).
    ``point_only``: judge the point estimate against the margin alone (the setup checks of
    :func:`not_above_cubic`, never a verdict's comparison)."""
    if math.isnan(lo) and not point_only:
        return "inconclusive"
    if not math.isnan(lo) and lo <= 0 <= hi:
        return "inconclusive"
    if abs(diff) < MARGINS.get(metric, 0.0):
        return "inconclusive"
    return "for" if diff * BETTER[metric] > 0 else "against"


def status(judgements: Sequence[str]) -> str:
    """The claim's status from its comparisons' judgements (none: untestable)."""
    if len(judgements) == 0:
        return "untestable"
    if "against" in judgements:
        return "did not hold"
    return "held" if all(j == "for" for j in judgements) else "inconclusive"


def _interval_lookup(intervals: pd.DataFrame | None, a: str, b: str) -> dict:
    """``{(scale, metric): (diff, lo, hi)}`` of ``a - b`` from interval rows of either direction
    (rows of ``b - a`` are turned round)."""
    if intervals is None or not len(intervals):
        return {}
    out = {}
    for r in intervals[(intervals["a"] == b) & (intervals["b"] == a)].itertuples():
        out[(_key(r.scale), r.metric)] = (-r.diff, -r.hi, -r.lo)
    for r in intervals[(intervals["a"] == a) & (intervals["b"] == b)].itertuples():
        out[(_key(r.scale), r.metric)] = (r.diff, r.lo, r.hi)
    return out


def compare(table: pd.DataFrame, a: str, b: str, metrics: Sequence[str],
            intervals: pd.DataFrame | None = None, point_only: bool = False) -> pd.DataFrame:
    """Rows (scale, metric, a, b, diff, lo, hi, judgement) for every scale both methods have.

    Where ``intervals`` (:func:`arssr_core.study.evaluation.paired_intervals`, either direction) has
    the pair, the judged difference is the interval's own paired estimate (over the units it
    resamples, e.g. brain blocks) with its 95% interval; elsewhere the table's difference."""
    rows = []
    ta = table[table["method"] == a].set_index("scale")
    tb = table[table["method"] == b].set_index("scale")
    iv = _interval_lookup(intervals, a, b)
    for s in sorted(set(ta.index) & set(tb.index)):
        for m in metrics:
            if m in table.columns:
                va, vb = float(ta.loc[s, m]), float(tb.loc[s, m])
                d, lo, hi = iv.get((_key(s), m), (va - vb, math.nan, math.nan))
                rows.append({"scale": s, "metric": m, a: va, b: vb, "diff": float(d), "lo": float(lo),
                             "hi": float(hi), "judgement": judge(float(d), m, lo, hi, point_only)})
    return pd.DataFrame(rows, columns=["scale", "metric", a, b, "diff", "lo", "hi", "judgement"])


def _join(notes: Sequence[str]) -> str:
    return " ".join(n if n.rstrip().endswith(".") else n.rstrip() + "." for n in notes if n)


def _ev(r: pd.Series) -> str:
    ci = "" if math.isnan(r["lo"]) else f" [{r['lo']:+.3g}, {r['hi']:+.3g}]"
    return f"{_fmt(r['scale'])} {metric_label(r['metric'])} {r['diff']:+.3g}{ci}"


def not_above_cubic(table: pd.DataFrame, method: str, cubic: str = "Cubic", metric: str = "psnr",
                    intervals: pd.DataFrame | None = None) -> dict[float, str]:
    """Scales where ``method`` does not beat ``cubic`` in ``metric`` by the margin (with its
    interval clear of zero where given; the point estimate where not): ``{scale: reason}``;
    there it is untestable."""
    c = compare(table, method, cubic, [metric], intervals, point_only=True)
    return {_key(r.scale): f"{method} does not beat cubic at {_fmt(r.scale)} ({_ev(r)} dB)"
            for _, r in c.iterrows() if r["judgement"] != "for"}


def claim_beats(table: pd.DataFrame, a: str, b: str, metrics: Sequence[str], claim: str,
                intervals: pd.DataFrame | None = None, untestable: Mapping[float, str] | None = None,
                caveat: str = "") -> dict:
    """Verdict that ``a`` beats ``b`` on ``metrics`` at every shared scale. Scales in
    ``untestable`` (scale -> reason) are left out and named in the caveat."""
    c = compare(table, a, b, metrics, intervals)
    skip = {_key(s): why for s, why in (untestable or {}).items()}
    if len(c):
        kept = c[~c["scale"].map(_key).isin(list(skip))]
    else:
        kept = c
    st = status(list(kept["judgement"]))
    n = {j: int((kept["judgement"] == j).sum()) for j in ("for", "against", "inconclusive")}
    worst = kept[kept["judgement"] != "for"].head(4)
    ev = (f"{n['for']}/{len(kept)} comparisons favour {a} beyond the margin, {n['against']} favour {b}, "
          f"{n['inconclusive']} inconclusive" + (f"; e.g. {'; '.join(_ev(r) for _, r in worst.iterrows())}"
                                                  if len(worst) else ""))
    if len(kept) == 0:
        ev = "no comparison left to make"
    notes = [decided_by(kept)] if len(kept) else []
    if caveat:
        notes.append(caveat)
    if skip:
        notes.append("untestable and left out: " + "; ".join(sorted(set(skip.values()))))
    return {"claim": claim, "verdict": st, "evidence": ev, "caveat": _join(notes)}


def decided_by(c: pd.DataFrame) -> str:
    """What decided a verdict over the comparisons ``c`` (:func:`compare`'s rows), naming the cells:
    the ones against it, else the inconclusive ones (and how many lack an interval), else the
    closest of the ones for it."""
    against = c[c["judgement"] == "against"]
    if len(against):
        return (f"Decided by {len(against)} of {len(c)} comparisons against: "
                + "; ".join(_ev(r) for _, r in against.head(3).iterrows()) + ("; ..." if len(against) > 3 else ""))
    open_ = c[c["judgement"] == "inconclusive"]
    if len(open_):
        bare = int(open_["lo"].isna().sum())
        return (f"Left open by {len(open_)} of {len(c)} comparisons: "
                + "; ".join(_ev(r) for _, r in open_.head(3).iterrows()) + ("; ..." if len(open_) > 3 else "")
                + (f" ({bare} without an interval)" if bare else ""))
    closest = c.assign(gap=(c["lo"] if (c["diff"] > 0).all() else -c["hi"]).abs()).sort_values("gap").iloc[0]
    return f"All {len(c)} comparisons for; the closest: {_ev(closest)}"


def claim_lead_grows(table: pd.DataFrame, a: str, b: str, metric: str, claim: str,
                     untestable: Mapping[float, str] | None = None, caveat: str = "") -> dict:
    """Verdict that ``a``'s advantage over ``b`` in ``metric`` grows with scale: held if the lead
    rises from the smallest to the largest scale by more than the margin with a positive
    Spearman correlation and never drops by more than the margin from one scale to the next;
    did not hold if it falls from the smallest to the largest by more than the margin; else
    (a rise with such a drop on the way, or a change within the margin) inconclusive."""
    c = compare(table, a, b, [metric])
    skip = {_key(s) for s in (untestable or {})}
    c = c[~c["scale"].map(_key).isin(list(skip))] if len(c) else c
    notes = [caveat] if caveat else []
    if skip:
        notes.append("untestable and left out: " + "; ".join(sorted(set((untestable or {}).values()))))
    if len(c) < 2:
        return {"claim": claim, "verdict": "untestable", "evidence": "fewer than two testable scales",
                "caveat": _join(notes)}
    lead = (c[a] - c[b]) * BETTER[metric]
    rho = pd.Series(lead.to_numpy()).corr(pd.Series(c["scale"].to_numpy()), method="spearman")
    rise = float(lead.iloc[-1] - lead.iloc[0])
    m = MARGINS.get(metric, 0.0)
    steps = np.diff(lead.to_numpy())
    drops = [(_fmt(s0), _fmt(s1)) for s0, s1, d in zip(c["scale"], c["scale"].iloc[1:], steps) if d < -m]
    st = ("held" if (rise > m and rho > 0 and not drops) else ("did not hold" if rise < -m else "inconclusive"))
    ev = ", ".join(f"{_fmt(s)}: {v:+.4g}" for s, v in zip(c["scale"], lead))
    ev += f" (Spearman {rho:+.2f}; margin {m:g})"
    if drops and rise > m:
        ev += "; it drops beyond the margin from " + ", ".join(f"{x} to {y}" for x, y in drops)
    return {"claim": claim, "verdict": st, "caveat": _join(notes),
            "evidence": f"lead of {a} over {b} in {metric_label(metric)} by scale: {ev}"}


def claim_small_spread(table: pd.DataFrame, methods: Sequence[str], metric: str, tolerance: float,
                       claim: str, untestable: Sequence[str] = (), caveat: str = "",
                       intervals: pd.DataFrame | None = None) -> dict:
    """Verdict that ``methods`` differ by at most ``tolerance`` in ``metric`` at every scale, judged
    on the best and the worst method of each scale through their paired interval (``intervals``):
    a scale is *for* when the whole interval lies within the tolerance, *against* when it lies
    beyond it; without an interval the scale is inconclusive. Untestable if any method in
    ``untestable`` (e.g. an encoder that does not beat cubic) takes part."""
    notes = [caveat] if caveat else []
    if untestable:
        notes.append(f"{', '.join(untestable)} did not beat cubic")
        return {"claim": claim, "verdict": "untestable", "caveat": _join(notes),
                "evidence": f"{', '.join(untestable)} of {len(methods)} models did not leave cubic's level"}
    t = table[table["method"].isin(methods)]
    judgements, ev = [], []
    for s, g in t.groupby("scale"):
        if len(g) < 2:
            continue
        g = g.set_index("method")[metric]
        hi_m, lo_m = g.idxmax(), g.idxmin()
        spread = float(g.max() - g.min())
        d, lo, hi = _interval_lookup(intervals, hi_m, lo_m).get((_key(s), metric), (spread, math.nan, math.nan))
        if math.isnan(lo):
            j, ci = "inconclusive", " (no interval)"
        else:
            j = "for" if max(abs(lo), abs(hi)) <= tolerance else "against" if (lo > tolerance or hi < -tolerance) \
                else "inconclusive"
            ci = f" [{lo:.3g}, {hi:.3g}]"
        judgements.append(j)
        ev.append(f"{_fmt(s)}: {hi_m} - {lo_m} {d:.3g}{ci} {j}")
    if not judgements:
        return {"claim": claim, "verdict": "untestable", "caveat": _join(notes),
                "evidence": f"no scale with two or more of {', '.join(methods)} scored"}
    if intervals is None or not len(intervals):
        notes.append("no paired interval for these scores: the spread is a point estimate and decides nothing")
    return {"claim": claim, "verdict": status(judgements), "caveat": _join(notes),
            "evidence": f"spread of {metric_label(metric)} across {len(methods)} models (best minus worst) by scale, "
                        f"tolerance {tolerance:g}: " + "; ".join(ev)}


def claim_ranking(table: pd.DataFrame, order: Sequence[str], metric: str, claim: str,
                  by: str = "scale", caveat: str = "") -> dict:
    """Verdict that methods rank as ``order`` (best first) in ``metric`` in every ``by`` group:
    each adjacent pair judged with the margin."""
    judgements, ev = [], []
    for g, sub in table.groupby(by):
        vals = sub.groupby("method")[metric].mean()
        if not set(order) <= set(vals.index):
            continue
        for x, y in zip(order, order[1:]):
            j = judge(float(vals[x] - vals[y]), metric)
            judgements.append(j)
            if j != "for":
                ev.append(f"{g}: {x} {vals[x]:.4g} vs {y} {vals[y]:.4g} ({j})")
    st = status(judgements)
    return {"claim": claim, "verdict": st, "caveat": caveat,
            "evidence": f"{judgements.count('for')}/{len(judgements)} adjacent pairs in the claimed order beyond "
                        f"the margin" + (f"; {'; '.join(ev[:4])}" if ev else "")}


def across_subjects(rows: Mapping[str, dict]) -> dict:
    """One verdict row from the rows of the same claim judged on each test subject (``{subject's
    title: row}``): the subjects' common verdict where they agree; *inconclusive* where they
    disagree, the caveat saying so. Evidence and caveat keep each subject's own."""
    rows = dict(rows)
    if len(rows) == 1:
        return next(iter(rows.values()))
    verdicts = {s: r["verdict"] for s, r in rows.items()}
    agree = len(set(verdicts.values())) == 1
    said = ", ".join(f"{s}: {v}" for s, v in verdicts.items())
    lead = (f"Judged on each test subject ({said})" + ("." if agree else
            "; the subjects disagree, so the claim is inconclusive."))
    own, shared = shared_sentences({s: r.get("caveat", "") for s, r in rows.items()})
    return {"claim": next(iter(rows.values()))["claim"],
            "verdict": next(iter(verdicts.values())) if agree else "inconclusive",
            "evidence": " | ".join(f"{s}: {r['evidence']}" for s, r in rows.items()),
            "caveat": _join([lead, *(f"{s}: {c}" for s, c in own.items() if c),
                             *(["On every subject: " + " ".join(shared)] if shared else [])])}


#: A sentence ends at a full stop (or "...") followed by a space and the next sentence's first letter.
_SENTENCE_END = re.compile(r"(?<=\.)\s+(?=[A-Za-z])")


def shared_sentences(texts: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Split each of ``texts`` (a subject's caveat, ``{subject: text}``) into sentences and take
    out those that every text holds: ``({subject: its own sentences}, [the shared ones, in the
    first text's order])``, so that a caveat judged on several subjects says the common part
    (the budgets, the test subjects) once."""
    split = {k: _SENTENCE_END.split(t.strip()) if t and t.strip() else [] for k, t in texts.items()}
    if len(split) < 2 or not all(split.values()):
        return {k: " ".join(v) for k, v in split.items()}, []
    first = next(iter(split.values()))
    shared = [x for x in dict.fromkeys(first) if all(x in v for v in split.values())]
    return {k: " ".join(x for x in v if x not in shared) for k, v in split.items()}, shared


def per_subject(table: pd.DataFrame, intervals: pd.DataFrame | None,
                judge: Callable[[pd.DataFrame, pd.DataFrame | None], dict],
                titles: Mapping[str, str] | None = None) -> dict:
    """Judge a claim on each test subject of ``table`` (its ``subject`` column): ``judge(rows,
    intervals)`` on that subject's rows of both tables (the column dropped), combined by
    :func:`across_subjects`: a verdict stands only where every subject gives it."""
    if "subject" not in table.columns:
        return judge(table, intervals)
    rows = {}
    for s in dict.fromkeys(table["subject"]):
        iv = intervals
        if intervals is not None and "subject" in intervals.columns:
            iv = intervals[intervals["subject"] == s].drop(columns="subject")
        rows[(titles or {}).get(s, s)] = judge(table[table["subject"] == s].drop(columns="subject"), iv)
    return across_subjects(rows)


def verdict_table(rows: list[dict]) -> pd.DataFrame:
    """Verdict rows as a table (claim, verdict, evidence, caveat)."""
    return pd.DataFrame([{**{"caveat": ""}, **r} for r in rows], columns=COLUMNS)


def claim_best(table: pd.DataFrame, a: str, others: Sequence[str], metric: str, claim: str,
               untestable: Mapping[str, Mapping[float, str]] | None = None, caveat: str = "",
               intervals: pd.DataFrame | None = None) -> dict:
    """Verdict that ``a`` is best of all methods in ``metric`` at every scale: every pair
    (``a``, other) judged with the margin (and its interval where ``intervals`` has it);
    (other, scale) pairs in ``untestable`` left out."""
    judgements, ev, skipped = [], [], []
    for o in others:
        c = compare(table, a, o, [metric], intervals)
        skip = (untestable or {}).get(o, {})
        skipped += list(skip.values())
        for _, r in c.iterrows():
            if _key(r["scale"]) in {_key(s) for s in skip}:
                continue
            judgements.append(r["judgement"])
            if r["judgement"] != "for":
                ev.append(f"vs {o} {_fmt(r['scale'])} {r['diff']:+.3g} ({r['judgement']})")
    notes = [caveat] if caveat else []
    if skipped:
        notes.append("untestable and left out: " + "; ".join(sorted(set(skipped))))
    return {"claim": claim, "verdict": status(judgements), "caveat": _join(notes),
            "evidence": f"{judgements.count('for')}/{len(judgements)} comparisons favour {a} in {metric_label(metric)} beyond the "
                        f"margin" + (f"; {'; '.join(ev[:4])}" if ev else "")}


def judge_threshold(diff: float, threshold: float, lo: float = math.nan, hi: float = math.nan) -> str:
    """One comparison against a stated effect size: ``"for"`` when ``a - b`` is at least
    ``threshold`` (its whole 95% interval where given), ``"against"`` when it is below it (the
    whole interval), ``"inconclusive"`` when the interval straddles the threshold."""
    if math.isnan(lo):
        lo = hi = diff
    if lo >= threshold:
        return "for"
    return "against" if hi < threshold else "inconclusive"


def claim_threshold(table: pd.DataFrame, a: str, b: str, metric: str, threshold: float, claim: str,
                    scales: Sequence[object] | None = None, intervals: pd.DataFrame | None = None,
                    caveat: str = "") -> dict:
    """Verdict that ``a - b`` in ``metric`` (higher-is-better units) is at least ``threshold``
    at each of ``scales`` (default: every shared one): a gain of at least 0.5 dB is
    ``threshold=0.5``, a loss of at most 0.1 dB ``threshold=-0.1``."""
    c = compare(table, a, b, [metric], intervals)
    if scales is not None:
        want = {_key(s) for s in scales}
        c = c[c["scale"].map(_key).isin(list(want))]
    js = [judge_threshold(float(r["diff"]), threshold, float(r["lo"]), float(r["hi"])) for _, r in c.iterrows()]
    ev = "; ".join(f"{_ev(r)} ({j})" for (_, r), j in zip(c.iterrows(), js)) or "no comparison left to make"
    return {"claim": claim, "verdict": status(js), "caveat": caveat,
            "evidence": f"{a} - {b} {metric_label(metric)}, needed {threshold:+g}: {ev}"}
