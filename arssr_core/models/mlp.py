"""ArSSR's decoder: an 8-layer MLP that maps (feature, coordinate) to an intensity.

Stage one 131->256->256->256->131, stage two 131->256->256->256->1, ReLU after every
layer, the last included; stage two reads ``x + stage_one(x)``. Parameters with the
defaults: 364,676.

The ReLU after the last layer can leave the whole output at zero from the start (no
gradient, training never begins; 2 of 5 PyTorch-default seeds here). We keep the
layer and make a dead start unlikely and loud: the last bias starts at
``out_bias`` (> 0, about the mean brain intensity), and :func:`check_alive` lets
training stop with a clear message if the output is still all zero.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import ArssrError
from .layers import pass_channel
from .registry import register


def _stage(dims: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


@register("arssr_mlp")
class ArSSRDecoder(nn.Module):
    """(..., in_dim) -> (..., 1)."""

    def __init__(self, in_dim: int = 131, hidden: int = 256, depth: int = 4, out_bias: float = 0.3):
        super().__init__()
        self.stage1 = _stage([in_dim] + [hidden] * (depth - 1) + [in_dim])
        self.stage2 = _stage([in_dim] + [hidden] * (depth - 1) + [1])
        with torch.no_grad():
            self.stage2[-2].bias.fill_(out_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage2(x + self.stage1(x))

    @torch.no_grad()
    def init_identity(self, channel: int = 0) -> None:
        """Output = input ``channel`` (for inputs >= 0): unit 0 of every stage-two layer copies it,
        stage one's output row ``channel`` is zeroed, and the last layer reads unit 0 only."""
        lin1 = [m for m in self.stage1 if isinstance(m, nn.Linear)]
        lin2 = [m for m in self.stage2 if isinstance(m, nn.Linear)]
        pass_channel(lin1[-1], channel, None)
        pass_channel(lin2[0], 0, channel)
        for layer in lin2[1:-1]:
            pass_channel(layer, 0, 0)
        pass_channel(lin2[-1], 0, 0)


def check_alive(out: torch.Tensor, where: str = "decoder") -> None:
    """Raise if an output batch is all zero (a dead ReLU start: no gradient can flow)."""
    if out.numel() and not bool((out > 0).any()):
        raise ArssrError(
            f"{where}: every output is zero (dead final ReLU), so training cannot start; "
            "re-initialise with another seed or a larger decoder out_bias"
        )
