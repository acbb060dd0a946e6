from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from semunet_monai.reproduce.figures import effective_rate, format_rate, write_figures
from semunet_monai.reproduce.figures_curves import cumulative_epochs, metric_series, phase_starts
from semunet_monai.reproduce.grid import ROWS, make_cells
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


def make_grid(out: Path, rates=RATES, rows=None) -> dict:
    """Synthetic grid folders (mask, figure slice, metrics) and their results dict."""
    image, label = _phantom()
    rng = np.random.default_rng(0)
    cells = []
    for cell in make_cells(rates, 1, rows):
        folder = out / cell.folder
        folder.mkdir(parents=True)
        spec = ROWS[cell.row]
        if cell.rate is not None:
            kind = spec.mask_kind or "gaussian"
            mask = make_mask(kind, SHAPE, cell.rate, seed=cell.seed).numpy()
            (folder / "mask").mkdir()
            np.save(folder / "mask" / "mask.npy", mask)
        noise = 0.3 * (cell.rate or 0.0) + 0.02
        recon = (image + noise * rng.standard_normal(SHAPE)).astype(np.float32)
        pred = np.where(rng.random(SHAPE) < 0.1, rng.integers(0, 8, SHAPE), np.where(label == 255, 0, label))
        arrays = {"image": image, "zero_filled": (image + 2 * noise * rng.standard_normal(SHAPE)).astype(np.float32)}
        arrays |= {"recon": recon, "label": label, "pred": pred, "psnr": 25.0, "ssim": 0.8, "dice": np.nan}
        np.savez_compressed(folder / "figure_slice.npz", **arrays)
        (folder / "metrics.json").write_text(json.dumps(_metrics(cell.row, cell.rate)))
        cells.append(
            {"row": cell.row, "rate": cell.rate, "seed": cell.seed, "folder": cell.folder, "method": spec.method}
        )
    settings = {"rates": list(rates), "seeds": [0], "preset": "cpu", "epochs": 3, "finetune_epochs": 3}
    results = {"settings": settings, "class_names": CLASS_NAMES, "cells": cells}
    (out / "results.json").write_text(json.dumps(results))
    return results


def _expected(out: Path, rates=RATES) -> set[Path]:
    return {out / "fig_masks.png", out / "fig_curves.png"} | {
        out / f"fig_recon_a{round(100 * r):02d}.png" for r in rates
    }


def _temp_files(out: Path) -> list[Path]:
    return [p for p in out.rglob(".*") if p.is_file()]


def test_write_figures_all_pngs(tmp_path):
    results = make_grid(tmp_path)
    written = write_figures(results, tmp_path)
    assert set(written) == _expected(tmp_path)
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = imread(path)
        assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 400
        assert pixels[..., :3].std() > 0.05  # not a blank page
    assert _temp_files(tmp_path) == []


def test_mask_panels_differ(tmp_path):
    # one rate: the masks figure has one row of panels; its black mask pixels come from the drawn masks
    results = make_grid(tmp_path, rates=[0.2])
    write_figures(results, tmp_path)
    pixels = imread(tmp_path / "fig_masks.png")[..., :3].mean(axis=-1)
    dark = pixels < 0.1
    assert dark.mean() > 0.05
    h, w = pixels.shape
    # the panels (Random, Radial, ...) hold different masks: compare the columns' dark pixel counts
    counts = [dark[:, int(w * k / 6) : int(w * (k + 1) / 6)].sum() for k in range(6)]
    assert len(set(counts)) > 3


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
    results = make_grid(tmp_path)
    missing = tmp_path / "cells/semunet/a10/seed0/figure_slice.npz"
    missing.unlink()
    with caplog.at_level(logging.WARNING, logger="semunet_monai.reproduce.figures"):
        written = write_figures(results, tmp_path)
    assert set(written) == _expected(tmp_path)
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
