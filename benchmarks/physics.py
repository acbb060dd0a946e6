"""How much the magnitude simulation flatters the numbers, and what a data-consistency ReconNet gives back (#10).

On the embedded demo data at 10 %, cpu preset at the grid's per-cell budget (30 + 10 epochs at batch 4), seeds 0
and 1, one run per row and seed:

- BasicUNet + learned mask in each physics mode (magnitude, complex, multicoil with 8 coils);
- in multicoil physics: VarNet + learned mask, VarNet + variable density with a fully sampled centre disc holding
  half the budget, VarNet + Cartesian lines with ACS lines (fastMRI's share).

Each run is a ``semunet-monai train`` run folder under ``--out``; a run recorded in ``--out/results.json`` is
skipped and an interrupted one resumes, so the script can be stopped and started again (commit ``results.json`` and
``table.md`` to carry finished runs to another machine). It writes ``results.json`` and
``table.md`` (mean +- std over seeds of PSNR, SSIM, mean Dice and tissue3 Dice on the test subjects, and the
training time per optimisation step).

    python benchmarks/physics.py --out benchmarks/results/physics [--threads 1] [--seeds 2]

Two workers on separate ``--out`` folders (``--rows`` / ``--only-seeds`` disjoint) share a machine's cores; merge
their ``results.json`` files afterwards with ``--merge DIR...``.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path

ROWS = {
    # name: (physics mode, recon, method, sampling overrides)
    "magnitude_unet_learned": ("magnitude", "unet", "semunet", {}),
    "complex_unet_learned": ("complex", "unet", "semunet", {}),
    "multicoil_unet_learned": ("multicoil", "unet", "semunet", {}),
    "multicoil_varnet_learned": ("multicoil", "varnet", "semunet", {}),
    "multicoil_varnet_vd_centre": ("multicoil", "varnet", "baseline", {"mask_kind": "gaussian", "centre": 0.5}),
    "multicoil_varnet_lines_acs": (
        "multicoil",
        "varnet",
        "baseline",
        {"mask_kind": "cartesian_random", "geometry": "lines"},
    ),
}
LABELS = {
    "magnitude_unet_learned": "magnitude | BasicUNet + learned mask (the paper's setting)",
    "complex_unet_learned": "complex | BasicUNet + learned mask",
    "multicoil_unet_learned": "multicoil | BasicUNet + learned mask",
    "multicoil_varnet_learned": "multicoil | VarNet + learned mask",
    "multicoil_varnet_vd_centre": "multicoil | VarNet + VD, centre disc with 50 % of the budget",
    "multicoil_varnet_lines_acs": "multicoil | VarNet + Cartesian lines with ACS",
}
METRICS = ("psnr", "ssim", "mean_dice", "mean_dice_tissue3")


def config_for(row: str, seed: int, threads: int | None, budget: dict):
    from semunet_monai.config import load_config
    from semunet_monai.reproduce.grid import centre_radius

    mode, recon, method, sampling = ROWS[row]
    sampling = dict(sampling)
    centre = sampling.pop("centre", None)
    overrides = {
        "physics": {"mode": mode, "coils": 8},
        "model": {"recon": recon},
        "sampling": {"rate": 0.1, **sampling},
        "train": {"method": method, "seed": seed, **budget, **({"threads": threads} if threads else {})},
    }
    config = load_config("cpu", overrides=overrides)
    if centre is not None:
        size = config.data.spatial_size
        config.sampling.acs = centre_radius(0.1, (size, size), centre)
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder of the runs, results.json and table.md")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per row")
    parser.add_argument(
        "--only-seeds", nargs="+", type=int, help="run only these of the seeds (to split the table between workers)"
    )
    parser.add_argument("--rows", nargs="+", choices=tuple(ROWS), default=list(ROWS), help="rows to run")
    parser.add_argument("--threads", type=int, help="torch threads per run (train.threads)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--finetune-epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument(
        "--merge", nargs="+", metavar="DIR", help="add these folders' results.json to --out's, then exit"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from semunet_monai.engines.workflow import train

    out = Path(args.out)
    budget = {"epochs": args.epochs, "finetune_epochs": args.finetune_epochs, "batch_size": args.batch_size}
    results = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else {}
    if args.merge:
        for folder in args.merge:
            results.update(json.loads((Path(folder) / "results.json").read_text()))
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=1))
        write_table(results, out / "table.md", budget)
        return 0
    seeds = [s for s in range(args.seeds) if args.only_seeds is None or s in args.only_seeds]
    for seed in seeds:  # every row's first seed first: an interrupted table still has each row
        for row in args.rows:
            key = f"{row}/seed{seed}"
            run = out / row / f"seed{seed}"
            if key in results:  # results.json is the record: it is what a later session finds (run folders are local)
                continue
            config = config_for(row, seed, args.threads, budget)
            t0 = time.time()
            metrics = train(config, run, resume=run.is_dir() and any(run.iterdir()), progress=False)
            seconds = time.time() - t0
            results[key] = {"mean": metrics["mean"], "seconds": seconds, "steps": iterations(config)}
            out.mkdir(parents=True, exist_ok=True)
            (out / "results.json").write_text(json.dumps(results, indent=1))
            write_table(results, out / "table.md", budget)
    write_table(results, out / "table.md", budget)
    return 0


def iterations(config) -> int:
    """Optimisation steps of a run: every phase's epochs times the batches of an epoch."""
    import math

    from semunet_monai.engines.methods import method_phases
    from semunet_monai.engines.workflow import prepare_data

    t = config.train
    batches = math.ceil(len(prepare_data(config).train) / t.batch_size)
    return sum(p.num_epochs(t.epochs, t.finetune_epochs) for p in method_phases(t.method)) * batches


def write_table(results: dict, path: Path, budget: dict) -> None:
    lines = [
        f"Demo data (10 MNI152-derived subjects, 96x96), 10 %, {budget['epochs']} + {budget['finetune_epochs']} epochs "
        f"at batch {budget['batch_size']}; mean +- std over seeds (n). Scores on the test subjects (magnitude images; "
        "PSNR with the volume's maximum as data range).",
        "",
        "| physics | row | n | PSNR (dB) | SSIM | Dice (7 classes) | Dice (tissue3) | s per run | ms per step |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in ROWS:
        runs = [v for k, v in results.items() if k.split("/")[0] == row]
        if not runs:
            continue
        cells = []
        for metric in METRICS:
            values = [r["mean"][metric] for r in runs]
            digits = 2 if metric == "psnr" else 3
            spread = f" +- {statistics.stdev(values):.{digits}f}" if len(values) > 1 else ""  # one seed: no spread
            cells.append(f"{statistics.mean(values):.{digits}f}{spread}")
        physics, label = LABELS[row].split(" | ")
        seconds = statistics.mean(r["seconds"] for r in runs)
        step = statistics.mean(1000 * r["seconds"] / r["steps"] for r in runs)
        lines.append(f"| {physics} | {label} | {len(runs)} | {' | '.join(cells)} | {seconds:.0f} | {step:.0f} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
