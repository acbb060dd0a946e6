"""train.json wires the objects it trains: overriding ``network_def#...``, ``optimizer#lr`` and
``train#trainer#max_epochs`` by id changes the run, and inference rebuilds the changed network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from monai.bundle import ConfigWorkflow

from semunet_monai.bundle import load_bundle_network
from semunet_monai.engines.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]


def _workflow(bundle: Path, **overrides) -> ConfigWorkflow:
    workflow = ConfigWorkflow(
        config_file=str(bundle / "configs" / "train.json"),
        meta_file=str(bundle / "configs" / "metadata.json"),
        logging_file=None,
        workflow_type="train",
        bundle_root=str(bundle),
        preset="tiny",
        **overrides,
    )
    workflow.initialize()
    return workflow


@pytest.fixture
def bundle(tmp_path, demo_dir, monkeypatch):
    root = tmp_path / "bundle"
    shutil.copytree(
        REPO / "bundle", root, ignore=shutil.ignore_patterns("runs", "eval", "*.pt", "*.npy", "mask*", "*.json.bak")
    )
    for name in ("experiment.json", "geometry.json"):
        (root / "models" / name).unlink(missing_ok=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEMUNET_MONAI_CACHE", str(demo_dir.parent))
    return root


class EpochLog:
    """A handler for ``train#handlers``/``validate#handlers``: records which engine finished which epoch."""

    seen: list[tuple[str, int]] = []

    def attach(self, engine) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine) -> None:
        EpochLog.seen.append((type(engine).__name__, int(engine.state.epoch)))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_overrides_of_network_optimizer_and_epochs_change_the_run(bundle, demo_dir):
    widths = [8, 8, 16, 32, 64, 8]
    overrides = {
        "network_def#recon#features": widths,
        "optimizer#lr": 0.005,
        "train#trainer#max_epochs": 2,
        "train#dataloader#batch_size": 3,
        "train#handlers": [{"_target_": f"{__name__}.EpochLog"}],
        "validate#handlers": [{"_target_": f"{__name__}.EpochLog"}],
    }
    EpochLog.seen.clear()
    workflow = _workflow(bundle, dataset_dir=str(demo_dir), **overrides)  # the session's tiny demo data
    workflow.run()
    (run,) = (bundle / "runs").iterdir()
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["model"]["recon_features"] == widths and saved["model"]["seg_features"] != widths
    assert saved["train"]["lr"] == 0.005 and (saved["train"]["epochs"], saved["train"]["finetune_epochs"]) == (1, 1)
    # the handlers nodes are attached to both phases' trainers and evaluators: each trains and validates 1 epoch
    assert sorted(EpochLog.seen) == [("SemuNetEvaluator", 1)] * 2 + [("SemuNetTrainer", 1)] * 2
    # the loader node's batch size trains the run and is recorded (resume checks it)
    sections = json.loads((run / "datalist.json").read_text())
    slices = len(workflow.parser.get_parsed_content("train#dataset"))
    trainer = load_checkpoint(run / "phases" / "0_joint" / "latest.pt")["trainer"]
    assert saved["train"]["batch_size"] == 3 and trainer["epoch_length"] == -(-slices // 3)
    assert {it["subject"] for it in sections["validation"]} and not (
        {it["subject"] for it in sections["training"]} & {it["subject"] for it in sections["validation"]}
    )
    state = torch.load(bundle / "models" / "model.pt", weights_only=True)
    assert state["model.recon.unet.conv_0.conv_0.conv.weight"].shape[0] == 8
    groups = load_checkpoint(run / "phases" / "0_joint" / "latest.pt")["optimizer"]["param_groups"]
    assert {g["name"]: g["lr"] for g in groups}["networks"] == 0.005
    network = load_bundle_network(bundle / "models")  # inference rebuilds the changed network from experiment.json
    assert network.model.recon.features == tuple(widths)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_network_setting_the_experiment_cannot_record_is_refused(bundle, demo_dir, capsys):
    workflow = _workflow(bundle, dataset_dir=str(demo_dir), **{"network_def#seg#act": "relu"})
    with pytest.raises(SystemExit) as stop:
        workflow.run()
    assert stop.value.code == 1
    out = capsys.readouterr()
    (error,) = [line for line in (out.out + out.err).splitlines() if " - ERROR - " in line]  # the bundle's logging.conf
    assert "ERROR - network_def: the network differs from what the recorded experiment rebuilds" in error
    assert not (bundle / "models" / "model.pt").exists()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_physics_ids_and_the_varnet_node_train_and_inference_rebuilds_them(bundle, demo_dir, tmp_path):
    """``--physics multicoil --coils 3`` and a config file choosing ``model.recon: varnet``: the network_def#varnet
    node builds the VarNet, an override of its cascades is recorded, and inference rebuilds the same network."""
    config = tmp_path / "varnet.yaml"
    config.write_text("model:\n  recon: varnet\n  varnet_cascades: 1\n")
    overrides = {"physics": "multicoil", "coils": 3, "network_def#varnet#cascades": 2, "train#trainer#max_epochs": 1}
    workflow = _workflow(bundle, dataset_dir=str(demo_dir), experiment_file=str(config), **overrides)
    assert type(workflow.parser.get_parsed_content("network").model.recon).__name__ == "VarNetRecon"
    workflow.run()
    (run,) = (bundle / "runs").iterdir()
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["physics"]["mode"] == "multicoil" and saved["physics"]["coils"] == 3
    assert saved["model"]["recon"] == "varnet" and saved["model"]["varnet_cascades"] == 2
    network = load_bundle_network(bundle / "models", weights=True)
    assert len(network.model.recon.varnet.cascades) == 2
    assert network.model.operator.maps.shape[0] == 3
    seg = network(torch.rand(1, 1, *network.model.operator.mask.shape))
    assert bool(torch.isfinite(seg).all())


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_the_loss_node_is_what_trains_and_is_recorded(bundle, demo_dir, capsys):
    """``--loss#lam 0.5``: the joint phase's loss is L1 + 0.5 CE (per-epoch means, so the sum holds exactly), and the
    run records lam 0.5; a loss setting the experiment cannot record is refused in one line before training."""
    import json

    workflow = _workflow(bundle, dataset_dir=str(demo_dir), **{"loss#lam": 0.5, "train#trainer#max_epochs": 1})
    workflow.run()
    (run,) = (bundle / "runs").iterdir()
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["lam"] == 0.5
    (row,) = [r for r in json.loads((run / "metrics.json").read_text()) if r["phase"] == "joint"]
    assert row["train_loss"] == pytest.approx(row["train_loss_recon"] + 0.5 * row["train_loss_seg"], rel=1e-5)
    refused = _workflow(bundle, dataset_dir=str(demo_dir), **{"loss#recon_loss": "mse"})
    with pytest.raises(SystemExit):
        refused.run()
    out = capsys.readouterr()
    assert "ERROR - loss: the experiment records lam and seg_loss only" in out.out + out.err


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    "node_id, value, message",
    [
        ("network_def#recon#features", [16, 16], "network_def#recon: argument 'features' must be six positive"),
        ("network_def#seg#featurez", [16] * 6, "network_def#seg: BasicUNet.__init__() got an unexpected keyword"),
    ],
)
def test_a_bad_network_node_setting_ends_in_one_line_naming_its_id(bundle, demo_dir, capsys, node_id, value, message):
    """MONAI wraps an error raised while a node is instantiated in a traceback of its config machinery; the nested
    network nodes are called by network_def itself, which names the id."""
    workflow = _workflow(bundle, dataset_dir=str(demo_dir), **{node_id: value})
    with pytest.raises(SystemExit) as stop:
        workflow.run()
    assert stop.value.code == 1
    out = capsys.readouterr()
    (error,) = [line for line in (out.out + out.err).splitlines() if " - ERROR - " in line]
    assert message in error and "Traceback" not in out.out + out.err


def test_handlers_nodes_take_checkpoint_loaders_phase_handlers_and_attachable_handlers_only(tmp_path):
    from monai.handlers import CheckpointLoader, StatsHandler

    from semunet_monai.bundle import _split_handlers
    from semunet_monai.engines import phase_handlers as ph

    loader, stats = CheckpointLoader(str(tmp_path / "model.pt"), {"model": torch.nn.Linear(1, 1)}), StatsHandler()
    checks, latest = ph.LossChecks(), ph.LatestCheckpoint()
    assert _split_handlers([stats, latest, loader, checks]) == ([loader], [latest, checks], [stats])
    with pytest.raises(ValueError, match=r"validate#handlers#1: expected an Ignite or MONAI handler .*got dict"):
        _split_handlers([stats, {"_target_": "StatsHandler"}], "validate#handlers")
    # the phase handlers attach in their fixed order; the required ones cannot be left out
    ordered = ph.check_phase_handlers([latest, ph.Validation(), checks])
    assert [type(h) for h in ordered] == [ph.LossChecks, ph.Validation, ph.LatestCheckpoint]
    with pytest.raises(ValueError, match="the run needs semunet_monai.engines.phase_handlers.LatestCheckpoint"):
        ph.check_phase_handlers([checks, ph.Validation()])
    with pytest.raises(ValueError, match="Validation is listed more than once"):
        ph.check_phase_handlers([checks, latest, ph.Validation(), ph.Validation(2)])
    with pytest.raises(ValueError, match="'interval' must be a positive integer"):
        ph.Validation(0)
    defaults = json.loads((REPO / "bundle" / "configs" / "train.json").read_text())["train"]["handlers"]
    assert [h["_target_"].rsplit(".", 1)[1] for h in defaults] == [cls.__name__ for cls in ph.DEFAULT]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_the_schedule_id_sets_the_phases_the_bundle_trains(bundle, demo_dir):
    """The two-stage schedule as config data: semunet's own two phases (bundle/configs/methods/semunet.json), then a
    SegNet-only phase added by overriding ``schedule``; the run trains and records the three phases."""
    overlay = json.loads((bundle / "configs" / "methods" / "semunet.json").read_text())
    segtune = {"name": "segtune", "length": "finetune_epochs", "trainable": ["seg"], "recon_weight": 0, "seg_weight": 1}
    schedule = [*overlay["schedule"], segtune]
    workflow = _workflow(
        bundle,
        dataset_dir=str(demo_dir),
        schedule=schedule,
        epochs=1,
        finetune_epochs=1,
        **{"train#trainer#epoch_length": 2},
    )
    workflow.run()
    (run,) = (bundle / "runs").iterdir()
    rows = json.loads((run / "metrics.json").read_text())
    assert [r["phase"] for r in rows] == ["joint", "finetune", "segtune"]
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["schedule"] == schedule
    assert sorted(p.name for p in (run / "phases").iterdir()) == ["0_joint", "1_finetune", "2_segtune"]
    # the train#trainer node's own argument reaches every phase's trainer: 2 iterations an epoch
    for phase in ("0_joint", "1_finetune", "2_segtune"):
        assert load_checkpoint(run / "phases" / phase / "latest.pt")["trainer"]["epoch_length"] == 2
    # SegNet alone trained in the last phase: the ReconNet left it as the fine-tuning ended
    finetuned = load_checkpoint(run / "phases" / "1_finetune" / "final.pt")["network"]
    last = load_checkpoint(run / "phases" / "2_segtune" / "final.pt")["network"]
    assert all(torch.equal(v, last[k]) for k, v in finetuned.items() if k.startswith("recon."))
    assert any(not torch.equal(v, last[k]) for k, v in finetuned.items() if k.startswith("seg."))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_bad_trainer_evaluator_or_handlers_node_ends_in_one_line_naming_it(bundle, demo_dir, capsys):
    handlers = json.loads((bundle / "configs" / "train.json").read_text())["train"]["handlers"]
    without_latest = [h for h in handlers if not h["_target_"].endswith("LatestCheckpoint")]
    for node, override in (
        ("train#trainer", {"train#trainer#bogus": 1}),
        ("validate#evaluator", {"validate#evaluator#bogus": 1}),
        ("train#handlers", {"train#handlers": without_latest}),
        ("optimizer", {"optimizer#lrr": 0.1}),
    ):
        workflow = _workflow(bundle, dataset_dir=str(demo_dir), **override)
        with pytest.raises(SystemExit) as stop:
            workflow.run()
        assert stop.value.code == 1
        out = capsys.readouterr()
        (error,) = [line for line in (out.out + out.err).splitlines() if " - ERROR - " in line]
        assert f"ERROR - {node}: " in error and any(w in error for w in ("bogus", "LatestCheckpoint", "'lrr'"))
    assert not (bundle / "models" / "model.pt").exists()
