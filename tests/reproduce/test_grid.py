"""The grid's rows, cells and per-cell configuration."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semunet_monai.config import load_config
from semunet_monai.engines.builders import build_model
from semunet_monai.grid_rows import CENTRE_SHARES, PAPER_BASELINES, PAPER_ROWS, ROWS, SWEEP_ROWS, T1_ROWS, T2_ROWS
from semunet_monai.reproduce.grid import GRID_BUDGET, Cell, centre_radius, make_cells, rate_tag
from semunet_monai.reproduce.runner import grid_config


def test_cells_cover_every_row_rate_and_seed_once():
    cells = make_cells([0.05, 0.1, 0.2], seeds=2)
    per_rate = [r for r in ROWS.values() if r.per_rate]
    assert len(cells) == 2 * (3 * len(per_rate) + 1)
    assert len({(c.row, c.rate, c.seed) for c in cells}) == len(cells)
    assert len({c.folder for c in cells}) == len(cells)
    assert [c.rate for c in cells if c.row == "semunet" and c.seed == 0] == [0.2, 0.1, 0.05]  # the paper's order
    assert [c.rate for c in cells if c.row == "fullysampled"] == [None, None]
    assert {c.seed for c in cells} == {0, 1}


def test_cells_with_folds_give_each_replicate_its_own_seed_and_split():
    cells = make_cells([0.1], seeds=2, rows=["semunet", "fullysampled"], folds=5)
    assert len(cells) == 2 * 5 * 2
    assert len({c.folder for c in cells}) == len(cells)
    assert sorted({c.run_seed for c in cells}) == list(range(10))  # distinct training and mask seeds
    config = load_config("cpu", overrides=Cell("semunet", 0.1, 1, 3, 5).overrides((96, 96)))
    assert (config.data.folds, config.data.fold, config.train.seed, config.sampling.mask_seed) == (5, 3, 8, 8)
    assert "data" not in Cell("semunet", 0.1, 0).overrides((96, 96))  # no folds: the preset's split
    with pytest.raises(ValueError, match="'folds'"):
        make_cells([0.1], seeds=1, folds=0)


def test_rows_are_described_in_one_place():
    # the paper's tables, in their own column orders, and the roles the statistics use come from ROWS alone
    assert T1_ROWS[:2] == ("baseline_radial", "baseline_random") and T1_ROWS[-2:] == ("loupe_seg", "semunet")
    assert T2_ROWS[:2] == ("baseline_random", "baseline_radial") and len(T2_ROWS) == 6
    assert PAPER_BASELINES == ("baseline_random", "baseline_radial")
    assert [ROWS[r].centre for r in SWEEP_ROWS] == list(CENTRE_SHARES)
    assert all(ROWS[r].short and (ROWS[r].panel or not ROWS[r].per_rate) for r in ROWS)


def test_the_paper_rows_are_its_eight_columns_plus_loupe_seg():
    assert len(PAPER_ROWS) == 8
    assert {ROWS[r].method for r in PAPER_ROWS} == {"baseline", "liu", "mdrecon", "loupe_seg", "semunet"}
    # the paper's 'Random' column is variable density (it beats radial at 5 % in the paper's Table 1)
    assert ROWS["baseline_random"].mask_kind == "gaussian" and ROWS["baseline_uniform"].mask_kind == "random"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rates": [0.1], "seeds": 1, "rows": ["semunet", "nope"]}, "'rows'"),
        ({"rates": [], "seeds": 1}, "'rates'"),
        ({"rates": [0.1, 1.0], "seeds": 1}, "'rates'"),
        ({"rates": [0.1, 0.1], "seeds": 1}, "twice"),
        ({"rates": [0.1], "seeds": 0}, "'seeds'"),
    ],
)
def test_bad_grid_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_cells(**kwargs)


def test_rate_tags():
    assert [rate_tag(r) for r in (0.05, 0.1, 0.2, None)] == ["a05", "a10", "a20", "full"]


def _mask(cell: Cell, shape=(96, 96)):
    config = load_config("cpu", overrides=cell.overrides(shape))
    return config, build_model(config, 8, shape).operator.mask


@pytest.mark.parametrize("share", CENTRE_SHARES)
@pytest.mark.parametrize("shape", [(96, 96), (48, 48), (61, 47)])
def test_sweep_rows_spend_their_share_of_the_budget_in_the_centre(share, shape):
    n = round(0.1 * shape[0] * shape[1])
    radius = centre_radius(0.1, shape, share)
    yy, xx = np.meshgrid(np.arange(shape[0]) - shape[0] // 2, np.arange(shape[1]) - shape[1] // 2, indexing="ij")
    disc = torch.as_tensor(yy**2 + xx**2 <= radius**2)
    assert int(disc.sum()) <= share * n  # never more than the share, so the disc always fits the budget
    bigger = torch.as_tensor(yy**2 + xx**2 <= (radius + 1) ** 2)
    assert int(bigger.sum()) > share * n  # and the largest disc that fits
    row = next(r for r in SWEEP_ROWS if ROWS[r].centre == share)
    config, mask = _mask(Cell(row, 0.1, 0), shape)
    assert config.sampling.acs == pytest.approx(radius) and config.sampling.mask_kind == "gaussian"
    assert bool(mask[disc].all()), "the centre disc must be fully sampled"
    assert int(mask.sum()) == n


def test_random_column_has_no_forced_centre():
    config, random_mask = _mask(Cell("baseline_random", 0.1, 0), (96, 96))
    assert config.sampling.acs is None and config.sampling.mask_kind == "gaussian"
    assert not bool(random_mask[44:53, 44:53].all()), "the paper's Random pattern has no forced centre"
    assert int(random_mask.sum()) == round(0.1 * 96 * 96)


def test_seeds_change_training_and_fixed_patterns_and_learned_rows_keep_the_preset_centre():
    _, m0 = _mask(Cell("baseline_uniform", 0.1, 0))
    _, m1 = _mask(Cell("baseline_uniform", 0.1, 1))
    assert not np.array_equal(m0.numpy(), m1.numpy())
    config = load_config("cpu", overrides=Cell("semunet", 0.05, 3).overrides((96, 96)))
    assert config.train.seed == 3 and config.sampling.rate == 0.05
    assert config.sampling.acs == load_config("cpu").sampling.acs and config.train.method == "semunet"


def test_grid_budget_then_user_yaml_then_arguments(tmp_path):
    budget = GRID_BUDGET["cpu"]
    assert budget is not None
    base = grid_config("cpu")
    assert (base.train.epochs, base.train.finetune_epochs, base.train.batch_size) == (
        budget["epochs"],
        budget["finetune_epochs"],
        budget["batch_size"],
    )
    assert base.train.batch_size != load_config("cpu").train.batch_size  # the grid's own batch size wins
    assert base.data.root is None
    paper = grid_config("paper")
    assert (paper.train.epochs, paper.train.finetune_epochs) == (600, 500)  # the paper's own budget
    yaml_file = tmp_path / "mine.yaml"
    yaml_file.write_text("train:\n  epochs: 7\n")
    mine = grid_config("cpu", config_file=yaml_file)
    assert (mine.train.epochs, mine.train.finetune_epochs) == (7, budget["finetune_epochs"])
    args = grid_config("cpu", data_root="/data/mrb", config_file=yaml_file, epochs=3, finetune_epochs=2)
    assert (args.train.epochs, args.train.finetune_epochs, args.data.root) == (3, 2, "/data/mrb")
    yaml_file.write_text("train:\n  epoch: 7\n")
    with pytest.raises(ValueError, match="mine.yaml.*train.epoch"):
        grid_config("cpu", config_file=yaml_file)
