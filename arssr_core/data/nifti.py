"""NIfTI reading and writing with nibabel, checked, header kept; resampled-grid affines.

I/O lives here, at the edge; everything else takes and returns arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import nibabel as nib
import numpy as np

from ..errors import DataError
from ..io_utils import atomic_path
from .intensity import normalise  # noqa: F401  (the study's intensity rule, re-exported)


@dataclass
class Volume:
    """A 3D scalar volume: ``data`` (X, Y, Z) float32, ``affine`` 4x4 voxel->world (mm),
    the NIfTI ``header`` it came with (or None) and the ``path`` it was read from."""

    data: np.ndarray
    affine: np.ndarray
    header: nib.Nifti1Header | None = None
    path: Path | None = None

    @property
    def voxel_size(self) -> tuple[float, float, float]:
        """Voxel size in mm per array axis (column norms of the affine)."""
        return voxel_size(self.affine)


def voxel_size(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel edge lengths in mm from a 4x4 affine."""
    return tuple(float(v) for v in np.linalg.norm(np.asarray(affine)[:3, :3], axis=0))


def check_volume(data: np.ndarray, name: str = "volume") -> np.ndarray:
    """Validate a 3D scalar array (squeezing trailing singleton axes); raise :class:`DataError`."""
    arr = np.asarray(data)
    while arr.ndim > 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3:
        kind = "a 2D image" if arr.ndim == 2 else f"{arr.ndim}D with shape {arr.shape}"
        raise DataError(f"{name}: expected a 3D volume, got {kind}")
    if min(arr.shape) < 2:
        raise DataError(f"{name}: shape {arr.shape} has an axis shorter than 2 voxels")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise DataError(f"{name}: data type {arr.dtype} is not a real scalar")
    arr = arr.astype(np.float32, copy=False)
    if not np.all(np.isfinite(arr)):
        n = int(np.count_nonzero(~np.isfinite(arr)))
        raise DataError(f"{name}: {n} voxels are NaN or infinite")
    return arr


def load_volume(path: str | Path, canonical: bool = False) -> Volume:
    """Read a 3D NIfTI (``.nii`` / ``.nii.gz``) as float32 with its affine and header.

    ``canonical`` reorients to the closest RAS+ orientation. Raises :class:`DataError`
    that names the file for anything that is not a readable, finite 3D NIfTI volume.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    try:
        img = nib.load(str(path))
    except Exception as e:  # nibabel raises several types for junk
        raise DataError(f"{path}: not a NIfTI image ({type(e).__name__}: {e})") from None
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise DataError(f"{path}: a {type(img).__name__}, not a NIfTI image")
    if img.ndim == 4 and img.shape[3] == 1:
        img = img.slicer[..., 0]
    if canonical:
        img = nib.as_closest_canonical(img)
    try:
        raw = np.asarray(img.dataobj)
    except Exception as e:
        raise DataError(f"{path}: data cannot be read ({e})") from None
    data = check_volume(raw, str(path))
    return Volume(data, np.asarray(img.affine, dtype=np.float64), img.header.copy(), path)


def save_volume(path: str | Path, data: np.ndarray, affine: np.ndarray,
                header: nib.Nifti1Header | None = None, description: str | None = None) -> Path:
    """Write a float32 NIfTI atomically, keeping the template header's codes and units.

    sform and qform are both set to ``affine`` with the template's codes (scanner=1
    when there is no template); units stay those of the template (mm, s by default).
    """
    path = Path(path)
    if not (path.name.endswith(".nii") or path.name.endswith(".nii.gz")):
        raise DataError(f"{path}: output must end in .nii or .nii.gz")
    hdr = nib.Nifti1Header() if header is None else header.copy()
    img = nib.Nifti1Image(np.asarray(data, dtype=np.float32), np.asarray(affine, dtype=np.float64), hdr)
    img.set_data_dtype(np.float32)
    scode = int(hdr["sform_code"]) if header is not None else 1
    qcode = int(hdr["qform_code"]) if header is not None else 1
    img.set_sform(affine, code=scode or 1)
    img.set_qform(affine, code=qcode or 1)
    xyz, t = (hdr.get_xyzt_units() if header is not None else ("mm", "sec"))
    img.header.set_xyzt_units(xyz if xyz != "unknown" else "mm", t if t != "unknown" else "sec")
    img.header["scl_slope"], img.header["scl_inter"] = 1.0, 0.0
    if description is not None:
        img.header["descrip"] = description.encode()[:79]
    try:
        with atomic_path(path) as tmp:
            nib.save(img, str(tmp))
    except PermissionError as e:
        raise DataError(f"{path}: cannot write ({e.strerror})") from None
    except FileNotFoundError as e:
        raise DataError(f"{path}: cannot write ({e})") from None
    return path


def resampled_affine(affine: np.ndarray, in_shape: Sequence[int], out_shape: Sequence[int]) -> np.ndarray:
    """Affine of a grid of ``out_shape`` covering the same field of view as ``in_shape``.

    Voxel size shrinks by ``f = in / out`` per axis and the origin moves by the
    half-voxel difference, so that output voxel ``j`` sits at input index
    ``(j + 0.5) f - 0.5``: the outer cell faces of both grids coincide.
    """
    f = np.asarray(in_shape, dtype=np.float64) / np.asarray(out_shape, dtype=np.float64)
    m = np.eye(4)
    m[:3, :3] = np.diag(f)
    m[:3, 3] = 0.5 * (f - 1.0)
    return np.asarray(affine, dtype=np.float64) @ m
