"""Training through the real command line, in subprocesses: a NaN stop and a SIGKILL-and-resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import torch

from semunet_monai.engines.checkpoint import load_checkpoint


def _cli(args, **kwargs):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return [sys.executable, "-m", "semunet_monai", *args], env


def _write_config(path, demo_dir, **train):
    lines = ["data:", f"  demo_dir: {demo_dir}", "train:", "  threads: 1"] + [f"  {k}: {v}" for k, v in train.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_nan_loss_exits_non_zero_and_saves_nothing(demo_dir, tmp_path):
    config = _write_config(tmp_path / "nan.yaml", demo_dir, lr="1.0e+30", epochs=3)
    cmd, env = _cli(
        [
            "train",
            "--demo",
            "--preset",
            "tiny",
            "--method",
            "baseline",
            "--config",
            str(config),
            "--out",
            str(tmp_path / "run"),
            "--no-progress",
        ]
    )
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "non-finite training loss" in proc.stderr
    assert not (tmp_path / "run" / "model.pt").exists()
    assert not list((tmp_path / "run").rglob("*.pt"))


def test_resume_after_sigkill_matches_an_uninterrupted_run(demo_dir, tmp_path):
    config = _write_config(tmp_path / "c.yaml", demo_dir, epochs=24, finetune_epochs=2, val_every=4)
    common = ["train", "--demo", "--preset", "tiny", "--method", "semunet", "--config", str(config), "--no-progress"]

    cmd, env = _cli([*common, "--out", str(tmp_path / "full")])
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=600)

    cmd, env = _cli([*common, "--out", str(tmp_path / "killed")])
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest = tmp_path / "killed" / "phases" / "0_joint" / "latest.pt"
    deadline = time.time() + 300
    killed_at = None
    while time.time() < deadline and proc.poll() is None:
        if latest.is_file():
            try:
                epoch = int(load_checkpoint(latest)["meta"]["epoch"])
            except Exception:  # noqa: BLE001 - being replaced right now; look again
                epoch = 0
            if epoch >= 6:
                proc.send_signal(signal.SIGKILL)
                killed_at = epoch
                break
        time.sleep(0.05)
    proc.wait(timeout=60)
    assert killed_at is not None, "the run ended before it could be killed"
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed" / "model.pt").exists()

    cmd, env = _cli([*common, "--out", str(tmp_path / "killed"), "--resume"])
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resumed phase joint" in done.stderr

    a = load_checkpoint(tmp_path / "full" / "model.pt")
    b = load_checkpoint(tmp_path / "killed" / "model.pt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_with_more_epochs_extends_the_run_and_refuses_what_cannot_be_extended(demo_dir, tmp_path):
    """A finished 1 + 1 epoch run: --resume --finetune-epochs 3 continues the last phase to epoch 3; then
    --resume --epochs 2 is refused (stage 2 started from the frozen mask), as is another setting, naming it."""
    from semunet_monai.config import load_config
    from semunet_monai.engines.workflow import train

    config = _write_config(tmp_path / "c.yaml", demo_dir)
    run = tmp_path / "run"
    overrides = {
        "data": {"demo_dir": str(demo_dir)},
        "train": {"threads": 1, "method": "semunet", "epochs": 1, "finetune_epochs": 1},
    }
    train(load_config("tiny", overrides=overrides), run, progress=False)
    common = ["train", "--demo", "--preset", "tiny", "--method", "semunet", "--config", str(config), "--no-progress"]
    common += ["--out", str(run), "--resume", "--epochs", "1"]
    cmd, env = _cli([*common, "--finetune-epochs", "3"])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    state = load_checkpoint(run / "phases" / "1_finetune" / "latest.pt")
    assert state["meta"]["epoch"] == 3 and state["trainer"]["max_epochs"] == 3
    assert "finetune_epochs: 3" in (run / "config.yaml").read_text()

    cmd, env = _cli([*common[:-1], "2", "--finetune-epochs", "3"])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "train.epochs: phase 'joint' finished its 1 epochs and phase 'finetune' has started" in proc.stderr
    assert "learned mask is frozen" in proc.stderr and "Traceback" not in proc.stderr

    cmd, env = _cli([*common, "--finetune-epochs", "3", "--rate", "0.2"])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "sampling.rate: 0.1 saved, 0.2 now" in proc.stderr
