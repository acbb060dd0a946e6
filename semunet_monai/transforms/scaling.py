"""Robust intensity scaling that can be undone: a MONAI array/dictionary transform pair.

Training scales each volume so that its minimum and its 99.5th percentile map to 0 and 1, clipped
(``ScaleIntensityRangePercentilesd(lower=0, upper=99.5, clip=True)``). Inference must write the reconstruction back in
the scan's own units, but MONAI's ScaleIntensityRangePercentiles is not invertible (it keeps no record of the values
it used), so this pair records them in the image's ``applied_operations`` and ``Invertd`` maps the output back.

What clipping loses: intensities above the upper percentile (0.5 % of the voxels, mostly fat and vessels in a T1
scan) reach the networks as 1, so the reconstruction cannot exceed the percentile value once mapped back.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import InvertibleTransform, MapTransform
from monai.transforms.utils_pytorch_numpy_unification import percentile

__all__ = ["PercentileScale", "PercentileScaled"]


class PercentileScale(InvertibleTransform):
    """Map the ``lower`` and ``upper`` percentiles of an image to 0 and 1 (values outside clipped when ``clip``),
    as ``ScaleIntensityRangePercentiles(lower, upper, 0, 1, clip)`` does; :meth:`inverse` maps back.

    Args:
        lower: lower percentile in [0, 100).
        upper: upper percentile in (lower, 100].
        clip: clip the scaled values to [0, 1].
    """

    def __init__(self, lower: float = 0.0, upper: float = 99.5, clip: bool = True) -> None:
        if not 0.0 <= float(lower) < float(upper) <= 100.0:
            raise ValueError(
                f"arguments 'lower' and 'upper' must satisfy 0 <= lower < upper <= 100, got {lower}, {upper}."
            )
        self.lower, self.upper, self.clip = float(lower), float(upper), bool(clip)

    def __call__(self, img: torch.Tensor) -> MetaTensor:
        img = img if isinstance(img, MetaTensor) else MetaTensor(torch.as_tensor(img))
        values = img.as_tensor().float()
        low = float(percentile(values, self.lower))
        high = float(percentile(values, self.upper))
        span = high - low if high > low else 1.0  # a constant image maps to 0, as MONAI's scaler does
        out = (values - low) / span
        if self.clip:
            out = out.clamp(0.0, 1.0)
        out = MetaTensor(out, meta=img.meta, applied_operations=list(img.applied_operations))
        self.push_transform(out, extra_info={"low": low, "span": span})
        return out

    def inverse(self, data: torch.Tensor) -> torch.Tensor:
        info = self.pop_transform(data)["extra_info"]
        return data * info["span"] + info["low"]


class PercentileScaled(MapTransform, InvertibleTransform):
    """Dictionary version of :class:`PercentileScale`."""

    def __init__(
        self,
        keys: KeysCollection,
        lower: float = 0.0,
        upper: float = 99.5,
        clip: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.scaler = PercentileScale(lower, upper, clip)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.scaler(d[key])
        return d

    def inverse(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.scaler.inverse(d[key])
        return d
