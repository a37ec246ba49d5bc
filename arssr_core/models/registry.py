"""One registry of model names. A spec ``{"name": ..., "args": {...}}`` fully rebuilds a model."""

from __future__ import annotations

import copy
from typing import Any, Callable

import torch.nn as nn

from ..errors import ArssrError

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: make a model class or factory buildable by ``name``."""

    def deco(cls: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model name '{name}' registered twice")
        _REGISTRY[name] = cls
        return cls

    return deco


def names() -> list[str]:
    """All registered model names."""
    return sorted(_REGISTRY)


def build_model(name: str | dict[str, Any], **config: Any) -> nn.Module:
    """Build a model from its name and config, or from a spec dict ``{"name", "args"}``.

    Nested specs (an ArSSR model's ``encoder_spec``) are built by the model itself.
    The spec is kept on the model as ``model.spec`` so that a checkpoint can store it.
    """
    if isinstance(name, dict):
        spec = name
        name, config = spec["name"], {**spec.get("args", {}), **config}
    if name not in _REGISTRY:
        raise ArssrError(f"unknown model '{name}'; known models: {', '.join(names())}")
    model = _REGISTRY[name](**config)
    model.spec = {"name": name, "args": copy.deepcopy(config)}
    return model
