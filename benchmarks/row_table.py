"""A table of training runs, one per row and seed, that can be stopped and started again: what benchmarks/physics.py
and benchmarks/kykz.py share.

Each run is a ``semunet-monai train`` run folder under ``--out``; a run recorded in ``--out/results.json`` is skipped
and an interrupted one resumes, so the script can be stopped and started again (commit ``results.json`` and
``table.md`` to carry finished runs to another machine). Two workers on separate ``--out`` folders (``--rows`` /
``--only-seeds`` disjoint) share a machine's cores; ``--merge DIR...`` adds their ``results.json`` files to
``--out``'s. ``table.md`` holds the mean +- std over seeds of PSNR, SSIM, mean Dice and tissue3 Dice on the test
subjects, the training time per run and per optimisation step, and any columns the script adds.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

METRICS = ("psnr", "ssim", "mean_dice", "mean_dice_tissue3")


@dataclass
class Table:
    """What a benchmark script defines: its rows (name -> "first column | label"), how a row and seed become a
    config, the table's caption, and optional extra values per finished run (``extra(row, run_dir, config)``)
    shown in ``extra_columns`` (name -> header)."""

    rows: dict[str, str]
    config_for: Callable  # (row, seed, threads, budget) -> ExperimentConfig
    caption: Callable[[dict], str]  # budget -> caption
    first_column: str
    extra: Callable | None = None
    extra_columns: dict[str, str] = field(default_factory=dict)
    options: dict[str, dict] = field(default_factory=dict)  # --name -> argparse keywords; values join the budget


def main(table: Table, description: str, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", required=True, help="folder of the runs, results.json and table.md")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per row")
    parser.add_argument(
        "--only-seeds", nargs="+", type=int, help="run only these of the seeds (to split the table between workers)"
    )
    parser.add_argument("--rows", nargs="+", choices=tuple(table.rows), default=list(table.rows), help="rows to run")
    parser.add_argument("--threads", type=int, help="torch threads per run (train.threads)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--finetune-epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument(
        "--merge", nargs="+", metavar="DIR", help="add these folders' results.json to --out's, then exit"
    )
    for name, kwargs in table.options.items():
        parser.add_argument(f"--{name}", **kwargs)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from semunet_monai.engines.workflow import train

    out = Path(args.out)
    budget = {"epochs": args.epochs, "finetune_epochs": args.finetune_epochs, "batch_size": args.batch_size}
    budget.update({name.replace("-", "_"): getattr(args, name.replace("-", "_")) for name in table.options})
    results = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else {}
    if args.merge:
        for folder in args.merge:
            results.update(json.loads((Path(folder) / "results.json").read_text()))
    seeds = [s for s in range(args.seeds) if args.only_seeds is None or s in args.only_seeds]
    for seed in seeds if not args.merge else []:  # every row's first seed first: an interrupted table has each row
        for row in args.rows:
            key = f"{row}/seed{seed}"
            run = out / row / f"seed{seed}"
            if key in results:  # results.json is the record: it is what a later session finds (run folders are local)
                continue
            config = table.config_for(row, seed, args.threads, budget)
            t0 = time.time()
            metrics = train(config, run, resume=run.is_dir() and any(run.iterdir()), progress=False)
            seconds = time.time() - t0
            results[key] = {"mean": metrics["mean"], "seconds": seconds, "steps": iterations(config)}
            if table.extra is not None:
                results[key].update(table.extra(row, run, config))
            _save(results, out, table, budget)
    _save(results, out, table, budget)
    return 0


def _save(results: dict, out: Path, table: Table, budget: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    write_table(results, out / "table.md", table, budget)


def iterations(config) -> int:
    """Optimisation steps of a run: every phase's epochs times the batches of an epoch."""
    from semunet_monai.engines.methods import method_phases
    from semunet_monai.engines.workflow import prepare_data

    t = config.train
    batches = math.ceil(len(prepare_data(config).train) / t.batch_size)
    return sum(p.num_epochs(t.epochs, t.finetune_epochs) for p in method_phases(t.method)) * batches


def write_table(results: dict, path: Path, table: Table, budget: dict) -> None:
    extra = table.extra_columns
    header = ["row", "n", "PSNR (dB)", "SSIM", "Dice (7 classes)", "Dice (tissue3)", "s per run", "ms per step"]
    header = [table.first_column, *header, *extra.values()]
    lines = [table.caption(budget), "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row, label in table.rows.items():
        runs = [v for k, v in results.items() if k.split("/")[0] == row]
        if not runs:
            continue
        cells = [*label.split(" | "), str(len(runs))]
        for metric in METRICS:
            values = [r["mean"][metric] for r in runs]
            digits = 2 if metric == "psnr" else 3
            spread = f" +- {statistics.stdev(values):.{digits}f}" if len(values) > 1 else ""  # one seed: no spread
            cells.append(f"{statistics.mean(values):.{digits}f}{spread}")
        cells.append(f"{statistics.mean(r['seconds'] for r in runs):.0f}")
        cells.append(f"{statistics.mean(1000 * r['seconds'] / r['steps'] for r in runs):.0f}")
        for key in extra:
            values = [r[key] for r in runs if key in r]
            cells.append(f"{statistics.mean(values):.1f}" if values else "")
        lines.append("| " + " | ".join(cells) + " |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
