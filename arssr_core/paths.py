"""Where the study keeps its files. Every path can be moved with an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

#: Repository root (the folder holding ``pyproject.toml``), when run from a clone.
REPO_ROOT = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """Folder with ``raw/`` and ``prepared/`` (``$ARSSR_DATA`` or ``<repo>/data``)."""
    return Path(os.environ.get("ARSSR_DATA", REPO_ROOT / "data"))


def raw_dir() -> Path:
    """Where fetched source volumes lie: ``<data>/raw``."""
    return data_root() / "raw"


def cache_dir() -> Path:
    """Downloaded registry archives (``$ARSSR_CACHE`` or ``<data>/cache``)."""
    return Path(os.environ.get("ARSSR_CACHE", data_root() / "cache"))


def prepared_dir(profile: str) -> Path:
    """Prepared datasets of one profile: ``<data>/prepared/<profile>``."""
    return data_root() / "prepared" / profile


def results_dir(profile: str) -> Path:
    """Tables, figures and executed notebooks of one profile (``$ARSSR_RESULTS`` or ``<repo>/results``)."""
    return Path(os.environ.get("ARSSR_RESULTS", REPO_ROOT / "results")) / profile


def checkpoints_dir(profile: str) -> Path:
    """Trained models of one profile (``$ARSSR_CHECKPOINTS`` or ``<repo>/checkpoints``)."""
    return Path(os.environ.get("ARSSR_CHECKPOINTS", REPO_ROOT / "checkpoints")) / profile
