"""ArSSR: an encoder of the LR volume plus an MLP decoder of the implicit voxel function.

``encode(lr)`` runs once per volume; ``query(features, coords)`` decodes any set of
points of the field of view, so inference encodes once and queries many times.
Coordinates are cell centres normalised to (-1, 1) per axis in array-index order
(see :mod:`arssr_core.data.coords`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import build_model, register

ENCODERS = {"rdn": "rdn", "rescnn": "rescnn_encoder", "srresnet": "srresnet"}


@register("arssr")
class ArSSR(nn.Module):
    """ArSSR with any registered encoder; ``encoder_spec`` and ``decoder_spec`` are nested specs."""

    def __init__(self, encoder_spec: dict[str, Any], decoder_spec: dict[str, Any] | None = None):
        super().__init__()
        self.encoder = build_model(encoder_spec)
        feat = self.encoder.out_channels
        decoder_spec = decoder_spec or {"name": "arssr_mlp", "args": {}}
        self.decoder = build_model(decoder_spec, in_dim=feat + 3)

    def encode(self, lr: torch.Tensor) -> torch.Tensor:
        """(B, 1, d, h, w) LR intensities -> (B, C, d, h, w) feature map."""
        return self.encoder(lr)

    def query(self, features: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Intensities at ``coords`` (B, K, 3) in (-1, 1), array-index order -> (B, K).

        Features are trilinearly interpolated (``grid_sample``, ``align_corners=False``,
        border padding); grid_sample wants (x, y, z) = reversed array axes.
        """
        grid = coords.flip(-1).view(coords.shape[0], 1, 1, -1, 3).to(features.dtype)
        f = F.grid_sample(features, grid, mode="bilinear", padding_mode="border", align_corners=False)
        f = f.view(features.shape[0], features.shape[1], -1).transpose(1, 2)
        return self.decode(f, coords)

    def decode(self, f: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Intensities from interpolated features ``f`` (..., C) at ``coords`` (..., 3) -> (...)."""
        return self.decoder(torch.cat([f, coords.to(f.dtype)], -1)).squeeze(-1)

    def forward(self, lr: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        return self.query(self.encode(lr), coords)

    def init_identity(self) -> None:
        """Start as trilinear interpolation of the LR: feature channel 0 carries the LR
        intensity and the decoder passes it through; every other weight keeps its random
        initialisation and the whole network trains. A training recipe of this study,
        not the paper's (see ``TrainConfig.init``)."""
        self.encoder.init_identity()
        self.decoder.init_identity(0)


def _arssr_factory(encoder: str):
    def make(decoder_spec: dict[str, Any] | None = None, **encoder_args: Any) -> ArSSR:
        return ArSSR({"name": ENCODERS[encoder], "args": encoder_args}, decoder_spec)

    make.__doc__ = f"ArSSR with the {encoder} encoder (keyword arguments go to the encoder)."
    return make


for _enc in ENCODERS:
    register(f"arssr-{_enc}")(_arssr_factory(_enc))
