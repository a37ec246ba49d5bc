"""RDN encoder (Zhang et al. 2018) in 3D, as the ArSSR authors' code has it, without upsampling.

Parameters with the defaults: 5,918,784.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import conv3, pass_channel
from .registry import register


class DenseBlock(nn.Module):
    """Residual dense block: ``layers`` dense conv+ReLU layers, 1x1 local fusion, local residual."""

    def __init__(self, channels: int = 64, growth: int = 64, layers: int = 3):
        super().__init__()
        self.convs = nn.ModuleList(
            [conv3(channels + i * growth, growth) for i in range(layers)]
        )
        self.fuse = nn.Conv3d(channels + layers * growth, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():
            return self._forward_inference(x)
        feats = [x]
        for conv in self.convs:
            feats.append(F.relu(conv(torch.cat(feats, 1))))
        return x + self.fuse(torch.cat(feats, 1))

    def _forward_inference(self, x: torch.Tensor) -> torch.Tensor:
        """Same maths without autograd: each layer writes into one preallocated buffer and
        reads a channel prefix of it, instead of concatenating copies (about half the memory)."""
        c = x.shape[1]
        growth = self.convs[0].out_channels
        buf = x.new_empty((x.shape[0], c + len(self.convs) * growth) + tuple(x.shape[2:]))
        buf[:, :c] = x
        for i, conv in enumerate(self.convs):
            buf[:, c + i * growth:c + (i + 1) * growth] = conv(buf[:, :c + i * growth]).relu_()
        return self.fuse(buf).add_(x)


@register("rdn")
class RDN(nn.Module):
    """(B, 1, D, H, W) -> (B, out_channels, D, H, W) feature map, same grid as the input.

    The global fusion (1x1 conv over the concatenated block outputs) is accumulated
    block by block, which is the same linear map without holding all block outputs
    at once: memory stays at a few feature maps for any input size.
    """

    def __init__(self, channels: int = 64, blocks: int = 8, layers: int = 3, growth: int = 64,
                 out_channels: int = 128):
        super().__init__()
        self.out_channels = out_channels
        self.sfe1 = conv3(1, channels)
        self.sfe2 = conv3(channels, channels)
        self.blocks = nn.ModuleList([DenseBlock(channels, growth, layers) for _ in range(blocks)])
        self.gff1 = nn.Conv3d(blocks * channels, channels, 1)
        self.gff2 = conv3(channels, channels)
        self.out = conv3(channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.sfe1(x)
        h = self.sfe2(skip)
        c = h.shape[1]
        w = self.gff1.weight
        fused = None
        grad = torch.is_grad_enabled()  # without autograd, sums are taken in place (less memory)
        for i, block in enumerate(self.blocks):
            h = block(h)
            part = F.conv3d(h, w[:, i * c:(i + 1) * c])
            fused = part if fused is None else (fused + part if grad else fused.add_(part))
        del h
        fused = fused + self.gff1.bias.view(1, -1, 1, 1, 1) if grad else fused.add_(self.gff1.bias.view(1, -1, 1, 1, 1))
        g = self.gff2(fused)
        del fused
        return self.out(g + skip if grad else g.add_(skip))

    def init_identity(self) -> None:
        """Feature channel 0 = the input intensity (via the global skip); the rest as initialised."""
        pass_channel(self.sfe1, 0, 0)
        pass_channel(self.gff2, 0, None)
        pass_channel(self.out, 0, 0)
