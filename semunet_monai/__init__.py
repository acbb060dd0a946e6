"""semunet-monai: task-driven fast MRI (SemuNet) on MONAI."""

from __future__ import annotations

from .keys import Keys
from .kspace import UndersamplingOperator, fft2c, ifft2c, to_complex
from .losses import JointLoss
from .metrics import VolumeMetricAccumulator, dice_per_class, hd95_per_class, psnr, segmentation_metrics, ssim
from .networks import MDReconNet, ReconNet, SegNet, SemuNet, SemuNetOutput
from .sampling import MASK_KINDS, SampNet, load_mask, make_mask, save_mask
from .transforms import KspaceUndersample, KspaceUndersampled

__version__ = "0.1.0"

__all__ = [
    "Keys",
    "UndersamplingOperator",
    "fft2c",
    "ifft2c",
    "to_complex",
    "JointLoss",
    "psnr",
    "ssim",
    "dice_per_class",
    "hd95_per_class",
    "segmentation_metrics",
    "VolumeMetricAccumulator",
    "SampNet",
    "make_mask",
    "MASK_KINDS",
    "save_mask",
    "load_mask",
    "ReconNet",
    "SegNet",
    "MDReconNet",
    "SemuNet",
    "SemuNetOutput",
    "KspaceUndersample",
    "KspaceUndersampled",
    "__version__",
]
