"""A smooth, seeded image phase for complex-valued simulation.

Model: a random polynomial of degree ``degree`` (default 2) in the normalised coordinates, plus a constant, with
each coefficient drawn uniformly from ``[-max_phase, max_phase] / (number of terms)``. In brain MRI the image phase
comes from the receive chain (a constant), B0 offsets and eddy currents (linear ramps) and field inhomogeneity
(slowly varying, roughly quadratic over a slice); a low-order polynomial reproduces those, is smooth (so the image
stays band-limited like a real one) and breaks the Hermitian symmetry that the k-space of a real image has (the
"implicit data crime", Shimron et al., PNAS 2022), without the high-frequency phase of susceptibility artefacts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["smooth_phase"]


def smooth_phase(
    shape: Sequence[int], seed: int, degree: int = 2, max_phase: float = math.pi, dtype: torch.dtype = torch.float32
) -> Tensor:
    """A phase map ``(H, W)`` in radians, deterministic per ``seed`` (the global RNG is untouched).

    Args:
        shape: ``(H, W)``.
        seed: non-negative integer.
        degree: highest total degree of the polynomial (0: a constant phase).
        max_phase: bound on ``|phase|`` anywhere in the image (radians).
        dtype: real dtype of the result.
    """
    h, w = (int(s) for s in shape)
    if h < 1 or w < 1 or int(degree) < 0 or int(seed) < 0 or not max_phase >= 0:
        raise ValueError(
            f"smooth_phase: expected positive shape, degree >= 0, seed >= 0, max_phase >= 0; got {tuple(shape)}, "
            f"{degree!r}, {seed!r}, {max_phase!r}."
        )
    generator = torch.Generator().manual_seed(int(seed))
    y = torch.linspace(-1.0, 1.0, h, dtype=torch.float64)[:, None]
    x = torch.linspace(-1.0, 1.0, w, dtype=torch.float64)[None, :]
    terms = [(i, j) for i in range(int(degree) + 1) for j in range(int(degree) + 1 - i)]
    coeffs = (torch.rand(len(terms), generator=generator, dtype=torch.float64) * 2 - 1) * max_phase / len(terms)
    phase = sum(c * x**i * y**j for c, (i, j) in zip(coeffs, terms))  # |x|, |y| <= 1: |phase| <= max_phase
    return phase.expand(h, w).to(dtype)
