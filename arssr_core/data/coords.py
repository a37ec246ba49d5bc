"""Cell-centre coordinates in (-1, 1): the convention that ties the LR and HR grids together.

Voxel ``i`` of an axis with ``n`` voxels sits at ``v_i = -1 + (2 i + 1) / n``; the two
grids of one field of view (any sizes) therefore share the same coordinate frame.
Coordinates are in array-index order (axis 0, 1, 2); ``grid_sample`` wants them reversed.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def axis_centres(n: int) -> np.ndarray:
    """(n,) float64 cell centres of one axis in (-1, 1)."""
    return -1.0 + (2.0 * np.arange(n) + 1.0) / n


def make_coords(shape: Sequence[int], flatten: bool = True) -> np.ndarray:
    """Cell centres of a grid: (prod(shape), 3) if ``flatten`` else (*shape, 3), float32."""
    axes = [axis_centres(int(n)) for n in shape]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).astype(np.float32)
    return grid.reshape(-1, len(shape)) if flatten else grid


def coords_of_indices(idx: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """(K, 3) integer voxel indices of a grid of ``shape`` -> (K, 3) float32 coordinates."""
    n = np.asarray(shape, dtype=np.float64)
    return (-1.0 + (2.0 * idx + 1.0) / n).astype(np.float32)


def sample_volume(volume: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Trilinear sample of (B, C, D, H, W) at (B, K, 3) coordinates -> (B, C, K).

    Exactly the lookup ArSSR's decoder uses for its features (``align_corners=False``,
    border padding), exposed for tests and plots.
    """
    grid = coords.flip(-1).view(coords.shape[0], 1, 1, -1, 3).to(volume.dtype)
    out = F.grid_sample(volume, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.view(volume.shape[0], volume.shape[1], -1)
