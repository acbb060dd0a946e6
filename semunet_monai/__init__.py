"""semunet-monai: task-driven fast MRI (SemuNet) on MONAI."""

from __future__ import annotations

from .keys import Keys
from .kspace import UndersamplingOperator, fft2c, ifft2c, to_complex

__version__ = "0.1.0"

__all__ = ["Keys", "UndersamplingOperator", "fft2c", "ifft2c", "to_complex", "__version__"]
