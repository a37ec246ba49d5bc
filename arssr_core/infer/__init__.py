"""Whole-volume inference: ArSSR at any scale, cubic, and the per-scale CNN baselines.

Array API (:mod:`.engine`): :func:`super_resolve` (ArSSR: encode once, decode in chunks),
:func:`apply_cnn` (baseline at its trained scale), :func:`cubic`. Volume API:
:func:`upsample_volume` (a :class:`~arssr_core.data.nifti.Volume` and a
:class:`GridRequest` in, a Volume with the right affine out). Output grids and their
affines: :mod:`.grid`. The ``arssr upsample`` command: :mod:`.command`.
"""

from .engine import (DEFAULT_CHUNK, DEFAULT_HALO, DEFAULT_MAX_TILE_VOXELS, apply_cnn, cubic,
                     load_sr_model, plan_tiles, receptive_radius, super_resolve, upsample_volume)
from .grid import DEFAULT_MAX_VOXELS, GridRequest, OutputGrid, output_grid

__all__ = [
    "DEFAULT_CHUNK", "DEFAULT_HALO", "DEFAULT_MAX_TILE_VOXELS", "DEFAULT_MAX_VOXELS", "GridRequest", "OutputGrid",
    "apply_cnn", "cubic", "load_sr_model", "output_grid", "plan_tiles", "receptive_radius",
    "super_resolve", "upsample_volume",
]
