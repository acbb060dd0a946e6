"""MONAI array/dictionary transform pairs: k-space undersampling and N4 bias-field correction."""

from __future__ import annotations

from .array import KspaceUndersample
from .dictionary import KspaceUndersampled, SplitReconSegd
from .intensity import N4BiasFieldCorrection, N4BiasFieldCorrectiond

__all__ = [
    "KspaceUndersample",
    "KspaceUndersampled",
    "N4BiasFieldCorrection",
    "N4BiasFieldCorrectiond",
    "SplitReconSegd",
]
