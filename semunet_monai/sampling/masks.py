"""Fixed k-space sampling masks: a base class with one sampling hook per kind and a string factory.

Conventions: a mask is a boolean ``(H, W)`` tensor in centered k-space (DC at ``(H // 2, W // 2)``, as in
:func:`~semunet_monai.sampling.common.centre_disc`). ``"lines"`` masks select phase-encode lines along the last
axis ``W`` and are constant along the read-out axis ``H``. Every mask object owns a ``torch.Generator``; the global
torch and numpy random states are never used.
"""

from __future__ import annotations

import inspect
import logging
import math
from abc import abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor

from ..names import MASK_KINDS
from .base import FixedMask, _check_number
from .common import budget, centre_disc, centre_lines, normalised_radius, top_n
from .poisson import PoissonDiscMask

__all__ = [
    "MASK_KINDS",
    "FixedMask",
    "RandomMask",
    "RadialMask",
    "GaussianMask",
    "CartesianRandomMask",
    "CartesianEquispacedMask",
    "PoissonDiscMask",
    "create_mask",
    "make_mask",
    "mask_geometry",
]

logger = logging.getLogger(__name__)


class RandomMask(FixedMask):
    """Uniform random pixels: exactly ``n = budget(rate, H * W)`` of them."""

    kind = "random"

    def _sample(self) -> Tensor:
        h, w = self.shape
        out = torch.zeros(h * w, dtype=torch.bool)
        out[torch.randperm(h * w, generator=self.generator)[: budget(self.rate, h * w)]] = True
        return out.reshape(h, w)


class RadialMask(FixedMask):
    """Straight full-diameter spokes through the centre, evenly spaced over ``[0, pi)`` with a random rotation.

    Exactly ``n = budget(rate, H * W)`` pixels: the smallest spoke count whose rasterised coverage reaches ``n``,
    then its outermost pixels (largest radius; ties in random order) dropped until ``n`` remain. Whole spokes alone
    miss the rate by up to one spoke (2 points at 48 x 48); trimming the ends of the spokes, where k-space carries
    the least energy, hits it at every size.

    Args:
        shape, rate, seed: as in :class:`FixedMask`.
        step: sub-pixel step (pixels) along each spoke before rounding to the grid; at most 0.5 keeps spokes
            8-connected.
    """

    kind = "radial"

    def __init__(self, shape: Sequence[int], rate: float, seed: int = 0, step: float = 0.25) -> None:
        super().__init__(shape, rate, seed)
        self.step = _check_number(step, "step", low=0.0, strict=True)
        if self.step > 0.5:
            raise ValueError(f"argument 'step' must be in (0, 0.5] so that spokes have no gaps, got {step!r}.")
        h, w = self.shape
        self._reach = math.hypot(max(h // 2, h - h // 2), max(w // 2, w - w // 2)) + 1.0
        half = math.ceil(self._reach / self.step)
        self._t = torch.arange(-half, half + 1, dtype=torch.float64) * self.step  # symmetric: t = 0 hits DC

    def spokes(self, n_spokes: int, offset: float) -> Tensor:
        """Rasterise ``n_spokes`` spokes at angles ``offset + i * pi / n_spokes``: boolean ``(H, W)``."""
        h, w = self.shape
        theta = offset + torch.arange(n_spokes, dtype=torch.float64) * (math.pi / n_spokes)
        ys = torch.round(h // 2 + self._t[None, :] * torch.sin(theta)[:, None]).long()
        xs = torch.round(w // 2 + self._t[None, :] * torch.cos(theta)[:, None]).long()
        keep = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        out = torch.zeros(h * w, dtype=torch.bool)
        out[ys[keep] * w + xs[keep]] = True
        return out.reshape(h, w)

    def _sample(self) -> Tensor:
        h, w = self.shape
        n = budget(self.rate, h * w)
        offset = float(torch.rand((), generator=self.generator, dtype=torch.float64)) * math.pi
        cache: dict[int, Tensor] = {}

        def coverage(k: int) -> int:
            if k not in cache:
                cache[k] = self.spokes(k, offset)
            return int(cache[k].sum())

        # coverage grows with the spoke count (up to rasterisation jitter): gallop up and bisect (cheap, since the
        # cost grows with the count), then scan the neighbours
        k_max = math.ceil(math.pi * self._reach) + 1  # neighbouring spokes are then < 1 pixel apart everywhere
        lo, hi = 1, 1
        while hi < k_max and coverage(hi) < n:
            lo, hi = hi + 1, min(2 * hi, k_max)
        while lo < hi:
            mid = (lo + hi) // 2
            if coverage(mid) >= n:
                hi = mid
            else:
                lo = mid + 1
        # rasterisation jitter: the smallest count near lo that still covers the budget
        k = min((k for k in range(max(1, lo - 2), lo + 3) if coverage(k) >= n), default=lo)
        out = cache[k].flatten().clone()
        excess = int(out.sum()) - n
        if excess > 0:
            yy, xx = torch.meshgrid(torch.arange(h) - h // 2, torch.arange(w) - w // 2, indexing="ij")
            radius = (yy.double() ** 2 + xx.double() ** 2).flatten()
            idx = torch.nonzero(out).flatten()
            idx = idx[torch.randperm(idx.numel(), generator=self.generator)]  # random order among equal radii
            order = torch.sort(radius[idx], descending=True, stable=True).indices
            out[idx[order[:excess]]] = False
        return out.reshape(h, w)


class GaussianMask(FixedMask):
    """2-D Gaussian variable density: exactly ``n = budget(rate, H * W)`` pixels drawn without replacement.

    Pixel weights are ``exp(-r^2 / (2 sigma^2))`` with ``r`` the normalised radius (1 at the k-space edge along
    each axis). An optional centre disc is fully sampled and counted inside the budget.

    Args:
        shape, rate, seed: as in :class:`FixedMask`.
        sigma: Gaussian width in normalised radius units, > 0.
        centre_radius: radius in pixels of a fully sampled centre disc (``common.centre_disc``); 0 means none.
    """

    kind = "gaussian"

    def __init__(
        self, shape: Sequence[int], rate: float, seed: int = 0, sigma: float = 0.3, centre_radius: float = 0.0
    ) -> None:
        super().__init__(shape, rate, seed)
        self.sigma = _check_number(sigma, "sigma", low=0.0, strict=True)
        self.centre_radius = _check_number(centre_radius, "centre_radius", low=0.0, strict=False)
        h, w = self.shape
        self.n = budget(self.rate, h * w)
        if self.centre_radius > 0:
            self.forced = centre_disc(self.shape, self.centre_radius)
        else:
            self.forced = torch.zeros(h, w, dtype=torch.bool)
        n_forced = int(self.forced.sum())
        if n_forced > self.n:
            raise ValueError(
                f"argument 'centre_radius'={centre_radius!r} gives a disc of {n_forced} pixels, more than the budget "
                f"n={self.n} at rate {self.rate} and shape {self.shape}."
            )
        self.log_weights = -(normalised_radius(self.shape) ** 2) / (2 * self.sigma**2)

    def _sample(self) -> Tensor:
        # Gumbel top-k: the same law as torch.multinomial without replacement, but on log-weights, so it cannot
        # fail when exp(-r^2 / (2 sigma^2)) underflows to zero for a small sigma.
        u = torch.rand(self.shape, generator=self.generator, dtype=torch.float64).clamp_(min=1e-300)
        return top_n(self.log_weights - torch.log(-torch.log(u)), self.n, forced=self.forced)


class _LinesMask(FixedMask):
    """Cartesian phase-encode lines along ``W``: ``n`` lines in all, ``n_acs`` central (ACS) ones among them.

    Subclasses implement :meth:`_choose_lines`.

    Args:
        shape, rate, seed: as in :class:`FixedMask`.
        center_fraction: fraction of ``W`` kept as central ACS lines (``round(center_fraction * W)``, capped at
            the line budget). ``None``: ``0.32 * rate``, fastMRI's ratio (0.08 at 4x, 0.04 at 8x), i.e. about a
            third of the lines are ACS.
    """

    geometry = "lines"

    def __init__(self, shape: Sequence[int], rate: float, seed: int = 0, center_fraction: float | None = None) -> None:
        super().__init__(shape, rate, seed)
        w = self.shape[1]
        self.n = budget(self.rate, w)
        if center_fraction is None:
            center_fraction = 0.32 * self.rate
        self.center_fraction = _check_number(center_fraction, "center_fraction", low=0.0, strict=False)
        if self.center_fraction > 1:
            raise ValueError(f"argument 'center_fraction' must be in [0, 1], got {center_fraction!r}.")
        n_acs = int(round(self.center_fraction * w))
        if n_acs > self.n:
            logger.warning(
                "center_fraction=%s asks for %d ACS lines, more than the %d-line budget; capping to %d.",
                center_fraction,
                n_acs,
                self.n,
                self.n,
            )
            n_acs = self.n
        self.n_acs = n_acs
        self.acs = centre_lines(w, n_acs)

    def _sample(self) -> Tensor:
        candidates = torch.nonzero(~self.acs).flatten()
        lines = self.acs.clone()
        m = self.n - self.n_acs
        if m > 0:
            lines[candidates[self._choose_lines(candidates.numel(), m)]] = True
        return lines[None, :].expand(self.shape).clone()

    @abstractmethod
    def _choose_lines(self, n_candidates: int, m: int) -> Tensor:
        """Indices ``(m,)`` of distinct lines among the ``n_candidates`` non-ACS ones (``0 < m <= n_candidates``)."""


class CartesianRandomMask(_LinesMask):
    """fastMRI-style random lines: the ACS lines plus the rest uniformly at random; exactly ``n`` lines."""

    kind = "cartesian_random"

    def _choose_lines(self, n_candidates: int, m: int) -> Tensor:
        return torch.randperm(n_candidates, generator=self.generator)[:m]


class CartesianEquispacedMask(_LinesMask):
    """The ACS lines plus the rest evenly spaced among the non-ACS lines from a random offset; exactly ``n`` lines."""

    kind = "cartesian_equispaced"

    def _choose_lines(self, n_candidates: int, m: int) -> Tensor:
        spacing = n_candidates / m  # >= 1, so the floors below are distinct and < n_candidates
        offset = float(torch.rand((), generator=self.generator, dtype=torch.float64)) * spacing
        return torch.floor(offset + torch.arange(m, dtype=torch.float64) * spacing).long()


MASK_CLASSES: dict[str, type[FixedMask]] = {
    cls.kind: cls
    for cls in (RandomMask, RadialMask, GaussianMask, CartesianRandomMask, CartesianEquispacedMask, PoissonDiscMask)
}


def _mask_class(kind: str) -> type[FixedMask]:
    if kind not in MASK_CLASSES:
        raise ValueError(f"argument 'kind' must be one of {MASK_KINDS}, got {kind!r}.")
    return MASK_CLASSES[kind]


def mask_geometry(kind: str) -> str:
    """``"2d"`` or ``"lines"``: the geometry of mask ``kind`` (one of :data:`MASK_KINDS`)."""
    return _mask_class(kind).geometry


def create_mask(kind: str, shape: Sequence[int], rate: float, seed: int = 0, **kwargs: float | None) -> FixedMask:
    """Build the mask object of ``kind`` (one of :data:`MASK_KINDS`); call it to draw boolean ``(H, W)`` masks.

    Args:
        kind: mask kind.
        shape: k-space size ``(H, W)``.
        rate: sampling rate in (0, 1).
        seed: seed of the object's generator.
        kwargs: options of that kind (``radial``: ``step``; ``gaussian``: ``sigma``, ``centre_radius``;
            ``cartesian_*``: ``center_fraction``).
    """
    cls = _mask_class(kind)
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "shape", "rate", "seed")]
    for key in kwargs:
        if key not in allowed:
            raise ValueError(f"unknown argument '{key}' for mask kind {kind!r}; allowed: {tuple(allowed)}.")
    return cls(shape, rate, seed, **kwargs)


def make_mask(kind: str, shape: Sequence[int], rate: float, seed: int = 0, **kwargs: float | None) -> Tensor:
    """Draw one fixed mask of ``kind``: boolean ``(H, W)`` (see :func:`create_mask` for the arguments)."""
    return create_mask(kind, shape, rate, seed, **kwargs)()
