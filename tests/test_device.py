"""One precision rule for the package: ``auto`` picks bf16 only where the hardware computes
it natively (the CPU's capability is simulated here by replacing the flags it reports)."""

from __future__ import annotations

import pytest
import torch

from arssr_core import device as dev
from arssr_core.errors import RequestError

CPU = torch.device("cpu")


@pytest.fixture
def flags(monkeypatch):
    """Make the CPU report the given feature flags (and no oneDNN ISA limit)."""
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)

    def set_flags(*names: str) -> None:
        monkeypatch.setattr(dev, "cpu_flags", lambda: frozenset(names))
    return set_flags


def test_auto_is_fp32_on_a_cpu_without_native_bf16(flags):
    flags("sse4_2", "avx2", "fma", "avx512f", "avx512bw")  # AVX-512 but no BF16 instructions
    assert not dev.cpu_native_bf16()
    assert dev.pick_precision("auto", CPU) == "fp32"
    assert dev.machine()["cpu_native_bf16"] is False


@pytest.mark.parametrize("flag", ["avx512_bf16", "amx_bf16"])
def test_auto_is_bf16_on_a_cpu_with_native_bf16(flags, flag):
    flags("avx2", flag)
    assert dev.pick_precision("auto", CPU) == "bf16"


def test_a_onednn_isa_limit_below_bf16_means_no_native_bf16(flags, monkeypatch):
    flags("avx2", "avx512_bf16", "amx_bf16")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert dev.pick_precision("auto", CPU) == "fp32"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert dev.pick_precision("auto", CPU) == "bf16"


def test_explicit_bf16_without_native_support_warns_and_fp16_on_cpu_is_refused(flags):
    flags("avx2")
    with pytest.warns(UserWarning, match="50x slower"):
        assert dev.pick_precision("bf16", CPU) == "bf16"
    assert dev.pick_precision("fp32", CPU) == "fp32"
    with pytest.raises(RequestError, match="fp16 is for CUDA"):
        dev.pick_precision("fp16", CPU)
    with pytest.raises(RequestError, match="unknown precision"):
        dev.pick_precision("half", CPU)


def test_this_machine_is_described_from_its_own_flags():
    """Whatever this CPU is, the record agrees with /proc/cpuinfo's flags."""
    import os

    native = any(f in dev.cpu_flags() for f in dev.NATIVE_BF16_FLAGS) and "ONEDNN_MAX_CPU_ISA" not in os.environ
    m = dev.machine()
    assert m["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert m["cpu_native_bf16"] == native
    assert ("no native bf16" in dev.describe_machine()) == (not native)
