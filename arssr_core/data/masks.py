"""Boolean masks: the largest connected part, and a voxel to view a mask through."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 6-connected component of a boolean mask (the mask itself if it has one part)."""
    mask = np.asarray(mask, dtype=bool)
    lab, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))


def mask_centre(mask: np.ndarray) -> tuple[int, ...] | None:
    """A voxel inside the mask's largest connected part, the one nearest that part's centre of
    mass (where several lesions lie apart, a view through it shows a lesion, not the space
    between them); None for an empty mask."""
    idx = np.argwhere(largest_component(mask))
    if idx.size == 0:
        return None
    c = idx.mean(0)
    return tuple(int(v) for v in idx[np.argmin(((idx - c) ** 2).sum(1))])
