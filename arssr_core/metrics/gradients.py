"""Gradient energy along one axis, against a reference: is an SR volume smoother or sharper
than the truth across its slices?

``gradient_energy_ratio(x, ref, axis)`` = mean over the reference's foreground of the squared
first difference of ``x`` along ``axis`` divided by the same for ``ref`` (voxels of both
neighbours above ``threshold`` in ``ref``). 1: as much change from slice to slice as the
truth; below 1: smoother (interpolation's blur); above 1: sharper than the truth
(over-sharpening, ringing or noise). Unitless; a gain ``k`` on ``x`` scales it by ``k**2``.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .checks import as_array, same_shape


def gradient_energy_ratio(x: object, ref: object, axis: int, threshold: float = 0.05) -> float:
    """Squared first differences of ``x`` along ``axis`` over those of ``ref``, on the voxel
    pairs where ``ref`` exceeds ``threshold`` at both ends (3D arrays of one shape)."""
    a = as_array(x, "x", ndims=(3,))
    b = as_array(ref, "ref", ndims=(3,))
    same_shape(a, b)
    if axis not in (0, 1, 2) or b.shape[axis] < 2:
        raise DataError(f"axis {axis}: choose 0, 1 or 2 of a volume with at least two slices along it ({b.shape})")
    fg = b > threshold
    pair = np.take(fg, np.arange(1, b.shape[axis]), axis) & np.take(fg, np.arange(b.shape[axis] - 1), axis)
    if not pair.any():
        raise DataError(f"no foreground (ref > {threshold}) voxel pairs along axis {axis}")
    da, db = np.diff(a, axis=axis)[pair], np.diff(b, axis=axis)[pair]
    energy = float(np.mean(db.astype(np.float64) ** 2))
    if energy == 0.0:
        raise DataError(f"the reference does not change along axis {axis} in its foreground")
    return float(np.mean(da.astype(np.float64) ** 2)) / energy
