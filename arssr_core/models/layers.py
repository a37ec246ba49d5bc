"""Small 3D building blocks shared by the encoders and baselines."""

from __future__ import annotations

import torch.nn as nn


def conv3(cin: int, cout: int, kernel: int = 3) -> nn.Conv3d:
    """3D convolution with 'same' padding (odd ``kernel``)."""
    return nn.Conv3d(cin, cout, kernel, padding=kernel // 2)
