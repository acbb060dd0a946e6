"""Evaluation metrics, computed per volume: PSNR and SSIM for reconstruction, Dice and HD95 for segmentation.

Convention (fastMRI's): PSNR and SSIM use ``data_range = max`` of the reference *volume*. SSIM is 2-D (per slice;
11x11 Gaussian window, sigma 1.5, k1 0.01, k2 0.03, over the valid region as MONAI's ``SSIMMetric``) averaged over
the slices of the volume; this equals ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
use_sample_covariance=False)`` averaged over slices. A volume is ``(S, H, W)``; a single ``(H, W)`` slice is a
volume of one slice. Segmentation scores exclude background (class 0); pixels whose reference label equals
``ignore_index`` are set to background in both prediction and reference.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from monai.metrics import DiceMetric, HausdorffDistanceMetric, PSNRMetric, SSIMMetric
from monai.networks.utils import one_hot
from torch import Tensor

__all__ = [
    "psnr",
    "ssim",
    "ssim_if_defined",
    "dice_per_class",
    "hd95_per_class",
    "segmentation_metrics",
    "VolumeMetricAccumulator",
    "SEGMENTATION_METRIC_NAMES",
    "VOLUME_METRIC_NAMES",
]

logger = logging.getLogger(__name__)

SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03
SEGMENTATION_METRIC_NAMES: tuple[str, str, str, str] = ("dice", "mean_dice", "hd95", "mean_hd95")
VOLUME_METRIC_NAMES: tuple[str, ...] = ("psnr", "ssim", "dice", "mean_dice", "dice_tissue3", "mean_dice_tissue3")

ArrayLike = Tensor | np.ndarray


def _as_tensor(x: ArrayLike, name: str) -> Tensor:
    if not isinstance(x, (Tensor, np.ndarray)):
        raise ValueError(f"argument '{name}' must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}.")
    t = torch.as_tensor(x).detach().cpu()
    if torch.is_complex(t):
        raise ValueError(f"argument '{name}' must be real-valued (take the magnitude first), got dtype {t.dtype}.")
    return t


def _image_pair(pred: ArrayLike, ref: ArrayLike, data_range: float | None = None) -> tuple[Tensor, Tensor, float]:
    """Return ``pred``, ``ref`` as float64 ``(S, H, W)`` and the data range (``ref.max()`` unless given)."""
    p, r = _as_tensor(pred, "pred").double(), _as_tensor(ref, "ref").double()
    if p.shape != r.shape or p.ndim not in (2, 3):
        raise ValueError(
            f"arguments 'pred' and 'ref' must have the same shape (S, H, W) or (H, W), "
            f"got {tuple(p.shape)} and {tuple(r.shape)}."
        )
    if data_range is None:
        data_range = float(r.max())
        if not data_range > 0 or not math.isfinite(data_range):
            raise ValueError(
                f"argument 'ref' must have a finite positive maximum (used as data_range), got {data_range}."
            )
    elif not (isinstance(data_range, (int, float)) and math.isfinite(data_range) and data_range > 0):
        raise ValueError(f"argument 'data_range' must be a finite positive number, got {data_range!r}.")
    return (p[None], r[None], float(data_range)) if p.ndim == 2 else (p, r, float(data_range))


def psnr(pred: ArrayLike, ref: ArrayLike, data_range: float | None = None) -> float:
    """PSNR of a volume in dB, ``data_range = ref.max()`` over the whole volume (fastMRI convention).

    Args:
        pred: reconstruction ``(S, H, W)`` or ``(H, W)``, real tensor or array.
        ref: reference of the same shape, with a positive maximum.
        data_range: override of ``ref.max()``, e.g. the whole volume's maximum when scoring one slice of it.

    Returns:
        ``20 log10(ref.max()) - 10 log10(MSE)``; ``inf`` when ``pred == ref`` exactly.
    """
    p, r, data_range = _image_pair(pred, ref, data_range)
    metric = PSNRMetric(max_val=data_range, reduction="none")
    return float(metric(p.reshape(1, -1), r.reshape(1, -1)))


def ssim(pred: ArrayLike, ref: ArrayLike, data_range: float | None = None) -> float:
    """2-D SSIM averaged over the slices of a volume, ``data_range = ref.max()`` of the whole volume.

    Args:
        pred: reconstruction ``(S, H, W)`` or ``(H, W)`` with ``H, W >= 11``, real tensor or array.
        ref: reference of the same shape, with a positive maximum.
        data_range: override of ``ref.max()``, e.g. the whole volume's maximum when scoring one slice of it.

    Returns:
        mean over slices of the per-slice SSIM (1.0 for identical inputs).
    """
    p, r, data_range = _image_pair(pred, ref, data_range)
    if min(p.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"arguments 'pred'/'ref' need H, W >= {SSIM_WINDOW} for SSIM, got shape {tuple(p.shape)}.")
    metric = SSIMMetric(
        spatial_dims=2, data_range=data_range, win_size=SSIM_WINDOW, kernel_sigma=SSIM_SIGMA, k1=SSIM_K1, k2=SSIM_K2
    )
    return float(metric(p[:, None], r[:, None]).mean())  # slices as the batch: (S, 1) per-slice values


_SMALL_PLANES_WARNED: set[tuple[int, int]] = set()


def ssim_if_defined(pred: ArrayLike, ref: ArrayLike, data_range: float | None = None) -> float:
    """:func:`ssim`, or NaN (with one warning per plane size) for planes under the 11x11 window, where SSIM is not
    defined: the (ky, kz) planes of a thin volume (a ``kykz`` model on a 10-slice scan) are scored, not refused."""
    plane = tuple(int(n) for n in getattr(pred, "shape", ())[-2:])  # ssim itself checks types and shapes
    if len(plane) == 2 and min(plane) < SSIM_WINDOW:
        if plane not in _SMALL_PLANES_WARNED:
            _SMALL_PLANES_WARNED.add(plane)
            logger.warning(
                "SSIM is not defined on %dx%d planes (the window is %dx%d): reported as NaN.",
                *plane,
                *(SSIM_WINDOW,) * 2,
            )
        return math.nan
    return ssim(pred, ref, data_range)


def _label_volume(x: ArrayLike, name: str) -> Tensor:
    t = _as_tensor(x, name)
    if t.ndim not in (2, 3):
        raise ValueError(f"argument '{name}' must be a label volume (S, H, W) or (H, W), got {tuple(t.shape)}.")
    if torch.is_floating_point(t) and not bool(torch.all(t == torch.round(t))):
        raise ValueError(f"argument '{name}' must hold integer class indices, got non-integer values.")
    return t.long()


def _one_hot_pair(
    pred_labels: ArrayLike, ref_labels: ArrayLike, num_classes: int, ignore_index: int | None
) -> tuple[Tensor, Tensor]:
    """Validate labels and return one-hot ``(1, K, *spatial)`` prediction and reference."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"argument 'num_classes' must be an int >= 2 (background included), got {num_classes!r}.")
    p, r = _label_volume(pred_labels, "pred_labels"), _label_volume(ref_labels, "ref_labels")
    if p.shape != r.shape:
        raise ValueError(
            f"arguments 'pred_labels' and 'ref_labels' must have the same shape, got {tuple(p.shape)} and "
            f"{tuple(r.shape)}."
        )
    if ignore_index is not None:
        keep = r != ignore_index
        p, r = torch.where(keep, p, 0), torch.where(keep, r, 0)
    for name, t in (("pred_labels", p), ("ref_labels", r)):
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_classes):
            raise ValueError(
                f"argument '{name}' must lie in [0, {num_classes}) (num_classes) outside ignore_index={ignore_index}, "
                f"got values in [{int(t.min())}, {int(t.max())}]."
            )
    return one_hot(p[None, None], num_classes), one_hot(r[None, None], num_classes)


def dice_per_class(
    pred_labels: ArrayLike, ref_labels: ArrayLike, num_classes: int, ignore_index: int | None = None
) -> Tensor:
    """Dice of each foreground class over a whole volume.

    Args:
        pred_labels: predicted class indices ``(S, H, W)`` or ``(H, W)``.
        ref_labels: reference class indices, same shape.
        num_classes: number of classes ``K`` including background 0.
        ignore_index: reference label whose pixels are excluded (set to background in both), or ``None``.

    Returns:
        float tensor ``(K - 1,)`` for classes ``1..K-1``: NaN where the class is absent from both, 0 where it is
        only in one.
    """
    p, r = _one_hot_pair(pred_labels, ref_labels, num_classes, ignore_index)
    dice = DiceMetric(include_background=False, reduction="none", ignore_empty=False)(p, r)[0]
    # MONAI gives 1.0 (ignore_empty=False) for a class absent from both, or NaN also for a class only predicted
    # (ignore_empty=True); we want NaN exactly where the class is absent from both.
    absent = (p[0, 1:] + r[0, 1:]).flatten(1).sum(1) == 0
    return torch.where(absent, torch.full_like(dice, float("nan")), dice)


def hd95_per_class(
    pred_labels: ArrayLike,
    ref_labels: ArrayLike,
    num_classes: int,
    ignore_index: int | None = None,
    spacing: float | Sequence[float] | None = None,
) -> Tensor:
    """95th-percentile symmetric Hausdorff distance of each foreground class over a whole volume.

    A ``(S, H, W)`` volume is scored in 3-D, so ``spacing`` is ``(slice, row, column)``.

    Args:
        pred_labels: predicted class indices ``(S, H, W)`` or ``(H, W)``.
        ref_labels: reference class indices, same shape.
        num_classes: number of classes ``K`` including background 0.
        ignore_index: reference label whose pixels are excluded (set to background in both), or ``None``.
        spacing: pixel spacing, one number or one per axis; ``None`` means 1.0 per axis.

    Returns:
        float tensor ``(K - 1,)`` in units of ``spacing``; NaN where the class is missing from the prediction or
        the reference (MONAI's convention).
    """
    p, r = _one_hot_pair(pred_labels, ref_labels, num_classes, ignore_index)
    ndim = p.ndim - 2
    if spacing is None:
        spacing = 1.0
    if isinstance(spacing, Sequence) and len(spacing) != ndim:
        raise ValueError(f"argument 'spacing' must be a number or have {ndim} entries (one per axis), got {spacing}.")
    metric = HausdorffDistanceMetric(include_background=False, percentile=95, reduction="none")
    # Silence MONAI's warning for every empty class (the NaN is documented above) and, in 1.6.1, its FutureWarning
    # about its own internal use of get_mask_edges(always_return_as_numpy=...).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is all 0.*", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*always_return_as_numpy.*", category=FutureWarning)
        return metric(p, r, spacing=spacing)[0]


def segmentation_metrics(
    pred_labels: ArrayLike,
    ref_labels: ArrayLike,
    num_classes: int,
    ignore_index: int | None = None,
    spacing: float | Sequence[float] | None = None,
) -> dict[str, Tensor | float]:
    """Dice and HD95 per foreground class and their NaN-ignoring means.

    Args:
        pred_labels: predicted class indices ``(S, H, W)`` or ``(H, W)``.
        ref_labels: reference class indices, same shape.
        num_classes: number of classes ``K`` including background 0.
        ignore_index: reference label whose pixels are excluded (set to background in both), or ``None``.
        spacing: pixel spacing for HD95, see :func:`hd95_per_class`.

    Returns:
        ``{"dice": (K-1,), "mean_dice": float, "hd95": (K-1,), "mean_hd95": float}`` (keys in
        :data:`SEGMENTATION_METRIC_NAMES`); a mean is NaN if every class is NaN.
    """
    dice = dice_per_class(pred_labels, ref_labels, num_classes, ignore_index)
    hd95 = hd95_per_class(pred_labels, ref_labels, num_classes, ignore_index, spacing)
    values = (dice, float(torch.nanmean(dice)), hd95, float(torch.nanmean(hd95)))
    return dict(zip(SEGMENTATION_METRIC_NAMES, values))


class VolumeMetricAccumulator:
    """Collect slices arriving in batches, assemble volumes by id, and score each volume.

    Slices of a volume are concatenated in arrival order. Everything is kept on the CPU until :meth:`compute`, so
    memory grows with the evaluated data set (fine for MRBrainS-sized sets). ``reset`` / ``add`` / ``compute``
    mirror Ignite's ``Metric`` interface.

    Args:
        num_classes: number of segmentation classes ``K`` (background included), or ``None`` to score images only.
        ignore_index: reference label excluded from Dice, see :func:`dice_per_class`.
        merge: optional lookup table, training class -> class of the MRBrainS13 challenge's 3 tissues (CSF, GM, WM;
            0 background), from :meth:`~semunet_monai.data.labels.LabelScheme.merge_lut`: predictions and references
            are merged through it and scored as ``dice_tissue3`` / ``mean_dice_tissue3`` as well.
    """

    def __init__(
        self, num_classes: int | None = None, ignore_index: int | None = None, merge: Sequence[int] | None = None
    ) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.merge = None if merge is None or num_classes is None else torch.as_tensor(list(merge), dtype=torch.long)
        if self.merge is not None and self.merge.numel() != num_classes:
            raise ValueError(f"argument 'merge' must map each of the {num_classes} classes, got {len(merge)} entries.")
        self.reset()

    def reset(self) -> None:
        """Forget every slice added so far."""
        self._slices: dict[str, list[tuple[Tensor, ...]]] = {}

    def add(
        self,
        volume_id: str | Sequence[str],
        pred_image: ArrayLike,
        ref_image: ArrayLike,
        pred_labels: ArrayLike | None = None,
        ref_labels: ArrayLike | None = None,
    ) -> None:
        """Add a batch of slices.

        Args:
            volume_id: one id for the whole batch, or one id per slice (length ``B``).
            pred_image: reconstructed magnitudes ``(B, H, W)`` or ``(B, 1, H, W)``.
            ref_image: reference magnitudes, same shape.
            pred_labels: predicted class indices ``(B, H, W)`` or ``(B, 1, H, W)``; required iff ``num_classes``.
            ref_labels: reference class indices, same shape as ``pred_labels``.
        """
        images = [_as_tensor(pred_image, "pred_image"), _as_tensor(ref_image, "ref_image")]
        names = ["pred_image", "ref_image"]
        if self.num_classes is not None:
            if pred_labels is None or ref_labels is None:
                raise ValueError("arguments 'pred_labels' and 'ref_labels' are required when num_classes is set.")
            images += [_as_tensor(pred_labels, "pred_labels"), _as_tensor(ref_labels, "ref_labels")]
            names += ["pred_labels", "ref_labels"]
        images = [t[:, 0] if t.ndim == 4 and t.shape[1] == 1 else t for t in images]
        shapes = {name: tuple(t.shape) for name, t in zip(names, images)}
        if len(set(shapes.values())) != 1 or images[0].ndim != 3:
            raise ValueError(f"arguments {names} must share one shape (B, H, W) or (B, 1, H, W), got {shapes}.")
        batch = images[0].shape[0]
        ids = [volume_id] * batch if isinstance(volume_id, str) else list(volume_id)
        if len(ids) != batch:
            raise ValueError(f"argument 'volume_id' must be one id or {batch} ids (one per slice), got {len(ids)}.")
        for i, vid in enumerate(ids):
            self._slices.setdefault(str(vid), []).append(tuple(t[i] for t in images))

    def _merged(self, labels: Tensor) -> Tensor:
        labels = labels.long()
        known = (labels >= 0) & (labels < self.merge.numel())
        return torch.where(known, self.merge[labels.clamp(0, self.merge.numel() - 1)], labels)

    def compute(self) -> dict[str, dict]:
        """Score every volume.

        Returns:
            ``{"per_volume": {id: {"psnr", "ssim"[, "dice" (K-1,), "mean_dice"]}}, "mean": {...}}``: the mean of
            each scalar over volumes (NaN-ignoring for Dice), and the per-class Dice averaged over volumes.
        """
        per_volume: dict[str, dict[str, Tensor | float]] = {}
        for vid, slices in self._slices.items():
            parts = [torch.stack(column) for column in zip(*slices)]
            scores: dict[str, Tensor | float] = {
                "psnr": psnr(parts[0], parts[1]),
                "ssim": ssim_if_defined(parts[0], parts[1]),
            }
            if self.num_classes is not None:
                dice = dice_per_class(parts[2], parts[3], self.num_classes, self.ignore_index)
                scores.update(dice=dice, mean_dice=float(torch.nanmean(dice)))
                if self.merge is not None:
                    merged = [self._merged(parts[2]), self._merged(parts[3])]
                    dice3 = dice_per_class(*merged, int(self.merge.max()) + 1, self.ignore_index)
                    scores.update(dice_tissue3=dice3, mean_dice_tissue3=float(torch.nanmean(dice3)))
            per_volume[vid] = scores
        mean: dict[str, Tensor | float] = {}
        if per_volume:
            for key in VOLUME_METRIC_NAMES:
                if key in next(iter(per_volume.values())):
                    stacked = torch.stack([torch.as_tensor(s[key], dtype=torch.float64) for s in per_volume.values()])
                    mean[key] = torch.nanmean(stacked, dim=0) if stacked.ndim > 1 else float(torch.nanmean(stacked))
        logger.debug("VolumeMetricAccumulator: scored %d volumes", len(per_volume))
        return {"per_volume": per_volume, "mean": mean}
