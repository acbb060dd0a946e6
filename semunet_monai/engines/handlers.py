"""Small Ignite handlers (``attach(engine)`` + ``__call__``): non-finite loss stop, per-epoch loss averages and
metric tables, TensorBoard images."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine, Events

from ..atomic import atomic_write_text
from ..keys import Keys
from ..networks.semunet import SemuNet
from .trainer import LOSS, LOSS_RECON, LOSS_SEG

__all__ = [
    "NonFiniteLossError",
    "StopOnNonFiniteLoss",
    "EpochLossAverager",
    "MetricsTable",
    "TensorBoardImages",
    "mask_statistics",
]

logger = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; training stopped without saving."""


class StopOnNonFiniteLoss:
    """Raise :class:`NonFiniteLossError` at the first non-finite loss. Ignite's TerminateOnNan ends the run
    normally (exit code 0, and a final checkpoint of NaN weights could follow); this stops it as an error."""

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        out = engine.state.output
        values = {k: out[k] for k in (LOSS, LOSS_RECON, LOSS_SEG) if k in out}
        if not all(math.isfinite(v) for v in values.values()):
            raise NonFiniteLossError(
                f"non-finite training loss at epoch {engine.state.epoch}, iteration {engine.state.iteration}: "
                f"{values}. Nothing was saved for this epoch; lower the learning rate or check the data."
            )


class EpochLossAverager:
    """Mean of the loss terms over the iterations of the current epoch, in ``engine.state.epoch_losses``."""

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self.reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def reset(self, engine: Engine) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0
        engine.state.epoch_losses = {}

    def __call__(self, engine: Engine) -> None:
        self.count += 1
        for key in (LOSS, LOSS_RECON, LOSS_SEG):
            self.sums[key] = self.sums.get(key, 0.0) + float(engine.state.output[key])
        engine.state.epoch_losses = {k: v / self.count for k, v in self.sums.items()}


def mask_statistics(model: SemuNet) -> dict[str, float]:
    """The mask's effective rate: for SampNet the mean of ``p'``, the relaxed mask's expected mean, the boolean
    rate and how far the top-n moved since initialisation; for a fixed mask its rate."""
    with torch.no_grad():
        if model.sampler is not None:
            s = model.sampler
            return {
                "mask_prob_mean": float(s.prob_mask().mean()),
                "mask_relaxed_rate": float(s.expected_relaxed_rate()),
                "mask_rate": float(s.booleanize().float().mean()),
                "mask_change": float(s.mask_change()),
            }
        return {"mask_rate": float(model.operator.mask.float().mean())}


class MetricsTable:
    """Append one row per validation to ``metrics.csv`` and ``metrics.json`` in ``run_dir``: phase, epoch, the
    epoch's mean training losses, the validation metrics, the mask statistics and the elapsed time; the same
    scalars go to TensorBoard as ``<phase>/<name>`` when a writer is given."""

    def __init__(self, run_dir: str | Path, phase: str, trainer: Engine, model: SemuNet, writer: Any = None) -> None:
        self.csv_path = Path(run_dir) / "metrics.csv"
        self.json_path = Path(run_dir) / "metrics.json"
        self.phase, self.trainer, self.model, self.writer = phase, trainer, model, writer
        self.start = time.time()

    def attach(self, evaluator: Engine) -> None:
        evaluator.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, evaluator: Engine) -> None:
        row: dict[str, Any] = {"phase": self.phase, "epoch": self.trainer.state.epoch}
        row.update({f"train_{k}": v for k, v in getattr(self.trainer.state, "epoch_losses", {}).items()})
        row.update({k: v for k, v in evaluator.state.metrics.items() if isinstance(v, (int, float))})
        row.update(mask_statistics(self.model))
        row["seconds"] = round(time.time() - self.start, 2)
        rows = json.loads(self.json_path.read_text()) if self.json_path.is_file() else []
        rows.append(row)
        save_json_atomic(rows, self.json_path)
        fields = list(dict.fromkeys(k for r in rows for k in r))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.csv_path, buffer.getvalue())
        if self.writer is not None:
            for key, value in row.items():
                if isinstance(value, float) and key not in ("seconds",):
                    self.writer.add_scalar(f"{self.phase}/{key}", value, row["epoch"])
        shown = ", ".join(f"{k}={v:.4g}" for k, v in row.items() if isinstance(v, float))
        logger.info("%s epoch %d: %s", self.phase, row["epoch"], shown)


def save_json_atomic(obj: Any, path: str | Path) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=float))


_PALETTE = (
    np.array(
        [
            [0, 0, 0],
            [230, 25, 75],
            [60, 180, 75],
            [255, 225, 25],
            [0, 130, 200],
            [245, 130, 48],
            [145, 30, 180],
            [70, 240, 240],
            [240, 50, 230],
            [210, 245, 60],
            [250, 190, 212],
        ],
        dtype=np.float32,
    )
    / 255.0
)


def overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """RGB ``(3, H, W)`` of a grey image in [0, 1] with coloured labels blended on top (background left grey)."""
    grey = np.repeat(np.clip(image, 0, 1)[None], 3, axis=0)
    colours = _PALETTE[np.asarray(labels, dtype=np.int64) % len(_PALETTE)].transpose(2, 0, 1)
    blend = np.where(labels[None] > 0, (1 - alpha) * grey + alpha * colours, grey)
    return blend.astype(np.float32)


class TensorBoardImages:
    """At each validation, write one slice's zero-filled image, reconstruction, error map, segmentation overlays
    (prediction and reference) and the current probability (or fixed) mask to TensorBoard."""

    def __init__(self, writer: Any, trainer: Engine, model: SemuNet, tag: str = "val") -> None:
        self.writer, self.trainer, self.model, self.tag = writer, trainer, model, tag
        self.sample: dict | None = None

    def attach(self, evaluator: Engine) -> None:
        evaluator.add_event_handler(Events.EPOCH_STARTED, self.reset)
        evaluator.add_event_handler(Events.ITERATION_COMPLETED, self.keep)
        evaluator.add_event_handler(Events.EPOCH_COMPLETED, self)

    def reset(self, _: Engine) -> None:
        self.sample = None

    def keep(self, evaluator: Engine) -> None:
        out = evaluator.state.output
        if self.sample is None or evaluator.state.iteration == max(1, evaluator.state.epoch_length // 2):
            i = out[Keys.IMAGE].shape[0] // 2
            self.sample = {
                k: (v[i, 0].detach().float().cpu().numpy() if torch.is_tensor(v) and v.ndim == 4 else None)
                for k, v in out.items()
                if k in (Keys.IMAGE, Keys.RECON, Keys.ZERO_FILLED, Keys.PRED, Keys.LABEL)
            }

    def __call__(self, _: Engine) -> None:
        if self.sample is None:
            return
        step = self.trainer.state.epoch
        s = self.sample
        scale = max(float(s[Keys.IMAGE].max()), 1e-6)
        for key in (Keys.ZERO_FILLED, Keys.RECON, Keys.IMAGE):
            if s.get(key) is not None:
                self.writer.add_image(f"{self.tag}/{key}", np.clip(s[key] / scale, 0, 1)[None], step)
        if s.get(Keys.RECON) is not None:
            err = np.abs(s[Keys.RECON] - s[Keys.IMAGE]) / scale
            self.writer.add_image(f"{self.tag}/error_x5", np.clip(5 * err, 0, 1)[None], step)
        if s.get(Keys.PRED) is not None:
            self.writer.add_image(f"{self.tag}/seg_pred", overlay(s[Keys.IMAGE] / scale, s[Keys.PRED]), step)
            self.writer.add_image(f"{self.tag}/seg_label", overlay(s[Keys.IMAGE] / scale, s[Keys.LABEL]), step)
        with torch.no_grad():
            mask = self.model.sampler.prob_mask() if self.model.sampler is not None else self.model.operator.mask
        self.writer.add_image(f"{self.tag}/mask", mask.detach().float().cpu().numpy()[None], step)
        self.writer.flush()
