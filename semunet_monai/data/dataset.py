"""From a dataset folder to cached 2-D axial slices: MONAI transforms, subject-level splits, slice datasets."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from monai.data import CacheDataset, Dataset, PersistentDataset
from monai.data.utils import pickle_hashing
from monai.transforms import (
    Compose,
    EnsureChannelFirstd,
    EnsureTyped,
    LoadImaged,
    MapLabelValued,
    Orientationd,
    ResizeWithPadOrCropd,
    ScaleIntensityRangePercentilesd,
)

from ..keys import Keys
from ..transforms.intensity import N4BiasFieldCorrectiond
from .labels import LabelScheme, get_label_scheme
from .layouts import SUBJECT, require_files
from .readers import SimpleITKReader

__all__ = ["volume_transforms", "split_subjects", "SliceDataset", "make_slice_dataset", "SLICE"]

logger = logging.getLogger(__name__)

SLICE = "slice"


def volume_transforms(
    label_scheme: str | LabelScheme = "paper7",
    spatial_size: int | Sequence[int] = 240,
    n4: bool = False,
    upper_percentile: float = 99.5,
) -> Compose:
    """Deterministic volume pipeline: load (NIfTI through nibabel, MHD through SimpleITK), channel first, RAS,
    optional N4, per-volume robust scaling to [0, 1] (0 and the ``upper_percentile`` map to 0 and 1, clipped),
    label mapping to the scheme's classes, in-plane pad/crop to ``spatial_size``.

    Output: ``image`` float32 ``(1, H, W, D)``, ``label`` int64 ``(1, H, W, D)`` (axial slices on the last axis).
    The Compose's ``settings`` attribute holds the arguments it was made with.
    """
    scheme = get_label_scheme(label_scheme)
    size = (int(spatial_size),) * 2 if isinstance(spatial_size, int) else tuple(int(s) for s in spatial_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"argument 'spatial_size' must be one or two positive integers, got {spatial_size!r}.")
    if not 50.0 < float(upper_percentile) <= 100.0:
        raise ValueError(f"argument 'upper_percentile' must be in (50, 100], got {upper_percentile!r}.")
    keys = [Keys.IMAGE, Keys.LABEL]
    orig, target = scheme.orig_and_target()
    steps = [
        LoadImaged(keys, reader=SimpleITKReader(), image_only=True),
        EnsureChannelFirstd(keys, channel_dim="no_channel"),
        Orientationd(keys, axcodes="RAS", labels=None),
    ]
    if n4:
        steps.append(N4BiasFieldCorrectiond(Keys.IMAGE))
    steps += [
        ScaleIntensityRangePercentilesd(Keys.IMAGE, 0.0, float(upper_percentile), 0.0, 1.0, clip=True),
        MapLabelValued(Keys.LABEL, orig, target, dtype=np.int64),
        ResizeWithPadOrCropd(keys, spatial_size=(*size, -1)),
        EnsureTyped(Keys.IMAGE, dtype=torch.float32, track_meta=False),
        EnsureTyped(Keys.LABEL, dtype=torch.int64, track_meta=False),
    ]
    compose = Compose(steps)
    # what the pipeline was made with, so that a bundle records it for inference (Compose keeps no arguments)
    compose.settings = {
        "label_scheme": label_scheme,
        "spatial_size": size,
        "n4": bool(n4),
        "upper_percentile": float(upper_percentile),
    }
    return compose


def split_subjects(
    subjects: Sequence[str], n_test: int = 1, n_val: int = 0, folds: int | None = None, fold: int = 0, seed: int = 0
) -> dict[str, list[str]]:
    """Subject-level split; a subject's slices never cross splits.

    Without ``folds``: a seeded shuffle, the last ``n_test`` subjects test, the ``n_val`` before them validation
    (the paper: 4 train / 1 test). With ``folds=k``: fold ``fold`` of a seeded k-fold is the test set and
    ``n_val`` of the remaining subjects validate.
    """
    ids = [str(s) for s in subjects]
    if len(set(ids)) != len(ids):
        raise ValueError(f"argument 'subjects' has duplicate ids: {sorted(i for i in set(ids) if ids.count(i) > 1)}.")
    order = [ids[i] for i in np.random.default_rng(seed).permutation(len(ids))]
    if folds is not None:
        if not 2 <= int(folds) <= len(ids):
            raise ValueError(f"argument 'folds' must be in [2, {len(ids)}] (number of subjects), got {folds!r}.")
        if not 0 <= int(fold) < int(folds):
            raise ValueError(f"argument 'fold' must be in [0, {folds - 1}], got {fold!r}.")
        test = [s for i, s in enumerate(order) if i % int(folds) == int(fold)]
        rest = [s for s in order if s not in test]
    else:
        if not 0 <= int(n_test) < len(ids):
            raise ValueError(
                f"argument 'n_test' must be in [0, {len(ids) - 1}] for {len(ids)} subjects, got {n_test!r}."
            )
        test = order[len(order) - int(n_test) :] if n_test else []
        rest = order[: len(order) - int(n_test)]
    if not 0 <= int(n_val) < len(rest):
        raise ValueError(f"argument 'n_val' must leave at least one training subject (of {len(rest)}), got {n_val!r}.")
    val = rest[len(rest) - int(n_val) :] if n_val else []
    train = rest[: len(rest) - int(n_val)]
    return {"train": sorted(train), "val": sorted(val), "test": sorted(test)}


class SliceDataset(torch.utils.data.Dataset):
    """2-D slices of cached volumes: axial ``(H, W)`` slices, or the planes across another ``axis``.

    MONAI's datasets cache whole items; this indexes ``(volume, slice)`` over volumes pulled once from a
    CacheDataset or PersistentDataset and kept in memory, so no NIfTI is decoded after construction.

    Args:
        volumes: a dataset of dictionaries with ``image``/``label`` ``(1, H, W, D)`` and ``subject``.
        min_foreground: keep only slices whose label has at least this fraction of non-background pixels.
        slice_transform: applied to each slice item (the simulated acquisition physics,
            :class:`~semunet_monai.transforms.physics.SimulateAcquisitiond`).
        axis: the volume axis (0, 1 or 2 of ``(H, W, D)``) the slices are taken across: 2 gives the axial slices
            ``(H, W)``; in ``sampling.geometry: kykz`` it is the read-out axis, and each item is the plane of the
            two phase-encode axes at one read-out position (axis 0: ``(W, D)``), whose 2-D Fourier transform is
            the 3-D acquisition's hybrid ``(x, ky, kz)`` data at that ``x``. Every volume must give the same plane.

    Items: ``{"image": (1, P, Q) float32, "label": (1, P, Q) int64, "subject": str, "slice": int}``.
    """

    def __init__(
        self,
        volumes: Sequence[Mapping] | torch.utils.data.Dataset,
        min_foreground: float = 0.0,
        slice_transform: Callable[[dict], dict] | None = None,
        axis: int = 2,
    ) -> None:
        if axis not in (0, 1, 2):
            raise ValueError(f"argument 'axis' must be 0, 1 or 2 (an axis of the (H, W, D) volume), got {axis!r}.")
        self.axis = axis
        self.volumes = [volumes[i] for i in range(len(volumes))]
        self.slice_transform = slice_transform
        self.index: list[tuple[int, int]] = []
        planes: dict[tuple[int, ...], str] = {}
        for v, item in enumerate(self.volumes):
            label = item[Keys.LABEL]
            if item[Keys.IMAGE].ndim != 4 or label.shape != item[Keys.IMAGE].shape:
                raise ValueError(
                    f"subject {item.get(SUBJECT)!r}: expected image and label (1, H, W, D) of equal shape, got "
                    f"{tuple(item[Keys.IMAGE].shape)} and {tuple(label.shape)}."
                )
            plane = tuple(int(s) for i, s in enumerate(label.shape[1:]) if i != axis)
            planes.setdefault(plane, str(item.get(SUBJECT)))
            if len(planes) > 1:
                (a, first), (b, this) = list(planes.items())[:2]
                raise ValueError(
                    f"subjects {first!r} and {this!r} give planes {a} and {b} across volume axis {axis}: one mask "
                    "needs one plane size (pad or crop the volumes to the same shape)."
                )
            moved = torch.movedim(torch.as_tensor(label[0]), axis, -1)
            foreground = (moved > 0).float().mean(dim=(0, 1))
            self.index += [(v, z) for z in range(moved.shape[-1]) if float(foreground[z]) >= min_foreground]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        v, z = self.index[i]
        item = self.volumes[v]
        out = {
            Keys.IMAGE: item[Keys.IMAGE].select(self.axis + 1, z),
            Keys.LABEL: item[Keys.LABEL].select(self.axis + 1, z),
            SUBJECT: str(item[SUBJECT]),
            SLICE: z,
        }
        return self.slice_transform(out) if self.slice_transform is not None else out

    @property
    def subjects(self) -> list[str]:
        return [str(item[SUBJECT]) for item in self.volumes]


def make_slice_dataset(
    items: Sequence[dict],
    transform: Compose | None = None,
    cache: str = "memory",
    cache_dir: str | Path | None = None,
    num_workers: int = 0,
    min_foreground: float = 0.0,
    axis: int = 2,
) -> SliceDataset:
    """Load, transform and cache ``items`` (see :mod:`.layouts`) and expose their axial slices.

    Args:
        items: data dictionaries with ``image``, ``label`` and ``subject``.
        transform: volume pipeline (default :func:`volume_transforms` with its defaults).
        cache: ``"memory"`` (CacheDataset), ``"disk"`` (PersistentDataset in ``cache_dir``) or ``"none"``.
        cache_dir: folder for ``cache="disk"``.
        num_workers: workers for CacheDataset's first pass.
        min_foreground, axis: see :class:`SliceDataset`.
    """
    items = require_files(list(items))
    transform = transform if transform is not None else volume_transforms()
    if cache == "memory":
        volumes = CacheDataset(items, transform, num_workers=num_workers, copy_cache=False, progress=False)
    elif cache == "disk":
        if cache_dir is None:
            raise ValueError("argument 'cache_dir' is required with cache='disk'.")
        # plain str keys: torch.load(weights_only=True) refuses the Keys enum, and MONAI then reported every cached
        # file as corrupt and recomputed it; the transform hash keeps volumes of other settings apart
        items = [{str(k): v for k, v in item.items()} for item in items]
        volumes = PersistentDataset(items, transform, cache_dir=Path(cache_dir), hash_transform=pickle_hashing)
    elif cache == "none":
        volumes = Dataset(items, transform)
    else:
        raise ValueError(f"argument 'cache' must be 'memory', 'disk' or 'none', got {cache!r}.")
    dataset = SliceDataset(volumes, min_foreground=min_foreground, axis=axis)
    kind = "axial slices" if axis == 2 else f"planes across axis {axis}"
    logger.info("%d subjects, %d %s", len(items), len(dataset), kind)
    return dataset
