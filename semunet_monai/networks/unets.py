"""MONAI BasicUNet backbones for ReconNet and SegNet, with named channel-width presets."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from monai.networks.nets import BasicUNet
from torch import Tensor, nn

__all__ = ["IdentityRecon", "FEATURE_PRESETS", "resolve_features", "ReconNet", "SegNet"]

# Six widths as BasicUNet takes them: four encoder levels, bottleneck, last decoder level.
FEATURE_PRESETS: dict[str, tuple[int, ...]] = {
    "paper": (64, 128, 256, 512, 1024, 64),  # the classic U-Net widths of the paper's backbone [Ronneberger et al.]
    "monai": (32, 32, 64, 128, 256, 32),  # BasicUNet's default
    "small": (16, 16, 32, 64, 128, 16),
    "tiny": (4, 4, 8, 8, 16, 4),
}


def resolve_features(features: str | Sequence[int]) -> tuple[int, ...]:
    """Channel widths from a preset name or six integers."""
    if isinstance(features, str):
        if features not in FEATURE_PRESETS:
            raise ValueError(
                f"argument 'features' must be one of {tuple(FEATURE_PRESETS)} or six integers, got {features!r}."
            )
        return FEATURE_PRESETS[features]
    widths = tuple(int(f) for f in features)
    if len(widths) != 6 or min(widths) < 1:
        raise ValueError(f"argument 'features' must be six positive integers, got {tuple(features)!r}.")
    return widths


def _pad_only_where_needed(unet: BasicUNet, spatial: Sequence[int]) -> None:
    """Switch MONAI's UpCat padding on only for sizes that four 2x poolings do not divide.

    UpCat pads its upsampled input with ``"replicate"`` on every call, by zero pixels when the sizes already match.
    That no-op pad copies the tensor at each decoder level, runs in fp32 under CPU autocast (a cast there and back)
    and its backward breaks torch.compile's inductor in torch 2.13; for sizes divisible by 16 it is skipped.
    """
    needed = any(int(s) % 16 for s in spatial)
    for up in (unet.upcat_4, unet.upcat_3, unet.upcat_2, unet.upcat_1):
        up.is_pad = needed


def _run_unet(unet: BasicUNet, x: Tensor) -> Tensor:
    """``unet(x)``, with sides shorter than 16 zero-padded to 16 and cropped back: four 2x poolings need at least 16
    pixels (a (ky, kz) plane of a thin slab has fewer along z). BasicUNet pads only its decoder inputs, and MONAI's
    DivisiblePad works on single channel-first images, not on batches with their crop back."""
    h, w = x.shape[-2:]
    ph, pw = max(0, 16 - h), max(0, 16 - w)
    if ph or pw:
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
    _pad_only_where_needed(unet, x.shape[2:])
    out = unet(x)
    return out[..., ph // 2 : ph // 2 + h, pw // 2 : pw // 2 + w] if ph or pw else out


# BasicUNet's default activation, but not in place: InstanceNorm returns a view, and an in-place activation on it makes
# autograd clone the whole base tensor (CopySlices) at every block; 5-12 % of a training step (benchmarks/speed.py)
ACT = ("LeakyReLU", {"negative_slope": 0.1, "inplace": False})


def _check_input(x: Tensor, channels: int, name: str) -> None:
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} expects input of shape (B, {channels}, H, W), got {tuple(x.shape)}.")


class ReconNet(nn.Module):
    """ReconNet: a 2-D BasicUNet predicting a residual on the zero-filled image, ``x + U(x)``.

    Args:
        in_channels: 1 for magnitude images, 2 for real/imaginary channels; the output has the same channels.
        features: a preset name from :data:`FEATURE_PRESETS` (default ``"paper"``) or six widths.
        residual: add the input to the U-Net output (the zero-filled image is the starting point).
        **unet_kwargs: passed on to :class:`monai.networks.nets.BasicUNet` (act, norm, dropout, upsample, ...).
    """

    def __init__(
        self, in_channels: int = 1, features: str | Sequence[int] = "paper", residual: bool = True, **unet_kwargs
    ) -> None:
        super().__init__()
        if in_channels not in (1, 2):
            raise ValueError(
                f"argument 'in_channels' must be 1 (magnitude) or 2 (real/imaginary), got {in_channels!r}."
            )
        self.in_channels = in_channels
        self.residual = bool(residual)
        self.features = resolve_features(features)
        self.unet = BasicUNet(
            spatial_dims=2,
            in_channels=in_channels,
            out_channels=in_channels,
            features=self.features,
            **{"act": ACT, **unet_kwargs},
        )

    def forward(self, x: Tensor, kspace: Tensor | None = None, mask: Tensor | None = None, operator=None) -> Tensor:
        """Map ``(B, C, H, W)`` zero-filled images to reconstructions ``(B, C, H, W)``.

        ``kspace``, ``mask`` and ``operator`` complete the one call signature every ReconNet shares (see
        :meth:`~semunet_monai.networks.SemuNet.reconstruct_and_segment`); an image-domain U-Net does not use them."""
        _check_input(x, self.in_channels, "ReconNet")
        out = _run_unet(self.unet, x)
        return x + out if self.residual else out


class IdentityRecon(nn.Module):
    """The reconstruction of the fully sampled reference: the input image itself (no parameters), with the
    ReconNet call signature."""

    def forward(self, x: Tensor, kspace: Tensor | None = None, mask: Tensor | None = None, operator=None) -> Tensor:
        return x


class SegNet(nn.Module):
    """SegNet: a 2-D BasicUNet producing ``num_classes`` logits per pixel.

    Args:
        num_classes: output classes ``K``, background included.
        in_channels: input channels (1: the magnitude reconstruction).
        features: a preset name or six widths.
        **unet_kwargs: passed on to :class:`monai.networks.nets.BasicUNet`.
    """

    def __init__(
        self, num_classes: int = 8, in_channels: int = 1, features: str | Sequence[int] = "paper", **unet_kwargs
    ) -> None:
        super().__init__()
        if int(num_classes) < 2:
            raise ValueError(
                f"argument 'num_classes' must be at least 2 (background + one class), got {num_classes!r}."
            )
        self.num_classes = int(num_classes)
        self.in_channels = int(in_channels)
        self.features = resolve_features(features)
        self.unet = BasicUNet(
            spatial_dims=2,
            in_channels=self.in_channels,
            out_channels=self.num_classes,
            features=self.features,
            **{"act": ACT, **unet_kwargs},
        )

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, C_in, H, W)`` images to logits ``(B, K, H, W)``."""
        _check_input(x, self.in_channels, "SegNet")
        return _run_unet(self.unet, x)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
