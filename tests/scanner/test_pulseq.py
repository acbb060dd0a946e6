"""Pulseq export: the written sequence passes pypulseq's timing check, lasts (acquired lines) x TR, and the k-space
positions pypulseq computes from the file read back give the mask's phase-encode table (the round trip)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

pp = pytest.importorskip("pypulseq")

from semunet_monai.cli import main  # noqa: E402
from semunet_monai.sampling.masks import make_mask  # noqa: E402
from semunet_monai.scanner import GreSettings, lines_of, sampled_table, write_sequence  # noqa: E402


def _read(path):
    seq = pp.Sequence()
    seq.read(str(path))
    return seq


def test_lines_mask_round_trip_through_the_seq_file(tmp_path):
    mask = make_mask("cartesian_random", (64, 48), 0.3, seed=2).numpy()
    settings = GreSettings()
    paths = write_sequence(mask, "lines", tmp_path / "gre2d.seq", settings)
    seq = _read(paths["seq"])
    ok, report = seq.check_timing()
    assert ok, report
    table = lines_of(mask)
    assert np.array_equal(sampled_table(seq, table.shape, settings), table)
    meta = json.loads(paths["json"].read_text())
    assert meta["acquired"] == int(table.sum()) and meta["duration_s"] == pytest.approx(table.sum() * settings.tr)
    order = np.loadtxt(paths["order"], delimiter=",", skiprows=1, dtype=int)
    assert list(order) == list(np.flatnonzero(table))  # the acquisition order, increasing ky
    assert np.array_equal(np.load(paths["table"]), table) and paths["png"].stat().st_size > 1000


def test_poisson_kykz_round_trip(tmp_path):
    mask = make_mask("poisson", (40, 20), 0.2, seed=0).numpy()
    settings = GreSettings(thickness=0.144, tr=15e-3)
    paths = write_sequence(mask, "kykz", tmp_path / "gre3d.seq", settings, nx=48)
    seq = _read(paths["seq"])
    assert seq.check_timing()[0]
    assert np.array_equal(sampled_table(seq, mask.shape, settings), mask)
    meta = json.loads(paths["json"].read_text())
    assert meta["duration_s"] == pytest.approx(mask.sum() * settings.tr, rel=0.01)


def test_unplayable_masks_and_settings_are_refused(tmp_path):
    pixels = make_mask("gaussian", (32, 32), 0.2, seed=0).numpy()
    with pytest.raises(ValueError, match="samples parts of phase-encode lines"):
        write_sequence(pixels, "lines", tmp_path / "x.seq")
    lines = make_mask("cartesian_random", (32, 32), 0.25, seed=0).numpy()
    with pytest.raises(ValueError, match=r"TR 3 ms are too short .*raise --te/--tr"):
        write_sequence(lines, "lines", tmp_path / "x.seq", GreSettings(tr=3e-3))
    assert not (tmp_path / "x.seq").exists()


def test_cli_export_seq(tmp_path, caplog):
    assert (
        main(
            [
                "mask",
                "--kind",
                "cartesian_equispaced",
                "--rate",
                "0.25",
                "--shape",
                "48",
                "48",
                "--out",
                str(tmp_path / "m"),
            ]
        )
        == 0
    )
    out = tmp_path / "seq" / "lines.seq"
    assert main(["export-seq", "--mask", str(tmp_path / "m"), "--out", str(out), "--tr", "10"]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["tr"] == pytest.approx(0.010)
    with caplog.at_level(logging.ERROR):
        assert main(["export-seq", "--mask", str(tmp_path / "m"), "--out", str(out)]) == 1  # exists: not overwritten
        assert "exist(s) already" in caplog.records[-1].getMessage()
    assert main(["mask", "--kind", "random", "--rate", "0.2", "--shape", "24", "24", "--out", str(tmp_path / "r")]) == 0
    assert main(["export-seq", "--mask", str(tmp_path / "r"), "--out", str(tmp_path / "r.seq")]) == 1
    assert "cannot be played by a 2-D acquisition" in caplog.records[-1].getMessage()
