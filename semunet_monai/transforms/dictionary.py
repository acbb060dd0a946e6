"""Dictionary wrappers of :mod:`semunet_monai.transforms.array`."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Spacingd

from ..keys import Keys
from ..sampling.sampnet import SampNet
from .array import KspaceUndersample

__all__ = ["KspaceUndersampled", "SplitReconSegd", "ResampleToSpacingd"]


class KspaceUndersampled(MapTransform):
    """Dictionary version of :class:`KspaceUndersample`.

    Args:
        keys: keys of the fully sampled images.
        mask: as in :class:`KspaceUndersample`.
        output_keys: where the zero-filled images go, one per key (default ``Keys.ZERO_FILLED``); may equal
            ``keys`` to replace the images.
        kspace_keys: optional keys for the masked complex k-space, one per key.
        mask_key: optional key under which the boolean ``(H, W)`` mask is stored.
        image_mode: ``"magnitude"`` or ``"complex"``.
        allow_missing_keys: don't raise for missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        mask: NdarrayOrTensor | str | Path | SampNet,
        output_keys: KeysCollection = Keys.ZERO_FILLED,
        kspace_keys: KeysCollection | None = None,
        mask_key: str | None = None,
        image_mode: str = "magnitude",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.output_keys = self._per_key(output_keys, "output_keys")
        self.kspace_keys = self._per_key(kspace_keys, "kspace_keys") if kspace_keys is not None else None
        self.mask_key = mask_key
        self.undersample = KspaceUndersample(mask, image_mode=image_mode, return_kspace=kspace_keys is not None)

    def _per_key(self, names: KeysCollection, arg: str) -> Sequence[Hashable]:
        names = (names,) if isinstance(names, str) else tuple(names)
        if len(names) != len(self.keys):
            raise ValueError(f"argument '{arg}' needs one entry per key ({len(self.keys)}), got {len(names)}.")
        return names

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            idx = self.keys.index(key)
            result = self.undersample(d[key])
            if self.kspace_keys is not None:
                d[self.output_keys[idx]], d[self.kspace_keys[idx]] = result
            else:
                d[self.output_keys[idx]] = result
        if self.mask_key is not None:
            d[self.mask_key] = self.undersample.mask.clone()
        return d


class SplitReconSegd(MapTransform):
    """Split a stacked network output ``(1 + K, ...)`` (reconstruction first, then K segmentation channels) into
    two keys; an output of exactly ``K`` channels (segmentation only, as MONAI Label's infer task produces from
    ``network_def``) passes through. MONAI's SplitDimd only splits into single channels.

    Args:
        keys: the stacked key (default ``pred``).
        num_classes: K.
        recon_key: where the reconstruction ``(1, ...)`` goes.
        seg_key: where the segmentation channels ``(K, ...)`` go (may equal the stacked key).
    """

    def __init__(
        self,
        keys: KeysCollection = Keys.PRED,
        num_classes: int = 8,
        recon_key: str = Keys.RECON,
        seg_key: str = Keys.PRED,
    ) -> None:
        super().__init__(keys)
        self.num_classes = int(num_classes)
        self.recon_key, self.seg_key = recon_key, seg_key

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            stacked = d[key]
            if stacked.shape[0] == self.num_classes + 1:
                d[self.recon_key], d[self.seg_key] = stacked[:1], stacked[1:]
            elif stacked.shape[0] == self.num_classes:
                d[self.seg_key] = stacked
            else:
                raise ValueError(
                    f"SplitReconSegd: {key!r} must have {self.num_classes + 1} (reconstruction + classes) or "
                    f"{self.num_classes} channels, got shape {tuple(stacked.shape)}."
                )
        return d


class ResampleToSpacingd(Spacingd):
    """MONAI's :class:`~monai.transforms.Spacingd` (same arguments, same inverse) that leaves the item's other
    entries alone. MONAI 1.6.1's Spacingd calls ``.update`` on every ``<key>_*`` entry of a NIfTI item, and MONAI
    Label's infer task adds ``image_path`` (a string), which crashed it."""

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor], lazy: bool | None = None) -> dict:
        prefixes = tuple(f"{key}_" for key in self.keys)
        aside = {
            k: v for k, v in data.items() if isinstance(k, str) and k.startswith(prefixes) and not isinstance(v, dict)
        }
        out = super().__call__({k: v for k, v in data.items() if k not in aside}, lazy=lazy)
        out.update(aside)
        return out
