"""One registry of the study's methods: each method's name in code and on the command line, how
a reader sees it, what kind of method it is, and the run (training folder) behind it.

The command line (``arssr upsample --method``), the experiments (:mod:`.evaluation`), the
pretraining jobs (:mod:`.pretrain`), the advice (:mod:`.advice`) and the claims read method
facts here; the library (:mod:`arssr_core.infer`) knows none of the study's run names and is
given a model or a checkpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ArssrError, CheckpointError
from ..paths import checkpoints_dir


@dataclass(frozen=True)
class MethodSpec:
    """``key`` in code and on the command line; ``display`` for a reader; ``kind`` ``cubic`` |
    ``arssr`` | ``baseline``; ``run`` the run folder of its weights (a per-scale baseline's is
    ``<run>-x<scale>``), ``section`` the profile section that trains it (None: cubic); ``cli``
    whether ``arssr upsample`` offers it."""

    key: str
    display: str
    kind: str
    run: str | None = None
    section: str | None = None
    cli: bool = False

    def run_tag(self, scale: float | None = None) -> str:
        """The run folder name, for a per-scale baseline at ``scale`` (``rescnn-x2``)."""
        if self.run is None:
            raise ArssrError(f"method '{self.key}' has no trained run")
        if self.kind == "baseline":
            if scale is None:
                raise ArssrError(f"method '{self.key}' is trained per scale: give the scale")
            return f"{self.run}-x{float(scale):g}"
        return self.run


METHODS: dict[str, MethodSpec] = {m.key: m for m in (
    MethodSpec("cubic", "Cubic", "cubic", cli=True),
    MethodSpec("arssr", "ArSSR", "arssr", "arssr-rdn", "arssr", cli=True),
    MethodSpec("arssr-iso", "ArSSR-iso", "arssr", "arssr-rdn-iso", "isotropic_control", cli=True),
    MethodSpec("arssr-thick", "ArSSR-thick", "arssr", "arssr-rdn-aniso", "anisotropic", cli=True),
    MethodSpec("arssr-rescnn", "ArSSR-rescnn", "arssr", "arssr-rescnn", "ablation"),
    MethodSpec("arssr-srresnet", "ArSSR-srresnet", "arssr", "arssr-srresnet", "ablation"),
    MethodSpec("srcnn3d", "SRCNN3D", "baseline", "srcnn3d", "baselines"),
    MethodSpec("dcsrn", "DCSRN", "baseline", "dcsrn", "baselines"),
    MethodSpec("rescnn", "ResCNN", "baseline", "rescnn", "baselines"),
)}


def method(key: str) -> MethodSpec:
    """The registry entry of ``key``; an unknown key is an error naming the known ones."""
    if key not in METHODS:
        raise ArssrError(f"unknown method '{key}'; known: {', '.join(METHODS)}")
    return METHODS[key]


def cli_methods() -> tuple[str, ...]:
    """The methods ``arssr upsample`` offers, in the registry's order."""
    return tuple(k for k, m in METHODS.items() if m.cli)


def display_name(key: str) -> str:
    """How a reader sees method ``key`` (``rescnn`` -> ``ResCNN``)."""
    return method(key).display


def key_of(display: str) -> str:
    """The key of the method a reader sees as ``display`` (``ArSSR-iso`` -> ``arssr-iso``)."""
    for k, m in METHODS.items():
        if m.display == display:
            return k
    raise ArssrError(f"no method is shown as '{display}'; shown: {', '.join(m.display for m in METHODS.values())}")


def section_tags() -> dict[str, str]:
    """``{profile section: run folder}`` of the methods that continue ArSSR-RDN beyond the paper."""
    return {m.section: m.run for m in METHODS.values() if m.section in ("anisotropic", "isotropic_control")}


def default_checkpoint(key: str = "arssr") -> Path:
    """The weights ``arssr upsample --method key`` uses when no ``--checkpoint`` is given: for
    ``arssr``, ``$ARSSR_CHECKPOINT`` if set; else the method's run under
    ``checkpoints/pretrained/``, then ``checkpoints/cpu/``; :class:`CheckpointError` saying how to
    get one."""
    spec = method(key)
    if spec.kind == "cubic":
        raise ArssrError("cubic interpolation has no checkpoint")
    env = os.environ.get("ARSSR_CHECKPOINT")
    if env and key == "arssr":
        if not Path(env).is_file():
            raise CheckpointError(f"ARSSR_CHECKPOINT={env}: no such checkpoint file")
        return Path(env)
    run = spec.run_tag()
    tried = [checkpoints_dir(p) / run / "best.pt" for p in ("pretrained", "cpu")]
    for p in tried:
        if p.is_file():
            return p
    raise CheckpointError(
        f"no trained {run} checkpoint found (looked for " + ", ".join(str(p) for p in tried)
        + ("); get one with `make reproduce` or `arssr train arssr-rdn`, pass --checkpoint PATH" if key == "arssr"
           else f"); train it with `python -m arssr_core.study.pretrain --only {run}`, pass --checkpoint PATH")
        + (", set ARSSR_CHECKPOINT" if key == "arssr" else "") + ", or use --method cubic"
    )
