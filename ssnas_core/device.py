"""Device resolution and mixed precision; nothing else in the library names a device."""

from __future__ import annotations

import contextlib

import torch


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available")
    return dev


def autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast where asked (no loss scaling needed); a no-op otherwise."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@contextlib.contextmanager
def matmul_precision(mode: str):
    """float32 matrix products on the CPU: ``bf16`` (oneDNN rounds the inputs to bfloat16 and
    accumulates in float32, where the CPU has AMX / AVX512-BF16; IEEE elsewhere) or ``fp32``.
    A process-wide torch setting, restored on exit."""
    backend = torch.backends.mkldnn.matmul
    before = backend.fp32_precision
    backend.fp32_precision = "bf16" if mode == "bf16" else "ieee"
    try:
        yield
    finally:
        backend.fp32_precision = before
