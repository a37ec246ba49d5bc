"""The study's registry volumes by role (the book's data page, notebook 00): their sources, the
foreground box and the validation split. They are read only by :mod:`.prepare`, which writes
the catalog every experiment reads (:mod:`.catalog`).

Every volume is normalised robustly (min -> 0, 99.9th percentile of the foreground -> 1;
:mod:`.intensity`) so that heads with bright fat and skull-stripped templates share one
tissue scale: the training volumes, the test subject and a user's scan alike. The validation set is a held-out
posterior slab (the last ``val_fraction`` of the anterior-posterior axis) of each
training volume: training never sees it, and it is never the test subject.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


#: (source, file) of every volume that trains ArSSR and the baselines.
TRAIN_SOURCES: dict[str, tuple[str, str]] = {
    "mni152": ("mni152", "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"),
    "cat12_template": ("cat12", "Template_05mm_bet.nii.gz"),
    "robex_head": ("robex", "atlas.nii.gz"),
    "mrhead": ("qtim", "MRHead.nii.gz"),
}

#: The held-out test subject: never enters training or validation.
TEST_SOURCE = ("colin27", "ch2bet.nii.gz")


@dataclass
class Split:
    """Training and validation arrays cut from one volume, with its name."""

    name: str
    train: np.ndarray
    val: np.ndarray


def foreground_box(data: np.ndarray, threshold: float = 0.05, margin: int = 2) -> tuple[slice, ...]:
    """Bounding box of voxels above ``threshold`` with a margin, as slices."""
    idx = np.argwhere(data > threshold)
    if idx.size == 0:
        return tuple(slice(0, n) for n in data.shape)
    lo = np.maximum(idx.min(0) - margin, 0)
    hi = np.minimum(idx.max(0) + 1 + margin, data.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


def split_volume(name: str, data: np.ndarray, val_fraction: float = 0.2, min_size: int = 48) -> Split:
    """Cut the posterior ``val_fraction`` of axis 1 (RAS: A-P), at least ``min_size`` voxels, off as validation."""
    n = data.shape[1]
    cut = min(max(int(round(n * val_fraction)), min_size), n - min_size)
    return Split(name, np.ascontiguousarray(data[:, cut:]), np.ascontiguousarray(data[:, :cut]))
