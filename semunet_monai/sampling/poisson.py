"""Variable-density Poisson-disc masks, as 3-D Cartesian scanning uses for its (ky, kz) plane (SKM-TEA ships them at
4-16x), usable as a 2-D pixel mask too.

Generator (dart throwing over the grid, as SigPy's ``sigpy.mri.poisson`` does): the pixels are visited in a random
order and a pixel ``p`` is sampled when no sample lies closer than its radius ``r(p) = r0 * (1 + slope * rho(p))``,
where ``rho`` is the normalised distance from the k-space centre (0 at the centre, 1 at the edge along each axis).
A fully sampled ``calib x calib`` square sits at the centre first. ``r0`` is found by bisection so that the mask
holds at least the budget, and the samples farthest from the centre are then dropped until exactly
``n = round(rate * H * W)`` remain (dropping keeps every distance property).

Enforced minimum distance: any two samples ``p`` and ``q`` outside the calibration square are at least
``min(r(p), r(q))`` apart, and a sample outside it is at least its own ``r`` from every calibration pixel.
Written here rather than taken from SigPy (which would add SigPy and Numba as dependencies); docs/masks.md
compares the two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from .base import FixedMask, _check_number
from .common import budget, normalised_radius

__all__ = ["PoissonDiscMask", "poisson_disc"]


def _throw(order: np.ndarray, radius: np.ndarray, seeded: np.ndarray) -> np.ndarray:
    """Dart throwing on an ``(H, W)`` grid: visit ``order`` (flat indices), accept a pixel when no accepted pixel lies
    closer than its ``radius``; ``seeded`` pixels start accepted. Keeps the squared distance to the nearest accepted
    pixel up to date around each acceptance, so each visit is one look-up."""
    from scipy.ndimage import distance_transform_edt

    h, w = radius.shape
    taken = seeded.copy()
    reach = int(math.ceil(float(radius.max())))
    nearest = distance_transform_edt(~seeded) ** 2 if seeded.any() else np.full((h, w), np.inf)
    offsets = np.arange(-reach, reach + 1)
    d2 = offsets[:, None] ** 2 + offsets[None, :] ** 2
    limit = radius**2
    flat_nearest, flat_limit = nearest.ravel(), limit.ravel()
    for index in order:
        if flat_nearest[index] < flat_limit[index]:
            continue  # also skips accepted pixels (distance 0)
        y, x = divmod(int(index), w)
        taken[y, x] = True
        y0, y1, x0, x1 = max(0, y - reach), min(h, y + reach + 1), max(0, x - reach), min(w, x + reach + 1)
        window = d2[y0 - y + reach : y1 - y + reach, x0 - x + reach : x1 - x + reach]
        np.minimum(nearest[y0:y1, x0:x1], window, out=nearest[y0:y1, x0:x1])
    return taken


def poisson_disc(
    shape: Sequence[int],
    rate: float,
    generator: torch.Generator,
    calib: int | None = None,
    slope: float = 2.0,
    iterations: int = 24,
) -> tuple[Tensor, Tensor]:
    """One variable-density Poisson-disc mask ``(H, W)`` (boolean) with exactly ``round(rate * H * W)`` samples, and
    the radius map ``r(p)`` ``(H, W)`` it enforced (see the module docstring).

    Args:
        shape: ``(H, W)``.
        rate: sampling rate in (0, 1).
        generator: the torch generator that orders the pixels.
        calib: side of the fully sampled central square (pixels); None: about 10 % of the budget.
        slope: how much sparser the edge is than the centre (radius ``r0 * (1 + slope)`` at the edge).
        iterations: bisection steps on ``r0``.
    """
    h, w = (int(s) for s in shape)
    n = budget(rate, h * w)
    side = int(round(math.sqrt(0.1 * n))) if calib is None else int(calib)
    if side < 0 or side * side > n or side > min(h, w):
        raise ValueError(
            f"argument 'calib' must give a square inside the {h}x{w} grid holding at most the budget of {n} samples, "
            f"got {calib!r}."
        )
    seeded = np.zeros((h, w), dtype=bool)
    if side:
        y0, x0 = h // 2 - side // 2, w // 2 - side // 2
        seeded[y0 : y0 + side, x0 : x0 + side] = True
    rho = normalised_radius((h, w)).numpy()
    order = torch.randperm(h * w, generator=generator).numpy()
    low, high = 0.5, float(max(h, w))  # r0 = 0.5 samples everything; max(h, w) samples one pixel beyond the square
    best = _throw(order, np.full((h, w), low) * (1 + slope * rho), seeded)
    close = max(2, n // 50)  # stop once at most 2 % of the budget has to be dropped
    for _ in range(int(iterations)):
        mid = 0.5 * (low + high)
        mask = _throw(order, mid * (1 + slope * rho), seeded)
        if mask.sum() >= n:
            low, best = mid, mask
            if mask.sum() - n <= close:
                break
        else:
            high = mid
    radius = low * (1 + slope * rho)
    extra = int(best.sum()) - n
    if extra > 0:  # drop the outermost samples (never the calibration square); ties by the visiting order
        rank = np.empty(h * w, dtype=np.int64)
        rank[order] = np.arange(h * w)
        candidates = np.flatnonzero(best.ravel() & ~seeded.ravel())
        drop = candidates[np.lexsort((rank[candidates], -rho.ravel()[candidates]))][:extra]
        best.ravel()[drop] = False
    return torch.from_numpy(best), torch.from_numpy(radius)


class PoissonDiscMask(FixedMask):
    """Variable-density Poisson-disc pixels with a fully sampled calibration square (see the module docstring).

    Args:
        shape, rate, seed: as in :class:`~semunet_monai.sampling.base.FixedMask`.
        calib: side of the central fully sampled square in pixels (None: about 10 % of the budget).
        slope: the radius grows as ``1 + slope * rho`` from the centre (``rho`` = 1 at the edge).
    """

    kind = "poisson"

    def __init__(
        self, shape: Sequence[int], rate: float, seed: int = 0, calib: float | None = None, slope: float = 2.0
    ) -> None:
        super().__init__(shape, rate, seed)
        self.calib = None if calib is None else int(_check_number(calib, "calib", low=0.0, strict=False))
        self.slope = _check_number(slope, "slope", low=0.0, strict=False)
        self.radius: Tensor | None = None  # the radius map of the last draw

    def _sample(self) -> Tensor:
        mask, self.radius = poisson_disc(self.shape, self.rate, self.generator, self.calib, self.slope)
        return mask
