from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from semunet_monai.reproduce.claims import CLAIM_DICE, CLAIM_PSNR, orderings
from semunet_monai.reproduce.stats import (
    comparisons,
    paired_bootstrap,
    slice_values,
    summarise,
)


def make_cell(row, rate, seed=0, psnr=30.0, ssim=0.8, dice=0.7, n_slices=12, noise=0.05, subject="5", **extra_mean):
    """A synthetic grid cell whose per-slice values scatter around the given means."""
    rng = np.random.default_rng(zlib.crc32(repr((row, rate, seed)).encode()))
    per_slice = {"subject": [subject] * n_slices, "slice": list(range(n_slices))}
    mean = {"mean_dice": dice, **extra_mean}
    per_slice["dice"] = list(dice + noise * 0.1 * rng.standard_normal(n_slices))
    if row != "fullysampled":
        mean.update(psnr=psnr, ssim=ssim)
        per_slice["psnr"] = list(psnr + noise * rng.standard_normal(n_slices))
        per_slice["ssim"] = list(ssim + noise * 0.1 * rng.standard_normal(n_slices))
    return {"row": row, "rate": rate, "seed": seed, "mean": mean, "per_slice": per_slice}


# ---------------------------------------------------------------- paired_bootstrap


def test_bootstrap_constant_difference():
    res = paired_bootstrap([3.5] * 20, [1.25] * 20, n_boot=500)
    assert res["diff"] == 2.25 and res["low"] == 2.25 and res["high"] == 2.25
    assert res["n"] == 20 and res["p_not_positive"] == 0.0


def test_bootstrap_shift_with_noise_excludes_zero_and_matches_standard_error():
    rng = np.random.default_rng(1)
    b = rng.normal(30, 2, 400)
    d = 0.5 + rng.normal(0, 0.3, 400)
    res = paired_bootstrap(list(b + d), list(b))
    assert res["low"] < 0.5 < res["high"]
    assert res["low"] > 0 and res["p_not_positive"] == 0.0
    assert res["diff"] == pytest.approx(d.mean())
    # the 95 % percentile interval is close to the normal one, mean +- 1.96 SE
    se = d.std(ddof=1) / math.sqrt(len(d))
    assert res["high"] - res["low"] == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_bootstrap_no_shift_includes_zero():
    rng = np.random.default_rng(2)
    b = rng.normal(30, 2, 200)
    res = paired_bootstrap(list(b + rng.normal(0, 0.3, 200)), list(b))
    assert res["low"] < 0 < res["high"]
    assert 0.05 < res["p_not_positive"] < 0.95


def test_bootstrap_level_widens_interval():
    rng = np.random.default_rng(3)
    a, b = rng.normal(1, 1, 50), rng.normal(0, 1, 50)
    narrow, wide = paired_bootstrap(a, b, level=0.5), paired_bootstrap(a, b, level=0.99)
    assert wide["low"] < narrow["low"] < narrow["high"] < wide["high"]


def test_bootstrap_deterministic_for_a_seed_and_leaves_global_rng():
    rng = np.random.default_rng(4)
    a, b = list(rng.normal(1, 1, 30)), list(rng.normal(0, 1, 30))
    state = np.random.get_state()[1].copy()
    first = paired_bootstrap(a, b, seed=7)
    assert paired_bootstrap(a, b, seed=7) == first
    assert paired_bootstrap(a, b, seed=8)["low"] != first["low"]
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_bootstrap_drops_undefined_pairs():
    res = paired_bootstrap([1.0, None, 3.0, 4.0, float("nan"), 6.0], [0.0, 1.0, None, 2.0, 1.0, 4.0])
    assert res["n"] == 3
    assert res["diff"] == pytest.approx((1 + 2 + 2) / 3)


@pytest.mark.parametrize(
    "a, b, match",
    [
        ([1.0, 2.0, 3.0], [1.0, 2.0], "'b'"),
        ([1.0, 2.0], [0.5, None], "'a' and 'b'"),
        ([None, None, 1.0], [1.0, 2.0, None], "'a' and 'b'"),
        ([], [], "'a' and 'b'"),
    ],
)
def test_bootstrap_rejects_bad_input(a, b, match):
    with pytest.raises(ValueError, match=match):
        paired_bootstrap(a, b)


@pytest.mark.parametrize("kwargs, match", [({"n_boot": 0}, "'n_boot'"), ({"level": 1.0}, "'level'")])
def test_bootstrap_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        paired_bootstrap([1.0, 2.0], [0.0, 1.0], **kwargs)


# ---------------------------------------------------------------- summarise


def test_summarise_means_std_and_counts_over_seeds():
    cells = [
        {"row": "semunet", "rate": 0.1, "seed": 0, "mean": {"psnr": 30.0, "ssim": 0.7, "dice_wm": 0.5, "hd95": 3.0}},
        {"row": "semunet", "rate": 0.1, "seed": 1, "mean": {"psnr": 31.0, "ssim": 0.8, "dice_wm": None}},
        {"row": "semunet", "rate": 0.1, "seed": 2, "mean": {"psnr": None, "ssim": 0.9, "dice_wm": float("nan")}},
        {"row": "semunet", "rate": 0.2, "seed": 0, "mean": {"psnr": 35.0, "mean_dice": None}},
        {"row": "fullysampled", "rate": None, "seed": 0, "mean": {"mean_dice": 0.8}},
        {"row": "fullysampled", "rate": None, "seed": 1, "mean": {"mean_dice": 0.9}},
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
    assert s["semunet"]["a20"]["psnr"] == {"mean": 35.0, "std": None, "n": 1}
    assert s["semunet"]["a20"]["mean_dice"] == {"mean": None, "std": None, "n": 0}
    assert s["fullysampled"]["full"]["mean_dice"]["mean"] == pytest.approx(0.85)


def test_summarise_rejects_cells_without_row():
    with pytest.raises(ValueError, match="'cells'"):
        summarise([{"rate": 0.1, "mean": {}}])


# ---------------------------------------------------------------- slice_values


def test_slice_values_pairs_seeds_by_subject_and_slice():
    def cell(seed, subjects, slices, dice, rate=0.1):
        return {
            "row": "semunet",
            "rate": rate,
            "seed": seed,
            "per_slice": {"subject": subjects, "slice": slices, "dice": dice},
        }

    cells = [
        cell(0, ["5", "5", "7"], [0, 1, 0], [0.2, 0.4, None]),
        cell(1, ["7", "5", "5"], [0, 1, 0], [None, 0.6, 0.4]),
        cell(2, ["5"], [0], [0.9], rate=0.2),  # another rate: ignored
        {"row": "loupe_seg", "rate": 0.1, "seed": 0, "per_slice": {"subject": ["5"], "slice": [0], "dice": [0.0]}},
    ]
    keys, values = slice_values(cells, "semunet", 0.1, "dice")
    assert keys == [("5", 0), ("5", 1), ("7", 0)]
    assert values[0] == pytest.approx(0.3) and values[1] == pytest.approx(0.5) and values[2] is None
    assert slice_values(cells, "semunet", 0.1, "psnr") == ([], [])


def test_slice_values_rejects_unknown_metric_and_ragged_lists():
    with pytest.raises(ValueError, match="'metric'"):
        slice_values([], "semunet", 0.1, "hd95")
    ragged = {"row": "semunet", "rate": 0.1, "seed": 0, "per_slice": {"subject": ["5"], "slice": [0, 1], "dice": [0.1]}}
    with pytest.raises(ValueError, match="'cells'"):
        slice_values([ragged], "semunet", 0.1, "dice")


# ---------------------------------------------------------------- comparisons


def _grid_for_comparisons():
    # at 10 %: baseline_radial is the best fixed Baseline in PSNR and SSIM, baseline_random in Dice
    return [
        make_cell("semunet", 0.1, psnr=34.0, ssim=0.90, dice=0.75),
        make_cell("loupe_seg", 0.1, psnr=33.0, ssim=0.88, dice=0.72),
        make_cell("baseline_radial", 0.1, psnr=31.0, ssim=0.85, dice=0.60),
        make_cell("baseline_random", 0.1, psnr=30.0, ssim=0.84, dice=0.70),
        # at 5 %: no LOUPE-Seg run
        make_cell("semunet", 0.05, psnr=31.0, ssim=0.85, dice=0.70),
        make_cell("baseline_random", 0.05, psnr=29.0, ssim=0.80, dice=0.65),
    ]


def test_comparisons_pick_best_fixed_baseline_per_metric():
    cells = _grid_for_comparisons()
    comps = comparisons(cells, [0.1, 0.05, 0.2], n_boot=200)
    at10 = {(c["a"], c["b"], c["metric"]) for c in comps if c["rate"] == 0.1}
    assert at10 == {
        ("semunet", "loupe_seg", "psnr"),
        ("semunet", "loupe_seg", "ssim"),
        ("semunet", "loupe_seg", "dice"),
        ("semunet", "baseline_radial", "psnr"),
        ("semunet", "baseline_radial", "ssim"),
        ("semunet", "baseline_random", "dice"),
        ("loupe_seg", "baseline_random", "dice"),  # LOUPE-Seg >= Baseline: the better paper Baseline column
        ("loupe_seg", "baseline_radial", "psnr"),
        ("loupe_seg", "baseline_radial", "ssim"),
    }
    # rows missing at 5 % (LOUPE-Seg) and 20 % (everything) are skipped
    at05 = {(c["a"], c["b"], c["metric"]) for c in comps if c["rate"] == 0.05}
    assert all(c["role"] in ("pair", "best_fixed", "best_baseline") for c in comps)
    assert at05 == {("semunet", "baseline_random", m) for m in ("psnr", "ssim", "dice")}
    assert not [c for c in comps if c["rate"] == 0.2]


def test_comparisons_report_paired_differences_and_labels():
    cells = _grid_for_comparisons()
    comp = next(c for c in comparisons(cells, [0.1], n_boot=200) if c["b"] == "loupe_seg" and c["metric"] == "psnr")
    _, a = slice_values(cells, "semunet", 0.1, "psnr")
    _, b = slice_values(cells, "loupe_seg", 0.1, "psnr")
    assert comp["diff"] == pytest.approx(np.mean(np.subtract(a, b)))
    assert comp["n"] == 12 and comp["low"] > 0
    assert "SemuNet" in comp["label"] and "LOUPE" in comp["label"]
    dice = next(c for c in comparisons(cells, [0.1], n_boot=200) if c["metric"] == "dice" and c["b"] == "loupe_seg")
    assert dice["label"] == "SemuNet − LOUPE-Seg"


# ---------------------------------------------------------------- orderings


def _ordering_cells(semunet_psnr=34.0, loupe_dice=0.72):
    return [
        make_cell("semunet", 0.1, psnr=semunet_psnr, dice=0.75),
        make_cell("loupe_seg", 0.1, psnr=33.5, dice=loupe_dice),
        make_cell("baseline_radial", 0.1, psnr=31.0, dice=0.70),
        make_cell("baseline_random", 0.1, psnr=30.0, dice=0.68),
        make_cell("liu_random", 0.1, psnr=30.5, dice=0.69),
        make_cell("mdrecon_random", 0.1, psnr=33.0, dice=0.71),
        make_cell("semunet", 0.05, psnr=30.0, dice=0.70),  # 5 %: nothing to compare with
    ]


def _orderings(cells, rates=(0.1, 0.05)):
    return orderings(summarise(cells), comparisons(cells, rates, n_boot=200), rates)


def test_orderings_hold():
    items = _orderings(_ordering_cells())
    assert [(i["claim"], i["rate"], i["holds"]) for i in items] == [(CLAIM_PSNR, 0.1, True), (CLAIM_DICE, 0.1, True)]
    psnr = items[0]["detail"]
    assert "34.00" in psnr and "mdrecon_random" in psnr and "excludes 0" in psnr
    # the quoted interval is against the row the verdict names (the best fixed row), not a weaker one
    assert "SemuNet − best fixed: MD-Recon-Net Random" in psnr and "LOUPE − best fixed: MD-Recon-Net Random" in psnr
    assert "LOUPE-Seg − best Baseline: Baseline Radial" in items[1]["detail"]
    assert "75.00" in items[1]["detail"] and "72.00" in items[1]["detail"]


def test_orderings_fail_when_a_fixed_row_beats_semunet():
    items = _orderings(_ordering_cells(semunet_psnr=32.5, loupe_dice=0.69))
    psnr = next(i for i in items if i["claim"] == CLAIM_PSNR)
    assert psnr["holds"] is False
    assert "SemuNet 32.50 dB is not above mdrecon_random 33.00 dB (by 0.50 dB)" in psnr["detail"]
    assert "baseline_radial" not in psnr["detail"].split("is not above")[1].split(";")[0]
    dice = next(i for i in items if i["claim"] == CLAIM_DICE)
    assert dice["holds"] is False
    assert "LOUPE-Seg 69.00 % < baseline_radial 70.00 %" in dice["detail"]
    assert "baseline_random" not in dice["detail"].split(";")[0]


def test_orderings_psnr_claim_needs_loupe_above_fixed_rows_too():
    cells = _ordering_cells()
    cells[1] = make_cell("loupe_seg", 0.1, psnr=32.0, dice=0.72)  # below mdrecon_random (33.0)
    psnr = next(i for i in _orderings(cells) if i["claim"] == CLAIM_PSNR)
    assert psnr["holds"] is False and "LOUPE 32.00 dB is not above mdrecon_random" in psnr["detail"]


def test_semunet_is_also_compared_with_the_best_baseline_when_another_method_is_the_best_fixed_row():
    cells = _ordering_cells()  # mdrecon_random is the best fixed row in PSNR, baseline_radial the best Baseline
    comps = {(c["a"], c["b"], c["metric"], c["role"]) for c in comparisons(cells, [0.1], n_boot=200)}
    assert ("semunet", "mdrecon_random", "psnr", "best_fixed") in comps
    assert ("semunet", "baseline_radial", "psnr", "best_baseline") in comps
    assert ("loupe_seg", "mdrecon_random", "psnr", "best_fixed") in comps
