"""k-space sampling: fixed masks, the learned SampNet, and mask files."""

from __future__ import annotations

from .io import load_mask, save_mask
from .masks import MASK_KINDS, FixedMask, create_mask, make_mask, mask_geometry
from .sampnet import SampNet

__all__ = ["MASK_KINDS", "FixedMask", "SampNet", "create_mask", "load_mask", "make_mask", "mask_geometry", "save_mask"]
