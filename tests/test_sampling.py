"""Training samples (arssr_core.data.sampling) and the coordinate convention
(arssr_core.data.coords): shapes at every scale 2.0..4.0, coordinates and values tied to
the HR patch, reproducibility from (seed, epoch, index), and exact trilinear lookups of a
linear ramp through the coordinate convention and grid_sample."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from arssr_core.data.coords import axis_centres, coords_of_indices, make_coords, sample_volume
from arssr_core.data.degrade import downsample, resize_cubic
from arssr_core.data.sampling import (Anisotropic, ArSSRPatches, BaselinePatches, collate, draw_anisotropic,
                                      draw_scale, fixed_samples, random_crop)

pytestmark = pytest.mark.usefixtures("one_thread")

SCALES = [round(2.0 + 0.1 * i, 1) for i in range(21)]


def indices_of_coords(coords: np.ndarray, shape) -> np.ndarray:
    """Inverse of coords_of_indices: (K, 3) coordinates -> nearest integer voxel indices."""
    n = np.asarray(shape, dtype=np.float64)
    return np.rint(((coords.astype(np.float64) + 1.0) * n - 1.0) / 2.0).astype(int)


def test_the_papers_scale_draw_hits_every_tenth_from_2_to_4():
    rng = np.random.default_rng(0)
    drawn = {draw_scale(rng) for _ in range(3000)}
    assert drawn == {round(2.0 + 0.1 * i, 1) for i in range(21)}  # round(U(2, 4.04), 1): 4.0 included, 4.1 never


@pytest.mark.parametrize("scale", SCALES)
def test_every_scale_gives_10_cubed_lr_from_round_10s_hr(scale, mni_crop):
    """At each scale: LR 10^3 from the first round(10 s)^3 voxels of a random 40^3 crop; the
    coordinates are HR cell centres in (-1, 1), the values the HR voxels there, and the LR
    the paper's cubic zoom of that HR patch."""
    ds = ArSSRPatches([mni_crop], samples_per_volume=1, crop=40, lr_size=10, k=600, seed=3)
    rng = np.random.default_rng([3, 0, 0])
    twin = copy.deepcopy(rng)
    item = ds.make(rng, ds.volumes[0], scale)
    n = int(round(10 * scale))
    # the same draws again, by hand: crop, then the HR patch = its first n voxels per axis
    hr = random_crop(ds.volumes[0], (40,) * 3, twin)[:n, :n, :n]
    assert hr.shape == (n,) * 3

    assert item["lr"].shape == (1, 10, 10, 10) and item["lr"].dtype == torch.float32
    np.testing.assert_array_equal(item["lr"][0].numpy(), downsample(hr, scale))
    c, v = item["coords"].numpy(), item["values"].numpy()
    assert c.shape == (600, 3) and v.shape == (600,) and c.dtype == np.float32
    assert np.all(c > -1) and np.all(c < 1)
    idx = indices_of_coords(c, hr.shape)
    assert np.all(idx >= 0) and np.all(idx < n)
    np.testing.assert_array_equal(coords_of_indices(idx, hr.shape), c)  # exactly cell centres
    assert len({tuple(i) for i in idx}) == 600  # drawn without replacement
    np.testing.assert_array_equal(v, hr[tuple(idx.T)])
    assert item["scale"].tolist() == pytest.approx([scale] * 3)  # per axis


def test_k_queries_cover_a_small_patch_then_repeat(mni_crop):
    """At scale 2 the HR patch has 20^3 = 8000 voxels: k=8000 takes every one exactly once; a
    patch of 8^3 = 512 voxels gives each once and then repeats, 8000 queries in all."""
    ds = ArSSRPatches([mni_crop], crop=40, lr_size=10, k=8000)
    item = ds.make(np.random.default_rng(0), ds.volumes[0], 2.0)
    idx = indices_of_coords(item["coords"].numpy(), (20, 20, 20))
    assert len({tuple(i) for i in idx}) == 8000
    item = ArSSRPatches([mni_crop], crop=40, lr_size=4, k=8000).make(np.random.default_rng(0), mni_crop, 2.0)
    assert item["coords"].shape == (8000, 3)
    idx = indices_of_coords(item["coords"].numpy(), (8, 8, 8))
    assert len({tuple(i) for i in idx}) == 512 and len({tuple(i) for i in idx[:512]}) == 512


def test_samples_are_reproducible_from_seed_epoch_index(mni_crop):
    kw = dict(samples_per_volume=3, crop=24, lr_size=6, k=300, min_foreground=0.3, augment=True)
    a = ArSSRPatches([mni_crop, mni_crop[::-1].copy()], seed=7, **kw)
    b = ArSSRPatches([mni_crop, mni_crop[::-1].copy()], seed=7, **kw)
    assert len(a) == 6
    for i in (0, 4):
        x, y = a[i], b[i]
        assert all(torch.equal(x[k], y[k]) for k in x)
        assert all(torch.equal(x[k], a[i][k]) for k in x)  # and again from the same object
    # the order of access does not matter
    b.set_epoch(3)
    later = b[5]
    a.set_epoch(3)
    for i in range(6):
        a[i]
    assert all(torch.equal(later[k], a[5][k]) for k in later)
    # another epoch, index or seed gives another sample
    a.set_epoch(0)
    b.set_epoch(1)
    assert not torch.equal(a[0]["coords"], b[0]["coords"])
    assert not torch.equal(a[0]["coords"], a[1]["coords"])
    c = ArSSRPatches([mni_crop, mni_crop[::-1].copy()], seed=8, **kw)
    assert not torch.equal(a[0]["coords"], c[0]["coords"])


def test_fixed_samples_do_not_depend_on_the_epoch(mni_crop):
    ds = ArSSRPatches([mni_crop], samples_per_volume=4, crop=24, lr_size=6, k=100)
    v1 = fixed_samples(ds, 6)
    ds.set_epoch(17)
    v2 = fixed_samples(ds, 6)
    assert ds.epoch == 17
    assert len(v1) == 6
    for x, y in zip(v1, v2):
        assert all(torch.equal(x[k], y[k]) for k in x)
    assert not torch.equal(v1[0]["coords"], ds[0]["coords"])  # not a training sample


def test_collate_stacks_samples(mni_crop):
    ds = ArSSRPatches([mni_crop], samples_per_volume=3, crop=24, lr_size=6, k=100)
    batch = collate([ds[i] for i in range(3)])
    assert batch["lr"].shape == (3, 1, 6, 6, 6)
    assert batch["coords"].shape == (3, 100, 3) and batch["values"].shape == (3, 100)
    assert batch["scale"].shape == (3, 3)  # (batch, axis)


@pytest.mark.parametrize("scale", [2.0, 2.5, 3.0, 4.0])
def test_baseline_patches(scale, mni_crop):
    ds = BaselinePatches([mni_crop], scale=scale, samples_per_volume=2, patch=24, seed=1)
    item = ds[1]
    n = ds.n
    assert abs(n - 24) <= scale / 2 + 1e-9 and ds.lr_n == round(24 / scale)
    assert item["inp"].shape == item["target"].shape == (1, n, n, n)
    hr = item["target"][0].numpy()
    # target: an HR crop of the volume; input: its degraded-then-cubic-upsampled copy
    np.testing.assert_array_equal(item["inp"][0].numpy(), resize_cubic(downsample(hr, scale), hr.shape))
    assert downsample(hr, scale).shape == (ds.lr_n,) * 3
    again = BaselinePatches([mni_crop], scale=scale, samples_per_volume=2, patch=24, seed=1)[1]
    assert torch.equal(again["inp"], item["inp"])


# ---------------------------------------------------------------- coordinate convention


def test_cell_centres():
    np.testing.assert_allclose(axis_centres(4), [-0.75, -0.25, 0.25, 0.75])
    g = make_coords((2, 3, 4), flatten=False)
    assert g.shape == (2, 3, 4, 3)
    np.testing.assert_allclose(g[1, 2, 3], [0.5, 2 / 3, 0.75], rtol=1e-6)  # array-index order
    np.testing.assert_allclose(make_coords((2, 3, 4))[-1], g[1, 2, 3])
    idx = np.array([[0, 0, 0], [1, 2, 3]])
    np.testing.assert_allclose(coords_of_indices(idx, (2, 3, 4)), [g[0, 0, 0], g[1, 2, 3]], rtol=1e-6)


def test_linear_ramp_is_sampled_exactly_at_interior_points():
    """A linear function of the coordinates, stored at cell centres of a non-cubic grid,
    is read back exactly (trilinear interpolation is exact on linear functions) at
    arbitrary points between the outermost centres: checks the coordinate convention,
    the axis order that grid_sample wants and align_corners=False together."""
    shape = (5, 7, 9)
    a = np.array([0.7, -1.3, 2.1])
    grid = make_coords(shape, flatten=False).astype(np.float64)
    vol = grid @ a + 0.25
    g = torch.Generator().manual_seed(0)
    lo = torch.tensor([-1 + 1 / n for n in shape], dtype=torch.float64)
    hi = -lo
    pts = lo + (hi - lo) * torch.rand(2, 400, 3, generator=g, dtype=torch.float64)
    vols = torch.from_numpy(np.stack([vol, 2 * vol]))[:, None]  # (2, 1, 5, 7, 9)
    out = sample_volume(vols, pts)
    assert out.shape == (2, 1, 400)
    want = pts @ torch.from_numpy(a) + 0.25
    torch.testing.assert_close(out[0, 0], want[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(out[1, 0], 2 * want[1], rtol=0, atol=1e-6)
    # in float32, as the model uses it
    out32 = sample_volume(vols.float(), pts.float())
    torch.testing.assert_close(out32[:, 0], (want * torch.tensor([[1.0], [2.0]], dtype=torch.float64)).float(),
                               rtol=0, atol=2e-6)
    # at the cell centres themselves: the stored values
    centres = torch.from_numpy(make_coords(shape))[None].double()
    torch.testing.assert_close(sample_volume(vols[:1], centres)[0, 0], torch.from_numpy(vol.reshape(-1)),
                               rtol=0, atol=1e-6)


def test_each_axis_is_read_in_array_order():
    """A ramp along one array axis at a time: the sample varies with that coordinate only."""
    shape = (4, 6, 8)
    for ax in range(3):
        vol = np.broadcast_to(np.expand_dims(axis_centres(shape[ax]), [d for d in range(3) if d != ax]), shape)
        pts = torch.zeros(1, 3, 3, dtype=torch.float64)
        pts[0, :, ax] = torch.tensor([-0.5, 0.1, 0.6])
        out = sample_volume(torch.from_numpy(vol.copy())[None, None], pts)[0, 0]
        torch.testing.assert_close(out, torch.tensor([-0.5, 0.1, 0.6], dtype=torch.float64), rtol=0, atol=1e-6)


def test_lr_and_hr_grids_share_the_field_of_view():
    """Down-sampling a smooth ramp: each interior LR voxel holds the ramp's value at its
    own LR cell centre (the LR and HR coordinate frames coincide; no half-voxel shift)."""
    for scale in (2.0, 2.5, 3.0, 4.0):
        n = int(round(10 * scale))
        hr_grid = make_coords((n, n, n), flatten=False).astype(np.float64)
        a = np.array([0.3, -0.2, 0.25])
        hr = (hr_grid @ a + 0.5).astype(np.float32)
        lr = downsample(hr, scale)
        lr_want = make_coords(lr.shape, flatten=False).astype(np.float64) @ a + 0.5
        inner = (slice(3, -3),) * 3  # away from the mirrored borders
        np.testing.assert_allclose(lr[inner], lr_want[inner], atol=2e-3)


THICK = Anisotropic(fraction=1.0, thick=(2.0, 5.04), inplane=(1.0, 4.04), profiles=("cubic", "gaussian", "box"))


def test_anisotropic_samples_have_the_drawn_per_axis_scales(mni_crop):
    """Every thick-slice sample: one axis at the thick factor, the other two at one in-plane
    factor no larger; the HR patch round(6 s) voxels per axis (its cell centres are the
    coordinates); the LR 6^3 is that patch degraded with the drawn slice profile."""
    ds = ArSSRPatches([mni_crop], samples_per_volume=40, lr_size=6, k=50, seed=5, anisotropic=THICK)
    seen_axes, seen_profiles = set(), set()
    for i in range(40):
        rng = ds._rng(i)
        assert rng.random() < 1.0
        scales, profile = draw_anisotropic(rng, THICK)
        item = ds[i]
        s = item["scale"].numpy().astype(float)
        np.testing.assert_allclose(s, scales, atol=1e-6)
        thick = int(np.argmax(s))
        others = np.delete(s, thick)
        assert others[0] == others[1] <= s[thick] and 2.0 <= s[thick] <= 5.0 and 1.0 <= others[0]
        seen_axes.add(thick if s[thick] > others[0] else -1)
        seen_profiles.add(profile)
        n = [int(round(6 * v)) for v in scales]
        hr = random_crop(ds.volumes[0], n, rng)
        np.testing.assert_array_equal(item["lr"][0].numpy(), downsample(hr, scales, profile=profile))
        idx = indices_of_coords(item["coords"].numpy(), n)
        np.testing.assert_array_equal(coords_of_indices(idx, n), item["coords"].numpy())
        np.testing.assert_array_equal(item["values"].numpy(), hr[tuple(idx.T)])
    assert {0, 1, 2} <= seen_axes and seen_profiles == {"cubic", "gaussian", "box"}


def test_anisotropic_fraction_mixes_in_the_papers_isotropic_draw(mni_crop):
    half = Anisotropic(fraction=0.5, thick=(2.0, 5.04), inplane=(1.0, 4.04))
    ds = ArSSRPatches([mni_crop], samples_per_volume=200, lr_size=4, k=10, seed=1, anisotropic=half)
    n_thick = 0
    for i in range(200):
        rng = ds._rng(i)
        if rng.random() < 0.5:
            want, n_thick = list(draw_anisotropic(rng, half)[0]), n_thick + 1
        else:
            want = [draw_scale(rng)] * 3  # the paper's draw, on the same generator
        assert ds[i]["scale"].tolist() == pytest.approx(want)
    assert 70 < n_thick < 130
    plain = ArSSRPatches([mni_crop], samples_per_volume=3, lr_size=4, k=10, seed=1)
    assert all(len(set(plain[i]["scale"].tolist())) == 1 for i in range(3))


def test_thick_axis_only_where_the_volume_is_deep_enough():
    slab = np.random.default_rng(0).random((60, 20, 60)).astype(np.float32)  # 20 < round(6 * 5.04)
    ds = ArSSRPatches([slab], samples_per_volume=30, lr_size=6, k=10, anisotropic=THICK)
    for i in range(30):
        s = ds[i]["scale"].numpy()
        assert s[1] <= s[0] and s[1] <= s[2]  # axis 1 never the thick one
    with pytest.raises(ValueError, match="too small"):
        ArSSRPatches([slab[:20, :, :20]], lr_size=6, anisotropic=THICK)
    with pytest.raises(ValueError, match="slice profiles"):
        Anisotropic(profiles=("sinc",))
