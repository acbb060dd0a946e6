"""Several invocations on one grid folder: cell locks, the wait for seed 0's share, and `reproduce --workers N`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import types

import pytest

from semunet_monai.cli import main
from semunet_monai.reproduce import runner
from semunet_monai.reproduce.grid import Cell, make_cells
from semunet_monai.reproduce.locks import LOCK_DIR, CellLock
from semunet_monai.reproduce.workers import worker_settings


def _config(tmp_path, demo_dir):
    path = tmp_path / "grid.yaml"
    path.write_text(f"data:\n  demo_dir: {demo_dir}\ntrain:\n  threads: 1\n")
    return path


def test_a_lock_is_held_by_one_holder_at_a_time(tmp_path):
    first, second = CellLock(tmp_path, "semunet_a10_seed0"), CellLock(tmp_path, "semunet_a10_seed0")
    assert first.acquire() and first.acquire()  # taking it again is a no-op
    assert not second.acquire() and second.held_elsewhere() and not first.held_elsewhere()
    assert "pid" in second.holder() and str(first.path.parent.name) == LOCK_DIR
    first.release()
    assert not second.held_elsewhere() and second.acquire()
    second.release()
    assert first.path.is_file()  # the file stays; only the OS lock goes


def test_a_lock_goes_with_its_process_however_it_ends(tmp_path):
    code = (
        "import sys, time; from semunet_monai.reproduce.locks import CellLock; "
        f"assert CellLock({str(tmp_path)!r}, 'c').acquire(); print('held', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        lock = CellLock(tmp_path, "c")
        assert lock.held_elsewhere() and f"pid {proc.pid}" in lock.holder()
    finally:
        proc.kill()  # SIGKILL: no clean-up code runs in it
        proc.wait()
    assert CellLock(tmp_path, "c").acquire()


def test_worker_settings_split_cores_and_gpus():
    assert worker_settings(4, None, 16) == [{"threads": 4}] * 4
    assert worker_settings(3, None, 2) == [{"threads": 1}] * 3  # never 0 threads
    assert worker_settings(2, 3, 16) == [{"threads": 3}] * 2  # the config's threads win
    assert [s["device"] for s in worker_settings(3, None, 16, gpus=2)] == ["cuda:0", "cuda:1", "cuda:0"]
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="argument 'workers' must be an integer >= 1"):
            worker_settings(bad, None, 2)


def test_a_later_seed_sweep_cell_waits_while_seed0_shares_train_elsewhere(tmp_path):
    cells = make_cells([0.1], 2, rows=["baseline_c25", "baseline_c50"])
    later = next(c for c in cells if c.seed == 1 and c.row == "baseline_c25")
    held = runner._lock(tmp_path, Cell("baseline_c50", 0.1, 0))
    assert held.acquire()
    try:
        assert runner._waits_for_seed0(later, cells, {}, tmp_path, tune_every_seed=False)
        assert not runner._waits_for_seed0(later, cells, {}, tmp_path, tune_every_seed=True)
        seed0 = next(c for c in cells if c.seed == 0 and c.row == "baseline_c25")
        assert not runner._waits_for_seed0(seed0, cells, {}, tmp_path, tune_every_seed=False)
    finally:
        held.release()
    assert not runner._waits_for_seed0(later, cells, {}, tmp_path, tune_every_seed=False)


def test_a_cell_locked_by_another_invocation_is_left_to_it(tmp_path, demo_dir, caplog):
    config, out = _config(tmp_path, demo_dir), tmp_path / "out"
    rows = ["baseline_random", "fullysampled"]
    held = runner._lock(out, Cell("baseline_random", 0.1, 0))
    assert held.path == out / LOCK_DIR / "baseline_random_a10_seed0.lock"
    assert held.acquire()
    try:
        with caplog.at_level("INFO", logger="semunet_monai.reproduce.runner"):
            results = runner.run_grid(out, [0.1], preset="tiny", rows=rows, config_file=config, report=False)
    finally:
        held.release()
    assert [c["row"] for c in results["cells"]] == ["fullysampled"]
    assert "cell baseline_random a10 seed 0 is being trained by" in caplog.text and "left to it" in caplog.text
    assert not (out / Cell("baseline_random", 0.1, 0).folder).exists()
    # the lock released, the next invocation trains it and reports both cells
    results = runner.run_grid(out, [0.1], preset="tiny", rows=rows, config_file=config, report=False)
    assert sorted(c["row"] for c in results["cells"]) == sorted(rows)


def test_a_cell_whose_holder_stopped_is_trained_after_all(tmp_path, demo_dir, monkeypatch):
    config, out = _config(tmp_path, demo_dir), tmp_path / "out"
    held = runner._lock(out, Cell("baseline_random", 0.1, 0))
    assert held.acquire()
    trained, real = [], runner.train

    def train(cfg, run_dir, **kwargs):
        trained.append(cfg.train.method)
        held.release()  # the other holder stops, its cell unfinished
        return real(cfg, run_dir, **kwargs)

    monkeypatch.setattr(runner, "train", train)
    rows = ["baseline_random", "fullysampled"]
    results = runner.run_grid(out, [0.1], preset="tiny", rows=rows, config_file=config, report=False)
    assert trained == ["fullysampled", "baseline"]  # left to the holder first, then taken back
    assert sorted(c["row"] for c in results["cells"]) == sorted(rows)


def test_a_later_seed_sweep_cell_waits_for_a_seed0_share_whose_holder_stopped(tmp_path, demo_dir, monkeypatch):
    # the other invocation stops while it trains a seed-0 share: that share is taken back and trained before the
    # later seed's sweep cells, so seed 1 trains only the share seed 0 chose
    config, out = _config(tmp_path, demo_dir), tmp_path / "out"
    rows = ["baseline_c50", "baseline_c25"]  # seed 0's 50 % share comes first, and is found held
    held = runner._lock(out, Cell("baseline_c50", 0.1, 0))
    assert held.acquire()
    trained, real = [], runner.train

    def train(cfg, run_dir, **kwargs):
        trained.append(run_dir.relative_to(out).as_posix())
        if len(trained) == 1:
            held.release()  # the holder of seed 0's 50 % share stops, that share unfinished
        return real(cfg, run_dir, **kwargs)

    monkeypatch.setattr(runner, "train", train)
    monkeypatch.setattr(runner, "SEED0_POLL_SECONDS", 0)
    results = runner.run_grid(out, [0.1], seeds=2, preset="tiny", rows=rows, config_file=config, report=False)
    c50, c25 = (Cell(r, 0.1, 0).folder for r in rows)
    assert trained[:2] == [c25, c50] and len(trained) == 3  # both seed-0 shares first, then one share at seed 1
    chosen = results["cells_left_out"]
    assert len(chosen) == 1 and "seed 1" in chosen[0]
    seed1 = [c["row"] for c in results["cells"] if c["seed"] == 1]
    assert len(seed1) == 1 and trained[2] == Cell(seed1[0], 0.1, 1).folder


def test_results_json_joins_cells_another_invocation_asked_for_and_finished(tmp_path, demo_dir, monkeypatch, caplog):
    # another invocation on the same folder, asked for other rows, finishes its cells while this one trains: this
    # invocation's results.json holds them too (the last writer's results.json covers the folder), except a cell
    # trained with other settings than this grid's, which it names
    config, out, other = _config(tmp_path, demo_dir), tmp_path / "out", tmp_path / "other"
    runner.run_grid(
        other, [0.1], preset="tiny", rows=["fullysampled", "baseline_radial"], config_file=config, report=False
    )
    radial = Cell("baseline_radial", 0.1, 0).folder
    saved = other / radial / "config.yaml"
    saved.write_text(saved.read_text().replace("finetune_epochs: ", "finetune_epochs: 1", 1))  # another budget
    real = runner.train

    def train(cfg, run_dir, **kwargs):
        shutil.copytree(other / "cells", out / "cells", dirs_exist_ok=True)  # the other invocation finishes
        return real(cfg, run_dir, **kwargs)

    monkeypatch.setattr(runner, "train", train)
    with caplog.at_level("WARNING", logger="semunet_monai.reproduce.runner"):
        results = runner.run_grid(out, [0.1], preset="tiny", rows=["baseline_random"], config_file=config, report=False)
    assert sorted(c["row"] for c in results["cells"]) == ["baseline_random", "fullysampled"]
    assert json.loads((out / "results.json").read_text())["cells"] == results["cells"]
    assert results["settings"]["rows"] == ["baseline_random", "fullysampled"]
    assert f"{out / radial}: cell 'baseline_radial a10 seed 0'" in caplog.text and "other settings" in caplog.text
    assert caplog.text.count("other settings") == 1  # named once, not at every write


def test_cli_workers_share_the_cells_and_write_one_report(tmp_path, demo_dir, capfd, caplog):
    config, out = _config(tmp_path, demo_dir), tmp_path / "grid"
    rows = ["baseline_random", "baseline_radial", "fullysampled"]
    args = ["reproduce", "--demo", "--preset", "tiny", "--config", str(config), "--rates", "0.1", "--out", str(out)]
    assert main([*args, "--rows", *rows, "--no-progress", "--workers", "2"]) == 0
    err = capfd.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert sorted(c["row"] for c in results["cells"]) == sorted(rows) and results["cells_missing"] == []
    # each cell trained once, by one of the workers, and the report was written after them
    for c in results["cells"]:
        name = Cell(c["row"], c["rate"], c["seed"], c["fold"], c["folds"]).name
        assert err.count(f"cell {name} done in") == 1, name
    done = [line for line in err.splitlines() if " done in " in line]
    assert len(done) == 3 and all("[worker 0]" in line or "[worker 1]" in line for line in done)
    finished = max((out / c["folder"] / "cell.json").stat().st_mtime for c in results["cells"])
    assert (out / "table_seg.md").stat().st_mtime >= finished
    # bad arguments stop before any worker starts
    assert main([*args, "--rows", *rows, "--workers", "0"]) == 1
    assert "argument 'workers' must be an integer >= 1, got 0." in caplog.text


def test_cli_a_worker_that_fails_fails_the_command(tmp_path, demo_dir, caplog):
    config = tmp_path / "grid.yaml"
    config.write_text(f"data:\n  demo_dir: {demo_dir}\n  n_test: 0\ntrain:\n  threads: 1\n")
    out = tmp_path / "grid"
    args = ["reproduce", "--demo", "--preset", "tiny", "--config", str(config), "--rates", "0.1", "--out", str(out)]
    assert main([*args, "--rows", "baseline_random", "fullysampled", "--no-progress", "--workers", "2"]) == 1
    assert "stopped before the end" in caplog.text and "exit code 1" in caplog.text
    assert not (out / "results.json").exists()


def test_cli_ctrl_c_is_one_line_and_exit_code_130(tmp_path, monkeypatch, caplog):
    from semunet_monai.reproduce import workers

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(workers, "run_workers", interrupted)
    assert main(["reproduce", "--demo", "--out", str(tmp_path / "o")]) == 130
    assert "interrupted; what was finished is kept" in caplog.text
    with pytest.raises(KeyboardInterrupt):  # --debug keeps the traceback
        main(["--debug", "reproduce", "--demo", "--out", str(tmp_path / "o")])


def test_the_time_left_counts_the_cells_other_invocations_finished(tmp_path, demo_dir, monkeypatch, caplog):
    # each cell takes 600 s of this invocation's clock; while it trains its first cell, another invocation finishes the
    # second one. After the first: 2 cells done in 600 s, 2 left, about 10 min at the grid's pace (this invocation's own
    # pace, 1 cell in 600 s, would say 20). After the third (the second skipped, already finished): 3 done in 1200 s,
    # 1 left, about 7 min; the other invocation's cell still counts once this one has passed it by (else 10)
    config, out, other = _config(tmp_path, demo_dir), tmp_path / "out", tmp_path / "other"
    rows = ["baseline_radial", "baseline_random", "baseline_uniform", "fullysampled"]
    runner.run_grid(other, [0.1], preset="tiny", rows=["baseline_random"], config_file=config, report=False)
    clock = [0.0]
    real = runner.train

    def train(cfg, run_dir, **kwargs):
        shutil.copytree(other / "cells", out / "cells", dirs_exist_ok=True)
        clock[0] += 600
        return real(cfg, run_dir, **kwargs)

    monkeypatch.setattr(runner, "train", train)
    monkeypatch.setattr(runner, "time", types.SimpleNamespace(time=lambda: clock[0], sleep=lambda s: None))
    caplog.clear()  # the other invocation's lines, if an earlier test left the logger at INFO
    with caplog.at_level("INFO", logger="semunet_monai.reproduce.runner"):
        results = runner.run_grid(out, [0.1], preset="tiny", rows=rows, config_file=config, report=False)
    assert sorted(c["row"] for c in results["cells"]) == sorted(rows)
    done = [r.getMessage() for r in caplog.records if " done in " in r.getMessage()]
    assert len(done) == 3, done  # baseline_random was not trained again
    assert "baseline_radial a10 seed 0 done in 600 s; 2 of 4 cells left, about 10 min at the grid's pace" in done[0]
    assert "baseline_uniform a10 seed 0 done in 600 s; 1 of 4 cells left, about 7 min at the grid's pace" in done[1]
    assert "0 of 4 cells left, about 0 min" in done[2]
