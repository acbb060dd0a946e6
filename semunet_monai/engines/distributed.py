"""Distribution helpers: rank, world size and barrier from ``ignite.distributed``, plus two it lacks: a rank-0 step
whose errors reach every rank (``idist.one_rank_first`` leaves the other ranks waiting at its barrier when rank 0
raises), and a check that all replicas hold the same weights."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar

import ignite.distributed as idist
import torch
import torch.distributed as dist

__all__ = ["rank", "world_size", "is_main", "barrier", "main_first", "replicas_agree"]

T = TypeVar("T")


def _active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return idist.get_rank()


def world_size() -> int:
    return idist.get_world_size()


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if world_size() > 1:
        idist.barrier()


def main_first(step: Callable[[], T]) -> T | None:
    """Run ``step`` on rank 0 only; a ``ValueError`` it raises is raised on every rank. Returns its result on
    rank 0 and None elsewhere."""
    result, message = None, None
    if is_main():
        try:
            result = step()
        except ValueError as err:
            message = str(err)
            if not _active():
                raise
    if _active():
        box = [message]  # None or a str: idist.broadcast has no None
        dist.broadcast_object_list(box, src=0)
        message = box[0]
    if message is not None:
        raise ValueError(message)
    return result


def replicas_agree(module: torch.nn.Module) -> bool:
    """True if every rank holds bit-identical parameters and buffers (always True without distribution)."""
    if not _active():
        return True
    digest = hashlib.sha256()
    for tensor in module.state_dict().values():
        if torch.is_tensor(tensor):
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    mine = digest.hexdigest()
    everyone: list[str | None] = [None] * world_size()
    dist.all_gather_object(everyone, mine)
    return all(d == mine for d in everyone)
