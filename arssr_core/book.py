"""Build the Jupyter Book (1.x, offline) from a profile's executed notebooks and results.

The committed ``book/`` folder holds the hand-written pages and ``_config.yml``; the
build stages them with the executed notebooks of ``results/<profile>/notebooks/`` and a
generated results page (every CSV table and PNG figure) into
``book/_build/<profile>/src`` and builds HTML into ``book/_build/<profile>/html``.
A smoke-profile book carries a warning on every page that its numbers are not results.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from .errors import ArssrError
from .paths import REPO_ROOT, results_dir

BOOK_DIR = REPO_ROOT / "book"
PAGES_BEFORE = ["intro"]
PAGES_AFTER = ["results", "rerun", "limitations"]

SMOKE_BANNER = (
    "```{warning}\nThis page was built with the **smoke** profile: tiny crops and a few training "
    "steps, for tests and CI. **Its numbers mean nothing** and are not results of the study. "
    "The study's results are in the book built with the `cpu` profile.\n```\n"
)


def _banner(profile: str) -> str:
    return SMOKE_BANNER if profile == "smoke" else ""


def _notebook_with_banner(src: Path, dst: Path, profile: str) -> None:
    nb = json.loads(src.read_text())
    if profile == "smoke":
        nb["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": SMOKE_BANNER})
    dst.write_text(json.dumps(nb))


def results_page(profile: str) -> str:
    """Markdown page with every table (CSV) and figure (PNG) of a profile."""
    res = results_dir(profile)
    lines = [f"# Results ({profile} profile)\n", _banner(profile),
             f"Every table and figure that the notebooks wrote under `results/{profile}/`, "
             "as computed by the code (nothing here is typed in by hand).\n"]
    for csv in sorted((res / "tables").glob("*.csv")):
        df = pd.read_csv(csv)
        lines += [f"\n## Table `{csv.name}`\n", "```{raw} html\n" + df.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0) + "\n```\n"]
    figs = sorted((res / "figures").glob("*.png"))
    if figs:
        lines.append("\n## Figures\n")
    for fig in figs:
        lines.append(f"\n### {fig.stem}\n\n![{fig.stem}](figures/{fig.name})\n")
    return "\n".join(lines)


def build_book(profile: str = "cpu") -> Path:
    """Stage and build the book; returns the path of the built ``index.html``."""
    res = results_dir(profile)
    executed = sorted((res / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not executed:
        raise ArssrError(f"no executed notebooks in {res / 'notebooks'}: run `make reproduce PROFILE={profile}` first")
    stage = BOOK_DIR / "_build" / profile / "src"
    if stage.exists():
        shutil.rmtree(stage)
    (stage / "notebooks").mkdir(parents=True)
    for page in PAGES_BEFORE + ["rerun", "limitations"]:
        text = (BOOK_DIR / f"{page}.md").read_text()
        head, _, rest = text.partition("\n")
        (stage / f"{page}.md").write_text(head + "\n\n" + _banner(profile) + rest)
    if (res / "figures").exists():
        shutil.copytree(res / "figures", stage / "figures")
    (stage / "results.md").write_text(results_page(profile))
    for nb in executed:
        _notebook_with_banner(nb, stage / "notebooks" / nb.name, profile)
    cfg = yaml.safe_load((BOOK_DIR / "_config.yml").read_text())
    cfg["title"] = f"{cfg.get('title', 'arssr')} ({profile} profile)"
    (stage / "_config.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    toc = {"format": "jb-book", "root": "intro",
           "parts": [{"caption": "Experiments", "chapters": [{"file": f"notebooks/{nb.stem}"} for nb in executed]},
                     {"caption": "Results and use", "chapters": [{"file": p} for p in PAGES_AFTER]}]}
    (stage / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    out = BOOK_DIR / "_build" / profile
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(stage), "--path-output", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ArssrError(f"jupyter-book build failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    index = out / "_build" / "html" / "index.html"
    if not index.exists():
        raise ArssrError(f"jupyter-book ran but wrote no {index}")
    for page in index.parent.rglob("*.html"):
        _drop_duplicate_scripts(page)
    return index


def _drop_duplicate_scripts(page: Path) -> None:
    """Jupyter Book 1.x emits sphinx-thebe's inline ``const THEBE_JS_URL`` script twice, a
    SyntaxError in the browser console; keep the first copy of any repeated inline script."""
    lines = page.read_text().split("\n")
    seen: set[str] = set()
    out = []
    for line in lines:
        s = line.strip()
        if s.startswith("<script>") and s.endswith("</script>"):
            if s in seen:
                continue
            seen.add(s)
        out.append(line)
    page.write_text("\n".join(out))
