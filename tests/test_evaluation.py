"""Study helpers of arssr_core.study.evaluation that need no trained model."""

from __future__ import annotations

import numpy as np
import pytest

from arssr_core.data.masks import mask_centre
from arssr_core.study.evaluation import centre_profiles, real_lr_requests


def test_real_lr_requests_add_isotropic_target_only_for_anisotropic_scans():
    assert real_lr_requests((2.0, 2.0, 2.0), [2, 3]) == {"x2": (2.0, 2.0, 2.0), "x3": (3.0, 3.0, 3.0)}
    req = real_lr_requests((2.0, 3.0, 2.0), [2])
    assert req["1mm"] == (2.0, 3.0, 2.0)  # factors that give 1 mm voxels on every axis
    assert real_lr_requests((2.0, 3.0, 2.0), [2], target_mm=0.5)["0.5mm"] == (4.0, 6.0, 4.0)


def test_centre_profiles_sample_the_same_physical_line():
    """A volume constant along axis 0 but varying across: an SR that is the exact nearest
    upsampling gives, at the mapped position, the LR's own line."""
    lr = np.arange(6 * 5 * 4, dtype=np.float32).reshape(6, 5, 4)
    sr = lr.repeat(2, 0).repeat(2, 1).repeat(2, 2)
    lines = centre_profiles(lr, (2.0, 2.0, 2.0), {("ArSSR", "x2"): sr, ("ArSSR", "x3"): sr}, "x2", 2.0)
    assert set(lines) == {"LR", "ArSSR"}
    np.testing.assert_array_equal(lines["ArSSR"][0][::2], lines["LR"][0])
    assert lines["LR"][1] == 2.0 and lines["ArSSR"][1] == 1.0


def test_mask_centre():
    m = np.zeros((10, 10, 10), bool)
    m[2:5, 6:9, 0:3] = True
    assert mask_centre(m) == (3, 7, 1)
    m[:] = False
    m[0:2, 0:2, 0:2] = True  # two lesions apart: the centre lies in the larger, not between them
    m[6:9, 6:9, 6:9] = True
    assert mask_centre(m) == (7, 7, 7) and m[mask_centre(m)]
    assert mask_centre(np.zeros((4, 4, 4), bool)) is None


def test_trim_to_multiple_cuts_each_side_centred():
    from arssr_core.study.evaluation import trim_to_multiple

    a = np.arange(7 * 8 * 130).reshape(7, 8, 130)
    t = trim_to_multiple(a, 4)
    assert t.shape == (4, 8, 128)
    np.testing.assert_array_equal(t, a[1:5, :, 1:129])


def test_sr_cache_serves_a_repeat_and_recomputes_when_the_input_or_weights_change(tmp_path, monkeypatch):
    """cached_sr: the same request is read back from disk; a changed LR voxel, output grid or
    checkpoint file (its modification time) is computed afresh."""
    import os

    from arssr_core.study import evaluation as ev

    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path))
    calls = []

    def fake(method, lr, out_shape, scale, profile=None, precision=None, progress=False):
        calls.append(method.name)
        return np.full(out_shape, float(lr.sum()), np.float32)

    monkeypatch.setattr(ev, "super_resolve_with", fake)
    ckpt = tmp_path / "w.pt"
    ckpt.write_bytes(b"weights")
    m = ev.Method("Net", "arssr", str(ckpt))
    lr = np.random.default_rng(0).random((4, 4, 4)).astype(np.float32)
    a = ev.cached_sr("smoke", "s", m, lr, (8, 8, 8), 2.0)
    b = ev.cached_sr("smoke", "s", m, lr, (8, 8, 8), 2.0)
    assert len(calls) == 1 and np.array_equal(a, b)
    lr2 = lr.copy()
    lr2[0, 0, 0] += 0.5
    ev.cached_sr("smoke", "s", m, lr2, (8, 8, 8), 2.0)
    ev.cached_sr("smoke", "s", m, lr, (8, 8, 9), (2.0, 2.0, 2.25))
    assert len(calls) == 3
    os.utime(ckpt, ns=(1, 1))  # the same weights touched (a fresh checkout): still served
    ev.cached_sr("smoke", "s", m, lr, (8, 8, 8), 2.0)
    assert len(calls) == 3
    ckpt.write_bytes(b"other weights")  # the checkpoint replaced
    ev.cached_sr("smoke", "s", m, lr, (8, 8, 8), 2.0)
    assert len(calls) == 4


def test_a_table_and_its_verdict_score_the_same_voxels(mni_volume):
    """A table's PSNR and SSIM (score_grid) are computed on the brain blocks the verdicts'
    intervals resample (interval_terms): the table's difference of two methods is the
    interval's point estimate, and voxels outside the blocks move neither."""
    from scipy import ndimage

    from arssr_core.study import evaluation as ev

    c = [n // 2 for n in mni_volume.shape]
    gt = np.clip(np.asarray(mni_volume[tuple(slice(m - 50, m + 50) for m in c)], np.float32), 0, 1)
    rng = np.random.default_rng(0)
    srs = {("A", 2.0): np.clip(gt + rng.normal(0, 0.02, gt.shape).astype(np.float32), 0, 1),
           ("B", 2.0): ndimage.gaussian_filter(gt, 0.8).astype(np.float32)}
    table = ev.score_grid(gt, srs, metrics=("psnr", "ssim"), progress=False).set_index("method")
    terms = ev.interval_terms(gt, srs, lpips=False, sharpness=False, progress=False)
    iv = ev.paired_intervals(terms, "A", "B", metrics=("psnr", "ssim"), n_boot=200).set_index("metric")
    for m in ("psnr", "ssim"):
        assert abs((table.loc["A", m] - table.loc["B", m]) - iv.loc[m, "diff"]) < 1e-9, m
    blocks = ev.scoring_blocks(gt)
    inside = np.zeros(gt.shape, bool)
    for b in blocks:
        inside[b] = True
    assert (~inside).any()
    moved = {k: np.where(inside, v, 0.5).astype(np.float32) for k, v in srs.items()}  # outside: garbage
    again = ev.score_grid(gt, moved, metrics=("psnr",), progress=False).set_index("method")
    assert np.allclose(again["psnr"], table["psnr"])
    region = ev.scoring_region(gt)
    assert region["blocks"] == len(blocks) and 0 < region["brain_covered"] <= 1


def test_real_scan_sharpness_pairs_methods_on_cubics_slices():
    """no_reference_terms: every method of a request is scored on the slices where cubic's
    volume has brain, so two methods pair slice by slice; the table is the mean of those slices
    (the interval's point estimate), and a method's own background no longer moves its slices."""
    import numpy as np

    from arssr_core.metrics import evaluate_no_reference
    from arssr_core.study.evaluation import no_reference_scores, no_reference_terms, paired_intervals

    rng = np.random.default_rng(0)
    cubic = np.zeros((100, 100, 100), np.float32)
    cubic[8:92, 8:92, 10:90] = rng.random((84, 84, 80))
    other = np.clip(cubic + rng.normal(0, 0.05, cubic.shape) * (cubic > 0), 0, 1).astype(np.float32)
    other[:4, :4, :] = 0.3  # bright corner outside cubic's brain: slices it alone would add
    terms = no_reference_terms({("Cubic", "x2"): cubic, ("B", "x2"): other}, stride=4, progress=False)
    assert all(len(terms[("B", "x2")][k]) == len(terms[("Cubic", "x2")][k]) for k in ("psi", "lpc_si"))
    table = no_reference_scores(terms).set_index("method")
    ref = evaluate_no_reference(other, ref=cubic, stride=4)
    assert table.loc["B", "psi"] == pytest.approx(ref["psi"]) and table.loc["B", "lpc_si"] == pytest.approx(ref["lpc_si"])
    iv = paired_intervals(terms, "B", "Cubic", metrics=("psi", "lpc_si")).set_index("metric")
    assert iv.loc["psi", "diff"] == pytest.approx(table.loc["B", "psi"] - table.loc["Cubic", "psi"])
    assert iv.loc["psi", "lo"] <= iv.loc["psi", "diff"] <= iv.loc["psi", "hi"] and iv.loc["psi", "scale"] == "x2"


def test_an_excluded_region_moves_no_score(mni_volume):
    """A test subject's ``exclude`` mask (a tumour and its rim) is left out of every score: a
    change of the SR volumes inside it and on every slice through it moves no table value and
    no interval term, and the table is still the intervals' point estimate."""
    from scipy import ndimage

    from arssr_core.study import evaluation as ev

    c = [n // 2 for n in mni_volume.shape]
    gt = np.clip(np.asarray(mni_volume[tuple(slice(m - 50, m + 50) for m in c)], np.float32), 0, 1)
    exclude = np.zeros(gt.shape, bool)
    exclude[40:52, 45:58, 30:41] = True  # a "tumour" well inside the brain
    rng = np.random.default_rng(0)
    srs = {("A", 2.0): np.clip(gt + rng.normal(0, 0.02, gt.shape).astype(np.float32), 0, 1),
           ("B", 2.0): ndimage.gaussian_filter(gt, 0.8).astype(np.float32)}
    metrics = ("psnr", "ssim", "psi", "lpc_si")
    table = ev.score_grid(gt, srs, metrics=metrics, exclude=exclude, progress=False).set_index("method")
    # the slice-wise metrics drop every slice through the region, so a change inside it moves none;
    # SSIM's 7-voxel window reaches 3 voxels past it: the change stays 3 voxels inside for SSIM
    inside = {k: np.where(exclude, np.float32(0.9) - v, v).astype(np.float32) for k, v in srs.items()}
    sliced = ev.score_grid(gt, inside, metrics=("psi", "lpc_si"), exclude=exclude, progress=False).set_index("method")
    assert np.allclose(sliced[["psi", "lpc_si"]], table[["psi", "lpc_si"]])
    core = np.zeros(gt.shape, bool)
    core[43:49, 48:55, 33:38] = True
    again = ev.score_grid(gt, {k: np.where(core, 0.9 - v, v).astype(np.float32) for k, v in srs.items()},
                          metrics=("psnr", "ssim"), exclude=exclude, progress=False).set_index("method")
    assert np.allclose(again[["psnr", "ssim"]], table[["psnr", "ssim"]])
    before, after = (ev.score_grid(gt, v, metrics=("psnr", "psi"), progress=False).set_index("method") for v in (srs, inside))
    assert not np.allclose(before["psi"], after["psi"]) and not np.allclose(before["psnr"], after["psnr"])  # unmasked, it moves
    terms = ev.interval_terms(gt, srs, lpips=False, exclude=exclude, progress=False)
    iv = ev.paired_intervals(terms, "A", "B", metrics=metrics, n_boot=100).set_index("metric")
    for m in metrics:
        assert abs((table.loc["A", m] - table.loc["B", m]) - iv.loc[m, "diff"]) < 1e-9, m
    assert ev.scoring_region(gt, exclude)["brain_covered"] > 0.5


def test_baseline_methods_keep_the_profiles_order_and_name_an_unknown_model():
    from arssr_core.errors import RequestError
    from arssr_core.study.evaluation import baseline_methods

    assert [m.model for m in baseline_methods("cpu")] == ["srcnn3d", "dcsrn", "rescnn"]
    assert [m.model for m in baseline_methods("cpu", ["rescnn", "srcnn3d"])] == ["srcnn3d", "rescnn"]
    assert baseline_methods("cpu", []) == []
    with pytest.raises(RequestError, match="no baseline named edsr3d"):
        baseline_methods("cpu", ["rescnn", "edsr3d"])


def test_views_at_one_scale_follow_the_methods_and_skip_missing_volumes():
    from arssr_core.study.evaluation import Method, views_at

    a, b, c = (np.full((2, 2, 2), v, np.float32) for v in (1, 2, 3))
    srs = {("Cubic", 2.0): a, ("ArSSR", 2.0): b, ("ArSSR", 3.0): c, ("LR", 2.0): a}
    methods = [Method("ArSSR", "arssr"), Method("ResCNN", "baseline"), Method("Cubic", "cubic")]
    views = views_at(srs, methods, 2)
    assert list(views) == ["ArSSR", "Cubic"] and views["ArSSR"] is b
    assert list(views_at(srs, methods, 3)) == ["ArSSR"]


def test_scale_consistency_of_several_methods_is_a_perfect_score_for_the_lr_itself():
    from arssr_core.data.degrade import resize_cubic
    from arssr_core.study.evaluation import scale_consistency

    rng = np.random.default_rng(0)
    lr = rng.random((8, 8, 8)).astype(np.float32)
    up = resize_cubic(lr, (16, 16, 16))
    srs = {("LR", 2.0): lr, ("Cubic", 2.0): up, ("Noisy", 2.0): up + rng.normal(0, 0.1, up.shape).astype(np.float32)}
    t = scale_consistency(srs, ["Noisy", "Cubic"])
    assert list(t["method"]) == ["Noisy", "Cubic"] and list(t["scale"]) == [2.0, 2.0]
    assert t["lr_consistency_psnr"].iloc[1] > t["lr_consistency_psnr"].iloc[0] + 3
    assert scale_consistency(srs, "Cubic").equals(t.iloc[[1]].reset_index(drop=True))
