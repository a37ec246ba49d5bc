"""Thick-slice requests of notebook 09 (arssr_core.study.thick_slices): labels, kinds, the LR each
request makes and the blocks view of an LR volume."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from arssr_core.study import thick_slices
from arssr_core.data.degrade import downsample
from arssr_core.study.evaluation import cubic_method


def test_requests_put_each_thickness_on_each_axis_then_mixed_then_isotropic():
    req = thick_slices.thick_requests([3, 5], axes=[0, 2], mixed=[[2, 2, 4]], iso=[2])
    assert req == {"3x1x1": (3.0, 1.0, 1.0), "5x1x1": (5.0, 1.0, 1.0), "1x1x3": (1.0, 1.0, 3.0),
                   "1x1x5": (1.0, 1.0, 5.0), "2x2x4": (2.0, 2.0, 4.0), "x2": (2.0, 2.0, 2.0)}
    kinds = thick_slices.request_kinds(req).set_index("request")["kind"]
    assert kinds["3x1x1"] == "axis 0 (sagittal slices)" and kinds["1x1x5"] == "axis 2 (axial slices)"
    assert kinds["2x2x4"] == "mixed" and kinds["x2"] == "isotropic"
    assert thick_slices.request_label([1.5, 1.5, 1.5]) == "x1.5"


def test_thick_grid_degrades_each_request_and_returns_the_hr_grid(tmp_path, monkeypatch):
    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path))
    gt = np.random.default_rng(0).random((30, 24, 40)).astype(np.float32)
    req = thick_slices.thick_requests([5], axes=[2], mixed=[[2, 2, 4]])
    for prof in ("cubic", "box"):
        srs = thick_slices.thick_grid("smoke", "t", gt, [cubic_method()], req, slice_profile=prof, progress=False)
        assert srs[("LR", "1x1x5")].shape == (30, 24, 8) and srs[("LR", "2x2x4")].shape == (15, 12, 10)
        np.testing.assert_array_equal(srs[("LR", "1x1x5")], downsample(gt, (1, 1, 5), profile=prof))
        assert all(v.shape == gt.shape for k, v in srs.items() if k[0] == "Cubic")


def test_nearest_up_shows_each_lr_voxel_as_a_block():
    lr = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    up = thick_slices.nearest_up(lr, (4, 3, 20))
    assert up.shape == (4, 3, 20)
    np.testing.assert_array_equal(up[:, :, :5], np.repeat(np.repeat(lr[:, :, :1], 2, 0), 5, 2))
    np.testing.assert_array_equal(up[::2, :, ::5], lr)


def test_validation_table_scores_each_slab_at_each_request_in_its_own_voxels(tmp_path, monkeypatch):
    from arssr_core.metrics.fidelity import psnr

    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path))
    rng = np.random.default_rng(1)
    regions = {"a": {"gt": rng.random((20, 12, 30)).astype(np.float32), "voxel_size": (0.5, 0.5, 0.5)},
               "b": {"gt": rng.random((16, 16, 15)).astype(np.float32), "voxel_size": (1.3, 1.0, 1.0)}}
    req = thick_slices.thick_requests([3], axes=[2], iso=[2])
    t = thick_slices.validation_table("smoke", regions, [cubic_method()], req, progress=False)
    assert list(t.columns) == ["subject", "voxel (mm)", "method", "scale", "LR voxel (mm)", "psnr", "ssim"]
    assert len(t) == 2 * 2 and set(t["subject"]) == {"a", "b"}
    lr_mm = t.set_index(["subject", "scale"])["LR voxel (mm)"]
    assert lr_mm[("a", "1x1x3")] == "0.5 x 0.5 x 1.5" and lr_mm[("b", "x2")] == "2.6 x 2 x 2"
    gt = regions["b"]["gt"]
    sr = thick_slices.thick_grid("smoke", "val-b", gt, [cubic_method()], req, progress=False)[("Cubic", "1x1x3")]
    from arssr_core.metrics.uncertainty import block_metric, block_terms
    from arssr_core.study.evaluation import scoring_blocks

    x = np.clip(sr, gt.min(), gt.max())
    blocks = scoring_blocks(gt)  # the brain blocks every table scores (here 8³: the slab is too thin for 32³ or 16³)
    assert len(blocks) == 4 and blocks[0][0].stop - blocks[0][0].start == 8
    want = block_metric(block_terms(x, gt, blocks, float(gt.max() - gt.min())), "psnr")
    assert want != pytest.approx(psnr(x, gt), abs=1e-3)  # not the whole slab's
    row = t[(t["subject"] == "b") & (t["scale"] == "1x1x3")].iloc[0]
    assert row["psnr"] == pytest.approx(want, abs=1e-4)


def test_subject_gains_are_differences_within_each_subject():
    import pandas as pd

    t = pd.DataFrame({"subject": ["s", "s", "s", "s", "u", "u"], "method": ["A", "B", "A", "B", "A", "B"],
                      "scale": ["1x1x3", "1x1x3", "x2", "x2", "1x1x3", "1x1x3"], "psnr": [30, 29.5, 28, 28.25, 40, 44]})
    g = thick_slices.subject_gains(t, "A", ["B"])
    assert list(g.columns) == ["subject", "request", "A - B"]
    assert g.values.tolist() == [["s", "1x1x3", 0.5], ["s", "x2", -0.25], ["u", "1x1x3", -4.0]]


def test_subject_gains_plot_has_a_panel_per_comparison_and_a_bar_per_subject_and_request():
    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    from arssr_core.study.report import plot_subject_gains

    g = pd.DataFrame({"subject": ["s", "s", "u", "u"], "request": ["1x1x3", "x3", "1x1x3", "x3"],
                      "A - B": [0.5, -0.25, -4.0, 1.0], "A - C": [1.0, 2.0, 3.0, 4.0]})
    fig = plot_subject_gains(g)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["A - B", "A - C"]
    heights = sorted(p.get_height() for p in axes[0].patches)
    assert heights == [-4.0, -0.25, 0.5, 1.0]
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["s", "u"]


def test_slice_sharpness_gives_each_method_its_psnr_and_gradient_ratio_per_slice_profile(tmp_path, monkeypatch):
    from arssr_core.metrics.gradients import gradient_energy_ratio

    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path))
    z = np.arange(30)
    gt = np.broadcast_to(0.5 + 0.4 * np.sin(2 * np.pi * z / 10), (12, 10, 30)).astype(np.float32).copy()
    t = thick_slices.slice_sharpness("smoke", {"s": {"gt": gt, "voxel_size": (1, 1, 1)}}, [cubic_method()],
                                     (1, 1, 3), ["cubic", "gaussian"], progress=False)
    assert list(t["slice_profile"]) == ["cubic", "gaussian"] and set(t["request"]) == {"1x1x3"}
    blur = thick_slices.thick_grid("smoke", "val-s", gt, [cubic_method()], {"1x1x3": (1, 1, 3)},
                                   slice_profile="gaussian", progress=False)[("Cubic", "1x1x3")]
    g = t.set_index("slice_profile")["gradient_ratio"]
    assert g["gaussian"] == pytest.approx(gradient_energy_ratio(np.clip(blur, gt.min(), gt.max()), gt, 2))
    assert g["gaussian"] < g["cubic"] <= 1.05  # a blurred slice profile loses more of the change across slices


def test_the_published_thick_slice_verdicts_are_what_the_code_reads_from_the_published_tables():
    """Notebook 09's verdicts (the study's own claims) follow from its published tables by
    ``thick_slices.verdicts``; the clinical requests are the 1x1x3 and 1x1x5 mm ones on each axis."""
    from arssr_core.data.prepare import REAL_LR
    from arssr_core.paths import REPO_ROOT
    from arssr_core.profiles import load_profile
    from arssr_core.study import thick_slices

    tables = REPO_ROOT / "results" / "cpu" / "tables"
    if not (tables / "09_verdicts.csv").exists():
        pytest.skip("no published cpu results")
    spec = load_profile("cpu")["thick_slices"]
    requests = thick_slices.thick_requests(spec["thick"], spec["axes"], spec["mixed"], spec["iso"])
    assert sorted(thick_slices.clinical_thick_keys(requests)) == sorted(
        thick_slices.request_label(f) for t in (3, 5) for f in ([t, 1, 1], [1, t, 1], [1, 1, t]))
    real_table = pd.read_csv(tables / "09_real_thick.csv")
    real = [{"name": n, "title": REAL_LR[n][2]} for n in real_table["scan"].unique()]
    got = thick_slices.verdicts("cpu", pd.read_csv(tables / "09_thick_slices.csv"), pd.read_csv(tables / "09_intervals.csv"),
                                requests, spec["iso"], real, real_table)
    pd.testing.assert_frame_equal(got, pd.read_csv(tables / "09_verdicts.csv").fillna(""))


def test_pair_intervals_put_arssr_thick_against_each_other_method(mni_crop):
    from arssr_core.study.evaluation import interval_terms

    rng = np.random.default_rng(0)
    noise = {"ArSSR-thick": 0.01, "Cubic": 0.05, "ArSSR": 0.04, "ArSSR-iso": 0.03}
    srs = {(m, "1x1x3"): np.clip(mni_crop + rng.normal(0, s, mni_crop.shape), 0, 1).astype(np.float32)
           for m, s in noise.items()}
    terms = interval_terms(mni_crop, srs, lpips=False, sharpness=False, progress=False, block=16, min_fraction=0.1)
    iv = thick_slices.pair_intervals(terms)
    assert list(dict.fromkeys(zip(iv["a"], iv["b"]))) == list(thick_slices.PAIRS)
    assert set(iv["metric"]) == {"psnr", "ssim"} and set(iv["scale"]) == {"1x1x3"}
    psnr = iv[iv["metric"] == "psnr"].set_index("b")
    assert (psnr.loc[["Cubic", "ArSSR-iso"], "lo"] > 0).all()  # the less noisy side wins, clear of zero


def test_views_show_the_lr_as_blocks_then_each_method_then_the_truth():
    gt = np.random.default_rng(1).random((6, 6, 9)).astype(np.float32)
    lr = gt[:, :, ::3]
    srs = {("LR", "1x1x3"): lr, ("Cubic", "1x1x3"): gt + 1, ("ArSSR", "1x1x3"): gt + 2, ("ArSSR", "x2"): gt}
    methods = [cubic_method(), thick_slices.Method("ArSSR", "arssr"), thick_slices.Method("ArSSR-thick", "arssr")]
    v = thick_slices.views(srs, methods, gt, "1x1x3")
    assert list(v) == ["LR (blocks)", "Cubic", "ArSSR", "GT"]
    assert v["LR (blocks)"].shape == gt.shape and v["GT"] is gt
    np.testing.assert_array_equal(v["LR (blocks)"][:, :, 1], lr[:, :, 0])


def test_slice_profile_table_scores_each_profile_and_sharpness_tables_pivot_by_method(tmp_path, monkeypatch, mni_crop):
    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path))
    t = thick_slices.slice_profile_table("smoke", "t", mni_crop, [cubic_method()], [3], 2, ["gaussian", "box"],
                                         stride=4, metrics=("psnr",))
    assert list(t["slice_profile"]) == ["gaussian", "box"] and set(t["scale"]) == {"1x1x3"}
    assert (t["method"] == "Cubic").all() and t["psnr"].between(20, 60).all()
    assert t["psnr"].iloc[0] != t["psnr"].iloc[1]  # the two profiles make different LR inputs
    sharp = pd.DataFrame({"subject": ["a", "a", "a", "a"], "slice_profile": ["box", "box", "gaussian", "gaussian"],
                          "method": ["Cubic", "ArSSR", "Cubic", "ArSSR"], "psnr": [30.0, 31, 29, 32],
                          "gradient_ratio": [0.8, 0.9, 0.7, 1.1]})
    tables = thick_slices.sharpness_tables(sharp)
    assert [v for v, _, _ in tables] == ["gradient_ratio", "psnr"]
    wide = tables[0][2]
    assert list(wide.columns) == ["Cubic", "ArSSR"] and wide.loc[("a", "gaussian"), "ArSSR"] == 1.1


def test_the_compared_methods_are_the_committed_runs_in_the_cpu_profile():
    from pathlib import Path

    methods = thick_slices.compared_methods("cpu")
    assert [m.name for m in methods] == ["Cubic", "ArSSR", "ArSSR-iso", "ArSSR-thick"]
    assert [Path(m.checkpoint).parent.name for m in methods[1:]] == ["arssr-rdn", "arssr-rdn-iso", "arssr-rdn-aniso"]
