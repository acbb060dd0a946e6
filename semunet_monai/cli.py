"""Command-line interface ``semunet-monai``: one ``_add_<command>`` function registers each subcommand.

Example::

    semunet-monai mask --kind radial --rate 0.1 --shape 240 240 --out masks/radial10
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

# Everything the parser needs imports without torch, MONAI or nibabel (``--help`` in milliseconds); the command
# handlers (``_run_*``) import what they use.
from .config import PRESETS
from .data.labels import LABEL_SCHEMES
from .engines.methods import METHODS
from .names import GEOMETRIES, GRID_BUDGET, GRID_ROWS, MASK_KINDS, PHYSICS_MODES, PRECISIONS, RECON_NETS

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace, argparse.ArgumentParser], int]
_DEBUG = {"on": False}  # --debug: expected errors keep their traceback


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends each option's default to its help, except where there is none to show: None, an empty list, or the
    off state of a flag."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default == [] or action.nargs == 0:
            return action.help
        return super()._get_help_string(action)


def _param(text: str) -> tuple[str, float]:
    """Parse ``NAME=VALUE`` (a number) for ``--param``."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"the value of {name!r} must be a number, got {value!r}") from None


def _add_mask(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "mask",
        help="write a fixed k-space mask (npy, NIfTI, PNG, JSON sidecar)",
        description="Draw a fixed k-space mask and write <out>/mask.{npy,nii.gz,png,json}.",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("--kind", required=True, choices=MASK_KINDS, help="mask kind")
    p.add_argument("--rate", required=True, type=float, help="sampling rate in (0, 1)")
    p.add_argument("--shape", required=True, type=int, nargs=2, metavar=("H", "W"), help="k-space size")
    p.add_argument("--out", required=True, help="output folder (created if needed)")
    p.add_argument("--seed", type=int, default=0, help="seed of the mask's generator")
    p.add_argument(
        "--param",
        type=_param,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="option of the kind, repeatable: radial step; gaussian sigma, centre_radius; cartesian_* "
        "center_fraction; poisson calib, slope",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing mask files")
    p.set_defaults(handler=_run_mask, subparser=p)


def _run_mask(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .sampling.io import save_mask
    from .sampling.masks import create_mask, mask_geometry

    params = dict(args.param)
    try:
        mask = create_mask(args.kind, args.shape, args.rate, args.seed, **params)()
        paths = save_mask(
            mask,
            args.out,
            rate=args.rate,
            geometry=mask_geometry(args.kind),
            method=f"fixed:{args.kind}",
            seed=args.seed,
            extra={"kind": args.kind, "params": params},
            overwrite=args.overwrite,
        )
    except ValueError as err:
        parser.error(str(err))  # exits with code 2
    logger.info(
        "%s mask %s: %d samples, effective rate %.4f (requested %.4f)",
        args.kind,
        tuple(mask.shape),
        int(mask.sum()),
        float(mask.double().mean()),
        args.rate,
    )
    for key, path in paths.items():
        logger.info("wrote %s: %s", key, path)
    return 0


def _add_check_data(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "check-data",
        help="preflight-check a dataset (MRBrainS13/18 folder or datalist JSON); exits 1 on any error",
        description="Read every image and label once, read-only, and report each problem with the file it concerns.",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("root", help="dataset folder (TrainingData/ or training/ inside) or a datalist .json")
    p.add_argument("--modality", default="T1", choices=("T1", "T1_IR", "T2_FLAIR"), help="image to check")
    p.add_argument("--label-scheme", default="raw", choices=tuple(LABEL_SCHEMES), help="label values allowed")
    p.set_defaults(handler=_run_check_data, subparser=p)


def _run_check_data(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .data.preflight import check_data

    report = check_data(args.root, modality=args.modality, label_scheme=args.label_scheme)
    n_err, n_warn = len(report.errors), len(report.warnings)
    level = logging.ERROR if n_err else logging.INFO
    logger.log(level, "%s: %d subject(s), %d error(s), %d warning(s)", args.root, report.subjects, n_err, n_warn)
    return 1 if n_err else 0


def _add_demo_data(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo-data",
        help="generate the embedded demo dataset (MRBrainS13 or MRBrainS18 layout)",
        description="Write demo subjects with MRBrainS labels and T1/T1_IR/T2_FLAIR images: by default derived from "
        "the MNI152 template shipped with the package (real anatomy, see docs/data_card.md), or the procedural "
        "phantom (every MRBrainS label, lesions included).",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("--out", required=True, help="output folder (must be empty or new)")
    p.add_argument("--subjects", type=int, default=5, help="number of subjects")
    p.add_argument("--seed", type=int, default=0, help="dataset seed")
    p.add_argument(
        "--layout",
        default="mrbrains13",
        choices=("mrbrains13", "mrbrains18", "fastmri"),
        help="folder layout; fastmri: simulated multi-coil k-space HDF5 files of the T1 scans with their labels",
    )
    p.add_argument("--coils", type=int, default=8, help="coils of the fastmri layout's simulated k-space")
    p.add_argument("--shape", type=int, nargs=3, default=(240, 240, 48), metavar=("X", "Y", "Z"), help="voxels")
    p.add_argument("--generator", default="mni152", choices=("mni152", "phantom"), help="subject generator")
    p.add_argument("--overwrite", action="store_true", help="replace an existing generated dataset")
    p.set_defaults(handler=_run_demo_data, subparser=p)


def _run_demo_data(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .data.demo import write_demo_dataset

    try:
        if args.layout == "fastmri":
            from .data.raw import write_fastmri_demo

            files = write_fastmri_demo(
                args.out, args.subjects, args.seed, tuple(args.shape), args.coils, args.overwrite, args.generator
            )
            logger.info("wrote %d simulated multi-coil k-space files to %s", len(files), args.out)
            return 0
        dirs = write_demo_dataset(
            args.out,
            subjects=args.subjects,
            seed=args.seed,
            layout=args.layout,
            shape=tuple(args.shape),
            overwrite=args.overwrite,
            generator=args.generator,
        )
    except ValueError as err:
        parser.error(str(err))
    logger.info("wrote %d subjects to %s", len(dirs), args.out)
    return 0


def _add_data_source(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", "--dataset-dir", "--dataset_dir", help="dataset folder or datalist .json")
    src.add_argument("--demo", action="store_true", help="use the embedded demo dataset (generated on first use)")


def _exit_code(run: Callable[[], object]) -> int:
    """Run a command: 0 on success, 3 for a non-finite loss, 1 for bad settings, data or checkpoints (one ERROR
    line each; with ``--debug`` they propagate with their traceback)."""
    from .engines.checkpoint import CheckpointError
    from .engines.handlers import NonFiniteLossError

    if _DEBUG["on"]:
        run()
        return 0
    try:
        run()
    except NonFiniteLossError as err:
        logger.error("%s", err)
        return 3
    except (CheckpointError, ValueError) as err:
        logger.error("%s", err)
        return 1
    return 0


def _add_precision(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="network precision, the preset's if not given (auto in every preset: bf16 where the CPU or GPU has it, "
        "else fp32)",
    )


def _add_train(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train SemuNet or one of the paper's comparison methods",
        description="Train a method on a dataset (or the embedded demo data) into --out; --resume continues a run.",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("--method", default="semunet", choices=tuple(METHODS), help="method")
    p.add_argument("--rate", type=float, help="sampling rate in (0, 1)")
    p.add_argument("--mask-kind", choices=MASK_KINDS, help="fixed mask for baseline, liu, mdrecon")
    p.add_argument(
        "--geometry",
        choices=GEOMETRIES,
        help="mask geometry: a pixel mask per axial slice (2d), phase-encode lines, or a (ky, kz) mask of a 3-D scan",
    )
    p.add_argument(
        "--readout-axis", type=int, choices=(0, 1, 2), help="kykz: the volume axis read out (sampling.readout_axis)"
    )
    p.add_argument(
        "--physics",
        choices=PHYSICS_MODES,
        help="what the k-space is: of the magnitude image (the paper's), of a complex image, or multi-coil "
        "(physics.mode)",
    )
    p.add_argument("--coils", type=int, help="coils of the multicoil physics (physics.coils)")
    p.add_argument(
        "--recon",
        choices=RECON_NETS,
        help="ReconNet: the paper's U-Net on the zero-filled image, or a VarNet on the k-space (model.recon)",
    )
    _add_data_source(p)
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--preset", default="cpu", choices=PRESETS, help="preset")
    p.add_argument("--config", help="your YAML on top of the preset (sections data/model/sampling/train/physics)")
    p.add_argument("--epochs", type=int, help="epochs of the main phases")
    p.add_argument("--finetune-epochs", "--finetune_epochs", type=int, help="epochs of the fine-tuning phases")
    p.add_argument("--batch-size", "--batch_size", type=int, help="batch size")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    _add_precision(p)
    p.add_argument("--seed", type=int, help="training seed")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoints")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run_train, subparser=p)


def _train_overrides(args: argparse.Namespace) -> dict:
    sampling = {"rate": args.rate, "mask_kind": args.mask_kind, "geometry": args.geometry}
    sampling["readout_axis"] = args.readout_axis
    train = {
        "method": args.method,
        "epochs": args.epochs,
        "finetune_epochs": args.finetune_epochs,
        "batch_size": args.batch_size,
        "device": args.device,
        "precision": args.precision,
        "seed": args.seed,
    }
    data = {"root": args.data} if args.data else {}
    physics = {"mode": args.physics, "coils": args.coils}
    drop = lambda d: {k: v for k, v in d.items() if v is not None}  # noqa: E731
    model = drop({"recon": args.recon})
    return {"data": data, "sampling": drop(sampling), "train": drop(train), "physics": drop(physics), "model": model}


def _run_train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .config import load_config
    from .engines.workflow import train

    try:
        config = load_config(args.preset, args.config, _train_overrides(args))
    except ValueError as err:
        parser.error(str(err))
    return _exit_code(lambda: train(config, args.out, resume=args.resume, progress=not args.no_progress))


def _add_evaluate(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score a trained run on a dataset: per-subject and mean PSNR, SSIM, Dice",
        description="Evaluate RUN/model.pt on every subject of --data and write a per-subject and mean table.",
        formatter_class=_HelpFormatter,
    )
    p.add_argument(
        "--run", "--model", dest="run", required=True, help="a finished training run folder (--model as in infer)"
    )
    p.add_argument("--data", "--dataset-dir", "--dataset_dir", required=True, help="dataset folder or datalist .json")
    p.add_argument("--out", help="output stem, RUN/eval_<dataset name> if not given: writes .csv and .json")
    p.add_argument("--overwrite", action="store_true", help="replace existing result files")
    p.set_defaults(handler=_run_evaluate, subparser=p)


def _run_evaluate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from pathlib import Path

    from .engines.workflow import evaluate_folder

    stem = Path(args.out) if args.out else Path(args.run) / f"eval_{Path(args.data).stem}"
    return _exit_code(lambda: evaluate_folder(args.run, args.data, stem, overwrite=args.overwrite))


def _add_infer(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "infer",
        help="reconstruct and segment new scans with a trained run or bundle",
        description=(
            "Run a trained model (a 'semunet-monai train' run folder or a bundle) on scans: files, folders (searched "
            "recursively; only scans of the trained contrast are taken, and every skipped file is listed), DICOM "
            "series folders, k-space files (.h5/.npy, sampled with the model's mask: (slices, [coils,] H, W), or "
            "(kx, ky, kz) / (coils, kx, ky, kz) for a model of sampling.geometry kykz) or list files (.txt, one path "
            "per line). Writes <scan>_recon.nii.gz (in the scan's intensity units) and <scan>_seg.nii.gz on the "
            "scan's grid, in --out (sub-folders as in the input folder). Nothing is written over an input."
        ),
        formatter_class=_HelpFormatter,
    )
    p.add_argument(
        "--model", "--models-dir", "--models_dir", required=True, help="run folder (config.yaml, model.pt) or bundle"
    )
    p.add_argument("--input", required=True, nargs="+", metavar="PATH", help="scans, folders or list files")
    p.add_argument("--out", "--output-dir", "--output_dir", required=True, help="output folder")
    p.add_argument("--pattern", help="take the files of folders whose name matches this shell pattern, e.g. '*T1*'")
    p.add_argument(
        "--fit",
        choices=("resample", "resize"),
        help="how scans meet the trained matrix: resample to the training spacing then pad/crop (chosen when "
        "the model records its spacing), or resize each slice into the matrix (chosen otherwise)",
    )
    p.add_argument("--dataset-labels", action="store_true", help="write the dataset's label values, not class indices")
    p.add_argument(
        "--retrospective",
        action="store_true",
        help="accept fully sampled k-space files and apply the learned mask to them (without it, k-space must have "
        "been acquired with the mask)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace outputs of an earlier run (never inputs)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help="network precision")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run_infer, subparser=p)


def _run_infer(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .inference import infer

    return _exit_code(
        lambda: infer(
            args.model,
            args.input,
            args.out,
            pattern=args.pattern,
            fit=args.fit,
            overwrite=args.overwrite,
            device=args.device,
            precision=args.precision,
            progress=not args.no_progress,
            dataset_labels=args.dataset_labels,
            retrospective=args.retrospective,
        )
    )


def _add_export_seq(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export-seq",
        help="write a mask as a Pulseq sequence a scanner can play (2-D GRE for lines, 3-D GRE for (ky, kz))",
        description=(
            "Write --out (.seq, Pulseq 1.4 through pypulseq) for the mask in --mask (a folder with mask.npy and "
            "mask.json, as 'mask' and training write them), with the acquisition order, the phase-encode table "
            "as played, the settings and a PNG of the k-space pypulseq computes from the sequence. A 'lines' mask "
            "becomes a 2-D spoiled GRE (readout along the mask's first axis), a (ky, kz) mask such as 'poisson' a "
            "3-D spoiled GRE. The sequence must pass pypulseq's timing check. Needs pip install "
            "'semunet-monai[scanner]'."
        ),
        formatter_class=_HelpFormatter,
    )
    p.add_argument("--mask", required=True, help="mask folder (mask.npy + mask.json) or .npy file")
    p.add_argument("--out", required=True, help="the .seq file to write")
    p.add_argument("--geometry", choices=("lines", "kykz"), help="sequence type (default: from the mask's sidecar)")
    p.add_argument(
        "--readout",
        type=int,
        help="readout samples of the 3-D GRE (default: the read-out size a kykz training recorded in the mask's "
        "sidecar, else the mask's first size)",
    )
    p.add_argument("--fov", type=float, default=230.0, help="field of view (mm)")
    p.add_argument("--thickness", type=float, help="slice (2-D, default 3) or slab (3-D, default 144) thickness (mm)")
    p.add_argument("--tr", type=float, help="repetition time (ms; default 12 for 2-D, 15 for 3-D)")
    p.add_argument("--te", type=float, default=5.0, help="echo time (ms)")
    p.add_argument("--flip", type=float, default=15.0, help="flip angle (degrees)")
    p.add_argument("--max-grad", type=float, default=28.0, help="gradient amplitude limit (mT/m)")
    p.add_argument("--max-slew", type=float, default=150.0, help="slew rate limit (T/m/s)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(handler=_run_export_seq, subparser=p)


def _run_export_seq(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    def run() -> None:
        from pathlib import Path

        from .sampling.io import load_mask

        try:
            from .scanner import GreSettings, write_sequence
        except ImportError as err:
            raise ValueError(f"export-seq needs pypulseq: pip install 'semunet-monai[scanner]' ({err}).") from None
        mask, meta = load_mask(args.mask)
        geometry = args.geometry
        if geometry is None:
            if meta.get("geometry") == "lines":
                geometry = "lines"
            elif meta.get("method") == "fixed:poisson" or meta.get("geometry") == "kykz":
                geometry = "kykz"
            else:
                raise ValueError(
                    f"--mask {args.mask}: a 2-D pixel mask (geometry {meta.get('geometry')!r}) cannot be played by a "
                    f"2-D acquisition; pass --geometry kykz to play it as the (ky, kz) plane of a 3-D acquisition."
                )
        out = Path(args.out)
        if out.suffix != ".seq":
            raise ValueError(f"--out {out}: expected a .seq file name.")
        stem = out.with_suffix("")
        targets = [out, *(Path(f"{stem}{x}") for x in ("_order.csv", "_table.npy", ".json", "_kspace.png"))]
        existing = [str(t) for t in targets if t.exists()]
        if existing and not args.overwrite:
            raise ValueError(f"{', '.join(existing)} exist(s) already; pass --overwrite or choose another --out.")
        three_d = geometry == "kykz"
        settings = GreSettings(
            fov=args.fov / 1e3,
            thickness=(args.thickness if args.thickness is not None else (144.0 if three_d else 3.0)) / 1e3,
            tr=(args.tr if args.tr is not None else (15.0 if three_d else 12.0)) / 1e3,
            te=args.te / 1e3,
            flip=args.flip,
            max_grad=args.max_grad,
            max_slew=args.max_slew,
        )
        readout = args.readout or (meta.get("extra") or {}).get("readout_samples")  # a kykz training's read-out
        paths = write_sequence(mask.numpy(), geometry, out, settings, nx=readout)
        for key, path in paths.items():
            logger.info("wrote %s: %s", key, path)

    return _exit_code(run)


def _add_reproduce(subparsers: argparse._SubParsersAction) -> None:
    budget = (
        ", ".join(
            f"{k}: {v['epochs']} + {v['finetune_epochs']}"
            + (f" at batch {v['batch_size']}" if "batch_size" in v else "")
            for k, v in GRID_BUDGET.items()
            if v
        )
        or "none"
    )
    p = subparsers.add_parser(
        "reproduce",
        help="train every method of the paper's tables at each rate; write tables, figures and results.json",
        description=(
            "Train and evaluate every row of the paper's Tables 1 and 2 (plus uniform random, a sweep of variable "
            "density masks with a fully sampled centre holding 25-100 % of the budget, and fully sampled) at each "
            "--rates value, fold and seed, into --out: table_recon.md, table_seg.md, fig_*.png, results.json. Run it "
            "again to resume: finished cells are skipped (other --rows/--rates/--seeds add cells to the same grid; "
            "another --folds needs a new --out). "
            f"Per-cell epochs (main + fine-tuning) by preset: {budget}; other presets use their own."
        ),
        formatter_class=_HelpFormatter,
    )
    _add_data_source(p)
    p.add_argument("--out", required=True, help="output folder (an earlier grid's folder is resumed)")
    p.add_argument("--rates", type=float, nargs="+", default=[0.05, 0.1, 0.2], help="sampling rates")
    p.add_argument("--seeds", type=int, default=1, help="seeds per cell; tables show mean +- std")
    p.add_argument(
        "--folds",
        type=int,
        default=1,
        help="k-fold cross-validation over subjects, each subject tested once; 1 keeps the preset's split",
    )
    p.add_argument("--preset", default="cpu", choices=PRESETS, help="preset")
    p.add_argument("--config", help="your YAML on top of the preset (sections data/model/sampling/train/physics)")
    p.add_argument("--rows", nargs="+", choices=GRID_ROWS, metavar="ROW", help=f"rows to train: {', '.join(GRID_ROWS)}")
    p.add_argument("--epochs", type=int, help="epochs of the main phases of every cell")
    p.add_argument(
        "--finetune-epochs", "--finetune_epochs", type=int, help="epochs of the fine-tuning phases of every cell"
    )
    p.add_argument(
        "--tune-every-seed",
        action="store_true",
        help="train every share of the centre-share sweep at every seed (default: tune the share at seed 0, per "
        "rate and fold, and train only the chosen share at the other seeds)",
    )
    p.add_argument(
        "--plan",
        action="store_true",
        help="list the cells still to train (per row and rate, timed by the finished cells of that row) and stop; "
        "nothing is trained or written",
    )
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="train cells in N worker processes at once (the cores are split between them, train.threads = cores "
        "// N unless set; with several GPUs and --device cuda, one GPU each in turn); separate invocations on one "
        "--out also share its cells, each cell trained once",
    )
    _add_precision(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run_reproduce, subparser=p)


def _run_reproduce(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .reproduce.workers import run_workers

    return _exit_code(
        lambda: run_workers(
            args.workers,
            args.out,
            args.rates,
            seeds=args.seeds,
            preset=args.preset,
            data_root=args.data,
            rows=args.rows,
            config_file=args.config,
            epochs=args.epochs,
            finetune_epochs=args.finetune_epochs,
            device=args.device,
            precision=args.precision,
            progress=not args.no_progress,
            folds=args.folds,
            tune_every_seed=args.tune_every_seed,
            plan_only=args.plan,
        )
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``semunet-monai`` parser with one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="semunet-monai",
        description="Task-driven fast MRI (SemuNet) on MONAI: command-line tools.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for expected errors too")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (
        _add_mask,
        _add_demo_data,
        _add_check_data,
        _add_train,
        _add_evaluate,
        _add_infer,
        _add_reproduce,
        _add_export_seq,
    ):
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``); returns the exit code (argument errors exit with 2)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    _DEBUG["on"] = bool(args.debug)
    handler: Handler = args.handler
    try:
        return handler(args, args.subparser)
    except KeyboardInterrupt:
        if _DEBUG["on"]:
            raise
        logger.error("interrupted; what was finished is kept (train --resume and reproduce continue from it)")
        return 130
