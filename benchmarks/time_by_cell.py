"""Where a run's time goes: every notebook's cells by the seconds papermill measured.

Run: ``python benchmarks/time_by_cell.py [--profile cpu] [--min 1]``; reads the executed notebooks
of ``results/<profile>/notebooks/`` (papermill's per-cell ``duration``) and their run records
(``runs.json``: time, machine, how many results a run took from the result cache) and prints,
per notebook, its total and every cell that took at least ``--min`` seconds, with the cell's
first line and its share of the notebook. A cell can mix stages (a cell that super-resolves and
scores does both); the records' cache counts say which runs were warm. Prints figures only; the
committed output is ``benchmarks/results/time_by_cell.txt``.
"""

from __future__ import annotations

import argparse
import json

from arssr_core.paths import results_dir


def cells(nb_path) -> list[tuple[int, float, str]]:
    """``(index, seconds, first code line)`` of every code cell of an executed notebook."""
    nb = json.loads(nb_path.read_text())
    out = []
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] != "code":
            continue
        src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        first = next((ln for ln in src.splitlines() if ln.strip() and not ln.startswith("#")), "")
        out.append((i, float(c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0), first))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--min", type=float, default=1.0, help="list cells of at least this many seconds")
    args = ap.parse_args()
    folder = results_dir(args.profile) / "notebooks"
    records = json.loads((folder / "runs.json").read_text())
    total = 0.0
    for name in sorted(records):
        r = records[name]
        cs = cells(folder / name)
        spent = sum(s for _, s, _ in cs)
        total += float(r.get("seconds", 0))
        print(f"{name}: {r.get('seconds', 0):.0f} s ({spent:.0f} s in cells), finished {r.get('finished')}, "
              f"{r.get('cache_reads', 0)} results from the cache; {r.get('machine', '?')}")
        for i, s, first in sorted(cs, key=lambda c: -c[1]):
            if s >= args.min:
                print(f"  cell {i:2d} {s:7.1f} s {100 * s / max(spent, 1e-9):5.1f}%  {first[:90]}")
    print(f"all notebooks: {total:.0f} s ({total / 60:.1f} min)")


if __name__ == "__main__":
    main()
