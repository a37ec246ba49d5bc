"""RDN encoder (Zhang et al. 2018) in 3D, as the ArSSR authors' code has it, without upsampling.

Parameters with the defaults: 5,918,784.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import CUDA_SLAB_VOXELS, SLAB_VOXELS, conv3, conv_slabs, pass_channel
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
        feats = [x]
        for conv in self.convs:
            feats.append(F.relu(conv(torch.cat(feats, 1))))
        return x + self.fuse(torch.cat(feats, 1))

    def update_(self, buf: torch.Tensor, slab_voxels: int = SLAB_VOXELS) -> None:
        """The same maths without autograd, in place: ``buf`` (B, channels + layers * growth,
        ...) holds the block input in its first ``channels`` channels; each layer writes its
        output into the next channels and reads the prefix before them (no concatenated
        copies), and the block output replaces the input. Convolutions run by depth slabs
        (:func:`conv_slabs`)."""
        c = self.fuse.out_channels
        growth = self.convs[0].out_channels
        for i, conv in enumerate(self.convs):
            conv_slabs(conv, buf[:, :c + i * growth], buf[:, c + i * growth:c + (i + 1) * growth], relu=True,
                       slab_voxels=slab_voxels)
        conv_slabs(self.fuse, buf, buf[:, :c], add=True, slab_voxels=slab_voxels)


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
        self.slab_voxels = SLAB_VOXELS  # inference only: output voxels per convolution slab

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():
            return self._forward_inference(x)
        skip = self.sfe1(x)
        h = self.sfe2(skip)
        c = h.shape[1]
        w = self.gff1.weight
        fused = None
        for i, block in enumerate(self.blocks):
            h = block(h)
            part = F.conv3d(h, w[:, i * c:(i + 1) * c])
            fused = part if fused is None else fused + part
        fused = fused + self.gff1.bias.view(1, -1, 1, 1, 1)
        return self.out(self.gff2(fused) + skip)

    def _forward_inference(self, x: torch.Tensor) -> torch.Tensor:
        """The same maths with less memory (no autograd): one buffer carries the block
        state and the dense layers (:meth:`DenseBlock.update_`), sums are taken in place,
        every convolution runs by depth slabs (:func:`conv_slabs`) and the global skip
        ``sfe1(x)`` is recomputed at the end instead of being held. Peak: the buffer plus
        the fused sum, ``channels * (blocks[0] width + 1)`` values per voxel."""
        sv = self.slab_voxels if x.device.type == "cpu" else max(self.slab_voxels, CUDA_SLAB_VOXELS)
        c = self.sfe2.out_channels
        extra = sum(conv.out_channels for conv in self.blocks[0].convs)
        skip = conv_slabs(self.sfe1, x, slab_voxels=sv)
        buf = skip.new_empty((x.shape[0], c + extra) + tuple(x.shape[2:]))
        conv_slabs(self.sfe2, skip, buf[:, :c], slab_voxels=sv)
        del skip
        w = self.gff1.weight
        fused = None
        for i, block in enumerate(self.blocks):
            block.update_(buf, sv)
            if fused is None:
                fused = conv_slabs(self.gff1, buf[:, :c], weight=w[:, :c], slab_voxels=sv)
            else:
                conv_slabs(self.gff1, buf[:, :c], fused, add=True, weight=w[:, i * c:(i + 1) * c], bias=False,
                           slab_voxels=sv)
        del buf
        g = conv_slabs(self.gff2, fused, slab_voxels=sv)
        del fused
        conv_slabs(self.sfe1, x, g, add=True, slab_voxels=sv)
        return conv_slabs(self.out, g, slab_voxels=sv)

    def init_identity(self) -> None:
        """Feature channel 0 = the input intensity (via the global skip); the rest as initialised."""
        pass_channel(self.sfe1, 0, 0)
        pass_channel(self.gff2, 0, None)
        pass_channel(self.out, 0, 0)
