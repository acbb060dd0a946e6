"""Simulated receive-coil sensitivities for multi-coil k-space.

Model: the birdcage maps of SigPy's ``sigpy.mri.birdcage_maps`` (also in deepinv's coil simulation): ``C`` coils
evenly spaced on a circle of radius ``radius`` (in units of the half field of view) around the image, each with a
magnitude falling off as 1 / distance and a phase equal to the angle seen from the coil. Written here because it is
twenty lines and neither MONAI nor the project's dependencies have it (deepinv and SigPy would be new dependencies
for this one function). The maps are normalised so that ``sum_c |S_c|^2 = 1`` at every pixel, so the coil
combination ``sum_c conj(S_c) S_c x`` returns ``x`` exactly and the root-sum-of-squares of the coil images is
``|x|``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["birdcage_maps", "normalise_maps"]


def normalise_maps(maps: Tensor, eps: float = 1e-12) -> Tensor:
    """Scale complex maps ``(C, H, W)`` (or ``(B, C, H, W)``) so that the sum of ``|S_c|^2`` over coils is 1."""
    if not torch.is_complex(maps) or maps.ndim not in (3, 4):
        raise ValueError(
            f"argument 'maps' must be complex (C, H, W) or (B, C, H, W), got {maps.dtype} {tuple(maps.shape)}."
        )
    norm = torch.linalg.vector_norm(maps, dim=-3, keepdim=True)
    return maps / norm.clamp_min(eps)


def birdcage_maps(
    shape: Sequence[int], coils: int, radius: float = 1.5, rotation: float = 0.0, dtype: torch.dtype = torch.complex64
) -> Tensor:
    """Birdcage sensitivities ``(coils, H, W)``, normalised (see the module docstring).

    Args:
        shape: image size ``(H, W)``.
        coils: number of coils (at least 1).
        radius: distance of the coils from the image centre, in half fields of view (> 1: outside the image).
        rotation: angle (radians) of the first coil; a subject-specific rotation changes the maps per subject.
        dtype: complex dtype of the result.
    """
    h, w = (int(s) for s in shape)
    if h < 1 or w < 1 or int(coils) < 1:
        raise ValueError(f"arguments 'shape' and 'coils' must be positive, got {tuple(shape)} and {coils!r}.")
    if not radius > 1.0:
        raise ValueError(f"argument 'radius' must be > 1 (coils outside the field of view), got {radius!r}.")
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    y = torch.linspace(-1.0, 1.0, h, dtype=real)[:, None].expand(h, w)
    x = torch.linspace(-1.0, 1.0, w, dtype=real)[None, :].expand(h, w)
    maps = []
    for c in range(int(coils)):
        angle = rotation + 2 * math.pi * c / int(coils)
        dx, dy = x - radius * math.cos(angle), y - radius * math.sin(angle)
        distance = torch.sqrt(dx**2 + dy**2)
        phase = torch.atan2(dy, dx) - angle
        maps.append(torch.polar(1.0 / distance, phase))
    return normalise_maps(torch.stack(maps).to(dtype))
