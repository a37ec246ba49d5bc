"""Per-scale CNN baselines that take the cubic-upsampled LR on the HR grid (paper 4.1.4).

The 20-layer ResCNN of Du et al. lives in :mod:`.rescnn` beside ArSSR's ResCNN encoder.
Each baseline records the ``scale`` it was trained for; inference refuses other scales.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import conv3
from .registry import register


@register("srcnn3d")
class SRCNN3D(nn.Module):
    """3D SRCNN (Pham et al. 2017): conv 9^3 1->64, ReLU, conv 1^3 64->32, ReLU, conv 5^3 32->1.

    Input and output (B, 1, D, H, W) on the HR grid. Parameters with the defaults: 52,801.
    """

    #: A plain conv stack: inference runs it channels-last on the CPU (``infer.engine.memory_format``).
    channels_last = True

    def __init__(self, f1: int = 9, f2: int = 1, f3: int = 5, n1: int = 64, n2: int = 32,
                 scale: float | None = None):
        super().__init__()
        self.scale = scale
        self.conv1 = conv3(1, n1, f1)
        self.conv2 = conv3(n1, n2, f2)
        self.conv3 = conv3(n2, 1, f3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(F.relu(self.conv2(F.relu(self.conv1(x)))))


class _DenseUnit(nn.Module):
    """BatchNorm - ELU - conv 3^3 producing ``growth`` new channels (DenseNet unit)."""

    def __init__(self, cin: int, growth: int):
        super().__init__()
        self.norm = nn.BatchNorm3d(cin)
        self.conv = conv3(cin, growth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.elu(self.norm(x)))


@register("dcsrn")
class DCSRN(nn.Module):
    """DCSRN (Chen et al. 2018): conv 3^3 1->2k, one densely connected block of 4 units
    (BN-ELU-conv, growth k=24), 1^3 conv to one channel. (B, 1, D, H, W) -> same.

    Parameters with the defaults: 219,985.
    """

    def __init__(self, growth: int = 24, units: int = 4, scale: float | None = None):
        super().__init__()
        self.scale = scale
        self.head = conv3(1, 2 * growth)
        self.units = nn.ModuleList(
            [_DenseUnit(2 * growth + i * growth, growth) for i in range(units)]
        )
        self.tail = nn.Conv3d(2 * growth + units * growth, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [self.head(x)]
        for unit in self.units:
            feats.append(unit(torch.cat(feats, 1)))
        return self.tail(torch.cat(feats, 1))
