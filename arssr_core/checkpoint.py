"""Checkpoints: one file holds the model spec, weights and (optionally) training state.

Written atomically, read with ``torch.load(..., weights_only=True)``; a checkpoint of
another model or configuration is refused with a message naming both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .errors import CheckpointError
from .io_utils import atomic_path
from .models import build_model

FORMAT = "arssr-checkpoint-v1"


def _plain(x: Any) -> Any:
    """``x`` (a checkpoint's meta) with every subclass of str, int, float or bool inside dicts,
    lists and tuples turned into the builtin (a :class:`arssr_core.profiles.Profile` into its
    name), so that the file loads with ``weights_only=True``, which refuses classes it does not know."""
    if type(x) is dict:
        return {_plain(k): _plain(v) for k, v in x.items()}
    if type(x) in (list, tuple):
        return type(x)(_plain(v) for v in x)
    for kind in (bool, int, float, str):
        if isinstance(x, kind) and type(x) is not kind:
            return kind(x)
    return x


def save_checkpoint(path: str | Path, model: nn.Module, train_state: dict[str, Any] | None = None,
                    meta: dict[str, Any] | None = None) -> Path:
    """Write ``{"format", "spec", "state_dict", "train_state", "meta"}`` atomically."""
    model = getattr(model, "module", model)  # unwrap DDP
    spec = getattr(model, "spec", None)
    if spec is None:
        raise CheckpointError("model has no spec: build it with arssr_core.models.build_model")
    blob = {
        "format": FORMAT,
        "spec": spec,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "train_state": train_state,
        "meta": _plain(meta or {}),
    }
    with atomic_path(path, suffix=".tmp") as tmp:
        torch.save(blob, tmp)
    return Path(path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dict, loaded safely; :class:`CheckpointError` if unreadable."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an arssr checkpoint (format {blob.get('format') if isinstance(blob, dict) else type(blob).__name__!r})")
    return blob


def describe_spec(spec: dict[str, Any]) -> str:
    """Short human form of a spec: ``arssr-rdn {}``."""
    return f"{spec.get('name')} {spec.get('args', {})}"


def load_model(path: str | Path, expect: dict[str, Any] | str | None = None,
               device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model a checkpoint describes and load its weights.

    ``expect``: a spec (or a model name) the checkpoint must match; otherwise a
    :class:`CheckpointError` names both. Returns ``(model in eval mode, checkpoint dict)``.
    """
    blob = read_checkpoint(path)
    spec = blob["spec"]
    if expect is not None:
        want = {"name": expect, "args": spec.get("args", {})} if isinstance(expect, str) else expect
        if want["name"] != spec["name"] or want.get("args", {}) != spec.get("args", {}):
            raise CheckpointError(
                f"{path}: checkpoint is {describe_spec(spec)}, expected {describe_spec(want)}"
            )
    model = build_model(spec)
    try:
        model.load_state_dict(blob["state_dict"], strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit {describe_spec(spec)} ({str(e)[:300]})") from None
    return model.to(device).eval(), blob


def load_into(path: str | Path, model: nn.Module) -> dict[str, Any]:
    """Load a checkpoint into an existing model whose spec must match; returns the dict."""
    blob = read_checkpoint(path)
    spec = getattr(getattr(model, "module", model), "spec", None)
    if spec is not None and (spec["name"], spec.get("args", {})) != (blob["spec"]["name"], blob["spec"].get("args", {})):
        raise CheckpointError(f"{path}: checkpoint is {describe_spec(blob['spec'])}, model is {describe_spec(spec)}")
    getattr(model, "module", model).load_state_dict(blob["state_dict"], strict=True)
    return blob
