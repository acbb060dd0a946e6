"""Small pieces shared by fixed masks and SampNet: argument checks, centre regions and exact top-n selection."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..names import GEOMETRIES  # "2d", "lines", "kykz"

__all__ = [
    "GEOMETRIES",
    "SAMPLER_GEOMETRIES",
    "check_rate",
    "check_shape",
    "budget",
    "centre_disc",
    "centre_lines",
    "top_n",
    "normalised_radius",
]

SAMPLER_GEOMETRIES = ("2d", "lines")


def check_rate(rate: float, name: str = "rate") -> float:
    """Return ``rate`` as float if it lies in the open interval (0, 1), else raise ``ValueError`` naming it."""
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise ValueError(f"argument '{name}' must be a number in (0, 1), got {rate!r}.") from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"argument '{name}' must be in the open interval (0, 1), got {rate!r}.")
    return value


def check_shape(shape: Sequence[int], name: str = "shape") -> tuple[int, int]:
    """Return ``shape`` as ``(H, W)`` of positive ints, else raise ``ValueError`` naming it."""
    try:
        hw = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"argument '{name}' must be two positive integers (H, W), got {shape!r}.") from None
    if len(hw) != 2 or min(hw) < 1 or any(int(s) != s for s in shape):
        raise ValueError(f"argument '{name}' must be two positive integers (H, W), got {shape!r}.")
    return hw  # type: ignore[return-value]


def budget(rate: float, total: int) -> int:
    """The sample budget ``n = round(rate * total)``, at least 1."""
    return max(1, int(round(rate * total)))


def centre_disc(shape: Sequence[int], radius: float) -> Tensor:
    """Boolean ``(H, W)`` disc of ``radius`` pixels around the k-space centre ``(H // 2, W // 2)``.

    The centre follows the centered-FFT convention (DC at index ``n // 2``); radius 0 gives the DC pixel
    alone, a negative radius gives an empty mask.
    """
    h, w = check_shape(shape)
    yy = torch.arange(h, dtype=torch.float64) - h // 2
    xx = torch.arange(w, dtype=torch.float64) - w // 2
    r2 = yy[:, None] ** 2 + xx[None, :] ** 2
    return r2 <= float(radius) ** 2 if radius >= 0 else torch.zeros(h, w, dtype=torch.bool)


def centre_lines(width: int, n: int) -> Tensor:
    """Boolean ``(W,)`` vector selecting the ``n`` central phase-encode lines (DC line at ``W // 2`` included)."""
    width, n = int(width), int(n)
    out = torch.zeros(width, dtype=torch.bool)
    if n <= 0:
        return out
    start = width // 2 - n // 2
    out[max(0, start) : min(width, start + n)] = True
    return out


def top_n(scores: Tensor, n: int, forced: Tensor | None = None) -> Tensor:
    """Boolean mask of the ``n`` highest ``scores``, always including ``forced`` entries.

    Ties are broken deterministically: among equal scores the lower flat index wins (stable sort).

    Args:
        scores: real tensor of any shape.
        n: exact number of selected entries, ``0 <= n <= scores.numel()``.
        forced: optional boolean tensor of the same shape selected first (counted inside ``n``).

    Returns:
        boolean tensor shaped like ``scores`` with exactly ``n`` True entries.
    """
    flat = scores.detach().flatten().to(torch.float64)
    if not 0 <= n <= flat.numel():
        raise ValueError(f"argument 'n' must be in [0, {flat.numel()}], got {n}.")
    if forced is not None:
        forced_flat = forced.flatten().to(flat.device, torch.bool)
        n_forced = int(forced_flat.sum())
        if n_forced > n:
            raise ValueError(f"the forced region holds {n_forced} samples, more than the budget n={n}.")
        flat = torch.where(forced_flat, torch.full_like(flat, float("inf")), flat)
    order = torch.argsort(-flat, stable=True)
    out = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    out[order[:n]] = True
    return out.reshape(scores.shape)


def normalised_radius(shape: tuple[int, ...]) -> Tensor:
    """Radius from the k-space centre, 1 at the edge along each axis; ``shape`` is ``(W,)`` or ``(H, W)``."""
    axes = [(torch.arange(n, dtype=torch.float64) - n // 2) / max(n / 2, 1) for n in shape]
    grids = torch.meshgrid(*axes, indexing="ij")
    return torch.sqrt(sum(g**2 for g in grids))
