"""The package's layers: the library (models, data, infer, metrics, train, segment, ...) never
imports the study (``arssr_core.study``); the study may import the library."""

import ast
from pathlib import Path

import arssr_core

PKG = Path(arssr_core.__file__).parent


def _imported_modules(path: Path, root: Path) -> set[str]:
    """Absolute names of every module a file under ``root`` (the folder holding the package)
    imports, top-level and inside functions."""
    package = list(path.relative_to(root).parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            names.add(mod)
            names.update(f"{mod}.{a.name}" for a in node.names)  # `from . import study`
    return names


def study_imports_in_library(pkg: Path = PKG) -> list[str]:
    """``file: module`` for every import of the study by a library file of the package ``pkg``."""
    bad = []
    for p in sorted(pkg.rglob("*.py")):
        rel = p.relative_to(pkg)
        if rel.parts[0] == "study" or rel.name in ("cli.py", "command.py"):  # the command line sits above both
            continue
        bad += [f"{rel}: {m}" for m in sorted(_imported_modules(p, pkg.parent))
                if m == "arssr_core.study" or m.startswith("arssr_core.study.")]
    return bad


def test_resolver_sees_relative_and_lazy_imports(tmp_path):
    """The check itself, on a package built here: a relative, a lazy and an absolute import of
    the study are all seen, an import of the library is not."""
    pkg = tmp_path / "arssr_core"
    (pkg / "data").mkdir(parents=True)
    (pkg / "data" / "probe.py").write_text("from ..study import claims\nfrom ..errors import DataError\n\n"
                                           "def f():\n    from ..study.report import x\n"
                                           "import arssr_core.study.viz\n")
    found = set(study_imports_in_library(pkg))
    assert {"data/probe.py: arssr_core.study.claims", "data/probe.py: arssr_core.study.report",
            "data/probe.py: arssr_core.study.viz"} <= found
    assert not [f for f in found if "errors" in f]


def test_library_never_imports_the_study():
    assert study_imports_in_library() == []


def test_study_modules_live_in_the_study_subpackage():
    top = {p.stem for p in PKG.glob("*.py")}
    study = {p.stem for p in (PKG / "study").glob("*.py")} - {"__init__"}
    assert {"experiments", "evaluation", "claims", "report", "viz", "pipeline", "book"} <= study
    assert not top & study


def test_the_readme_reads_top_down_in_short_lines():
    """A newcomer's README: the two commands and the own-scan section come before the study's
    internals, and no line is longer than 400 characters (measured numbers live in
    benchmarks/results and the book)."""
    text = (PKG.parent / "README.md").read_text()
    assert max(len(line) for line in text.splitlines()) <= 400
    order = [text.index(h) for h in ("## Two commands", "## Super-resolve your own scan", "## What the study found",
                                     "## Profiles", "## Data", "## Layout")]
    assert order == sorted(order)
