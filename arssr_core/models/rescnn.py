"""ResCNN networks: the ArSSR encoder variant and the 20-layer per-scale baseline (Du et al. 2020)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import conv3, pass_channel
from .registry import register


@register("rescnn_encoder")
class ResCNNEncoder(nn.Module):
    """ArSSR's ResCNN encoder. (B, 1, D, H, W) -> (B, 128, D, H, W).

    conv 1->64 + ReLU, ``blocks`` blocks of ``depth`` x (conv 64->64 + ReLU) each with a
    block residual, conv 64->128, plus the 1-channel input broadcast onto every output
    channel. Parameters with the defaults: 2,214,912.
    """

    def __init__(self, channels: int = 64, blocks: int = 3, depth: int = 6, out_channels: int = 128):
        super().__init__()
        self.out_channels = out_channels
        self.head = conv3(1, channels)
        self.blocks = nn.ModuleList(
            [nn.ModuleList([conv3(channels, channels) for _ in range(depth)]) for _ in range(blocks)]
        )
        self.tail = conv3(channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.head(x))
        for block in self.blocks:
            r = h
            for conv in block:
                r = F.relu(conv(r))
            h = h + r
        return self.tail(h) + x

    def init_identity(self) -> None:
        """Feature channel 0 = the input intensity (the broadcast input skip alone)."""
        pass_channel(self.tail, 0, None)


@register("rescnn")
class ResCNN(nn.Module):
    """Per-scale baseline of Du et al. (2020): 20 conv layers (3^3, 64 channels, ReLU) with
    global residual learning. Takes the cubic-upsampled LR (B, 1, D, H, W) on the HR grid
    and returns the HR estimate on the same grid. Parameters with the defaults: 1,995,329.

    Initialisation as in VDSR, which ResCNN follows: He-normal weights for the ReLU layers
    (PyTorch's default scales them by 1/sqrt(3), and the signal of a 20-layer plain stack
    then dies out: the network stayed at its cubic input), zero biases, and a zero output
    layer, so the network starts exactly at its cubic input and learns the residual.
    """

    #: The network adds its output to its (cubic-upsampled) input: its starting point is that input.
    residual = True

    #: A plain conv stack: inference runs it channels-last on the CPU (``infer.engine.memory_format``).
    channels_last = True

    def __init__(self, channels: int = 64, layers: int = 20, scale: float | None = None):
        super().__init__()
        self.scale = scale
        body = [conv3(1, channels), nn.ReLU(inplace=True)]
        for _ in range(layers - 2):
            body += [conv3(channels, channels), nn.ReLU(inplace=True)]
        body.append(conv3(channels, 1))
        self.body = nn.Sequential(*body)
        convs = [m for m in self.body if isinstance(m, nn.Conv3d)]
        for conv in convs[:-1]:
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
        nn.init.zeros_(convs[-1].weight)
        nn.init.zeros_(convs[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)
