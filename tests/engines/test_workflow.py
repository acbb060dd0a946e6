from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch

from semunet_monai.engines.checkpoint import CheckpointError, load_checkpoint
from semunet_monai.engines.methods import METHODS
from semunet_monai.engines.workflow import load_trained_model, train
from semunet_monai.sampling.io import load_mask

from .conftest import tiny

EPOCHS = 6


def _rows(run_dir, phase):
    return [r for r in json.loads((run_dir / "metrics.json").read_text()) if r["phase"] == phase]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_method_trains_and_its_loss_goes_down(method, demo_dir, tmp_path):
    config = tiny(demo_dir, train={"method": method, "epochs": EPOCHS, "finetune_epochs": 2, "lr": 3e-3})
    results = train(config, tmp_path / "run", progress=False)
    first_phase = next(
        iter(dict.fromkeys(r["phase"] for r in json.loads((tmp_path / "run" / "metrics.json").read_text())))
    )
    rows = _rows(tmp_path / "run", first_phase)
    assert len(rows) == METHODS[method].phases[0].num_epochs(EPOCHS, 2)
    assert rows[-1]["train_loss"] < rows[0]["train_loss"], [r["train_loss"] for r in rows]
    assert np.isfinite(results["mean"]["psnr"]) and 0 <= results["mean"]["ssim"] <= 1
    has_seg = method != "loupe"
    assert ("mean_dice" in results["mean"]) == has_seg
    assert (tmp_path / "run" / "model.pt").is_file() and (tmp_path / "run" / "test_metrics.csv").is_file()
    assert (tmp_path / "run" / "mask" / "mask.npy").is_file() == (method != "fullysampled")
    geometry = json.loads((tmp_path / "run" / "geometry.json").read_text())  # what inference resamples scans to
    image = nib.load(str(next(demo_dir.rglob("T1.nii.gz"))))
    assert geometry["matrix"] == [config.data.spatial_size] * 2 and geometry["modality"] == "T1"
    np.testing.assert_allclose(geometry["spacing"], image.header.get_zooms()[:3], rtol=1e-5)
    _assert_frozen_modules_unchanged(method, tmp_path / "run")


def _assert_frozen_modules_unchanged(method, run_dir):
    """From one phase to the next, every tensor outside the phase's trainable modules stays exactly the same (Liu's
    SegNet while its ReconNet trains, LOUPE-Seg's mask and ReconNet while its SegNet trains, ...)."""
    phases = METHODS[method].phases
    states = [
        load_checkpoint(run_dir / "phases" / f"{i}_{p.name}" / "final.pt")["network"] for i, p in enumerate(phases)
    ]
    for phase, before, after in zip(phases[1:], states, states[1:]):
        frozen = [k for k in after if k in before and k.split(".")[0] not in phase.trainable]
        if method in ("loupe_seg", "liu", "mdrecon"):  # a whole network is frozen in their second/last phase
            assert any(k.startswith(("recon.", "seg.")) for k in frozen), (method, phase.name)
        for key in frozen:
            assert torch.equal(before[key], after[key]), (method, phase.name, key)
        trained = [k for k in after if k in before and k.split(".")[0] in phase.trainable]
        assert any(not torch.equal(before[k], after[k]) for k in trained), (method, phase.name)
    # one model-selection rule: with validation subjects, every phase ends on its best validation checkpoint
    for i, (phase, state) in enumerate(zip(phases, states)):
        best = load_checkpoint(run_dir / "phases" / f"{i}_{phase.name}" / "best.pt")["network"]
        assert all(torch.equal(best[k], state[k]) for k in best if torch.is_tensor(best[k])), (method, phase.name)


def test_semunet_stage_two_keeps_an_exact_budget_mask(demo_dir, tmp_path):
    config = tiny(demo_dir, train={"method": "semunet", "epochs": 3, "finetune_epochs": 3})
    train(config, tmp_path / "run", progress=False)
    run = tmp_path / "run"
    mask, meta = load_mask(run / "mask")
    h, w = mask.shape
    assert int(mask.sum()) == round(config.sampling.rate * h * w) == meta["n"]
    # the stage-1 result, booleanized, is the mask every stage-2 checkpoint holds: it did not change
    joint = load_checkpoint(run / "phases" / "0_joint" / "final.pt")["network"]
    p = torch.sigmoid(config.sampling.slope_prob * joint["sampler.logits"])
    assert "sampler.logits" not in load_checkpoint(run / "phases" / "1_finetune" / "final.pt")["network"]
    for name in ("latest.pt", "final.pt"):
        state = load_checkpoint(run / "phases" / "1_finetune" / name)["network"]
        assert torch.equal(state["operator.mask"].bool(), mask)
    assert float(p[mask].min()) >= float(p[~mask].max()) - 1e-6 or config.sampling.acs is not None
    model, _ = load_trained_model(run)
    assert torch.equal(model.operator.mask.bool(), mask)


def test_run_folder_contents(demo_dir, tmp_path):
    train(tiny(demo_dir, train={"epochs": 2, "finetune_epochs": 1}), tmp_path / "run", progress=False)
    run = tmp_path / "run"
    for name in ("config.yaml", "metrics.csv", "metrics.json", "model.pt", "test_metrics.json"):
        assert (run / name).is_file(), name
    for suffix in ("npy", "nii.gz", "png", "json"):
        assert (run / "mask" / f"mask.{suffix}").is_file()
    assert any(p.name.startswith("events.out.tfevents") for p in (run / "tb").iterdir())
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    for column in ("phase", "epoch", "train_loss", "psnr", "ssim", "mean_dice", "mask_rate", "mask_relaxed_rate"):
        assert column in header
    assert len((run / "metrics.csv").read_text().splitlines()) == 1 + 2 + 1
    # every checkpoint holds only tensors and plain values: weights_only loading works
    for path in run.rglob("*.pt"):
        load_checkpoint(path)


def test_refuses_to_reuse_a_run_folder(demo_dir, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "something").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        train(tiny(demo_dir), tmp_path / "run", progress=False)


def test_resume_checks_dataset_size_and_epochs(demo_dir, tmp_path):
    run = tmp_path / "run"
    config = tiny(demo_dir, train={"method": "baseline", "epochs": 3, "finetune_epochs": 1})
    train(config, run, progress=False)
    (run / "phases" / "0_joint" / "final.pt").unlink()
    with pytest.raises(ValueError, match=r"train.epochs: phase 'joint' .* 3 epochs and has started; .* shortened to 2"):
        train(tiny(demo_dir, train={"method": "baseline", "epochs": 2, "finetune_epochs": 1}), run, resume=True)
    latest = run / "phases" / "0_joint" / "latest.pt"
    ckpt = load_checkpoint(latest)
    ckpt["meta"]["dataset_len"] += 5
    torch.save(ckpt, latest)
    with pytest.raises(CheckpointError, match="training slices"):
        train(config, run, resume=True, progress=False)


def test_resume_may_move_a_run_to_another_device_but_not_change_what_it_trains(demo_dir, tmp_path):
    run = tmp_path / "run"
    budget = {"method": "baseline", "epochs": 1, "finetune_epochs": 1}
    train(tiny(demo_dir, train={**budget, "device": "cpu"}), run, progress=False)
    # 'auto' names another device (here the same CPU): a worker of `reproduce --workers` may resume a cell elsewhere
    more = tiny(demo_dir, train={**budget, "finetune_epochs": 2, "device": "auto", "threads": 2})
    train(more, run, resume=True, progress=False)
    rows = json.loads((run / "metrics.json").read_text())
    assert [r["phase"] for r in rows].count("finetune") == 2  # the resumed run trained on
    with pytest.raises(ValueError, match=r"train.lr: .* saved, .* now"):
        train(tiny(demo_dir, train={**budget, "finetune_epochs": 3, "lr": 0.5}), run, resume=True, progress=False)


def test_a_run_saved_with_train_amp_resumes_with_the_same_precision(demo_dir, tmp_path):
    run = tmp_path / "run"
    config = tiny(demo_dir, train={"method": "baseline", "epochs": 1, "finetune_epochs": 1, "precision": "fp32"})
    train(config, run, progress=False)
    path = run / "config.yaml"
    text = path.read_text()
    assert "precision: fp32" in text
    path.write_text(text.replace("precision: fp32", "amp: false"))  # as written before train.precision
    train(config, run, resume=True, progress=False)
    auto = tiny(demo_dir, train={"method": "baseline", "epochs": 1, "finetune_epochs": 1, "precision": "auto"})
    with pytest.raises(ValueError, match=r"other settings \(train.precision: 'fp32' saved, 'auto' now\)"):
        train(auto, run, resume=True, progress=False)


def test_corrupt_checkpoint_names_the_file_and_the_earlier_one(demo_dir, tmp_path):
    run = tmp_path / "run"
    config = tiny(demo_dir, train={"method": "baseline", "epochs": 3, "finetune_epochs": 1})
    train(config, run, progress=False)
    (run / "phases" / "0_joint" / "final.pt").unlink()
    latest = run / "phases" / "0_joint" / "latest.pt"
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as err:
        train(config, run, resume=True, progress=False)
    assert str(latest) in str(err.value) and "latest.prev.pt" in str(err.value)


def test_resume_refuses_fewer_epochs_than_saved(demo_dir, tmp_path):
    run = tmp_path / "run"
    config = tiny(demo_dir, train={"method": "fullysampled", "epochs": 4, "finetune_epochs": 1})
    train(config, run, progress=False)  # its one phase runs epochs + finetune_epochs = 5 epochs
    (run / "phases" / "0_seg" / "final.pt").unlink()
    (run / "config.yaml").unlink()  # allow the changed setting, to reach the checkpoint check
    with pytest.raises(CheckpointError, match="saved at epoch 5 .* beyond the requested 3 epochs"):
        fewer = tiny(demo_dir, train={"method": "fullysampled", "epochs": 2, "finetune_epochs": 1})
        train(fewer, run, resume=True, progress=False)


def test_evaluate_command_writes_per_subject_and_mean_tables(demo_dir, tmp_path):
    from semunet_monai.cli import main

    run = tmp_path / "run"
    train(tiny(demo_dir, train={"method": "baseline", "epochs": 1, "finetune_epochs": 1}), run, progress=False)
    assert main(["evaluate", "--run", str(run), "--data", str(demo_dir), "--out", str(tmp_path / "ev")]) == 0
    result = json.loads((tmp_path / "ev.json").read_text())
    assert sorted(result["per_subject"]) == ["1", "2", "3"]
    means = [result["per_subject"][s]["psnr"] for s in "123"]
    assert abs(result["mean"]["psnr"] - sum(means) / 3) < 1e-6
    lines = (tmp_path / "ev.csv").read_text().splitlines()
    assert len(lines) == 1 + 3 + 1 and lines[-1].startswith("mean,")
    assert main(["evaluate", "--run", str(run), "--data", str(demo_dir), "--out", str(tmp_path / "ev")]) == 1
    assert main(["evaluate", "--run", str(tmp_path / "nope"), "--data", str(demo_dir)]) == 1


def test_bad_settings_and_bad_data_fail_before_anything_is_written(demo_dir, tmp_path):
    with pytest.raises(ValueError, match="'sampling.rate'"):
        train(tiny(demo_dir, sampling={"rate": 1.5}), tmp_path / "a", progress=False)
    with pytest.raises(ValueError, match="sampling.mask_kind"):
        train(tiny(demo_dir, sampling={"mask_kind": "spiral"}), tmp_path / "b", progress=False)
    with pytest.raises(ValueError, match="not a dataset"):
        train(tiny(demo_dir, data={"root": str(tmp_path / "nothing")}), tmp_path / "c", progress=False)
    with pytest.raises(ValueError, match="data.demo_generator must be one of"):
        train(tiny(demo_dir, data={"demo_generator": "brainweb"}), tmp_path / "d", progress=False)
    assert not any((tmp_path / name).exists() for name in "abcd")


def test_demo_dataset_is_regenerated_for_another_grid(tmp_path):
    from semunet_monai.config import load_config
    from semunet_monai.engines.rundata import ensure_demo_dataset

    for size in (48, 40, 48):
        config = load_config("tiny", overrides={"data": {"demo_dir": str(tmp_path / "demo"), "spatial_size": size}})
        root = ensure_demo_dataset(config)
        assert json.loads((root / "dataset.json").read_text())["shape"][:2] == [size, size]


def test_demo_dataset_is_regenerated_when_made_by_other_code(tmp_path, monkeypatch, caplog):
    from semunet_monai.config import load_config
    from semunet_monai.data import demo
    from semunet_monai.engines.rundata import ensure_demo_dataset

    config = load_config("tiny", overrides={"data": {"demo_dir": str(tmp_path / "demo")}})
    root = ensure_demo_dataset(config)
    info = json.loads((root / "dataset.json").read_text())
    calls = []
    real = demo.write_demo_dataset
    monkeypatch.setattr(demo, "write_demo_dataset", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert ensure_demo_dataset(config) == root and not calls  # same code: kept
    (root / "dataset.json").write_text(json.dumps({**info, "generator_fingerprint": "0" * 16}))
    with caplog.at_level("INFO", logger="semunet_monai.engines.rundata"):
        ensure_demo_dataset(config)
    assert calls == [1] and "other settings or code (generator_fingerprint)" in caplog.text
    assert json.loads((root / "dataset.json").read_text()) == info  # the same deterministic data again


def test_zero_finetune_epochs_skip_fine_tuning_but_freeze_the_mask(demo_dir, tmp_path):
    config = tiny(demo_dir, train={"method": "semunet", "epochs": 1, "finetune_epochs": 0})
    train(config, tmp_path / "run", progress=False)
    rows = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {r["phase"] for r in rows} == {"joint"}  # no fine-tuning epoch ran
    mask = np.load(tmp_path / "run" / "mask" / "mask.npy")
    assert mask.dtype == bool and int(mask.sum()) == round(config.sampling.rate * mask.size)
    with pytest.raises(ValueError, match="train.finetune_epochs must be 0"):
        train(tiny(demo_dir, train={"finetune_epochs": -1}), tmp_path / "run2", progress=False)


def test_resume_after_skipped_fine_tuning_can_extend_the_first_stage(demo_dir, tmp_path):
    """1 + 0 epochs (MONAI Label's max_epochs 1) froze the mask without fine-tuning: --resume with 2 + 1 trains
    stage 1 on to epoch 2, freezes the mask again and fine-tunes for 1 epoch."""
    run = tmp_path / "run"
    train(tiny(demo_dir, train={"method": "semunet", "epochs": 1, "finetune_epochs": 0}), run, progress=False)
    train(
        tiny(demo_dir, train={"method": "semunet", "epochs": 2, "finetune_epochs": 1}), run, resume=True, progress=False
    )
    rows = json.loads((run / "metrics.json").read_text())
    assert [(r["phase"], r["epoch"]) for r in rows] == [("joint", 1), ("joint", 2), ("finetune", 1)]
