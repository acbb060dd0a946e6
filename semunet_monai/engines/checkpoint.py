"""Atomic checkpoints that hold only tensors and plain Python values, and safe loading with precise errors.

MONAI's CheckpointSaver writes non-atomically and deletes the previous final file before writing the new one.
Training saves through Ignite's ``Checkpoint`` with :class:`ReplacingDiskSaver`, which writes a temporary file and
``os.replace``-s it, keeping the previous one as ``*.prev.pt``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ignite.handlers import DiskSaver

from ..atomic import atomic_write

__all__ = [
    "CheckpointError",
    "ReplacingDiskSaver",
    "StateRecord",
    "RngState",
    "save_atomic",
    "load_checkpoint",
    "rng_state",
    "set_rng_state",
    "all_finite",
]


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or does not fit the run."""


def save_atomic(obj: dict[str, Any], path: str | Path, keep_previous: bool = False) -> Path:
    """``torch.save`` to a temporary file in the same folder, then ``os.replace`` onto ``path``.

    With ``keep_previous`` an existing ``path`` becomes ``<stem>.prev.pt`` just before the replacement.
    """
    return atomic_write(path, lambda tmp: torch.save(obj, tmp), backup=previous_path(path) if keep_previous else None)


class ReplacingDiskSaver(DiskSaver):
    """Ignite's ``DiskSaver`` for a checkpoint that keeps one file name (``latest.pt``, ``best.pt``).

    What Ignite lacks: its ``Checkpoint`` removes the old file before it writes the new one under the same name, so
    an interruption in between leaves no checkpoint, and ``DiskSaver(atomic=True)`` gives its files mode 0600 plus
    read bits. Here ``remove`` leaves the file in place, the new file replaces it with ``os.replace`` (the old one
    kept as ``<stem>.prev.pt`` with ``keep_previous``), and files get the mode a plain ``open`` would give.
    """

    def __init__(self, dirname: str | Path, keep_previous: bool = False) -> None:
        super().__init__(dirname, atomic=True, create_dir=True, require_empty=False)
        self.keep_previous = keep_previous

    def _save_func(self, checkpoint, path: Path, func) -> None:
        atomic_write(
            path, lambda tmp: func(checkpoint, tmp), backup=previous_path(path) if self.keep_previous else None
        )

    def remove(self, filename: str) -> None:
        pass  # the next save replaces it


class StateRecord:
    """Plain values saved in a checkpoint beside the networks (Ignite's ``Checkpoint`` saves objects that have
    ``state_dict``): ``get()`` gives them at save time; loading them is done by the caller, which checks them first."""

    def __init__(self, get) -> None:
        self.get = get

    def state_dict(self) -> dict[str, Any]:
        return self.get()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class RngState:
    """The Python, numpy and torch RNG states as a ``Checkpoint`` object (see :func:`rng_state`)."""

    def state_dict(self) -> dict[str, Any]:
        return rng_state()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        set_rng_state(state)


def previous_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` with an error that names the file and any earlier checkpoint beside it."""
    path = Path(path)
    prev = previous_path(path)
    hint = f" An earlier checkpoint exists: {prev}." if prev.is_file() else ""
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found.{hint}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, pickle errors, EOFError... for damaged files
        raise CheckpointError(
            f"{path}: the checkpoint is truncated or corrupt ({type(err).__name__}: {str(err)[:200]}).{hint}"
        ) from err
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a checkpoint dictionary, got {type(obj).__name__}.{hint}")
    return obj


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch RNG states as tensors and plain values (``weights_only`` loadable)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": int(py_state[0]), "state": list(py_state[1]), "gauss": py_state[2]},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


def all_finite(module: torch.nn.Module) -> bool:
    """True if every parameter and floating buffer of ``module`` is finite."""
    tensors = [*module.parameters(), *(b for b in module.buffers() if torch.is_floating_point(b))]
    return all(bool(torch.isfinite(t).all()) for t in tensors)
