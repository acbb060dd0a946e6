"""Networks: BasicUNet-based ReconNet and SegNet, the data-consistency VarNetRecon, the dual-domain MDReconNet, and
the joint SemuNet."""

from __future__ import annotations

from .mdrecon import MDReconNet
from .semunet import SemuNet, SemuNetOutput
from .unets import FEATURE_PRESETS, IdentityRecon, ReconNet, SegNet
from .varnet import VarNetRecon

__all__ = [
    "FEATURE_PRESETS",
    "IdentityRecon",
    "MDReconNet",
    "ReconNet",
    "SegNet",
    "SemuNet",
    "SemuNetOutput",
    "VarNetRecon",
]
