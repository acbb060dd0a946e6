"""Array transforms: retrospective k-space undersampling of channel-first images with a fixed or learned mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from monai.config import NdarrayOrTensor
from monai.transforms import Transform
from monai.utils import convert_to_dst_type, convert_to_tensor

from ..kspace import UndersamplingOperator
from ..sampling.sampnet import SampNet

__all__ = ["KspaceUndersample", "resolve_mask"]


def resolve_mask(mask: NdarrayOrTensor | str | Path | SampNet) -> torch.Tensor:
    """A boolean ``(H, W)`` mask from a tensor/array, a saved mask file or directory, or a SampNet (its top-n)."""
    if isinstance(mask, SampNet):
        return mask.booleanize().detach().cpu()
    if isinstance(mask, (str, Path)):
        from ..sampling.io import load_mask

        return load_mask(mask)[0].bool()
    m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask).detach().cpu()
    if m.ndim != 2:
        raise ValueError(f"argument 'mask' must have shape (H, W), got shape {tuple(m.shape)}.")
    if m.dtype != torch.bool:
        if not torch.all((m == 0) | (m == 1)):
            raise ValueError("argument 'mask' must be boolean or hold only 0 and 1.")
        m = m.bool()
    return m


class KspaceUndersample(Transform):
    """Undersample a fully sampled image in k-space and return the zero-filled image.

    Input is channel-first: a slice ``(C, H, W)`` or a volume ``(C, H, W, D)`` whose axial slices (last axis)
    are undersampled one by one with the same ``(H, W)`` mask. ``C`` is 1 (magnitude) or 2 (real/imaginary).

    Args:
        mask: boolean ``(H, W)`` array/tensor, a saved mask (``.npy``, ``.json`` or its directory), or a
            :class:`SampNet` whose booleanized top-n mask is used.
        image_mode: ``"magnitude"`` returns ``|x_zf|`` ``(1, ...)``, ``"complex"`` returns real/imaginary
            ``(2, ...)``.
        return_kspace: also return the masked complex k-space ``(1, H, W[, D])``.
    """

    def __init__(
        self,
        mask: NdarrayOrTensor | str | Path | SampNet,
        image_mode: str = "magnitude",
        return_kspace: bool = False,
    ) -> None:
        if image_mode not in ("magnitude", "complex"):
            raise ValueError(f"argument 'image_mode' must be 'magnitude' or 'complex', got {image_mode!r}.")
        self.mask = resolve_mask(mask)
        self.image_mode = image_mode
        self.return_kspace = bool(return_kspace)
        self.operator = UndersamplingOperator(self.mask)

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor | tuple[NdarrayOrTensor, torch.Tensor]:
        x = convert_to_tensor(img, track_meta=False)
        if x.ndim not in (3, 4) or x.shape[0] not in (1, 2):
            raise ValueError(
                f"KspaceUndersample expects a channel-first image (C, H, W) or (C, H, W, D) with C in (1, 2), "
                f"got shape {tuple(x.shape)}."
            )
        if tuple(x.shape[1:3]) != tuple(self.mask.shape):
            raise ValueError(
                f"image in-plane size {tuple(x.shape[1:3])} does not match the mask shape {tuple(self.mask.shape)}."
            )
        volume = x.ndim == 4
        # slices to the batch axis: (C, H, W, D) -> (D, C, H, W); a slice is a batch of one
        batch = x.permute(3, 0, 1, 2) if volume else x.unsqueeze(0)
        if not torch.is_floating_point(batch):
            batch = batch.float()
        kspace = self.operator(batch)
        zf = self.operator.adjoint(kspace)
        out = zf.abs() if self.image_mode == "magnitude" else torch.cat([zf.real, zf.imag], dim=1)
        if volume:
            out, kspace = out.permute(1, 2, 3, 0), kspace.permute(1, 2, 3, 0)
        else:
            out, kspace = out[0], kspace[0]
        out = convert_to_dst_type(out.contiguous(), img, dtype=out.dtype)[0]
        return (out, kspace.contiguous()) if self.return_kspace else out
