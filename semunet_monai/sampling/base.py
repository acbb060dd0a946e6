"""The base class of fixed k-space masks: shape and rate checks, the object's own generator, one hook per draw."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor

from .common import check_rate, check_shape

__all__ = ["FixedMask"]


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"argument 'seed' must be an int, got {seed!r}.")
    return seed


def _check_number(value: float, name: str, *, low: float, strict: bool) -> float:
    """``value`` as a finite float above ``low`` (``> low`` if ``strict`` else ``>= low``)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value <= low if strict else value < low):
        bound = f"> {low}" if strict else f">= {low}"
        raise ValueError(f"argument '{name}' must be a finite number {bound}, got {value!r}.")
    return float(value)


class FixedMask(ABC):
    """Base class of fixed masks: validates ``shape``/``rate``, owns the generator, calls one hook per draw.

    Each call draws a new mask from the object's generator (as MONAI's ``RandomKspaceMask`` does); reset it with
    :meth:`set_random_state` to repeat a draw.

    Args:
        shape: k-space size ``(H, W)``.
        rate: sampling rate in (0, 1): fraction of pixels (``"2d"``) or of phase-encode lines (``"lines"``).
        seed: seed of the object's own ``torch.Generator``.
    """

    kind: str = ""
    geometry: str = "2d"

    def __init__(self, shape: Sequence[int], rate: float, seed: int = 0) -> None:
        self.shape = check_shape(shape)
        self.rate = check_rate(rate)
        self.generator = torch.Generator()
        self.set_random_state(seed)

    def set_random_state(self, seed: int) -> FixedMask:
        """Reseed the object's generator (like MONAI's ``Randomizable.set_random_state``); returns ``self``."""
        self.seed = _check_seed(seed)
        self.generator.manual_seed(self.seed)
        return self

    def __call__(self) -> Tensor:
        """Draw a mask: boolean ``(H, W)``."""
        return self._sample()

    @abstractmethod
    def _sample(self) -> Tensor:
        """The hook each kind implements: one boolean ``(H, W)`` mask from ``self.generator``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape}, rate={self.rate}, seed={self.seed})"
