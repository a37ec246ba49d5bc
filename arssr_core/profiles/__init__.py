"""Profiles (smoke, cpu, full) are data: one YAML file each, read here."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import yaml

from ..errors import ArssrError

PROFILE_DIR = Path(__file__).parent
DEFAULT = "cpu"


def available() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


#: Environment variable of the profile overrides of a run (``arssr reproduce --params
#: "eval.precision=fp32"``): JSON ``{profile: {dotted key: value}}``, applied by every
#: :func:`load_profile` of that profile in the process (the notebook's kernel inherits it).
OVERRIDES_ENV = "ARSSR_PROFILE_OVERRIDES"


def run_overrides(name: str) -> dict[str, Any]:
    """The overrides of profile ``name`` that this process runs under (:data:`OVERRIDES_ENV`)."""
    raw = os.environ.get(OVERRIDES_ENV)
    return dict(json.loads(raw).get(name, {})) if raw else {}


def check_overrides(name: str, overrides: dict[str, Any]) -> None:
    """Refuse an override of a key that profile ``name`` does not have (a typo would otherwise
    change nothing), naming the keys that are there."""
    cfg = yaml.safe_load((PROFILE_DIR / f"{name}.yaml").read_text()) if (PROFILE_DIR / f"{name}.yaml").exists() else None
    if cfg is None:
        raise ArssrError(f"unknown profile '{name}'; available: {', '.join(available())}")
    for key in overrides:
        node, done = cfg, []
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                have = ", ".join(map(str, node)) if isinstance(node, dict) else "none (not a mapping)"
                where = ".".join(done) or "the top level"
                raise ArssrError(f"profile '{name}' has no key '{key}': keys at {where}: {have}")
            node = node[part]
            done.append(part)


def load_profile(name: str = DEFAULT, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings of profile ``name``; the run's overrides (:func:`run_overrides`), then
    ``overrides`` (dotted keys, e.g. ``arssr.train.steps``) win."""
    path = PROFILE_DIR / f"{name}.yaml"
    if not path.exists():
        raise ArssrError(f"unknown profile '{name}'; available: {', '.join(available())}")
    cfg = yaml.safe_load(path.read_text())
    for key, value in {**run_overrides(name), **(overrides or {})}.items():
        node = cfg
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = copy.deepcopy(value)
    return cfg
