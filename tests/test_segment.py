"""Six-region ANTs segmentation (arssr_core.segment), on the real Colin27 at 2 mm.

The registration runs once per test session (module-scoped fixture, about 15 s on 2 idle
cores at 2 mm) plus once more to check it repeats; each Atropos run takes about 5 s at 2 mm.
"""

from __future__ import annotations


import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from arssr_core import segment as seg
from arssr_core.errors import DataError

BIG_REGIONS = (1, 2, 3)  # CSF, GM, WM


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two boolean masks (1.0 when both are empty)."""
    inter = np.logical_and(a, b).sum()
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * inter / total)


@pytest.fixture(scope="module")
def colin2mm() -> tuple[np.ndarray, np.ndarray]:
    """Colin27 ch2bet low-passed and taken every 2nd voxel: (91, 109, 91) at 2 mm, in [0, 1]."""
    from arssr_core.data.sources import source_path

    img = nib.as_closest_canonical(nib.load(source_path("colin27", "ch2bet.nii.gz")))
    vol = np.asarray(img.dataobj, dtype=np.float32)
    vol = ndimage.gaussian_filter(vol, 0.85)[::2, ::2, ::2]
    affine = img.affine.copy()
    affine[:3, :3] *= 2  # voxel i of the new grid is voxel 2i of the old: origin unchanged
    vol = (vol - vol.min()) / (vol.max() - vol.min())
    return vol, affine


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("segcache")


@pytest.fixture(scope="module")
def priors(colin2mm, cache) -> seg.AtlasPriors:
    vol, affine = colin2mm
    return seg.register_atlas(vol, affine, cache)


@pytest.fixture(scope="module")
def labels(colin2mm, priors) -> np.ndarray:
    vol, affine = colin2mm
    return seg.segment(vol, affine, priors)


def test_fold_neuromorphometrics_mapping():
    lab = np.array([0, 4, 11, 46, 49, 52, 44, 45, 23, 30, 36, 37, 55, 62, 35, 38, 41, 71, 73, 31, 47, 100, 207])
    want = [0, 1, 1, 1, 1, 1, 3, 3, 4, 4, 4, 4, 4, 4, 5, 6, 6, 6, 6, 2, 2, 2, 2]
    assert seg.fold_neuromorphometrics(lab).tolist() == want
    assert set(seg.REGION_NAMES) == set(seg.REGION_COLOURS) == set(range(1, 7))


def test_to_ants_matches_nifti_reader(tmp_path):
    import ants

    rng = np.random.default_rng(0)
    vol = rng.random((9, 10, 11), dtype=np.float32)
    affine = np.array([[-1.5, 0, 0, 30], [0, 0, 2.0, -40], [0, 1.2, 0, 12], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(vol, affine), tmp_path / "v.nii.gz")
    ref = ants.image_read(str(tmp_path / "v.nii.gz"))
    mine = seg.to_ants(vol, affine)
    np.testing.assert_allclose(mine.origin, ref.origin, atol=1e-5)
    np.testing.assert_allclose(mine.spacing, ref.spacing, atol=1e-5)
    np.testing.assert_allclose(mine.direction, ref.direction, atol=1e-5)
    np.testing.assert_array_equal(mine.numpy(), ref.numpy())


def test_colin27_six_regions_ordered_by_t1_contrast(colin2mm, priors, labels):
    vol, _ = colin2mm
    assert labels.dtype == np.uint8 and labels.shape == vol.shape
    assert set(np.unique(labels)) == set(range(7))
    assert (labels[~priors.mask] == 0).all() and (labels[priors.mask] > 0).all()
    counts = {seg.REGION_NAMES[k]: int((labels == k).sum()) for k in range(1, 7)}
    assert min(counts.values()) > 100, counts
    means = seg.region_means(vol, labels)
    assert means["CSF"] < means["GM"] < means["WM"], means
    # GM is the largest region of a cerebrum, the brainstem the smallest here.
    assert counts["GM"] == max(counts.values()), counts


def test_noise_changes_little(colin2mm, priors, labels):
    vol, affine = colin2mm
    rng = np.random.default_rng(1)
    noisy = vol + rng.normal(0, 0.01, vol.shape).astype(np.float32)
    noisy_labels = seg.segment(noisy, affine, priors)
    d = {seg.REGION_NAMES[k]: dice(labels == k, noisy_labels == k) for k in range(1, 7)}
    print("Dice, noise sigma 0.01:", {k: round(v, 4) for k, v in d.items()})
    for k in BIG_REGIONS:
        assert d[seg.REGION_NAMES[k]] > 0.8, d
    assert min(d.values()) > 0.6, d


def test_segmentation_is_deterministic(colin2mm, priors, labels):
    vol, affine = colin2mm
    np.testing.assert_array_equal(seg.segment(vol, affine, priors), labels)


def test_registration_repeats_exactly(colin2mm, priors):
    """The default (one ITK thread, fixed seed) registration gives the same priors again."""
    vol, affine = colin2mm
    again = seg.register_atlas(vol, affine, None)
    assert not again.from_cache
    np.testing.assert_array_equal(again.priors, priors.priors)


def test_registration_cached_and_reused(colin2mm, priors, cache, monkeypatch):
    vol, affine = colin2mm
    path = seg.cache_file(cache, priors.key)
    assert path.exists() and not priors.from_cache

    def no_registration(*a, **k):
        raise AssertionError("registered again although the cache holds this subject")

    monkeypatch.setattr(seg, "_priors_in_subject", no_registration)
    monkeypatch.setattr(seg, "_priors_single_thread", no_registration)
    again = seg.register_atlas(vol.copy(), affine.copy(), cache)  # a registration would raise above
    assert again.from_cache and again.key == priors.key
    np.testing.assert_array_equal(again.priors, priors.priors)
    np.testing.assert_array_equal(again.mask, priors.mask)
    # another volume (or grid) is another subject: not served from this cache entry
    assert seg.subject_key(vol * 0.5, affine) != priors.key
    shifted = affine.copy()
    shifted[0, 3] += 1
    assert seg.subject_key(vol, shifted) != priors.key


def test_priors_are_probabilities(priors):
    assert priors.priors.shape == (6, *priors.shape) and priors.priors.dtype == np.float32
    total = priors.priors.sum(axis=0)
    np.testing.assert_allclose(total[priors.mask], 1.0, atol=1e-5)
    assert (total[~priors.mask] == 0).all()


def test_segment_subject_uses_one_registration(colin2mm, priors, cache, labels, monkeypatch):
    vol, affine = colin2mm
    calls = []
    real = seg.register_atlas
    monkeypatch.setattr(seg, "register_atlas", lambda *a, **k: calls.append(1) or real(*a, **k))
    out = seg.segment_subject(vol, affine, {"same": vol.copy()}, cache)
    assert calls == [1] and set(out) == {"gt", "same"}
    np.testing.assert_array_equal(out["gt"], labels)
    np.testing.assert_array_equal(out["same"], labels)


def test_bad_input_is_a_clear_data_error(colin2mm, priors):
    vol, affine = colin2mm
    with pytest.raises(DataError, match=r"shape \(90, 109, 91\) does not match"):
        seg.segment(vol[1:], affine, priors)
    nan = vol.copy()
    nan[40, 50, 40] = np.nan
    with pytest.raises(DataError, match="NaN"):
        seg.segment(nan, affine, priors)
    with pytest.raises(DataError, match="NaN"):
        seg.register_atlas(nan, affine, None)
    with pytest.raises(DataError, match="expected a 3D volume"):
        seg.segment(vol[:, :, 40], affine, priors)
    with pytest.raises(DataError, match="expected a 3D volume"):
        seg.register_atlas(vol[:, :, 40], affine, None)
    with pytest.raises(DataError, match="affine differs"):
        bigger = affine.copy()
        bigger[:3, :3] *= 1.1
        seg.segment(vol, bigger, priors)
    with pytest.raises(DataError, match="4x4"):
        seg.segment(vol, np.eye(3), priors)
    with pytest.raises(DataError, match="constant"):
        seg.segment(np.zeros_like(vol), affine, priors)
    with pytest.raises(DataError, match="constant"):
        seg.register_atlas(np.ones_like(vol), affine, None)
    with pytest.raises(DataError, match="result 'sr': shape"):
        seg.segment_subject(vol, affine, {"sr": vol[:-1]}, None)
    with pytest.raises(DataError, match="result 'sr'.*NaN"):
        seg.segment_subject(vol, affine, {"sr": nan}, None)


def test_a_grid_whose_origin_a_nifti_file_rounds_still_segments(colin2mm, priors):
    """A 1.2 mm grid cut at slice 8 has an origin (+9.6 mm) that float32, as a NIfTI file keeps
    it, rounds: Atropos reads its priors back from such files and refused them (the second test
    subject's 112-voxel cube)."""
    import dataclasses

    from arssr_core.study.evaluation import crop_priors

    vol, affine = colin2mm
    aniso = affine.copy()
    aniso[:3, :3] = np.diag([0.9375, 0.9375, 1.2])
    aniso[:3, 3] = [-70.3, -102.1, -61.7]
    moved = dataclasses.replace(priors, affine=aniso)
    box = (slice(4, 84), slice(4, 100), slice(8, 80))
    p = crop_priors(moved, box)
    lab = seg.segment(np.ascontiguousarray(vol[box]), p.affine, p)
    assert lab.shape == p.shape and set(np.unique(lab)) == set(range(7))
