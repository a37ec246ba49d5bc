"""Profiles (smoke, cpu, full) are data: one YAML file each, read here."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from ..errors import ArssrError

PROFILE_DIR = Path(__file__).parent
DEFAULT = "cpu"


def available() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name: str = DEFAULT, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings of profile ``name``; ``overrides`` (dotted keys, e.g. ``arssr.train.steps``) win."""
    path = PROFILE_DIR / f"{name}.yaml"
    if not path.exists():
        raise ArssrError(f"unknown profile '{name}'; available: {', '.join(available())}")
    cfg = yaml.safe_load(path.read_text())
    for key, value in (overrides or {}).items():
        node = cfg
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = copy.deepcopy(value)
    return cfg
