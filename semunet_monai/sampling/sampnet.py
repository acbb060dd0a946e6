"""SampNet: LOUPE-style learned probabilistic k-space mask (the SemuNet paper's supplementary Fig. 1).

Parameter layer ``p = sigmoid(s_p * w)``; scaling layer that rescales ``p`` to mean ``alpha`` exactly; Monte-Carlo
layer ``m = sigmoid(s_s * (p' - u))`` with fresh ``u ~ U(0, 1)`` per forward. At a finite slope the relaxed mask's
mean is ``E[m] = (softplus(s_s p') - softplus(s_s (p' - 1))) / s_s``, above ``alpha`` (about 0.122 where
``p' = 0.1`` everywhere, ``s_s = 12``): the networks see more k-space during stage 1 than the boolean top-n mask of
stage 2 gives, which restores the exact budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .common import (
    SAMPLER_GEOMETRIES,
    budget,
    centre_disc,
    centre_lines,
    check_rate,
    check_shape,
    normalised_radius,
    top_n,
)

__all__ = ["SampNet", "INITS"]

INITS = ("uniform", "vd")


def _check_positive(value: float, name: str) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"argument '{name}' must be a positive finite number, got {value!r}.")
    return float(value)


class SampNet(nn.Module):
    """Learned k-space sampling pattern at a fixed rate.

    Args:
        shape: k-space size ``(H, W)``.
        rate: sampling rate ``alpha`` in (0, 1): the mean of the rescaled probability mask, and the fraction of
            pixels (``"2d"``) or phase-encode lines (``"lines"``) kept by :meth:`booleanize`.
        geometry: ``"2d"`` (pixel-wise, as in the paper) or ``"lines"`` (Cartesian phase-encode lines along the
            last axis ``W``, constant along the read-out axis ``H``).
        slope_prob: ``s_p`` of the parameter layer ``p = sigmoid(s_p * w)``.
        slope_sample: ``s_s`` of the Monte-Carlo layer ``m = sigmoid(s_s * (p' - u))``.
        init: ``"uniform"`` (paper/LOUPE: ``w = logit(u) / s_p``, ``u ~ U(eps, 1 - eps)``), ``"vd"`` (a
            centre-weighted variable-density prior at the budget, jittered), or a tensor of probabilities
            ``(H, W)`` (``(W,)`` or ``(H, W)`` for lines, averaged over ``H``) to warm-start from.
        acs: optional fully sampled centre counted inside the budget: for ``"2d"`` the radius in pixels of a
            central disc (0 keeps the DC pixel alone), for ``"lines"`` the number of central lines. ``None``: none.
        straight_through: if True the training forward returns a binary Bernoulli(p') sample with the relaxed
            mask's gradient.
        eps: initialisation bound, in (0, 0.5).
        seed: seed of the module's own generator (initialisation and Monte-Carlo draws).
    """

    def __init__(
        self,
        shape: Sequence[int],
        rate: float,
        geometry: str = "2d",
        slope_prob: float = 5.0,
        slope_sample: float = 12.0,
        init: str | Tensor = "uniform",
        acs: float | None = None,
        straight_through: bool = False,
        eps: float = 0.01,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.shape = check_shape(shape)
        self.rate = check_rate(rate)
        if geometry not in SAMPLER_GEOMETRIES:
            raise ValueError(f"argument 'geometry' must be one of {SAMPLER_GEOMETRIES}, got {geometry!r}.")
        self.geometry = geometry
        self.slope_prob = _check_positive(slope_prob, "slope_prob")
        self.slope_sample = _check_positive(slope_sample, "slope_sample")
        if not 0.0 < float(eps) < 0.5:
            raise ValueError(f"argument 'eps' must be in (0, 0.5), got {eps!r}.")
        self.straight_through = bool(straight_through)
        self.generator = torch.Generator().manual_seed(int(seed))
        self._device_generator: torch.Generator | None = None  # see _draw_generator
        self._pending_device_state: tuple[str, Tensor] | None = None

        h, w = self.shape
        self.param_shape: tuple[int, ...] = (h, w) if geometry == "2d" else (w,)
        n_total = math.prod(self.param_shape)
        if acs is None:
            forced = torch.zeros(self.param_shape, dtype=torch.bool)
        elif geometry == "2d":
            forced = centre_disc(self.shape, float(acs))
        else:
            forced = centre_lines(w, int(acs))
        self.acs = acs
        self.n = budget(self.rate, n_total)
        n_forced = int(forced.sum())
        if n_forced >= self.n:
            raise ValueError(
                f"argument 'acs'={acs!r} forces {n_forced} of the {self.n} samples allowed at rate {self.rate} "
                f"({geometry}, shape {self.shape}); choose a smaller centre so that some budget is learned."
            )
        # rate of the learnable entries so that mean over all entries (forced ones at 1) is exactly `rate`
        self.learn_rate = (self.rate * n_total - n_forced) / (n_total - n_forced)
        self.register_buffer("forced", forced)
        # 1 / n_free on the learnable entries, 0 on forced ones; not saved (derived from `forced`)
        self.register_buffer("free_weight", (~forced).double().div(n_total - n_forced).float(), persistent=False)

        self.logits = nn.Parameter(self._init_logits(init, float(eps)))
        self.register_buffer("init_mask", self.booleanize_params().clone())

    # ------------------------------------------------------------------ initialisation
    def _init_logits(self, init: str | Tensor, eps: float) -> Tensor:
        if isinstance(init, str):
            if init not in INITS:
                raise ValueError(f"argument 'init' must be one of {INITS} or a tensor of probabilities, got {init!r}.")
            u = torch.rand(self.param_shape, generator=self.generator, dtype=torch.float64) * (1 - 2 * eps) + eps
            if init == "vd":
                u = self._vd_prior(eps) * (1.0 + 0.01 * (u - 0.5))  # jitter breaks ties deterministically per seed
        else:
            u = torch.as_tensor(init, dtype=torch.float64).detach().cpu()
            if self.geometry == "lines" and u.ndim == 2 and tuple(u.shape) == self.shape:
                u = u.mean(dim=0)
            if tuple(u.shape) != self.param_shape:
                raise ValueError(
                    f"argument 'init' as a tensor must have shape {self.param_shape} for geometry {self.geometry!r}, "
                    f"got {tuple(u.shape)}."
                )
            if not torch.isfinite(u).all() or u.min() < 0 or u.max() > 1:
                raise ValueError("argument 'init' as a tensor must hold finite probabilities in [0, 1].")
        u = u.clamp(eps, 1 - eps)
        return (torch.logit(u) / self.slope_prob).float()

    def _vd_prior(self, eps: float) -> Tensor:
        """Centre-weighted prior ``min(c * exp(-r^2 / (2 * 0.25^2)), 1 - eps)`` with ``c`` set so its mean over
        the learnable entries is the learnable rate (bisection: torch has no monotone root finder)."""
        g = torch.exp(-(normalised_radius(self.param_shape) ** 2) / (2 * 0.25**2))
        free = ~self.forced
        lo, hi = 0.0, 1.0 / max(float(g[free].min()), 1e-12)
        for _ in range(100):
            c = 0.5 * (lo + hi)
            if float((c * g[free]).clamp(max=1 - eps).mean()) < self.learn_rate:
                lo = c
            else:
                hi = c
        return (0.5 * (lo + hi) * g).clamp(eps, 1 - eps)

    # ------------------------------------------------------------------ layers
    def prob(self) -> Tensor:
        """Parameter layer ``p = sigmoid(s_p * w)``, shape ``(H, W)`` or ``(W,)`` for lines (before rescaling)."""
        return torch.sigmoid(self.slope_prob * self.logits)

    def _rescaled(self) -> Tensor:
        p = self.prob().float()
        # mean over the learnable entries as a weighted sum: boolean indexing would synchronise with a GPU (nonzero)
        pbar = (p * self.free_weight).sum()
        alpha = self.learn_rate
        # LOUPE's scaling layer. The branch is picked on the device (no host synchronisation); both denominators are
        # clamped, so the unused branch has finite values and contributes zero, not NaN, to the gradient.
        down = p * (alpha / pbar.clamp_min(1e-12))
        up = 1.0 - (1.0 - p) * ((1.0 - alpha) / (1.0 - pbar).clamp_min(1e-12))
        scaled = torch.where(pbar >= alpha, down, up)
        return torch.where(self.forced, torch.ones_like(scaled), scaled)

    def _expand(self, m: Tensor) -> Tensor:
        """``(..., W)`` line values to ``(..., H, W)``; 2-D values are returned as they are."""
        if self.geometry == "2d":
            return m
        return m.unsqueeze(-2).expand(*m.shape[:-1], self.shape[0], self.shape[1])

    def prob_mask(self) -> Tensor:
        """The rescaled probability mask ``p'`` ``(H, W)``; its mean is ``rate`` (forced centre at 1)."""
        return self._expand(self._rescaled())

    @torch.no_grad()
    def expected_relaxed_rate(self) -> Tensor:
        """Closed-form mean of the relaxed mask, ``mean((softplus(s p') - softplus(s (p' - 1))) / s)``."""
        s = self.slope_sample
        p = self._rescaled()
        e = (F.softplus(s * p) - F.softplus(s * (p - 1.0))) / s
        return torch.where(self.forced, torch.ones_like(e), e).mean()

    def forward(self, batch_size: int = 1) -> Tensor:
        """Draw masks.

        In training mode: the relaxed Monte-Carlo mask ``sigmoid(s_s * (p' - u))`` with fresh ``u`` per sample
        (binary with the relaxed gradient if ``straight_through``). In eval mode: the deterministic boolean
        top-n mask of :meth:`booleanize` (as float), the mask that would be deployed.

        Args:
            batch_size: number of masks ``B``.

        Returns:
            float mask ``(B, 1, H, W)`` on the parameters' device.
        """
        if int(batch_size) < 1:
            raise ValueError(f"argument 'batch_size' must be a positive integer, got {batch_size!r}.")
        if not self.training:
            hard = self.booleanize().to(device=self.logits.device, dtype=torch.float32)
            return hard.expand(int(batch_size), 1, *self.shape)
        # probabilities, rescaling and draws stay fp32 under autocast, so that mean(p') == rate holds
        with torch.autocast(self.logits.device.type, enabled=False):
            p = self._rescaled()
            u = torch.rand((int(batch_size), *self.param_shape), generator=self._draw_generator(), device=p.device)
            m = torch.sigmoid(self.slope_sample * (p - u))
            if self.straight_through:
                m = (p > u).to(m.dtype) + (m - m.detach())  # exact 0/1 values, relaxed gradient
            m = torch.where(self.forced, torch.ones_like(m), m)
        return self._expand(m).unsqueeze(1)

    def _draw_generator(self) -> torch.Generator:
        """The generator of the Monte-Carlo draws, on the parameters' device: :attr:`generator` on a CPU; on a GPU a
        generator of that device seeded once from it, so that no draw is copied from the host inside a step."""
        device = self.logits.device
        if device.type == "cpu":
            return self.generator
        if self._device_generator is None or self._device_generator.device != device:
            self._device_generator = torch.Generator(device)
            pending, self._pending_device_state = self._pending_device_state, None
            if pending is not None and pending[0] == str(device):
                self._device_generator.set_state(pending[1])  # a resumed run continues its draws
            else:
                self._device_generator.manual_seed(int(torch.randint(2**62, (1,), generator=self.generator)))
        return self._device_generator

    # ------------------------------------------------------------------ booleanize and state
    def booleanize_params(self) -> Tensor:
        """Exact top-n selection in parameter space: ``(H, W)`` or ``(W,)`` boolean with ``n`` entries."""
        return top_n(self.prob(), self.n, forced=self.forced)

    def booleanize(self) -> Tensor:
        """The paper's Eq. (1): boolean ``(H, W)`` mask of the top-n probabilities (``n = round(rate * N)``
        pixels, or lines for ``"lines"``, forced centre included; ties go to the lower index)."""
        return self._expand(self.booleanize_params())

    def mask_change(self) -> float:
        """Fraction of the initial top-n samples no longer in the current top-n (0: the mask has not moved)."""
        now = self.booleanize_params()
        return 1.0 - float((now & self.init_mask).sum()) / float(self.init_mask.sum())

    def slopes(self) -> dict[str, float]:
        return {"prob": self.slope_prob, "sample": self.slope_sample}

    def save(self, out_dir: str | Path, overwrite: bool = False, **extra: object) -> dict[str, Path]:
        """Write the booleanized mask (npy, NIfTI, PNG), the probability map and a JSON sidecar into ``out_dir``."""
        from .io import save_mask  # local import: io imports nibabel/SimpleITK, not needed for training steps

        with torch.no_grad():
            prob = self.prob_mask().cpu().numpy()
        return save_mask(
            self.booleanize().cpu(),
            out_dir,
            rate=self.rate,
            geometry=self.geometry,
            method="sampnet",
            slopes=self.slopes(),
            prob=prob,
            overwrite=overwrite,
            extra={"acs": self.acs, "straight_through": self.straight_through, **extra},
        )

    def get_extra_state(self) -> dict:
        # the Monte-Carlo generators are part of the state so that a resumed run draws the same masks
        state: dict = {"generator_state": self.generator.get_state()}
        if self._device_generator is not None:
            state["device_generator"] = (str(self._device_generator.device), self._device_generator.get_state())
        elif self._pending_device_state is not None:  # loaded, not drawn from yet
            state["device_generator"] = self._pending_device_state
        return state

    def set_extra_state(self, state: dict) -> None:
        if "generator_state" in state:
            self.generator.set_state(state["generator_state"])
        # applied when draws next happen on that device (the module may still be moved there after loading)
        self._device_generator = None
        self._pending_device_state = state.get("device_generator")

    def extra_repr(self) -> str:
        return (
            f"shape={self.shape}, rate={self.rate}, geometry={self.geometry!r}, n={self.n}, acs={self.acs}, "
            f"slope_prob={self.slope_prob}, slope_sample={self.slope_sample}, straight_through={self.straight_through}"
        )
