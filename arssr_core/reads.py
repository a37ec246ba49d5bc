"""Which input files a notebook reads, recorded while it runs (for its run record).

When ``$ARSSR_READ_LOG`` names a file, importing :mod:`arssr_core` installs an audit hook
(:func:`sys.addaudithook`) in that process: every file it opens for reading under the
study's input folders (the checkpoints, the data's ``raw/`` and ``prepared/``, and the result
tables other notebooks wrote; not the registry archive cache nor the cached SR volumes) is appended to the log once.
Files read from a profile's result cache (``results/<profile>/cache``: SR volumes and atlas
priors an earlier run computed) go to a second log beside it (:func:`cache_log`), so that a run
record can say how much of its work it took from there rather than did. ``arssr reproduce`` sets the variable
for each notebook's kernel and stores the files with their content hashes in the notebook's
record, so that changing one byte of a checkpoint or a prepared volume reruns exactly the
notebooks that read it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_STATE: dict = {}


def watched_roots() -> list[Path]:
    """The folders whose files count as a notebook's inputs: checkpoints, raw and prepared
    data, and every profile's result tables (``results/<profile>/tables``: 08 reads the
    verdicts of 02-07)."""
    from .paths import REPO_ROOT, data_root

    roots = {REPO_ROOT / "checkpoints", Path(os.environ.get("ARSSR_CHECKPOINTS", REPO_ROOT / "checkpoints")),
             data_root() / "raw", data_root() / "prepared"}
    results = Path(os.environ.get("ARSSR_RESULTS", REPO_ROOT / "results"))
    if results.is_dir():
        roots |= {p / "tables" for p in results.iterdir() if p.is_dir()}
    return sorted({r.resolve() for r in roots})


def cache_roots() -> list[Path]:
    """Every profile's result cache (``results/<profile>/cache``), whether it exists yet or not."""
    from .paths import REPO_ROOT

    results = Path(os.environ.get("ARSSR_RESULTS", REPO_ROOT / "results"))
    return sorted((p / "cache").resolve() for p in results.iterdir() if p.is_dir()) if results.is_dir() else []


def cache_log(log: str | Path) -> Path:
    """The log, beside ``log``, of the files a process read from a result cache."""
    return Path(f"{log}.cache")


def code_log(log: str | Path) -> Path:
    """The log, beside ``log``, of the package code a process used: the ``arssr_core`` modules it
    imported (``module:<name>``) and the package's data files it read (profiles, manifests)."""
    return Path(f"{log}.code")


def used_code(log: str | Path) -> list[str]:
    """The package files (paths relative to the repository, sorted) that a logged process used:
    each imported module's source file and its packages' ``__init__.py``, and the data files
    read (:func:`code_log`)."""
    import importlib.util

    from .paths import REPO_ROOT

    p = code_log(log)
    files: set[Path] = set()
    for line in (p.read_text().splitlines() if p.exists() else []):
        kind, _, name = line.partition(":")
        if kind == "file":
            files.add(Path(name))
            continue
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # the module and every package above it
            try:
                spec = importlib.util.find_spec(".".join(parts[:i]))
            except (ImportError, ValueError):
                spec = None
            if spec is not None and spec.origin and spec.origin.endswith(".py"):
                files.add(Path(spec.origin))
    root = REPO_ROOT.resolve()
    return sorted(f.resolve().relative_to(root).as_posix() for f in files
                  if f.exists() and f.resolve().is_relative_to(root))


def install(log: str | Path) -> None:
    """Log every file under :func:`watched_roots` that this process opens for reading, and every
    file it reads from a result cache (:func:`cache_roots`) to :func:`cache_log`."""
    if _STATE:
        return
    package = str(Path(__file__).resolve().parent) + os.sep
    _STATE.update(log=str(log), roots=[str(r) + os.sep for r in watched_roots()],
                  caches=[str(r) + os.sep for r in cache_roots()], package=package, seen=set(), busy=False)

    def note_code(entry: str) -> None:
        if entry in _STATE["seen"]:
            return
        _STATE["seen"].add(entry)
        _STATE["busy"] = True
        try:
            with open(code_log(_STATE["log"]), "a") as f:
                f.write(entry + "\n")
        finally:
            _STATE["busy"] = False

    for name in [m for m in sys.modules if m == "arssr_core" or m.startswith("arssr_core.")]:
        note_code(f"module:{name}")  # imported before the hook: the package itself, this module

    def hook(event: str, args: tuple) -> None:
        if _STATE["busy"]:
            return
        if event == "import":
            if isinstance(args[0], str) and args[0].startswith("arssr_core"):
                note_code(f"module:{args[0]}")
            return
        if event != "open":
            return
        path, mode = args[0], args[1]
        if not isinstance(path, (str, os.PathLike)) or (mode and any(c in str(mode) for c in "wax+")):
            return
        p = os.path.abspath(os.fspath(path))
        if p in _STATE["seen"]:
            return
        if p.startswith(_STATE["package"]):  # the package's own data (a profile, a manifest); not its code
            if not p.endswith((".py", ".pyc")):
                note_code(f"file:{p}")
            return
        if any(p.startswith(r) for r in _STATE["roots"]):
            target = _STATE["log"]
        elif any(p.startswith(r) for r in _STATE["caches"]):
            target = str(cache_log(_STATE["log"]))
        else:
            return
        _STATE["seen"].add(p)
        _STATE["busy"] = True
        try:
            with open(target, "a") as f:
                f.write(p + "\n")
        finally:
            _STATE["busy"] = False

    sys.addaudithook(hook)


def read_log(log: str | Path) -> list[Path]:
    """The files a logged process read (those that still exist), sorted."""
    p = Path(log)
    if not p.exists():
        return []
    return sorted({Path(line) for line in p.read_text().splitlines() if line and Path(line).is_file()})
