from __future__ import annotations

import pytest

from semunet_monai.bundle import build_experiment as experiment


def test_experiment_routes_flat_overrides():
    c = experiment("tiny", dataset_dir="/data/x", device="cpu", method="baseline", rate=0.05, epochs=None)
    assert c.data.root == "/data/x" and c.train.device == "cpu" and c.train.method == "baseline"
    assert c.sampling.rate == 0.05 and c.train.epochs == 1  # None keeps the preset's value
    with pytest.raises(ValueError, match="'epoch' is not known"):
        experiment("tiny", epoch=3)


def test_experiment_from_given_items_takes_class_indices_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train = [{"image": f"/data/a/{i}/T1.nii.gz", "label": f"/data/a/{i}/seg.nii.gz"} for i in (1, 2)]
    c = experiment("tiny", train_items=train, max_epochs=3)
    assert (c.train.epochs, c.train.finetune_epochs) == (2, 1)
    assert c.data.label_scheme == {i: i for i in range(8)}  # MONAI Label stores labels as class indices
    assert c.data.root is None and not any(tmp_path.iterdir())  # parsing the config writes no datalist


@pytest.mark.parametrize("total, split", [(1, (1, 0)), (2, (2, 0)), (4, (3, 1)), (80, (60, 20)), (10, (8, 2))])
def test_max_epochs_bounds_the_whole_run_in_the_presets_proportion(total, split):
    """MONAI Label's train#trainer#max_epochs: cpu trains 60 + 20, so the total is split 3:1."""
    c = experiment("cpu", max_epochs=total)
    assert (c.train.epochs, c.train.finetune_epochs) == split and sum(split) == total
    with pytest.raises(ValueError, match="max_epochs"):
        experiment("cpu", max_epochs=0)


@pytest.mark.parametrize("method", ["loupe_seg", "liu", "mdrecon", "fullysampled"])
def test_max_epochs_bounds_methods_with_segnet_only_phases(method):
    from semunet_monai.engines.methods import method_phases

    c = experiment("cpu", method=method, max_epochs=10)
    run = sum(p.num_epochs(c.train.epochs, c.train.finetune_epochs) for p in method_phases(method))
    assert run == 10 and c.train.epochs >= 1


def test_a_bad_setting_ends_the_bundle_in_one_line_naming_it(caplog):
    """train.json's experiment node checks the settings before any network is built: one ERROR line, exit 1."""
    from semunet_monai.bundle import experiment as checked

    for kwargs, name in (
        ({"physics": "multicoil", "coils": 0}, "physics.coils"),
        ({"physics": "phase"}, "physics.mode"),
    ):
        caplog.clear()
        with pytest.raises(SystemExit) as stop:
            checked("tiny", **kwargs)
        assert stop.value.code == 1
        (line,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert line.startswith(name) and "\n" not in line
    assert checked("tiny", physics="complex").physics.mode == "complex"
    with pytest.raises(ValueError, match="physics.coils"):
        checked("tiny", physics="multicoil", coils=0, debug=True)  # --debug keeps the exception
