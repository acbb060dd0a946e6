"""Scoring trained models: per-volume PSNR / SSIM / Dice through the evaluator, result tables, and rebuilding a
finished run's model."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.utils.data import DataLoader

from ..config import ExperimentConfig, config_from_dict
from ..data.dataset import SliceDataset, make_slice_dataset, volume_transforms
from ..data.labels import IGNORE_INDEX, get_label_scheme
from ..data.layouts import discover
from ..data.preflight import check_items
from ..networks.semunet import SemuNet
from ..precision import resolve_precision
from .builders import build_model
from .checkpoint import CheckpointError, load_checkpoint
from .handlers import save_json_atomic
from .methods import Phase, get_method
from .rundata import resolve_device
from .trainer import SemuNetEvaluator, VolumeMetrics, flatten_scores

__all__ = ["make_loader", "make_evaluator", "evaluate", "write_table", "load_trained_model", "evaluate_folder"]

logger = logging.getLogger(__name__)


def make_loader(
    ds: SliceDataset, batch_size: int, workers: int, sampler: Any = None, device: torch.device | None = None
) -> DataLoader:
    """Slices in order (or ``sampler``'s); pinned for a CUDA ``device``, so batches are copied asynchronously."""
    pin = device is not None and device.type == "cuda"
    return DataLoader(
        ds, batch_size=batch_size, sampler=sampler, shuffle=False, num_workers=workers, drop_last=False, pin_memory=pin
    )


def make_evaluator(
    model: SemuNet,
    loader: DataLoader,
    device: torch.device,
    config: ExperimentConfig,
    scheme: Any,
    phase: Phase | None = None,
    factory=None,
):
    """The evaluator of a run; with ``phase``, the one that validates that phase: its input (SegNet on fully
    sampled images for a pre-training phase) and its checkpoint criterion (:meth:`Phase.key_metric`). ``factory``
    (a bundle's ``validate#evaluator`` node in callable mode) is called instead of :class:`SemuNetEvaluator`, with
    the same arguments."""
    has_seg = model.seg is not None
    key = (phase or get_method(config.train.method)).key_metric(config.train.key_metric)
    metric = VolumeMetrics(
        key=key if has_seg else "psnr",
        num_classes=scheme.num_classes if has_seg else None,
        class_names=scheme.class_names[1:],
        ignore_index=IGNORE_INDEX,
        merge=scheme.merge_lut("tissue3") if has_seg else None,
    )
    try:
        precision = resolve_precision(config.train.precision, device)
    except ValueError as err:  # e.g. a run trained in fp16 on a GPU, scored on a CPU
        precision = resolve_precision("auto", device)
        logger.warning("%s; evaluating in %s instead.", err, precision)
    return (factory or SemuNetEvaluator)(
        device=device,
        val_data_loader=loader,
        network=model,
        key_val_metric={"key": metric},
        precision=precision,
        phase_input=phase.input if phase is not None else "undersampled",
    )


def evaluate(
    model: SemuNet, dataset: SliceDataset, config: ExperimentConfig, scheme: Any, device: torch.device
) -> dict:
    """Per-subject and mean PSNR / SSIM / Dice of ``model`` on ``dataset`` (metrics convention in :mod:`metrics`)."""
    loader = make_loader(dataset, config.train.batch_size, config.train.num_workers, device=device)
    evaluator = make_evaluator(model, loader, device, config, scheme)
    evaluator.run()
    mean = {k: float(v) for k, v in evaluator.state.metrics.items() if k != "key"}
    names = scheme.class_names[1:]
    per_subject = {s: flatten_scores(scores, names) for s, scores in evaluator.state.volume_metrics.items()}
    return {
        "mean": mean,
        "per_subject": per_subject,
        "method": config.train.method,
        "rate": config.sampling.rate,
        "metrics_convention": "per volume; PSNR/SSIM data_range = reference volume max; Dice excludes background",
    }


def write_table(results: dict, path: Path) -> None:
    """Per-subject rows and a final ``mean`` row as CSV."""
    rows = [{"subject": s, **r} for s, r in results["per_subject"].items()] + [{"subject": "mean", **results["mean"]}]
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def load_trained_model(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[SemuNet, ExperimentConfig]:
    """Rebuild a run's final model from ``config.yaml`` and ``model.pt`` (the mask comes from the state dict)."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise ValueError(f"{cfg_path}: not a training run folder (config.yaml missing).")
    config = config_from_dict(yaml.safe_load(cfg_path.read_text()), source=str(cfg_path))
    state = load_checkpoint(run_dir / "model.pt")
    mask = state.get("operator.mask")
    if mask is None:
        raise CheckpointError(f"{run_dir / 'model.pt'}: no fixed mask in the state dict (was training finished?).")
    model = build_model(config, get_label_scheme(config.data.label_scheme).num_classes, tuple(mask.shape))
    if model.sampler is not None:
        model.freeze_mask()
    model.load_state_dict(state)
    return model.to(device).eval(), config


def evaluate_folder(run_dir: str | Path, data_root: str | Path, stem: str | Path, overwrite: bool = False) -> dict:
    """Evaluate a finished run on every subject of a dataset; writes ``<stem>.json`` and ``<stem>.csv``."""
    stem = Path(stem)
    outputs = [stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".csv")]
    existing = [str(p) for p in outputs if p.exists()]
    if existing and not overwrite:
        raise ValueError(f"{', '.join(existing)} already exist(s); pass --overwrite or choose another --out.")
    model, config = load_trained_model(run_dir, device=resolve_device("auto"))
    d = config.data
    scheme = get_label_scheme(d.label_scheme)
    items = discover(data_root, modality=d.modality)
    from ..data.raw_dataset import RawSliceDataset, check_raw_items, is_raw
    from .rundata import physics_transform, slice_axis

    if is_raw(items):  # raw multi-coil k-space: scored as the run was trained (data.raw_dataset)
        errors = check_raw_items(items, scheme)
        if errors:
            raise ValueError(errors[0])
        dataset = RawSliceDataset(items, scheme)
    else:  # images get the run's simulated physics, as its test subjects did
        check_items(items, scheme, source=str(data_root)).raise_if_errors()
        transform = volume_transforms(scheme, d.spatial_size, n4=d.n4)
        dataset = make_slice_dataset(items, transform, axis=slice_axis(config))
        dataset.slice_transform = physics_transform(config)
    results = evaluate(model, dataset, config, scheme, next(model.parameters()).device)
    results["data"] = str(data_root)
    results["run"] = str(run_dir)
    stem.parent.mkdir(parents=True, exist_ok=True)
    save_json_atomic(results, outputs[0])
    write_table(results, outputs[1])
    logger.info("wrote %s and %s", *outputs)
    return results
