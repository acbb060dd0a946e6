"""The bundle's input node (``inputs`` in inference.json), in-process: model-zoo ``--datalist``, one ERROR line and
``SystemExit(1)`` for bad input (MONAI's config machinery does not wrap SystemExit), ``debug`` keeps the error."""

from __future__ import annotations

import logging

import pytest

from semunet_monai.inference import bundle_inputs

from .conftest import smooth_volume, write_scan


def test_datalist_of_paths_or_entries_and_input_dir_agree(semunet_run_and_bundle, tmp_path):
    _, bundle = semunet_run_and_bundle
    scan = write_scan(tmp_path / "in" / "T1.nii.gz", smooth_volume())
    models = bundle / "models"
    by_dir = bundle_inputs(models, tmp_path / "o1", input_dir=str(tmp_path / "in"))
    by_paths = bundle_inputs(models, tmp_path / "o1", datalist=[str(scan)])
    by_entries = bundle_inputs(models, tmp_path / "o1", datalist=[{"image": str(scan)}])
    assert by_dir == by_paths == by_entries
    assert [i["image"] for i in by_dir["image"]] == [str(scan)] and by_dir["kspace"] == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "no input: pass --input_dir"),
        ({"datalist": [3]}, "datalist: expected a list of scan paths"),
        ({"input_dir": "EMPTY"}, "nothing to process in"),
    ],
)
def test_bad_input_ends_in_one_error_line(semunet_run_and_bundle, tmp_path, caplog, kwargs, match):
    _, bundle = semunet_run_and_bundle
    (tmp_path / "empty").mkdir()
    kwargs = {k: (str(tmp_path / "empty") if v == "EMPTY" else v) for k, v in kwargs.items()}
    with caplog.at_level(logging.INFO), pytest.raises(SystemExit) as stop:
        bundle_inputs(bundle / "models", tmp_path / "out", **kwargs)
    assert stop.value.code == 1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None
    assert errors[0].getMessage().startswith(match) or match in errors[0].getMessage()
    with pytest.raises(ValueError, match=match):
        bundle_inputs(bundle / "models", tmp_path / "out", debug=True, **kwargs)


def test_an_untrained_bundle_is_named(tmp_path, caplog):
    write_scan(tmp_path / "in" / "T1.nii.gz", smooth_volume())
    with pytest.raises(SystemExit):
        bundle_inputs(tmp_path / "models", tmp_path / "out", input_dir=str(tmp_path / "in"))
    assert (
        "no trained model" in caplog.records[-1].getMessage()
        and str(tmp_path / "models") in caplog.records[-1].getMessage()
    )
