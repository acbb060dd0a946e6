"""Every scan is read once, read-only, before inference starts, so that a bad file is reported in one line that
names it (instead of failing deep inside a MONAI transform, or in the middle of a run after other outputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.preflight import UnreadableError, read_volume

__all__ = ["check_scan"]


def check_scan(path: str | Path) -> tuple[int, ...]:
    """Check that ``path`` (a scan file or DICOM series folder) holds one finite, non-constant 3-D volume; returns
    its shape. Raises ``ValueError`` naming the file, what was found and what was expected.

    The gzip stream of a ``.nii.gz`` is read whole, so a truncated or bit-flipped file is caught (nibabel alone
    does not check the CRC).
    """
    path = Path(path)
    try:
        array, _, _ = read_volume(path)
    except UnreadableError as err:
        raise ValueError(f"{path}: {err}") from None
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ValueError(f"{path}: expected real-valued image intensities, got dtype {array.dtype}.")
    if array.ndim != 3:
        raise ValueError(f"{path}: expected one 3-D volume (X, Y, Z), got {array.ndim}-D data of shape {array.shape}.")
    finite = np.isfinite(array)
    if not finite.all():
        raise ValueError(f"{path}: {int((~finite).sum())} voxel(s) are NaN or infinite; expected finite intensities.")
    if float(array.max()) == float(array.min()):
        raise ValueError(f"{path}: every voxel holds {float(array.min())}; expected an image, not a constant volume.")
    return tuple(int(s) for s in array.shape)
