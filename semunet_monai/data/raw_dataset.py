"""Training data from raw multi-coil k-space: fastMRI HDF5 files (dataset ``kspace``, complex
``(slices, coils, H, W)``, centered, fully sampled) paired with NIfTI label volumes through a datalist.

Datalist entries are ``{"kspace": "1.h5", "label": "1_labels.nii.gz"}`` (optionally ``"subject"``); the label
volume is ``(H, W, slices)`` on the k-space's grid: label slice ``z`` belongs to ``kspace[z]``, label axis 0 to
k-space axis ``H``. No reorientation is done (the files carry no common patient geometry).

Read-out oversampling: fastMRI stores k-space oversampled along the read-out (``H``), e.g. 640x320 for 320x320
images. When ``H`` is twice the label's, each slice is cropped to the centre half in image space and transformed
back, as fastMRI crops its targets.

Each slice item holds ``kspace`` (complex64 ``(coils, H, W)``), ``image`` (the fully sampled root-sum-of-squares
magnitude ``(1, H, W)``, the reconstruction target), ``label``, ``subject`` and ``slice``. A subject's k-space is
divided by the 99.5th percentile of its magnitude volume, so the target spans about [0, 1] as the image pipeline's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from ..keys import Keys
from .dataset import SLICE
from .labels import LabelScheme
from .layouts import SUBJECT

__all__ = ["RawSliceDataset", "is_raw", "read_raw_subject", "check_raw_items"]

logger = logging.getLogger(__name__)


def is_raw(items: Sequence[dict]) -> bool:
    """True if the data items are raw k-space items (a ``kspace`` entry instead of ``image``)."""
    return bool(items) and all(Keys.KSPACE in it for it in items)


def _read_kspace(path: Path) -> np.ndarray:
    from monai.apps.reconstruction.fastmri_reader import FastMRIReader

    try:
        content = FastMRIReader().read(str(path))
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: could not be read as fastMRI HDF5 ({type(err).__name__}: {err}).") from err
    if "kspace" not in content:
        raise ValueError(f"{path}: no 'kspace' dataset (found {sorted(k for k in content if k != 'filename')}).")
    kspace = np.asarray(content["kspace"])
    if not np.iscomplexobj(kspace):
        raise ValueError(f"{path}: 'kspace' must be complex, got dtype {kspace.dtype}.")
    if kspace.ndim != 4 or 0 in kspace.shape:
        raise ValueError(f"{path}: 'kspace' must be multi-coil (slices, coils, H, W), got shape {kspace.shape}.")
    if not np.isfinite(kspace).all():
        raise ValueError(f"{path}: 'kspace' holds NaN or Inf values.")
    return kspace.astype(np.complex64)


def read_raw_subject(item: dict, scheme: LabelScheme) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(kspace (S, C, H, W) complex64 scaled, rss (S, 1, H, W) float32, labels (S, 1, H, W) int64)`` of one item,
    checked (each error names the file)."""
    from ..kspace import crop_readout, ifft2c

    kpath, lpath = Path(item[Keys.KSPACE]), Path(item[Keys.LABEL])
    kspace = torch.from_numpy(_read_kspace(kpath))
    try:
        labels = np.asarray(nib.load(str(lpath)).dataobj)
    except Exception as err:  # nibabel raises ImageFileError, OSError, EOFError... for unreadable files
        raise ValueError(f"{lpath}: could not be read as a label volume ({type(err).__name__}: {err}).") from err
    if labels.ndim != 3:
        raise ValueError(f"{lpath}: expected a label volume (H, W, slices), got shape {labels.shape}.")
    s, _, h, w = kspace.shape
    if labels.shape[2] != s:
        raise ValueError(f"{lpath}: {labels.shape[2]} label slices for the {s} k-space slices of {kpath}.")
    if labels.shape[1] != w or labels.shape[0] not in (h, h // 2):
        raise ValueError(
            f"{lpath}: label slices are {labels.shape[0]}x{labels.shape[1]}, the k-space of {kpath} is {h}x{w} "
            "(expected the same matrix, or twice the read-out H for oversampled fastMRI k-space)."
        )
    if labels.shape[0] != h:  # read-out oversampling: crop the centre half in image space
        kspace = crop_readout(kspace, labels.shape[0])
    values = set(np.unique(labels).astype(int).tolist())
    unknown = sorted(values - scheme.known_values)
    if unknown or not np.array_equal(labels, np.round(labels)):
        raise ValueError(f"{lpath}: label values {unknown or 'not integers'} are not in scheme {scheme.name!r}.")
    rss = torch.linalg.vector_norm(ifft2c(kspace), dim=1, keepdim=True)
    scale = float(torch.quantile(rss.flatten()[:: max(1, rss.numel() // 2**20)], 0.995))
    if not scale > 0:
        raise ValueError(f"{kpath}: the k-space holds no signal.")
    orig, target = scheme.orig_and_target()
    lut = np.zeros(max(orig) + 1, np.int64)
    lut[orig] = target
    mapped = torch.from_numpy(lut[labels.astype(np.int64)]).permute(2, 0, 1)[:, None]
    return kspace / scale, (rss / scale).float(), mapped


def check_raw_items(items: Sequence[dict], scheme: LabelScheme) -> list[str]:
    """Errors of a raw dataset before training, each naming its file: unreadable or malformed files (see
    :func:`read_raw_subject`), missing files, and coil counts or matrices that differ between subjects."""
    errors, shapes = [], {}
    ids = [str(item.get(SUBJECT)) for item in items]
    errors += [
        f"subject id {sid!r} appears {ids.count(sid)} times in the datalist."
        for sid in sorted(set(ids))
        if ids.count(sid) > 1
    ]
    for item in items:
        missing = [f"{item[k]}: missing {k} file of subject {item.get(SUBJECT)!r}." for k in (Keys.KSPACE, Keys.LABEL)]
        missing = [m for m, k in zip(missing, (Keys.KSPACE, Keys.LABEL)) if not Path(item[k]).is_file()]
        if missing:
            errors += missing
            continue
        try:
            kspace, _, _ = read_raw_subject(item, scheme)
        except ValueError as err:
            errors.append(str(err))
            continue
        shapes[item[Keys.KSPACE]] = tuple(kspace.shape[1:])
    if len(set(shapes.values())) > 1:
        (first, a), *rest = shapes.items()
        other, b = next((p, s) for p, s in rest if s != a)
        errors.append(f"{other}: (coils, H, W) {b} differs from {a} of {first}; every subject needs the same.")
    return errors


class RawSliceDataset(torch.utils.data.Dataset):
    """The slices of raw k-space subjects (see the module docstring), read once and kept in memory.

    Args:
        items: datalist items ``{"kspace", "label", "subject"}``.
        scheme: the label scheme (raw label values to training classes).
        min_foreground: keep only slices whose label has at least this fraction of non-background pixels.
    """

    def __init__(self, items: Sequence[dict], scheme: LabelScheme, min_foreground: float = 0.0) -> None:
        self.items = list(items)
        self.slices: list[dict] = []
        self.slice_transform = None  # raw data is what it is: no simulated physics
        for item in self.items:
            kspace, rss, labels = read_raw_subject(item, scheme)
            for z in range(kspace.shape[0]):
                if float((labels[z] > 0).float().mean()) < min_foreground:
                    continue
                self.slices.append(
                    {
                        Keys.KSPACE: kspace[z],
                        Keys.IMAGE: rss[z],
                        Keys.LABEL: labels[z],
                        SUBJECT: str(item[SUBJECT]),
                        SLICE: z,
                    }
                )
        logger.info("%d raw k-space subjects, %d slices", len(self.items), len(self.slices))

    def __len__(self) -> int:
        return len(self.slices)

    def __getitem__(self, i: int) -> dict:
        return dict(self.slices[i])

    @property
    def subjects(self) -> list[str]:
        return [str(item[SUBJECT]) for item in self.items]
