"""``semunet-monai infer`` in-process: outputs, the summary line, one ERROR line and exit 1 for bad input, --debug."""

from __future__ import annotations

import logging

import pytest

from semunet_monai.cli import main

from .conftest import smooth_volume, write_scan


def test_infer_writes_outputs_and_a_summary(identity_run, tmp_path, caplog):
    subject = tmp_path / "data" / "TrainingData" / "7"
    write_scan(subject / "T1.nii.gz", smooth_volume())
    write_scan(subject / "T1_IR.nii.gz", smooth_volume(seed=1))
    write_scan(subject / "LabelsForTesting.nii.gz", smooth_volume(seed=2))
    with caplog.at_level(logging.INFO):
        code = main(
            [
                "infer",
                "--model",
                str(identity_run),
                "--input",
                str(tmp_path / "data"),
                "--out",
                str(tmp_path / "out"),
                "--no-progress",
            ]
        )
    assert code == 0
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.nii.gz")) == [
        "TrainingData/7/T1_recon.nii.gz",
        "TrainingData/7/T1_seg.nii.gz",
    ]
    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("skipped ") for m in messages) == 2
    (summary,) = [m for m in messages if m.startswith("infer: ")]
    assert "1 scan(s) in, 2 file(s) written" in summary and "2 skipped" in summary and "s per volume" in summary


@pytest.mark.parametrize("make", ["empty", "text"])
def test_bad_input_is_one_error_line_and_exit_1(identity_run, tmp_path, caplog, make):
    folder = tmp_path / "in"
    folder.mkdir()
    if make == "text":
        (folder / "scan.nii.gz").write_text("hello\n")
    args = [
        "infer",
        "--model",
        str(identity_run),
        "--input",
        str(folder),
        "--out",
        str(tmp_path / "out"),
        "--no-progress",
    ]
    with caplog.at_level(logging.INFO):
        assert main(args) == 1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None and "\n" not in errors[0].getMessage()
    assert str(folder) in errors[0].getMessage()
    with pytest.raises(ValueError):
        main(["--debug", *args])  # --debug: the traceback is kept


def test_a_missing_model_folder_is_named(tmp_path, caplog):
    args = ["infer", "--model", str(tmp_path / "nope"), "--input", str(tmp_path), "--out", str(tmp_path / "o")]
    assert main(args) == 1
    assert "--model" in caplog.records[-1].getMessage() and "nope" in caplog.records[-1].getMessage()
