"""Run keys that cannot lie and the reproduction report: what a key covers and ignores, what
the runner skips and reruns, and a table compared cell by cell with stated tolerances."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from arssr_core.study import pipeline, reproduction
from arssr_core.paths import REPO_ROOT
from conftest import write_notebook


@pytest.fixture
def tiny_study(tmp_path, monkeypatch):
    """A study of one tiny notebook (``00_tiny``), its results under ``tmp_path/results``."""
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    write_notebook(nbdir / "00_tiny.ipynb", "1 + 1")
    monkeypatch.setattr(pipeline, "NOTEBOOK_DIR", nbdir)
    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path / "results"))
    return nbdir

NB = REPO_ROOT / "notebooks" / "03_main_test.ipynb"


def test_code_text_ignores_comments_and_docstrings_but_not_code(tmp_path):
    a, b, c = tmp_path / "a.py", tmp_path / "b.py", tmp_path / "c.py"
    a.write_text('"""Module."""\n\ndef f(x):\n    """Twice x."""\n    return 2 * x  # doubled\n')
    b.write_text('"""Another text."""\n# a comment\ndef f(x):\n    """Two times x, reworded."""\n\n    return 2 * x\n')
    c.write_text('"""Module."""\n\ndef f(x):\n    """Twice x."""\n    return 3 * x\n')
    assert pipeline.code_text(a) == pipeline.code_text(b)
    assert pipeline.code_text(a) != pipeline.code_text(c)
    y1, y2 = tmp_path / "p.yaml", tmp_path / "q.yaml"
    y1.write_text("a: 1  # one\nb: [2, 3]\n")
    y2.write_text("# reordered\nb: [2, 3]\na: 1\n")
    assert pipeline.code_text(y1) == pipeline.code_text(y2)


def test_key_ignores_markdown_and_covers_code_cells(tmp_path):
    nb = json.loads(NB.read_text())
    md = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    md["source"] = "A reworded paragraph."
    edited = tmp_path / NB.name
    edited.write_text(json.dumps(nb))
    params = {"profile": "cpu"}
    assert pipeline.run_key(edited, params) == pipeline.run_key(NB, params)
    code = next(c for c in nb["cells"] if c["cell_type"] == "code" and "parameters" not in c["metadata"].get("tags", []))
    code["source"] = "".join(code["source"]) + "\nx = 1"
    edited.write_text(json.dumps(nb))
    assert pipeline.run_key(edited, params) != pipeline.run_key(NB, params)


def test_a_kernel_records_the_checkpoint_and_data_files_it_reads(tmp_path):
    """With ``$ARSSR_READ_LOG`` set, importing the package logs each input file opened for reading
    (checkpoints, data); files written, and files elsewhere, are not inputs."""
    import subprocess
    import sys

    log = tmp_path / "reads.txt"
    ckpts = tmp_path / "ckpts"
    (ckpts / "run").mkdir(parents=True)
    (ckpts / "run" / "best.pt").write_bytes(b"weights")
    results = tmp_path / "results"
    (results / "cpu" / "tables").mkdir(parents=True)
    (results / "cpu" / "cache").mkdir(parents=True)
    verdicts = results / "cpu" / "tables" / "03_verdicts.csv"
    verdicts.write_text("claim,verdict\n")
    (results / "cpu" / "cache" / "sr.npy").write_bytes(b"cached volume")
    code = ("import arssr_core, pathlib\n"
            "open(r'%s').read()\n"  # an input
            "pathlib.Path(r'%s').write_text('out')\n"  # written: not an input
            "open(r'%s').read()\n"  # another notebook's table: an input
            "open(r'%s', 'rb').read()\n"  # a cached SR volume: not an input
            "open(r'%s').read()\n") % (ckpts / "run" / "best.pt", ckpts / "run" / "new.csv", verdicts,
                                        results / "cpu" / "cache" / "sr.npy", NB)
    env = {**__import__("os").environ, "ARSSR_READ_LOG": str(log), "ARSSR_CHECKPOINTS": str(ckpts),
           "ARSSR_RESULTS": str(results)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=REPO_ROOT)
    from arssr_core.reads import read_log

    assert read_log(log) == sorted([(ckpts / "run" / "best.pt").resolve(), verdicts.resolve()])
    from arssr_core.reads import cache_log

    assert read_log(cache_log(log)) == [(results / "cpu" / "cache" / "sr.npy").resolve()]  # reused, counted apart


def test_markdown_only_edit_is_copied_into_the_executed_notebook(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell('profile = "x"')
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("Old text."), p, nbformat.v4.new_code_cell("1 + 1")]
    src = tmp_path / "00_x.ipynb"
    nbformat.write(nb, src)
    executed = json.loads(src.read_text())
    inj = nbformat.v4.new_code_cell('profile = "cpu"')
    inj.metadata["tags"] = ["injected-parameters"]
    executed["cells"].insert(2, json.loads(json.dumps(inj)))
    executed["cells"][3]["outputs"] = [{"output_type": "execute_result", "data": {"text/plain": "2"},
                                        "metadata": {}, "execution_count": 1}]
    out = tmp_path / "out.ipynb"
    out.write_text(json.dumps(executed))
    assert not pipeline.refresh_markdown(src, out)  # nothing changed
    nb.cells[0].source = "New text."
    nbformat.write(nb, src)
    assert pipeline.refresh_markdown(src, out)
    got = json.loads(out.read_text())
    assert "".join(got["cells"][0]["source"]) == "New text."
    assert got["cells"][3]["outputs"][0]["data"]["text/plain"] == "2"  # outputs kept
    nb.cells[2].source = "1 + 2"  # a code edit is not copied: it needs a rerun
    nbformat.write(nb, src)
    assert not pipeline.refresh_markdown(src, out)


def test_a_fresh_clone_reruns_what_its_committed_record_says_is_current(tmp_path, tiny_study):
    """A committed runs.json whose keys match is not enough to skip: only a run on this clone is."""
    rows = pipeline.reproduce("smoke", report=False)
    assert [r["status"] for r in rows] == ["ran"]
    out = tmp_path / "results" / "smoke" / "notebooks"
    record = json.loads((out / "runs.json").read_text())["00_tiny.ipynb"]
    assert record["environment"]["packages"]["torch"] and "cpu" in record["environment"]
    assert [r["status"] for r in pipeline.reproduce("smoke", report=False)] == ["skipped"]
    (out / "runs.local.json").unlink()  # a fresh clone: the published record alone
    assert [r["status"] for r in pipeline.reproduce("smoke", report=False)] == ["ran"]


def test_changing_one_byte_of_an_input_reruns_exactly_the_notebooks_that_read_it(tmp_path, monkeypatch):
    ckpts = tmp_path / "checkpoints"
    (ckpts / "smoke").mkdir(parents=True)
    weights = ckpts / "smoke" / "best.pt"
    weights.write_bytes(b"weights v1")
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    for name, body in (("00_reads.ipynb", f"open(r'{weights}', 'rb').read()"), ("01_other.ipynb", "1 + 1")):
        write_notebook(nbdir / name, "import arssr_core\n" + body)
    monkeypatch.setattr(pipeline, "NOTEBOOK_DIR", nbdir)
    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("ARSSR_CHECKPOINTS", str(ckpts))
    assert [r["status"] for r in pipeline.reproduce("smoke", report=False)] == ["ran", "ran"]
    record = json.loads((tmp_path / "results" / "smoke" / "notebooks" / "runs.json").read_text())
    assert list(record["00_reads.ipynb"]["inputs"]) == [str(weights.resolve())] and not record["01_other.ipynb"]["inputs"]
    weights.write_bytes(b"weights v2")
    assert [r["status"] for r in pipeline.reproduce("smoke", report=False)] == ["ran", "skipped"]
    assert [r["status"] for r in pipeline.reproduce("smoke", report=False)] == ["skipped", "skipped"]


def test_tables_agree_within_their_tolerances_and_disagreements_are_named():
    pub = pd.DataFrame({"method": ["Cubic", "ArSSR"], "scale": [2, 2], "psnr": [29.20, 31.06],
                        "ssim": [0.9664, 0.9799], "minutes": [0.0, 40.0]})
    same = pub.assign(psnr=pub["psnr"] + 0.01, minutes=[1.0, 90.0])  # inside 0.05 dB; timings not compared
    n, bad = reproduction.compare_table("t", pub, same)
    assert n == 4 and bad == []
    off = pub.assign(psnr=[29.20, 30.90])
    n, bad = reproduction.compare_table("t", pub, off)
    assert [(m.row, m.column) for m in bad] == [("method=ArSSR, scale=2", "psnr")]
    assert "-0.16" in bad[0].problem
    n, bad = reproduction.compare_table("t", pub, pub.iloc[:1])
    assert bad[0].problem == "row missing from the reproduction"
    wide = pd.DataFrame({"method": ["Cubic", "ArSSR"], "2": [29.20, 31.06], "3": [26.4, 27.8]})  # scales as columns
    long = pd.DataFrame({"method": ["Cubic", "ArSSR"] * 2, "scale": [2, 2, 3, 3], "psnr": [29.20, 31.06, 26.4, 27.8]})
    n, bad = reproduction.compare_table("t", wide, long)
    assert n == 0 and len(bad) == 1 and "layout changed" in bad[0].problem
    n, bad = reproduction.compare_table("t", pub, pub.assign(subject="colin27"))  # a one-value key column added
    assert n == 4 and bad == []
    two = pd.concat([pub.assign(subject="a"), pub.assign(subject="b")])
    n, bad = reproduction.compare_table("t", pub, two)
    assert "layout changed" in bad[0].problem


def test_interval_columns_take_their_metric_tolerance_and_verdicts_must_match():
    pub = pd.DataFrame({"a": ["ArSSR"], "b": ["Cubic"], "metric": ["ssim"], "diff": [0.0205], "lo": [0.0175],
                        "hi": [0.0236]})
    n, bad = reproduction.compare_table("i", pub, pub.assign(diff=0.0215))  # 0.001 < SSIM's 0.002
    assert n == 3 and not bad
    n, bad = reproduction.compare_table("i", pub, pub.assign(diff=0.0255))
    assert bad and bad[0].column == "diff"
    blocks = pub.assign(units="50 blocks")  # the block count describes a row, it does not name it
    n, bad = reproduction.compare_table("i", blocks, blocks.assign(units="27 blocks", diff=0.0215))
    assert n == 3 and not bad
    n, bad = reproduction.compare_table("i", blocks, blocks.assign(units="27 blocks", diff=0.0255))
    assert [(m.row, m.column) for m in bad] == [("a=ArSSR, b=Cubic, metric=ssim", "diff")]
    v = pd.DataFrame({"claim": ["ArSSR beats cubic"], "verdict": ["held"], "evidence": ["5/5 ..."]})
    n, bad = reproduction.compare_table("v", v, v.assign(evidence="other words"))
    assert n == 1 and not bad
    n, bad = reproduction.compare_table("v", v, v.assign(verdict="inconclusive"))
    assert bad[0].problem == "verdict differs"


def test_report_compares_the_working_tables_with_a_git_revision(tmp_path):
    """``compare_results`` against HEAD: the committed tables agree with themselves."""
    import subprocess

    if subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True).returncode:
        pytest.skip("not a git checkout")
    path = REPO_ROOT / "results" / "cpu" / "tables" / "03_main_test.csv"
    pub = reproduction.published_table(path, "HEAD")
    assert pub is not None and {"method", "scale", "psnr"} <= set(pub.columns)
    n, bad = reproduction.compare_table("03_main_test", pub, pub.copy())
    assert n > 0 and not bad


def test_a_partial_run_updates_only_its_notebooks_tables_in_the_report(tmp_path, monkeypatch):
    """``write_report(prefixes=["09"])`` compares only 09's tables again and keeps the earlier
    report's entries (and their commit) for the others."""
    res = tmp_path / "cpu"
    (res / "tables").mkdir(parents=True)
    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path))
    monkeypatch.setattr(reproduction, "published_table", lambda path, rev="HEAD": None)
    (res / "reproduction.json").write_text(json.dumps({"commit": "abc1234", "per_table": {
        "03_main_test": {"cells": 100, "disagree": 2}}, "unpublished": []}))
    pd.DataFrame([{"table": "03_main_test", "row": "method=ArSSR", "column": "psnr", "published": "1",
                   "reproduced": "2", "tolerance": "0.05", "problem": "differs by +1"}] * 2).to_csv(
        res / "reproduction.csv", index=False)
    (res / "tables" / "09_thick_slices.csv").write_text("method,scale,psnr\nCubic,x2,26.5\n")
    s = reproduction.write_report("cpu", prefixes=["09"])
    assert s["per_table"]["03_main_test"] == {"commit": "abc1234", "cells": 100, "disagree": 2}
    assert s["unpublished"] == ["09_thick_slices.csv"] and s["disagree"] == 2
    assert len(pd.read_csv(res / "reproduction.csv")) == 2


def test_a_run_compares_with_the_results_published_when_it_started(tiny_study, monkeypatch):
    """Results committed while a run goes on must not become what the run is compared with."""
    heads = iter(["c0ffee1", "beef002"])  # HEAD at the start, then after a commit made mid-run
    monkeypatch.setattr(reproduction, "head_commit", lambda: next(heads))
    asked = []
    monkeypatch.setattr(reproduction, "write_report", lambda profile, rev="HEAD", prefixes=None: asked.append(rev) or {})
    assert [r["status"] for r in pipeline.reproduce("smoke")] == ["ran"]
    assert asked == ["c0ffee1"]
    assert reproduction.head_commit() == "beef002"  # HEAD moved, the report kept the start


def test_head_commit_names_a_revision_git_knows():
    import subprocess

    rev = reproduction.head_commit()
    assert rev == "HEAD" or subprocess.run(["git", "cat-file", "-e", rev], cwd=reproduction.REPO_ROOT).returncode == 0


def test_a_kernel_records_the_package_code_it_uses(tmp_path):
    """The modules a kernel imports (lazily too) and the package data it reads are its code;
    modules it never imports are not."""
    import subprocess
    import sys

    from arssr_core.reads import used_code

    log = tmp_path / "reads.txt"
    code = ("import arssr_core\n"
            "from arssr_core.profiles import load_profile\n"
            "load_profile('smoke')\n"
            "def later():\n"
            "    from arssr_core.metrics import checks\n"
            "later()\n")
    env = {**__import__("os").environ, "ARSSR_READ_LOG": str(log)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=REPO_ROOT)
    used = used_code(log)
    for f in ("arssr_core/__init__.py", "arssr_core/profiles/__init__.py", "arssr_core/profiles/smoke.yaml",
              "arssr_core/metrics/__init__.py", "arssr_core/metrics/checks.py"):
        assert f in used, (f, used)
    assert "arssr_core/segment.py" not in used and "arssr_core/profiles/cpu.yaml" not in used


def test_an_edit_reruns_only_the_notebooks_whose_code_it_touches(tmp_path, monkeypatch):
    """A record lists the package files its run used: editing another module leaves it current;
    editing one it used, or a notebook cell, does not. A record without the list (older runs)
    stands for the whole package."""
    params = {"profile": "cpu"}
    used = ["arssr_core/metrics/checks.py", "arssr_core/profiles/cpu.yaml"]
    record = {"key": pipeline.run_key(NB, params, used), "params": params, "code": used, "inputs": {}}
    legacy = {"key": pipeline.run_key(NB, params), "params": params, "inputs": {}}
    assert pipeline.is_current(NB, record) and pipeline.is_current(NB, legacy)
    assert record["key"] != legacy["key"]
    real = pipeline.code_text

    def edited(name):
        def text(path):
            return real(path) + ("\n# edited" if Path(path).as_posix().endswith(name) else "")
        return text

    monkeypatch.setattr(pipeline, "code_text", edited("arssr_core/segment.py"))  # a module it never imported
    assert pipeline.is_current(NB, record) and not pipeline.is_current(NB, legacy)
    monkeypatch.setattr(pipeline, "code_text", edited("arssr_core/metrics/checks.py"))  # one it used
    assert not pipeline.is_current(NB, record)
    monkeypatch.setattr(pipeline, "code_text", edited("arssr_core/profiles/cpu.yaml"))  # its profile
    assert not pipeline.is_current(NB, record)


def test_a_profile_key_override_reaches_the_kernel_and_enters_the_run_key(tmp_path, tiny_study):
    """Issue 36 item 3: ``--params "eval.precision=bf16"`` reaches every load_profile of the run,
    is recorded with the run and changes its key; a key the profile lacks is refused by name."""
    from arssr_core.errors import ArssrError

    out_file = tmp_path / "seen.txt"
    write_notebook(tiny_study / "00_tiny.ipynb",
                   "from arssr_core.profiles import load_profile\n"
                   f"open(r'{out_file}', 'w').write(load_profile('smoke')['eval']['precision'])")
    pipeline.reproduce("smoke", report=False)
    plain = json.loads((tmp_path / "results" / "smoke" / "notebooks" / "runs.json").read_text())["00_tiny.ipynb"]
    default = out_file.read_text()
    other = "bf16" if default != "bf16" else "fp32"
    rows = pipeline.reproduce("smoke", params={"eval.precision": other}, report=False)
    assert [r["status"] for r in rows] == ["ran"] and out_file.read_text() == other
    record = json.loads((tmp_path / "results" / "smoke" / "notebooks" / "runs.json").read_text())["00_tiny.ipynb"]
    assert record["params"]["profile_overrides"] == {"eval.precision": other} and record["key"] != plain["key"]
    assert pipeline.is_current(tiny_study / "00_tiny.ipynb", record)
    assert [r["status"] for r in pipeline.reproduce("smoke", params={"eval.precision": other}, report=False)] == ["skipped"]
    assert [r["status"] for r in pipeline.reproduce("smoke", report=False)] == ["ran"]  # the override gone: a rerun
    assert out_file.read_text() == default
    with pytest.raises(ArssrError, match="no key 'eval.precison': keys at eval: .*precision"):
        pipeline.reproduce("smoke", params={"eval.precison": "bf16"}, report=False)
    with pytest.raises(ArssrError, match=r"no notebook of this run has parameter\(s\) \['scalez'\]"):
        pipeline.reproduce("smoke", params={"scalez": [2]}, report=False)


def test_a_seed_that_finishes_later_stales_exactly_the_notebooks_that_score_seeds(tmp_path, monkeypatch):
    """Issue 35/36: a record of a notebook that used the training seeds holds the census of
    finished seeds it saw; a seed still training (its resume state present) changes nothing,
    a finished one makes that record stale (here and on the book's page), and a notebook that
    never used the seeds stays current."""
    from arssr_core.study import book

    monkeypatch.setattr(pipeline, "REPO_ROOT", tmp_path)
    run = tmp_path / "checkpoints" / "pretrained" / "rescnn-x2"
    run.mkdir(parents=True)
    params = {"profile": "cpu"}
    used = [pipeline.SEED_CODE, "arssr_core/profiles/cpu.yaml"]
    census = pipeline.seed_census("cpu")
    assert census["rescnn-x2"] == [] and set(census) >= {"arssr-rdn", "rescnn-x3", "dcsrn-x4"}
    scoring = {"key": pipeline.run_key(NB, params, used), "params": params, "code": used, "inputs": {}, "seeds": census}
    other = {"key": pipeline.run_key(NB, params, used[1:]), "params": params, "code": used[1:], "inputs": {}}
    before = {k: v for k, v in scoring.items() if k != "seeds"}  # a record made before censuses were kept
    assert pipeline.is_current(NB, scoring) and pipeline.is_current(NB, other) and not pipeline.is_current(NB, before)

    seed = run.parent / "rescnn-x2-s1"
    seed.mkdir()
    (seed / "best.pt").write_bytes(b"weights")
    (seed / "last.pt").write_bytes(b"resume state")
    pd.DataFrame({"step": [1, 11200], "loss": 0.1, "lr": 1e-4, "time_s": [1.0, 2.0]}).to_csv(seed / "history.csv", index=False)
    assert pipeline.is_current(NB, scoring)  # still training: not counted
    (seed / "last.pt").unlink()  # published: finished
    assert pipeline.seed_census("cpu")["rescnn-x2"] == [1]
    assert not pipeline.is_current(NB, scoring) and pipeline.is_current(NB, other)
    assert book.is_stale(NB.name, scoring) and not book.is_stale(NB.name, other)
    assert "training seeds that have finished since" in book.stale_reason(NB.name, scoring)  # the page says why


def test_each_kernel_keeps_its_results_in_the_profiles_store(tmp_path, tiny_study):
    """Issue 36 item 2: ``arssr reproduce`` points every kernel at ``results/<profile>/cache/store``
    (:mod:`arssr_core.store`), and a stored function called there keeps its result in it."""
    out_file = tmp_path / "store.txt"
    write_notebook(tiny_study / "00_tiny.ipynb",
                   "import os\nimport numpy as np\nfrom arssr_core.metrics.uncertainty import block_terms\n"
                   "gt = np.linspace(0, 1, 8 ** 3).reshape(8, 8, 8)\n"
                   "block_terms(gt * 0.9, gt, [(slice(0, 8),) * 3], 1.0)\n"
                   f"open(r'{out_file}', 'w').write(os.environ['ARSSR_STORE'])")
    pipeline.reproduce("smoke", report=False)
    root = Path(out_file.read_text())
    assert root == tmp_path / "results" / "smoke" / "cache" / "store"
    assert len(list(root.glob("arssr_core.metrics.uncertainty.block_terms/*.npz"))) == 1
