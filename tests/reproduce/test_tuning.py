"""The centre-share sweep's tuning protocol: the share is chosen at seed 0 per rate and fold, on the validation
subjects, and only the chosen share is trained at the other seeds."""

from __future__ import annotations

import json

import pytest

from semunet_monai.cli import main
from semunet_monai.reproduce import runner
from semunet_monai.reproduce.grid import Cell
from semunet_monai.reproduce.scoring import SCORING_VERSION
from semunet_monai.reproduce.stats import add_tuned_cells
from semunet_monai.reproduce.tuning import untrained_sweep_cells

SHARES = ["baseline_c25", "baseline_c100"]


def _val_psnr(cell: Cell) -> float:
    """Fold 0 prefers the 100 % share, fold 1 the 25 % share (on the validation subjects)."""
    return 30.0 if (cell.row == "baseline_c100") == (cell.fold == 0) else 20.0


def _record(cell: Cell, psnr: float | None = None) -> dict:
    return {
        "row": cell.row,
        "rate": cell.rate,
        "seed": cell.seed,
        "fold": cell.fold,
        "folds": cell.folds,
        "seconds": 1.0,
        "val": {"psnr": _val_psnr(cell) if psnr is None else psnr},
        "per_slice": {"subject": []},
        "scoring": SCORING_VERSION,
    }


def _cells(seeds: int, rows=SHARES, folds: int = 2) -> list[Cell]:
    return [Cell(r, 0.1, s, f, folds) for s in range(seeds) for f in range(folds) for r in rows]


def test_only_the_share_seed_0_chose_is_left_for_the_other_seeds():
    cells = _cells(3)
    records = {c: _record(c) for c in cells if c.seed == 0}
    left = untrained_sweep_cells(cells, records)
    assert left == {
        Cell("baseline_c25", 0.1, 1, 0, 2): "baseline_c100",
        Cell("baseline_c25", 0.1, 2, 0, 2): "baseline_c100",
        Cell("baseline_c100", 0.1, 1, 1, 2): "baseline_c25",
        Cell("baseline_c100", 0.1, 2, 1, 2): "baseline_c25",
    }
    # the tuned row of a left-out seed is the chosen share by construction
    kept = [c for c in cells if c.seed == 1 and c not in left]
    tuned = [t for t in add_tuned_cells([_record(c) for c in kept]) if "chosen" in t]
    assert sorted((t["fold"], t["chosen"]) for t in tuned) == [(0, "baseline_c100"), (1, "baseline_c25")]


def test_a_tie_on_validation_goes_to_the_smaller_share_whatever_the_order():
    cells = [Cell(r, 0.1, 0, 0, 1) for r in ("baseline_c100", "baseline_c50", "baseline_c25")]
    for order in (cells, cells[::-1]):
        tuned = [t for t in add_tuned_cells([_record(c, psnr=25.0) for c in order]) if "chosen" in t]
        assert [t["chosen"] for t in tuned] == ["baseline_c25"]


def test_nothing_is_left_out_before_seed_0_has_scored_every_share():
    cells = _cells(2)
    done = [c for c in cells if c.seed == 0 and not (c.fold == 1 and c.row == "baseline_c25")]
    left = untrained_sweep_cells(cells, {c: _record(c) for c in done})
    assert {c.fold for c in left} == {0}  # fold 1's choice is not known yet: both its shares stay
    # without validation scores there is no choice either
    unscored = {c: _record(c, psnr=float("nan")) for c in cells if c.seed == 0}
    assert untrained_sweep_cells(cells, unscored) == {}


def test_finished_cells_and_other_rows_are_never_left_out():
    cells = _cells(2) + [Cell("semunet", 0.1, 1, 0, 2), Cell("baseline_random", 0.1, 1, 1, 2)]
    records = {c: _record(c) for c in cells if c.seed == 0}
    finished = Cell("baseline_c25", 0.1, 1, 0, 2)  # trained before (e.g. with --tune-every-seed)
    records[finished] = _record(finished)
    left = untrained_sweep_cells(cells, records)
    assert finished not in left and all(c.spec.sweep and c.seed == 1 for c in left)
    assert set(left) == {Cell("baseline_c100", 0.1, 1, 1, 2)}


@pytest.fixture
def fake_training(monkeypatch):
    """Cells that 'train' instantly and score by :func:`_val_psnr` (the protocol, not the networks, is tested)."""
    trained: list[Cell] = []

    class Data:
        test = object()

    monkeypatch.setattr(runner, "prepare_data", lambda config: Data())
    monkeypatch.setattr(runner, "train", lambda *a, **k: None)

    def score(cell, run_dir, data, config, seconds):
        trained.append(cell)
        _write_record(run_dir.parents[len(cell.folder.split("/")) - 1], cell)
        return _record(cell)

    monkeypatch.setattr(runner, "_score_cell", score)
    return trained


def _write_record(out, cell):
    """A finished cell's record on disk, as the runner (or another invocation on the same folder) writes it."""
    (out / cell.folder).mkdir(parents=True, exist_ok=True)
    (out / cell.folder / "cell.json").write_text(json.dumps(_record(cell)))


def _run(tmp_path, demo_dir, **kw):
    config = tmp_path / "grid.yaml"
    config.write_text(f"data:\n  demo_dir: {demo_dir}\n")
    kw.setdefault("seeds", 3)
    return runner.run_grid(
        tmp_path / "out",
        [0.1],
        preset="tiny",
        rows=SHARES,
        config_file=config,
        progress=False,
        report=False,
        folds=2,
        **kw,
    )


def test_the_grid_trains_the_chosen_share_at_later_seeds(tmp_path, demo_dir, fake_training, caplog):
    caplog.set_level("INFO", logger="semunet_monai.reproduce.runner")
    results = _run(tmp_path, demo_dir)
    later = sorted((c.seed, c.fold, c.row) for c in fake_training if c.seed > 0)
    assert len(fake_training) == 4 + 4 and later == [
        (1, 0, "baseline_c100"),
        (1, 1, "baseline_c25"),
        (2, 0, "baseline_c100"),
        (2, 1, "baseline_c25"),
    ]
    assert len(results["cells"]) == 8 and results["cells_missing"] == []  # left out is not missing
    assert sum("left out: seed 0 chose baseline_c100" in r.message for r in caplog.records) == 2
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["settings"]["sweep_tuning"] == "seed 0" and len(saved["cells_left_out"]) == 4
    assert "baseline_c25 a10 fold 0 seed 1" in saved["cells_left_out"]


def test_a_cell_finished_by_another_invocation_is_not_trained_again(tmp_path, demo_dir, fake_training, caplog):
    caplog.set_level("INFO", logger="semunet_monai.reproduce.runner")
    other = Cell("baseline_c100", 0.1, 0, 0, 2)
    real_score = runner._score_cell

    def score_and_race(cell, run_dir, *args):  # while this cell trains, another worker finishes `other`
        _write_record(tmp_path / "out", other)
        return real_score(cell, run_dir, *args)

    runner._score_cell = score_and_race
    try:
        results = _run(tmp_path, demo_dir, seeds=1)
    finally:
        runner._score_cell = real_score
    assert other not in fake_training and len(fake_training) == 3 and len(results["cells"]) == 4
    assert "cell baseline_c100 a10 fold 0 seed 0 was finished by another invocation" in caplog.text


def test_tune_every_seed_trains_the_whole_sweep(tmp_path, demo_dir, fake_training):
    results = _run(tmp_path, demo_dir, tune_every_seed=True)
    assert len(fake_training) == 12 and len(results["cells"]) == 12


def test_plan_lists_the_cells_to_train_and_writes_nothing(tmp_path, demo_dir, fake_training, caplog):
    caplog.set_level("INFO", logger="semunet_monai.reproduce.runner")
    plan = _run(tmp_path, demo_dir, plan_only=True)
    assert not (tmp_path / "out").exists() and fake_training == []
    assert len(plan["pending"]) == 12 and plan["left_out"] == []  # seed 0's choice is not known yet
    assert plan["to_train"] == 8  # 4 seed-0 shares, then one chosen share per later seed and fold
    assert "8 cells wait on seed 0's choice; 4 will train" in caplog.text
    assert "about 8 cells to train" in caplog.text and "nothing was trained or written" in caplog.text
    assert "no finished cell of this row to time it by" in caplog.text and "plus 8 untimed cells" in caplog.text
    # once seed 0 has chosen, the plan names exactly the chosen shares of the later seeds
    _run(tmp_path, demo_dir, seeds=1)
    caplog.clear()
    plan = _run(tmp_path, demo_dir, plan_only=True)
    assert len(plan["pending"]) == 4 and len(plan["left_out"]) == 4 and "wait on seed 0" not in caplog.text
    assert plan["to_train"] == 4
    assert "baseline_c100 a10: 2 to train" in caplog.text and "baseline_c25 a10: 2 to train" in caplog.text
    # with --tune-every-seed every share of every seed is planned
    plan = _run(tmp_path, demo_dir, plan_only=True, tune_every_seed=True)
    assert len(plan["pending"]) == 8 and plan["left_out"] == [] and "about 8 cells to train" in caplog.text


def test_cli_help_names_the_protocol(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "--tune-every-seed" in out and "--plan" in out
