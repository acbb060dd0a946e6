"""SemuNet: sampler -> undersampling operator -> ReconNet -> SegNet, composed from injected parts."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..kspace import UndersamplingOperator
from ..physics.multicoil import MultiCoilOperator, rss
from ..sampling.sampnet import SampNet

__all__ = ["SemuNet", "SemuNetOutput", "IMAGE_MODES"]

IMAGE_MODES = ("magnitude", "complex")


class SemuNetOutput(NamedTuple):
    """What one SemuNet pass returns.

    Attributes:
        recon: reconstruction ``(B, C, H, W)`` (``C`` = 1 magnitude, 2 real/imaginary).
        seg: segmentation logits ``(B, K, H, W)``, or None without a SegNet.
        mask: the k-space mask used ``(B, 1, H, W)`` (relaxed during stage-1 training, else boolean as float).
        zero_filled: the network input, the zero-filled image ``(B, C, H, W)``.
    """

    recon: Tensor
    seg: Tensor | None
    mask: Tensor
    zero_filled: Tensor


class SemuNet(nn.Module):
    """The joint model of the paper's Fig. 1: training stage (a) with a sampler, test stage (c) without.

    Args:
        recon: ReconNet, ``(B, C, H, W) -> (B, C, H, W)``.
        seg: SegNet, ``(B, 1, H, W) -> (B, K, H, W)``, or None (reconstruction only, as LOUPE).
        sampler: a :class:`SampNet` (learned mask, stage 1) or None.
        operator: the undersampling operator; a new one if None.
        mask: fixed boolean mask ``(H, W)`` for the test stage or fixed-mask baselines (needs ``sampler=None``).
        image_mode: ``"magnitude"`` (ReconNet sees ``|x_zf|``, 1 channel) or ``"complex"`` (real/imaginary,
            2 channels; SegNet then sees the magnitude of the reconstruction).
    """

    def __init__(
        self,
        recon: nn.Module,
        seg: nn.Module | None = None,
        sampler: SampNet | None = None,
        operator: UndersamplingOperator | None = None,
        mask: Tensor | None = None,
        image_mode: str = "magnitude",
    ) -> None:
        super().__init__()
        if image_mode not in IMAGE_MODES:
            raise ValueError(f"argument 'image_mode' must be one of {IMAGE_MODES}, got {image_mode!r}.")
        if sampler is not None and mask is not None:
            raise ValueError("give either argument 'sampler' (learned mask) or 'mask' (fixed mask), not both.")
        self.image_mode = image_mode
        self.recon = recon
        self.seg = seg
        self.sampler = sampler
        self.operator = operator if operator is not None else UndersamplingOperator()
        if mask is not None:
            self.operator.set_mask(torch.as_tensor(mask))
        if self.sampler is None and self.operator.mask is None:
            raise ValueError("SemuNet needs a mask: pass argument 'sampler', 'mask', or an operator holding a mask.")

    @property
    def mask_shape(self) -> tuple[int, int]:
        """The k-space (and image) size ``(H, W)`` the mask is made for."""
        if self.sampler is not None:
            return tuple(int(s) for s in self.sampler.shape)
        return tuple(int(s) for s in self.operator.mask.shape)

    def current_mask(self, batch_size: int, like: Tensor) -> Tensor:
        """The mask for a batch ``(B, 1, H, W)``: drawn from the sampler, else the operator's fixed mask."""
        if self.sampler is not None:
            return self.sampler(batch_size).to(like.device)
        return self.operator.mask.to(like.device).expand(batch_size, 1, *self.operator.mask.shape)

    def _to_channels(self, x: Tensor) -> Tensor:
        """Complex ``(B, 1, H, W)`` to the network layout of :attr:`image_mode`."""
        if self.image_mode == "magnitude":
            return x.abs()
        return torch.cat([x.real, x.imag], dim=1)

    def magnitude(self, recon: Tensor) -> Tensor:
        """Network-layout image ``(B, C, H, W)`` to its magnitude ``(B, 1, H, W)`` (unchanged in magnitude mode)."""
        if self.image_mode == "magnitude":
            return recon
        return torch.sqrt(recon[:, :1] ** 2 + recon[:, 1:] ** 2 + 1e-12)  # eps keeps the gradient finite at 0

    def reconstruct_and_segment(
        self, zero_filled: Tensor, kspace: Tensor | None = None, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """ReconNet then SegNet on network-layout zero-filled images ``(B, C, H, W)``.

        Every ReconNet has one call signature, ``recon(zero_filled, kspace, mask, operator)``: the masked k-space
        ``(B, 1, H, W)``, the mask and this model's operator, which k-space-domain networks use for their
        transforms and data consistency (an image-domain U-Net ignores them).
        """
        recon = self.recon(zero_filled, kspace, mask, self.operator)
        seg = self.seg(self.magnitude(recon)) if self.seg is not None else None
        return recon, seg

    def _coils(self, maps: Tensor | None) -> dict:
        """The operator's extra arguments: ``maps`` for a multi-coil operator (None: its own default maps)."""
        multicoil = isinstance(self.operator, MultiCoilOperator)
        if maps is not None and not multicoil:
            raise ValueError(
                "coil maps were given but this SemuNet's operator is single-coil: the model was built for "
                "physics.mode 'magnitude' or 'complex'."
            )
        return {"maps": maps} if multicoil else {}

    def forward(self, image: Tensor, maps: Tensor | None = None, kspace: Tensor | None = None) -> SemuNetOutput:
        """Retrospective undersampling of fully sampled images (or of fully sampled raw k-space), then
        reconstruction and segmentation.

        Args:
            image: ``(B, 1, H, W)`` magnitude or ``(B, 2, H, W)`` real/imaginary fully sampled images.
            maps: coil sensitivities ``(B, C, H, W)`` (complex) for a multi-coil operator; None uses its own.
            kspace: fully sampled raw k-space ``(B, C, H, W)`` (complex): when given, it is what the mask samples
                (combined as acquired k-space is, :meth:`acquired_zero_filled`), and ``image`` is only the target.

        Returns:
            :class:`SemuNetOutput`.
        """
        if image.ndim != 4:
            raise ValueError(f"SemuNet expects 'image' of shape (B, C, H, W), got {tuple(image.shape)}.")
        mask = self.current_mask(image.shape[0], image)
        if kspace is not None:
            kspace = self.operator.restrict(kspace, mask)
            zf = self._to_channels(self.acquired_zero_filled(kspace))
            recon, seg = self.reconstruct_and_segment(zf, kspace, mask)
            return SemuNetOutput(recon=recon, seg=seg, mask=mask, zero_filled=zf)
        coils = self._coils(maps)
        kspace = self.operator(image, mask, **coils)
        if coils and self.image_mode == "magnitude":  # multi-coil: combined as acquired k-space is (RSS, no maps)
            zf = self._to_channels(self.acquired_zero_filled(kspace))
        else:  # the mask applied once; complex networks get the sensitivity-weighted combination with the maps
            zf = self._to_channels(self.operator.backproject(kspace, **coils))
        recon, seg = self.reconstruct_and_segment(zf, kspace, mask)
        return SemuNetOutput(recon=recon, seg=seg, mask=mask, zero_filled=zf)

    def acquired_zero_filled(self, kspace: Tensor) -> Tensor:
        """The complex zero-filled image ``(B, 1, H, W)`` of acquired, already restricted k-space ``(B, C, H, W)``.

        Single-coil k-space through a single-coil operator: ``F^H k``, with its phase. Multi-coil k-space (or any
        k-space given to a multi-coil model): the root-sum-of-squares of the zero-filled coil images, since the
        receive sensitivities of an acquisition are not known (the operator's maps are the simulation's)."""
        if kspace.shape[1] == 1 and not isinstance(self.operator, MultiCoilOperator):
            return self.operator.backproject(kspace)
        return rss(self.operator.coil_backproject(kspace)).to(kspace.dtype)

    def forward_kspace(self, kspace: Tensor) -> SemuNetOutput:
        """Test stage (Fig. 1c): acquired undersampled k-space, zero-filled, reconstructed and segmented.

        Args:
            kspace: complex ``(B, C, H, W)`` centered k-space, ``C`` coils (1: single-coil); samples outside the
                fixed mask are ignored.
        """
        if self.sampler is not None:
            raise ValueError("forward_kspace needs the fixed boolean mask: call freeze_mask() after stage 1 first.")
        if self.image_mode != "magnitude" and (kspace.shape[1] > 1 or isinstance(self.operator, MultiCoilOperator)):
            raise ValueError(
                "this model reconstructs real/imaginary images (model.image_mode: complex): acquired multi-coil "
                "k-space is combined by root-sum-of-squares, which has no phase; use single-coil k-space or a model "
                "with model.image_mode: magnitude."
            )
        mask = self.operator.mask.to(kspace.device)
        kspace = self.operator.restrict(kspace)
        zf = self._to_channels(self.acquired_zero_filled(kspace))
        recon, seg = self.reconstruct_and_segment(zf, kspace, mask.expand(kspace.shape[0], 1, *mask.shape))
        return SemuNetOutput(recon=recon, seg=seg, mask=mask.expand(kspace.shape[0], 1, *mask.shape), zero_filled=zf)

    @torch.no_grad()
    def freeze_mask(self) -> Tensor:
        """End of stage 1: booleanize the sampler (top-n), store it as the fixed mask and drop the sampler.

        Returns:
            the boolean mask ``(H, W)``.
        """
        if self.sampler is None:
            raise ValueError("freeze_mask: this SemuNet has no sampler (its mask is already fixed).")
        mask = self.sampler.booleanize()
        self.operator.set_mask(mask.to(self.sampler.logits.device))
        self.sampler = None
        return mask
