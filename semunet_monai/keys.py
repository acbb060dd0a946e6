"""Dictionary keys shared by transforms, models, engines and configs (one place, no scattered literals)."""

from __future__ import annotations

from monai.utils import StrEnum

__all__ = ["Keys"]


class Keys(StrEnum):
    """Keys of data dictionaries and model outputs.

    ``IMAGE``/``PRED`` follow MONAI Bundle conventions (``verify_net_in_out`` uses them).
    """

    IMAGE = "image"
    LABEL = "label"
    KSPACE = "kspace"
    MASK = "mask"
    ZERO_FILLED = "zero_filled"
    RECON = "recon"
    SEG = "seg"
    PRED = "pred"
    TARGET = "target"
    MAPS = "maps"  # coil sensitivities (C, H, W), complex
