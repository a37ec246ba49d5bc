"""The training loop (arssr_core.train): exact resume after an interruption (simulated
with ``stop_after`` and a real SIGKILL), its outputs (history, validation, best.pt), the
loud dead-start check, a baseline run, and DDP on the CPU under torchrun (2 ranks equal
one process on the same global batches)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from arssr_core.checkpoint import load_model, read_checkpoint
from arssr_core.data.sampling import BaselinePatches, fixed_samples
from arssr_core.errors import ArssrError
from arssr_core.models import build_model
from arssr_core.train import (EpochBatches, RunBatches, TrainConfig, batches_per_epoch, checkpoint_finished, load_curves,
                               train, train_config)

sys.path.insert(0, str(Path(__file__).parent))
from ddp_worker import TINY_SPEC, make_data, tiny_config  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def losses(out_dir: Path) -> np.ndarray:
    hist, _ = load_curves(out_dir)
    assert list(hist["step"]) == list(range(1, len(hist) + 1))
    return hist["loss"].to_numpy()


def weights(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["state_dict"]


def test_epoch_batches_shard_the_global_batches():
    single = EpochBatches(10, 4, seed=3, epoch=2).batches
    assert len(single) == 2 and all(len(b) == 4 for b in single)  # last partial batch dropped
    r0 = EpochBatches(10, 4, seed=3, epoch=2, rank=0, world=2).batches
    r1 = EpochBatches(10, 4, seed=3, epoch=2, rank=1, world=2).batches
    for b, x, y in zip(single, r0, r1):
        assert x == b[0::2] and y == b[1::2]
    assert EpochBatches(10, 4, seed=3, epoch=2, start=1).batches == single[1:]
    assert EpochBatches(10, 4, seed=3, epoch=3).batches != single
    with pytest.raises(ValueError):
        batches_per_epoch(3, 4)


def test_resume_continues_with_the_same_losses(tmp_path, mni_crop):
    """Stop after 5 steps (last checkpoint at step 3: steps 4 and 5 are lost as in a kill),
    resume to 10: the same per-step losses and weights as one uninterrupted run; epochs
    (4 batches each) are crossed on the way."""
    cfg = tiny_config(steps=10, batch_size=2, ckpt_every=3, val_every=4)
    ds, val = make_data(mni_crop)
    assert batches_per_epoch(len(ds), cfg.batch_size) == 4

    ref = train(TINY_SPEC, ds, val, cfg, tmp_path / "ref", progress=False)
    assert ref["step"] == 10 and ref["finished"]

    ds2, val2 = make_data(mni_crop)
    part = train(TINY_SPEC, ds2, val2, cfg, tmp_path / "run", progress=False, stop_after=5)
    assert part["step"] == 5 and not part["finished"]
    ckpt = read_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["train_state"]["step"] == 3 and not ckpt["meta"]["finished"]
    assert not checkpoint_finished(tmp_path / "run" / "last.pt", cfg.steps)

    ds3, val3 = make_data(mni_crop)  # a fresh process would rebuild the data
    res = train(TINY_SPEC, ds3, val3, cfg, tmp_path / "run", progress=False, resume=True)
    assert res["step"] == 10 and res["finished"]

    want, got = losses(tmp_path / "ref"), losses(tmp_path / "run")
    assert len(want) == len(got) == 10
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert len(set(np.round(want, 6))) > 5  # the losses do change from step to step
    for k, v in weights(tmp_path / "ref" / "last.pt").items():
        torch.testing.assert_close(weights(tmp_path / "run" / "last.pt")[k], v, rtol=0, atol=1e-6)
    hist, _ = load_curves(tmp_path / "run")
    assert hist["lr"].iloc[2] == pytest.approx(1e-3) and hist["lr"].iloc[3] == pytest.approx(5e-4)  # lr_step 3

    # outputs: validation before step 1, at steps 4, 8 and the last; best.pt loadable; last.pt finished
    for run in ("ref", "run"):
        _, vdf = load_curves(tmp_path / run)
        assert list(vdf["step"]) == [0, 4, 8, 10]
        assert set(vdf.columns) >= {"val_l1", "val_psnr"}
        assert np.isfinite(vdf[["val_l1", "val_psnr"]].to_numpy()).all()
        best, blob = load_model(tmp_path / run / "best.pt", expect=TINY_SPEC)
        assert blob["meta"]["best_step"] in (0, 4, 8, 10)
        assert blob["meta"]["start_val_psnr"] == pytest.approx(vdf["val_psnr"].iloc[0])
        assert blob["meta"]["best_val_psnr"] == pytest.approx(vdf["val_psnr"].max())
        assert checkpoint_finished(tmp_path / run / "last.pt", cfg.steps)
    pd.testing.assert_frame_equal(load_curves(tmp_path / "ref")[1], load_curves(tmp_path / "run")[1], atol=1e-6)

    # resuming a finished run does nothing more
    again = train(TINY_SPEC, ds3, val3, cfg, tmp_path / "run", progress=False, resume=True)
    assert again["step"] == 10 and len(losses(tmp_path / "run")) == 10


def test_resume_after_a_real_kill(tmp_path, mni_crop):
    """Train in a subprocess, SIGKILL it right after its first checkpoint, resume here:
    the losses match an uninterrupted run of the same length."""
    vol = tmp_path / "vol.npy"
    np.save(vol, mni_crop)
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "ddp_worker.py"), "--volume", str(vol),
                             "--out", str(out), "--steps", "1000", "--batch-size", "2", "--ckpt-every", "2",
                             "--val-every", "1000", "--slow", "0.1"],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while not (out / "last.pt").exists():
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    k = int(read_checkpoint(out / "last.pt")["train_state"]["step"])
    assert 2 <= k < 1000
    steps = k + 4
    cfg = tiny_config(steps=steps, batch_size=2, ckpt_every=2, val_every=1000)
    ds, val = make_data(mni_crop)
    res = train(TINY_SPEC, ds, val, cfg, out, progress=False, resume=True)
    assert res["step"] == steps
    ds, val = make_data(mni_crop)
    train(TINY_SPEC, ds, val, cfg, tmp_path / "ref", progress=False)
    np.testing.assert_allclose(losses(out), losses(tmp_path / "ref"), rtol=0, atol=1e-6)
    assert (out / "best.pt").exists() and (out / "validation.csv").exists()


def test_dead_decoder_stops_training_loudly(tmp_path, mni_crop):
    spec = {"name": "arssr-rdn", "args": {**TINY_SPEC["args"],
                                          "decoder_spec": {"name": "arssr_mlp", "args": {"hidden": 32, "out_bias": -100.0}}}}
    ds, val = make_data(mni_crop)
    with pytest.raises(ArssrError, match="zero"):
        train(spec, ds, val, tiny_config(steps=3, batch_size=2), tmp_path, progress=False)


def test_baseline_training_run(tmp_path, mni_crop):
    spec = {"name": "srcnn3d", "args": {"n1": 8, "n2": 4, "scale": 2.0}}
    ds = BaselinePatches([mni_crop], scale=2.0, samples_per_volume=4, patch=8)
    val = fixed_samples(BaselinePatches([mni_crop], scale=2.0, samples_per_volume=2, patch=8, seed=1), 2)
    res = train(spec, ds, val, tiny_config(steps=4, batch_size=2), tmp_path, progress=False)
    assert res["finished"] and res["step"] == 4
    model, blob = load_model(tmp_path / "best.pt", expect=spec)
    assert model.scale == 2.0
    assert np.isfinite(losses(tmp_path)).all() and len(losses(tmp_path)) == 4


def test_train_config_defaults_match_the_cpu_profile_keys():
    from arssr_core.profiles import load_profile

    prof = load_profile("cpu")
    for section in ("arssr", "ablation", "baselines"):
        settings = dict(prof[section]["train"])
        settings["steps"] = 1  # per-model budgets are checked below
        TrainConfig(**settings)  # every key is a TrainConfig field


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_ranks_equal_one_process(tmp_path, mni_crop):
    """torchrun --nproc-per-node 2 on the CPU (gloo): both ranks end with the same weights,
    equal to one process trained on the same global batches (batch 4 = 2 x 2); the logged
    losses (averaged over ranks) equal the single process's; rank 0's validation and
    checkpoints do not stall the other rank."""
    torchrun = VENV_BIN / "torchrun"
    if not torchrun.exists():
        pytest.skip("torchrun not found beside the Python interpreter")
    vol = tmp_path / "vol.npy"
    np.save(vol, mni_crop)
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [str(torchrun), "--nnodes", "1", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(_free_port()), str(ROOT / "tests" / "ddp_worker.py"),
           "--volume", str(vol), "--out", str(out), "--steps", "4", "--batch-size", "4",
           "--ckpt-every", "2", "--val-every", "2"]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]

    s0 = json.loads((out / "summary_rank0.json").read_text())
    s1 = json.loads((out / "summary_rank1.json").read_text())
    assert (s0["rank"], s1["rank"], s0["world"], s1["world"]) == (0, 1, 2, 2)
    assert s0["step"] == s1["step"] == 4
    w0 = torch.load(out / "weights_rank0.pt", weights_only=True)
    w1 = torch.load(out / "weights_rank1.pt", weights_only=True)
    for k in w0:
        torch.testing.assert_close(w1[k], w0[k], rtol=0, atol=1e-7)
    assert read_checkpoint(out / "last.pt")["meta"]["world_size"] == 2
    _, vdf = load_curves(out)
    assert list(vdf["step"]) == [0, 2, 4]  # step 0: the starting point

    ds, val = make_data(mni_crop)
    train(TINY_SPEC, ds, val, tiny_config(steps=4, batch_size=4), tmp_path / "single", progress=False)
    single = weights(tmp_path / "single" / "last.pt")
    torch.manual_seed(0)
    init = build_model(TINY_SPEC).state_dict()  # train() seeds the same way before building
    assert max(float((single[k] - init[k]).abs().max()) for k in init) > 1e-3  # the weights did move
    for k, v in single.items():
        torch.testing.assert_close(w0[k], v, rtol=0, atol=1e-5)
        torch.testing.assert_close(weights(out / "last.pt")[k], v, rtol=0, atol=1e-5)
    np.testing.assert_allclose(losses(out), losses(tmp_path / "single"), rtol=0, atol=1e-5)


# --- budgets in steps, the same weights on a busy machine, a run that did not train stops ---

def test_run_batches_are_the_epoch_batches_end_to_end():
    """One sampler for the run yields epoch after epoch of EpochBatches as (epoch, index)
    keys, from any start step (resume), and stops at the budget."""
    n, bs = 10, 4  # 2 batches per epoch
    flat = [[(e, i) for i in b] for e in range(4) for b in EpochBatches(n, bs, seed=3, epoch=e)]
    assert list(RunBatches(n, bs, 3, 0, 7)) == flat[:7]
    assert list(RunBatches(n, bs, 3, 3, 7)) == flat[3:7]
    assert len(RunBatches(n, bs, 3, 3, 7)) == 4
    ranks = [list(RunBatches(n, bs, 3, 1, 5, rank=r, world=2)) for r in (0, 1)]
    assert [a + b for a, b in zip(*ranks)] != flat[1:5]  # interleaved, not concatenated
    assert [sorted(a + b) for a, b in zip(*ranks)] == [sorted(b) for b in flat[1:5]]


def test_wall_clock_budgets_are_refused_and_every_profile_budget_is_steps():
    from arssr_core.study.experiments import section_config
    from arssr_core.profiles import available, load_profile

    with pytest.raises(ArssrError, match="steps, not minutes"):
        train_config({"steps": 10, "max_minutes": 2.5})
    with pytest.raises(ArssrError, match="unknown training settings"):
        train_config({"steps": 10, "minutes": 2.5})
    for name in available():
        prof = load_profile(name)
        for section, models in (("arssr", ["arssr-rdn"]), ("ablation", prof["ablation"]["encoders"]),
                                ("baselines", prof["baselines"]["models"])):
            for m in models:
                cfg = section_config(prof, section, m)
                assert isinstance(cfg.steps, int) and cfg.steps >= 1, (name, section, m)


def _train_in_subprocess(out: Path, volume: Path, busy: int) -> None:
    """Train the tiny ArSSR for 6 steps (2 threads, a loader worker) in a fresh process,
    with ``busy`` CPU-burning processes running beside it."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    try:
        code = (
            "import sys, numpy as np, torch; sys.path.insert(0, 'tests'); torch.set_num_threads(2)\n"
            "from ddp_worker import TINY_SPEC, make_data, tiny_config\n"
            "from arssr_core.train import train\n"
            f"ds, val = make_data(np.load({str(volume)!r}))\n"
            f"train(TINY_SPEC, ds, val, tiny_config(steps=6, batch_size=2, num_workers=1), {str(out)!r}, progress=False)\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    finally:
        for b in burners:
            b.kill()
            b.wait()


def test_a_step_budget_gives_bit_identical_weights_on_an_idle_and_a_busy_machine(tmp_path, mni_crop):
    vol = tmp_path / "vol.npy"
    np.save(vol, mni_crop)
    _train_in_subprocess(tmp_path / "idle", vol, busy=0)
    _train_in_subprocess(tmp_path / "busy", vol, busy=3)
    a, b = weights(tmp_path / "idle" / "last.pt"), weights(tmp_path / "busy" / "last.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    la, lb = losses(tmp_path / "idle"), losses(tmp_path / "busy")
    assert len(la) == 6 and np.array_equal(la, lb)
    ta = pd.read_csv(tmp_path / "idle" / "history.csv")["time_s"]
    assert (ta.diff().dropna() > 0).all()  # time is recorded with the run, never used to stop it
    meta = read_checkpoint(tmp_path / "busy" / "last.pt")["meta"]
    assert meta["step"] == 6 and meta["precision"] == "fp32" and meta["machine"]["threads"] == 2


def test_the_objective_is_the_plain_l1_loss_with_its_gradients(seeded):
    """Chunked decoder + gathered corners (channels-last) = mean |model(lr, coords) - values|
    with grid_sample, queries beyond the volume (border clamping) included."""
    from arssr_core.models.objective import L1Objective, corner_weights

    model = build_model(TINY_SPEC)
    lr = torch.rand(3, 1, 6, 7, 5)
    coords = torch.rand(3, 50, 3) * 2.4 - 1.2
    values = torch.rand(3, 50)
    ref = torch.nn.functional.l1_loss(model(lr, coords), values)
    ref.backward()
    g_ref = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    loss = L1Objective(model, chunk=16)({"lr": lr, "coords": coords, "values": values})  # 150 = 9 x 16 + 6
    loss.backward()
    assert abs(float(loss.detach()) - float(ref.detach())) < 1e-6
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, g_ref[n], rtol=1e-4, atol=1e-6)
    idx, w = corner_weights(coords[0], (6, 7, 5))
    torch.testing.assert_close(w.sum(-1), torch.ones(50))
    assert int(idx.min()) >= 0 and int(idx.max()) < 6 * 7 * 5


def _lr_zero_run(tmp_path, spec, ds, val, **kw):
    """A run whose optimiser cannot move the weights (lr 0): it never leaves its start."""
    return train(spec, ds, val, tiny_config(steps=4, batch_size=2, lr=0.0, **kw), tmp_path, progress=False,
                 meta={"scale": spec["args"].get("scale")})


def test_a_model_that_did_not_train_stops_with_a_message(tmp_path, mni_crop):
    from arssr_core.train import UntrainedModelError, require_trained, training_verdict

    ds, val = make_data(mni_crop)
    _lr_zero_run(tmp_path / "arssr", TINY_SPEC, ds, val)
    with pytest.raises(UntrainedModelError, match=r"arssr-rdn did not train: after 4 steps .* starting point"):
        require_trained(tmp_path / "arssr" / "best.pt", "arssr.train.steps")
    # a residual baseline that ends no better than its cubic input (where it starts: zero output layer)
    spec = {"name": "rescnn", "args": {"channels": 4, "layers": 3, "scale": 2.0}}
    bds = BaselinePatches([mni_crop], scale=2.0, samples_per_volume=4, patch=8)
    bval = fixed_samples(BaselinePatches([mni_crop], scale=2.0, samples_per_volume=2, patch=8, seed=1), 2)
    _lr_zero_run(tmp_path / "rescnn", spec, bds, bval)
    with pytest.raises(UntrainedModelError, match=r"rescnn x2 did not train: .*(starting point|cubic input).*baselines\.train\.steps"):
        require_trained(tmp_path / "rescnn" / "best.pt", "baselines.train.steps.rescnn")
    # a run without validation
    _lr_zero_run(tmp_path / "noval", TINY_SPEC, ds, [])
    with pytest.raises(UntrainedModelError, match="validation never ran"):
        require_trained(tmp_path / "noval" / "best.pt")
    # the rule itself, on records
    assert training_verdict({"best_val_psnr": 27.0, "start_val_psnr": 26.0}) is None
    assert "no better" in training_verdict({"best_val_psnr": 26.04, "start_val_psnr": 26.0})
    assert "cubic input" in training_verdict({"best_val_psnr": 27.0, "start_val_psnr": 20.0,
                                              "interp_val_psnr": 27.5, "residual": True})
    assert training_verdict({"best_val_psnr": 27.0, "start_val_psnr": 20.0, "interp_val_psnr": 27.5}) is None


def test_a_model_that_did_not_train_stops_the_notebook_call(tmp_path, monkeypatch):
    """The experiments' train call (what notebooks 01, 02 and 07 run) raises the message."""
    import arssr_core.study.experiments as ex
    from arssr_core.train import UntrainedModelError

    monkeypatch.setattr(ex, "checkpoints_dir", lambda profile: tmp_path)
    with pytest.raises(UntrainedModelError, match=r"srcnn3d x2 did not train.*baselines\.train\.steps"):
        ex.train_baseline("smoke", "srcnn3d", 2.0, progress=False, overrides={"baselines.train.lr": 0.0, "require_trained": True})
    # the smoke profile's tiny networks are exempt (they check plumbing, not models)
    ex.train_baseline("smoke", "srcnn3d", 3.0, progress=False, overrides={"baselines.train.lr": 0.0})


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_trains_with_the_loss_scaler_only_for_fp16(precision, tmp_path, mni_crop, monkeypatch):
    """bf16 autocast trains without a loss scaler (on the CPU as on CUDA); fp16 (CUDA only)
    goes through GradScaler, enabled; both give finite losses and move the weights."""
    import arssr_core.train as tr

    if precision == "fp16" and not torch.cuda.is_available():
        pytest.skip("fp16 training needs CUDA")
    if precision == "bf16":
        monkeypatch.setattr(tr, "pick_precision", lambda p, d: "bf16")  # also where bf16 is emulated (slow, tiny net)
    seen = []
    real = torch.amp.GradScaler

    def spy(*a, **k):
        s = real(*a, **k)
        seen.append(s.is_enabled())
        return s

    monkeypatch.setattr(torch.amp, "GradScaler", spy)
    ds, val = make_data(mni_crop)
    res = train(TINY_SPEC, ds, val, tiny_config(steps=3, batch_size=2, precision=precision), tmp_path, progress=False)
    assert res["finished"] and np.isfinite(losses(tmp_path)).all()
    assert seen == [precision == "fp16"]
    assert read_checkpoint(tmp_path / "last.pt")["meta"]["precision"] == precision
    start = build_model(TINY_SPEC)
    assert any(not torch.equal(a, b) for a, b in zip(weights(tmp_path / "last.pt").values(), start.state_dict().values()))
