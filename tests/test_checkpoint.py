"""Checkpoints: bit-exact round trip under ``weights_only=True``; another model's (or
configuration's) checkpoint is refused naming both; corrupt and foreign files give
CheckpointError; nothing in a checkpoint file is executed."""

from __future__ import annotations

import os

import pytest
import torch

from arssr_core.checkpoint import FORMAT, load_into, load_model, read_checkpoint, save_checkpoint
from arssr_core.errors import CheckpointError
from arssr_core.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(blocks=1, channels=8, growth=8, out_channels=16)


def tiny(seed: int = 0, **kw):
    torch.manual_seed(seed)
    return build_model("arssr-rdn", decoder_spec={"name": "arssr_mlp", "args": {"hidden": 32}}, **{**TINY, **kw})


def test_round_trip_is_bit_exact(tmp_path):
    model = tiny()
    # train a step so that the weights are not just the seeded init
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    lr, coords = torch.rand(2, 1, 5, 5, 5), torch.rand(2, 40, 3) * 2 - 1
    model(lr, coords).mean().backward()
    opt.step()
    ts = {"optimizer": opt.state_dict(), "step": 1, "history": [{"step": 1, "loss": 0.5}],
          "torch_rng": torch.get_rng_state()}
    path = save_checkpoint(tmp_path / "m.pt", model, ts, {"note": "x"})
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary left behind

    loaded, blob = load_model(path, expect="arssr-rdn")
    assert not loaded.training
    assert loaded.spec == model.spec
    sd, sd2 = model.state_dict(), loaded.state_dict()
    assert list(sd) == list(sd2)
    for k in sd:
        assert sd[k].dtype == sd2[k].dtype and torch.equal(sd[k], sd2[k]), k
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(lr, coords), loaded(lr, coords))
    # the training state survives weights_only loading and restores an optimiser
    assert blob["meta"] == {"note": "x"} and blob["train_state"]["step"] == 1
    opt2 = torch.optim.Adam(loaded.parameters(), 1e-2)
    opt2.load_state_dict(blob["train_state"]["optimizer"])
    assert torch.equal(blob["train_state"]["torch_rng"], ts["torch_rng"])

    # load_into an identically specified model
    other = tiny(seed=5)
    load_into(path, other)
    for k, v in other.state_dict().items():
        assert torch.equal(v, sd[k]), k


def test_round_trip_baseline_keeps_buffers_and_scale(tmp_path):
    torch.manual_seed(0)
    model = build_model("dcsrn", growth=4, units=2, scale=3.0)
    model(torch.rand(2, 1, 6, 6, 6))  # train-mode forward: BatchNorm running stats change
    path = save_checkpoint(tmp_path / "d.pt", model)
    loaded, _ = load_model(path, expect={"name": "dcsrn", "args": {"growth": 4, "units": 2, "scale": 3.0}})
    assert loaded.scale == 3.0
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    model.eval()
    x = torch.rand(1, 1, 6, 6, 6)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_save_unwraps_a_wrapper_with_module(tmp_path):
    class Wrapper(torch.nn.Module):  # like DistributedDataParallel: the model is .module
        def __init__(self, m):
            super().__init__()
            self.module = m

    model = tiny()
    save_checkpoint(tmp_path / "w.pt", Wrapper(model))
    loaded, _ = load_model(tmp_path / "w.pt")
    assert list(loaded.state_dict()) == list(model.state_dict())


def test_meta_of_subclassed_values_is_stored_plain_and_loads_weights_only(tmp_path):
    """A notebook passes a :class:`Profile` (a str subclass) down; the run's meta must still be
    readable with ``weights_only=True``, so the profile is stored as its name."""
    import numpy as np

    from arssr_core.profiles import Profile

    meta = {"profile": Profile("smoke"), "best_val_psnr": np.float64(29.5), "data": [Profile("smoke")]}
    save_checkpoint(tmp_path / "m.pt", tiny(), meta=meta)
    got = read_checkpoint(tmp_path / "m.pt")["meta"]
    assert got == {"profile": "smoke", "best_val_psnr": 29.5, "data": ["smoke"]}
    assert type(got["profile"]) is str and type(got["best_val_psnr"]) is float


def test_other_model_is_refused_naming_both(tmp_path):
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "dcsrn.pt", build_model("dcsrn", scale=2.0))
    with pytest.raises(CheckpointError) as e:
        load_model(path, expect="arssr-rdn")
    assert "dcsrn" in str(e.value) and "arssr-rdn" in str(e.value)
    with pytest.raises(CheckpointError) as e:
        load_into(path, tiny())
    assert "dcsrn" in str(e.value) and "arssr-rdn" in str(e.value)


def test_other_configuration_is_refused_naming_both(tmp_path):
    path = save_checkpoint(tmp_path / "a.pt", tiny())
    want = {"name": "arssr-rdn", "args": {**tiny().spec["args"], "blocks": 2}}
    with pytest.raises(CheckpointError) as e:
        load_model(path, expect=want)
    msg = str(e.value)
    assert "'blocks': 1" in msg and "'blocks': 2" in msg
    with pytest.raises(CheckpointError, match="blocks"):
        load_into(path, tiny(blocks=2))
    # the same spec is accepted
    load_model(path, expect=tiny().spec)


def test_weights_that_do_not_fit_the_spec_are_refused(tmp_path):
    path = save_checkpoint(tmp_path / "a.pt", tiny())
    blob = torch.load(path, weights_only=True)
    blob["state_dict"]["encoder.sfe1.weight"] = torch.zeros(3)
    torch.save(blob, path)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_model(path)


def test_missing_corrupt_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such"):
        read_checkpoint(tmp_path / "absent.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError):
        load_model(junk)
    text = tmp_path / "text.pt"
    text.write_text("not a checkpoint\n")
    with pytest.raises(CheckpointError):
        read_checkpoint(text)
    good = save_checkpoint(tmp_path / "good.pt", tiny())
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError):
        load_model(truncated)
    plain = tmp_path / "plain.pt"
    torch.save(tiny().state_dict(), plain)  # a bare state dict: not our format
    with pytest.raises(CheckpointError, match="not an arssr checkpoint"):
        load_model(plain)
    torch.save([1, 2, 3], plain)
    with pytest.raises(CheckpointError, match="not an arssr checkpoint"):
        read_checkpoint(plain)


class _Payload:
    """Unpickling this would create a file: weights_only loading must refuse it."""

    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_loading_is_weights_only_and_runs_no_code(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "spec": {"name": "arssr-rdn", "args": {}}, "state_dict": {},
                "payload": _Payload(str(target))}, path)
    assert not target.exists()
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        read_checkpoint(path)
    with pytest.raises(CheckpointError):
        load_model(path)
    assert not target.exists()
    # the file is a real trap: an unsafe load would have run the payload
    torch.load(path, weights_only=False)
    assert target.exists()
