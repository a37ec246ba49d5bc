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


def _read(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Profile ``name``'s YAML with the run's overrides (:func:`run_overrides`), then
    ``overrides`` (dotted keys, e.g. ``arssr.train.steps``), applied."""
    path = PROFILE_DIR / f"{name}.yaml"
    if not path.exists():
        raise ArssrError(f"unknown profile '{name}'; available: {', '.join(available())}")
    cfg = yaml.safe_load(path.read_text())
    _apply(cfg, {**run_overrides(name), **(overrides or {})})
    return cfg


def _apply(cfg: dict[str, Any], overrides: dict[str, Any]) -> None:
    for key, value in overrides.items():
        node = cfg
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = copy.deepcopy(value)


class Profile(str):
    """A profile loaded once, to be passed down: its name (it *is* that string, so results
    folders, run records and catalogs use it as before) and ``settings``, the YAML with the run's
    overrides applied when it was made. :func:`load_profile` hands out a copy of those settings
    without reading the file again, so every function a notebook calls with one ``Profile`` reads
    the same configuration, overrides included.

    ``Profile("cpu")`` reads the file; ``Profile(p)`` of a ``Profile`` is ``p`` itself."""

    settings: dict[str, Any]

    def __new__(cls, name: str = DEFAULT, overrides: dict[str, Any] | None = None) -> "Profile":
        if isinstance(name, Profile) and not overrides:
            return name
        self = super().__new__(cls, str(name))
        self.settings = load_profile(name, overrides)
        return self

    def __reduce__(self) -> tuple:
        return (_rebuild, (str(self), self.settings))


def _with(settings: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(settings)
    _apply(out, overrides)
    return out


def _rebuild(name: str, settings: dict[str, Any]) -> Profile:
    """Unpickle a :class:`Profile` with the settings it was sent with (no file read)."""
    self = str.__new__(Profile, name)
    self.settings = settings
    return self


def load_profile(name: str = DEFAULT, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings of profile ``name`` (a copy: a caller may change it freely); the run's
    overrides (:func:`run_overrides`), then ``overrides`` (dotted keys, e.g.
    ``arssr.train.steps``) win. Given a :class:`Profile`, its settings as they were loaded (the
    file is not read again), with ``overrides`` on top."""
    if isinstance(name, Profile):
        return _with(name.settings, overrides or {})
    return _read(name, overrides)
