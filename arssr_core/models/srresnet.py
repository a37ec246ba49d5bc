"""SRResNet encoder (Ledig et al. 2017) in 3D, as ArSSR's ablation uses it: no batch norm,
no global skip, no upsampling. Parameters with the defaults: 4,317,376.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import conv3, pass_channel
from .registry import register


class ResBlock(nn.Module):
    """conv - ReLU - conv plus the input."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = conv3(channels, channels)
        self.conv2 = conv3(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


@register("srresnet")
class SRResNet(nn.Module):
    """(B, 1, D, H, W) -> (B, 128, D, H, W): conv 1->64, 18 residual blocks, conv 64->64, conv 64->128."""

    def __init__(self, channels: int = 64, blocks: int = 18, out_channels: int = 128):
        super().__init__()
        self.out_channels = out_channels
        self.head = conv3(1, channels)
        self.blocks = nn.Sequential(*[ResBlock(channels) for _ in range(blocks)])
        self.mid = conv3(channels, channels)
        self.tail = conv3(channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.mid(self.blocks(self.head(x))))

    def init_identity(self) -> None:
        """Feature channel 0 = the input intensity, carried through every residual block."""
        pass_channel(self.head, 0, 0)
        for block in self.blocks:
            pass_channel(block.conv2, 0, None)
        pass_channel(self.mid, 0, 0)
        pass_channel(self.tail, 0, 0)
