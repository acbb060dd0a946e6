"""One k-space convention for the package and the undersampling operator built on it.

Convention: centered, orthonormal 2-D DFT over the last two axes (MONAI's ``fftn_centered_t`` /
``ifftn_centered_t``, ``norm="ortho"``), complex64 for float32 inputs (complex128 for float64).
"""

from __future__ import annotations

import torch
from monai.networks.blocks.fft_utils_t import fftn_centered_t, ifftn_centered_t
from torch import Tensor, nn

__all__ = ["fft2c", "ifft2c", "ifft1c", "to_complex", "crop_readout", "UndersamplingOperator"]


def _upcast(x: Tensor) -> Tensor:
    # under AMP a half-precision network output can reach the FFT: cuFFT in fp16 needs power-of-two sizes (240 is
    # not one), so k-space math always runs in complex64 or wider
    return x.to(torch.complex64) if x.dtype == torch.complex32 else x


def fft2c(image: Tensor) -> Tensor:
    """Centered orthonormal 2-D FFT of a complex tensor over its last two axes.

    Args:
        image: complex tensor ``(..., H, W)``.

    Returns:
        complex k-space ``(..., H, W)`` of the same dtype.
    """
    if not torch.is_complex(image):
        raise ValueError(f"fft2c: argument 'image' must be a complex tensor, got dtype {image.dtype}.")
    image = _upcast(image)
    return torch.view_as_complex(fftn_centered_t(torch.view_as_real(image), spatial_dims=2, is_complex=True))


def ifft2c(kspace: Tensor) -> Tensor:
    """Centered orthonormal inverse 2-D FFT, the exact inverse and adjoint of :func:`fft2c`.

    Args:
        kspace: complex tensor ``(..., H, W)``.

    Returns:
        complex image ``(..., H, W)``.
    """
    if not torch.is_complex(kspace):
        raise ValueError(f"ifft2c: argument 'kspace' must be a complex tensor, got dtype {kspace.dtype}.")
    kspace = _upcast(kspace)
    return torch.view_as_complex(ifftn_centered_t(torch.view_as_real(kspace), spatial_dims=2, is_complex=True))


def ifft1c(kspace: Tensor, dim: int) -> Tensor:
    """Centered orthonormal inverse 1-D FFT along ``dim``. Along the read-out of a 3-D Cartesian scan it takes
    k-space ``(kx, ky, kz)`` to the hybrid data ``(x, ky, kz)``, whose (ky, kz) planes :func:`ifft2c` inverts."""
    if not torch.is_complex(kspace):
        raise ValueError(f"ifft1c: argument 'kspace' must be a complex tensor, got dtype {kspace.dtype}.")
    moved = _upcast(kspace).movedim(dim, -1).contiguous()
    image = torch.view_as_complex(ifftn_centered_t(torch.view_as_real(moved), spatial_dims=1, is_complex=True))
    return image.movedim(-1, dim)


def crop_readout(kspace: Tensor, rows: int) -> Tensor:
    """Remove read-out oversampling: the centre ``rows`` of the image along ``H`` (dim -2), back in k-space. fastMRI
    stores k-space at twice the read-out matrix (640x320 for 320x320 images) and crops its targets this way."""
    h = kspace.shape[-2]
    if not 0 < rows <= h:
        raise ValueError(f"argument 'rows' must be in [1, {h}], got {rows!r}.")
    top = h // 2 - rows // 2
    return fft2c(ifft2c(kspace)[..., top : top + rows, :])


def to_complex(image: Tensor) -> Tensor:
    """Turn a network-layout image into a complex tensor ``(B, 1, H, W)``.

    Args:
        image: ``(B, 1, H, W)`` real magnitude image, ``(B, 2, H, W)`` real/imaginary channels, or an
            already complex ``(B, 1, H, W)`` tensor.

    Returns:
        complex tensor ``(B, 1, H, W)`` (complex64 for float32 input, complex128 for float64).
    """
    if image.ndim != 4:
        raise ValueError(
            f"argument 'image' must have shape (B, 1, H, W) or (B, 2, H, W) (rank 4), got shape {tuple(image.shape)}."
        )
    if torch.is_complex(image):
        if image.shape[1] != 1:
            raise ValueError(f"a complex 'image' must have 1 channel, got shape {tuple(image.shape)}.")
        return image
    if not torch.is_floating_point(image) or image.dtype in (torch.float16, torch.bfloat16):
        image = image.float()
    if image.shape[1] == 1:
        return torch.complex(image, torch.zeros_like(image))
    if image.shape[1] == 2:
        return torch.complex(image[:, :1], image[:, 1:])
    raise ValueError(
        f"argument 'image' must have 1 (magnitude) or 2 (real/imaginary) channels, got {image.shape[1]} "
        f"(shape {tuple(image.shape)})."
    )


def _check_mask(mask: Tensor, spatial: tuple[int, int]) -> Tensor:
    if mask.ndim not in (2, 4) or tuple(mask.shape[-2:]) != spatial:
        raise ValueError(
            f"argument 'mask' must have shape (H, W) or (B, 1, H, W) with (H, W) == {spatial}, "
            f"got shape {tuple(mask.shape)}."
        )
    if torch.is_complex(mask):
        raise ValueError("argument 'mask' must be real (boolean or in [0, 1]), got a complex tensor.")
    return mask


class UndersamplingOperator(nn.Module):
    """Single-coil Cartesian undersampling ``A = M F`` and its adjoint ``A^H = F^H M``.

    The same code path serves a fixed boolean mask (stored as a buffer) and a learned, relaxed mask passed
    per call, so gradients flow to a sampler whenever the mask requires them. ``M`` is real and diagonal, so
    ``A^H`` is exactly the adjoint for relaxed masks too.

    Args:
        mask: optional default mask ``(H, W)`` (boolean or in [0, 1]); a mask given to
            :meth:`forward`/:meth:`adjoint` takes precedence.
    """

    mask: Tensor | None

    def __init__(self, mask: Tensor | None = None) -> None:
        super().__init__()
        if mask is not None:
            mask = torch.as_tensor(mask)
            if mask.ndim != 2:
                raise ValueError(f"argument 'mask' must have shape (H, W), got shape {tuple(mask.shape)}.")
            mask = mask.float()
        self.register_buffer("mask", mask)

    def set_mask(self, mask: Tensor) -> None:
        """Replace the stored default mask ``(H, W)``."""
        mask = torch.as_tensor(mask)
        if mask.ndim != 2:
            raise ValueError(f"argument 'mask' must have shape (H, W), got shape {tuple(mask.shape)}.")
        self.mask = mask.float().to(self.mask.device if self.mask is not None else mask.device)

    def _resolve(self, mask: Tensor | None, spatial: tuple[int, int], like: Tensor) -> Tensor:
        if mask is None:
            mask = self.mask
        if mask is None:
            raise ValueError("no mask: pass argument 'mask' or build the operator with one.")
        mask = _check_mask(mask, spatial)
        real_dtype = like.real.dtype if torch.is_complex(like) else like.dtype
        return mask.to(device=like.device, dtype=real_dtype)

    def forward(self, image: Tensor, mask: Tensor | None = None) -> Tensor:
        """Apply ``A``: image to masked k-space.

        Args:
            image: ``(B, 1, H, W)`` magnitude, ``(B, 2, H, W)`` real/imaginary, or complex ``(B, 1, H, W)``.
            mask: ``(H, W)`` or ``(B, 1, H, W)``, boolean or relaxed in [0, 1].

        Returns:
            complex masked k-space ``(B, 1, H, W)``.
        """
        x = to_complex(image)
        m = self._resolve(mask, tuple(x.shape[-2:]), x)
        return fft2c(x) * m

    def adjoint(self, kspace: Tensor, mask: Tensor | None = None) -> Tensor:
        """Apply ``A^H``: k-space to the zero-filled complex image.

        Args:
            kspace: complex ``(B, 1, H, W)``.
            mask: as in :meth:`forward`.

        Returns:
            complex zero-filled image ``(B, 1, H, W)``.
        """
        if not torch.is_complex(kspace) or kspace.ndim != 4:
            raise ValueError(
                f"argument 'kspace' must be a complex tensor of shape (B, 1, H, W), got dtype {kspace.dtype} "
                f"and shape {tuple(kspace.shape)}."
            )
        m = self._resolve(mask, tuple(kspace.shape[-2:]), kspace)
        return ifft2c(kspace * m)

    def project(self, image: Tensor) -> Tensor:
        """``F x``: the full k-space ``(B, 1, H, W)`` of an image (no mask), for k-space-domain networks."""
        return fft2c(to_complex(image))

    def backproject(self, kspace: Tensor) -> Tensor:
        """``F^H k``: the complex image ``(B, 1, H, W)`` of k-space that is already masked (or full); with masked
        k-space from :meth:`forward` it is the zero-filled image, the mask applied once."""
        return ifft2c(kspace)

    def coil_backproject(self, kspace: Tensor) -> Tensor:
        """``F^H k`` per channel, without mask or coil combination: coil images ``(B, C, H, W)`` of k-space
        ``(B, C, H, W)`` (for networks that combine coils themselves, such as a VarNet)."""
        return ifft2c(kspace)

    def restrict(self, kspace: Tensor, mask: Tensor | None = None) -> Tensor:
        """``M k``: keep the sampled entries of k-space ``(B, C, H, W)`` (acquired data outside the mask ignored)."""
        return kspace * self._resolve(mask, tuple(kspace.shape[-2:]), kspace)

    def data_consistency(self, k_pred: Tensor, k_acquired: Tensor, mask: Tensor | None = None) -> Tensor:
        """Hard data consistency ``(1 - M) k_pred + k_acquired`` with acquired k-space already weighted by the mask
        (as :meth:`forward` returns it): a binary mask replaces the sampled entries, a relaxed mask blends them."""
        return (1.0 - self._resolve(mask, tuple(k_pred.shape[-2:]), k_pred)) * k_pred + k_acquired

    def zero_filled(self, image: Tensor, mask: Tensor | None = None) -> Tensor:
        """The zero-filled complex image ``F^H M F x`` of ``image`` (``(B, 1, H, W)``, complex).

        The mask is applied once (as LOUPE does), so a relaxed mask weights each k-space sample by ``m``,
        not ``m**2`` as ``A^H A`` would; for boolean masks the two are equal.
        """
        return ifft2c(self.forward(image, mask))
