"""Scores of a trained model on the test subjects from one pass of the evaluator: per volume (the numbers of the
tables and the statistics, the same :class:`~semunet_monai.metrics.VolumeMetricAccumulator` as training's own
evaluation) and per slice, and the arrays of one test slice for the figures.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Events

from ..atomic import atomic_write
from ..data.labels import IGNORE_INDEX
from ..data.layouts import SUBJECT
from ..engines.evaluation import make_loader
from ..engines.trainer import SemuNetEvaluator, flatten_scores
from ..keys import Keys
from ..metrics import VolumeMetricAccumulator, dice_per_class, psnr, ssim_if_defined
from ..networks.semunet import SemuNet

__all__ = [
    "SCORING_VERSION",
    "collect_test_volumes",
    "score_volumes",
    "score_slices",
    "figure_slice",
    "save_figure_slice",
]

# bumped when per-slice scoring changes; finished cells scored by an older version are scored again
# (2: slices without reference tissue have no Dice for any method; 3: per-volume scores from the same pass, tissue3)
SCORING_VERSION = 3

_ARRAYS = (Keys.IMAGE, Keys.ZERO_FILLED, Keys.RECON, Keys.LABEL, Keys.PRED)


def collect_test_volumes(
    model: SemuNet, dataset, device: torch.device, batch_size: int, precision: str = "fp32"
) -> dict[str, dict]:
    """Run ``model`` (eval mode, its boolean mask) over ``dataset`` through the project's evaluator, at the concrete
    ``precision`` the run was scored with.

    Returns:
        ``{subject: {"slice": (S,) int, "image", "zero_filled", "recon": (S, H, W) float32, "label", "pred":
        (S, H, W) int64 or None}}``, slices in dataset order.
    """
    parts: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    loader = make_loader(dataset, batch_size, 0)
    evaluator = SemuNetEvaluator(device=device, val_data_loader=loader, network=model, precision=precision)

    @evaluator.on(Events.ITERATION_COMPLETED)
    def _keep(engine) -> None:
        out = engine.state.output
        for i, subject in enumerate(out[SUBJECT]):
            parts[subject]["slice"].append(int(out["slice"][i]))
            for key in _ARRAYS:
                value = out[key]
                parts[subject][key].append(None if value is None else value[i, 0].detach().cpu())

    evaluator.run()
    volumes = {}
    for subject, p in parts.items():
        volumes[subject] = {"slice": np.asarray(p["slice"])}
        for key in _ARRAYS:
            values = p[key]
            volumes[subject][str(key)] = None if values[0] is None else torch.stack(values).numpy()
    return volumes


def score_volumes(
    volumes: dict[str, dict], num_classes: int | None, class_names: list[str], merge: list[int] | None = None
) -> dict:
    """Per-volume PSNR, SSIM and Dice of the collected test volumes, as training's evaluation computes them.

    Args:
        volumes: from :func:`collect_test_volumes`.
        num_classes: segmentation classes, or None to skip Dice.
        class_names: names of classes ``1..K-1``.
        merge: training class -> tissue3 class (:meth:`~semunet_monai.data.labels.LabelScheme.merge_lut`).

    Returns:
        ``{"mean": {...}, "per_subject": {subject: {...}}}`` with ``psnr``, ``ssim``, ``mean_dice``,
        ``dice_<class>``, ``mean_dice_tissue3`` and ``dice_tissue3_<csf|gm|wm>`` (the layout of
        ``test_metrics.json``).
    """
    if any(v["pred"] is None for v in volumes.values()):
        num_classes = None  # a model without SegNet
    acc = VolumeMetricAccumulator(num_classes, IGNORE_INDEX, merge)
    for subject in sorted(volumes):
        v = volumes[subject]
        labels = (v["pred"], v["label"]) if num_classes is not None else (None, None)
        acc.add(subject, v["recon"], v["image"], *labels)
    result = acc.compute()
    per_subject = {s: flatten_scores(x, class_names) for s, x in result["per_volume"].items()}
    return {"mean": flatten_scores(result["mean"], class_names), "per_subject": per_subject}


def _slice_dice(pred: np.ndarray, label: np.ndarray, num_classes: int) -> float | None:
    """Mean Dice over the classes in the slice's reference or prediction; None for a slice without reference
    tissue, whatever the method predicts there, so that every method is scored on the same slices."""
    if not ((label > 0) & (label != IGNORE_INDEX)).any():
        return None
    scores = dice_per_class(torch.as_tensor(pred), torch.as_tensor(label), num_classes, ignore_index=IGNORE_INDEX)
    scores = scores[~torch.isnan(scores)]
    return float(scores.mean()) if scores.numel() else None


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def score_slices(volumes: dict[str, dict], num_classes: int | None, recon_scores: bool = True) -> dict[str, list]:
    """PSNR, SSIM (``data_range`` = the subject's reference volume max, as the per-volume scores) and mean
    foreground Dice (classes present in the slice's reference or prediction) of every test slice.

    Args:
        volumes: from :func:`collect_test_volumes`.
        num_classes: segmentation classes, or None to skip Dice.
        recon_scores: False for methods that do not reconstruct (``fullysampled``).

    Returns:
        lists of equal length: ``subject``, ``slice``, and ``psnr``/``ssim``/``dice`` (None where undefined:
        a slice without reference tissue has no Dice).
    """
    table: dict[str, list] = defaultdict(list)
    for subject in sorted(volumes):
        v = volumes[subject]
        data_range = float(v["image"].max())
        for i, z in enumerate(v["slice"]):
            table["subject"].append(subject)
            table["slice"].append(int(z))
            if recon_scores:
                table["psnr"].append(_finite(psnr(v["recon"][i], v["image"][i], data_range=data_range)))
                table["ssim"].append(_finite(ssim_if_defined(v["recon"][i], v["image"][i], data_range=data_range)))
            if num_classes is not None and v["pred"] is not None:
                table["dice"].append(_slice_dice(v["pred"][i], v["label"][i], num_classes))
    return dict(table)


def figure_slice(volumes: dict[str, dict]) -> tuple[str, int]:
    """The slice shown in the figures: of the first test subject, the one with the most labelled tissue."""
    subject = sorted(volumes)[0]
    label = volumes[subject]["label"]
    tissue = ((label > 0) & (label != IGNORE_INDEX)).reshape(len(label), -1).sum(axis=1)
    return subject, int(np.argmax(tissue))


def save_figure_slice(volumes: dict[str, dict], table: dict[str, list], path: str | Path) -> Path:
    """Write the figure slice's arrays and its scores from ``table`` (:func:`score_slices`) to ``path`` (.npz)."""
    subject, i = figure_slice(volumes)
    v = volumes[subject]
    arrays = {str(k): v[str(k)][i] for k in _ARRAYS if v[str(k)] is not None}
    row = next(
        j for j, (s, z) in enumerate(zip(table["subject"], table["slice"])) if (s, z) == (subject, v["slice"][i])
    )
    scores = {k: table[k][row] if k in table else None for k in ("psnr", "ssim", "dice")}
    extra = {k: np.float64(np.nan if x is None else x) for k, x in scores.items()}
    meta = {"subject": np.asarray(subject), "slice": np.int64(v["slice"][i])}
    return atomic_write(path, lambda p: np.savez_compressed(p, **arrays, **extra, **meta))
