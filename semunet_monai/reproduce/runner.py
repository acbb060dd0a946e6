"""Train and score every cell of the reproduction grid, resuming where a previous invocation stopped, then write
``results.json``, the tables and the figures.

Output folder::

    DIR/cells/<row>/<rate>/[fold<f>/]seed<k>/   one training run (see engines.workflow) + cell.json +
                                                figure_slice.npz + test_metrics.json
    DIR/results.json                  every number, settings, versions, wall time per cell
    DIR/table_recon.md  DIR/table_seg.md  DIR/fig_*.png
    DIR/locks/<cell>.lock             held while a cell trains (see .locks): several invocations share a grid
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Collection
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
import yaml

from ..config import ExperimentConfig, config_from_dict, load_config, read_yaml
from ..data.labels import get_label_scheme
from ..engines.checkpoint import load_checkpoint
from ..engines.evaluation import evaluate, load_trained_model, write_table
from ..engines.handlers import save_json_atomic
from ..engines.methods import MODULES, config_phases, get_method, phases_steps
from ..engines.phase import phase_dir
from ..engines.rundata import RunData, demo_shape, prepare_data, resolve_device
from ..engines.workflow import check_settings, train
from ..grid_rows import ROWS
from ..precision import resolve_precision
from .grid import GRID_BUDGET, Cell, make_cells, rate_tag
from .locks import LOCK_DIR, CellLock
from .scoring import SCORING_VERSION, collect_test_volumes, save_figure_slice, score_slices, score_volumes
from .tuning import seed0_choices, seed0_siblings, tuning_key, untrained_sweep_cells

__all__ = ["grid_config", "run_grid", "collect_results", "write_report", "versions"]

logger = logging.getLogger(__name__)

CELL_FILE = "cell.json"
ELAPSED_FILE = "elapsed.json"
SEED0_POLL_SECONDS = 30


def grid_config(
    preset: str,
    data_root: str | None = None,
    config_file: str | Path | None = None,
    epochs: int | None = None,
    finetune_epochs: int | None = None,
    device: str | None = None,
    precision: str | None = None,
    threads: int | None = None,
) -> ExperimentConfig:
    """The configuration every cell starts from: the preset, the grid's budget (:data:`~.grid.GRID_BUDGET`),
    the user's YAML, then the arguments (data, epochs, device, precision, threads), each over the one before."""
    config = load_config(preset)
    budget = GRID_BUDGET.get(preset)
    if budget is not None:
        config = config_from_dict({"train": dict(budget)}, config, "grid budget")
    if config_file is not None:
        config = config_from_dict(read_yaml(Path(config_file)), config, source=str(config_file))
    train = dict(epochs=epochs, finetune_epochs=finetune_epochs, device=device, precision=precision, threads=threads)
    overrides = {"train": {k: v for k, v in train.items() if v is not None}}
    if data_root is not None:
        overrides["data"] = {"root": str(data_root)}
    return config_from_dict(overrides, config, source="reproduce arguments")


def _mask_shape(base: ExperimentConfig, cells: list) -> tuple[int, int]:
    """The mask's size, which the centre-share rows' disc radius depends on: the in-plane matrix, or in
    ``sampling.geometry: kykz`` the (ky, kz) plane (known before training for the demo data only)."""
    size = base.data.spatial_size
    if base.sampling.geometry != "kykz":
        return (size, size)
    if base.data.root is None:
        volume = demo_shape(size)
        return tuple(n for i, n in enumerate(volume) if i != base.sampling.readout_axis)
    sweep = sorted({c.row for c in cells if c.spec.sweep})
    if sweep:
        raise ValueError(
            f"rows {sweep}: their centre disc is sized from the (ky, kz) plane, which sampling.geometry 'kykz' on "
            "your data knows only after loading it; leave them out (--rows) or use the demo data."
        )
    return (size, size)  # unused: no row sizes a disc


def _source_commit() -> str | None:
    """The git commit (``-dirty`` with local changes) of this package's source when it runs from a checkout, so that a
    cell record names the code that trained it; None for an installed wheel (its version says it)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12", "--exclude=*"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown (git describe failed)"
    return done.stdout.strip() or "unknown (git describe failed)"


def versions() -> dict[str, str]:
    """Package versions, source commit, Python, platform and threads: what a number in results.json was measured
    with."""
    found = {"semunet-monai commit": _source_commit() or "not a git checkout"}
    for name in ("semunet-monai", "torch", "monai", "pytorch-ignite", "numpy", "nibabel", "SimpleITK"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    found.update(
        python=sys.version.split()[0],
        platform=platform.platform(),
        cpu_count=str(os.cpu_count()),
        torch_threads=str(torch.get_num_threads()),
    )
    return found


def _saved_matches(config: ExperimentConfig, run_dir: Path) -> bool:
    """Whether the run in ``run_dir`` (if any) was trained with ``config`` (``train.threads`` and ``train.device``
    aside: they change the speed and where a cell trains, not what is trained, so a grid may go on with other
    threads, or as workers spread over several GPUs)."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        return True
    saved = config_from_dict(yaml.safe_load(path.read_text()), source=str(path)).to_dict()  # maps train.amp
    now = config.to_dict()
    for settings in (saved, now):
        settings["train"].pop("threads", None)
        settings["train"].pop("device", None)
    return saved == now


def _check_saved(cell: Cell, config: ExperimentConfig, run_dir: Path) -> None:
    """A cell folder that holds a run (finished or not) must have been trained with the settings asked for now
    (see :func:`_saved_matches`)."""
    if not _saved_matches(config, run_dir):
        raise ValueError(
            f"{run_dir}: cell '{cell.name}' was trained with other settings (compare its config.yaml); use another "
            f"--out folder for a grid with different settings. Nothing was trained."
        )


def _check_out(out: Path) -> None:
    """``out`` must be new, empty or an earlier grid's folder: the report never overwrites a user's files."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: --out must be a folder, got a file.")
    if out.is_dir() and any(out.iterdir()) and not ((out / "cells").is_dir() or (out / LOCK_DIR).is_dir()):
        raise ValueError(
            f"{out}: the folder is not empty and holds no reproduction grid (no cells/ folder); choose a new or "
            f"empty --out, or the folder of an earlier grid to resume it."
        )


def _read_record(path: Path) -> tuple[Cell, dict]:
    """One finished cell's record (``cell.json``) and its cell; one clear error if it is not a record."""
    try:
        record = json.loads(path.read_text())
        folds = int(record.get("folds", 1))
        cell = Cell(record["row"], record["rate"], int(record["seed"]), int(record.get("fold", 0)), folds)
        cell.spec  # noqa: B018  (an unknown row raises KeyError)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a cell record of this grid ({type(err).__name__}: {err}).") from None
    return cell, record


def record_paths(out: Path) -> list[Path]:
    """The finished cells' records in the grid ``out``: ``cells/<row>/<rate>/[fold<f>/]seed<k>/cell.json`` (two
    globs of known depth, not a walk through every checkpoint and TensorBoard file)."""
    cells = out / "cells"
    return sorted([*cells.glob(f"*/*/seed*/{CELL_FILE}"), *cells.glob(f"*/*/fold*/seed*/{CELL_FILE}")])


def _cells_on_disk(out: Path) -> dict[Cell, dict]:
    """The records of the finished cells already in ``out`` (an earlier invocation may have asked for other rows,
    rates or seeds)."""
    return dict(_read_record(p) for p in record_paths(out))


def _finished_elsewhere(cells: list[Cell], records: dict[Cell, dict], out: Path) -> None:
    """Add to ``records`` the cells of ``cells`` that another invocation writing to ``out`` has finished since."""
    for cell in cells:
        path = out / cell.folder / CELL_FILE
        if cell not in records and path.is_file():
            records[cell] = _read_record(path)[1]


def _left_out(
    cell: Cell, cells: list[Cell], records: dict, out: Path, skipped: dict[Cell, str], tune_every_seed: bool
) -> bool:
    """Whether the sweep's tuning protocol leaves ``cell`` out, now that more of its seed-0 shares may have finished
    (in this invocation or in another one writing to ``out``: their records are read into ``records``); a left-out
    cell is added to ``skipped``."""
    if tune_every_seed or not cell.spec.sweep or cell.seed == 0:
        return False
    siblings = seed0_siblings(cell, cells)
    _finished_elsewhere(siblings, records, out)
    left = untrained_sweep_cells([cell, *siblings], records)
    if cell not in left:
        return False
    skipped[cell] = left[cell]
    logger.info(
        "cell %s left out: seed 0 chose %s for this rate and fold on the validation subjects", cell.name, left[cell]
    )
    return True


def _plan(
    pending: list[Cell], skipped: dict[Cell, str], records: dict[Cell, dict], cells: list[Cell], tune_every_seed: bool
) -> dict:
    """Log the cells ``pending`` per row and rate, each group timed by the mean time of that row's finished cells
    (at that rate if there are some); sweep cells at later seeds whose seed-0 choice is not known yet are counted as
    the one share per rate, fold and seed that will train. Return the pending and left-out cell names."""

    def seconds(row: str, tag: str) -> tuple[float | None, int]:
        same = [r["seconds"] for c, r in records.items() if c.row == row and rate_tag(c.rate) == tag]
        done = same or [r["seconds"] for c, r in records.items() if c.row == row]
        return (sum(done) / len(done) if done else None), len(done)

    choices = seed0_choices(cells, records)
    waiting = [
        c for c in pending if c.spec.sweep and c.seed > 0 and not tune_every_seed and tuning_key(c) not in choices
    ]
    groups: dict[tuple[str, str], int] = {}
    for cell in pending:
        if cell not in waiting:
            groups[(cell.row, rate_tag(cell.rate))] = groups.get((cell.row, rate_tag(cell.rate)), 0) + 1
    total, untimed = 0.0, 0
    for (row, tag), n in groups.items():
        each, found = seconds(row, tag)
        if each is None:
            untimed += n
            logger.info("  %s %s: %d to train (no finished cell of this row to time it by)", row, tag, n)
        else:
            total += n * each
            logger.info("  %s %s: %d to train (about %.0f min each, from %d finished)", row, tag, n, each / 60, found)
    runs = {(rate_tag(c.rate), c.fold, c.seed) for c in waiting}
    if waiting:
        times = [t for c in waiting if (t := seconds(c.row, rate_tag(c.rate))[0]) is not None]
        each = sum(times) / len(times) if times else None
        total += len(runs) * each if each is not None else 0.0
        untimed += len(runs) if each is None else 0
        logger.info(
            "  centre-share sweep at later seeds: %d cells wait on seed 0's choice; %d will train (one share per "
            "rate, fold and seed)",
            len(waiting),
            len(runs),
        )
    logger.info(
        "plan: about %d cells to train, about %.1f h of cell time%s; nothing was trained or written",
        len(pending) - len(waiting) + len(runs),
        total / 3600,
        f" plus {untimed} untimed cells" if untimed else "",
    )
    return {
        "pending": [c.name for c in pending],
        "left_out": [c.name for c in skipped],
        "to_train": len(pending) - len(waiting) + len(runs),  # once seed 0 has chosen the sweep's shares
    }


def _elapsed(run_dir: Path) -> float:
    """Seconds an interrupted cell already spent in earlier invocations."""
    path = run_dir / ELAPSED_FILE
    return float(json.loads(path.read_text())["seconds"]) if path.is_file() else 0.0


def _finite_scores(scores: dict, keep_recon: bool) -> dict:
    """Scores with non-finite values as None; without PSNR/SSIM where the method does not reconstruct."""
    return {
        k: (v if isinstance(v, float) and np.isfinite(v) else None)
        for k, v in scores.items()
        if keep_recon or k not in ("psnr", "ssim")
    }


_VOLUME_KEYS = ("psnr", "ssim", "mean_dice", "mean_dice_tissue3")


def _steps_run(run_dir: Path, config: ExperimentConfig) -> dict[str, int]:
    """Optimisation steps each module received in the run, as its phases' trainers counted them (the iteration
    in each phase's ``latest.pt``), to check against the budget the method table gives."""
    steps = dict.fromkeys(MODULES, 0)
    for index, phase in enumerate(config_phases(config)):
        path = phase_dir(run_dir, index, phase) / "latest.pt"
        if path.is_file():  # a phase of 0 epochs leaves no folder
            iteration = int(load_checkpoint(path)["trainer"]["iteration"])
            for module in phase.trainable:
                steps[module] += iteration
    return steps


def _score_cell(cell: Cell, run_dir: Path, data: RunData, config: ExperimentConfig, seconds: float) -> dict:
    """Score the finished run of ``cell``: the test subjects in one pass (per volume and per slice), the final model
    on the validation subjects (for the tuned fixed mask); write test_metrics.json, cell.json and figure_slice.npz."""
    device = resolve_device(config.train.device)
    model, _ = load_trained_model(run_dir, device=device)
    precision = resolve_precision(config.train.precision, device)
    volumes = collect_test_volumes(model, data.test, device, config.train.batch_size, precision)
    has_seg = model.seg is not None
    num_classes = data.scheme.num_classes if has_seg else None
    merge = data.scheme.merge_lut("tissue3") if has_seg else None
    scores = score_volumes(volumes, num_classes, data.scheme.class_names[1:], merge)
    save_json_atomic(scores, run_dir / "test_metrics.json")
    write_table(scores, run_dir / "test_metrics.csv")
    recon = get_method(cell.spec.method).reconstructs  # the fully sampled row's image is the reference: no PSNR
    per_slice = score_slices(volumes, num_classes, recon_scores=recon)
    save_figure_slice(volumes, per_slice, run_dir / "figure_slice.npz")
    mean = scores["mean"]
    val = None
    if data.split["val"]:
        val = _finite_scores(evaluate(model, data.val, config, data.scheme, device)["mean"], recon)
        val = {k: v for k, v in val.items() if k in _VOLUME_KEYS}
    steps_per_epoch = math.ceil(len(data.train) / config.train.batch_size)
    # the budget of the phases this run trains (a train.schedule in --config may differ from the method's own)
    steps = phases_steps(config_phases(config), config.train.epochs, config.train.finetune_epochs, steps_per_epoch)
    steps_run = _steps_run(run_dir, config)
    if steps_run != steps:
        logger.warning("cell %s: its modules trained %s steps, not the budget's %s", cell.name, steps_run, steps)
    mask_path = run_dir / "mask" / "mask.npy"
    record = {
        "row": cell.row,
        "rate": cell.rate,
        "seed": cell.seed,
        "fold": cell.fold,
        "folds": cell.folds,
        "run_seed": cell.run_seed,
        "method": cell.spec.method,
        "mask_kind": cell.spec.mask_kind,
        "acs": config.sampling.acs,
        "centre": cell.spec.centre,
        "folder": cell.folder,
        "test_subjects": sorted(volumes),
        "mean": _finite_scores(mean, recon),
        "per_volume": {
            s: {k: v for k, v in _finite_scores(row, recon).items() if k in _VOLUME_KEYS}
            for s, row in scores["per_subject"].items()
        },
        "val": val,
        "per_slice": per_slice,
        "mask_rate": float(np.load(mask_path).mean()) if mask_path.is_file() else None,
        "seconds": round(seconds, 1),
        "scoring": SCORING_VERSION,
        "versions": versions(),  # per cell: a grid resumed over weeks may mix code versions
        "epochs": {"epochs": config.train.epochs, "finetune_epochs": config.train.finetune_epochs},
        "steps": steps,
        "steps_run": steps_run,
    }
    save_json_atomic(record, run_dir / CELL_FILE)
    return record


def collect_results(cells: list[Cell], records: dict[Cell, dict], settings: dict, class_names: list[str]) -> dict:
    """results.json's content: the records of the finished ``cells`` (unfinished ones are listed as missing)."""
    done = [records[c] for c in cells if c in records]
    subjects = sorted({s for r in done for s in r["per_slice"]["subject"]})
    return {
        "settings": {**settings, "test_subjects": subjects},
        "versions": versions(),
        "class_names": class_names,
        "cells": done,
        "cells_missing": [c.name for c in cells if c not in records],
        "wall_seconds": round(sum(r["seconds"] for r in done), 1),  # the cells' training + scoring, summed
        "metrics_convention": (
            "per volume, mean over test subjects; PSNR/SSIM data_range = reference volume max, SSIM 2-D per slice "
            "averaged; Dice per class excludes background; tissue3 merges the training classes into the MRBrainS13 "
            "challenge's CSF, GM and WM; per-slice scores use the same volume data_range"
        ),
    }


def _lock(out: Path, cell: Cell) -> CellLock:
    """The lock of ``cell`` in the grid ``out``: ``locks/<row>_<rate>[_fold<f>]_seed<k>.lock``."""
    return CellLock(out, cell.folder.removeprefix("cells/"))


def _orphaned(out: Path, cell: Cell, records: dict) -> bool:
    """A cell left to another invocation that is unfinished and no longer locked (its holder stopped)."""
    return (
        cell not in records and not (out / cell.folder / CELL_FILE).is_file() and not _lock(out, cell).held_elsewhere()
    )


def _waits_for_seed0(
    cell: Cell, cells: list[Cell], records: dict, out: Path, tune_every_seed: bool, busy: Collection[Cell] = ()
) -> bool:
    """Whether ``cell`` is a later-seed sweep cell whose seed-0 shares are still unfinished in another invocation:
    its share is chosen when they finish, so it waits rather than train a share that may be left out. A share is
    waited for while another invocation holds it, and also once its holder stopped (it is in ``busy``: the shares
    left to another invocation), because this invocation then trains that share first."""
    if tune_every_seed or not cell.spec.sweep or cell.seed == 0:
        return False
    return any(s not in records and (s in busy or _lock(out, s).held_elsewhere()) for s in seed0_siblings(cell, cells))


def run_grid(
    out: str | Path,
    rates: list[float],
    seeds: int = 1,
    preset: str = "cpu",
    data_root: str | None = None,
    rows: list[str] | None = None,
    config_file: str | Path | None = None,
    epochs: int | None = None,
    finetune_epochs: int | None = None,
    device: str | None = None,
    precision: str | None = None,
    progress: bool = True,
    report: bool = True,
    folds: int = 1,
    tune_every_seed: bool = False,
    plan_only: bool = False,
    threads: int | None = None,
) -> dict:
    """Train, score and report every cell of the grid into ``out``; finished cells are skipped.

    Args:
        out: output folder (created; an earlier grid's folder is resumed).
        rates: sampling rates, e.g. ``[0.05, 0.1, 0.2]``.
        seeds: seeds per cell (0 .. seeds-1); tables show mean +- std over them.
        preset: ``tiny``, ``cpu`` or ``paper``.
        data_root: dataset folder or datalist; None uses the embedded demo dataset.
        rows: row keys of :data:`~semunet_monai.grid_rows.ROWS` to train (default all).
        config_file: the user's YAML on top of the preset.
        epochs, finetune_epochs: the per-cell budget (default :data:`~.grid.GRID_BUDGET`, else the preset's).
        device: training device (default the preset's).
        precision: ``train.precision`` of every cell (default the preset's).
        progress: show an overall progress bar.
        report: write the tables and figures at the end.
        folds: k-fold cross-validation over subjects (each fold's subjects are the test set of its cells; 1 uses
            the preset's single split).
        tune_every_seed: train the centre-share sweep at every seed; by default the share is tuned at seed 0 and
            the other seeds train only the share seed 0 chose for their rate and fold (see :mod:`.tuning`).
        plan_only: log the cells still to train, per row and rate with the time finished cells of that row took,
            and return ``{"pending": [...], "left_out": [...]}`` (cell names) and ``to_train`` (how many of the pending
        cells will train once seed 0 has chosen the sweep's shares) without training or writing anything.
        threads: ``train.threads`` of every cell (default the config's); it changes the speed, not the results.

    Several invocations may work on one ``out`` at once (:mod:`.workers` starts them): each cell is locked while it
    trains (:mod:`.locks`), a cell locked by another invocation is left to it, and a later seed's sweep cell waits
    for the seed-0 shares another invocation is training.

    Returns:
        the content of ``results.json``.
    """
    out = Path(out)
    requested = make_cells(list(rates), int(seeds), rows, int(folds))
    base = grid_config(preset, data_root, config_file, epochs, finetune_epochs, device, precision, threads)
    _check_out(out)
    records = _cells_on_disk(out)
    on_disk = sorted({c.folds for c in records})
    if len(on_disk) > 1:
        raise ValueError(
            f"{out}: the grid there mixes splits of the subjects (--folds {on_disk}), which cannot be pooled; keep "
            "the cells of one split in this folder, or choose a new --out."
        )
    if on_disk and on_disk != [int(folds)]:
        raise ValueError(
            f"{out}: the grid there splits the subjects with --folds {on_disk[0]}, not {folds}; pooling runs of two "
            f"splits would test a subject once per split. Resume it with --folds {on_disk[0]}, or choose a new --out."
        )
    cells = list(dict.fromkeys(requested + list(records)))  # the report covers the whole folder
    size = base.data.spatial_size
    shape = _mask_shape(base, cells)

    def config_of(cell: Cell) -> ExperimentConfig:
        return config_from_dict(cell.overrides(shape), base, source=f"cell {cell.name}")

    configs = [config_of(c) for c in cells]
    for cell, config in zip(cells, configs):
        check_settings(config)  # every cell's settings are valid, and match its saved run, before any training
        _check_saved(cell, config, out / cell.folder)

    def settings_of(group: list[Cell]) -> dict:
        return {
            "rates": sorted({c.rate for c in group if c.rate is not None}, reverse=True),
            "seeds": sorted({c.seed for c in group}),
            "folds": max(c.folds for c in group),
            "preset": preset,
            "rows": [r for r in ROWS if any(c.row == r for c in group)],
            "data": str(data_root) if data_root is not None else "demo",
            "epochs": base.train.epochs,
            "finetune_epochs": base.train.finetune_epochs,
            "spatial_size": size,
            "config_file": str(config_file) if config_file else None,
            "sweep_tuning": "every seed" if tune_every_seed else "seed 0",
        }

    class_names = get_label_scheme(base.data.label_scheme).class_names[1:]
    skipped = {} if tune_every_seed else untrained_sweep_cells(cells, records)
    pending = [c for c in cells if c not in records and c not in skipped]
    stale = [c for c, r in records.items() if r.get("scoring") != SCORING_VERSION]
    logger.info(
        "grid in %s: %d cells, %d finished, %d to train, %d to score again%s",
        out,
        len(cells) - len(skipped),
        len(records),
        len(pending),
        len(stale),
        "; the centre-share sweep trains every share at every seed (--tune-every-seed)"
        if tune_every_seed
        else f"; {len(skipped)} sweep cells left out (the centre share is tuned at seed 0)",
    )
    if plan_only:
        return _plan(pending, skipped, records, cells, tune_every_seed)
    out.mkdir(parents=True, exist_ok=True)
    datasets: dict[tuple[int, int], RunData] = {}  # per split: (folds, fold)
    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    joined: list[Cell] = []  # cells that other invocations on this folder asked for and finished meanwhile
    rejected: set[Path] = set()  # records of such cells trained with other settings than this grid's

    def join_finished_elsewhere() -> None:
        known = {out / c.folder / CELL_FILE for c in records} | rejected
        for path in [p for p in record_paths(out) if p not in known]:
            cell, record = _read_record(path)
            if not _saved_matches(config_of(cell), path.parent):
                rejected.add(path)
                logger.warning(
                    "%s: cell '%s' (finished by another invocation) was trained with other settings than this grid's; "
                    "it is left out of this invocation's results.json",
                    path.parent,
                    cell.name,
                )
                continue
            records[cell] = record
            joined.append(cell)

    def results_now() -> dict:  # results.json: the cells the protocol trains, and the ones it left out
        _finished_elsewhere(cells, records, out)  # and those other invocations on this folder have finished
        join_finished_elsewhere()  # even the cells this invocation did not ask for: the report covers the folder
        for c in [c for c, r in records.items() if r.get("scoring") != SCORING_VERSION]:
            records[c] = _read_record(out / c.folder / CELL_FILE)[1]  # re-scored meanwhile by another invocation?
        kept = [c for c in cells if c not in skipped] + joined
        results = collect_results(kept, records, settings_of(cells + joined), class_names)
        return {**results, "cells_left_out": [c.name for c in skipped]}

    bar = tqdm(total=len(cells) - len(skipped), initial=len(records), desc="grid", unit="cell", disable=not progress)

    def leave_out(cell: Cell) -> bool:  # the sweep's protocol leaves it out, now that seed 0 may have chosen
        if not _left_out(cell, cells, records, out, skipped, tune_every_seed):
            return False
        pending.remove(cell)
        bar.total -= 1
        bar.refresh()
        return True

    def data_for(cell: Cell, config: ExperimentConfig) -> RunData:  # one dataset per split, read once
        split = (cell.folds, cell.fold)
        if split not in datasets:
            datasets[split] = prepare_data(config)
            if datasets[split].test is None:
                raise ValueError("the grid needs test subjects (data.n_test >= 1 or a datalist 'test' section).")
        return datasets[split]

    start, to_train = time.time(), list(pending)  # pending loses the cells others finish once this one reaches them
    busy: list[Cell] = []  # cells another invocation is training
    queue = [(c, config) for c, config in zip(cells, configs) if c in pending or c in stale]
    with contextlib.ExitStack() as stack:
        if progress:
            stack.enter_context(logging_redirect_tqdm())  # log lines above the bar, not through it
        stack.callback(bar.close)
        while queue:
            waiting = []
            for cell, config in queue:
                run_dir = out / cell.folder
                if cell in pending and leave_out(cell):
                    continue
                if cell in pending and _waits_for_seed0(cell, cells, records, out, tune_every_seed, busy):
                    waiting.append((cell, config))
                    continue
                lock = _lock(out, cell)
                if not lock.acquire():
                    logger.info("cell %s is being trained by %s: left to it", cell.name, lock.holder())
                    busy.append(cell)
                    continue
                try:
                    # under the lock, the folder's state is final for this cell: a cell.json is written before its
                    # lock goes, so what another invocation finished (this cell, its seed-0 shares) is on disk now
                    if cell in pending:
                        _finished_elsewhere([cell], records, out)
                        if cell in records:  # another invocation on the same folder finished it meanwhile
                            logger.info("cell %s was finished by another invocation; its record is kept", cell.name)
                            pending.remove(cell)
                            bar.update(1)
                            continue
                        if leave_out(cell):
                            continue
                    if cell in stale:  # trained, but scored by an older version of the per-slice scores
                        records[cell] = _read_record(out / cell.folder / CELL_FILE)[1]
                        if records[cell].get("scoring") != SCORING_VERSION:  # not re-scored by another invocation
                            data = data_for(cell, config)
                            records[cell] = _score_cell(cell, run_dir, data, config, records[cell]["seconds"])
                        continue
                    data = data_for(cell, config)
                    bar.set_postfix_str(cell.name)
                    t0, before = time.time(), _elapsed(run_dir)
                    try:
                        resume = run_dir.is_dir() and any(run_dir.iterdir())
                        train(config, run_dir, resume=resume, progress=False, test=False)
                        records[cell] = _score_cell(cell, run_dir, data, config, before + time.time() - t0)
                    except BaseException:
                        if run_dir.is_dir():  # an interrupted cell keeps the time it has spent
                            save_json_atomic({"seconds": before + time.time() - t0}, run_dir / ELAPSED_FILE)
                        raise
                finally:
                    lock.release()
                bar.update(1)
                save_json_atomic(results_now(), out / "results.json")  # reads the cells others finished, too
                # the pace counts the cells the other workers and invocations finished since this one started, so
                # that with --workers N each worker's estimate is the grid's, not N times it
                left = sum(1 for c in pending if c not in records)
                finished = sum(1 for c in to_train if c in records)
                logger.info(
                    "cell %s done in %.0f s; %d of %d cells left, about %.0f min at the grid's pace",
                    cell.name,
                    time.time() - t0,
                    left,
                    len(cells) - len(skipped),
                    left * (time.time() - start) / finished / 60,
                )
            # cells left to a holder that has gone (crashed) without finishing them: taken back, before the cells
            # that wait for them
            orphans = {c for c in busy if _orphaned(out, c, records)}
            busy = [c for c in busy if c not in orphans]
            retake = [(c, config) for c, config in zip(cells, configs) if c in orphans]
            if waiting and not retake and len(waiting) == len(queue):  # only waiting cells: wait for the others
                logger.info(
                    "%d sweep cell(s) wait for seed 0's choice of centre share, which another invocation is "
                    "training; checking again in %d s",
                    len(waiting),
                    SEED0_POLL_SECONDS,
                )
                time.sleep(SEED0_POLL_SECONDS)
            queue = retake + waiting
    results = results_now()  # reads what other invocations finished meanwhile
    busy = [c for c in busy if c not in records]
    if busy:
        logger.info(
            "%d cell(s) were being trained by other invocations on %s; their results join results.json when those "
            "finish (or when this grid runs again)",
            len(busy),
            out,
        )
    results["invocation_seconds"] = round(time.time() - start, 1)
    save_json_atomic(results, out / "results.json")
    if report:
        write_report(results, out)
    return results


def write_report(results: dict, out: Path) -> list[Path]:
    """Tables and figures from ``results`` into ``out``."""
    from .figures import write_figures
    from .tables import write_tables

    paths = write_tables(results, out) + write_figures(results, out)
    logger.info("wrote %s", ", ".join(p.name for p in paths))
    return paths
