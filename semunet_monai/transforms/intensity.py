"""N4 bias-field correction through SimpleITK as a MONAI array/dictionary transform pair.

MONAI has no bias-field correction; SimpleITK's N4 filter is the standard one (MRBrainS18's ``pre/`` files are
already corrected, MRBrainS13's raw scans are not).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import convert_to_dst_type, convert_to_numpy

__all__ = ["N4BiasFieldCorrection", "N4BiasFieldCorrectiond"]


class N4BiasFieldCorrection(Transform):
    """Divide each channel of a channel-first 3-D image ``(C, X, Y, Z)`` by its N4-estimated bias field.

    The field is fitted on a copy shrunk by ``shrink`` inside an Otsu foreground mask, then evaluated at full
    resolution.

    Args:
        shrink: integer downsampling factor for the fit (speed).
        iterations: N4 iterations per fitting level.
    """

    def __init__(self, shrink: int = 4, iterations: tuple[int, ...] = (50, 50, 30)) -> None:
        if int(shrink) < 1:
            raise ValueError(f"argument 'shrink' must be a positive integer, got {shrink!r}.")
        self.shrink = int(shrink)
        self.iterations = [int(i) for i in iterations]

    def _correct(self, volume: np.ndarray) -> np.ndarray:
        image = sitk.GetImageFromArray(np.ascontiguousarray(volume.T, dtype=np.float32))
        mask = sitk.OtsuThreshold(image, 0, 1, 200)
        factors = [min(self.shrink, s) for s in image.GetSize()]
        small, small_mask = sitk.Shrink(image, factors), sitk.Shrink(mask, factors)
        n4 = sitk.N4BiasFieldCorrectionImageFilter()
        n4.SetMaximumNumberOfIterations(self.iterations)
        n4.Execute(small, small_mask)
        log_bias = sitk.GetArrayFromImage(n4.GetLogBiasFieldAsImage(image)).T
        return (volume / np.exp(log_bias)).astype(np.float32)

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        array = convert_to_numpy(img)
        if array.ndim != 4:
            raise ValueError(
                f"N4BiasFieldCorrection expects a channel-first 3-D image (C, X, Y, Z), got {array.shape}."
            )
        out = np.stack([self._correct(channel) for channel in array])
        return convert_to_dst_type(out, img, dtype=out.dtype)[0]


class N4BiasFieldCorrectiond(MapTransform):
    """Dictionary version of :class:`N4BiasFieldCorrection`."""

    def __init__(
        self,
        keys: KeysCollection,
        shrink: int = 4,
        iterations: tuple[int, ...] = (50, 50, 30),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.correct = N4BiasFieldCorrection(shrink, iterations)

    def __call__(self, data):
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.correct(d[key])
        return d
