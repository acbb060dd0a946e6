from __future__ import annotations

import math

import numpy as np
import pytest

from semunet_monai.grid_rows import TUNED
from semunet_monai.reproduce.figures_scores import SCORE_SCHEMES, run_points, scores_figure


def _cell(row, rate, seed, psnr, dice, dice3=None, fold=0):
    mean = {"psnr": psnr, "mean_dice": dice, "mean_dice_tissue3": dice if dice3 is None else dice3}
    return {"row": row, "rate": rate, "seed": seed, "fold": fold, "mean": mean}


def _grid():
    """Three rows at 10 % whose PSNR and 7-class Dice rise together (3 runs each), two rows at 5 %, a tuned copy,
    a run without PSNR and the fully sampled ceiling."""
    cells = []
    for k, row in enumerate(("baseline_random", "baseline_c100", "semunet")):
        for seed in range(3):
            cells.append(_cell(row, 0.1, seed, 20.0 + 2 * k + 0.1 * seed, 0.6 + 0.05 * k + 0.01 * seed, 0.9 - 0.1 * k))
    cells.append(_cell("semunet", 0.1, 3, float("nan"), 0.7))  # no PSNR: left out
    cells.append({**cells[3], "row": TUNED, "chosen": "baseline_c100"})  # repeats a sweep row's run
    cells += [_cell("semunet", 0.05, 0, 19.0, 0.5), _cell("loupe_seg", 0.05, 0, 18.0, 0.55)]
    cells.append({"row": "fullysampled", "rate": None, "seed": 0, "fold": 0, "mean": {"mean_dice": 0.8}})
    return cells


def test_run_points_one_point_per_run_with_both_scores():
    points = run_points(_grid(), 0.1, "dice")
    assert set(points) == {"baseline_random", "baseline_c100", "semunet"}  # no tuned row, no fully sampled
    assert [len(p) for p in points.values()] == [3, 3, 3]  # the run without PSNR is left out
    assert points["semunet"][0] == (24.0, pytest.approx(0.7))
    assert run_points(_grid(), 0.1, "dice3")["semunet"][0] == (24.0, pytest.approx(0.7))
    assert set(run_points(_grid(), 0.05, "dice")) == {"semunet", "loupe_seg"}
    assert run_points(_grid(), 0.2, "dice") == {}


def test_run_points_rejects_other_metrics():
    with pytest.raises(ValueError, match="'dice' or 'dice3'"):
        run_points(_grid(), 0.1, "psnr")


def test_scores_figure_draws_row_means_ceiling_and_rank_correlation():
    fig = scores_figure(_grid(), [0.05, 0.1])
    axes = fig.axes
    assert len(axes) == 2 * len(SCORE_SCHEMES)  # rows: schemes, columns: rates (ascending as given)
    by_title = {ax.get_title(): ax for ax in axes}
    # 10 %: PSNR and 7-class Dice rise together (rho 1), the tissue Dice falls as PSNR rises (rho -1)
    assert set(by_title) == {
        "α = 5 %: ρ undefined (under 3 rows)",
        "α = 10 %: ρ = 1.00 over 3 rows",
        "α = 10 %: ρ = -1.00 over 3 rows",
    }
    ax = next(a for t, a in by_title.items() if t == "α = 10 %: ρ = 1.00 over 3 rows")
    means = [c.get_offsets()[0] for c in ax.collections if c.get_zorder() == 3]
    expected = [(20.1, 61.0), (22.1, 66.0), (24.1, 71.0)]  # each row's mean over its 3 runs, Dice in %
    assert np.allclose(sorted(map(tuple, np.asarray(means))), expected)
    runs = sum(len(c.get_offsets()) for c in ax.collections if c.get_zorder() != 3)
    assert runs == 9
    (ceiling,) = ax.get_lines()
    assert math.isclose(ceiling.get_ydata()[0], 80.0)
    # the legend lists the rows in the grid's order, although the 5 % panel drew LOUPE-Seg first
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == ["Baseline (rand.)", "LOUPE(-Seg)", "SemuNet", "Baseline (c. 100 %)", "Fully sampled SegNet"]


def test_scores_figure_without_ceiling_or_points():
    fig = scores_figure([_cell("semunet", 0.1, 0, 24.0, 0.7)], [0.1, 0.2])
    assert len(fig.axes) == 4
    assert all(not ax.get_lines() for ax in fig.axes)  # no fully sampled run: no ceiling
    assert sum(len(ax.collections) for ax in fig.axes) == 4  # one run and its mean, in each scheme's panel at 10 %
