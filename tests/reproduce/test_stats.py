from __future__ import annotations

import math

import numpy as np
import pytest

from semunet_monai.grid_rows import TUNED
from semunet_monai.reproduce.claims import (
    CLAIM_DICE,
    CLAIM_DICE_TISSUE3,
    CLAIM_PSNR,
    CLAIM_T1,
    CLAIM_TUNED,
    CLAIM_TUNED_TISSUE3,
    CLAIMS,
    orderings,
    psnr_dice_agreement,
)
from semunet_monai.reproduce.grid import Cell
from semunet_monai.reproduce.stats import (
    add_tuned_cells,
    best_row,
    comparison_pairs,
    comparisons,
    fold_complete,
    fold_coverage,
    hierarchical_bootstrap,
    summarise,
    summary_mean,
    verdict,
    volume_values,
)

SUBJECTS = ("s1", "s2", "s3", "s4")
# per-subject offsets around a cell's means (PSNR in dB; SSIM and Dice in hundredths): they sum to 0, so a cell's
# mean is the value asked for, and two cells with the same offsets differ by the same amount on every subject
SPREAD = (-0.3, -0.1, 0.1, 0.3)


def make_cell(
    row,
    rate,
    seed=0,
    psnr=30.0,
    ssim=0.8,
    dice=0.7,
    dice3=None,
    fold=0,
    folds=1,
    subjects=SUBJECTS,
    spread=SPREAD,
    val_psnr=...,
    steps=None,
    **extra_mean,
):
    """A synthetic grid cell as the runner records it: per-volume scores ``value + offset`` per test subject, their
    means, and validation scores (``val_psnr``: default 1 dB under the test PSNR; None: no validation subjects)."""
    dice3 = dice + 0.1 if dice3 is None else dice3
    recon = row != "fullysampled"
    per_volume = {}
    for subject, o in zip(subjects, spread, strict=True):
        scores = {"mean_dice": dice + o / 100, "mean_dice_tissue3": dice3 + o / 100}
        if recon:
            scores.update(psnr=psnr + o, ssim=ssim + o / 100)
        per_volume[subject] = scores
    mean = {k: float(np.mean([v[k] for v in per_volume.values()])) for k in per_volume[subjects[0]]}
    mean.update(extra_mean)
    cell = Cell(row, rate, seed, fold, folds)
    record = {
        "row": row,
        "rate": rate,
        "seed": seed,
        "fold": fold,
        "folds": folds,
        "folder": cell.folder,
        "mean": mean,
        "per_volume": per_volume,
    }
    if val_psnr is not None:
        val = {"mean_dice": dice - 0.01, "mean_dice_tissue3": dice3 - 0.01}
        if recon:
            val.update(psnr=psnr - 1.0 if val_psnr is ... else val_psnr, ssim=ssim)
        record["val"] = val
    if steps is not None:
        record["steps"] = steps
    return record


# ---------------------------------------------------------------- hierarchical_bootstrap


def _diffs(values_by_subject):
    """``{(subject, seed): value}`` from ``{subject: [value per seed]}``."""
    return {(s, k): v for s, values in values_by_subject.items() for k, v in enumerate(values)}


def test_bootstrap_constant_difference_gives_a_zero_width_interval():
    res = hierarchical_bootstrap(_diffs({f"s{i}": [2.25] * 3 for i in range(5)}), n_boot=500)
    assert res["diff"] == 2.25 and res["low"] == 2.25 and res["high"] == 2.25
    assert (res["n_subjects"], res["n_seeds"], res["n"]) == (5, 3, 15)
    assert res["p_not_positive"] == 0.0
    assert verdict(res) == "a > b"


def test_bootstrap_weights_subjects_equally():
    # s1 has three seeds at 1.0, s2 one at 3.0: the mean of the subject means is 2.0, not the pooled 1.5
    res = hierarchical_bootstrap({("s1", 0): 1.0, ("s1", 1): 1.0, ("s1", 2): 1.0, ("s2", 0): 3.0}, n_boot=200)
    assert res["diff"] == pytest.approx(2.0)
    assert (res["n_subjects"], res["n_seeds"], res["n"]) == (2, 3, 4)
    assert res["low"] == pytest.approx(1.0) and res["high"] == pytest.approx(3.0)


def test_bootstrap_subject_effects_give_the_standard_error_of_the_subject_means():
    rng = np.random.default_rng(1)
    effects = rng.normal(0, 0.4, 80)
    # the same value for every seed of a subject: only the subject level varies
    res = hierarchical_bootstrap(_diffs({f"s{i}": [0.5 + e] * 3 for i, e in enumerate(effects)}), n_boot=4000)
    assert res["diff"] == pytest.approx(0.5 + effects.mean())
    assert 0 < res["low"] < res["diff"] < res["high"]
    se = effects.std(ddof=1) / math.sqrt(len(effects))
    assert res["high"] - res["low"] == pytest.approx(2 * 1.96 * se, rel=0.1)
    assert res["p_not_positive"] == 0.0


def test_bootstrap_seed_effects_give_the_standard_error_of_the_seed_means():
    rng = np.random.default_rng(6)
    effects = rng.normal(0, 0.4, 60)
    # the same value for every subject of a seed: only the seed level varies (a training run that is good or bad
    # on all test subjects), so the interval is that of the mean over 60 seeds
    res = hierarchical_bootstrap(
        {(f"s{i}", k): 0.5 + e for i in range(3) for k, e in enumerate(effects)}, n_boot=4000, seed=1
    )
    assert res["diff"] == pytest.approx(0.5 + effects.mean())
    assert (res["n_subjects"], res["n_seeds"]) == (3, 60)
    se = effects.std(ddof=1) / math.sqrt(len(effects))
    assert res["high"] - res["low"] == pytest.approx(2 * 1.96 * se, rel=0.1)


def test_bootstrap_seed_noise_widens_the_interval():
    rng = np.random.default_rng(5)
    effects = rng.normal(0, 0.2, 30)
    quiet = _diffs({f"s{i}": [e] * 4 for i, e in enumerate(effects)})
    noisy = {k: v + rng.normal(0, 1.0) for k, v in quiet.items()}
    narrow, wide = hierarchical_bootstrap(quiet, n_boot=2000), hierarchical_bootstrap(noisy, n_boot=2000)
    assert wide["high"] - wide["low"] > 1.5 * (narrow["high"] - narrow["low"])


def test_bootstrap_no_shift_includes_zero():
    rng = np.random.default_rng(2)
    effects = rng.normal(0, 0.5, 40)
    effects -= effects.mean()
    res = hierarchical_bootstrap(_diffs({f"s{i}": [e, e + 0.1, e - 0.1] for i, e in enumerate(effects)}), n_boot=2000)
    assert res["diff"] == pytest.approx(0.0, abs=1e-12)
    assert res["low"] < 0 < res["high"]
    assert 0.3 < res["p_not_positive"] < 0.7
    assert verdict(res) == "within noise"


def test_bootstrap_level_widens_interval():
    rng = np.random.default_rng(3)
    diffs = _diffs({f"s{i}": list(rng.normal(1, 1, 2)) for i in range(20)})
    narrow, wide = hierarchical_bootstrap(diffs, n_boot=2000, level=0.5), hierarchical_bootstrap(diffs, level=0.99)
    assert wide["low"] < narrow["low"] < narrow["high"] < wide["high"]


def test_bootstrap_deterministic_for_a_seed_and_leaves_the_global_rng():
    rng = np.random.default_rng(4)
    diffs = _diffs({f"s{i}": list(rng.normal(1, 1, 2)) for i in range(10)})
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    first = hierarchical_bootstrap(diffs, n_boot=300, seed=7)
    assert hierarchical_bootstrap(diffs, n_boot=300, seed=7) == first
    assert hierarchical_bootstrap(diffs, n_boot=300, seed=8)["low"] != first["low"]
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_bootstrap_drops_undefined_differences():
    res = hierarchical_bootstrap({("s1", 0): 1.0, ("s1", 1): None, ("s2", 0): float("nan"), ("s2", 1): 3.0}, n_boot=50)
    assert res["n"] == 2 and res["n_seeds"] == 2 and res["diff"] == pytest.approx(2.0)


@pytest.mark.parametrize(
    "diffs",
    [
        {},
        {("s1", 0): 1.0, ("s1", 1): 2.0, ("s1", 2): 3.0},  # one subject, however many seeds
        {("s1", 0): 1.0, ("s2", 0): None, ("s3", 0): float("nan")},  # one defined subject
    ],
)
def test_bootstrap_refuses_fewer_than_two_subjects(diffs):
    with pytest.raises(ValueError, match="'diffs'.*at least 2 test subjects"):
        hierarchical_bootstrap(diffs)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"n_boot": 0}, "'n_boot'"), ({"level": 1.0}, "'level'"), ({"level": 0.0}, "'level'")],
)
def test_bootstrap_refuses_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        hierarchical_bootstrap({("s1", 0): 1.0, ("s2", 0): 2.0}, **kwargs)


# ---------------------------------------------------------------- verdict


@pytest.mark.parametrize(
    "low, high, expected",
    [(0.1, 0.5, "a > b"), (-0.5, -0.1, "a < b"), (-0.1, 0.1, "within noise"), (0.0, 0.2, "within noise")],
)
def test_verdict(low, high, expected):
    assert verdict({"low": low, "high": high}) == expected


# ---------------------------------------------------------------- summarise


def test_summarise_means_std_and_counts_over_runs():
    cells = [
        {"row": "semunet", "rate": 0.1, "seed": 0, "mean": {"psnr": 30.0, "ssim": 0.7, "dice_wm": 0.5, "hd95": 3.0}},
        {"row": "semunet", "rate": 0.1, "seed": 1, "mean": {"psnr": 31.0, "ssim": 0.8, "dice_wm": None}},
        {"row": "semunet", "rate": 0.1, "seed": 2, "mean": {"psnr": None, "ssim": 0.9, "dice_wm": float("nan")}},
        {"row": "semunet", "rate": 0.2, "seed": 0, "mean": {"psnr": 35.0, "mean_dice": None}},
        {"row": "fullysampled", "rate": None, "seed": 0, "mean": {"mean_dice": 0.8, "mean_dice_tissue3": 0.9}},
        {"row": "fullysampled", "rate": None, "seed": 1, "mean": {"mean_dice": 0.9, "dice_tissue3_gm": 0.7}},
    ]
    s = summarise(cells)
    assert set(s) == {"semunet", "fullysampled"} and set(s["semunet"]) == {"a10", "a20"}
    a10 = s["semunet"]["a10"]
    assert set(a10) == {"psnr", "ssim", "dice_wm"}  # hd95 is not summarised
    assert a10["psnr"]["mean"] == pytest.approx(30.5)
    assert a10["psnr"]["std"] == pytest.approx(math.sqrt(0.5))
    assert a10["psnr"]["n"] == 2
    assert a10["ssim"] == {"mean": pytest.approx(0.8), "std": pytest.approx(0.1), "n": 3}
    assert a10["dice_wm"] == {"mean": 0.5, "std": None, "n": 1}
    assert s["semunet"]["a20"]["mean_dice"] == {"mean": None, "std": None, "n": 0}
    full = s["fullysampled"]["full"]
    assert full["mean_dice"]["mean"] == pytest.approx(0.85)
    assert full["mean_dice_tissue3"] == {"mean": 0.9, "std": None, "n": 1}
    assert full["dice_tissue3_gm"]["mean"] == 0.7
    assert summary_mean(s, "semunet", "a10", "psnr") == pytest.approx(30.5)
    assert summary_mean(s, "semunet", "a05", "psnr") is None and summary_mean(s, "loupe_seg", "a10", "psnr") is None


def test_best_row_picks_the_highest_mean():
    s = summarise([make_cell("semunet", 0.1, psnr=31.0), make_cell("loupe_seg", 0.1, psnr=32.0)])
    assert best_row(s, ["semunet", "loupe_seg", "baseline_radial"], "a10", "psnr") == "loupe_seg"
    assert best_row(s, ["semunet"], "a10", "psnr") == "semunet"
    assert best_row(s, ["baseline_radial"], "a10", "psnr") is None


def test_summarise_rejects_cells_without_row():
    with pytest.raises(ValueError, match="'cells'"):
        summarise([{"rate": 0.1, "mean": {}}])


# ---------------------------------------------------------------- add_tuned_cells


def _sweep_cells():
    cells = [
        # rate 0.1, fold 0, seed 0: c50 has the best validation PSNR (though c75 has the best test PSNR)
        make_cell("baseline_c25", 0.1, 0, psnr=31.0, val_psnr=30.0),
        make_cell("baseline_c50", 0.1, 0, psnr=32.0, val_psnr=31.5),
        make_cell("baseline_c75", 0.1, 0, psnr=33.0, val_psnr=29.0),
        # seed 1: c25
        make_cell("baseline_c25", 0.1, 1, psnr=31.2, val_psnr=32.0),
        make_cell("baseline_c50", 0.1, 1, psnr=32.2, val_psnr=31.0),
        # fold 1 of seed 0 is its own run: c75
        make_cell("baseline_c50", 0.1, 0, fold=1, folds=2, psnr=32.4, val_psnr=30.0),
        make_cell("baseline_c75", 0.1, 0, fold=1, folds=2, psnr=32.6, val_psnr=30.5),
        # rate 0.05: c90; a non-sweep row with a higher validation PSNR is never chosen
        make_cell("baseline_c90", 0.05, 0, psnr=28.0, val_psnr=27.0),
        make_cell("baseline_c100", 0.05, 0, psnr=27.0, val_psnr=26.0),
        make_cell("semunet", 0.05, 0, psnr=40.0, val_psnr=45.0),
        make_cell("baseline_random", 0.05, 0, psnr=29.0, val_psnr=44.0),
        # seed 2: no validation subjects, no tuned cell
        make_cell("baseline_c25", 0.1, 2, val_psnr=None),
        make_cell("baseline_c50", 0.1, 2, val_psnr=None),
    ]
    return cells


def test_add_tuned_cells_picks_the_best_validation_psnr_per_rate_fold_and_seed():
    cells = _sweep_cells()
    before = [dict(c) for c in cells]
    out = add_tuned_cells(cells)
    assert cells == before  # the input is not modified
    assert out[: len(cells)] == cells
    tuned = [c for c in out if c["row"] == TUNED]
    got = {(c["rate"], c["fold"], c["seed"]): c["chosen"] for c in tuned}
    assert got == {
        (0.1, 0, 0): "baseline_c50",
        (0.1, 0, 1): "baseline_c25",
        (0.1, 1, 0): "baseline_c75",
        (0.05, 0, 0): "baseline_c90",
    }
    # how many shares each run chose from: seed 1 and fold 1 ran two of the three
    assert {(c["rate"], c["fold"], c["seed"]): c["candidates"] for c in tuned} == {
        (0.1, 0, 0): 3,
        (0.1, 0, 1): 2,
        (0.1, 1, 0): 2,
        (0.05, 0, 0): 2,
    }
    # a tuned cell carries the chosen cell's test scores
    c50 = next(c for c in cells if c["row"] == "baseline_c50" and c["seed"] == 0 and c["fold"] == 0)
    t = next(c for c in tuned if c["seed"] == 0 and c["fold"] == 0 and c["rate"] == 0.1)
    assert t["mean"] == c50["mean"] and t["per_volume"] == c50["per_volume"]
    assert summarise(out)[TUNED]["a10"]["psnr"]["mean"] == pytest.approx((32.0 + 31.2 + 32.6) / 3)


def test_add_tuned_cells_replaces_earlier_tuned_cells_and_ignores_runs_without_val():
    out = add_tuned_cells(_sweep_cells())
    again = add_tuned_cells(out)
    assert len([c for c in again if c["row"] == TUNED]) == 4
    assert not [c for c in out if c["row"] == TUNED and c["seed"] == 2]
    assert add_tuned_cells([make_cell("baseline_c50", 0.1, val_psnr=None), make_cell("semunet", 0.1)]) == [
        make_cell("baseline_c50", 0.1, val_psnr=None),
        make_cell("semunet", 0.1),
    ]


# ---------------------------------------------------------------- volume_values


def test_volume_values_pairs_by_subject_and_seed_across_folds():
    cells = [
        make_cell("semunet", 0.1, 0, psnr=30.0, fold=0, folds=2, subjects=("s1", "s2"), spread=(0.0, 1.0)),
        make_cell("semunet", 0.1, 0, psnr=31.0, fold=1, folds=2, subjects=("s3", "s4"), spread=(0.0, 1.0)),
        make_cell("semunet", 0.1, 1, psnr=32.0, fold=0, folds=2, subjects=("s1", "s2"), spread=(0.0, 1.0)),
        make_cell("semunet", 0.2, 0, psnr=99.0, subjects=("s1", "s2"), spread=(0.0, 0.0)),  # another rate
        make_cell("loupe_seg", 0.1, 0, psnr=99.0, subjects=("s1", "s2"), spread=(0.0, 0.0)),  # another row
    ]
    cells[2]["per_volume"]["s2"]["psnr"] = None  # undefined: left out
    values = volume_values(cells, "semunet", 0.1, "psnr")
    assert values == {("s1", 0): 30.0, ("s2", 0): 31.0, ("s3", 0): 31.0, ("s4", 0): 32.0, ("s1", 1): 32.0}
    dice3 = volume_values(cells, "semunet", 0.1, "dice3")
    assert dice3[("s1", 0)] == pytest.approx(0.8) and len(dice3) == 6
    assert volume_values(cells, "fullysampled", None, "dice") == {}


def test_volume_values_rejects_unknown_metric():
    with pytest.raises(ValueError, match="'metric'"):
        volume_values([], "semunet", 0.1, "hd95")


# ---------------------------------------------------------------- comparisons


def _grid(seeds=(0,), semunet_psnr=34.0, semunet_spread=SPREAD, tissue3=None, **dice):
    """At 10 %: SemuNet > LOUPE > the fixed rows in PSNR and Dice; the sweep's c50 has the best validation PSNR
    (the tuned choice) and the best fixed PSNR (32.5 dB), Baseline Random the best Baseline Dice."""
    levels = {  # row: (psnr, dice, validation psnr)
        "semunet": (semunet_psnr, 0.75, None),
        "loupe_seg": (33.0, 0.72, None),
        "baseline_radial": (31.0, 0.60, None),
        "baseline_random": (30.0, 0.70, None),
        "baseline_c25": (32.0, 0.65, 30.0),
        "baseline_c50": (32.5, 0.66, 31.0),
    }
    cells = []
    for seed in seeds:
        for row, (psnr, d, val) in levels.items():
            spread = semunet_spread if row == "semunet" else SPREAD
            d = dice.get(row, d)
            ssim = psnr / 40  # SSIM orders the rows as PSNR does
            d3 = (tissue3 or {}).get(row)
            cells.append(make_cell(row, 0.1, seed, psnr, ssim, d, d3, spread=spread, val_psnr=val if val else ...))
    return cells


def _pairs(comps, rate, metric):
    return {(c["a"], c["b"], c["role"]) for c in comps if c["rate"] == rate and c["metric"] == metric}


def test_comparisons_pairs_for_psnr_and_dice():
    comps = comparisons(_grid(), [0.1, 0.05], n_boot=200)
    expected_recon = {
        ("semunet", TUNED, "tuned"),
        ("semunet", "loupe_seg", "pair"),
        ("loupe_seg", TUNED, "tuned"),
        ("semunet", "baseline_c50", "best_fixed"),
        ("loupe_seg", "baseline_c50", "best_fixed"),
        ("semunet", "loupe_seg", "best_t1"),  # LOUPE is the best of the paper's other Table 1 columns
    }
    assert _pairs(comps, 0.1, "psnr") == expected_recon and _pairs(comps, 0.1, "ssim") == expected_recon
    # Dice: LOUPE-Seg against the better of the paper's Baseline columns; Baseline Random is also the best Baseline
    # and the best fixed row, so SemuNet meets it only through the chain
    expected_seg = {("semunet", TUNED, "tuned"), ("loupe_seg", TUNED, "tuned"), ("semunet", "loupe_seg", "pair")}
    expected_seg |= {("loupe_seg", "baseline_random", "best_baseline"), ("semunet", "baseline_random", "best_baseline")}
    assert _pairs(comps, 0.1, "dice") == expected_seg and _pairs(comps, 0.1, "dice3") == expected_seg
    assert not [c for c in comps if c["rate"] == 0.05]  # no cells at 5 %


def test_comparisons_add_best_baseline_and_best_fixed_for_semunet_when_they_differ():
    cells = _grid(baseline_c50=0.71)  # a sweep row is the best Baseline in Dice
    cells.append(make_cell("mdrecon_random", 0.1, psnr=31.5, dice=0.73))  # and MD-Recon-Net the best fixed row
    summary = summarise(add_tuned_cells(cells))
    pairs = comparison_pairs(summary, "a10", "dice")
    assert ("loupe_seg", "baseline_random", "best_baseline") in pairs
    assert ("semunet", "baseline_c50", "best_baseline") in pairs
    assert ("semunet", "mdrecon_random", "best_fixed") in pairs
    assert _pairs(comparisons(cells, [0.1], n_boot=100, metrics=("dice",)), 0.1, "dice") == set(pairs)


def test_best_rows_are_chosen_among_rows_with_as_many_runs_as_the_learned_rows():
    cells = _grid(seeds=(0, 1))
    cells.append(make_cell("mdrecon_random", 0.1, 0, psnr=40.0, dice=0.99))  # the top means, from one seed only
    summary = summarise(add_tuned_cells(cells))
    assert ("semunet", "baseline_c50", "best_fixed") in comparison_pairs(summary, "a10", "psnr")
    assert all(b != "mdrecon_random" for _, b, _ in comparison_pairs(summary, "a10", "dice"))
    cells.append(make_cell("mdrecon_random", 0.1, 1, psnr=40.0, dice=0.99))  # its second seed: now complete
    summary = summarise(add_tuned_cells(cells))
    assert ("semunet", "mdrecon_random", "best_fixed") in comparison_pairs(summary, "a10", "psnr")


def _two_fold_grid(mdrecon_folds=(0, 1)):
    """SemuNet and LOUPE at 3 seeds on 2 folds (4 subjects each); MD-Recon-Net Random, 1 dB above SemuNet, at seed 0
    on ``mdrecon_folds``."""
    cells = []
    for fold in (0, 1):
        subjects = tuple(f"f{fold}s{i}" for i in range(4))
        common = {"fold": fold, "folds": 2, "subjects": subjects}
        for seed in (0, 1, 2):
            cells.append(make_cell("semunet", 0.1, seed, psnr=34.0, **common))
            cells.append(make_cell("loupe_seg", 0.1, seed, psnr=33.0, **common))
        if fold in mdrecon_folds:
            cells.append(make_cell("mdrecon_random", 0.1, 0, psnr=35.0, **common))
    return cells


def test_best_of_table1_may_run_fewer_seeds_but_needs_every_fold():
    comps = comparisons(_two_fold_grid(), [0.1], n_boot=200, metrics=("psnr",))
    t1 = [c for c in comps if c["role"] == "best_t1"]
    assert [(c["a"], c["b"]) for c in t1] == [("semunet", "mdrecon_random")]
    # paired on the one seed both ran, over the 8 subjects of both folds
    assert (t1[0]["n_subjects"], t1[0]["n_seeds"], t1[0]["diff"]) == (8, 1, pytest.approx(-1.0))
    assert t1[0]["label"] == "SemuNet − best of Table 1: MD-Recon-Net Random" and t1[0]["verdict"] == "a < b"
    assert all(c["b"] != "mdrecon_random" for c in comps if c["role"] != "best_t1")  # not a complete row elsewhere
    verdicts = _verdicts(orderings({}, comps, [0.1]))
    assert verdicts[CLAIM_T1] == "fails" and verdicts[CLAIM_PSNR] == "holds"
    # one fold missing: its mean covers other subjects, so LOUPE is the best of Table 1 and the claim holds
    comps = comparisons(_two_fold_grid(mdrecon_folds=(0,)), [0.1], n_boot=200, metrics=("psnr",))
    assert [(c["a"], c["b"]) for c in comps if c["role"] == "best_t1"] == [("semunet", "loupe_seg")]
    assert _verdicts(orderings({}, comps, [0.1]))[CLAIM_T1] == "holds"


def test_comparisons_report_paired_differences_labels_and_verdicts():
    comps = comparisons(_grid(seeds=(0, 1)), [0.1], n_boot=200)
    by = {(c["a"], c["b"], c["metric"]): c for c in comps if c["role"] != "best_t1"}
    t1 = next(c for c in comps if c["role"] == "best_t1" and c["metric"] == "psnr")
    assert t1["label"] == "SemuNet − best of Table 1: LOUPE" and t1["diff"] == pytest.approx(1.0)
    c = by[("semunet", "loupe_seg", "psnr")]
    assert c["diff"] == pytest.approx(1.0) and c["low"] == pytest.approx(1.0) and c["high"] == pytest.approx(1.0)
    assert (c["n_subjects"], c["n_seeds"], c["n"]) == (4, 2, 8)
    assert c["verdict"] == "a > b" and c["label"] == "SemuNet − LOUPE"
    assert by[("semunet", "loupe_seg", "dice")]["label"] == "SemuNet − LOUPE-Seg"
    assert by[("semunet", "loupe_seg", "dice")]["diff"] == pytest.approx(0.03)
    tuned = by[("semunet", TUNED, "psnr")]
    assert tuned["diff"] == pytest.approx(34.0 - 32.5) and tuned["label"] == "SemuNet − Tuned VD + centre"
    assert by[("loupe_seg", TUNED, "psnr")]["diff"] == pytest.approx(0.5)
    assert by[("semunet", "baseline_c50", "psnr")]["label"] == "SemuNet − best fixed: Baseline VD + centre 50 %"
    assert by[("loupe_seg", "baseline_random", "dice")]["label"] == "LOUPE-Seg − best Baseline: Baseline Random"
    assert set(comps[0]) >= {"rate", "metric", "a", "b", "role", "label", "verdict", "diff", "low", "high"}


def test_comparisons_skip_pairs_with_fewer_than_two_subjects():
    cells = [make_cell(row, 0.1, subjects=("s1",), spread=(0.0,)) for row in ("semunet", "loupe_seg")]
    assert comparisons(cells, [0.1], n_boot=50) == []


# ---------------------------------------------------------------- claims


def _orderings(cells, rates=(0.1,)):
    tuned = add_tuned_cells(cells)
    return orderings(summarise(tuned), comparisons(cells, rates, n_boot=300), rates)


def _verdicts(items):
    return {i["claim"]: i["verdict"] for i in items}


def test_claims_hold_on_a_grid_that_follows_the_paper():
    items = _orderings(_grid(seeds=(0, 1)))
    assert [i["claim"] for i in items] == list(CLAIMS)
    assert _verdicts(items) == dict.fromkeys(CLAIMS, "holds")
    assert all(i["holds"] is True and i["rate"] == 0.1 for i in items)
    psnr = next(i for i in items if i["claim"] == CLAIM_PSNR)["detail"]
    assert "SemuNet − LOUPE +1.00 dB [+1.00, +1.00] (4 subjects x 2 seed(s): a > b)" == psnr
    dice = next(i for i in items if i["claim"] == CLAIM_DICE)["detail"]
    assert "SemuNet − LOUPE-Seg +3.00 points" in dice and "LOUPE-Seg − best Baseline: Baseline Random" in dice


def test_claims_fail_when_semunet_is_below():
    items = _orderings(_grid(semunet_psnr=32.0))  # below LOUPE (33.0) and the tuned mask (32.5)
    verdicts = _verdicts(items)
    assert verdicts[CLAIM_PSNR] == "fails" and verdicts[CLAIM_TUNED] == "fails"
    assert verdicts[CLAIM_DICE] == "holds"
    assert all(i["holds"] is (i["verdict"] == "holds") for i in items)


def test_tissue3_claims_are_checked_apart_from_the_7_class_ones():
    # LOUPE-Seg loses a small class: below the tuned mask (0.66) and Baseline Random (0.70) over 7 classes, but
    # between SemuNet (0.85) and them (0.76, 0.80) over CSF/GM/WM
    items = _orderings(_grid(loupe_seg=0.60, tissue3={"loupe_seg": 0.83}))
    verdicts = _verdicts(items)
    assert verdicts[CLAIM_TUNED] == "fails" and verdicts[CLAIM_DICE] == "fails"
    assert verdicts[CLAIM_TUNED_TISSUE3] == "holds" and verdicts[CLAIM_DICE_TISSUE3] == "holds"
    detail = next(i for i in items if i["claim"] == CLAIM_DICE_TISSUE3)["detail"]
    assert "SemuNet − LOUPE-Seg +2.00 points" in detail and "LOUPE-Seg − best Baseline: Baseline Random +3.00" in detail


def test_claims_within_noise_when_the_difference_changes_sign_between_subjects():
    # SemuNet equals LOUPE on average: +1 dB on two subjects, -1 dB on the other two
    spread = tuple(o + d for o, d in zip(SPREAD, (1.0, -1.0, 1.0, -1.0)))
    items = _orderings(_grid(semunet_psnr=33.0, semunet_spread=spread))
    verdicts = _verdicts(items)
    assert verdicts[CLAIM_PSNR] == "within noise"
    assert next(i for i in items if i["claim"] == CLAIM_PSNR)["holds"] is False
    assert "+0.00 dB" in next(i for i in items if i["claim"] == CLAIM_PSNR)["detail"]


def test_claims_skip_rates_without_the_rows():
    cells = _grid() + [make_cell("semunet", 0.05)]
    items = _orderings(cells, rates=(0.1, 0.05))
    assert {i["rate"] for i in items} == {0.1}


def _monotone_summary(sign):
    cells = []
    for k, row in enumerate(("semunet", "loupe_seg", "baseline_radial", "baseline_random")):
        cells.append(make_cell(row, 0.1, psnr=30.0 + k, dice=0.6 + sign * 0.01 * k))
    cells.append(make_cell("fullysampled", None, dice=0.1))  # never part of the ranking
    return summarise(cells)


@pytest.mark.parametrize("sign, rho", [(1, 1.0), (-1, -1.0)])
def test_psnr_dice_agreement_on_monotone_rows(sign, rho):
    out = psnr_dice_agreement(_monotone_summary(sign), [0.1])
    assert [(a["metric"], a["n_rows"]) for a in out] == [("dice", 4), ("dice3", 4)]
    assert all(a["rho"] == pytest.approx(rho) for a in out)
    assert out[0]["top_psnr"] == "Baseline Random"
    assert out[0]["top_dice"] == ("Baseline Random" if sign > 0 else "SemuNet")


def test_spearman_gives_tied_rows_their_average_rank():
    rows = ("semunet", "loupe_seg", "baseline_radial", "baseline_random")
    cells = [make_cell(r, 0.1, psnr=p, dice=d) for r, p, d in zip(rows, (30, 31, 31, 32), (0.6, 0.61, 0.62, 0.63))]
    out = psnr_dice_agreement(summarise(cells), [0.1])
    # PSNR ranks (1, 2.5, 2.5, 4) against Dice ranks (1, 2, 3, 4): rho = 4.5 / sqrt(4.5 * 5)
    assert [a["rho"] for a in out] == pytest.approx([4.5 / np.sqrt(4.5 * 5)] * 2)


def test_fold_coverage_and_agreement_leave_out_rows_missing_a_fold():
    rows = ("semunet", "loupe_seg", "baseline_radial", "baseline_random")
    cells = [make_cell(r, 0.1, psnr=30.0 + k, dice=0.6 + 0.01 * k, fold=f) for f in (0, 1) for k, r in enumerate(rows)]
    cells.append(make_cell("mdrecon_random", 0.1, psnr=40.0, dice=0.1, fold=0))  # one fold only: would make rho < 1
    folds = fold_coverage(cells)
    assert folds[("semunet", "a10")] == {0, 1} and folds[("mdrecon_random", "a10")] == {0}
    assert fold_complete([*rows, "mdrecon_random", "liu_radial"], "a10", folds) == list(rows)  # liu_radial: no cells
    summary = summarise(cells)
    # with it: squared rank differences 1 + 1 + 1 + 1 + 16, 1 - 6 * 20 / (5 * 24) = 0
    assert [a["rho"] for a in psnr_dice_agreement(summary, [0.1])] == pytest.approx([0.0, 0.0])
    out = psnr_dice_agreement(summary, [0.1], folds)
    assert [(a["n_rows"], a["rho"], a["left_out"]) for a in out] == [(4, 1.0, ["MD-Recon-Net Random"])] * 2
    with pytest.raises(ValueError, match="'row'"):
        fold_coverage([{"rate": 0.1}])


def test_psnr_dice_agreement_needs_three_rows():
    summary = summarise([make_cell("semunet", 0.1), make_cell("loupe_seg", 0.1, psnr=31.0, dice=0.8)])
    out = psnr_dice_agreement(summary, [0.1, 0.2])
    assert [a["rho"] for a in out] == [None] * 4
    assert [a["n_rows"] for a in out] == [2, 2, 0, 0]
