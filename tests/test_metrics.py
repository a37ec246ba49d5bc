"""Metrics (the book's introduction lists them): reference values, identities, sharpness ordering, clear errors.

Reference values come from the authors' MATLAB files run in GNU Octave 7.3 with the
image package 2.14 (``PSI.m`` from feichtenhofer/PSI, ``lpc_si.m`` with the
Hassen/Wang header). Volumes are cropped and slices strided so this runs in
seconds on 2 CPU cores.
"""

from __future__ import annotations

import math

import nibabel as nib
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from skimage import data as skdata
from skimage.metrics import structural_similarity

from arssr_core.data.sources import source_path
from arssr_core.errors import DataError, RequestError
from arssr_core.metrics import (dice, evaluate, evaluate_no_reference, lpc_si, lpips, psi,
                                psnr, ssim)
from arssr_core.metrics.perceptual import get_model, linear_weights_match, lpips_images
from arssr_core.metrics.sharpness import sobel_edges
from arssr_core.metrics.slices import foreground_indices, n_foreground

CAMERA_PSI = 0.5241992388
CAMERA_LPC_SI = 0.9497382692
#: Octave 7.3 on Colin27 ch2bet min-max mapped to 0-255: (PSI of the slice rounded
#: to uint8, LPC-SI of the float slice). Odd sizes exercise Kovesi's odd-size grid.
COLIN_SLICES = {
    "axial z=90 (181x217)": ((slice(None), slice(None), 90), 0.309275976791, 0.942041850333),
    "sagittal x=90 (217x181)": ((90,), 0.349930970317, 0.921099015513),
}


@pytest.fixture(scope="module")
def colin() -> np.ndarray:
    """Colin27 (181 x 217 x 181) min-max mapped to [0, 255], float64."""
    v = nib.load(source_path("colin27", "ch2bet.nii.gz")).get_fdata()
    return (v - v.min()) / (v.max() - v.min()) * 255


@pytest.fixture(scope="module")
def crop(colin) -> np.ndarray:
    """A 100 x 110 x 100 crop of Colin27 in [0, 1] (every side >= 96 for PSI)."""
    return colin[40:140, 50:160, 40:140] / 255


def _png(name: str) -> np.ndarray:
    from PIL import Image

    img = np.asarray(Image.open(Path(__file__).parent / "data" / "lpips" / f"{name}.png").convert("RGB"))
    return img.transpose(2, 0, 1)[None].astype(np.float32) / 127.5 - 1


# ---------------------------------------------------------------- reference values


def test_psi_camera_matches_octave():
    assert psi(skdata.camera()) == pytest.approx(CAMERA_PSI, abs=1e-6)


def test_lpc_si_camera_matches_octave():
    cam = skdata.camera()
    assert lpc_si(cam) == pytest.approx(CAMERA_LPC_SI, abs=1e-6)
    assert lpc_si(cam.astype(np.float64)) == pytest.approx(CAMERA_LPC_SI, abs=1e-6)


@pytest.mark.parametrize("name", list(COLIN_SLICES))
def test_sharpness_colin_slices_match_octave(colin, name):
    index, ref_psi, ref_lpc = COLIN_SLICES[name]
    sl = colin[index]
    assert psi(np.floor(sl + 0.5).astype(np.uint8)) == pytest.approx(ref_psi, abs=1e-6)
    assert lpc_si(sl) == pytest.approx(ref_lpc, abs=1e-6)


def test_sobel_thinning_is_octaves():
    # strict local maximum horizontally OR vertically; ties are not maxima
    img = np.zeros((9, 9), np.uint8)
    img[:, 5:] = 200
    e = sobel_edges(img)
    assert e.dtype == bool and e.shape == img.shape
    # the step gives two equal strength columns (4 and 5): neither is a strict maximum
    # across, but along the column they are flat too, so no edge at all
    assert not e.any()
    img[4, 5:] = 100  # break the vertical tie on row 4
    assert sobel_edges(img).any()


def test_lpips_linear_weights_equal_lpips_package():
    assert linear_weights_match()


def test_lpips_reference_example_pair():
    ref, p0, p1 = _png("ex_ref"), _png("ex_p0"), _png("ex_p1")
    assert lpips_images(ref, p0)[0] == pytest.approx(0.722, abs=1e-3)
    assert lpips_images(ref, p1)[0] == pytest.approx(0.138, abs=1e-3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_lpips_cuda_without_gpu_is_clear():
    with pytest.raises(RequestError, match="no CUDA device"):
        get_model("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_lpips_cuda_matches_cpu(crop):
    blurred = gaussian_filter(crop, 1.0)
    cpu = lpips(blurred, crop, stride=10, device="cpu")
    gpu = lpips(blurred, crop, stride=10, device="cuda")
    assert gpu == pytest.approx(cpu, abs=1e-4)


# ------------------------------------------------------------------------ identities


def test_identical_volumes(crop):
    assert psnr(crop, crop) == math.inf
    assert ssim(crop, crop) == pytest.approx(1.0)
    assert lpips(crop, crop, stride=12) == pytest.approx(0.0, abs=1e-7)
    labels = np.digitize(crop, [0.1, 0.5])
    assert dice(labels, labels) == {1: 1.0, 2: 1.0}


def test_evaluate_identical_and_keys(crop):
    out = evaluate(crop, crop, stride=12)
    assert set(out) == {"psnr", "ssim", "lpips", "psi", "lpc_si"}
    assert out["psnr"] == math.inf and out["ssim"] == pytest.approx(1.0)
    assert out["lpips"] == pytest.approx(0.0, abs=1e-7)
    nr = evaluate_no_reference(crop, stride=12)
    assert nr == pytest.approx({"psi": out["psi"], "lpc_si": out["lpc_si"]})


def test_evaluate_normalises_each_volume(crop):
    sr = gaussian_filter(crop, 1.0)
    metrics = ("psnr", "ssim", "psi")
    a = evaluate(sr, crop, metrics=metrics, stride=12)
    b = evaluate(3 * sr + 7, 100 * crop - 5, metrics=metrics, stride=12)
    assert a == pytest.approx(b, rel=1e-9)
    mm = lambda x: (x - x.min()) / np.ptp(x)  # noqa: E731
    assert a["psnr"] == pytest.approx(psnr(mm(sr), mm(crop)), rel=1e-12)


def test_psnr_value():
    gt = np.zeros((8, 8, 8))
    gt[0, 0, 0] = 2.0
    sr = gt + 0.1
    assert psnr(sr, gt) == pytest.approx(10 * math.log10(4 / 0.01))
    assert psnr(sr, gt, data_range=1.0) == pytest.approx(20.0)


def test_mask_restricts_psnr_and_ssim_to_voxels(crop):
    mask = np.zeros(crop.shape, bool)
    mask[20:60, 30:70, 20:60] = True
    sr = crop.copy()
    sr[:10] += 0.2  # far (> 3 voxels) from the mask
    assert psnr(sr, crop, mask=mask) == math.inf
    assert ssim(sr, crop, mask=mask) == pytest.approx(1.0)
    blurred = gaussian_filter(crop, 1.0)
    _, smap = structural_similarity(crop, blurred, data_range=np.ptp(crop), full=True)
    assert ssim(blurred, crop, mask=mask) == pytest.approx(smap[mask].mean(), rel=1e-12)
    with pytest.raises(DataError, match="empty"):
        psnr(sr, crop, mask=np.zeros(crop.shape))
    with pytest.raises(DataError, match="mask has shape"):
        ssim(sr, crop, mask=mask[:-1])


def test_dice_values():
    a = np.array([[1, 1, 2, 0]])
    b = np.array([[1, 0, 2, 2]])
    d = dice(a, b, [1, 2, 3])
    assert d[1] == pytest.approx(2 / 3) and d[2] == pytest.approx(2 / 3)
    assert math.isnan(d[3])  # absent from both: undefined, documented
    assert set(dice(a, b)) == {1, 2}


# --------------------------------------------------------------- sharpness ordering


def test_blurred_slice_is_less_sharp(colin):
    sl = colin[:, :, 90]
    blurred = gaussian_filter(sl, 1.5)
    u8 = lambda x: np.floor(x + 0.5).astype(np.uint8)  # noqa: E731
    assert psi(u8(blurred)) < psi(u8(sl))
    assert lpc_si(blurred) < lpc_si(sl)


def test_blurred_volume_is_less_sharp(crop):
    blurred = gaussian_filter(crop, 1.5)
    assert psi(blurred, ref=crop, stride=10) < psi(crop, stride=10)
    assert lpc_si(blurred, ref=crop, stride=10) < lpc_si(crop, stride=10)
    assert lpips(blurred, crop, stride=10) > 0.05


def test_foreground_slices_and_stride():
    v = np.zeros((10, 12, 14))
    v[2:5, 3:9, 4:6] = 1.0
    assert foreground_indices(v, 0).tolist() == [2, 3, 4]
    assert foreground_indices(v, 1, stride=2).tolist() == [3, 5, 7]
    assert n_foreground(v) == 3 + 6 + 2
    with pytest.raises(DataError, match="stride"):
        foreground_indices(v, 0, stride=0)


# ---------------------------------------------------------------------- clear errors


@pytest.mark.parametrize("fn", [psnr, ssim, lpips, evaluate])
def test_shape_mismatch_is_clear(fn, crop):
    with pytest.raises(DataError, match="shape mismatch"):
        fn(crop[:-1], crop)


def test_dice_shape_mismatch_is_clear():
    with pytest.raises(DataError, match="shape mismatch"):
        dice(np.zeros((3, 3), int), np.zeros((3, 4), int), [1])


@pytest.mark.parametrize("fn", [psnr, ssim, lpips, evaluate])
def test_nan_is_clear(fn, crop):
    bad = crop.copy()
    bad[5, 5, 5] = np.nan
    with pytest.raises(DataError, match="NaN"):
        fn(bad, crop)


@pytest.mark.parametrize("fn", [psi, lpc_si])
def test_nan_sharpness_is_clear(fn):
    img = np.zeros((100, 100))
    img[3, 3] = np.nan
    with pytest.raises(DataError, match="NaN"):
        fn(img)


@pytest.mark.parametrize("fn", [psnr, ssim, lpips])
def test_constant_gt_is_clear(fn):
    gt = np.full((40, 40, 40), 3.0)
    with pytest.raises(DataError, match="constant"):
        fn(gt + 1, gt)


def test_constant_volume_has_no_foreground():
    with pytest.raises(DataError, match="constant"):
        psi(np.ones((100, 100, 100)))
    with pytest.raises(DataError, match="constant"):
        evaluate_no_reference(np.ones((100, 100, 100)))


def test_constant_image_scores_zero_documented():
    assert psi(np.full((128, 128), 7, np.uint8)) == 0.0
    assert lpc_si(np.full((128, 128), 7.0)) == 0.0


def test_constant_sr_under_varying_gt_scores_zero(crop):
    sr = np.zeros_like(crop)
    assert psi(sr, ref=crop, stride=20) == 0.0
    assert lpc_si(sr, ref=crop, stride=20) == 0.0


def test_small_or_wrong_inputs_are_clear():
    with pytest.raises(DataError, match="at least 96"):
        psi(np.zeros((64, 200), np.uint8))
    with pytest.raises(DataError, match="at least 16"):
        lpc_si(np.zeros((8, 200)))
    with pytest.raises(DataError, match="at least 31"):
        lpips(np.random.rand(20, 40), np.random.rand(20, 40))
    with pytest.raises(DataError, match="at least 7"):
        ssim(np.random.rand(5, 20, 20), np.random.rand(5, 20, 20))
    with pytest.raises(DataError, match="8-bit"):
        psi(np.random.rand(100, 100))
    with pytest.raises(DataError, match="2D or 3D"):
        psnr(np.zeros(5), np.zeros(5))
    with pytest.raises(DataError, match="3D"):
        evaluate(np.zeros((40, 40)), np.zeros((40, 40)))
    with pytest.raises(DataError, match="dtype"):
        psnr(np.zeros((4, 4), complex), np.zeros((4, 4), complex))
    with pytest.raises(DataError, match="unknown metric"):
        evaluate(np.random.rand(8, 8, 8), np.random.rand(8, 8, 8), metrics=("fid",))


def test_gradient_energy_ratio_is_one_for_the_truth_k2_for_a_gain_and_below_one_for_a_blur():
    from scipy.ndimage import gaussian_filter1d

    from arssr_core.errors import DataError
    from arssr_core.metrics.gradients import gradient_energy_ratio

    z = np.arange(40)
    ref = np.broadcast_to(0.5 + 0.4 * np.sin(2 * np.pi * z / 8), (6, 5, 40)).astype(np.float64).copy()
    assert gradient_energy_ratio(ref, ref, axis=2) == pytest.approx(1.0)
    # a gain of 1.5 about the mean: differences scale by 1.5, energy by 2.25
    assert gradient_energy_ratio(0.5 + 1.5 * (ref - 0.5), ref, axis=2) == pytest.approx(2.25)
    # a sine of period 8 through a Gaussian of sigma 1: amplitude exp(-(2 pi / 8)^2 / 2), energy its square
    blurred = gaussian_filter1d(ref, 1.0, axis=2, mode="wrap")
    assert gradient_energy_ratio(blurred, ref, axis=2) == pytest.approx(np.exp(-(2 * np.pi / 8) ** 2), rel=1e-3)
    with pytest.raises(DataError, match="does not change along axis 0"):
        gradient_energy_ratio(ref, ref, axis=0)
    with pytest.raises(DataError, match="axis 3"):
        gradient_energy_ratio(ref, ref, axis=3)


def test_the_sharpness_indices_per_slice_average_to_the_volume_index(mni_volume):
    """PSI and LPC-SI of a volume are the means of their per-slice values (what the paired slice
    bootstrap resamples), slice for slice the same foreground slices."""
    from arssr_core.metrics.sharpness import lpc_si, psi, sharpness_slices

    c = [n // 2 for n in mni_volume.shape]
    vol = np.ascontiguousarray(mni_volume[tuple(slice(m - 50, m + 50) for m in c)])
    for kind, whole in (("psi", psi), ("lpc_si", lpc_si)):
        per = sharpness_slices(vol, kind, ref=vol, stride=10)
        assert per.ndim == 1 and len(per) > 3
        assert float(per.mean()) == pytest.approx(whole(vol, ref=vol, stride=10), rel=1e-12)
