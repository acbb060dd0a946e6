"""Train and evaluate a method end to end: data, phases, validation, checkpoints, resume and the run folder.

Run folder: ``config.yaml``, ``metrics.csv``/``metrics.json`` (one row per validation), ``tb/`` (TensorBoard),
``phases/<i>_<name>/{latest.pt, latest.prev.pt, best.pt, final.pt}``, and at the end ``model.pt`` (the final
SemuNet state dict), ``mask/`` (the fixed or learned boolean mask: npy, NIfTI, PNG, JSON) and
``test_metrics.{json,csv}``.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import torch
import yaml
from ignite.engine import Events
from monai.handlers import TensorBoardStatsHandler, ValidationHandler
from monai.utils import set_determinism
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from ..config import ExperimentConfig
from ..data.dataset import SliceDataset, make_slice_dataset, split_subjects, volume_transforms
from ..data.labels import IGNORE_INDEX, get_label_scheme
from ..data.layouts import SUBJECT, discover
from ..data.preflight import check_items
from ..losses import JointLoss
from ..networks.semunet import SemuNet
from ..sampling.io import save_mask
from .builders import build_model, build_optimizer, set_trainable
from .checkpoint import CheckpointError, all_finite, load_checkpoint, rng_state, save_atomic, set_rng_state
from .distributed import barrier, is_main, main_first, rank, replicas_agree, world_size
from .handlers import (
    EpochLossAverager,
    EpochShuffle,
    LatestCheckpoint,
    MetricsTable,
    NonFiniteLossError,
    StopOnNonFiniteLoss,
    TensorBoardImages,
    save_json_atomic,
)
from .methods import method_phases, method_uses
from .trainer import LOSS, PhaseForward, SemuNetEvaluator, SemuNetTrainer, VolumeMetrics

__all__ = [
    "RunData",
    "prepare_data",
    "train",
    "evaluate",
    "evaluate_folder",
    "write_table",
    "load_trained_model",
    "resolve_device",
]

logger = logging.getLogger(__name__)


class RunData:
    """The split datasets of a run and what describes them."""

    def __init__(self, train: SliceDataset, val: SliceDataset, test: SliceDataset, split: dict, scheme: Any) -> None:
        self.train, self.val, self.test, self.split, self.scheme = train, val, test, split, scheme


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"train.device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {name!r}.") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device is {name!r} but CUDA is not available on this machine.")
    return device


def demo_shape(spatial_size: int) -> tuple[int, int, int]:
    """Phantom grid for a training size: in-plane ``spatial_size``, slices scaled from MRBrainS13's 48 at 240."""
    return (int(spatial_size), int(spatial_size), max(8, round(48 * int(spatial_size) / 240)))


def demo_root(config: ExperimentConfig) -> Path:
    """Where the embedded demo dataset for this config lives: ``data.demo_dir``, else a per-user cache folder
    (``$SEMUNET_MONAI_CACHE`` or ``~/.cache/semunet-monai``) keyed by subjects, seed and grid."""
    d = config.data
    if d.demo_dir:
        return Path(d.demo_dir)
    base = Path(os.environ.get("SEMUNET_MONAI_CACHE", Path.home() / ".cache" / "semunet-monai"))
    x, y, z = demo_shape(d.spatial_size)
    return base / f"demo_s{d.demo_subjects}_seed{d.demo_seed}_{x}x{y}x{z}"


def ensure_demo_dataset(config: ExperimentConfig) -> Path:
    """Generate the demo dataset unless a complete one for the same settings is already there."""
    from ..data.demo import write_demo_dataset

    root = demo_root(config)
    d = config.data
    info_path = root / "dataset.json"
    if info_path.is_file():
        info = json.loads(info_path.read_text())
        if info.get("subjects") == d.demo_subjects and info.get("seed") == d.demo_seed:
            return root
    logger.info("generating the demo dataset (%d phantom subjects) in %s", d.demo_subjects, root)
    write_demo_dataset(root, d.demo_subjects, d.demo_seed, shape=demo_shape(d.spatial_size), overwrite=True)
    return root


def prepare_data(config: ExperimentConfig) -> RunData:
    """Discover (or generate the demo data), preflight-check, split by subject and cache the slices."""
    d = config.data
    if d.root is None:
        main_first(lambda: ensure_demo_dataset(config))
        root = demo_root(config)
    else:
        root = Path(d.root)
    items = discover(root, modality=d.modality, layout=d.layout)
    scheme = get_label_scheme(d.label_scheme)
    report = check_items(items, scheme, source=str(root)) if is_main() else None
    main_first(report.raise_if_errors if report is not None else lambda: None)
    split = split_subjects([it[SUBJECT] for it in items], d.n_test, d.n_val, d.folds, d.fold, d.split_seed)
    if not split["val"]:
        logger.warning("data.n_val is 0: validation uses the test subjects, so no best checkpoint is selected.")
    transform = volume_transforms(scheme, d.spatial_size, n4=d.n4)
    kwargs = {"cache": d.cache, "cache_dir": d.cache_dir, "min_foreground": d.min_foreground}
    sets = {
        name: make_slice_dataset([it for it in items if it[SUBJECT] in split[name]], transform, **kwargs)
        for name in ("train", "test") + (("val",) if split["val"] else ())
    }
    val = sets.get("val", sets["test"])
    logger.info(
        "data %s: train %s (%d slices), val %s, test %s",
        root,
        split["train"],
        len(sets["train"]),
        split["val"] or split["test"],
        split["test"],
    )
    return RunData(sets["train"], val, sets["test"], split, scheme)


def _loader(ds: SliceDataset, batch_size: int, workers: int, sampler: Any = None) -> DataLoader:
    return DataLoader(ds, batch_size=batch_size, sampler=sampler, shuffle=False, num_workers=workers, drop_last=False)


def _key_metric(config: ExperimentConfig) -> str:
    return config.train.key_metric if "seg" in method_uses(config.train.method) else "psnr"


def _make_evaluator(model: SemuNet, loader: DataLoader, device: torch.device, config: ExperimentConfig, scheme: Any):
    has_seg = model.seg is not None
    metric = VolumeMetrics(
        key=_key_metric(config),
        num_classes=scheme.num_classes if has_seg else None,
        class_names=scheme.class_names[1:],
        ignore_index=IGNORE_INDEX,
    )
    return SemuNetEvaluator(device=device, val_data_loader=loader, network=model, key_val_metric={"key": metric})


def _write_config(config: ExperimentConfig, run_dir: Path) -> None:
    path = run_dir / "config.yaml"
    text = yaml.safe_dump(config.to_dict(), sort_keys=False)
    if path.is_file() and path.read_text() != text:
        raise ValueError(
            f"{path}: this run folder holds a different configuration; use a new --out folder, or resume with the "
            f"same settings."
        )
    path.write_text(text)


def train(config: ExperimentConfig, run_dir: str | Path, resume: bool = False, progress: bool = True) -> dict:
    """Train ``config.train.method`` into ``run_dir`` and evaluate it on the test subjects.

    Args:
        config: the experiment.
        run_dir: output folder. An existing run is an error unless ``resume``.
        resume: continue from the latest checkpoints (finished phases are skipped).
        progress: show a progress bar.

    Returns:
        the test metrics (``{"mean": {...}, "per_subject": {...}}``).
    """
    run_dir = Path(run_dir)
    t = config.train
    phases = method_phases(t.method)

    def start_run() -> None:
        if run_dir.exists() and any(run_dir.iterdir()) and not resume:
            raise ValueError(
                f"{run_dir}: the output folder is not empty: resume that run (CLI --resume; bundle --resume true) "
                "or choose another folder."
            )
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_config(config, run_dir)

    main_first(start_run)  # only rank 0 writes; its errors reach every rank
    if t.threads:
        torch.set_num_threads(int(t.threads))
    device = resolve_device(t.device)
    set_determinism(seed=t.seed)
    data = prepare_data(config)
    shape = tuple(data.train[0]["image"].shape[-2:])
    model = build_model(config, data.scheme.num_classes, shape).to(device)
    if model.sampler is not None and rank() > 0:
        model.sampler.generator.manual_seed(t.seed + 7919 * rank())  # fresh Monte-Carlo draws per rank
    loss_fn = JointLoss(lam=t.lam, seg_loss=t.seg_loss, ignore_index=IGNORE_INDEX)
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run_dir / "tb")) if is_main() else None
    val_loader = _loader(data.val, t.batch_size, t.num_workers)
    final_evaluator = None
    try:
        for index, phase in enumerate(phases):
            phase_dir = run_dir / "phases" / f"{index}_{phase.name}"
            if phase.freeze_mask and model.sampler is not None:
                mask = model.freeze_mask()
                logger.info("froze the learned mask: %d of %d samples", int(mask.sum()), mask.numel())
            final_path = phase_dir / "final.pt"
            if resume and final_path.is_file():
                model.load_state_dict(load_checkpoint(final_path)["network"])
                logger.info("phase %s already finished: loaded %s", phase.name, final_path)
                continue
            final_evaluator = _run_phase(
                config,
                phase,
                index,
                model,
                data,
                loss_fn,
                device,
                phase_dir,
                run_dir,
                writer,
                val_loader,
                resume,
                progress,
            )
            if is_main():
                save_atomic({"network": model.state_dict()}, final_path)
            barrier()
        if not replicas_agree(model):
            raise RuntimeError(f"rank {rank()}: the replicas' weights differ after training; nothing was saved.")
        if world_size() > 1:
            logger.info("rank %d of %d: replicas hold identical weights", rank(), world_size())
        results = main_first(lambda: _finish(config, model, data, run_dir, device))
        barrier()  # every rank leaves together, after rank 0 has written the model
        return results if results is not None else {}
    finally:
        if writer is not None:
            writer.close()
        del final_evaluator


def _finish(config: ExperimentConfig, model: SemuNet, data: RunData, run_dir: Path, device: torch.device) -> dict:
    """Rank 0, after the last phase: pick the final weights, write model.pt and the mask, evaluate on the test set."""
    t = config.train
    phases = method_phases(t.method)
    best = run_dir / "phases" / f"{len(phases) - 1}_{phases[-1].name}" / "best.pt"
    if data.split["val"] and best.is_file():
        model.load_state_dict(load_checkpoint(best)["network"])
        logger.info("final model: best validation checkpoint %s", best)
    if not all_finite(model):
        raise NonFiniteLossError("the final weights are not finite; model.pt was not written.")
    save_atomic(model.state_dict(), run_dir / "model.pt")
    if model.sampler is None and model.operator.mask is not None and t.method != "fullysampled":
        method = "sampnet" if "sampler" in method_uses(t.method) else f"fixed:{config.sampling.mask_kind}"
        save_mask(
            model.operator.mask.bool().cpu(),
            run_dir / "mask",
            rate=config.sampling.rate,
            geometry=config.sampling.geometry,
            method=method,
            overwrite=True,
            extra={"training_method": t.method},
        )
    results = evaluate(model, data.test, config, data.scheme, device)
    save_json_atomic(results, run_dir / "test_metrics.json")
    write_table(results, run_dir / "test_metrics.csv")
    logger.info("test: %s", {k: round(v, 4) for k, v in results["mean"].items() if isinstance(v, float)})
    return results


def _run_phase(
    config, phase, index, model, data, loss_fn, device, phase_dir, run_dir, writer, val_loader, resume, progress
):
    t = config.train
    epochs = int(getattr(t, phase.length))
    set_trainable(model, phase)
    optimizer = build_optimizer(model, phase, config)
    sampler = DistributedSampler(data.train, num_replicas=world_size(), rank=rank(), shuffle=True, seed=t.seed)
    train_loader = _loader(data.train, t.batch_size, t.num_workers, sampler)
    forward = PhaseForward(model, phase.input)
    if world_size() > 1:
        ids = [device.index] if device.type == "cuda" else None
        forward = torch.nn.parallel.DistributedDataParallel(forward, device_ids=ids)
    trainer = SemuNetTrainer(
        device=device,
        max_epochs=epochs,
        train_data_loader=train_loader,
        network=forward,
        optimizer=optimizer,
        loss_function=loss_fn,
        phase=phase,
        lam=t.lam,
        amp=t.amp and device.type == "cuda",
    )
    evaluator = _make_evaluator(model, val_loader, device, config, data.scheme)
    best = {"metric": -math.inf, "epoch": 0}

    def state() -> dict:
        return {
            "network": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "trainer": trainer.state_dict(),
            "rng": rng_state(),
            "meta": {
                "phase": phase.name,
                "phase_index": index,
                "epoch": int(trainer.state.epoch),
                "dataset_len": len(data.train),
                "batch_size": t.batch_size,
                "best_metric": float(best["metric"]),
                "best_epoch": best["epoch"],
                "method": t.method,
            },
        }

    latest = phase_dir / "latest.pt"
    if resume and latest.is_file():
        ckpt = load_checkpoint(latest)
        meta = ckpt.get("meta", {})
        if meta.get("dataset_len") != len(data.train) or meta.get("batch_size") != t.batch_size:
            raise CheckpointError(
                f"{latest}: saved for {meta.get('dataset_len')} training slices at batch {meta.get('batch_size')}, "
                f"but this run has {len(data.train)} at batch {t.batch_size}; resume with the same data and batch size."
            )
        saved_epoch = int(meta["epoch"])
        if epochs < saved_epoch:
            raise CheckpointError(
                f"{latest}: saved at epoch {saved_epoch} of phase {phase.name!r}, beyond the requested {epochs} epochs."
            )
        model.load_state_dict(ckpt["network"])
        optimizer.load_state_dict(ckpt["optimizer"])
        trainer.load_state_dict(ckpt["trainer"])
        trainer.state.max_epochs = epochs
        set_rng_state(ckpt["rng"])
        best.update(metric=meta.get("best_metric", -math.inf), epoch=meta.get("best_epoch", 0))
        logger.info("resumed phase %s at epoch %d from %s", phase.name, saved_epoch, latest)
        if saved_epoch >= epochs:
            return evaluator  # Ignite would restart a finished run from epoch 0

    EpochShuffle(sampler).attach(trainer)
    StopOnNonFiniteLoss().attach(trainer)
    EpochLossAverager().attach(trainer)
    if is_main():  # validation, tables, checkpoints and TensorBoard belong to rank 0
        ValidationHandler(interval=max(1, t.val_every), validator=evaluator, epoch_level=True).attach(trainer)

        @trainer.on(Events.COMPLETED)
        def _validate_last(engine) -> None:
            if engine.state.epoch % max(1, t.val_every):
                evaluator.run(engine.state.epoch)

        MetricsTable(run_dir, phase.name, trainer, model, writer).attach(evaluator)

        @evaluator.on(Events.EPOCH_COMPLETED)
        def _save_best(engine) -> None:
            value = float(engine.state.metrics["key"])
            if data.split["val"] and math.isfinite(value) and value > best["metric"] and all_finite(model):
                best.update(metric=value, epoch=trainer.state.epoch)
                save_atomic(
                    {"network": model.state_dict(), "meta": {"epoch": trainer.state.epoch, "metric": value}},
                    phase_dir / "best.pt",
                )

        LatestCheckpoint(latest, model, state).attach(trainer)
        TensorBoardStatsHandler(
            writer,
            tag_name=f"{phase.name}/loss",
            output_transform=lambda o: o[LOSS],
            iteration_log=True,
            epoch_log=False,
        ).attach(trainer)
        TensorBoardImages(writer, trainer, model, tag=f"{phase.name}/val").attach(evaluator)
    if progress and is_main():
        from ignite.handlers import ProgressBar

        ProgressBar(desc=f"{phase.name}").attach(trainer, output_transform=lambda o: {"loss": o[LOSS]})
    logger.info("phase %d (%s): %d epochs, training %s", index, phase.name, epochs, ", ".join(phase.trainable))
    trainer.run()
    return evaluator


def evaluate(
    model: SemuNet, dataset: SliceDataset, config: ExperimentConfig, scheme: Any, device: torch.device
) -> dict:
    """Per-subject and mean PSNR / SSIM / Dice of ``model`` on ``dataset`` (metrics convention in :mod:`metrics`)."""
    loader = _loader(dataset, config.train.batch_size, config.train.num_workers)
    evaluator = _make_evaluator(model, loader, device, config, scheme)
    evaluator.run()
    mean = {k: float(v) for k, v in evaluator.state.metrics.items() if k != "key"}
    per_subject = {}
    for subject, scores in evaluator.state.volume_metrics.items():
        row = {k: float(v) for k, v in scores.items() if not torch.is_tensor(v) or v.ndim == 0}
        if "dice" in scores:
            row.update({f"dice_{n}": float(v) for n, v in zip(scheme.class_names[1:], scores["dice"])})
        per_subject[subject] = row
    return {
        "mean": mean,
        "per_subject": per_subject,
        "method": config.train.method,
        "rate": config.sampling.rate,
        "metrics_convention": "per volume; PSNR/SSIM data_range = reference volume max; Dice excludes background",
    }


def write_table(results: dict, path: Path) -> None:
    """Per-subject rows and a final ``mean`` row as CSV."""
    import csv

    rows = [{"subject": s, **r} for s, r in results["per_subject"].items()] + [{"subject": "mean", **results["mean"]}]
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def load_trained_model(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[SemuNet, ExperimentConfig]:
    """Rebuild a run's final model from ``config.yaml`` and ``model.pt`` (the mask comes from the state dict)."""
    from ..config import config_from_dict

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
    check_items(items, scheme, source=str(data_root)).raise_if_errors()
    dataset = make_slice_dataset(items, volume_transforms(scheme, d.spatial_size, n4=d.n4))
    results = evaluate(model, dataset, config, scheme, next(model.parameters()).device)
    results["data"] = str(data_root)
    results["run"] = str(run_dir)
    stem.parent.mkdir(parents=True, exist_ok=True)
    save_json_atomic(results, outputs[0])
    write_table(results, outputs[1])
    logger.info("wrote %s and %s", *outputs)
    return results
