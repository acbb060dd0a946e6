from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys

import numpy as np
import pytest

from semunet_monai.cli import build_parser, main
from semunet_monai.sampling.masks import MASK_KINDS


@pytest.mark.parametrize("kind, rate, tol", [("radial", 0.1, 0.005), ("cartesian_equispaced", 0.2, 0.0)])
def test_mask_command_writes_mask(tmp_path, caplog, kind, rate, tol):
    out = tmp_path / "m"
    with caplog.at_level(logging.INFO, logger="semunet_monai"):
        code = main(["mask", "--kind", kind, "--rate", str(rate), "--shape", "240", "200", "--out", str(out)])
    assert code == 0
    mask = np.load(out / "mask.npy")
    assert mask.dtype == np.bool_ and mask.shape == (240, 200)
    assert abs(mask.mean() - rate) <= tol
    for suffix in (".nii.gz", ".png", ".json"):
        assert (out / f"mask{suffix}").is_file()
    meta = json.loads((out / "mask.json").read_text())
    assert meta["method"] == f"fixed:{kind}" and meta["seed"] == 0 and meta["rate"] == rate
    assert meta["geometry"] == ("lines" if kind.startswith("cartesian") else "2d")
    assert "effective rate" in caplog.text and str(out / "mask.npy") in caplog.text


def test_mask_command_seed_param_and_overwrite(tmp_path, capsys):
    args = ["mask", "--kind", "gaussian", "--rate", "0.1", "--shape", "64", "96", "--out", str(tmp_path)]
    assert main([*args, "--seed", "4", "--param", "sigma=0.2", "--param", "centre_radius=3"]) == 0
    first = np.load(tmp_path / "mask.npy")
    meta = json.loads((tmp_path / "mask.json").read_text())
    assert meta["seed"] == 4 and meta["extra"]["params"] == {"sigma": 0.2, "centre_radius": 3.0}
    assert int(first.sum()) == round(0.1 * 64 * 96) and first[32, 48]

    with pytest.raises(SystemExit) as err:  # files exist: refused
        main(args)
    assert err.value.code == 2 and "already exists" in capsys.readouterr().err
    assert np.array_equal(np.load(tmp_path / "mask.npy"), first)

    assert main([*args, "--overwrite"]) == 0
    assert not np.array_equal(np.load(tmp_path / "mask.npy"), first)  # seed 0, default sigma: a new mask


@pytest.mark.parametrize(
    "override, expected",
    [
        ({"--rate": ["1.5"]}, "rate"),
        ({"--rate": ["0"]}, "rate"),
        ({"--rate": ["abc"]}, "--rate"),
        ({"--kind": ["spiral"]}, "--kind"),
        ({"--shape": ["240"]}, "--shape"),
        ({"--shape": ["0", "240"]}, "shape"),
        ({"--param": ["foo=1"]}, "foo"),
        ({"--param": ["sigma"]}, "NAME=VALUE"),
        ({"--param": ["sigma=wide"]}, "sigma"),
        ({"--seed": ["1.5"]}, "--seed"),
    ],
)
def test_mask_command_bad_arguments(tmp_path, capsys, override, expected):
    options = {"--kind": ["gaussian"], "--rate": ["0.1"], "--shape": ["32", "32"], "--out": [str(tmp_path / "o")]}
    options.update(override)
    argv = ["mask"] + [token for key, values in options.items() for token in (key, *values)]
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_no_subcommand_is_an_error(capsys):
    with pytest.raises(SystemExit) as err:
        main([])
    assert err.value.code == 2


def test_parser_lists_kinds():
    parser = build_parser()
    args = parser.parse_args(["mask", "--kind", "radial", "--rate", "0.1", "--shape", "8", "8", "--out", "x"])
    assert args.command == "mask" and args.shape == [8, 8] and args.seed == 0 and not args.overwrite
    for kind in MASK_KINDS:
        assert parser.parse_args(["mask", "--kind", kind, "--rate", "0.1", "--shape", "8", "8", "--out", "x"])


def test_python_m_help():
    res = subprocess.run(
        [sys.executable, "-m", "semunet_monai", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert res.returncode == 0
    assert "mask" in res.stdout and "semunet-monai" in res.stdout


def _help(capsys, *command: str) -> str:
    with pytest.raises(SystemExit) as err:
        main([*command, "--help"])
    assert err.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines: compare with single spaces


@pytest.mark.parametrize(
    "command, shown",
    [
        ((), ()),
        (("mask",), ("seed of the mask's generator (default: 0)",)),
        (("reproduce",), ("--seeds SEEDS seeds per cell; tables show mean +- std (default: 1)", "(default: cpu)")),
        (("train",), ("method (default: semunet)", "preset (default: cpu)")),
        (("demo-data",), ("number of subjects (default: 5)", "voxels (default: (240, 240, 48))")),
        (("check-data",), ("image to check (default: T1)", "label values allowed (default: raw)")),
        (("evaluate",), ()),
        (("infer",), ("network precision (default: auto)", "auto, cpu, cuda or cuda:N (default: auto)")),
    ],
)
def test_help_shows_each_default_once(capsys, command, shown):
    text = _help(capsys, *command)
    assert "semunet-monai" in text
    for part in shown:
        assert part in text
    # no default is said twice, and options without one (None, flags, empty lists) show none
    assert "(default " not in text and "default: None" not in text and "default: False" not in text
    assert "default: []" not in text


def test_every_subcommand_has_help_with_defaults():
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subparsers.choices) == {
        "mask",
        "demo-data",
        "check-data",
        "train",
        "evaluate",
        "infer",
        "reproduce",
        "export-seq",
    }
    for name, sub in subparsers.choices.items():
        assert issubclass(sub.formatter_class, argparse.ArgumentDefaultsHelpFormatter), name


def test_evaluate_takes_the_model_folder_as_infer_names_it():
    for flag in ("--run", "--model"):
        args = build_parser().parse_args(["evaluate", flag, "runs/a", "--data", "d"])
        assert args.run == "runs/a"
