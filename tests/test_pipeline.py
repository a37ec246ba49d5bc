"""The study end to end in the smoke profile: papermill runs every notebook, the book builds,
and the tables are complete. Plus the runner's own pieces (parameters, skipping, failures)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from arssr_core.study import pipeline
from arssr_core.errors import ArssrError
from arssr_core.paths import REPO_ROOT
from conftest import write_notebook

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXPECTED = [f"{i:02d}" for i in range(10)]  # 00-08 the paper, 09 thick slices (beyond it)


def test_every_numbered_notebook_exists_clean_with_parameters():
    assert [p.name[:2] for p in NOTEBOOKS] == EXPECTED
    for p in NOTEBOOKS:
        nb = json.loads(p.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert not any(c.get("outputs") for c in code), f"{p.name} is stored with outputs"
        assert not any(c.get("execution_count") for c in code), f"{p.name} has execution counts"
        params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(params) == 1, p.name
        assert "profile" in pipeline._declared_parameters(p)


def _shown_by_returning() -> set[str]:
    """The functions of ``report`` whose table the caller must display (they return it)."""
    import ast
    import inspect

    from arssr_core.study import report

    def returns_table(f: ast.FunctionDef) -> bool:
        styler = f.returns is not None and "Styler" in ast.unparse(f.returns)
        return styler or any(isinstance(n, ast.Return) and isinstance(n.value, ast.Call)
                             and getattr(n.value.func, "id", "") == "_html" for n in ast.walk(f))

    tree = ast.parse(inspect.getsource(report))
    return {f.name for f in tree.body if isinstance(f, ast.FunctionDef) and not f.name.startswith("_")
            and returns_table(f)}


def test_no_notebook_drops_a_table_it_makes():
    """A table that ``report`` returns is shown only as a cell's last expression or through
    ``display``; one made anywhere else (mid-cell, in a loop) never reaches the reader."""
    import ast

    shown = _shown_by_returning()
    assert {"table", "paper_tables", "metric_tables", "scale_table", "settings_table"} <= shown
    dropped = []
    for p in NOTEBOOKS:
        for i, c in enumerate(json.loads(p.read_text())["cells"]):
            if c["cell_type"] != "code":
                continue
            tree = ast.parse("".join(c["source"]))
            last = tree.body[-1] if tree.body else None
            for node in ast.walk(tree):
                if (isinstance(node, ast.Expr) and node is not last and isinstance(node.value, ast.Call)
                        and isinstance(node.value.func, ast.Attribute) and node.value.func.attr in shown
                        and getattr(node.value.func.value, "id", "") == "report"):
                    dropped.append(f"{p.name} cell {i} line {node.lineno}: report.{node.value.func.attr}")
    assert not dropped, dropped


def test_parse_params():
    assert pipeline.parse_params("scales=[2,4] stride=2") == {"scales": [2, 4], "stride": 2}
    assert pipeline.parse_params("scales=[2, 4]; encoder=rdn") == {"scales": [2, 4], "encoder": "rdn"}
    assert pipeline.parse_params('{"a": 1}') == {"a": 1}
    assert pipeline.parse_params(None) == {}
    with pytest.raises(ArssrError):
        pipeline.parse_params("novalue")


def test_unknown_notebook_prefix_is_refused():
    with pytest.raises(ArssrError, match="no notebook"):
        pipeline.notebooks(["42"])


def test_run_key_changes_with_parameters():
    nb = NOTEBOOKS[0]
    assert pipeline.run_key(nb, {"profile": "smoke"}) == pipeline.run_key(nb, {"profile": "smoke"})
    assert pipeline.run_key(nb, {"profile": "smoke"}) != pipeline.run_key(nb, {"profile": "cpu"})


def test_failure_names_notebook_and_cell(tmp_path, monkeypatch):
    """A notebook that raises stops the run with its name and cell; the partial output stays."""
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    write_notebook(nbdir / "00_fail.ipynb", "1 + 1", "raise ValueError('boom')")
    monkeypatch.setattr(pipeline, "NOTEBOOK_DIR", nbdir)
    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path / "results"))
    with pytest.raises(ArssrError, match=r"00_fail.ipynb failed in cell \d+ \(ValueError: boom"):
        pipeline.reproduce("smoke")
    assert (tmp_path / "results" / "smoke" / "notebooks" / "00_fail.ipynb").exists()


@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory):
    """Run every notebook in the smoke profile into a temporary results/checkpoints folder, then
    build the book; run a second time to check that unchanged notebooks are skipped."""
    import os

    root = tmp_path_factory.mktemp("smoke")
    env = {"ARSSR_RESULTS": str(root / "results"), "ARSSR_CHECKPOINTS": str(root / "checkpoints")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        first = pipeline.reproduce("smoke")
        second = pipeline.reproduce("smoke")
        from arssr_core.study.book import BOOK_DIR, build_book

        index = build_book("smoke")
        yield {"root": root, "first": first, "second": second, "index": index,
               "results": root / "results" / "smoke"}
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.mark.slow
def test_smoke_study_runs_every_notebook(smoke_study):
    assert [r["status"] for r in smoke_study["first"]] == ["ran"] * len(NOTEBOOKS)
    assert [r["status"] for r in smoke_study["second"]] == ["skipped"] * len(NOTEBOOKS)
    executed = sorted(p.name for p in (smoke_study["results"] / "notebooks").glob("*.ipynb"))
    assert executed == [p.name for p in NOTEBOOKS]
    records = json.loads((smoke_study["results"] / "notebooks" / "runs.json").read_text())
    for name, record in records.items():  # each run keyed by the package code it used
        assert "arssr_core/__init__.py" in record["code"], name
        assert not any(f.endswith(("book.py", "pipeline.py")) for f in record["code"]), name
    assert "arssr_core/segment.py" in records["06_segmentation.ipynb"]["code"]


@pytest.mark.slow
def test_smoke_tables_are_complete(smoke_study):
    tables = smoke_study["results"] / "tables"
    main = pd.read_csv(tables / "03_main_test.csv")
    assert set(main["method"]) == {"Cubic", "SRCNN3D", "DCSRN", "ResCNN", "ArSSR"}
    assert set(main.loc[main["method"] == "ArSSR", "scale"]) == {2, 2.5, 3, 3.5, 4}
    assert set(main.loc[main["method"] == "ResCNN", "scale"]) == {2, 3, 4}
    for name in ["03_main_test", "04_lesion", "05_real_lr", "06_segmentation_dice", "07_encoder_ablation"]:
        df = pd.read_csv(tables / f"{name}.csv")
        assert len(df) > 0, name
        if name == "04_lesion":  # inside the lesion mask only PSNR and SSIM are computed
            inside = df[df["region"] == "lesion"]
            assert len(inside) and not inside[["psnr", "ssim"]].isna().any().any(), "NaN in 04_lesion (lesion)"
            assert inside[["lpips", "psi", "lpc_si"]].isna().all().all()
            df = df[df["region"] == "whole"]
        metric_cols = [c for c in df.columns if c in ("psnr", "ssim", "lpips", "psi", "lpc_si", "dice")]
        assert metric_cols, name
        assert not df[metric_cols].isna().any().any(), f"NaN in {name}"
    lpips_cols = pd.read_csv(tables / "07_encoder_ablation.csv")
    assert set(lpips_cols["method"]) == {"Cubic", "ArSSR-rescnn", "ArSSR-srresnet", "ArSSR-rdn"}
    verdicts = pd.read_csv(tables / "08_claims_vs_measured.csv")
    assert set(verdicts["verdict"]) <= {"held", "did not hold", "inconclusive", "untestable"}
    assert "caveat" in verdicts.columns
    intervals = pd.read_csv(tables / "03_intervals.csv")
    assert (intervals["lo"] <= intervals["hi"]).all() and set(intervals["metric"]) == {"psnr", "ssim", "lpips", "psi", "lpc_si"}
    assert set(intervals["seeds"]) == {"1/1"}  # one training run each in the smoke profile: block-only intervals
    seeds = pd.read_csv(tables / "03_seed_scores.csv")
    assert set(seeds["seed"]) == {0} and set(seeds["method"]) == set(main["method"])
    trends = pd.read_csv(tables / "02_late_trends.csv")
    assert len(trends) and set(trends["state"]) <= {"rising", "flat", "falling", "too few points"}
    for name, keys in (("04_intervals", {"subject"}), ("06_dice_intervals", {"region"}), ("05_simulated_intervals", set())):
        iv = pd.read_csv(tables / f"{name}.csv")
        assert len(iv) and keys <= set(iv.columns) and (iv["lo"] <= iv["hi"]).all(), name
    consistency = pd.read_csv(tables / "05_profile_consistency.csv")
    assert {"ArSSR", "Cubic", "ResCNN"} <= set(consistency["method"]) and (consistency["profile_spread"] >= 0).all()
    steps = pd.read_csv(tables / "07_equal_steps.csv")
    assert {"Cubic", "ArSSR-rdn"} <= set(steps["method"]) and 0 in set(steps["step"])
    curves = pd.read_csv(tables / "02_learning_curves.csv")  # read on validation: each run's record
    assert {"arssr-rdn", "srcnn3d-x2", "rescnn-x4"} <= set(curves["run"]) and (curves["step"] == 0).any()
    assert curves.loc[curves["method"] == "ArSSR", "scale"].isna().all() and curves["val_psnr"].notna().all()
    leaders = pd.read_csv(tables / "02_budget_leaders.csv")
    assert "Cubic" in set(leaders["method"]) and not leaders.loc[leaders["method"] == "Cubic", "leads"].any()
    assert (leaders[leaders["method"] != "Cubic"].groupby(["scale", "fraction"])["leads"].sum() >= 1).all()
    thick = pd.read_csv(tables / "09_thick_slices.csv")
    assert set(thick["method"]) == {"Cubic", "ArSSR", "ArSSR-iso", "ArSSR-thick"}
    assert set(thick["scale"]) == {"1x1x3", "2x2x4", "x2"}  # the smoke profile's thick_slices requests
    assert not thick[["psnr", "ssim", "lpips"]].isna().any().any()
    v9 = pd.read_csv(tables / "09_verdicts.csv")
    assert len(v9) == 5 and set(v9["verdict"]) <= {"held", "did not hold", "inconclusive", "untestable"}
    assert v9["caveat"].str.contains("Beyond the paper").all()


@pytest.mark.slow
def test_smoke_book_has_a_page_per_notebook_with_tables_and_figures(smoke_study):
    html = smoke_study["index"].parent
    for p in NOTEBOOKS:
        page = html / "notebooks" / f"{p.stem}.html"
        assert page.exists(), page
        text = page.read_text()
        assert "numbers mean nothing" in text, f"{page.name} lacks the smoke warning"
    for name in ["03_main_test", "04_lesion", "07_encoder_ablation"]:
        text = (html / "notebooks" / f"{name}.html").read_text()
        assert "<table" in text, f"{name} shows no table"
        assert re.search(r"<img [^>]*src=\"[^\"]*\.png\"|data:image/png", text), f"{name} shows no figure"
    results = (html / "results.html").read_text()
    assert "<strong>03_main_test</strong>" in results and "<img" in results
    assert results.count("<img") == results.count('class="caption-number"')  # every figure captioned
    for page in [html / "results.html", *(html / "notebooks").glob("*.html")]:
        text = page.read_text()
        assert not re.search(r"\d+ rows × \d+ columns", text), f"{page.name}: a truncated table"
        assert not re.search(r"<td[^>]*>\s*…\s*</td>", text), f"{page.name}: a truncated table"
        assert "PosixPath" not in text and str(REPO_ROOT) + "/" not in text, f"{page.name}: an absolute path"
        assert not re.search(r"np\.(float|int)\d+\(", text), f"{page.name}: a numpy repr"
        assert not re.search(r"<td[^>]*>\s*(nan|NaN|None)\s*</td>", text), f"{page.name}: a missing value shown as NaN"
    for page in (html / "notebooks").glob("*.html"):  # every figure of a notebook page has its numbered caption
        text = page.read_text()
        spans = re.findall(r"<strong>Figures? \d+\.(\d+)(?:-\d+\.(\d+))?\.</strong>", text)
        captioned = sum(int(b or a) - int(a) + 1 for a, b in spans)
        assert captioned == text.count("<img"), f"{page.name}: {text.count('<img')} figures, {captioned} captions"
    assert "Reproduction report" in (html / "reproduction.html").read_text()
    claims = (html / "notebooks" / "08_figures.html").read_text()
    assert ">caveat<" in claims and ">verdict<" in claims
    assert "intro.html" in (html / "index.html").read_text()  # the front page redirects to the intro
    assert "numbers mean nothing" in (html / "intro.html").read_text()


@pytest.mark.slow
def test_smoke_book_opens_in_chromium_without_console_errors(smoke_study, tmp_path):
    """Headless Chromium (Debian's ``chromium``, when installed) loads the front page and the
    03 page and logs no uncaught JavaScript error."""
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    html = smoke_study["index"].parent
    for page in ["intro.html", "notebooks/03_main_test.html"]:
        proc = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
             f"--screenshot={tmp_path / 'shot.png'}", "--window-size=1280,1600", (html / page).as_uri()],
            capture_output=True, text=True, timeout=180, cwd=tmp_path)
        console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
        errors = [line for line in console if "Uncaught" in line]
        assert not errors, f"{page}: {errors}"
        assert (tmp_path / "shot.png").stat().st_size > 10_000
