"""2D slices of a 3D volume in its three orientations, keeping only foreground slices.

A slice is *foreground* when the reference volume (the ground truth, or the volume
itself when there is none) is not constant on it. ``stride`` keeps every k-th
foreground slice (the first one included), to trade accuracy for speed. ``skip`` (a boolean
volume) drops every slice that holds one of its voxels, before the stride: a region left out
of a score (a tumour among healthy tissue) is left out of the slice-wise metrics this way.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..errors import DataError


def foreground_indices(ref: np.ndarray, axis: int, stride: int = 1, skip: np.ndarray | None = None) -> np.ndarray:
    """Indices along ``axis`` of the slices of 3D ``ref`` that are not constant and hold no
    voxel of ``skip``, every ``stride``-th."""
    if int(stride) < 1:
        raise DataError(f"stride must be a positive integer, got {stride!r}")
    other = tuple(a for a in range(3) if a != axis)
    varying = ref.max(axis=other) > ref.min(axis=other)
    if skip is not None:
        if np.shape(skip) != ref.shape:
            raise DataError(f"skip mask of shape {np.shape(skip)} does not match the volume's {ref.shape}")
        varying &= ~np.asarray(skip, dtype=bool).any(axis=other)
    return np.flatnonzero(varying)[:: int(stride)]


def orientation_stacks(
    vols: tuple[np.ndarray, ...], ref: np.ndarray, stride: int = 1, skip: np.ndarray | None = None
) -> Iterator[tuple[int, tuple[np.ndarray, ...]]]:
    """For each axis 0, 1, 2 yield ``(axis, stacks)``.

    ``stacks`` holds, for every volume in ``vols`` (all shaped like ``ref``, 3D),
    its foreground slices along ``axis`` as one array of shape ``(n, H, W)`` (the
    two remaining axes in their original order). Axes with no foreground slice
    are skipped.
    """
    for axis in range(3):
        idx = foreground_indices(ref, axis, stride, skip)
        if idx.size == 0:
            continue
        yield axis, tuple(np.moveaxis(np.take(v, idx, axis=axis), axis, 0) for v in vols)


def n_foreground(ref: np.ndarray, stride: int = 1, skip: np.ndarray | None = None) -> int:
    """Number of foreground slices over the three orientations."""
    return sum(foreground_indices(ref, a, stride, skip).size for a in range(3))
