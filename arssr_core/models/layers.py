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
