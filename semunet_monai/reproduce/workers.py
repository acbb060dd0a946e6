"""Run the grid as several worker processes on one folder (``reproduce --workers N``).

Each worker is an ordinary :func:`~.runner.run_grid` invocation on the same ``out`` and cells; the cell locks
(:mod:`.locks`) make them share the cells out, one worker per cell. The CPU cores are split between the workers
(``train.threads`` = cores // N unless the config sets it), and with several GPUs worker ``i`` trains on
``cuda:(i mod count)``. Once every worker has stopped, one last invocation in this process finds every cell
finished and writes ``results.json``, the tables and the figures.

Workers are started with the ``spawn`` method (a fork of a process that has started PyTorch's threads or CUDA is
unsafe).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import torch

from ..engines.handlers import NonFiniteLossError
from ..engines.rundata import ensure_demo_dataset, resolve_device
from .runner import grid_config, record_paths, run_grid

__all__ = ["run_workers", "worker_settings"]

logger = logging.getLogger(__name__)

_POLL_SECONDS = 5.0


def _check_workers(workers: int) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"argument 'workers' must be an integer >= 1, got {workers!r}.")


def worker_settings(workers: int, threads: int | None, cpus: int, gpus: int = 0) -> list[dict[str, Any]]:
    """Per worker: ``threads`` (the config's, else ``cpus // workers``, at least 1) and, when the grid trains on
    CUDA without naming a GPU and there are ``gpus`` > 1, ``device`` ``cuda:(i mod gpus)``.

    Raises:
        ValueError: ``workers`` is not an integer >= 1.
    """
    _check_workers(workers)
    each = threads if threads else max(1, cpus // workers)
    return [{"threads": each, **({"device": f"cuda:{i % gpus}"} if gpus > 1 else {})} for i in range(workers)]


def _worker(index: int, kwargs: dict[str, Any]) -> None:
    """One worker process: run_grid with the CLI's log format, tagged with the worker's number; its exit code says
    how it ended (0 done, 1 bad settings or data, 2 a bug, 3 a non-finite loss, 130 interrupted)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # ignored while the worker imported (see run_workers)
    logging.basicConfig(level=logging.INFO, format=f"%(levelname)s [worker {index}] %(name)s: %(message)s")
    try:
        run_grid(**kwargs)
    except KeyboardInterrupt:
        logging.getLogger(__name__).info("worker %d interrupted", index)
        raise SystemExit(130) from None
    except NonFiniteLossError as err:
        logging.getLogger(__name__).error("%s", err)
        raise SystemExit(3) from None
    except ValueError as err:
        logging.getLogger(__name__).error("%s", err)
        raise SystemExit(1) from None
    except BaseException:
        logging.getLogger(__name__).exception("worker %d stopped on an error", index)
        raise SystemExit(2) from None


def _finished(out: Path) -> int:
    return len(record_paths(out))


def run_workers(workers: int, out: str | Path, rates: list[float], progress: bool = True, **kwargs: Any) -> dict:
    """Train the grid with ``workers`` processes, then write the report as :func:`~.runner.run_grid` does.

    Args:
        workers: number of worker processes (1 runs :func:`~.runner.run_grid` here).
        out, rates, progress: as for :func:`~.runner.run_grid`.
        kwargs: the other arguments of :func:`~.runner.run_grid` (``plan_only`` plans here, without workers).

    Returns:
        the content of ``results.json``.

    Raises:
        ValueError: bad settings (checked here, before any worker starts), or a worker that stopped on an error
            (its log says why; the cells finished so far are kept, and the same command resumes).
    """
    _check_workers(workers)
    if kwargs.get("plan_only") or workers == 1:
        return run_grid(out, rates, progress=progress, **kwargs)
    report = kwargs.pop("report", True)
    # every setting and saved cell is checked once here: a bad one stops the command before any worker starts
    plan = run_grid(out, rates, **{**kwargs, "plan_only": True})
    base = grid_config(
        kwargs.get("preset", "cpu"),
        kwargs.get("data_root"),
        kwargs.get("config_file"),
        device=kwargs.get("device"),
        threads=kwargs.get("threads"),
    )
    if base.data.root is None:
        ensure_demo_dataset(base)  # once, here: workers generating the same cache at once would race
    device = resolve_device(base.train.device)
    spread = device.type == "cuda" and device.index is None and ":" not in str(base.train.device)
    gpus = torch.cuda.device_count() if spread else 0
    settings = worker_settings(workers, base.train.threads, os.cpu_count() or 1, gpus)
    logger.info(
        "%d workers on %s: about %d cell(s) to train; each on %s with %d thread(s)",
        workers,
        out,
        plan["to_train"],
        f"one of {gpus} GPUs" if gpus > 1 else device,
        settings[0]["threads"],
    )
    ctx = multiprocessing.get_context("spawn")
    procs = []
    for i, s in enumerate(settings):
        args = {**kwargs, "out": out, "rates": rates, "report": False, "progress": False, **s}
        procs.append(ctx.Process(target=_worker, args=(i, args), name=f"grid-worker-{i}"))
    out = Path(out)
    start = _finished(out)
    from tqdm.auto import tqdm

    bar = tqdm(total=plan["to_train"], desc="grid", unit="cell", disable=not progress)
    try:
        # the workers start with Ctrl-C ignored (inherited through exec), so that an interrupt while they import
        # does not print a traceback per worker; each restores it before its first cell
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for p in procs:
                p.start()
        finally:
            signal.signal(signal.SIGINT, previous)
        while any(p.is_alive() for p in procs):
            time.sleep(_POLL_SECONDS)
            bar.update(_finished(out) - start - bar.n)
    except BaseException:
        # Ctrl-C in a terminal reaches the workers too; a SIGINT sent to this process alone (or an error here) is
        # passed on. Each worker saves its cell's elapsed time, and its lock goes with it.
        for p in procs:
            p.join(10)
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGINT)
        for p in procs:
            p.join(60)
            if p.is_alive():
                p.terminate()
        raise
    finally:
        bar.close()
    failed = [(i, p.exitcode) for i, p in enumerate(procs) if p.exitcode != 0]
    if failed:
        raise ValueError(
            f"grid worker(s) {', '.join(f'{i} (exit code {c})' for i, c in failed)} stopped before the end; their "
            f"log above says why. The cells finished so far are kept in {out}: run the same command to resume."
        )
    return run_grid(out, rates, progress=False, report=report, **kwargs)
