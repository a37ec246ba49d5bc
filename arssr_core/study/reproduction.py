"""The reproduction report: every number of every table of a run against the published one.

The committed ``results/<profile>/tables/*.csv`` are the study's published results. After
``arssr reproduce`` has run notebooks here, :func:`write_report` compares each table as it
now stands with the same table at a git revision (by default ``HEAD``, the published state of
this clone) and writes ``results/<profile>/reproduction.csv`` (one row per compared cell that
disagrees, plus every table that could not be compared) and ``reproduction.json`` (what was
compared, against what, and how many cells agreed).

Rows are matched on their identifying columns (method, scale, region, ...); each numeric
column has a stated tolerance (:data:`TOLERANCES`): the evaluation of committed weights is
deterministic for a given precision and the ``cpu`` profile evaluates in fp32 on every machine,
so the tolerances only absorb a different BLAS or thread count (bf16 against fp32 differs far
more: up to 0.47 dB PSNR on the thick-slice cube). Verdicts must agree word for word; free
text (evidence, caveats, notes) and timings are not compared.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..io_utils import atomic_path
from ..metrics.registry import tolerances
from ..paths import REPO_ROOT, results_dir

#: Columns that identify a row (matched, never compared as quantities).
KEYS = ("notebook", "record", "id", "role", "name", "kind", "lesion", "tag", "model", "encoder", "section",
        "method", "a", "b", "subject", "scan", "region", "request", "scale", "step", "metric",
        "claim", "checkpoint")

#: Quantity -> absolute tolerance. A column is matched by its name (or, in interval tables, by
#: the row's ``metric``); ``None`` means informational (timings, machine names): not compared.
TOLERANCES: dict[str, float | None] = {
    **tolerances(), "spread": 0.005,  # the metrics' own: arssr_core.metrics.registry
    "steps": 0.0, "parameters": 0.0, "voxels": 0.0, "best_step": 0.0, "steps_run": 0.0, "batch_size": 0.0,
    "lr": 0.0, "radius_mm": 1e-3, "volume_ml": 1e-3, "intensity": 1e-3,
    "minutes": None, "minutes_to_best": None, "seconds": None, "cpu_minutes": None,
}
#: Descriptive columns: neither keys nor compared (an interval's ``units``, e.g. "50 blocks",
#: counts the bootstrap blocks of its region: another region changes the count, not the row).
#: Free-text columns compared word for word.
EXACT_TEXT = ("verdict",)
#: Relative tolerance for a numeric column of no known quantity.
DEFAULT_REL = 2e-3


@dataclass(frozen=True)
class Mismatch:
    """One disagreement between a published and a reproduced table."""

    table: str
    row: str
    column: str
    published: str
    reproduced: str
    tolerance: str
    problem: str


def tolerance(column: str, metric: str | None = None) -> float | None:
    """Absolute tolerance of a column (``None``: not compared; ``nan``: relative :data:`DEFAULT_REL`)."""
    name = metric if column in ("diff", "lo", "hi") and metric else column
    name = name.lower()
    if name in TOLERANCES:
        return TOLERANCES[name]
    for q in ("psnr", "ssim", "lpips", "lpc_si", "psi", "dice"):
        if q in name:
            return TOLERANCES[q]
    return math.nan


def _keys(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c in KEYS]


def _row_ids(df: pd.DataFrame, keys: list[str]) -> list[str]:
    """A label per row from its identifying columns; repeated labels get ``#2``, ``#3``..."""
    seen: dict[str, int] = {}
    out = []
    for i, row in enumerate(df[keys].astype(str).itertuples(index=False) if keys else [()] * len(df)):
        label = ", ".join(f"{k}={v}" for k, v in zip(keys, row)) if keys else f"row {i + 1}"
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


def _num(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v


def compare_table(name: str, published: pd.DataFrame, reproduced: pd.DataFrame) -> tuple[int, list[Mismatch]]:
    """Compare two versions of one table cell by cell; returns (cells compared, disagreements)."""
    keys, rkeys = _keys(published), _keys(reproduced)
    # an identifying column only one version has, with one value throughout (e.g. ``subject`` added
    # to a one-subject table), tells no rows apart: match without it
    single = lambda df, k: df[k].nunique(dropna=False) <= 1  # noqa: E731
    keys = [k for k in keys if k in rkeys or not single(published, k)]
    if keys != [k for k in rkeys if k in keys or not single(reproduced, k)]:
        # another layout (e.g. scales once columns, now rows): rows cannot be matched
        return 0, [Mismatch(name, "", "", ", ".join(_keys(published)) or "no key columns", ", ".join(rkeys) or
                            "no key columns", "", "the table's layout changed (its identifying columns differ)")]
    pub = dict(zip(_row_ids(published, keys), published.to_dict("records")))
    rep = dict(zip(_row_ids(reproduced, keys), reproduced.to_dict("records")))
    out: list[Mismatch] = []
    n = 0
    for rid in pub.keys() - rep.keys():
        out.append(Mismatch(name, rid, "", "present", "missing", "", "row missing from the reproduction"))
    for rid in rep.keys() - pub.keys():
        out.append(Mismatch(name, rid, "", "missing", "present", "", "row not in the published table"))
    for col in [c for c in published.columns if c not in reproduced.columns and c not in KEYS]:
        out.append(Mismatch(name, "", col, "present", "missing", "", "column missing from the reproduction"))
    cols = [c for c in published.columns if c in reproduced.columns and c not in keys]
    for rid in sorted(pub.keys() & rep.keys()):
        a, b = pub[rid], rep[rid]
        for col in cols:
            va, vb = a[col], b[col]
            if col in EXACT_TEXT:
                n += 1
                if str(va) != str(vb):
                    out.append(Mismatch(name, rid, col, str(va), str(vb), "same words", "verdict differs"))
                continue
            fa, fb = _num(va), _num(vb)
            if fa is None or fb is None or isinstance(va, str) or isinstance(vb, str):
                continue  # free text: not compared
            tol = tolerance(col, a.get("metric"))
            if tol is None:
                continue
            n += 1
            if math.isnan(fa) and math.isnan(fb):
                continue
            if math.isnan(tol):
                limit, shown = DEFAULT_REL * max(abs(fa), abs(fb)), f"{DEFAULT_REL:.1%} relative"
            else:
                limit, shown = tol, f"{tol:g}"
            if not abs(fa - fb) <= limit + 1e-12:
                out.append(Mismatch(name, rid, col, f"{fa:.6g}", f"{fb:.6g}", shown,
                                    f"differs by {fb - fa:+.4g}"))
    return n, out


def head_commit() -> str:
    """The (short) hash of the repository's HEAD now, or ``"HEAD"`` outside a git clone: a run pins
    it at its start, so that results committed while it goes on are not compared with themselves."""
    proc = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else "HEAD"


def published_table(path: Path, rev: str = "HEAD") -> pd.DataFrame | None:
    """The table at ``path`` as committed at git revision ``rev`` (``None`` if it is not there)."""
    try:
        rel = path.resolve().relative_to(REPO_ROOT.resolve()).as_posix()
    except ValueError:  # results kept outside the repository ($ARSSR_RESULTS): nothing published there
        return None
    proc = subprocess.run(["git", "-C", str(REPO_ROOT), "show", f"{rev}:{rel}"], capture_output=True)
    if proc.returncode != 0:
        return None
    return pd.read_csv(io.BytesIO(proc.stdout))


def compare_results(profile: str, rev: str = "HEAD", prefixes: list[str] | None = None) -> tuple[pd.DataFrame, dict]:
    """Compare every table of ``results/<profile>/tables`` (or those whose names start with one
    of ``prefixes``, e.g. the notebooks that just ran) with its version at ``rev``.

    Returns the disagreements (one row per :class:`Mismatch`) and a summary: the revision
    (with its commit), tables compared, cells compared, cells that disagree, tables without a
    published version.
    """
    tables = sorted(p for p in (results_dir(profile) / "tables").glob("*.csv")
                    if prefixes is None or p.name.startswith(tuple(prefixes)))
    commit = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", rev], capture_output=True,
                            text=True).stdout.strip()
    rows: list[Mismatch] = []
    per_table = {}
    unpublished = []
    for path in tables:
        pub = published_table(path, rev)
        if pub is None:
            unpublished.append(path.name)
            continue
        n, bad = compare_table(path.stem, pub, pd.read_csv(path))
        per_table[path.stem] = {"cells": n, "disagree": len(bad), "commit": commit or "?"}
        rows += bad
    summary = {"profile": profile, "against": rev, "commit": commit or "?",
               "date": time.strftime("%Y-%m-%d %H:%M:%S"), "tables": len(per_table),
               "cells": sum(t["cells"] for t in per_table.values()),
               "disagree": len(rows), "per_table": per_table, "unpublished": unpublished,
               "tolerances": {k: v for k, v in TOLERANCES.items() if v is not None},
               "default_relative": DEFAULT_REL}
    return pd.DataFrame([r.__dict__ for r in rows], columns=list(Mismatch.__dataclass_fields__)), summary


def write_report(profile: str, rev: str = "HEAD", prefixes: list[str] | None = None) -> dict:
    """Write ``reproduction.csv`` and ``reproduction.json`` under ``results/<profile>/``; return the
    summary. With ``prefixes`` (the notebooks a run executed), only their tables are compared
    again; the report's entries for the other tables stay as an earlier run left them (each
    names the commit it was compared with)."""
    df, summary = compare_results(profile, rev, prefixes)
    res = results_dir(profile)
    if prefixes is not None and (res / "reproduction.json").exists() and (res / "reproduction.csv").exists():
        old = json.loads((res / "reproduction.json").read_text())
        keep = {k: {"commit": old.get("commit", "?"), **v} for k, v in old.get("per_table", {}).items()
                if not k.startswith(tuple(prefixes))}
        old_rows = pd.read_csv(res / "reproduction.csv", dtype=str, keep_default_na=False)
        old_rows = old_rows[~old_rows["table"].astype(str).str.startswith(tuple(prefixes))]
        df = pd.concat([old_rows, df.astype(str)], ignore_index=True)
        per = {**keep, **summary["per_table"]}
        summary.update(per_table=dict(sorted(per.items())), tables=len(per), cells=sum(v["cells"] for v in per.values()),
                       disagree=len(df), unpublished=sorted(set(summary["unpublished"]) | {
                           u for u in old.get("unpublished", []) if not u.startswith(tuple(prefixes))}))
    with atomic_path(res / "reproduction.csv") as tmp:
        df.to_csv(tmp, index=False)
    with atomic_path(res / "reproduction.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    return summary


def summary_text(summary: dict) -> str:
    """One paragraph for the terminal and the book."""
    if not summary.get("tables"):
        return "No published tables to compare with (no git history or no committed results)."
    bad = {k: v["disagree"] for k, v in summary["per_table"].items() if v["disagree"]}
    commits = sorted({v.get("commit", summary["commit"]) for v in summary["per_table"].values()})
    at = (f"published at {summary['against']} ({summary['commit']})" if commits == [summary["commit"]] else
          "published at the commits each table names (" + ", ".join(commits) + ")")
    text = f"Compared {summary['cells']} numbers and verdicts of {summary['tables']} tables with the results {at}: "
    if not bad:
        return text + "all agree within their tolerances."
    return text + f"{summary['disagree']} disagree, in " + ", ".join(f"{k} ({v})" for k, v in sorted(bad.items())) + "."
