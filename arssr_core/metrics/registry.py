"""One registry of the study's metrics: how each is written, which way is better, the smallest
difference a verdict counts (margin), how far a rerun may move it (reproduction tolerance) and
the decimals it is shown to. Every other module reads these facts from here.

A margin is never below the tolerance of the same quantity: a difference that a rerun on
another machine may move by more than the margin cannot decide a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ArssrError


@dataclass(frozen=True)
class Metric:
    """``key`` as in the tables; ``label`` for a reader; ``better`` +1 (higher is better), -1
    (lower) or 0 (neither: a descriptive quantity); ``margin`` and ``tolerance`` absolute, in
    the metric's units (None: not judged, not compared); ``decimals`` shown; ``unit``."""

    key: str
    label: str
    better: int = 0
    margin: float | None = None
    tolerance: float | None = None
    decimals: int = 4
    unit: str = ""

    def __post_init__(self) -> None:
        if self.margin is not None and self.tolerance is not None and self.margin < self.tolerance:
            raise ArssrError(f"metric {self.key}: margin {self.margin:g} is below its reproduction tolerance "
                             f"{self.tolerance:g}, so a rerun could move a verdict")


METRICS: dict[str, Metric] = {m.key: m for m in (
    Metric("psnr", "PSNR", +1, margin=0.1, tolerance=0.05, decimals=2, unit="dB"),
    Metric("ssim", "SSIM", +1, margin=0.002, tolerance=0.002),
    Metric("lpips", "LPIPS", -1, margin=0.005, tolerance=0.005),
    Metric("psi", "PSI", +1, margin=0.005, tolerance=0.005),
    Metric("lpc_si", "LPC-SI", +1, margin=0.005, tolerance=0.005),
    Metric("dice", "Dice", +1, margin=0.005, tolerance=0.005),
    Metric("profile_spread", "profile spread", -1, margin=0.002, tolerance=0.002),
    Metric("lr_consistency_psnr", "LR-consistency PSNR", 0, decimals=2, unit="dB"),
)}


def metric(key: str) -> Metric:
    """The registry entry of ``key``; an unknown key is an error naming the known ones."""
    if key not in METRICS:
        raise ArssrError(f"unknown metric '{key}'; known: {', '.join(METRICS)}")
    return METRICS[key]


def label(key: str) -> str:
    """How ``key`` is written for a reader (``lpc_si`` -> ``LPC-SI``); a key outside the
    registry is upper-cased with "-" for "_"."""
    return METRICS[key].label if key in METRICS else key.upper().replace("_", "-")


def directions() -> dict[str, int]:
    """``{key: +1 or -1}`` of the metrics with a better direction."""
    return {k: m.better for k, m in METRICS.items() if m.better}


def margins() -> dict[str, float]:
    """``{key: margin}`` of the judged metrics."""
    return {k: m.margin for k, m in METRICS.items() if m.margin is not None}


def tolerances() -> dict[str, float]:
    """``{key: reproduction tolerance}`` of the metrics that have one."""
    return {k: m.tolerance for k, m in METRICS.items() if m.tolerance is not None}


def decimals() -> dict[str, int]:
    """``{key: decimals shown}``."""
    return {k: m.decimals for k, m in METRICS.items()}
