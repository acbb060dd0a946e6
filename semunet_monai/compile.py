"""Optional ``torch.compile`` for inference, with a clean fall-back to eager execution.

Inductor generates C++ (CPU) or Triton (GPU) code at run time, so it needs a C/C++ compiler on the machine; its
failures surface only at the first call. :class:`CompiledForward` checks for a compiler up front and turns either
failure into one warning and eager execution. Training is not compiled: inductor in torch 2.13 fails on BasicUNet's
backward (``replication_pad2d_backward`` stride assertion), see benchmarks/speed.py.
"""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any

from torch import nn

__all__ = ["find_compiler", "should_compile", "CompiledForward", "COMPILE_MIN_VOLUMES"]

# auto compiles from this many volumes on: on 2 CPU cores compiling took 47 s with a cold inductor cache (6 s warm)
# and then saved 1.6 s per 240x240x48 volume (benchmarks/speed.py), so it pays off after about 30 (4) volumes
COMPILE_MIN_VOLUMES = 30

logger = logging.getLogger(__name__)


def find_compiler() -> str | None:
    """The C++ compiler inductor would use (``$CXX``, else ``c++``, ``g++`` or ``clang++`` on the PATH), or None."""
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def should_compile(setting: bool | str, n_volumes: int) -> bool:
    """The ``compile`` setting of inference: ``True``/``False``, or ``"auto"`` (from :data:`COMPILE_MIN_VOLUMES`
    volumes on)."""
    if isinstance(setting, bool):
        return setting
    text = str(setting).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    if text != "auto":
        raise ValueError(f"compile must be true, false or 'auto', got {setting!r}.")
    return int(n_volumes) >= COMPILE_MIN_VOLUMES


class CompiledForward:
    """Call ``module`` through ``torch.compile`` when ``enabled`` and possible, eagerly otherwise.

    Not an ``nn.Module``, so the owner's state dict keeps the eager module's keys.

    Args:
        module: the module to run.
        enabled: try to compile it.
        setting: the name of the setting that enabled compilation, for messages.
    """

    def __init__(self, module: nn.Module, enabled: bool, setting: str = "compile") -> None:
        self.module = module
        self.setting = setting
        self.compiled: Any = None
        self.compiled_once = False
        if not enabled:
            return
        if find_compiler() is None:
            logger.warning("%s: no C++ compiler found (CXX, c++, g++, clang++); running eagerly.", setting)
            return
        import torch

        # default dynamic shapes: a second batch size (a volume's last, smaller batch of slices) compiles once more,
        # with a dynamic batch dimension, instead of once per size
        self.compiled = torch.compile(module)

    @property
    def active(self) -> bool:
        """Whether calls go through the compiled module."""
        return self.compiled is not None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.compiled is None:
            return self.module(*args, **kwargs)
        if self.compiled_once:  # after a successful compilation errors are the input's: they propagate
            return self.compiled(*args, **kwargs)
        try:
            out = self.compiled(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - any inductor/dynamo failure: report once, then stay eager
            logger.warning("%s: torch.compile failed (%s); running eagerly.", self.setting, str(err).splitlines()[0])
            self.compiled = None
            return self.module(*args, **kwargs)
        self.compiled_once = True
        return out
