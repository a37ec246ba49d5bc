"""Staging the executed notebooks for the book: parameters once, code folded, no residue."""

from __future__ import annotations

import json

import nbformat
import pandas as pd
import pytest

from arssr_core.paths import REPO_ROOT
from arssr_core.study.book import caption, prepare_notebook


def _executed(tmp_path):
    nb = nbformat.v4.new_notebook()
    title = nbformat.v4.new_markdown_cell("# 03 · Main test")
    params = nbformat.v4.new_code_cell('profile = "cpu"\nscales = [2, 4]')
    params.metadata["tags"] = ["parameters"]
    injected = nbformat.v4.new_code_cell('# Parameters\nprofile = "smoke"\n')
    injected.metadata["tags"] = ["injected-parameters"]
    work = nbformat.v4.new_code_cell("report.save_table(df, profile, 'x')")
    work.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="block terms: 100%|####| 5/5\n"),
        nbformat.v4.new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "a"},
                                                     "text/plain": "score: 100%"}),
        nbformat.v4.new_output("execute_result", data={"text/plain": "PosixPath('/work/results/x.csv')"},
                               execution_count=1),
        nbformat.v4.new_output("execute_result", data={"text/html": "<table></table>", "text/plain": "t"},
                               execution_count=2),
    ]
    nb.cells = [title, params, injected, work]
    nb.metadata["papermill"] = {"parameters": {"profile": "smoke"}}
    src = tmp_path / "03_main_test.ipynb"
    nbformat.write(nb, src)
    return src


def test_parameters_are_shown_once_in_a_provenance_box_and_code_is_folded(tmp_path):
    dst = tmp_path / "out.ipynb"
    prepare_notebook(_executed(tmp_path), dst, "cpu", {"seconds": 394.2, "finished": "2026-11-26 12:00:00",
                                                        "machine": "a 2-core CPU"}, "abc1234")
    cells = json.loads(dst.read_text())["cells"]
    assert [c["cell_type"] for c in cells] == ["markdown", "markdown", "code"]
    box = cells[1]["source"]
    for text in ("`profile = 'smoke'`", "394 s", "2026-11-26 12:00:00", "a 2-core CPU", "abc1234", "scales = [2, 4]"):
        assert text in box
    assert "cache" not in box  # a run that computed everything says nothing of a cache
    assert "hide-input" in cells[2]["metadata"]["tags"]
    outs = cells[2]["outputs"]
    assert len(outs) == 1 and "text/html" in outs[0]["data"]  # progress bars and the path repr are gone


def test_the_provenance_box_says_how_many_results_a_run_took_from_the_cache(tmp_path):
    """A run that read stored results from the machine's result cache says so next to its time,
    and says where they came from (this notebook, an earlier one, an earlier run), so that a
    reader of a cold full run is not told that a fresh clone would take longer for all of them."""
    dst = tmp_path / "out.ipynb"
    prepare_notebook(_executed(tmp_path), dst, "cpu", {"seconds": 70.4, "finished": "2026-11-28 07:17:47",
                                                        "cache_reads": 412}, "abc1234")
    box = json.loads(dst.read_text())["cells"][1]["source"]
    assert "in 70 s, reading 412 results" in box and "this notebook, an earlier one or an earlier run" in box
    assert "run alone on a fresh clone, it computes them all" in box and "an earlier run on that machine left" not in box


def test_smoke_pages_carry_the_warning_first(tmp_path):
    dst = tmp_path / "out.ipynb"
    prepare_notebook(_executed(tmp_path), dst, "smoke")
    cells = json.loads(dst.read_text())["cells"]
    assert "smoke" in cells[0]["source"] and "mean nothing" in cells[0]["source"]


def test_every_results_figure_gets_a_caption():
    assert "paper Fig 1" in caption("08_any_scale")
    assert caption("05_profile_itk_t1_2x2x3mm_x2").startswith("Intensity along a line through a real LR")
    assert caption("99_new_figure") == "Figure written by notebook 99."


def test_a_page_whose_record_no_longer_matches_the_code_says_so(tmp_path):
    from arssr_core.study.book import is_stale
    from arssr_core.paths import REPO_ROOT
    from arssr_core.study.pipeline import run_key

    nb = REPO_ROOT / "notebooks" / "03_main_test.ipynb"
    fresh = {"key": run_key(nb, {"profile": "cpu"}), "params": {"profile": "cpu"}}
    assert not is_stale(nb.name, fresh)
    assert is_stale(nb.name, {**fresh, "key": "0" * 64})
    from arssr_core.study.book import STALE_BANNER, stale_reason
    assert "code, profile or notebook" in STALE_BANNER.format(reason=stale_reason(nb.name, {**fresh, "key": "0" * 64}))
    assert not is_stale(nb.name, None)  # no record: nothing to compare


def test_the_reproduction_page_shows_the_summary_and_every_disagreement(tmp_path, monkeypatch):
    from arssr_core.study import reproduction
    from arssr_core.study.book import reproduction_page

    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path))
    res = tmp_path / "cpu"
    (res / "tables").mkdir(parents=True)
    assert "No report yet" in reproduction_page("cpu")
    pub = __import__("pandas").DataFrame({"method": ["Cubic", "ArSSR"], "scale": [2, 2], "psnr": [29.2, 31.06]})
    n, bad = reproduction.compare_table("03_main_test", pub, pub.assign(psnr=[29.2, 30.5]))
    summary = {"profile": "cpu", "against": "HEAD", "commit": "abc1234", "date": "2026-11-26", "tables": 1,
               "cells": n, "disagree": len(bad), "per_table": {"03_main_test": {"cells": n, "disagree": len(bad)}},
               "unpublished": ["09_new.csv"]}
    (res / "reproduction.json").write_text(json.dumps(summary))
    __import__("pandas").DataFrame([b.__dict__ for b in bad]).to_csv(res / "reproduction.csv", index=False)
    page = reproduction_page("cpu")
    assert "Compared 2 numbers and verdicts of 1 tables" in page and "abc1234" in page
    assert "03_main_test (1)" in page and "30.5" in page
    assert "method=<wbr>ArSSR, scale=<wbr>2" in page and "03_<wbr>main_<wbr>test" in page  # long names wrap
    assert "09_new.csv" in page


def test_the_results_page_lets_a_long_file_path_wrap_at_its_folders(tmp_path, monkeypatch):
    """00's catalog table: a source path may break after a "/" (<wbr>), so the table is not wider than the page."""
    import pandas as pd

    from arssr_core.study.book import results_page

    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path))
    (tmp_path / "cpu" / "tables").mkdir(parents=True)
    path = "mni152/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
    pd.DataFrame({"id": ["train/mni152"], "source": [path], "note": ["a note with spaces/slashes, kept"],
                  "psnr": [30.0]}).to_csv(tmp_path / "cpu" / "tables" / "00_data_volumes.csv", index=False)
    page = results_page("cpu")
    assert "mni152/<wbr>mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz" in page
    assert ">train/mni152<" in page and "spaces/slashes" in page  # short or spaced text untouched


def test_the_results_page_leaves_out_columns_that_only_restate_the_id(tmp_path, monkeypatch):
    """00's catalog: role and name are parts of the id, so the page drops them and says so; a
    column that once differs from the id (an alias's file) stays, as do the numbers."""
    from arssr_core.study.book import results_page

    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path))
    (tmp_path / "cpu" / "tables").mkdir(parents=True)
    pd.DataFrame({"id": ["train/mni152", "segmentation/colin27"], "role": ["train", "segmentation"],
                  "name": ["mni152", "colin27"], "kind": ["real", "real"],
                  "file": ["train/mni152.nii.gz", "test/colin27.nii.gz"], "n": [1, 2]}
                 ).to_csv(tmp_path / "cpu" / "tables" / "00_data_volumes.csv", index=False)
    page = results_page("cpu")
    assert "Not shown: role, name (parts of the first column)" in page
    assert ">role<" not in page and ">name<" not in page
    assert ">kind<" in page and ">file<" in page and "test/colin27.nii.gz" in page


def test_every_figure_a_notebook_draws_gets_a_numbered_caption_under_it(tmp_path):
    nb = nbformat.v4.new_notebook()
    fig = nbformat.v4.new_code_cell('fig = plot()\nreport.save_figure(fig, profile, "03_metrics_vs_scale")')
    fig.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<Figure>"})]
    loop = nbformat.v4.new_code_cell('for s in subjects:\n    report.save_figure(fig, profile, f"04_lesion_{s}_x4")')
    loop.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"}) for _ in range(2)]
    nb.cells = [nbformat.v4.new_markdown_cell("# 03 · Main test"), fig, loop]
    src, dst = tmp_path / "03_main_test.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    prepare_notebook(src, dst, "cpu")
    md = ["".join(c["source"]) for c in json.loads(dst.read_text())["cells"] if c["cell_type"] == "markdown"]
    assert md[-2].startswith("**Figure 3.1.** Each metric against the scale")
    assert md[-1].startswith("**Figures 3.2-3.3.** Every method at x4 around a lesion")


def test_run_tables_keep_each_runs_numbers_and_move_shared_settings_to_the_caption():
    from arssr_core.study import report

    runs = pd.DataFrame({"encoder": ["rescnn", "rdn"], "parameters": [2579588, 1800000], "steps_run": [19050, 12000],
                         "best_step": [19000, 10250], "lr": [2e-4, 2e-4], "batch_size": [6, 6],
                         "trained_on": ["cuda (bf16)", "cuda (bf16), then cpu (bf16)"], "checkpoint": ["a", "b"],
                         "data": ["mni152, cat12_template"] * 2})
    s = report.runs_table(runs, "Runs")
    assert list(s.data.columns) == ["encoder", "parameters", "steps_run", "best_step", "trained_on"]
    assert "lr 0.0002" in s.caption and "data mni152, cat12_template" in s.caption and "checkpoint" not in s.caption
    html = s.to_html()
    assert ">steps run<" in html and ">trained on<" in html and ">steps_run<" not in html  # headers as a reader reads them


def test_paper_tables_split_by_metric_group_and_metric_tables_bold_the_best_per_row():
    from arssr_core.study import report

    scores = pd.DataFrame([{"method": m, "scale": s, "psnr": p + s, "ssim": 0.9, "lpips": l, "psi": float("nan")}
                           for s in (2, 3) for m, p, l in (("Cubic", 28.0, 0.2), ("ArSSR", 29.0, 0.1))])
    html = report.paper_tables(scores, "Table 1").data
    assert html.count("<table") == 2 and "Table 1: fidelity (PSNR, SSIM)" in html and "PSI" not in html
    assert "x2" in html and ">PSNR</span> ↑" in html and ">LPIPS</span> ↓" in html
    html = report.metric_tables(scores, ["psnr", "lpips"], "By scale").data
    assert html.count("<table") == 2 and "By scale: LPIPS ↓ (lower is better)" in html
    assert html.count("font-weight: bold") >= 2  # one best per row and metric (CSS rules per cell)


def test_flat_tables_write_scales_and_metrics_as_the_paper_tables_do():
    from arssr_core.study import report

    df = pd.DataFrame({"method": ["ArSSR", "ArSSR"], "scale": [2.0, 2.5], "metric": ["psnr", "lpc_si"],
                       "diff": [1.23456, 0.5]})
    html = report.table(df).to_html()
    assert ">x2<" in html and ">x2.5<" in html and "2.0000" not in html
    assert ">PSNR<" in html and ">LPC-SI<" in html and ">psnr<" not in html
    assert "1.2346" in html  # other numbers keep their decimals


def test_requests_keep_their_order_and_a_request_a_method_cannot_make_shows_a_dash():
    import re

    from arssr_core.study import evaluation, report

    scores = pd.DataFrame([{"method": m, "scale": r, "psi": 0.1 + i, "lpc_si": 0.7}
                           for i, r in enumerate(("x2", "x4", "1mm")) for m in ("Cubic", "ResCNN", "ArSSR")
                           if not (m == "ResCNN" and r == "1mm")])
    wide = evaluation.paper_layout(scores, ["psi", "lpc_si"])
    assert list(dict.fromkeys(wide.columns.get_level_values(0))) == ["x2", "x4", "1mm"]
    assert wide.loc["ResCNN", ("1mm", "psi")] != wide.loc["ResCNN", ("1mm", "psi")]  # NaN in the frame
    text = " ".join(re.sub(r"<[^>]+>", " ", re.sub(r"<style.*?</style>", "", report.paper_tables(scores, "T3").data,
                                                     flags=re.S)).split())
    assert "1 mm" in text and "PSI ↑ LPC-SI ↑" in text and "nowrap\">LPC-SI<" in report.paper_tables(scores, "T3").data and "NaN" not in text and "nan" not in text
    assert "ResCNN 0.1000 0.7000 1.1000 0.7000 — —" in text
    flat = report.table(pd.DataFrame({"id": ["a", "b"], "masks": ["lesion", float("nan")]})).to_html()
    assert ">nan<" not in flat and ">lesion<" in flat
    change = report.table(pd.DataFrame({"method": ["ArSSR"], "scale": [2.5], "from": [2.0], "diff": [-0.01]})).to_html()
    assert ">x2.5<" in change and ">x2<" in change and "2.0000" not in change  # a change "from" a scale reads as one
    spread = report.table(pd.DataFrame({"method": ["ArSSR"], "seeds": [2], "psnr_mean": [26.5], "lpc_si_range": [0.01]})).to_html()
    assert ">PSNR mean<" in spread and ">LPC-SI range<" in spread and ">seeds<" in spread  # headers as a reader writes them
    assert evaluation.metric_label("lpc_si") == "LPC-SI" and evaluation.metric_label("profile_spread") == "profile spread"


def test_paths_printed_on_another_machine_are_shown_relative_to_the_repository():
    from arssr_core.study.book import _relative, _roots

    text = ("preparing cpu datasets under /home/someone/arssr/data/prepared/cpu\n"
            "24 records -> /srv/ci/clone/data/prepared/cpu/catalog.json; weights "
            "/opt/x/checkpoints/pretrained/arssr-rdn/best.pt; /usr/lib/python3/site.py kept")
    out = _relative(text, _roots())
    assert out == ("preparing cpu datasets under data/prepared/cpu\n24 records -> data/prepared/cpu/catalog.json; "
                   "weights checkpoints/pretrained/arssr-rdn/best.pt; /usr/lib/python3/site.py kept")


def test_a_page_is_stale_by_its_key_or_by_an_input_this_machine_has_changed(tmp_path):
    from arssr_core.study.book import is_stale
    from arssr_core.study.pipeline import file_hash, run_key

    name = "03_main_test.ipynb"
    params = {"profile": "cpu"}
    data = tmp_path / "catalog.json"
    data.write_text("{}")
    record = {"key": run_key(REPO_ROOT / "notebooks" / name, params), "params": params,
              "inputs": {str(data): file_hash(data)}}
    assert not is_stale(name, record)
    data.write_text('{"changed": 1}')
    assert is_stale(name, record)  # an input here differs from the one it read
    from arssr_core.study.book import stale_reason
    assert f"`{data}`" in stale_reason(name, record)  # the page names the file, so a reader can check it
    data.unlink()
    assert not is_stale(name, record)  # absent here (a fresh clone): cannot be checked, the key decides
    assert is_stale(name, {**record, "key": "0" * 64})


def test_a_lesion_zoom_holds_the_whole_outline():
    import numpy as np

    from arssr_core.study import report

    vol = np.zeros((96, 96, 40), np.float32)
    mask = np.zeros(vol.shape, bool)
    mask[30:70, 35:60, 15:25] = True  # 40 voxels across: more than the default 32-voxel box
    fig = report.plot_orthogonal({"GT": vol}, centre=(50, 47, 20), zoom_box=(50, 47, 20), zoom_size=None, outline=mask)
    box = [p for p in fig.axes[2].patches][0]
    assert box.get_width() >= 40 + 2 * 8 - 1  # the outline with a margin
    assert fig.axes[3].images[0].get_array().shape[1] >= 40
    fig32 = report.plot_orthogonal({"GT": vol}, centre=(50, 47, 20), zoom_box=(50, 47, 20), outline=mask)
    assert fig32.axes[2].patches[0].get_width() == 32  # an explicit size is kept


def test_a_forest_plot_turns_lpips_round_and_marks_what_the_margin_swallows():
    from arssr_core.study import report

    iv = pd.DataFrame([{"a": "ArSSR", "b": "Cubic", "scale": 2.0, "metric": "psnr", "diff": 1.0, "lo": 0.8, "hi": 1.2},
                       {"a": "ArSSR", "b": "Cubic", "scale": 4.0, "metric": "psnr", "diff": 0.05, "lo": -0.1, "hi": 0.2},
                       {"a": "ArSSR", "b": "Cubic", "scale": 2.0, "metric": "lpips", "diff": -0.05, "lo": -0.06, "hi": -0.04},
                       {"a": "ArSSR", "b": "Cubic", "scale": 4.0, "metric": "lpips", "diff": -0.05, "lo": -0.06, "hi": -0.04}])
    fig = report.plot_intervals(iv)
    psnr, lpips = fig.axes
    assert [t.get_text() for t in psnr.get_yticklabels()] == ["ArSSR vs Cubic, x2", "ArSSR vs Cubic, x4"]
    assert (lpips.collections[-1].get_offsets()[:, 0] > 0).all()  # lower LPIPS drawn right of zero: better
    faces = psnr.collections[-1].get_facecolors()
    assert faces[0][:3].tolist() != [1.0, 1.0, 1.0] and faces[1][:3].tolist() == [1.0, 1.0, 1.0]  # x4 inside the margin


def test_a_forest_plot_draws_only_the_named_pairs_in_their_order():
    from arssr_core.study import report

    def rows(pairs):
        return pd.DataFrame([{"a": a, "b": b, "scale": 2.0, "metric": "psnr", "diff": 0.5, "lo": 0.4, "hi": 0.6}
                             for a, b in pairs])

    iv = pd.concat([rows([("T", "Cubic"), ("T", "A")]), rows([("T", "I"), ("A", "Cubic")])])  # as 09 concatenates
    assert iv.index.tolist() == [0, 1, 0, 1]
    fig = report.plot_intervals(iv, pairs=[("T", "I"), ("T", "Cubic")])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["T vs I, x2", "T vs Cubic, x2"]
    with pytest.raises(ValueError, match="none of the pairs"):
        report.plot_intervals(iv, pairs=[("Cubic", "T")])


def test_a_metric_says_which_way_is_better():
    from arssr_core.study import report

    assert report.metric_arrow("psnr") == " (higher is better)"
    assert report.metric_arrow("lpips", symbol=True) == " ↓ (lower is better)"
    assert report.metric_arrow("time_s") == ""


def test_a_table_pivoted_by_scale_reads_like_the_paper_tables():
    """03's scale-consistency table: scale columns headed x2, x2.5 (not 2.000000), at the asked decimals."""
    import re

    from arssr_core.study import report

    long = pd.DataFrame({"method": ["Cubic", "ArSSR"] * 2, "scale": [2.0, 2.0, 2.5, 2.5],
                         "lr_consistency_psnr": [30.123, 31.456, 28.1, 29.2]})
    html = report.table(long.pivot(index="method", columns="scale", values="lr_consistency_psnr"), "c",
                        decimals=2).to_html()
    cells = re.findall(r">\s*([x0-9.]+)\s*<", html)
    assert cells[:2] == ["x2", "x2.5"] and "31.46" in cells and "30.12" in cells
    assert "2.000000" not in html and "30.1230" not in html
    # the notebooks' call: the long table in, the value's own decimals, methods in their order,
    # scales ascending where the table lists them otherwise (03 appends x2.2 and x3.7 last)
    html = report.scale_table(pd.concat([long.iloc[2:], long.iloc[:2]]), "lr_consistency_psnr", "c").to_html()
    cells = re.findall(r">\s*([A-Za-z]+|[x0-9.]+)\s*<", html)
    assert cells[cells.index("x2"):cells.index("x2") + 2] == ["x2", "x2.5"] and "2.000000" not in html
    assert cells.index("Cubic") < cells.index("ArSSR") and "30.12" in cells and "30.1230" not in html
    assert cells.index("x2") < cells.index("x2.5")
    steps = long.assign(step=[0, 0, 0, 0])
    assert report.scale_table(steps, "lr_consistency_psnr", index=["step", "method"]).data.shape == (2, 2)


def test_a_caveat_shared_by_verdict_rows_is_written_once_in_the_caption():
    from arssr_core.study import report

    budget = "Matched budgets far below the paper's."
    v = pd.DataFrame({"claim": ["a", "b", "c"], "verdict": ["held", "inconclusive", "did not hold"],
                      "evidence": ["x", "y", "z"], "caveat": [budget, budget + " ResCNN did not beat cubic.", budget]})
    s = report.table(v, "Verdicts")
    html = s.to_html()
    assert s.caption.count(budget) == 1 and html.count(budget) == 1
    assert html.count(">†<") == 2 and "† ResCNN did not beat cubic." in html  # a row's own caveat is kept
    one = report.table(v.iloc[:1], "One verdict").to_html()
    assert one.count(budget) == 1 and "†" not in one  # nothing to share


def test_the_front_page_summary_counts_the_verdicts_and_states_their_shared_caveat(tmp_path, monkeypatch):
    from arssr_core.study.book import verdict_summary

    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path))
    (tmp_path / "cpu" / "tables").mkdir(parents=True)
    budget = "Matched budgets far below the paper's."
    pd.DataFrame({"notebook": ["03", "04", "06"], "claim": ["A beats B", "C beats D", "E beats F"],
                  "verdict": ["held", "did not hold", "did not hold"], "evidence": ["x", "y", "z"],
                  "caveat": [budget, budget, budget + " ResCNN did not beat cubic."]}) \
        .to_csv(tmp_path / "cpu" / "tables" / "08_claims_vs_measured.csv", index=False)
    page = verdict_summary("cpu", {"03": "03_main_test"})
    assert "**1 held**, **2 did not hold**, **0 inconclusive**, **0 untestable**" in page
    assert f"What every verdict rests on: {budget}" in page and page.count(budget) == 1
    assert "<notebooks/03_main_test>" in page and "- C beats D" in page


def test_a_cell_tagged_remove_stdout_shows_no_printed_log_but_keeps_its_results(tmp_path):
    """``remove-stdout``: a setup cell's printed log lines ("preparing cpu datasets ...") stay out
    of the page; its tables and the printed lines of untagged cells stay."""
    nb = nbformat.v4.new_notebook()
    setup = nbformat.v4.new_code_cell("prepare(profile)")
    setup.metadata["tags"] = ["remove-stdout"]
    setup.outputs = [nbformat.v4.new_output("stream", name="stdout", text="24 records (0 written)\n"),
                     nbformat.v4.new_output("display_data", data={"text/html": "<table></table>"})]
    talk = nbformat.v4.new_code_cell("print(n)")
    talk.outputs = [nbformat.v4.new_output("stream", name="stdout", text="test subjects: colin27\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("# 04 · Lesions"), setup, talk]
    src, dst = tmp_path / "04_lesion.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    prepare_notebook(src, dst, "cpu")
    text = dst.read_text()
    assert "24 records" not in text and "<table>" in text and "test subjects: colin27" in text


def test_a_long_path_in_a_notebook_table_wraps_at_its_folders(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("report.table(models)")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": (
        '<table><tr><td class="data">checkpoints/pretrained/arssr-rdn-aniso/best.pt</td>'
        '<td>1x1x3</td><td>a/b</td></tr></table>')})]
    nb.cells = [nbformat.v4.new_markdown_cell("# 09 · Thick"), cell]
    src, dst = tmp_path / "09_thick_slices.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    prepare_notebook(src, dst, "cpu")
    text = dst.read_text()
    assert "checkpoints/<wbr>pretrained/<wbr>arssr-rdn-aniso/<wbr>best.pt" in text
    assert "<td>a/b</td>" in text  # a short one is left alone


def test_the_results_page_folds_long_tables_splits_wide_ones_and_prints_whole_numbers(tmp_path, monkeypatch):
    from arssr_core.study.book import FOLD_ROWS, TABLE_ROOM_PX, estimated_table_widths, results_page

    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path))
    tables = tmp_path / "cpu" / "tables"
    tables.mkdir(parents=True)
    pd.DataFrame({"tag": ["rescnn-x2"] * (FOLD_ROWS + 5), "step": [4250.0] * (FOLD_ROWS + 5),
                  "psnr": [30.123456] * (FOLD_ROWS + 5)}).to_csv(tables / "02_learning_curves.csv", index=False)
    pd.DataFrame({"model": ["srcnn3d", "dcsrn"], **{f"setting_number_{i}": ["a value of some length", "x"]
                                                    for i in range(12)}}).to_csv(tables / "02_baseline_runs.csv", index=False)
    page = results_page("cpu")
    assert "<details><summary>02_learning_curves: 25 rows</summary>" in page
    assert "02_baseline_runs</summary>" not in page  # two rows: shown open
    assert ">4250<" in page and "4250.0000" not in page and ">30.12<" in page
    assert "columns 1 of " in page and "[CSV](tables/02_baseline_runs.csv)" in page
    assert "How each per-scale baseline was trained" in page  # its sentence
    widths = estimated_table_widths(page)
    assert len(widths) > 2 and all(w <= TABLE_ROOM_PX for _, w in widths), widths


def test_every_published_table_has_a_sentence_on_the_results_page():
    from arssr_core.study.book import TABLE_NOTES

    published = {p.stem for p in (REPO_ROOT / "results" / "cpu" / "tables").glob("*.csv")}
    assert published and not published - set(TABLE_NOTES), sorted(published - set(TABLE_NOTES))


def test_a_markdown_and_tag_edit_reaches_the_executed_copy_without_a_rerun(tmp_path):
    from arssr_core.study.pipeline import refresh_markdown

    src, executed = tmp_path / "src.ipynb", tmp_path / "run.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# old"), nbformat.v4.new_code_cell("prepare(profile)")]
    nbformat.write(nb, executed)
    nb.cells[0].source = "# new"
    nb.cells[1].metadata["tags"] = ["remove-stdout"]
    nbformat.write(nb, src)
    assert refresh_markdown(src, executed)
    cells = json.loads(executed.read_text())["cells"]
    assert "".join(cells[0]["source"]) == "# new" and cells[1]["metadata"]["tags"] == ["remove-stdout"]
    nb.cells[1].source = "prepare(profile, redo=True)"  # a code edit needs a rerun: nothing copied
    nbformat.write(nb, src)
    assert not refresh_markdown(src, executed)


@pytest.mark.slow
def test_no_table_of_the_published_book_is_wider_than_its_column(tmp_path):
    """The cpu book built from the committed results: every table's estimated width fits the
    column at a 1280 px window; where Chromium is installed, nothing on any page scrolls sideways."""
    import importlib.util
    import shutil

    from arssr_core.study.book import build_book, estimated_table_widths

    html = build_book("cpu").parent
    pages = [p for p in html.rglob("*.html") if "_static" not in p.parts and "</body>" in p.read_text()]
    wide = [(p.name, cap[:50], w) for p in pages for cap, w in estimated_table_widths(p.read_text()) if w > 676]
    assert not wide, wide
    if shutil.which("chromium") is None:
        return
    spec = importlib.util.spec_from_file_location("layout", REPO_ROOT / "scripts" / "check_book_layout.py")
    layout = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(layout)
    scrolls = {p.name: found for p in pages if not p.name.startswith(("genindex", "search"))
               for found in [layout.sideways(p)] if found}
    assert not scrolls, scrolls


def test_the_front_page_shows_the_paper_claims_in_its_words_and_order(tmp_path, monkeypatch):
    from arssr_core.study.book import paper_scorecard

    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path))
    (tmp_path / "cpu" / "tables").mkdir(parents=True)
    assert paper_scorecard("cpu", {}) == ""  # no scorecard yet: nothing shown
    q = "In terms of PSNR and SSIM [44], ResCNN [12] achieves the best performance for all the scale cases."
    pd.DataFrame([{"section": "4.2", "paper": q, "quantifier": "all", "reading": "ResCNN best", "verdict": "did not hold",
                   "evidence": "0 of 6 cells for; x2 PSNR: vs ArSSR -0.6", "caveat": "c"},
                  {"section": "4.2", "paper": q, "quantifier": "all", "reading": "ArSSR above cubic", "verdict": "held",
                   "evidence": "6 of 6 cells for", "caveat": "c"},
                  {"section": "4.6", "paper": "While for LPC-SI [47], ...", "quantifier": "all", "reading": "SRResNet best",
                   "verdict": "inconclusive", "evidence": "0 of 3 cells for", "caveat": "c"},
                  {"section": "4.6", "paper": "While for LPC-SI [47], ...", "quantifier": "all", "reading": "on both subjects",
                   "verdict": "inconclusive", "evidence": "colin27: held, 3 of 3 cells for; x2 PSI: vs A +0.1 | "
                                                          "mrbraintumor2: did not hold, 0 of 3 cells for; x4 PSI: vs A -0.2",
                   "caveat": "c"},
                  {"section": "4.6", "paper": "Their results get more blurred ...", "quantifier": "none stated",
                   "reading": "blurrier with scale", "verdict": "held", "evidence": "2 of 3 cells for", "caveat": "c"}]
                 ).to_csv(tmp_path / "cpu" / "tables" / "08_paper_claims.csv", index=False)
    page = paper_scorecard("cpu", {"08": "08_figures"})
    assert page.count(q) == 1 and page.index("§4.2") < page.index("§4.6")
    assert "*ResCNN best* (paper: “all”): **did not hold**; 0 of 6 cells for." in page
    # a claim judged on two subjects shows both subjects' counts, not only the first's
    assert ("*on both subjects* (paper: “all”): **inconclusive**; colin27: held, 3 of 3 cells for; "
            "mrbraintumor2: did not hold, 0 of 3 cells for." in page)
    # a sentence without a quantifier says how the study reads it, not "(none stated)"
    assert "*blurrier with scale* (no quantifier in the sentence: read as most cells): **held**" in page
    assert "none stated" not in page
    assert "**2 held**, **1 did not hold**, **2 inconclusive**, **0 untestable**" in page


def test_the_front_pages_table1_sentence_reads_the_results_tables(tmp_path, monkeypatch):
    """The intro's Table 1 numbers come from notebook 03's tables (no number typed into the
    prose): each method's PSNR at x2 / x3 / x4 and ArSSR's lead over ResCNN with its interval,
    turned from the stored ResCNN - ArSSR."""
    from arssr_core.study.book import table1_sentence

    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path))
    tables = tmp_path / "cpu" / "tables"
    tables.mkdir(parents=True)
    assert "notebook 03 computes it" in table1_sentence("cpu")
    rows = [{"subject": "colin27", "method": m, "scale": s, "psnr": p + s / 10} for m, p in (("Cubic", 20), ("ResCNN", 22),
                                                                                             ("ArSSR", 23)) for s in (2, 2.5, 3, 4)]
    pd.DataFrame(rows).to_csv(tables / "03_main_test.csv", index=False)
    pd.DataFrame([{"a": "ResCNN", "b": "ArSSR", "scale": s, "metric": "psnr", "diff": -1.0, "lo": -1.2, "hi": -0.7}
                  for s in (2, 3, 4)]).to_csv(tables / "03_intervals.csv", index=False)
    text = table1_sentence("cpu")
    assert "ArSSR 23.20 / 23.30 / 23.40 dB at x2 / x3 / x4" in text and "Cubic 20.20 / 20.30 / 20.40" in text
    assert "x2.5" not in text and "+1.00 [+0.70, +1.20]" in text


def test_the_front_pages_budget_leaders_come_from_the_validation_curves(tmp_path, monkeypatch):
    """Who leads at each budget is read from notebook 02's validation table, never typed: one
    leader throughout is said once, changing leaders per budget and scale, and a network that
    ends below cubic on the same samples is named."""
    from arssr_core.study.book import budget_leaders_sentence
    from arssr_core.study.learning_curves import leaders

    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path))
    tables = tmp_path / "cpu" / "tables"
    tables.mkdir(parents=True)
    assert "notebook 02 measures it" in budget_leaders_sentence("cpu")

    def write(a: list[float], b: list[float]) -> str:
        rows = [{"method": m, "run": m, "seed": 0, "scale": s, "step": k, "fraction": k / 3, "cpu_minutes": k,
                 "val_psnr": v + s} for m, vs in (("A", a), ("B", b)) for s in (2.0, 4.0) for k, v in enumerate(vs, 1)]
        leaders(pd.DataFrame(rows), cubic={2.0: 31.0, 4.0: 33.0}).to_csv(tables / "02_budget_leaders.csv", index=False)
        return budget_leaders_sentence("cpu")

    text = write([30.0, 30.5, 31.0], [29.0, 29.5, 28.5])
    assert "A led at every scale at a third, two thirds and the whole of the budget" in text
    assert "(x2 / x4: 32.00 / 34.00 dB; 32.50 / 34.50 dB; 33.00 / 35.00 dB)" in text
    assert "Ending below cubic" in text and "B at x2 (30.50 vs 31.00 dB)" in text
    text = write([30.0, 30.5, 31.0], [30.5, 29.5, 28.5])
    assert "at a third of the budget the leader was B at x2 (32.50 dB), B at x4 (34.50 dB)" in text


def test_the_front_pages_table1_sentence_gives_every_test_subject(tmp_path, monkeypatch):
    """With two test subjects, Table 1's sentence has a clause for each, by the catalog's title
    (its name where the catalog has none), each with its own lead of ArSSR over ResCNN."""
    from arssr_core.study.book import table1_sentence

    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path))
    monkeypatch.setattr("arssr_core.data.catalog.records", lambda profile, role=None: [{"name": "a", "title": "Brain A"}])
    tables = tmp_path / "cpu" / "tables"
    tables.mkdir(parents=True)
    pd.DataFrame([{"subject": subj, "method": m, "scale": 2, "psnr": p + off} for subj, off in (("a", 0), ("b", 5))
                  for m, p in (("ResCNN", 22), ("ArSSR", 23))]).to_csv(tables / "03_main_test.csv", index=False)
    pd.DataFrame([{"subject": subj, "a": "ResCNN", "b": "ArSSR", "scale": 2, "metric": "psnr", "diff": d, "lo": d - 0.1,
                   "hi": d + 0.1} for subj, d in (("a", -1.0), ("b", 0.5))]).to_csv(tables / "03_intervals.csv", index=False)
    text = table1_sentence("cpu")
    assert "on Brain A, PSNR on its brain blocks: ArSSR 23.00 dB at x2, ResCNN 22.00" in text and "+1.00 [+0.90, +1.10]" in text
    assert "; on b, PSNR on its brain blocks: ArSSR 28.00 dB at x2" in text and "-0.50 [-0.60, -0.40]" in text
    assert "seeds" not in text  # one run each: block intervals
    iv = pd.read_csv(tables / "03_intervals.csv").assign(seeds=["3/2", "1/1"])
    iv.to_csv(tables / "03_intervals.csv", index=False)
    text = table1_sentence("cpu")
    assert "+1.00 [+0.90, +1.10] dB (paired 95% intervals; at x2 over training seeds and blocks together)" in text
    assert "-0.50 [-0.60, -0.40] dB (paired 95% intervals)" in text


def test_the_limitations_page_says_which_models_have_several_seeds_from_the_seed_table(tmp_path, monkeypatch):
    """The seeds sentence is read from notebook 03's seed table (what was scored), per model and,
    where a per-scale network's seeds differ by scale, per scale; cubic is no model."""
    from arssr_core.study.book import seeds_sentence

    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path))
    tables = tmp_path / "cpu" / "tables"
    tables.mkdir(parents=True)
    assert "notebook 03 lists them" in seeds_sentence("cpu")
    rows = [("Cubic", 0, 2), ("ArSSR", 0, 2), ("ArSSR", 1, 2), ("ArSSR", 2, 2), ("ArSSR", 0, 3), ("ArSSR", 1, 3),
            ("ArSSR", 2, 3), ("ResCNN", 0, 2), ("ResCNN", 1, 2), ("ResCNN", 0, 3), ("DCSRN", 0, 2), ("DCSRN", 0, 3)]
    pd.DataFrame([{"method": m, "seed": k, "scale": s, "psnr": 20.0, "subject": subj} for m, k, s in rows
                  for subj in ("a", "b")]).to_csv(tables / "03_seed_scores.csv", index=False)
    text = seeds_sentence("cpu")
    assert text == ("In notebook 03, ArSSR has seeds 0, 1, 2; ResCNN has seeds 0, 1 at x2; seed 0 at x3; "
                    "DCSRN is one training run (seed 0).")
    assert "Cubic" not in text
    pd.DataFrame([{"method": "DCSRN", "seed": 0, "scale": 2, "psnr": 1.0, "subject": "a"}]).to_csv(
        tables / "03_seed_scores.csv", index=False)
    assert seeds_sentence("cpu") == "Every model is one training run (seed 0)."


def test_a_metric_figures_title_sits_clear_of_its_panels_titles():
    """The test subject named above Figures 3.x does not print over the panels' metric names
    (a suptitle added after the layout did, on the published 03 page)."""
    import matplotlib

    matplotlib.use("Agg")
    from arssr_core.study.report import plot_metric_vs_scale

    table = pd.DataFrame([{"method": m, "scale": s, "psnr": 20 + s, "ssim": 0.9, "lpips": 0.1, "psi": 0.3, "lpc_si": 0.9}
                          for m in ("Cubic", "ArSSR") for s in (2.0, 3.0, 4.0)])
    fig = plot_metric_vs_scale(table, title="MRBrainTumor2, skull-stripped (tumour left out)")
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    top = fig._suptitle.get_window_extent(r)
    panels = [ax.title.get_window_extent(r) for ax in fig.axes if ax.get_title()]
    assert len(panels) == 5 and not any(top.overlaps(b) for b in panels)
