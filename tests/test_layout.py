"""The package's layers: the library (models, data, infer, metrics, train, segment, ...) never
imports the study (``arssr_core.study``); the study may import the library."""

import ast
from pathlib import Path

import arssr_core

PKG = Path(arssr_core.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    """Absolute names of every module a file imports (top-level and inside functions)."""
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
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


def study_imports_in_library() -> list[str]:
    """``file: module`` for every import of the study by a library file."""
    bad = []
    for p in sorted(PKG.rglob("*.py")):
        rel = p.relative_to(PKG)
        if rel.parts[0] == "study" or rel.name == "cli.py":  # the command line sits above both
            continue
        bad += [f"{rel}: {m}" for m in sorted(_imported_modules(p))
                if m == "arssr_core.study" or m.startswith("arssr_core.study.")]
    return bad


def test_resolver_sees_relative_and_lazy_imports(tmp_path):
    """The check itself: a relative, a lazy and an absolute import of the study are all seen."""
    fake = PKG / "data" / "_layout_probe.py"
    fake.write_text("from ..study import claims\n\ndef f():\n    from ..study.report import x\n"
                    "import arssr_core.study.viz\n")
    try:
        found = study_imports_in_library()
    finally:
        fake.unlink()
    assert {"data/_layout_probe.py: arssr_core.study.claims", "data/_layout_probe.py: arssr_core.study.report",
            "data/_layout_probe.py: arssr_core.study.viz"} <= set(found)


def test_library_never_imports_the_study():
    assert study_imports_in_library() == []


def test_study_modules_live_in_the_study_subpackage():
    top = {p.stem for p in PKG.glob("*.py")}
    study = {p.stem for p in (PKG / "study").glob("*.py")} - {"__init__"}
    assert {"experiments", "evaluation", "claims", "report", "viz", "pipeline", "book"} <= study
    assert not top & study
