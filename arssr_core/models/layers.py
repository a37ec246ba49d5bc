"""Small 3D building blocks shared by the encoders and baselines."""

from __future__ import annotations

import torch
import torch.nn as nn


def conv3(cin: int, cout: int, kernel: int = 3) -> nn.Conv3d:
    """3D convolution with 'same' padding (odd ``kernel``)."""
    return nn.Conv3d(cin, cout, kernel, padding=kernel // 2)


@torch.no_grad()
def pass_channel(layer: nn.Module, out_ch: int = 0, in_ch: int | None = 0) -> None:
    """Make output channel ``out_ch`` of a conv or linear layer copy input channel ``in_ch``
    (centre tap 1, everything else in that row 0, bias 0); ``in_ch=None`` zeroes the row."""
    w = layer.weight
    w[out_ch].zero_()
    if in_ch is not None:
        centre = tuple(k // 2 for k in w.shape[2:])
        w[(out_ch, in_ch) + centre] = 1.0
    if layer.bias is not None:
        layer.bias[out_ch] = 0.0


#: Output voxels per slab of :func:`conv_slabs` (2^15: temporaries of a few MiB that stay in the CPU caches;
#: faster on the CPU than whole-volume convolutions, fp32 and bf16).
SLAB_VOXELS = 2 ** 15
#: The same on a GPU, where small kernels waste the device: slabs of 2^22 voxels.
CUDA_SLAB_VOXELS = 2 ** 22


def conv_slabs(conv: nn.Conv3d, x: torch.Tensor, out: torch.Tensor | None = None, *, relu: bool = False,
               add: bool = False, weight: torch.Tensor | None = None, bias: bool = True,
               slab_voxels: int = SLAB_VOXELS) -> torch.Tensor:
    """A 'same'-padded, stride-1 ``conv`` (optionally with only the input channels of
    ``weight``) applied slab by slab along depth, for inference: (B, Cin, D, H, W) ->
    (B, Cout, D, H, W) written into ``out`` (allocated if None), ``+=`` if ``add``, ReLU if
    ``relu``. Each slab reads its planes plus ``k // 2`` planes of context, so the result
    is the whole-volume convolution while the library's temporaries (layout reorders,
    the un-activated output) stay slab-sized instead of volume-sized."""
    w = conv.weight if weight is None else weight
    b = conv.bias if bias else None
    p = w.shape[2] // 2
    d, plane = x.shape[2], x.shape[3] * x.shape[4]
    step = max(1, slab_voxels // max(1, plane))
    for d0 in range(0, d, step):
        d1 = min(d, d0 + step)
        a, e = max(0, d0 - p), min(d, d1 + p)
        inp = x[:, :, a:e]
        if a > d0 - p or e < d1 + p:
            inp = torch.nn.functional.pad(inp, (0, 0, 0, 0, a - (d0 - p), (d1 + p) - e))
        y = torch.nn.functional.conv3d(inp, w, b, padding=(0, p, p))
        if relu:
            y = y.relu_()
        if out is None:  # the conv's own output dtype (bf16 under autocast)
            out = y.new_empty((x.shape[0], w.shape[0]) + tuple(x.shape[2:]))
        if add:
            out[:, :, d0:d1] += y
        else:
            out[:, :, d0:d1] = y
    return out
