"""semunet-monai: task-driven fast MRI (SemuNet) on MONAI.

The public names import their modules on first use (:mod:`semunet_monai.lazy`), so ``import semunet_monai`` and
``semunet-monai --help`` do not import torch and MONAI.
"""

from __future__ import annotations

from .lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "Keys": ".keys",
    "UndersamplingOperator": ".kspace",
    "fft2c": ".kspace",
    "ifft2c": ".kspace",
    "to_complex": ".kspace",
    "JointLoss": ".losses",
    "psnr": ".metrics",
    "ssim": ".metrics",
    "dice_per_class": ".metrics",
    "hd95_per_class": ".metrics",
    "segmentation_metrics": ".metrics",
    "VolumeMetricAccumulator": ".metrics",
    "SampNet": ".sampling",
    "make_mask": ".sampling",
    "MASK_KINDS": ".sampling",
    "save_mask": ".sampling",
    "load_mask": ".sampling",
    "ReconNet": ".networks",
    "SegNet": ".networks",
    "MDReconNet": ".networks",
    "SemuNet": ".networks",
    "SemuNetOutput": ".networks",
    "KspaceUndersample": ".transforms",
    "KspaceUndersampled": ".transforms",
}

__all__ = [*_EXPORTS, "__version__"]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
