"""Run the numbered notebooks with papermill, in order, skipping what already ran here.

``arssr reproduce --profile P [--only 03] [--params 'scales=[2,4] eval.precision=bf16'] [--force]``
``arssr check --profile P [--against REV]``

Each notebook runs with ``profile`` (and any overrides) into
``results/<profile>/notebooks/<name>.ipynb``. Its *key* hashes what its results depend on:
its code cells, its parameters and the ``arssr_core`` code its kernel used (the modules it
imported and the package data it read, listed in its record as ``code``; comments and
docstrings ignored), so an edit of a module a notebook never imports leaves it current;
its record also lists every checkpoint and data file the notebook read while it ran
(:mod:`arssr_core.reads`) with its content hash, and, where it used the training seeds
(:mod:`arssr_core.study.seeds`), the census of finished seeds it could see
(:func:`seed_census`), so a seed that finishes later makes it stale. Each kernel keeps the
results it computes (scores, segmentations) in ``results/<profile>/cache/store``
(:mod:`arssr_core.store`), keyed by their inputs' content and code, so a rerun after an edit of
a table or a plot takes them from there. A notebook is skipped only when it ran on
this clone with the same key and inputs (``runs.local.json``, not committed): a fresh
clone re-executes every notebook, however its committed record (``runs.json``, the published
one, with each run's environment and time) reads. A Markdown-only edit reruns nothing; the
executed copy takes the new text. The first failure stops the run, naming the notebook and
the failing cell; the partial executed notebook stays for inspection. After a run, every
table is compared with the published one (:mod:`arssr_core.study.reproduction`).
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from ..errors import ArssrError
from ..io_utils import atomic_path, file_digest
from ..store import ENV as STORE_ENV
from ..store import code_text
from ..paths import REPO_ROOT, results_dir
from ..profiles import OVERRIDES_ENV, check_overrides

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


#: Package files that cannot change a notebook's results (running, checking and publishing them).
NOT_RESULTS = {"pipeline.py", "book.py", "cli.py", "command.py", "dicom.py", "reads.py", "reproduction.py", "advice.py"}


def package_files() -> list[str]:
    """Every package file whose content can change a notebook's results (paths relative to the
    repository, sorted): Python, YAML, JSON and CSV under ``arssr_core/``, less
    :data:`NOT_RESULTS`."""
    return sorted(p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "arssr_core").rglob("*")
                  if p.suffix in (".py", ".yaml", ".json", ".csv") and "__pycache__" not in p.parts
                  and p.name not in NOT_RESULTS)


def _code_hash(files: list[str] | None = None) -> str:
    """Hash of package code (comments and docstrings ignored): of ``files`` (repository-relative
    paths; those of :data:`NOT_RESULTS` and those gone are left out), or of every file of
    :func:`package_files` when ``None``."""
    h = hashlib.sha256()
    chosen = package_files() if files is None else sorted(
        f for f in set(files) if Path(f).name not in NOT_RESULTS and (REPO_ROOT / f).is_file())
    for f in chosen:
        h.update(f.encode())
        h.update(code_text(REPO_ROOT / f).encode())
    return h.hexdigest()


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes (remembered per path, size and modification time)."""
    return file_digest(path, "sha256")


def input_hashes(files: list[Path]) -> dict[str, str]:
    """``{path: sha256}`` of the files a notebook read (paths relative to the repository where
    they lie inside it)."""
    out = {}
    for p in files:
        try:
            name = p.resolve().relative_to(REPO_ROOT.resolve()).as_posix()
        except ValueError:
            name = str(p)
        out[name] = file_hash(p)
    return out


def input_path(name: str) -> Path:
    """Where a record's input ``name`` lies here (relative names are inside the repository)."""
    return Path(name) if Path(name).is_absolute() else REPO_ROOT / name


def inputs_unchanged(record: dict | None) -> bool:
    """True when every file a notebook's record says it read still has the recorded content."""
    for name, digest in ((record or {}).get("inputs") or {}).items():
        p = input_path(name)
        if not p.is_file() or file_hash(p) != digest:
            return False
    return True


#: The module whose use makes a notebook's results depend on which training seeds have finished.
SEED_CODE = "arssr_core/study/seeds.py"


def seed_census(profile: str) -> dict[str, list[int]]:
    """``{run tag: its finished training seeds}`` for every training job of a profile with
    committed runs (``pretrained_root``; :func:`arssr_core.study.seeds.finished_seeds`): what a
    notebook that scores every finished seed saw. Empty for a profile without committed runs."""
    from ..profiles import load_profile
    from .pretrain import jobs
    from .seeds import finished_seeds

    root = load_profile(profile).get("pretrained_root")
    if not root:
        return {}
    return {j.tag: finished_seeds(profile, REPO_ROOT / root / j.tag) for j in jobs(profile)}


def census_unchanged(record: dict | None) -> bool:
    """True unless a record's notebook used the training seeds (:data:`SEED_CODE` in its
    ``code``) and the finished seeds now differ from those it recorded (``seeds``); a record of
    such a notebook without a census (made before censuses were recorded) cannot be current."""
    record = record or {}
    if SEED_CODE not in (record.get("code") or []):
        return True
    profile = (record.get("params") or {}).get("profile", "cpu")
    return record.get("seeds") == seed_census(profile)


def is_current(nb: Path, record: dict | None, params: dict[str, Any] | None = None) -> bool:
    """True when a notebook's record matches the current state: the key of its code, parameters
    and the package code it used (the record's ``code``; all of the package for a record
    without one), the content of every input file it read, and the finished training seeds
    where it used them (:func:`census_unchanged`)."""
    if not record:
        return False
    return record.get("key") == record_key(nb, record, params) and inputs_unchanged(record) \
        and census_unchanged(record)


def record_key(nb: Path, record: dict, params: dict[str, Any] | None = None) -> str:
    """The key a notebook would have now under ``record``'s parameters (or ``params``) and the
    package code the record says it used (``code``: the modules its kernel imported and the
    package data it read; a record without it, made before they were recorded, stands for
    the whole package)."""
    return run_key(nb, params if params is not None else record.get("params", {}), record.get("code"))


def notebook_code(nb: Path) -> str:
    """The code cells of a notebook (what runs; its Markdown is narrative)."""
    cells = json.loads(nb.read_text())["cells"]
    return "\n# ---- cell\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                                    for c in cells if c["cell_type"] == "code")


def run_key(nb: Path, params: dict[str, Any], code: list[str] | None = None) -> str:
    """Hash of the code a notebook's results depend on: its code cells, its parameters and the
    package code, comments and docstrings ignored: the files ``code`` lists (those a run of it
    used, :func:`arssr_core.reads.used_code`), or the whole package when ``None``. So an edit of
    a module the notebook never imported leaves its key alone. The files it reads are checked
    apart, by content (the record's ``inputs``, :func:`is_current`)."""
    h = hashlib.sha256()
    h.update(notebook_code(nb).encode())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    if code is not None:
        h.update(b"code:")  # a key over the files used never equals one over the whole package
    h.update(_code_hash(code).encode())
    return h.hexdigest()


def environment() -> dict[str, Any]:
    """Where a notebook ran: package versions, CPU (features, threads), GPU."""
    from importlib.metadata import PackageNotFoundError, version

    from ..device import machine

    def v(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    pkgs = ("torch", "numpy", "scipy", "nibabel", "scikit-image", "pandas", "antspyx", "papermill")
    return {"python": sys.version.split()[0], "packages": {p: v(p) for p in pkgs}, **machine()}


def refresh_markdown(src: Path, executed: Path) -> bool:
    """Copy the Markdown cells of a notebook, and the tags of its code cells (``remove-stdout``:
    how the book shows a cell, not what it computes), into its executed copy when only they
    changed (the code cells match one for one); returns True if the executed notebook was
    rewritten."""
    a = json.loads(src.read_text())
    b = json.loads(executed.read_text())
    ran = [c for c in b["cells"] if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    text = lambda c: "".join(c["source"]) if isinstance(c["source"], list) else c["source"]  # noqa: E731
    if len(ran) != len(a["cells"]) or any(x["cell_type"] != y["cell_type"] or (x["cell_type"] == "code" and text(x) != text(y))
                                          for x, y in zip(a["cells"], ran)):
        return False
    changed = False
    for x, y in zip(a["cells"], ran):
        if x["cell_type"] == "markdown" and text(x) != text(y):
            y["source"] = x["source"]
            changed = True
        tags = x.get("metadata", {}).get("tags", [])
        if x["cell_type"] == "code" and tags != y.get("metadata", {}).get("tags", []):
            y.setdefault("metadata", {})["tags"] = tags
            changed = True
    if changed:
        with atomic_path(executed) as tmp:
            tmp.write_text(json.dumps(b, indent=1, ensure_ascii=False) + "\n")
    return changed


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
              force: bool = False, kernel: str = "python3", report: bool = True) -> list[dict[str, Any]]:
    """Run the notebooks in order; return one summary row per notebook.

    A notebook is skipped only when it already ran *here* (``runs.local.json``, not committed)
    with the key of the current state; the committed ``runs.json`` is the published record and
    is rewritten by every run. When only a notebook's Markdown changed, its executed copy takes
    the new text without a rerun. After a run, ``report`` compares every table with the one
    published at the commit the run started from (:mod:`arssr_core.study.reproduction`).
    """
    import papermill as pm

    out_dir = results_dir(profile) / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path, local_path = out_dir / "runs.json", out_dir / "runs.local.json"
    local = json.loads(local_path.read_text()) if local_path.exists() else {}
    from ..reads import cache_log, code_log, read_log, used_code
    from .reproduction import head_commit

    published = head_commit()  # the results a run is compared with: those published when it started
    rows = []
    todo = notebooks(only)
    params = dict(params or {})
    overrides = {k: params.pop(k) for k in [k for k in params if "." in k]}  # eval.precision=fp32: the profile's
    check_overrides(profile, overrides)
    declared_by = {nb: _declared_parameters(nb) for nb in todo}  # each notebook's parameters, read once
    unknown = sorted(set(params) - set().union(*declared_by.values()))
    if unknown:
        raise ArssrError(f"no notebook of this run has parameter(s) {unknown} (a profile key is dotted: "
                         f"section.key=value)")
    print(f"arssr reproduce: profile '{profile}', {len(todo)} notebook(s) -> {out_dir}", flush=True)
    for i, nb in enumerate(todo, 1):
        declared = declared_by[nb]
        nb_params = {"profile": profile, **{k: v for k, v in params.items() if k in declared}}
        keyed = {**nb_params, "profile_overrides": overrides} if overrides else nb_params  # what the key covers
        mine = local.get(nb.name) or {}
        out = out_dir / nb.name
        if not force and out.exists() and mine and mine.get("key") == record_key(nb, mine, keyed) \
                and inputs_unchanged(mine) and census_unchanged(mine):
            note = ", its new Markdown copied in" if refresh_markdown(nb, out) else ""
            print(f"[{i}/{len(todo)}] {nb.name}: ran here with these inputs, skipped{note}", flush=True)
            rows.append({"notebook": nb.name, "status": "skipped", "seconds": 0.0})
            continue
        print(f"[{i}/{len(todo)}] {nb.name}: running with {nb_params}", flush=True)
        t0 = time.perf_counter()
        log = out_dir / f".{nb.stem}.reads"
        for stale in (log, cache_log(log), code_log(log)):
            stale.unlink(missing_ok=True)
        snapshot = {f: code_text(REPO_ROOT / f) for f in package_files()}  # the code as the run starts
        census = seed_census(profile)  # the finished seeds as the run starts
        previous = {k: os.environ.get(k) for k in ("ARSSR_READ_LOG", OVERRIDES_ENV, STORE_ENV)}
        os.environ["ARSSR_READ_LOG"] = str(log)  # the kernel records the input files it reads
        os.environ[STORE_ENV] = str(results_dir(profile) / "cache" / "store")  # and keeps its scores there
        os.environ[OVERRIDES_ENV] = json.dumps({profile: overrides})  # and loads its profile with them
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
        finally:
            for k, v in previous.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        dt = time.perf_counter() - t0
        inputs = input_hashes(read_log(log))
        reused = len(read_log(cache_log(log)))  # result-cache files it read (SR volumes, priors), whoever stored them
        code = used_code(log)
        changed = [f for f in code if f in snapshot and code_text(REPO_ROOT / f) != snapshot[f]]
        key = run_key(nb, keyed, code) if not changed else "edited-while-running"  # never current
        for done in (log, cache_log(log), code_log(log)):
            done.unlink(missing_ok=True)
        from ..device import describe_machine

        entry = {"key": key, "params": keyed, "code": code, "seconds": round(dt, 1),
                 "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": describe_machine(),
                 "environment": environment(), "inputs": inputs, "cache_reads": reused}
        if SEED_CODE in code:
            entry["seeds"] = census
        for path in (state_path, local_path):  # re-read: another run may have written
            state = json.loads(path.read_text()) if path.exists() else {}
            state[nb.name] = entry
            with atomic_path(path) as tmp:
                tmp.write_text(json.dumps(state, indent=2))
        local[nb.name] = entry
        rows.append({"notebook": nb.name, "status": "ran", "seconds": dt})
        took = f" ({reused} results read from the result cache)" if reused else ""
        print(f"[{i}/{len(todo)}] {nb.name}: done in {dt:.0f} s{took}", flush=True)
    _summary(rows)
    if report and any(r["status"] == "ran" for r in rows):
        from .reproduction import summary_text, write_report

        ran = [r["notebook"][:2] for r in rows if r["status"] == "ran"]
        print("\n" + summary_text(write_report(profile, published, prefixes=None if only is None else ran)), flush=True)
    return rows


def _summary(rows: list[dict[str, Any]]) -> None:
    print("\nnotebook                     status    seconds")
    for r in rows:
        print(f"{r['notebook']:<28} {r['status']:<9} {r['seconds']:7.0f}")
    print(f"{'total':<38} {sum(r['seconds'] for r in rows):7.0f}", flush=True)


def _cmd_reproduce(args: argparse.Namespace) -> int:
    reproduce(args.profile, args.only or None, parse_params(args.params), args.force)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from .reproduction import summary_text, write_report

    summary = write_report(args.profile, args.against)
    print(summary_text(summary))
    print(f"written: {results_dir(args.profile) / 'reproduction.csv'}")
    return 0


def _cmd_book(args: argparse.Namespace) -> int:
    from .book import build_book

    path = build_book(args.profile)
    print(f"book built: {path}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``reproduce``, ``check`` and ``book`` to the ``arssr`` command."""
    r = sub.add_parser("reproduce", help="run the numbered notebooks with papermill into results/<profile>/")
    r.add_argument("--profile", default="cpu", help="smoke, cpu (default) or full")
    r.add_argument("--only", nargs="*", help="notebook prefixes, e.g. 03 04")
    r.add_argument("--params", default=None, help="notebook parameters and (dotted) profile keys, e.g. \"scales=[2,4] eval.precision=bf16\"")
    r.add_argument("--force", action="store_true", help="rerun notebooks even if unchanged")
    r.set_defaults(func=_cmd_reproduce)
    c = sub.add_parser("check", help="compare results/<profile>/tables with the published ones (a git revision)")
    c.add_argument("--profile", default="cpu")
    c.add_argument("--against", default="HEAD", help="git revision of the published results (default HEAD)")
    c.set_defaults(func=_cmd_check)
    b = sub.add_parser("book", help="build the Jupyter Book from results/<profile>/ (offline)")
    b.add_argument("--profile", default="cpu")
    b.set_defaults(func=_cmd_book)


if __name__ == "__main__":  # pragma: no cover
    from ..cli import main

    sys.exit(main(["reproduce", *sys.argv[1:]]))
