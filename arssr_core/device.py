"""Device and precision selection, one rule for the whole package.

- Device ``auto``: CUDA when PyTorch sees a GPU, else the CPU.
- Precision ``auto``: bf16 only where the hardware computes it natively, fp32 elsewhere.
  Native bf16 means CUDA with bf16 support (else fp16 there), or a CPU that reports
  AVX512-BF16 or AMX-BF16. On a CPU without them PyTorch emulates bf16, many times slower
  than fp32 (``benchmarks/results/bench_train_avx2.txt``). The capability is read from the
  CPU, never assumed; :func:`machine` describes it for run records and benchmarks.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import warnings

import torch

from .errors import RequestError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: CPU flags (as Linux's /proc/cpuinfo names them) that mean bf16 arithmetic in hardware.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def _read_cpuinfo() -> tuple[str, frozenset[str]]:
    """(model name, flags) of the first CPU in /proc/cpuinfo; empty where there is none."""
    name, flags = platform.processor() or platform.machine(), frozenset()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and name in ("", platform.machine(), platform.processor()):
                    name = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = frozenset(value.split())
                if name and flags and key == "":
                    break
    except OSError:
        pass
    return name, flags


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (lower case; empty when the OS does not say)."""
    return _read_cpuinfo()[1]


def cpu_native_bf16() -> bool:
    """True when the CPU computes bf16 in hardware (AVX512-BF16 or AMX-BF16) and oneDNN,
    PyTorch's CPU kernel library, may use it (``ONEDNN_MAX_CPU_ISA`` can forbid it)."""
    if not any(f in cpu_flags() for f in NATIVE_BF16_FLAGS):
        return False
    limit = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    return limit in ("ALL", "DEFAULT", "") or any(k in limit for k in ("BF16", "AMX", "AVX10", "FP16"))


def native_bf16(device: torch.device) -> bool:
    """True when ``device`` computes bf16 natively (CUDA with bf16 support, or such a CPU)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return device.type == "cpu" and cpu_native_bf16()


def machine() -> dict[str, object]:
    """What a run record and a benchmark say about the machine: CPU model, PyTorch's CPU
    capability, native bf16, threads, cores, GPU (if any), PyTorch version."""
    name, _ = _read_cpuinfo()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": name,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_native_bf16": cpu_native_bf16(),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "gpu": gpu,
        "torch": str(torch.__version__),
    }


def describe_machine() -> str:
    """One line of :func:`machine`, for benchmark headers."""
    m = machine()
    bf16 = "native bf16" if m["cpu_native_bf16"] else "no native bf16 (bf16 emulated, slow)"
    gpu = f", GPU {m['gpu']}" if m["gpu"] else ""
    return (f"{m['cpu']} ({m['cpu_capability']}, {bf16}), {m['cpus']} cpus, {m['threads']} torch threads"
            f"{gpu}, torch {m['torch']}")


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
    """Resolve ``auto`` (see the module docstring); refuse fp16 on the CPU; warn when bf16
    is asked for explicitly on a CPU that would only emulate it."""
    if precision not in PRECISIONS:
        raise RequestError(f"unknown precision '{precision}' ({', '.join(PRECISIONS)})")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if native_bf16(device) else "fp16"
        return "bf16" if native_bf16(device) else "fp32"
    if precision == "fp16" and device.type == "cpu":
        raise RequestError("fp16 is for CUDA; on the CPU use bf16 or fp32")
    if precision == "bf16" and device.type == "cpu" and not cpu_native_bf16():
        warnings.warn("bf16 asked for on a CPU without native bf16 (no AVX512-BF16/AMX): PyTorch emulates it, "
                      "about 50x slower than fp32 here; use precision 'auto' or 'fp32'", stacklevel=2)
    return precision


def autocast(device: torch.device, precision: str):
    """Autocast context for ``precision`` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)
