"""Command-line interface ``semunet-monai``: one ``_add_<command>`` function registers each subcommand.

Example::

    semunet-monai mask --kind radial --rate 0.1 --shape 240 240 --out masks/radial10
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from .sampling.masks import MASK_KINDS, create_mask, mask_geometry

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace, argparse.ArgumentParser], int]


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
    )
    p.add_argument("--kind", required=True, choices=MASK_KINDS, help="mask kind")
    p.add_argument("--rate", required=True, type=float, help="sampling rate in (0, 1)")
    p.add_argument("--shape", required=True, type=int, nargs=2, metavar=("H", "W"), help="k-space size")
    p.add_argument("--out", required=True, help="output folder (created if needed)")
    p.add_argument("--seed", type=int, default=0, help="seed of the mask's generator (default: 0)")
    p.add_argument(
        "--param",
        type=_param,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="option of the kind, repeatable: radial step; gaussian sigma, centre_radius; cartesian_* center_fraction",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing mask files")
    p.set_defaults(handler=_run_mask, subparser=p)


def _run_mask(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .sampling.io import save_mask  # local import: nibabel/SimpleITK are only needed by this command

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


def build_parser() -> argparse.ArgumentParser:
    """The ``semunet-monai`` parser with one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="semunet-monai", description="Task-driven fast MRI (SemuNet) on MONAI: command-line tools."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_add_mask,):
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``); returns the exit code (argument errors exit with 2)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    return handler(args, args.subparser)
