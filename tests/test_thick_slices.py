"""Thick-slice requests of notebook 09 (arssr_core.study.thick_slices): labels, kinds, the LR each
request makes and the blocks view of an LR volume."""

from __future__ import annotations

import numpy as np
import pytest

from arssr_core.study import thick_slices
from arssr_core.data.degrade import downsample
from arssr_core.study.evaluation import cubic_method


def test_requests_put_each_thickness_on_each_axis_then_mixed_then_isotropic():
    req = thick_slices.thick_requests([3, 5], axes=[0, 2], mixed=[[2, 2, 4]], iso=[2])
    assert req == {"3x1x1": (3.0, 1.0, 1.0), "5x1x1": (5.0, 1.0, 1.0), "1x1x3": (1.0, 1.0, 3.0),
                   "1x1x5": (1.0, 1.0, 5.0), "2x2x4": (2.0, 2.0, 4.0), "x2": (2.0, 2.0, 2.0)}
    kinds = thick_slices.describe(req).set_index("request")["kind"]
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
