"""A run's schedule as config data (``train.schedule``, the bundle's ``schedule`` id and its method overlays):
checked against the method's structure, and the same phases as the method's own when it says so."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from semunet_monai.config import load_config
from semunet_monai.engines.methods import METHODS, config_phases, get_method, schedule_phases

REPO = Path(__file__).resolve().parents[2]


def _as_dicts(phases) -> list[dict]:
    return [{**dataclasses.asdict(p), "trainable": list(p.trainable)} for p in phases]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_each_method_overlay_spells_out_the_methods_own_phases(name):
    overlay = json.loads((REPO / "bundle" / "configs" / "methods" / f"{name}.json").read_text())
    assert overlay["method"] == name
    assert schedule_phases(get_method(name), overlay["schedule"]) == METHODS[name].phases


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", ["loupe_seg", "liu"])
def test_a_layered_method_overlay_sets_the_experiments_method_and_schedule(name, tmp_path, monkeypatch):
    from monai.bundle import ConfigParser

    monkeypatch.chdir(tmp_path)
    parser = ConfigParser()
    parser.read_config(
        [REPO / "bundle" / "configs" / "train.json", REPO / "bundle" / "configs" / "methods" / f"{name}.json"]
    )
    parser["preset"] = "tiny"
    config = parser.get_parsed_content("experiment")
    assert config.train.method == name and config_phases(config) == METHODS[name].phases
    assert [p["name"] for p in config.train.schedule] == [p.name for p in METHODS[name].phases]


def test_a_custom_schedule_is_the_runs_phases():
    semunet = _as_dicts(METHODS["semunet"].phases)
    segtune = {
        "name": "segtune",
        "length": "finetune_epochs",
        "trainable": ["seg"],
        "recon_weight": 0.0,
        "seg_weight": 1,
    }
    config = load_config("tiny", overrides={"train": {"schedule": [*semunet, segtune]}})
    assert [p.name for p in config_phases(config)] == ["joint", "finetune", "segtune"]
    assert config_phases(config)[2].key_metric() == "mean_dice" and config_phases(config)[2].trainable == ("seg",)
    assert config_phases(load_config("tiny")) == METHODS["semunet"].phases  # null: the method's own


def _phase(**kw) -> dict:
    return {"name": "p", "length": "epochs", "trainable": ["recon"], "recon_weight": 1.0, "seg_weight": 0.0, **kw}


@pytest.mark.parametrize(
    "method, schedule, match",
    [
        ("semunet", [], "non-empty list"),
        (
            "semunet",
            [_phase(trainable=["sampler"], freeze_mask=True), _phase(name="q", trainable=["sampler"])],
            "after the learned mask was frozen",
        ),
        ("semunet", [_phase(trainable=["sampler", "recon"])], "one phase must freeze it"),
        (
            "loupe",
            [_phase(trainable=["seg"], freeze_mask=True)],
            r"trains \['seg'\], which method 'loupe' does not have",
        ),
        ("loupe", [_phase(seg_weight="lam", freeze_mask=True)], "a segmentation term needs a SegNet"),
        ("baseline", [_phase(freeze_mask=True)], "freeze_mask applies to a learned mask"),
        ("liu", [_phase(input="full")], "a fully sampled input trains SegNet only"),
        ("baseline", [_phase(), _phase()], "phase names must be unique"),
        ("baseline", [_phase(length="forever")], r"train.schedule\[0\].length must be one of"),
        ("baseline", [_phase(epochs=3)], r"train.schedule\[0\]: unknown phase field\(s\) \['epochs'\]"),
        ("baseline", [_phase(recon_weight=-1)], "recon_weight must be a non-negative number"),
        ("baseline", [{"name": "p"}], "missing phase field"),
    ],
)
def test_a_schedule_outside_the_methods_structure_is_refused_naming_the_entry(method, schedule, match):
    with pytest.raises(ValueError, match=match):
        schedule_phases(get_method(method), schedule)


def test_the_cli_refuses_a_bad_schedule_in_one_line(tmp_path):
    import subprocess
    import sys

    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"train": {"schedule": [_phase(trainable=["sampler", "recon", "seg"])]}}))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "semunet_monai",
            "train",
            "--demo",
            "--preset",
            "tiny",
            "--config",
            str(path),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert "train.schedule: method 'semunet' learns its mask: one phase must freeze it" in run.stderr
    assert not (tmp_path / "o").exists()
