"""Numerical precision of the networks: ``fp32``, ``bf16`` or ``fp16`` autocast, and ``auto``.

``auto`` picks bf16 where the device computes it natively (CUDA GPUs that report bf16 support; CPUs whose oneDNN
has bf16 kernels, i.e. AVX512-BF16 or AMX) and fp32 elsewhere. Only the U-Nets' convolutions change precision:
k-space math stays complex64 (torch's FFT has no bf16, and cuFFT in fp16 needs power-of-two sizes), SampNet's
probabilities and rescaling stay fp32, and losses and metrics are computed in fp32. fp16 needs a CUDA device
and a gradient scaler (:func:`grad_scaler`).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch

from .names import PRECISIONS

__all__ = [
    "PRECISIONS",
    "check_precision",
    "resolve_precision",
    "amp_dtype",
    "autocast",
    "grad_scaler",
    "cpu_has_bf16",
    "cuda_has_bf16",
]

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU runs bf16 convolutions natively (oneDNN's check for AVX512-BF16 / AMX)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without the check: assume no native bf16
        return False


def cuda_has_bf16(device: torch.device) -> bool:
    """Whether this CUDA device computes bf16 natively (compute capability 8.0 or newer; torch's
    ``is_bf16_supported()`` also says yes for the emulated bf16 of older GPUs)."""
    return torch.cuda.get_device_capability(device)[0] >= 8


def _device(device: str | torch.device) -> torch.device:
    return device if isinstance(device, torch.device) else torch.device(device)


def check_precision(name: str, setting: str = "train.precision") -> str:
    """``name`` if it is one of :data:`PRECISIONS`; otherwise a ``ValueError`` naming ``setting``."""
    if name not in PRECISIONS:
        raise ValueError(f"{setting} must be one of {PRECISIONS}, got {name!r}.")
    return name


def resolve_precision(name: str, device: str | torch.device, setting: str = "train.precision") -> str:
    """The concrete precision (``fp32``, ``bf16`` or ``fp16``) for ``name`` on ``device``.

    Raises:
        ValueError: naming ``setting`` for an unknown name, fp16 on a CPU, or bf16 on a device without it.
    """
    check_precision(name, setting)
    device = _device(device)
    cuda = device.type == "cuda"
    bf16_ok = cuda_has_bf16(device) if cuda else device.type == "cpu" and cpu_has_bf16()
    if name == "auto":
        return "bf16" if bf16_ok else "fp32"
    if name == "fp16" and not cuda:
        raise ValueError(f"{setting} 'fp16' needs a CUDA device (got {device}); on a CPU use 'bf16', 'auto' or 'fp32'.")
    if name == "bf16" and not bf16_ok:
        raise ValueError(
            f"{setting} 'bf16': the device {device} has no native bf16 support; use 'auto' or 'fp32'"
            + (" ('fp16' on this GPU)." if cuda else ".")
        )
    return name


def amp_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a concrete precision (None for fp32)."""
    return _DTYPES.get(precision)


@contextlib.contextmanager
def autocast(device: str | torch.device, precision: str) -> Iterator[None]:
    """Autocast region for a concrete precision (no-op for fp32)."""
    dtype = amp_dtype(precision)
    if dtype is None:
        yield
        return
    with torch.autocast(_device(device).type, dtype=dtype):
        yield


def grad_scaler(device: str | torch.device, precision: str) -> torch.amp.GradScaler | None:
    """A gradient scaler for fp16 (its small exponent range underflows gradients); None for fp32 and bf16."""
    return torch.amp.GradScaler(_device(device).type) if precision == "fp16" else None
