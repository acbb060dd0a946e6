"""One training phase of a method: its engines, its handlers and its resume, built from what a run's phases share.

A phase folder holds ``latest.pt`` (every epoch: networks, optimiser, trainer, RNG states, the best checkpoint's
record and ``meta``; the previous one kept as ``latest.prev.pt``) and ``best.pt`` (the networks at the best
validation score and ``meta``: epoch, metric). Both are written by Ignite's ``Checkpoint`` through
:class:`~semunet_monai.engines.checkpoint.ReplacingDiskSaver` and loaded with ``Checkpoint.load_objects``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from ignite.handlers import Checkpoint
from torch.utils.data.distributed import DistributedSampler

from ..config import ExperimentConfig
from ..losses import JointLoss
from ..networks.semunet import SemuNet
from ..precision import resolve_precision
from .builders import build_optimizer, set_trainable
from .checkpoint import CheckpointError, ReplacingDiskSaver, RngState, StateRecord, load_checkpoint
from .distributed import rank, world_size
from .evaluation import make_evaluator, make_loader
from .methods import Phase
from .rundata import RunData
from .trainer import PhaseForward, SemuNetTrainer

__all__ = ["RunContext", "PhaseEngines", "phase_dir", "build_phase", "resume_phase", "attach_handlers", "run_phase"]

logger = logging.getLogger(__name__)

LATEST, BEST = "latest.pt", "best.pt"


@dataclass
class RunContext:
    """What every phase of one run shares."""

    config: ExperimentConfig
    model: SemuNet
    data: RunData
    loss_fn: JointLoss
    device: torch.device
    run_dir: Path
    val_loader: Any
    writer: Any = None  # TensorBoard SummaryWriter on rank 0
    resume: bool = False
    progress: bool = True
    optimizer_factory: Callable | None = None  # a bundle's optimizer node (callable mode)
    loader_factory: Callable | None = None  # a bundle's train#dataloader node: called with (dataset, sampler=...)
    trainer_factory: Callable | None = None  # a bundle's train#trainer node: called instead of SemuNetTrainer
    evaluator_factory: Callable | None = None  # a bundle's validate#evaluator node: called instead of SemuNetEvaluator
    phase_handlers: tuple = ()  # phase_handlers.PhaseHandler objects in attach order; () the defaults
    handlers: tuple = ()  # a bundle's train#handlers: attached to every phase's trainer
    val_handlers: tuple = ()  # a bundle's validate#handlers: attached to every phase's evaluator


@dataclass
class PhaseEngines:
    """A phase's trainer and evaluator, and the checkpoint objects that tie them together."""

    phase: Phase
    folder: Path
    epochs: int
    trainer: SemuNetTrainer
    evaluator: Any
    optimizer: torch.optim.Optimizer
    best: Checkpoint
    to_save: dict[str, Any]  # what latest.pt holds


def phase_dir(run_dir: Path, index: int, phase: Phase) -> Path:
    return Path(run_dir) / "phases" / f"{index}_{phase.name}"


def build_phase(ctx: RunContext, phase: Phase, index: int) -> PhaseEngines | None:
    """The phase's optimiser, trainer and evaluator (``None`` for a phase of 0 epochs)."""
    t = ctx.config.train
    epochs = phase.num_epochs(t.epochs, t.finetune_epochs)
    if epochs == 0:  # train.finetune_epochs: 0 skips fine-tuning (its mask is still frozen before it)
        return None
    model, device = ctx.model, ctx.device
    set_trainable(model, phase)
    optimizer = build_optimizer(model, phase, ctx.config, ctx.optimizer_factory)
    # MONAI's Workflow calls set_epoch on a DistributedSampler: the shuffle depends on the seed and the epoch only,
    # so a resumed run sees the same batches as an uninterrupted one
    sampler = DistributedSampler(ctx.data.train, num_replicas=world_size(), rank=rank(), shuffle=True, seed=t.seed)
    forward = PhaseForward(model, phase.input)
    if world_size() > 1:
        ids = [device.index] if device.type == "cuda" else None
        forward = torch.nn.parallel.DistributedDataParallel(forward, device_ids=ids)
    trainer = (ctx.trainer_factory or SemuNetTrainer)(
        device=device,
        max_epochs=epochs,
        train_data_loader=(
            make_loader(ctx.data.train, t.batch_size, t.num_workers, sampler, device=device)
            if ctx.loader_factory is None
            else ctx.loader_factory(ctx.data.train, sampler=sampler)
        ),
        network=forward,
        optimizer=optimizer,
        loss_function=ctx.loss_fn,
        phase=phase,
        precision=resolve_precision(t.precision, device),
        non_blocking=device.type == "cuda",  # pinned batches: the host-to-device copy does not block
    )
    evaluator = make_evaluator(
        model, ctx.val_loader, device, ctx.config, ctx.data.scheme, phase, factory=ctx.evaluator_factory
    )
    folder = phase_dir(ctx.run_dir, index, phase)

    def meta() -> dict:
        return {
            "phase": phase.name,
            "phase_index": index,
            "epoch": int(trainer.state.epoch),
            "dataset_len": len(ctx.data.train),
            "batch_size": t.batch_size,
            "method": t.method,
        }

    best = Checkpoint(
        {"network": model, "meta": StateRecord(lambda: {"epoch": int(trainer.state.epoch), "metric": _key(evaluator)})},
        ReplacingDiskSaver(folder),
        filename_pattern=BEST,
        score_function=_key,
        n_saved=1,
    )
    to_save = {
        "network": model,
        "optimizer": optimizer,
        "trainer": trainer,
        "rng": RngState(),
        "best": best,  # which score best.pt holds, so that a resumed phase only replaces it with a better one
        "meta": StateRecord(meta),
    }
    if trainer.grad_scaler is not None:
        to_save["grad_scaler"] = trainer.grad_scaler  # fp16: the loss scale it had reached
    return PhaseEngines(phase, folder, epochs, trainer, evaluator, optimizer, best, to_save)


def _key(evaluator) -> float:
    return float(evaluator.state.metrics["key"])


def resume_phase(ctx: RunContext, engines: PhaseEngines) -> bool:
    """Load the phase's ``latest.pt`` into its objects if the run resumes and one exists; returns True if the phase
    has already trained all its epochs. Refuses a checkpoint saved for other data or batch size."""
    latest = engines.folder / LATEST
    if not (ctx.resume and latest.is_file()):
        return False
    t, phase = ctx.config.train, engines.phase
    ckpt = load_checkpoint(latest)
    meta = ckpt.get("meta", {})
    if meta.get("dataset_len") != len(ctx.data.train) or meta.get("batch_size") != t.batch_size:
        raise CheckpointError(
            f"{latest}: saved for {meta.get('dataset_len')} training slices at batch {meta.get('batch_size')}, "
            f"but this run has {len(ctx.data.train)} at batch {t.batch_size}; resume with the same data and batch size."
        )
    saved_epoch = int(meta["epoch"])
    if engines.epochs < saved_epoch:
        raise CheckpointError(
            f"{latest}: saved at epoch {saved_epoch} of phase {phase.name!r}, beyond the requested {engines.epochs} "
            "epochs."
        )
    optional = {"grad_scaler", "best"}  # fp16 only; the best record is also read from best.pt below
    missing = [k for k in engines.to_save if k not in ckpt and k not in optional]
    if missing:
        raise CheckpointError(f"{latest}: not a checkpoint of this version of the phase (no {', '.join(missing)}).")
    Checkpoint.load_objects({k: v for k, v in engines.to_save.items() if k in ckpt}, ckpt)
    best_file = engines.folder / BEST
    if best_file.is_file():  # best.pt may be newer than latest.pt's record (a last validation after the last save)
        metric = load_checkpoint(best_file).get("meta", {}).get("metric")
        if metric is not None:
            engines.best.load_state_dict({"_saved": [(float(metric), BEST)]})
    engines.trainer.state.max_epochs = engines.epochs  # a resumed run may train the phase longer
    logger.info("resumed phase %s at epoch %d from %s", phase.name, saved_epoch, latest)
    return saved_epoch >= engines.epochs  # Ignite would restart a finished run from epoch 0


def attach_handlers(ctx: RunContext, engines: PhaseEngines) -> None:
    """The run's phase handlers (:mod:`.phase_handlers`: loss checks, validation, the metrics table, the best and
    latest checkpoints, TensorBoard and the progress bar; ``ctx.phase_handlers``, else the default ones), then its
    plain handlers (a bundle's ``train#handlers`` and ``validate#handlers``) on the trainer and the evaluator."""
    from .phase_handlers import attach_phase_handlers, default_phase_handlers

    attach_phase_handlers(list(ctx.phase_handlers) or default_phase_handlers(), ctx, engines)
    for handler in ctx.handlers:
        handler.attach(engines.trainer)
    for handler in ctx.val_handlers:
        handler.attach(engines.evaluator)


def run_phase(ctx: RunContext, phase: Phase, index: int) -> None:
    """Train one phase (continuing its latest checkpoint when the run resumes)."""
    engines = build_phase(ctx, phase, index)
    if engines is None:
        logger.info("phase %d (%s): 0 epochs, skipped", index, phase.name)
        return
    if resume_phase(ctx, engines):
        return
    attach_handlers(ctx, engines)
    logger.info("phase %d (%s): %d epochs, training %s", index, phase.name, engines.epochs, ", ".join(phase.trainable))
    engines.trainer.run()
