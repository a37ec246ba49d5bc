"""Device and precision selection: CUDA when there is one, mixed precision there."""

from __future__ import annotations

import contextlib

import torch

from .errors import RequestError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> CUDA if available else CPU; ``cuda`` without a GPU is refused clearly."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RequestError("device 'cuda' asked for, but PyTorch sees no CUDA GPU here (use --device cpu)")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise RequestError(f"unknown device '{device}' (auto, cpu or cuda)")
    return torch.device(device)


def pick_precision(precision: str, device: torch.device) -> str:
    """Resolve ``auto``: bf16 on CUDA with bf16 support (else fp16), fp32 on CPU."""
    if precision not in PRECISIONS:
        raise RequestError(f"unknown precision '{precision}' ({', '.join(PRECISIONS)})")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"
    if precision == "fp16" and device.type == "cpu":
        raise RequestError("fp16 is for CUDA; on the CPU use bf16 or fp32")
    return precision


def autocast(device: torch.device, precision: str):
    """Autocast context for ``precision`` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)
