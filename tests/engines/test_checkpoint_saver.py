"""Ignite's Checkpoint with the replacing saver: a fixed-name checkpoint is never missing, even when a save fails,
and a best checkpoint restored from its record is only replaced by a better score."""

import pytest
import torch
from ignite.engine import Engine, Events, State
from ignite.handlers import Checkpoint

from semunet_monai.engines.checkpoint import ReplacingDiskSaver, StateRecord, load_checkpoint


def _engine(step: int) -> Engine:
    engine = Engine(lambda e, b: None)
    engine.state = State()
    engine.state.iteration = engine.state.epoch = step
    engine.last_event_name = Events.EPOCH_COMPLETED
    engine.state.metrics = {}
    return engine


def test_latest_checkpoint_is_replaced_and_kept_when_a_save_fails(tmp_path, monkeypatch):
    net = torch.nn.Linear(2, 2)
    latest = Checkpoint({"network": net, "meta": StateRecord(lambda: {"n": 1})}, ReplacingDiskSaver(tmp_path, True))
    latest.filename_pattern = "latest.pt"
    with torch.no_grad():
        net.weight.fill_(1.0)
    latest(_engine(1))
    with torch.no_grad():
        net.weight.fill_(2.0)
    latest(_engine(2))
    assert torch.all(load_checkpoint(tmp_path / "latest.pt")["network"]["weight"] == 2.0)
    assert torch.all(load_checkpoint(tmp_path / "latest.prev.pt")["network"]["weight"] == 1.0)

    def broken_save(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with torch.no_grad():
        net.weight.fill_(3.0)
    with pytest.raises(OSError, match="disk full"):
        latest(_engine(3))
    monkeypatch.undo()
    assert torch.all(load_checkpoint(tmp_path / "latest.pt")["network"]["weight"] == 2.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.prev.pt", "latest.pt"]  # no temporary left


def test_a_restored_best_checkpoint_is_only_replaced_by_a_better_score(tmp_path):
    net = torch.nn.Linear(2, 2)

    def best_checkpoint() -> Checkpoint:
        return Checkpoint(
            {"network": net},
            ReplacingDiskSaver(tmp_path),
            filename_pattern="best.pt",
            score_function=lambda e: e.state.metrics["key"],
            n_saved=1,
        )

    def score(checkpoint: Checkpoint, value: float, weight: float, step: int) -> None:
        engine = _engine(step)
        engine.state.metrics["key"] = value
        with torch.no_grad():
            net.weight.fill_(weight)
        checkpoint(engine)

    first = best_checkpoint()
    score(first, 0.8, 1.0, 1)
    score(first, 0.5, 2.0, 2)  # worse: not saved
    assert torch.all(load_checkpoint(tmp_path / "best.pt")["weight"] == 1.0)
    record = first.state_dict()

    resumed = best_checkpoint()  # a resumed phase: a new Checkpoint with the saved record
    resumed.load_state_dict(record)
    score(resumed, 0.7, 3.0, 3)
    assert torch.all(load_checkpoint(tmp_path / "best.pt")["weight"] == 1.0)
    score(resumed, 0.9, 4.0, 4)
    assert torch.all(load_checkpoint(tmp_path / "best.pt")["weight"] == 4.0)

    fresh = best_checkpoint()  # without the record, the worse score would have replaced it
    score(fresh, 0.1, 5.0, 5)
    assert torch.all(load_checkpoint(tmp_path / "best.pt")["weight"] == 5.0)


def test_a_resumed_phase_takes_its_best_record_from_best_pt(demo_dir, tmp_path):
    """best.pt can be newer than latest.pt's record (a last validation after the last save): resuming reads the
    score best.pt holds, so a worse later score does not replace it."""
    from semunet_monai.engines.builders import build_model
    from semunet_monai.engines.methods import method_phases
    from semunet_monai.engines.phase import BEST, LATEST, RunContext, build_phase, resume_phase
    from semunet_monai.engines.rundata import prepare_data
    from semunet_monai.engines.workflow import train
    from semunet_monai.losses import JointLoss

    from .conftest import tiny

    config = tiny(demo_dir)
    train(config, tmp_path / "run", progress=False)
    folder = tmp_path / "run" / "phases" / "0_joint"
    saved = torch.load(folder / BEST, weights_only=True)
    saved["meta"]["metric"] = 123.0  # a score no later validation beats
    torch.save(saved, folder / BEST)
    latest = torch.load(folder / LATEST, weights_only=True)
    latest["best"] = {"_saved": [(-1.0, BEST)]}  # latest.pt's older, lower record
    torch.save(latest, folder / LATEST)

    data = prepare_data(config)
    model = build_model(config, data.scheme.num_classes, tuple(data.train[0]["image"].shape[-2:]))
    ctx = RunContext(config, model, data, JointLoss(), torch.device("cpu"), tmp_path / "run", None, resume=True)
    engines = build_phase(ctx, method_phases(config.train.method)[0], 0)
    resume_phase(ctx, engines)
    assert engines.best.state_dict()["_saved"][0][0] == 123.0
