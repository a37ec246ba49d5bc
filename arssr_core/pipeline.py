"""Run the numbered notebooks with papermill, in order, skipping what has not changed.

``arssr reproduce --profile P [--only 03] [--params 'scales=[2,4]'] [--force]``

Each notebook runs with ``profile`` (and any overrides) into
``results/<profile>/notebooks/<name>.ipynb``. A notebook is skipped when its source,
its parameters, the ``arssr_core`` code and the profile file hash to what its last
successful run recorded (``results/<profile>/notebooks/runs.json``). The first failure
stops the run, naming the notebook and the failing cell; the partial executed
notebook stays for inspection.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from .errors import ArssrError
from .io_utils import atomic_path
from .paths import REPO_ROOT, results_dir

NOTEBOOK_DIR = REPO_ROOT / "notebooks"


def notebooks(only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks, sorted; ``only`` keeps those whose name starts with one of the prefixes."""
    found = sorted(p for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    if only:
        found = [p for p in found if any(p.name.startswith(o) for o in only)]
        if not found:
            raise ArssrError(f"no notebook in {NOTEBOOK_DIR} starts with {', '.join(only)}")
    return found


def parse_params(text: str | None) -> dict[str, Any]:
    """``"scales=[2,4]; steps=10"`` or a YAML mapping -> dict (values parsed as YAML)."""
    if not text:
        return {}
    text = text.strip()
    if text.startswith("{"):
        out = yaml.safe_load(text)
    else:
        out = {}
        for part in [p for chunk in text.split(";") for p in _split_top(chunk)]:
            if not part.strip():
                continue
            if "=" not in part:
                raise ArssrError(f"parameter '{part}' is not NAME=VALUE")
            k, v = part.split("=", 1)
            out[k.strip()] = yaml.safe_load(v.strip())
    if not isinstance(out, dict):
        raise ArssrError(f"parameters '{text}' are not a mapping")
    return out


def _split_top(text: str) -> list[str]:
    """Split on spaces/commas that are outside brackets: ``a=[1, 2] b=3`` -> two parts."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "[{("
        depth -= ch in "]})"
        if ch in " ," and depth == 0:
            if "=" in cur or not parts:
                parts.append(cur)
                cur = ""
                continue
        cur += ch
    parts.append(cur)
    merged: list[str] = []
    for p in parts:  # a piece without '=' belongs to the previous NAME=VALUE
        if merged and "=" not in p and p.strip():
            merged[-1] += " " + p
        else:
            merged.append(p)
    return [m.strip() for m in merged if m.strip()]


#: Package files that cannot change a notebook's results (running and publishing them).
NOT_RESULTS = {"pipeline.py", "book.py", "cli.py", "command.py"}


def _code_hash() -> str:
    """Hash of the package code that notebooks' results depend on."""
    h = hashlib.sha256()
    for p in sorted((REPO_ROOT / "arssr_core").rglob("*")):
        if p.name in NOT_RESULTS:
            continue
        if p.suffix in (".py", ".yaml", ".json", ".csv") and "__pycache__" not in p.parts:
            h.update(p.relative_to(REPO_ROOT).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def run_key(nb: Path, params: dict[str, Any]) -> str:
    """Hash of what a notebook's results depend on: its source, parameters and the package code."""
    h = hashlib.sha256()
    h.update(nb.read_bytes())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    h.update(_code_hash().encode())
    return h.hexdigest()


def _declared_parameters(nb: Path) -> set[str]:
    """Names assigned in the notebook's ``parameters`` cell."""
    import ast

    cells = json.loads(nb.read_text())["cells"]
    for c in cells:
        if "parameters" in c.get("metadata", {}).get("tags", []):
            src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            names = set()
            for node in ast.parse(src).body:
                if isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    names |= {t.id for t in targets if isinstance(t, ast.Name)}
            return names
    raise ArssrError(f"{nb.name}: no cell tagged 'parameters'")


def reproduce(profile: str = "cpu", only: list[str] | None = None, params: dict[str, Any] | None = None,
              force: bool = False, kernel: str = "python3") -> list[dict[str, Any]]:
    """Run the notebooks in order; return one summary row per notebook."""
    import papermill as pm

    out_dir = results_dir(profile) / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path = out_dir / "runs.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    rows = []
    todo = notebooks(only)
    print(f"arssr reproduce: profile '{profile}', {len(todo)} notebook(s) -> {out_dir}", flush=True)
    for i, nb in enumerate(todo, 1):
        declared = _declared_parameters(nb)
        nb_params = {"profile": profile, **{k: v for k, v in (params or {}).items() if k in declared}}
        key = run_key(nb, nb_params)
        out = out_dir / nb.name
        if not force and state.get(nb.name, {}).get("key") == key and out.exists():
            print(f"[{i}/{len(todo)}] {nb.name}: unchanged since its last run, skipped", flush=True)
            rows.append({"notebook": nb.name, "status": "skipped", "seconds": 0.0})
            continue
        print(f"[{i}/{len(todo)}] {nb.name}: running with {nb_params}", flush=True)
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(str(nb), str(out), parameters=nb_params, kernel_name=kernel,
                                cwd=str(NOTEBOOK_DIR), progress_bar=False, log_output=False)
        except pm.PapermillExecutionError as e:
            dt = time.perf_counter() - t0
            rows.append({"notebook": nb.name, "status": "failed", "seconds": dt})
            _summary(rows)
            raise ArssrError(
                f"{nb.name} failed in cell {e.exec_count} ({e.ename}: {str(e.evalue)[:300]}); "
                f"the partial executed notebook is {out}"
            ) from None
        dt = time.perf_counter() - t0
        from .device import describe_machine

        entry = {"key": key, "params": nb_params, "seconds": round(dt, 1),
                 "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": describe_machine()}
        state = json.loads(state_path.read_text()) if state_path.exists() else {}  # another run may have written
        state[nb.name] = entry
        with atomic_path(state_path) as tmp:
            tmp.write_text(json.dumps(state, indent=2))
        rows.append({"notebook": nb.name, "status": "ran", "seconds": dt})
        print(f"[{i}/{len(todo)}] {nb.name}: done in {dt:.0f} s", flush=True)
    _summary(rows)
    return rows


def _summary(rows: list[dict[str, Any]]) -> None:
    print("\nnotebook                     status    seconds")
    for r in rows:
        print(f"{r['notebook']:<28} {r['status']:<9} {r['seconds']:7.0f}")
    print(f"{'total':<38} {sum(r['seconds'] for r in rows):7.0f}", flush=True)


def _cmd_reproduce(args: argparse.Namespace) -> int:
    reproduce(args.profile, args.only or None, parse_params(args.params), args.force)
    return 0


def _cmd_book(args: argparse.Namespace) -> int:
    from .book import build_book

    path = build_book(args.profile)
    print(f"book built: {path}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``reproduce`` and ``book`` to the ``arssr`` command."""
    r = sub.add_parser("reproduce", help="run the numbered notebooks with papermill into results/<profile>/")
    r.add_argument("--profile", default="cpu", help="smoke, cpu (default) or full")
    r.add_argument("--only", nargs="*", help="notebook prefixes, e.g. 03 04")
    r.add_argument("--params", default=None, help="overrides, e.g. \"scales=[2,4] data_root=/data/hcp\"")
    r.add_argument("--force", action="store_true", help="rerun notebooks even if unchanged")
    r.set_defaults(func=_cmd_reproduce)
    b = sub.add_parser("book", help="build the Jupyter Book from results/<profile>/ (offline)")
    b.add_argument("--profile", default="cpu")
    b.set_defaults(func=_cmd_book)


if __name__ == "__main__":  # pragma: no cover
    from .cli import main

    sys.exit(main(["reproduce", *sys.argv[1:]]))
