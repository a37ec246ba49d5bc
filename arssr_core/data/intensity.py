"""The one intensity rule of the study: how a volume's values are put on the models' scale.

Every committed model was trained on volumes normalised *robustly*: the minimum goes to 0
and the 99.9th percentile of the non-background voxels to 1 (clipped above). The same rule
puts the test volumes (``prepare``), the LR inputs of inference (``infer.engine``) and a
user's scan (``arssr upsample``) on that scale, so no model sees a volume brighter or darker
than the volumes it learned from. Min-max scaling, the alternative, lets a few bright voxels
(fat, vessels, skull) set the scale: the brain then reaches the model darker than in training.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

#: The rule's name as the catalog records it, and its percentile of the foreground.
RULE = "robust (min -> 0, foreground 99.9th percentile -> 1)"
PERCENTILE = 99.9
#: Voxels above ``min + BACKGROUND * (max - min)`` are the foreground whose percentile is taken.
BACKGROUND = 1e-3


def robust_range(data: np.ndarray, percentile: float = PERCENTILE) -> tuple[float, float]:
    """``(lo, hi)`` of the rule: the volume's minimum and the ``percentile`` of its foreground
    (voxels above the background level; the maximum if there are none). Same units as ``data``."""
    x = np.asarray(data, dtype=np.float32)
    lo, top = float(x.min()), float(x.max())
    fg = x[x > lo + BACKGROUND * (top - lo)]
    hi = float(np.percentile(fg, percentile)) if fg.size else top
    return lo, hi


def minmax_range(data: np.ndarray) -> tuple[float, float]:
    """``(min, max)`` of a volume: the paper's per-volume scaling, kept for comparison."""
    x = np.asarray(data, dtype=np.float32)
    return float(x.min()), float(x.max())


def normalise(data: np.ndarray, mode: str = "robust", percentile: float = PERCENTILE) -> np.ndarray:
    """A volume mapped to [0, 1] float32: ``robust`` (the study's rule, clipped above 1) or
    ``minmax``. A constant volume is refused."""
    if mode == "robust":
        lo, hi = robust_range(data, percentile)
    elif mode == "minmax":
        lo, hi = minmax_range(data)
    else:
        raise ValueError(f"unknown normalisation '{mode}'")
    if hi - lo <= 0:
        raise DataError("cannot normalise a constant volume")
    x = np.asarray(data, dtype=np.float32)
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def to_model_scale(x: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(D, H, W) input -> (its values on the models' scale, lo, hi), by the robust rule and
    *not* clipped, so that :func:`from_model_scale` gives back the input's own units and its
    brightest voxels. A constant volume maps to zeros (``hi <= lo``)."""
    x = np.asarray(x, dtype=np.float32)
    lo, hi = robust_range(x)
    if hi <= lo:
        return np.zeros_like(x), lo, hi
    return ((x - lo) / (hi - lo)).astype(np.float32, copy=False), lo, hi


def from_model_scale(y: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map a model output back to the input's units, in place: ``y * (hi - lo) + lo``."""
    y *= np.float32(hi - lo)
    y += np.float32(lo)
    return y


def brain_gain(data: np.ndarray) -> float:
    """How much brighter the robust rule makes a volume than min-max scaling would:
    ``(max - min) / (hi - min)``, >= 1; 1.0 when the brightest voxels are the brain's own."""
    lo, hi = robust_range(data)
    top = float(np.asarray(data).max())
    return (top - lo) / (hi - lo) if hi > lo else 1.0
