"""The grid runner end to end on the tiny preset: training, scoring, results.json, resume and refusals."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest

import semunet_monai
from semunet_monai.cli import main
from semunet_monai.reproduce import runner
from semunet_monai.reproduce.grid import Cell
from semunet_monai.reproduce.scoring import SCORING_VERSION


def _config(tmp_path, demo_dir, **data):
    lines = ["data:", f"  demo_dir: {demo_dir}"] + [f"  {k}: {v}" for k, v in data.items()]
    path = tmp_path / "grid.yaml"
    path.write_text("\n".join(lines + ["train:", "  threads: 1"]) + "\n")
    return path


ROWS = ["semunet", "baseline_random", "fullysampled"]


@pytest.fixture(scope="module")
def grid(tmp_path_factory, demo_dir):
    tmp = tmp_path_factory.mktemp("grid")
    config = _config(tmp, demo_dir)
    out = tmp / "out"
    results = runner.run_grid(out, [0.1], preset="tiny", rows=ROWS, config_file=config, progress=False, report=False)
    return out, config, results


def test_every_cell_is_trained_scored_and_recorded(grid):
    out, _, results = grid
    assert [c["row"] for c in results["cells"]] == ROWS and results["cells_missing"] == []
    assert json.loads((out / "results.json").read_text()) == json.loads(json.dumps(results))
    cells = {c["row"]: c for c in results["cells"]}
    semunet = cells["semunet"]
    assert semunet["mask_rate"] == pytest.approx(round(0.1 * 48 * 48) / (48 * 48))  # the top-n boolean mask
    n_slices = len(semunet["per_slice"]["slice"])
    assert n_slices == 10  # the tiny demo subject's slices
    assert all(len(v) == n_slices for c in results["cells"] for v in c["per_slice"].values())
    assert all(np.isfinite(semunet["per_slice"]["psnr"]))
    test_metrics = json.loads((out / semunet["folder"] / "test_metrics.json").read_text())["mean"]
    assert semunet["mean"]["psnr"] == pytest.approx(test_metrics["psnr"])
    full = cells["fullysampled"]
    assert full["rate"] is None and full["mask_rate"] is None
    assert "psnr" not in full["mean"] and "psnr" not in full["per_slice"] and "dice" in full["per_slice"]
    assert cells["baseline_random"]["acs"] is None and cells["baseline_random"]["mask_kind"] == "gaussian"
    assert all(c["seconds"] > 0 for c in results["cells"]) and results["wall_seconds"] > 0
    assert results["versions"]["torch"] and len(results["class_names"]) == 7
    # each cell names the code that trained it: the source's commit when it runs from a checkout
    checkout = (Path(semunet_monai.__file__).resolve().parents[1] / ".git").exists()
    for c in results["cells"]:
        commit = c["versions"]["semunet-monai commit"]
        if checkout:  # a hash, or the word that git could not say (no git binary, a repository it refuses)
            assert re.fullmatch(r"[0-9a-f]{12}(-dirty)?", commit) or commit == "unknown (git describe failed)"
        else:
            assert commit == "not a git checkout"
        assert c["versions"]["torch"] == results["versions"]["torch"]
    with np.load(out / semunet["folder"] / "figure_slice.npz") as z:
        assert {"image", "zero_filled", "recon", "label", "pred", "psnr", "ssim", "dice"} <= set(z.files)
    # per-volume scores of the one test subject, validation scores of the final model, tissue3 beside paper7
    assert set(semunet["per_volume"]) == {"2"} and semunet["test_subjects"] == ["2"]
    assert semunet["per_volume"]["2"]["psnr"] == pytest.approx(semunet["mean"]["psnr"])
    assert 0 <= semunet["mean"]["mean_dice_tissue3"] <= 1 and "dice_tissue3_gm" in semunet["mean"]
    assert set(semunet["val"]) == {"psnr", "ssim", "mean_dice", "mean_dice_tissue3"}
    assert "psnr" not in full["val"] and "mean_dice" in full["val"]
    # every row's SegNet gets the same number of optimisation steps
    assert len({c["steps"]["seg"] for c in results["cells"]}) == 1 and semunet["steps"]["seg"] > 0
    # ... and the trainers ran exactly that budget (counted from each phase's checkpoint, not from the method table)
    assert all(c["steps_run"] == c["steps"] for c in results["cells"])
    assert semunet["steps"]["sampler"] > 0 and full["steps"]["recon"] == 0


def test_the_test_subjects_are_scored_once(tmp_path, demo_dir, monkeypatch):
    from semunet_monai.engines import workflow

    def no_test_evaluation(*args, **kwargs):
        raise AssertionError("train() evaluated the test subjects: the grid scores them itself")

    monkeypatch.setattr(workflow, "evaluate", no_test_evaluation)
    calls = []
    real = runner.collect_test_volumes
    monkeypatch.setattr(runner, "collect_test_volumes", lambda *a, **k: calls.append(1) or real(*a, **k))
    config = _config(tmp_path, demo_dir)
    runner.run_grid(tmp_path / "o", [0.1], preset="tiny", rows=["baseline_random"], config_file=config, report=False)
    assert calls == [1]


def test_k_fold_tests_every_subject_once_and_resumes(tmp_path, demo_dir, monkeypatch):
    config = _config(tmp_path, demo_dir)
    results = runner.run_grid(
        tmp_path / "o", [0.1], preset="tiny", rows=["baseline_random"], config_file=config, report=False, folds=3
    )
    cells = results["cells"]
    assert sorted(c["fold"] for c in cells) == [0, 1, 2] and results["settings"]["folds"] == 3
    tested = [s for c in cells for s in c["per_volume"]]
    assert sorted(tested) == ["1", "2", "3"]  # each subject in exactly one fold
    assert len({c["run_seed"] for c in cells}) == 3
    # a second invocation finds the finished fold cells and trains nothing
    monkeypatch.setattr(runner, "train", lambda *a, **k: pytest.fail("a finished fold cell was trained again"))
    again = runner.run_grid(
        tmp_path / "o", [0.1], preset="tiny", rows=["baseline_random"], config_file=config, report=False, folds=3
    )
    assert sorted(c["fold"] for c in again["cells"]) == [0, 1, 2]
    # another split of the same subjects is refused, not pooled (a subject would be tested twice)
    with pytest.raises(ValueError, match=r"splits the subjects with --folds 3, not 1.*Resume it with --folds 3"):
        runner.run_grid(tmp_path / "o", [0.1], preset="tiny", rows=["baseline_random"], config_file=config, folds=1)
    # a folder that already mixes two splits (an older version allowed it) is refused whatever --folds says
    record = json.loads(next((tmp_path / "o" / "cells").rglob("cell.json")).read_text())
    single = tmp_path / "o" / Cell("baseline_random", 0.1, 0).folder
    single.mkdir(parents=True)
    (single / "cell.json").write_text(json.dumps({**record, "folds": 1, "fold": 0}))
    with pytest.raises(ValueError, match=r"mixes splits of the subjects \(--folds \[1, 3\]\).*new --out"):
        runner.run_grid(tmp_path / "o", [0.1], preset="tiny", rows=["baseline_random"], config_file=config, folds=3)


def test_a_second_run_trains_nothing_and_a_new_row_trains_only_itself(grid, monkeypatch):
    out, config, results = grid
    trained = []
    real_train = runner.train

    def counting_train(cfg, run_dir, resume=False, progress=True, test=True):
        trained.append((cfg.train.method, cfg.sampling.mask_kind))
        return real_train(cfg, run_dir, resume=resume, progress=progress)

    monkeypatch.setattr(runner, "train", counting_train)
    again = runner.run_grid(out, [0.1], preset="tiny", rows=ROWS, config_file=config, progress=False, report=False)
    assert trained == [] and [c["per_slice"] for c in again["cells"]] == [c["per_slice"] for c in results["cells"]]
    more = runner.run_grid(
        out, [0.1], preset="tiny", rows=[*ROWS, "baseline_uniform"], config_file=config, progress=False, report=False
    )
    assert trained == [("baseline", "random")] and len(more["cells"]) == 4


def test_changed_settings_are_refused_before_any_cell_trains(grid):
    out, config, _ = grid
    with pytest.raises(ValueError, match=r"cells/semunet/a10/seed0.*other settings.*Nothing was trained"):
        rows = ["baseline_radial", "semunet"]  # a new cell comes first in the grid's order
        runner.run_grid(out, [0.1], preset="tiny", rows=rows, config_file=config, epochs=2, report=False)
    assert not (out / "cells" / "baseline_radial").exists()


def test_other_threads_resume_without_training(grid, monkeypatch, tmp_path):
    out, config, _ = grid
    other = tmp_path / "threads.yaml"
    other.write_text(config.read_text().replace("threads: 1", "threads: 2"))
    assert other.read_text() != config.read_text()
    monkeypatch.setattr(runner, "train", lambda *a, **k: pytest.fail("a finished cell was trained again"))
    again = runner.run_grid(out, [0.1], preset="tiny", rows=ROWS, config_file=other, progress=False, report=False)
    assert set(ROWS) <= {c["row"] for c in again["cells"]}  # found on disk and kept, not trained again


def test_per_slice_scores_agree_with_the_per_volume_scores(grid):
    _, _, results = grid
    for cell in results["cells"]:  # one test subject: its volume SSIM is the mean of its slices' SSIM
        if "ssim" in cell["mean"]:
            assert np.mean(cell["per_slice"]["ssim"]) == pytest.approx(cell["mean"]["ssim"], abs=1e-5)


def test_a_folder_with_other_files_is_refused_and_left_alone(tmp_path, demo_dir):
    config, out = _config(tmp_path, demo_dir), tmp_path / "mine"
    out.mkdir()
    (out / "results.json").write_text("my own results")
    with pytest.raises(ValueError, match=r"mine: the folder is not empty and holds no reproduction grid"):
        runner.run_grid(out, [0.1], preset="tiny", rows=["semunet"], config_file=config, report=False)
    assert sorted(p.name for p in out.iterdir()) == ["results.json"]
    assert (out / "results.json").read_text() == "my own results"


def test_the_report_covers_every_finished_cell_and_old_scores_are_redone(grid, monkeypatch):
    out, config, results = grid
    record_path = out / "cells" / "fullysampled" / "full" / "seed0" / "cell.json"
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps({**record, "scoring": 1, "per_slice": {**record["per_slice"], "dice": []}}))
    monkeypatch.setattr(runner, "train", lambda *a, **k: pytest.fail("nothing should be trained"))
    again = runner.run_grid(out, [0.1], preset="tiny", rows=["semunet"], config_file=config, report=False)
    assert {c["row"] for c in again["cells"]} >= set(ROWS)  # cells of earlier invocations stay in the report
    rescored = json.loads(record_path.read_text())
    assert rescored["scoring"] == SCORING_VERSION and rescored["per_slice"]["dice"] == record["per_slice"]["dice"]


def test_an_interrupted_cell_is_resumed(tmp_path, demo_dir, monkeypatch):
    config, out = _config(tmp_path, demo_dir), tmp_path / "out"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_score_cell", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run_grid(out, [0.1], preset="tiny", rows=["semunet"], config_file=config, report=False)
    cell_dir = out / Cell("semunet", 0.1, 0).folder
    assert (cell_dir / "model.pt").is_file() and not (cell_dir / "cell.json").exists()
    spent = json.loads((cell_dir / "elapsed.json").read_text())["seconds"]
    assert spent > 0
    monkeypatch.undo()
    calls = []
    real_train = runner.train
    monkeypatch.setattr(
        runner,
        "train",
        lambda cfg, d, resume, progress, test: calls.append(resume) or real_train(cfg, d, resume, progress, test),
    )
    results = runner.run_grid(out, [0.1], preset="tiny", rows=["semunet"], config_file=config, report=False)
    assert calls == [True] and (cell_dir / "cell.json").is_file() and len(results["cells"]) == 1
    assert results["cells"][0]["seconds"] >= round(spent, 1)  # the time of both invocations


def test_a_grid_without_test_subjects_is_refused_before_training(tmp_path, demo_dir):
    config = _config(tmp_path, demo_dir, n_test=0)
    with pytest.raises(ValueError, match="test subjects"):
        runner.run_grid(tmp_path / "out", [0.1], preset="tiny", rows=["semunet"], config_file=config, report=False)
    assert not (tmp_path / "out" / "cells").exists()


def test_cli_reproduce_help_and_bad_arguments(capsys, tmp_path, caplog):
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "--help"])
    assert exit_info.value.code == 0 and "--seeds" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "--demo", "--out", str(tmp_path / "o"), "--rows", "nope"])
    assert exit_info.value.code == 2 and "nope" in capsys.readouterr().err
    assert main(["reproduce", "--demo", "--out", str(tmp_path / "o"), "--rates", "0.1", "1.5"]) == 1
    assert "'rates'" in caplog.text and not (tmp_path / "o").exists()


def test_cli_writes_tables_and_figures_that_carry_the_results(tmp_path, demo_dir, caplog):
    config, out = _config(tmp_path, demo_dir), tmp_path / "grid"
    rows = ["semunet", "loupe_seg", "baseline_random", "fullysampled"]
    args = ["reproduce", "--demo", "--preset", "tiny", "--config", str(config), "--rates", "0.1", "--out", str(out)]
    assert main([*args, "--rows", *rows, "--no-progress"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["rates"] == [0.1] and results["settings"]["test_subjects"] == ["2"]
    cells = {c["row"]: c for c in results["cells"]}
    recon = (out / "table_recon.md").read_text()
    seg = (out / "table_seg.md").read_text()
    assert f"{cells['semunet']['mean']['psnr']:.2f}" in recon and f"{cells['loupe_seg']['mean']['psnr']:.2f}" in recon
    assert f"{100 * cells['semunet']['mean']['mean_dice']:.2f}" in seg
    assert "34.30" in recon and "75.08" in seg  # the paper's SemuNet at 10 %, quoted
    for name in ("fig_masks.png", "fig_recon_a10.png", "fig_curves.png"):
        assert (out / name).stat().st_size > 10_000
    caplog.clear()
    caplog.set_level(logging.INFO, logger="semunet_monai")
    assert main([*args, "--rows", *rows, "--no-progress"]) == 0
    assert "0 to train" in caplog.text


def test_several_seeds_give_mean_and_std(tmp_path, demo_dir):
    config, out = _config(tmp_path, demo_dir), tmp_path / "seeds"
    results = runner.run_grid(
        out, [0.1], seeds=2, preset="tiny", rows=["semunet", "baseline_random"], config_file=config, progress=False
    )
    assert sorted((c["row"], c["seed"]) for c in results["cells"]) == [
        ("baseline_random", 0),
        ("baseline_random", 1),
        ("semunet", 0),
        ("semunet", 1),
    ]
    psnr = [c["mean"]["psnr"] for c in results["cells"] if c["row"] == "semunet"]
    assert psnr[0] != psnr[1]  # the seeds differ
    line = next(x for x in (out / "table_recon.md").read_text().splitlines() if x.startswith("| 10% | PSNR"))
    assert f"{np.mean(psnr):.2f} ± {np.std(psnr, ddof=1):.2f}" in line
