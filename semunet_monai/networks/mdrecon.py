"""MDReconNet: a parallel dual-domain cascade (k-space and image branches) with hard data consistency.

After Ran et al., "MD-Recon-Net: A Parallel Dual-Domain Convolutional Neural Network for Compressed Sensing MRI",
IEEE TRPMS 2021. Each cascade runs a k-space CNN and an image CNN side by side; each branch sees its own state
concatenated with the other branch's state carried into its domain, predicts a residual, and ends in a
data-consistency layer. The final image is the average of the two branches, which keeps data consistency exact.
"""

from __future__ import annotations

import torch
from monai.networks.blocks import Convolution
from torch import Tensor, nn

from ..kspace import UndersamplingOperator

__all__ = ["MDReconNet"]


def _to_channels(x: Tensor) -> Tensor:
    """Complex ``(B, 1, H, W)`` to real/imaginary channels ``(B, 2, H, W)``."""
    return torch.cat([x.real, x.imag], dim=1)


def _to_complex(x: Tensor) -> Tensor:
    """Real/imaginary channels ``(B, 2, H, W)`` to complex ``(B, 1, H, W)``, complex64 under autocast too."""
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    return torch.complex(x[:, :1], x[:, 1:])


def _branch(features: int, depth: int) -> nn.Sequential:
    """``depth`` 3x3 convolutions, 4 -> features -> ... -> 2 channels, LeakyReLU between, no normalization."""
    act = ("leakyrelu", {"negative_slope": 0.1, "inplace": False})
    widths = [4] + [features] * (depth - 1)
    layers: list[nn.Module] = [
        Convolution(spatial_dims=2, in_channels=c_in, out_channels=c_out, kernel_size=3, act=act, norm=None)
        for c_in, c_out in zip(widths[:-1], widths[1:])
    ]
    layers.append(Convolution(spatial_dims=2, in_channels=features, out_channels=2, kernel_size=3, conv_only=True))
    return nn.Sequential(*layers)


class MDReconNet(nn.Module):
    """Dual-domain cascaded reconstruction network in the spirit of MD-Recon-Net.

    Per cascade, with image state ``x`` and k-space state ``k`` (both complex, started at the zero-filled
    ``ifft2c(kspace)`` and ``kspace``):

    - k-space branch: ``k' = DC(k + CNN_k([k, fft2c(x)]))``
    - image branch: ``x' = ifft2c(DC(fft2c(x + CNN_x([x, ifft2c(k)]))))``

    run in parallel (each sees the other's previous state), where ``DC`` is hard data consistency. The output is
    ``(x + ifft2c(k)) / 2`` after the last cascade. Inputs are scaled per sample by the peak magnitude of the
    zero-filled image and rescaled at the end, so the result does not depend on the intensity range.

    Args:
        in_channels: layout of ``zero_filled`` and of the output: 1 (magnitude) or 2 (real/imaginary).
        cascades: number of dual-domain cascades.
        features: channel width of every hidden convolution in both branches.
        depth: convolutions per branch (at least 2: input and output layers).
    """

    def __init__(self, in_channels: int = 1, cascades: int = 5, features: int = 32, depth: int = 3) -> None:
        super().__init__()
        if isinstance(in_channels, bool) or in_channels not in (1, 2):
            raise ValueError(
                f"MDReconNet: argument 'in_channels' must be 1 (magnitude) or 2 (real/imaginary), got {in_channels!r}."
            )
        for name, value, low in (("cascades", cascades, 1), ("features", features, 1), ("depth", depth, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"MDReconNet: argument '{name}' must be an integer >= {low}, got {value!r}.")
        self.in_channels = in_channels
        self.cascades = cascades
        self.features, self.depth = features, depth
        self.kspace_branches = nn.ModuleList([_branch(features, depth) for _ in range(cascades)])
        self.image_branches = nn.ModuleList([_branch(features, depth) for _ in range(cascades)])

    def _check_inputs(self, zero_filled: Tensor, kspace: Tensor, mask: Tensor) -> Tensor:
        """Validate the three inputs and return the mask as a real ``(B or 1, 1, H, W)`` tensor."""
        if zero_filled.ndim != 4 or zero_filled.shape[1] != self.in_channels or torch.is_complex(zero_filled):
            raise ValueError(
                f"MDReconNet: argument 'zero_filled' must be a real tensor of shape (B, {self.in_channels}, H, W), "
                f"got dtype {zero_filled.dtype} and shape {tuple(zero_filled.shape)}."
            )
        b, _, h, w = zero_filled.shape
        if not torch.is_complex(kspace) or tuple(kspace.shape) != (b, 1, h, w):
            raise ValueError(
                f"MDReconNet: argument 'kspace' must be a complex tensor of shape {(b, 1, h, w)}, "
                f"got dtype {kspace.dtype} and shape {tuple(kspace.shape)}."
            )
        if torch.is_complex(mask) or (
            tuple(mask.shape) != (h, w)
            and (mask.ndim != 4 or mask.shape[0] not in (1, b) or mask.shape[1:] != (1, h, w))
        ):
            raise ValueError(
                f"MDReconNet: argument 'mask' must be a real tensor of shape (H, W) or (B, 1, H, W) with "
                f"(B, H, W) == {(b, h, w)}, got dtype {mask.dtype} and shape {tuple(mask.shape)}."
            )
        if mask.ndim == 2:
            mask = mask[None, None]
        return mask.to(device=kspace.device, dtype=kspace.real.dtype)

    def forward(
        self, zero_filled: Tensor, kspace: Tensor, mask: Tensor, operator: UndersamplingOperator | None = None
    ) -> Tensor:
        """Reconstruct from acquired k-space.

        Args:
            zero_filled: network-layout zero-filled image ``(B, C, H, W)``, ``C`` = ``in_channels``; it fixes the
                output layout and is checked against ``kspace``, the network itself starts from ``ifft2c(kspace)``.
            kspace: acquired complex k-space ``(B, 1, H, W)``, already masked (``m * fft2c(x)``); entries where
                ``mask == 0`` are ignored.
            mask: sampling mask ``(B, 1, H, W)`` or ``(H, W)``, binary or relaxed in [0, 1].
            operator: the model's operator: its ``project``/``backproject`` are the transforms between the domains
                and its ``data_consistency`` the DC layer (a single-coil operator when None).

        Returns:
            reconstruction ``(B, C, H, W)``: the magnitude ``|x|`` for ``C`` = 1, real/imaginary for ``C`` = 2.
        """
        mask = self._check_inputs(zero_filled, kspace, mask)
        op = operator if operator is not None else UndersamplingOperator()
        kspace = op.restrict(kspace, (mask > 0).to(mask.dtype))  # samples outside the mask's support are ignored
        x = op.backproject(kspace)
        # Per-sample scale, detached: a constant, so data consistency stays exact after rescaling.
        scale = x.detach().abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-8)
        kspace = kspace / scale
        x, k = x / scale, kspace
        for k_net, x_net in zip(self.kspace_branches, self.image_branches):
            k_in = torch.cat([_to_channels(k), _to_channels(op.project(x))], dim=1)
            x_in = torch.cat([_to_channels(x), _to_channels(op.backproject(k))], dim=1)
            k_next = op.data_consistency(k + _to_complex(k_net(k_in)), kspace, mask)
            x_next = op.backproject(op.data_consistency(op.project(x + _to_complex(x_net(x_in))), kspace, mask))
            k, x = k_next, x_next
        out = 0.5 * (x + op.backproject(k)) * scale
        return out.abs() if self.in_channels == 1 else _to_channels(out)
