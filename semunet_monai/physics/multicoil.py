"""The multi-coil Cartesian operator ``A = M F S`` and its adjoint ``A^H = S^H F^H M``, beside the single-coil
:class:`~semunet_monai.kspace.UndersamplingOperator` (``A = M F``) whose mask code path it shares: one mask, fixed or
learned, for every coil. Coil images are combined by root-sum-of-squares or sensitivity weighting (SENSE)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..kspace import UndersamplingOperator, fft2c, ifft2c, to_complex

__all__ = ["MultiCoilOperator", "rss", "sense_combine"]


def rss(coil_images: Tensor) -> Tensor:
    """Root-sum-of-squares ``(B, 1, H, W)`` of complex coil images ``(B, C, H, W)``.

    MONAI's ``mri_utils.root_sum_of_squares_t`` computes ``sqrt(sum x**2)``, whose gradient is NaN where every coil
    is 0 (outside the object); ``torch.linalg.vector_norm`` gives the same value with a finite gradient.
    """
    return torch.linalg.vector_norm(coil_images, dim=1, keepdim=True)


def sense_combine(coil_images: Tensor, maps: Tensor) -> Tensor:
    """Sensitivity-weighted combination ``sum_c conj(S_c) x_c`` ``(B, 1, H, W)`` (exact for maps with
    ``sum_c |S_c|^2 = 1``)."""
    return (maps.conj() * coil_images).sum(dim=1, keepdim=True)


class MultiCoilOperator(UndersamplingOperator):
    """``A = M F S``: a complex image ``(B, 1, H, W)`` to masked multi-coil k-space ``(B, C, H, W)``.

    Args:
        maps: optional default coil sensitivities, complex ``(C, H, W)`` or ``(B, C, H, W)``; maps given to
            :meth:`forward`/:meth:`adjoint` (per subject) take precedence.
        mask: optional default mask ``(H, W)``, as in :class:`~semunet_monai.kspace.UndersamplingOperator`.
    """

    maps: Tensor | None

    def __init__(self, maps: Tensor | None = None, mask: Tensor | None = None) -> None:
        super().__init__(mask)
        if maps is not None:
            maps = self._check_maps(torch.as_tensor(maps))
        self.register_buffer("maps", maps)

    @staticmethod
    def _check_maps(maps: Tensor, spatial: tuple[int, int] | None = None) -> Tensor:
        if not torch.is_complex(maps) or maps.ndim not in (3, 4):
            raise ValueError(
                f"argument 'maps' must be complex (C, H, W) or (B, C, H, W), got {maps.dtype} {tuple(maps.shape)}."
            )
        if spatial is not None and tuple(maps.shape[-2:]) != spatial:
            raise ValueError(f"argument 'maps' is {tuple(maps.shape[-2:])} in-plane, the data is {spatial}.")
        return maps

    def _maps(self, maps: Tensor | None, like: Tensor) -> Tensor:
        maps = self.maps if maps is None else maps
        if maps is None:
            raise ValueError("no coil sensitivities: pass argument 'maps' or build the operator with them.")
        maps = self._check_maps(maps, tuple(like.shape[-2:]))
        maps = maps.to(device=like.device, dtype=like.dtype if torch.is_complex(like) else maps.dtype)
        return maps if maps.ndim == 4 else maps[None]

    def forward(self, image: Tensor, mask: Tensor | None = None, maps: Tensor | None = None) -> Tensor:
        """Apply ``A``: image ``(B, 1, H, W)`` (magnitude, real/imaginary or complex) to complex masked k-space
        ``(B, C, H, W)``."""
        x = to_complex(image)
        s = self._maps(maps, x)
        m = self._resolve(mask, tuple(x.shape[-2:]), x)
        return fft2c(s * x) * m

    def adjoint(self, kspace: Tensor, mask: Tensor | None = None, maps: Tensor | None = None) -> Tensor:
        """Apply ``A^H``: complex k-space ``(B, C, H, W)`` to the coil-combined zero-filled image ``(B, 1, H, W)``."""
        if not torch.is_complex(kspace) or kspace.ndim != 4:
            raise ValueError(
                f"argument 'kspace' must be complex (B, C, H, W), got {kspace.dtype} {tuple(kspace.shape)}."
            )
        s = self._maps(maps, kspace)
        m = self._resolve(mask, tuple(kspace.shape[-2:]), kspace)
        return sense_combine(ifft2c(kspace * m), s)

    def project(self, image: Tensor, maps: Tensor | None = None) -> Tensor:
        """``F S x``: full multi-coil k-space ``(B, C, H, W)`` of an image ``(B, 1, H, W)`` (no mask)."""
        x = to_complex(image)
        return fft2c(self._maps(maps, x) * x)

    def backproject(self, kspace: Tensor, maps: Tensor | None = None) -> Tensor:
        """``S^H F^H k``: the coil-combined image ``(B, 1, H, W)`` of (already masked) k-space ``(B, C, H, W)``."""
        return sense_combine(ifft2c(kspace), self._maps(maps, kspace))

    def coil_images(self, kspace: Tensor, mask: Tensor | None = None) -> Tensor:
        """Zero-filled coil images ``F^H M k`` ``(B, C, H, W)`` (for a root-sum-of-squares combination)."""
        m = self._resolve(mask, tuple(kspace.shape[-2:]), kspace)
        return ifft2c(kspace * m)

    def zero_filled(self, image: Tensor, mask: Tensor | None = None, maps: Tensor | None = None) -> Tensor:
        """The coil-combined zero-filled image ``S^H F^H M F S x`` ``(B, 1, H, W)``, the mask applied once (as the
        single-coil operator does, so a relaxed mask weights each sample by ``m``)."""
        x = to_complex(image)
        return sense_combine(ifft2c(self.forward(x, mask, maps)), self._maps(maps, x))
