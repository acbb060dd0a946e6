"""The handlers every training phase gets, as objects a config can list (train.json's ``train#handlers``).

Each is bound to a phase by ``attach_phase(ctx, engines)``: unlike a plain Ignite handler it needs the phase's
state (its checkpoint folder, best-score record, metric rows and TensorBoard tags), which exists only once the phase
is built. A run attaches them in a fixed order (``order``), whatever the order of the list, because their events
depend on each other: the epoch loss is averaged before validation writes it to the metrics table, and the latest
checkpoint is written after validation has updated the best one. :data:`DEFAULT` is what ``semunet-monai train``
and train.json use; :data:`REQUIRED` are refused if missing (resume reads the latest checkpoint, and a run must stop
on a non-finite loss).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

from ignite.engine import Events
from ignite.handlers import Checkpoint
from monai.handlers import TensorBoardStatsHandler, ValidationHandler

from .checkpoint import ReplacingDiskSaver, all_finite
from .distributed import is_main
from .handlers import EpochLossAverager, MetricsTable, NonFiniteLossError, StopOnNonFiniteLoss, TensorBoardImages
from .phase import LATEST, _key
from .trainer import LOSS

__all__ = [
    "PhaseHandler",
    "LossChecks",
    "Validation",
    "Metrics",
    "BestCheckpoint",
    "LatestCheckpoint",
    "TensorBoard",
    "Progress",
    "DEFAULT",
    "REQUIRED",
    "default_phase_handlers",
    "check_phase_handlers",
]


class PhaseHandler(ABC):
    """A handler bound to each phase: ``attach_phase(ctx, engines)`` (a :class:`~.phase.RunContext` and the
    phase's :class:`~.phase.PhaseEngines`); ``order`` fixes when it is attached; ``main_only``: on rank 0 only."""

    order = 0
    main_only = True

    @abstractmethod
    def attach_phase(self, ctx: Any, engines: Any) -> None:
        """Attach this handler's parts to the phase's trainer and evaluator."""


class LossChecks(PhaseHandler):
    """Stop on a non-finite loss, and average the loss terms over each epoch (every rank)."""

    order, main_only = 0, False

    def attach_phase(self, ctx: Any, engines: Any) -> None:
        StopOnNonFiniteLoss().attach(engines.trainer)
        EpochLossAverager().attach(engines.trainer)


class Validation(PhaseHandler):
    """Validate every ``interval`` epochs (default ``train.val_every``) and after the last epoch."""

    order = 10

    def __init__(self, interval: int | None = None) -> None:
        if interval is not None and (isinstance(interval, bool) or not isinstance(interval, int) or interval < 1):
            raise ValueError(f"argument 'interval' must be a positive integer or None, got {interval!r}.")
        self.interval = interval

    def attach_phase(self, ctx: Any, engines: Any) -> None:
        every = max(1, self.interval or ctx.config.train.val_every)
        ValidationHandler(interval=every, validator=engines.evaluator, epoch_level=True).attach(engines.trainer)

        def validate_last(engine) -> None:
            if engine.state.epoch % every:
                engines.evaluator.run(engine.state.epoch)

        engines.trainer.add_event_handler(Events.COMPLETED, validate_last)


class Metrics(PhaseHandler):
    """One row per validation in ``metrics.csv``/``metrics.json`` (and the TensorBoard scalars)."""

    order = 20

    def attach_phase(self, ctx: Any, engines: Any) -> None:
        MetricsTable(ctx.run_dir, engines.phase.name, engines.trainer, ctx.model, ctx.writer).attach(engines.evaluator)


class BestCheckpoint(PhaseHandler):
    """``best.pt`` at the best validation score (with validation subjects, finite scores and finite weights): the
    phase ends on it (the one model-selection rule)."""

    order = 30

    def attach_phase(self, ctx: Any, engines: Any) -> None:
        def keep_best(engine, _event) -> bool:
            return bool(ctx.data.split["val"]) and math.isfinite(_key(engine)) and all_finite(ctx.model)

        engines.evaluator.add_event_handler(Events.EPOCH_COMPLETED(event_filter=keep_best), engines.best)


class LatestCheckpoint(PhaseHandler):
    """``latest.pt`` every epoch, written atomically with the previous one kept (``keep_previous``); refuses
    non-finite weights before writing."""

    order = 40

    def __init__(self, keep_previous: bool = True) -> None:
        self.keep_previous = bool(keep_previous)

    def attach_phase(self, ctx: Any, engines: Any) -> None:
        def refuse_non_finite(engine) -> None:
            if not all_finite(ctx.model):
                raise NonFiniteLossError(
                    f"non-finite weights at epoch {engine.state.epoch}: {engines.folder / LATEST} was not written."
                )

        engines.trainer.add_event_handler(Events.EPOCH_COMPLETED, refuse_non_finite)
        saver = ReplacingDiskSaver(engines.folder, keep_previous=self.keep_previous)
        engines.trainer.add_event_handler(
            Events.EPOCH_COMPLETED, Checkpoint(engines.to_save, saver, filename_pattern=LATEST)
        )


class TensorBoard(PhaseHandler):
    """The training loss per iteration and, with ``images``, validation images (mask, reconstruction,
    segmentation) in ``tb/``."""

    order = 50

    def __init__(self, images: bool = True) -> None:
        self.images = bool(images)

    def attach_phase(self, ctx: Any, engines: Any) -> None:
        TensorBoardStatsHandler(
            ctx.writer,
            tag_name=f"{engines.phase.name}/loss",
            output_transform=lambda o: o[LOSS],
            iteration_log=True,
            epoch_log=False,
        ).attach(engines.trainer)
        if self.images:
            TensorBoardImages(ctx.writer, engines.trainer, ctx.model, tag=f"{engines.phase.name}/val").attach(
                engines.evaluator
            )


class Progress(PhaseHandler):
    """A progress bar with the loss (when the run shows progress)."""

    order = 60

    def attach_phase(self, ctx: Any, engines: Any) -> None:
        if ctx.progress:
            from ignite.handlers import ProgressBar

            ProgressBar(desc=engines.phase.name).attach(engines.trainer, output_transform=lambda o: {"loss": o[LOSS]})


DEFAULT = (LossChecks, Validation, Metrics, BestCheckpoint, LatestCheckpoint, TensorBoard, Progress)
REQUIRED = (LossChecks, LatestCheckpoint)


def default_phase_handlers() -> list[PhaseHandler]:
    """One of each of :data:`DEFAULT`, with their defaults."""
    return [cls() for cls in DEFAULT]


def check_phase_handlers(handlers: list[PhaseHandler], node_id: str = "train#handlers") -> list[PhaseHandler]:
    """``handlers`` in attach order; refuses a list without the :data:`REQUIRED` ones or with one kind twice."""
    kinds = [type(h) for h in handlers]
    missing = [cls.__name__ for cls in REQUIRED if cls not in kinds]
    if missing:
        raise ValueError(
            f"{node_id}: the run needs semunet_monai.engines.phase_handlers.{', '.join(missing)} (resume reads the "
            "latest checkpoint; a non-finite loss must stop the run); add it back to the list."
        )
    twice = sorted({k.__name__ for k in kinds if kinds.count(k) > 1})
    if twice:
        raise ValueError(f"{node_id}: {', '.join(twice)} is listed more than once.")
    return sorted(handlers, key=lambda h: h.order)


def attach_phase_handlers(handlers: list[PhaseHandler], ctx: Any, engines: Any) -> None:
    """Bind each handler to this phase (rank 0 only for those that write)."""
    for handler in handlers:
        if is_main() or not handler.main_only:
            handler.attach_phase(ctx, engines)
