from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

import semunet_monai.reproduce.figures as figures
from semunet_monai.grid_rows import ROWS, SWEEP_ROWS
from semunet_monai.reproduce.figures import MASK_COLUMNS, GridFiles, effective_rate, format_rate, write_figures
from semunet_monai.reproduce.figures_curves import cumulative_epochs, metric_series, phase_starts
from semunet_monai.reproduce.figures_recon import RECON_ROWS, SHORT_NAMES, recon_figure, short_name
from semunet_monai.reproduce.grid import make_cells
from semunet_monai.sampling.masks import make_mask

RATES = [0.2, 0.1]
SHAPE = (32, 32)
CLASS_NAMES = ["cortical_gm", "basal_ganglia", "wm", "extracerebral_csf", "ventricles", "cerebellum", "brainstem"]


def _phantom() -> tuple[np.ndarray, np.ndarray]:
    """A disc of 7 rings (labels 1..7) with an ignored corner; the image grows with the label."""
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    r = np.hypot(yy - 15.5, xx - 15.5)
    label = np.where(r < 14, 7 - np.minimum(r // 2, 6), 0).astype(np.int64)
    label[:3, :3] = 255
    image = (np.where(label == 255, 0, label) / 7.0).astype(np.float32)
    return image, label


def _metrics(row: str, rate: float | None) -> list[dict]:
    """Validation rows of two phases of 3 epochs, different per row: loupe_seg has PSNR only in its first phase,
    fullysampled none."""
    k = list(ROWS).index(row)
    phases = ("recon", "seg") if row == "loupe_seg" else ("joint", "finetune")
    rows = []
    for phase in phases:
        for epoch in (1, 2, 3):
            x = epoch + (3 if phase == phases[1] else 0)
            entry = {"phase": phase, "epoch": epoch, "mean_dice": 0.3 + 0.05 * x * (1 + 0.1 * k) + (rate or 0.3) / 2}
            if row != "fullysampled" and not (row == "loupe_seg" and phase == "seg"):
                entry["psnr"] = 20 + x * (1 + 0.1 * k) + 10 * rate
            rows.append(entry)
    return rows


# a small grid (each panel costs drawing time): the paper's two patterns, both learned masks, two sweep shares
ROWS_SMALL = [
    "baseline_random",
    "baseline_radial",
    "loupe_seg",
    "semunet",
    "baseline_c25",
    "baseline_c50",
    "fullysampled",
]


def make_grid(out: Path, rates=RATES, rows=ROWS_SMALL, seeds=1, folds=1, val=None) -> dict:
    """Synthetic grid folders (mask, figure slice, metrics) and their results dict; ``val(cell)`` gives a cell's
    validation PSNR (None: no ``val`` entry)."""
    image, label = _phantom()
    rng = np.random.default_rng(0)
    cells = []
    for cell in make_cells(rates, seeds, rows, folds):
        folder = out / cell.folder
        folder.mkdir(parents=True)
        spec = ROWS[cell.row]
        if cell.rate is not None:
            kind = spec.mask_kind or "gaussian"
            mask = make_mask(kind, SHAPE, cell.rate, seed=cell.run_seed).numpy()
            (folder / "mask").mkdir()
            np.save(folder / "mask" / "mask.npy", mask)
        noise = 0.3 * (cell.rate or 0.0) + 0.02
        recon = (image + noise * rng.standard_normal(SHAPE)).astype(np.float32)
        pred = np.where(rng.random(SHAPE) < 0.1, rng.integers(0, 8, SHAPE), np.where(label == 255, 0, label))
        arrays = {"image": image, "zero_filled": (image + 2 * noise * rng.standard_normal(SHAPE)).astype(np.float32)}
        arrays |= {"recon": recon, "label": label, "pred": pred, "psnr": 25.0, "ssim": 0.8, "dice": np.nan}
        np.savez_compressed(folder / "figure_slice.npz", **arrays)
        (folder / "metrics.json").write_text(json.dumps(_metrics(cell.row, cell.rate)))
        record = {"row": cell.row, "rate": cell.rate, "seed": cell.seed, "fold": cell.fold, "folds": cell.folds}
        record.update(folder=cell.folder, method=spec.method)
        psnr = None if val is None else val(cell)
        if psnr is not None:
            record["val"] = {"psnr": psnr}
        cells.append(record)
    settings = {"rates": list(rates), "seeds": list(range(seeds)), "preset": "cpu", "epochs": 3, "finetune_epochs": 3}
    results = {"settings": settings, "class_names": CLASS_NAMES, "cells": cells}
    (out / "results.json").write_text(json.dumps(results))
    return results


def _expected(out: Path, rates=RATES) -> set[Path]:
    return {out / "fig_masks.png", out / "fig_curves.png", out / "fig_psnr_dice.png"} | {
        out / f"fig_recon_a{round(100 * r):02d}.png" for r in rates
    }


def _temp_files(out: Path) -> list[Path]:
    return [p for p in out.rglob(".*") if p.is_file()]


def test_write_figures_all_pngs(tmp_path, monkeypatch):
    monkeypatch.setattr(figures, "DPI", 72)  # the same figures, fewer pixels to draw
    results = make_grid(tmp_path, rows=["semunet", "baseline_c50", "fullysampled"])
    written = write_figures(results, tmp_path)
    assert set(written) == _expected(tmp_path)
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = imread(path)
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 150
        assert pixels[..., :3].std() > 0.05  # not a blank page
    assert _temp_files(tmp_path) == []


def _panels(fig, n_rates, rate_index=0):
    """``{panel title's first line: axes}`` of one rate's line of the masks figure."""
    n = len(fig.axes) // n_rates
    return {ax.get_title().split("\n")[0]: ax for ax in fig.axes[rate_index * n : (rate_index + 1) * n]}


def test_mask_panels_show_the_first_present_row_of_each_panel(tmp_path):
    rows = ["liu_random", "baseline_radial", "mdrecon_radial", "semunet", "baseline_c50"]
    results = make_grid(tmp_path, rates=[0.2, 0.1], rows=rows)
    results["cells"] = [c for c in results["cells"] if (c["row"], c["rate"]) != ("semunet", 0.2)]
    grid = GridFiles(results, tmp_path)
    fig = figures._masks_figure(grid)
    # the columns with a cell at some rate, in the order of MASK_COLUMNS (LOUPE, never run, is left out)
    assert list(_panels(fig, 2)) == ["Radial", "Random", "VD + centre 50 %", "SemuNet"]
    assert len(fig.axes) == 8
    for i, rate in enumerate(grid.rates):
        panels = _panels(fig, 2, i)
        # Random: Liu's mask (no Baseline Random run); Radial: Baseline's, the first of the panel's rows
        for title, row in (("Random", "liu_random"), ("Radial", "baseline_radial"), ("SemuNet", "semunet")):
            if grid.cell(row, rate) is None:
                assert not panels[title].images and [t.get_text() for t in panels[title].texts] == ["not run"]
                continue
            mask = np.load(tmp_path / grid.cell(row, rate)["folder"] / "mask" / "mask.npy")
            np.testing.assert_array_equal(panels[title].images[0].get_array(), mask.astype(np.float32))
            assert panels[title].get_title().split("\n")[1] == format_rate(mask)
        shown = panels["VD + centre 50 %"].images[0].get_array()
        assert shown.sum() == round(rate * shown.size)  # the sweep's mask hits the budget
    assert not _panels(fig, 2, 0)["SemuNet"].images and _panels(fig, 2, 1)["SemuNet"].images
    random, radial = (_panels(fig, 2)[t].images[0].get_array() for t in ("Random", "Radial"))
    assert np.abs(random - radial).sum() > 0


def test_tuned_share_is_marked_in_its_mask_panel(tmp_path):
    def val(cell):  # 50 % is the best share on validation in 3 of 4 runs at 10 %, 25 % in all at 20 %
        if not ROWS[cell.row].sweep:
            return 99.0  # never chosen: not a sweep row
        if cell.rate == 0.2:
            return 30.0 if cell.row == "baseline_c25" else 29.0
        best = "baseline_c25" if (cell.seed, cell.fold) == (1, 1) else "baseline_c50"
        return 31.0 if cell.row == best else 30.0

    rows = ["baseline_c25", "baseline_c50", "baseline_c75", "semunet"]
    results = make_grid(tmp_path, rates=[0.2, 0.1], rows=rows, seeds=2, folds=2, val=val)
    grid = GridFiles(results, tmp_path)
    assert grid.tuned == {"a20": ({"baseline_c25"}, 4, 4), "a10": ({"baseline_c50"}, 3, 4)}
    fig = figures._masks_figure(grid)
    titles = {rate: {t: ax.get_title() for t, ax in _panels(fig, 2, i).items()} for i, rate in enumerate(grid.rates)}
    assert titles[0.2]["VD + centre 25 %"].endswith("(tuned 4/4)")
    assert titles[0.1]["VD + centre 50 %"].endswith("(tuned 3/4)")
    marked = [(r, t) for r, by in titles.items() for t, title in by.items() if "(tuned" in title]
    assert marked == [(0.2, "VD + centre 25 %"), (0.1, "VD + centre 50 %")]
    # a column of its own shows this replicate's tuned mask, right before the learned masks it is the bar for
    for i, (rate, share) in enumerate(((0.2, "baseline_c25"), (0.1, "baseline_c50"))):
        panels = _panels(fig, 2, i)
        names = list(panels)
        tuned = [t for t in names if t.startswith(figures.TUNED_PANEL)]
        assert tuned == [f"{figures.TUNED_PANEL}: {100 * ROWS[share].centre:g} %"]
        assert names.index(tuned[0]) == names.index("SemuNet") - 1
        mask = np.load(tmp_path / grid.cell(share, rate)["folder"] / "mask" / "mask.npy")
        np.testing.assert_array_equal(panels[tuned[0]].images[0].get_array(), mask.astype(np.float32))
    # a later seed that trained only the share seed 0 chose is no new evidence: it is not counted
    only_chosen = [c for c in results["cells"] if not (c["seed"] == 1 and c["row"] in ("baseline_c25", "baseline_c75"))]
    assert GridFiles({**results, "cells": only_chosen}, tmp_path).tuned["a10"] == ({"baseline_c50"}, 2, 2)
    # without validation scores nothing is marked
    no_val = make_grid(tmp_path / "none", rates=[0.1], rows=rows)
    assert GridFiles(no_val, tmp_path / "none").tuned == {}


def test_grid_files_draw_one_replicate(tmp_path):
    rows = ["semunet", "baseline_c50", "fullysampled"]
    results = make_grid(tmp_path, rates=[0.1], rows=rows, seeds=2, folds=2)
    results["cells"] = [c for c in results["cells"] if (c["seed"], c["fold"]) != (0, 1)] + [
        c for c in results["cells"] if (c["seed"], c["fold"]) == (0, 1)
    ]  # the order of the cells does not matter
    grid = GridFiles(results, tmp_path)
    assert (grid.seed, grid.fold, grid.replicate) == (0, 0, "seed 0, fold 0")
    assert sorted(grid.cells) == sorted([("semunet", "a10"), ("baseline_c50", "a10"), ("fullysampled", "full")])
    assert all((c["seed"], c["fold"]) == (0, 0) for c in grid.cells.values())
    assert grid.cell("semunet", 0.1)["folder"] == "cells/semunet/a10/fold0/seed0"
    # without seed 0, seed 1's lowest fold; one split: no fold in words
    grid = GridFiles({"cells": [c for c in results["cells"] if c["seed"] == 1]}, tmp_path)
    assert (grid.seed, grid.fold) == (1, 0)
    single = make_grid(tmp_path / "one", rates=[0.1], rows=rows)
    assert GridFiles(single, tmp_path / "one").replicate == "seed 0"


def test_rows_names_and_panels_come_from_the_grid():
    assert RECON_ROWS == tuple(k for k, r in ROWS.items() if r.recon)
    assert "fullysampled" not in RECON_ROWS and set(SWEEP_ROWS) <= set(RECON_ROWS)
    assert all(SHORT_NAMES[k] == r.short for k, r in ROWS.items())
    assert short_name("baseline_c25") == ROWS["baseline_c25"].short and short_name("unknown") == "unknown"
    # every row with a panel is in exactly one column, each under its own panel title
    members = [r for rows in MASK_COLUMNS.values() for r in rows]
    assert sorted(members) == sorted(k for k, r in ROWS.items() if r.panel is not None)
    assert all(ROWS[r].panel == title for title, rows in MASK_COLUMNS.items() for r in rows)
    assert MASK_COLUMNS["Radial"] == ("baseline_radial", "liu_radial", "mdrecon_radial")
    titles = list(MASK_COLUMNS)
    sweep = [ROWS[r].panel for r in SWEEP_ROWS]
    # the fixed patterns, the sweep last among them, then the learned masks: the sweep sits next to LOUPE and SemuNet
    assert titles[-2:] == ["LOUPE", "SemuNet"] and titles[-2 - len(sweep) : -2] == sweep


def test_recon_figure_has_one_column_per_present_row(tmp_path):
    rows = ["semunet", "baseline_c25", "baseline_random", "fullysampled"]
    grid = GridFiles(make_grid(tmp_path, rates=[0.1], rows=rows), tmp_path)
    fig = recon_figure(grid, 0.1)
    top = [ax.get_title().split("\n")[0] for ax in fig.axes[:6]]
    # reference, zero-filled, the methods in the order of ROWS, the fully sampled SegNet (titled in its bottom panel)
    assert top[:2] == ["Reference", "Zero-filled"]
    assert top[2:5] == [ROWS[r].short for r in ("baseline_random", "semunet", "baseline_c25")]
    assert "seed 0" in fig.get_suptitle()


@pytest.mark.parametrize(
    "mask, expected",
    [
        (np.r_[np.ones(10, bool), np.zeros(90, bool)].reshape(10, 10), "10.0 %"),
        (np.ones((4, 4), bool), "100.0 %"),
        (np.eye(8, dtype=np.uint8), "12.5 %"),
    ],
)
def test_format_rate(mask, expected):
    assert format_rate(mask) == expected
    assert effective_rate(mask) == pytest.approx(float(expected.split()[0]) / 100)


def test_effective_rate_of_drawn_mask():
    mask = make_mask("random", SHAPE, 0.1, seed=0).numpy()
    assert effective_rate(mask) == pytest.approx(mask.sum() / mask.size)


def test_missing_slice_logs_warning(tmp_path, caplog):
    results = make_grid(tmp_path, rates=[0.1], rows=["semunet", "baseline_random"])
    missing = tmp_path / "cells/semunet/a10/seed0/figure_slice.npz"
    missing.unlink()
    with caplog.at_level(logging.WARNING, logger="semunet_monai.reproduce.figures"):
        written = write_figures(results, tmp_path)
    assert set(written) == _expected(tmp_path, [0.1])
    assert any(str(missing) in r.getMessage() for r in caplog.records)
    assert _temp_files(tmp_path) == []


def test_missing_mask_and_metrics_and_cells(tmp_path, caplog):
    results = make_grid(tmp_path, rates=[0.1], rows=["semunet", "baseline_random", "fullysampled"])
    (tmp_path / "cells/semunet/a10/seed0/mask/mask.npy").unlink()
    (tmp_path / "cells/baseline_random/a10/seed0/metrics.json").unlink()
    with caplog.at_level(logging.WARNING):
        written = write_figures(results, tmp_path)
    assert set(written) == _expected(tmp_path, [0.1])
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "mask.npy" in messages and "metrics.json" in messages


def test_rate_without_cells_skips_its_recon_figure(tmp_path):
    results = make_grid(tmp_path, rates=[0.1], rows=["semunet"])
    results["settings"]["rates"] = [0.2, 0.1]
    written = write_figures(results, tmp_path)
    assert tmp_path / "fig_recon_a10.png" in written and not (tmp_path / "fig_recon_a20.png").exists()


@pytest.mark.parametrize(
    "results, key",
    [
        ({"settings": {"rates": [0.1]}}, "'cells'"),
        ({"cells": [{"row": "semunet", "rate": 0.1, "seed": 0}]}, "'folder'"),
    ],
)
def test_bad_results(tmp_path, results, key):
    with pytest.raises(ValueError, match=key):
        write_figures(results, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cumulative_epochs():
    rows = [{"phase": "joint", "epoch": 10}, {"phase": "joint", "epoch": 20}, {"phase": "finetune", "epoch": 10}]
    assert cumulative_epochs(rows) == [10, 20, 30]
    assert phase_starts(rows) == [20]
    three = rows + [{"phase": "seg", "epoch": 5}]
    assert cumulative_epochs(three) == [10, 20, 30, 35]
    assert phase_starts(three) == [20, 30]


def test_cumulative_epochs_needs_phase_and_epoch():
    with pytest.raises(ValueError, match="'phase' or 'epoch'"):
        cumulative_epochs([{"epoch": 1}])


def test_metric_series_skips_absent_and_nan():
    rows = [
        {"phase": "recon", "epoch": 1, "psnr": 20.0},
        {"phase": "recon", "epoch": 2, "psnr": float("nan")},
        {"phase": "seg", "epoch": 1, "mean_dice": 0.5},
    ]
    assert metric_series(rows, "psnr") == ([1], [20.0])
    assert metric_series(rows, "mean_dice") == ([3], [0.5])
    assert metric_series(rows, "ssim") == ([], [])


def test_corrupt_slice_and_method_without_segnet(tmp_path, caplog):
    results = make_grid(tmp_path, rates=[0.1], rows=["semunet", "liu_random", "baseline_random"])
    corrupt = tmp_path / "cells/baseline_random/a10/seed0/figure_slice.npz"
    corrupt.write_bytes(b"not an npz")
    no_pred = tmp_path / "cells/liu_random/a10/seed0/figure_slice.npz"
    with np.load(no_pred) as data:
        arrays = {k: data[k] for k in data.files if k != "pred"}
    np.savez_compressed(no_pred, **arrays)
    with caplog.at_level(logging.WARNING):
        written = write_figures(results, tmp_path)
    assert set(written) == _expected(tmp_path, [0.1])
    assert [r.getMessage() for r in caplog.records if str(corrupt) in r.getMessage()]
    assert not [r for r in caplog.records if str(no_pred) in r.getMessage()]  # no SegNet is not an error


def test_only_fully_sampled_writes_curves(tmp_path):
    results = make_grid(tmp_path, rates=[0.1], rows=["fullysampled"])
    results["settings"]["rates"] = []
    assert write_figures(results, tmp_path) == [tmp_path / "fig_curves.png"]


def test_figures_need_no_pyplot(tmp_path):
    # the module draws with Figure objects: pyplot's global figure list is untouched
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    write_figures(make_grid(tmp_path, rates=[0.1], rows=["semunet"]), tmp_path)
    assert plt.get_fignums() == before


def test_the_fully_sampled_run_draws_dice_but_no_psnr_curve():
    from semunet_monai.reproduce.figures_curves import curves_figure

    rows = [
        {"phase": "seg", "epoch": 1, "psnr": 150.0, "mean_dice": 0.5},
        {"phase": "seg", "epoch": 2, "mean_dice": 0.6},
    ]
    learned = [{"phase": "joint", "epoch": 1, "psnr": 20.0, "mean_dice": 0.4}]
    fig = curves_figure({"a": {"fullysampled": rows, "semunet": learned}}, {"semunet": "SemuNet", "fullysampled": "FS"})
    psnr_ax, dice_ax = fig.axes[0], fig.axes[1]
    assert [line.get_label() for line in psnr_ax.lines if line.get_label() in ("SemuNet", "FS")] == ["SemuNet"]
    assert {line.get_label() for line in dice_ax.lines} >= {"SemuNet", "FS"}


def test_every_row_has_its_own_curve_colour_and_references_are_black():
    from semunet_monai.reproduce.figures_curves import curves_figure

    rows = [{"phase": "joint", "epoch": 1, "psnr": 20.0, "mean_dice": 0.4}, {"phase": "joint", "epoch": 2}]
    fig = curves_figure({"a": dict.fromkeys(ROWS, rows)}, {k: short_name(k) for k in ROWS})
    lines = {line.get_label(): line for line in fig.axes[1].lines}  # the Dice panel: every row has a line
    assert len(lines) == len(ROWS)
    colours = [lines[short_name(k)].get_color() for k in ROWS if k != "fullysampled"]
    assert len(set(colours)) == len(colours) and "#000000" not in colours
    full = lines[short_name("fullysampled")]
    assert full.get_color() == "#000000" and full.get_linestyle() == "--"
