from __future__ import annotations

import re

import pytest

import semunet_monai.reproduce.tables as tables
from semunet_monai.grid_rows import ROWS, SWEEP_ROWS, T1_ROWS, T2_ROWS, TUNED
from semunet_monai.reproduce.claims import CLAIM_DICE, CLAIM_PSNR, CLAIM_T1, CLAIM_TUNED, CLAIMS
from semunet_monai.reproduce.tables import PAPER_TABLE1, PAPER_TABLE2, column_name, write_tables
from tests.reproduce.test_stats import SUBJECTS, make_cell

CLASSES = ["cortical_gm", "wm"]
# (psnr, ssim, dice, validation psnr) per row at 10 %; MD-Recon-Net Random is the best of the paper's columns in PSNR,
# LOUPE in SSIM; the sweep's 25 % share is the best row on the test set but 50 % has the better validation PSNR
LEVELS = {
    "baseline_radial": (31.0, 0.85, 0.70, None),
    "baseline_random": (30.0, 0.84, 0.68, None),
    "mdrecon_random": (34.5, 0.88, 0.71, None),
    "loupe_seg": (33.5, 0.89, 0.72, None),
    "semunet": (34.0, 0.7623, 0.75, None),
    "baseline_c25": (35.0, 0.95, 0.80, 30.0),  # an extra row: never bold, even when higher
    "baseline_c50": (32.0, 0.80, 0.66, 31.0),
}
TISSUE3 = {"dice_tissue3_csf": 0.6, "dice_tissue3_gm": 0.7, "dice_tissue3_wm": 0.9}


def make_results(seeds=(0,), rows=tuple(LEVELS), shift=0.0, levels=None, folds=1):
    levels = {**LEVELS, **(levels or {})}
    cells = []
    for seed in seeds:
        for fold in range(folds):
            subjects = SUBJECTS if folds == 1 else tuple(f"f{fold}s{i}" for i in range(4))
            common = {"seed": seed, "fold": fold, "folds": folds, "subjects": subjects}
            for row in rows:
                psnr, ssim, dice, val = levels[row]
                jitter = 0.2 * seed  # different seeds give different means, so std > 0
                per_class = {f"dice_{c}": dice + 0.01 * i for i, c in enumerate(CLASSES)}
                cell = make_cell(row, 0.1, psnr=psnr + jitter + shift, ssim=ssim, dice=dice, **common, **per_class)
                if val is not None:
                    cell["val"]["psnr"] = val
                cell["mean"].update(TISSUE3)
                cell["steps"] = {"sampler": 0, "recon": 600, "seg": 600}
                cells.append(cell)
            cells.append(make_cell("fullysampled", None, dice=0.83, **common))
    settings = {"rates": [0.1], "seeds": list(seeds), "preset": "cpu", "epochs": 45, "finetune_epochs": 15}
    settings.update(data="demo", rows=list(rows) + ["fullysampled"], spatial_size=96, folds=folds)
    settings["test_subjects"] = sorted({s for c in cells for s in c["per_volume"]})
    return {"settings": settings, "versions": {}, "class_names": CLASSES, "cells": cells, "wall_seconds": 1.0}


def _write(tmp_path, results):
    paths = write_tables(results, tmp_path, n_boot=300)
    assert [p.name for p in paths] == ["table_recon.md", "table_seg.md"]
    return paths[0].read_text(), paths[1].read_text()


def _section(text, title):
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0].strip()


def _header(section):
    return [c.strip() for c in section.splitlines()[0].strip("|").split("|")]


def _line(section, *starts):
    prefix = "| " + " | ".join(starts) + " |"
    found = [line for line in section.splitlines() if line.startswith(prefix)]
    assert len(found) == 1, (prefix, section)
    return [c.strip() for c in found[0].strip("|").split("|")]


def _table(section):
    """The section's table lines (header, separator and rows)."""
    return [line for line in section.splitlines() if line.startswith("|")]


def _number(cell):
    return float(re.match(r"\**(-?[\d.]+)", cell).group(1))


def test_paper_numbers_quoted_in_the_grid_s_column_order(tmp_path):
    assert list(PAPER_TABLE1["a10"]) == list(T1_ROWS) and list(PAPER_TABLE2["a10"]) == list(T2_ROWS)
    recon, seg = _write(tmp_path, make_results())
    paper1, paper2 = _section(recon, "Paper (MRB, 240×240, quoted)"), _section(seg, "Paper (MRB, 240×240, quoted)")
    assert _header(paper1) == ["α", "Metric"] + [column_name(r, 1) for r in T1_ROWS]
    assert _header(paper1)[2:4] == ["Baseline Radial", "Baseline Random"]
    assert _header(paper1)[-2:] == ["LOUPE", "SemuNet"]
    assert "| 10% | PSNR (dB) | 31.30 | 30.26 | 31.14 | 30.31 | 32.62 | 33.95 | 33.63 | **34.30** |" in paper1
    assert "| 20% | PSNR (dB) | 36.30 | 32.69 | 36.17 | 32.81 | **39.44** | 39.34 | 38.82 | 39.24 |" in paper1
    assert "| 5% | SSIM (%) | 85.00 | 88.46 | 84.45 | 88.54 | 85.13 | 92.00 | 91.31 | **93.16** |" in paper1
    assert _header(paper2) == ["α", "Baseline Random", "Baseline Radial", "Liu et al. Random", "Liu et al. Radial"] + [
        "LOUPE-Seg",
        "SemuNet",
    ]
    assert "| 20% | 70.65 | 73.91 | 71.64 | 73.77 | 76.19 | **76.79** |" in paper2
    assert "| 10% | 68.30 | 70.48 | 67.73 | 70.92 | 72.91 | **75.08** |" in paper2
    assert PAPER_TABLE1["a05"]["loupe_seg"] == {"psnr": 30.96, "ssim": 91.31}
    assert PAPER_TABLE2["a05"]["baseline_random"] == 66.6


def test_columns_are_the_paper_s_then_every_other_row_then_the_tuned_mask(tmp_path):
    recon, seg = _write(tmp_path, make_results())
    header = _header(_section(recon, "This reproduction"))[2:]
    paper = [column_name(r, 1) for r in T1_ROWS]
    assert header[: len(paper)] == paper
    extras = header[len(paper) :]
    recon_rows = [r for r, spec in ROWS.items() if spec.recon and r not in T1_ROWS]
    assert extras == [column_name(r, 1) for r in recon_rows] + ["Tuned VD + centre (extra)"]
    assert all(column_name(r, 1) in extras for r in SWEEP_ROWS) and "Baseline Uniform random (extra)" in extras
    assert "Baseline VD + centre 25 % (extra)" in extras and not [h for h in header if "Fully sampled" in h]
    assert len(set(header)) == len(header) == len([r for r in ROWS if ROWS[r].recon]) + 1
    seg_header = _header(_section(seg, "This reproduction"))[2:]
    assert seg_header[: len(T2_ROWS)] == [column_name(r, 2) for r in T2_ROWS]
    assert seg_header[-1] == "Tuned VD + centre (extra)"
    for name in ("MD-Recon-Net Radial + SegNet (extra)", "MD-Recon-Net Random + SegNet (extra)"):
        assert name in seg_header
    assert "Fully sampled (extra, upper bound)" in seg_header and "Baseline VD + centre 100 % (extra)" in seg_header
    assert len(set(seg_header)) == len(seg_header) == len(ROWS) + 1
    with pytest.raises(ValueError, match="'table'"):
        column_name("semunet", 3)


def test_bold_marks_the_true_maximum_of_the_paper_columns(tmp_path):
    recon, seg = _write(tmp_path, make_results())
    ours = _section(recon, "This reproduction")
    header = _header(ours)
    for metric in ("PSNR (dB)", "SSIM (%)"):
        line = _line(ours, "10%", metric)
        paper_cols = [c for c, h in zip(line, header) if h not in ("α", "Metric") and "(extra)" not in h]
        values = [_number(c) for c in paper_cols if c != "–"]
        bold = [_number(c) for c in paper_cols if c.startswith("**")]
        assert bold == [max(values)]
        assert not any(c.startswith("**") for c, h in zip(line, header) if "(extra)" in h)
    assert _line(ours, "10%", "PSNR (dB)")[header.index("MD-Recon-Net Random")] == "**34.50**"
    assert _line(ours, "10%", "PSNR (dB)")[header.index("Baseline VD + centre 25 % (extra)")] == "35.00"
    assert _line(ours, "10%", "SSIM (%)")[header.index("LOUPE")] == "**89.00**"
    seg_ours = _section(seg, "This reproduction")
    seg_line = _line(seg_ours, "10%", "7 classes")
    assert seg_line[_header(seg_ours).index("SemuNet")] == "**75.00**"
    assert seg_line[_header(seg_ours).index("Baseline VD + centre 25 % (extra)")] == "80.00"  # shown plain


def test_tuned_column_follows_the_validation_choice(tmp_path):
    # 25 % has the best test scores, 50 % the best validation PSNR: the tuned column shows 50 %'s test scores
    recon, seg = _write(tmp_path, make_results())
    ours = _section(recon, "This reproduction")
    assert _line(ours, "10%", "PSNR (dB)")[_header(ours).index("Tuned VD + centre (extra)")] == "32.00"
    seg_ours = _section(seg, "This reproduction")
    assert _line(seg_ours, "10%", "7 classes")[-1] == "66.00" and _line(seg_ours, "10%", "CSF/GM/WM")[-1] == "76.00"
    # seed 1 prefers 25 %: the tuned column averages the two choices
    results = make_results(seeds=(0, 1))
    for cell in results["cells"]:
        if cell["row"] == "baseline_c25" and cell["seed"] == 1:
            cell["val"]["psnr"] = 33.0
    recon, _ = _write(tmp_path, results)
    ours = _section(recon, "This reproduction")
    assert _line(ours, "10%", "PSNR (dB)")[-1].startswith(f"{(32.0 + 35.2) / 2:.2f} ± ")


def test_ssim_in_percent_and_missing_rows_as_dash(tmp_path):
    recon, seg = _write(tmp_path, make_results())
    ours = _section(recon, "This reproduction")
    header = _header(ours)
    ssim = _line(ours, "10%", "SSIM (%)")
    assert ssim[header.index("SemuNet")] == "76.23"
    for name in ("Liu et al. Radial", "Liu et al. Random", "MD-Recon-Net Radial", "Baseline Uniform random (extra)"):
        assert ssim[header.index(name)] == "–"
    seg_ours = _section(seg, "This reproduction")
    line = _line(seg_ours, "10%", "7 classes")
    assert line[_header(seg_ours).index("Liu et al. Random")] == "–"
    assert line[_header(seg_ours).index("Fully sampled (extra, upper bound)")] == "83.00"


def test_plus_minus_only_with_several_runs(tmp_path):
    recon, seg = _write(tmp_path / "one", make_results(seeds=(0,)))
    assert "±" not in _section(recon, "This reproduction") and "±" not in _section(seg, "This reproduction")
    assert "±" not in _section(seg, "Dice (%) per class")
    recon, seg = _write(tmp_path / "two", make_results(seeds=(0, 1)))
    ours = _section(recon, "This reproduction")
    assert "**34.60 ± 0.14**" in _line(ours, "10%", "PSNR (dB)")  # mean of 34.5 and 34.7, std 0.1414
    assert "76.23 ± 0.00" in _line(ours, "10%", "SSIM (%)")


def test_cells_with_fewer_runs_than_their_line_say_how_many(tmp_path):
    results = make_results(seeds=(0, 1, 2))
    # MD-Recon-Net Random and the 50 % share ran seed 0 only: 1 run against 3 for the others
    results["cells"] = [
        c for c in results["cells"] if c["row"] not in ("mdrecon_random", "baseline_c50") or c["seed"] == 0
    ]
    recon, seg = _write(tmp_path, results)
    ours = _section(recon, "This reproduction")
    header, psnr = _header(ours), _line(ours, "10%", "PSNR (dB)")
    assert psnr[header.index("MD-Recon-Net Random")] == "**34.50** (1 runs)"  # still the paper columns' best
    assert psnr[header.index("Baseline VD + centre 50 % (extra)")] == "32.00 (1 runs)"
    assert psnr[header.index("SemuNet")] == "34.20 ± 0.20"  # 3 runs, as most of the line
    assert psnr[header.index("Liu et al. Radial")] == "–"  # not run: no count
    line = _line(_section(seg, "This reproduction"), "10%", "7 classes")
    header = _header(_section(seg, "This reproduction"))
    marked = {header[i] for i, c in enumerate(line) if "(1 runs)" in c}
    assert marked == {"MD-Recon-Net Random + SegNet (extra)", "Baseline VD + centre 50 % (extra)"}
    _, one_seed = _write(tmp_path / "one", make_results(seeds=(0,)))
    assert "runs)" not in _section(one_seed, "This reproduction")  # every cell averages the same runs


def test_seg_table_shows_paper7_and_tissue3_dice(tmp_path):
    _, seg = _write(tmp_path, make_results())
    ours = _section(seg, "This reproduction")
    assert _header(ours)[:2] == ["α", "Mean Dice over"]
    rows = _table(ours)[2:]
    assert [r.split("|")[2].strip() for r in rows] == ["7 classes", "CSF/GM/WM"]
    semunet = _header(ours).index("SemuNet")
    assert _line(ours, "10%", "7 classes")[semunet] == "**75.00**"
    assert _line(ours, "10%", "CSF/GM/WM")[semunet] == "**85.00**"  # make_cell: tissue3 = paper7 + 0.1


def test_per_class_table_with_tissue3_classes(tmp_path):
    _, seg = _write(tmp_path, make_results())
    per_class = _section(seg, "Dice (%) per class")
    assert _header(per_class) == ["α", "Method", "cortical_gm", "wm", "Mean (7 classes)"] + [
        "tissue3 CSF",
        "tissue3 GM",
        "tissue3 WM",
        "Mean (CSF/GM/WM)",
    ]
    assert _line(per_class, "10%", "SemuNet") == ["10%", "SemuNet", "75.00", "76.00", "75.00"] + [
        "60.00",
        "70.00",
        "90.00",
        "85.00",
    ]
    assert _line(per_class, "10%", "Tuned VD + centre (extra)")[2] == "66.00"
    assert _line(per_class, "full", "Fully sampled (extra, upper bound)")[4] == "83.00"
    assert "Liu et al. Random" not in per_class  # not run


def test_worst_run_per_class_counts_collapsed_runs(tmp_path):
    results = make_results(seeds=(0, 1, 2))
    collapsed = next(c for c in results["cells"] if c["row"] == "semunet" and c["seed"] == 1)
    collapsed["mean"]["dice_wm"] = 0.2  # one of SemuNet's 3 runs misses white matter
    _, seg = _write(tmp_path, results)
    worst = _section(seg, "Worst run per class: collapse on small classes")
    assert "below 50 %" in worst and _header("\n".join(_table(worst))) == ["α", "Method", "cortical_gm", "wm"]
    assert _line(worst, "10%", "SemuNet") == ["10%", "SemuNet", "75.0 (0/3)", "20.0 (1/3)"]
    assert _line(worst, "10%", "LOUPE-Seg") == ["10%", "LOUPE-Seg", "72.0 (0/3)", "73.0 (0/3)"]
    assert "Liu et al. Random" not in worst  # not run


def test_centre_share_sweep_section(tmp_path):
    recon, seg = _write(tmp_path, make_results())
    sweep = _section(recon, "Centre-share sweep")
    assert sweep == _section(seg, "Centre-share sweep")
    assert _header(_table(sweep)[0:1][0]) == ["α", "Centre share", "Validation PSNR (dB)", "Test PSNR (dB)"] + [
        "Test Dice, 7 classes (%)",
        "Test Dice, CSF/GM/WM (%)",
        "Chosen (runs with the whole sweep)",
    ]
    assert _line(sweep, "10%", "25 %") == ["10%", "25 %", "30.00", "35.00", "80.00", "90.00", "0 of 1"]
    assert _line(sweep, "10%", "50 %") == ["10%", "50 %", "31.00", "32.00", "66.00", "76.00", "1 of 1"]
    assert "75 %" not in sweep  # not run
    assert "fewer than" not in sweep  # every run had the whole sweep
    # a second seed that ran the 50 % share only: the note says its choice was made from fewer shares
    results = make_results(seeds=(0, 1))
    results["cells"] = [c for c in results["cells"] if not (c["seed"] == 1 and c["row"] == "baseline_c25")]
    sweep = _section(_write(tmp_path, results)[0], "Centre-share sweep")
    assert _line(sweep, "10%", "50 %")[-1] == "1 of 1"  # seed 1 had one share: its choice is not counted
    assert "At 10%, 1 of the 2 runs are at seeds after the first with fewer than the 2 shares" in sweep
    assert "unfinished" not in sweep
    # a seed-0 run whose sweep is not finished yet is told apart from the protocol's later seeds
    results = make_results(seeds=(0, 1), folds=2)
    results["cells"] = [c for c in results["cells"] if not (c["fold"] == 1 and c["row"] == "baseline_c25")]
    sweep = _section(_write(tmp_path, results)[0], "Centre-share sweep")
    assert "At 10%, 1 of the 4 runs are at seed 0 with fewer than the 2 shares: their sweep is unfinished" in sweep
    assert "At 10%, 1 of the 4 runs are at seeds after the first" in sweep
    recon, _ = _write(tmp_path, make_results(rows=("semunet", "loupe_seg")))
    assert "not run" in _section(recon, "Centre-share sweep")


def test_comparison_table(tmp_path):
    recon, seg = _write(tmp_path, make_results())
    comps = _section(recon, "Bootstrap comparisons (per-volume PSNR and SSIM)")
    assert _header(comps) == ["α", "Metric", "Comparison (a − b)", "Mean Δ", "95 % CI", "Verdict", "Subjects × seeds"]
    line = _line(comps, "10%", "PSNR", "SemuNet − LOUPE (semunet − loupe_seg)")
    assert line[3:] == ["+0.50 dB", "[+0.50, +0.50]", "a > b", "4 × 1"]
    tuned = _line(comps, "10%", "PSNR", "SemuNet − Tuned VD + centre (semunet − baseline_tuned)")
    assert tuned[3] == "+2.00 dB" and tuned[5] == "a > b"
    best_fixed = _line(comps, "10%", "PSNR", "SemuNet − best fixed: Baseline VD + centre 25 % (semunet − baseline_c25)")
    assert best_fixed[3:6] == ["-1.00 dB", "[-1.00, -1.00]", "a < b"]
    assert {row.split("|")[2].strip() for row in _table(comps)[2:]} == {"PSNR", "SSIM"}
    seg_comps = _section(seg, "Bootstrap comparisons (per-volume Dice)")
    assert {row.split("|")[2].strip() for row in _table(seg_comps)[2:]} == {"Dice, 7 classes", "Dice, CSF/GM/WM"}
    line = _line(seg_comps, "10%", "Dice, 7 classes", "SemuNet − LOUPE-Seg (semunet − loupe_seg)")
    assert line[3:] == ["+3.00 % points", "[+3.00, +3.00]", "a > b", "4 × 1"]
    recon, _ = _write(tmp_path, make_results(rows=("semunet",)))
    assert "No comparison could be made" in recon


def test_verdicts_list_every_claim_with_its_word(tmp_path):
    recon, seg = _write(tmp_path, make_results())
    verdicts = _section(recon, "Verdicts on the paper's claims")
    assert verdicts == _section(seg, "Verdicts on the paper's claims")
    for claim in CLAIMS:
        block = verdicts.split(f"Paper's claim: *{claim}*", 1)[1].split("Paper's claim:", 1)[0]
        # MD-Recon-Net Random (34.5 dB) is above SemuNet (34 dB): the Table 1 claim fails, the others hold
        assert ("- 10%: **fails**: " if claim == CLAIM_T1 else "- 10%: **holds**: ") in block
    assert "SemuNet − best of Table 1: MD-Recon-Net Random -0.50 dB [-0.50, -0.50] (4 subjects x 1 seed(s)" in verdicts
    assert "SemuNet − LOUPE +0.50 dB [+0.50, +0.50] (4 subjects x 1 seed(s): a > b)" in verdicts
    # SemuNet 33 dB: below LOUPE (33.5 dB), above the tuned mask (32 dB)
    recon, _ = _write(tmp_path, make_results(levels={"semunet": (33.0, 0.7623, 0.75, None)}))
    verdicts = _section(recon, "Verdicts on the paper's claims")
    for claim, word in ((CLAIM_PSNR, "fails"), (CLAIM_TUNED, "holds"), (CLAIM_DICE, "holds")):
        block = verdicts.split(f"Paper's claim: *{claim}*", 1)[1].split("Paper's claim:", 1)[0]
        assert f"- 10%: **{word}**: " in block, claim
    recon, seg = _write(tmp_path, make_results(rows=("semunet",)))
    assert _section(recon, "Verdicts on the paper's claims").count("no verdict") == len(CLAIMS)


def test_psnr_dice_agreement_section(tmp_path):
    _, seg = _write(tmp_path, make_results())
    agreement = _section(seg, "Does better PSNR bring better Dice?")
    header = ["α", "Dice", "Spearman ρ", "Rows", "Best PSNR", "Best Dice", "Left out (folds missing)"]
    assert _header(_table(agreement)[0]) == header
    line = _line(agreement, "10%", "Dice, 7 classes")
    # 7 rows, the tuned row left out; PSNR ranks (ascending) random, radial, c50, loupe, semunet, mdrecon, c25, Dice
    # ranks c50, random, radial, mdrecon, loupe, semunet, c25: squared rank differences 12, 1 - 6 * 12 / (7 * 48)
    assert line[2:] == ["0.79", "7", "Baseline VD + centre 25 %", "Baseline VD + centre 25 %", "–"]
    # a row that has not finished every fold is left out of rho and named: without the 25 % row (top in both) the
    # other 6 keep their squared rank differences (12), 1 - 6 * 12 / (6 * 35)
    results = make_results(folds=2)
    results["cells"] = [c for c in results["cells"] if not (c["row"] == "baseline_c25" and c["fold"] == 1)]
    _, seg = _write(tmp_path, results)
    line = _line(_section(seg, "Does better PSNR bring better Dice?"), "10%", "Dice, 7 classes")
    assert line[2:] == ["0.66", "6", "MD-Recon-Net Random", "SemuNet", "Baseline VD + centre 25 %"]


def test_notes(tmp_path):
    results = make_results(seeds=(0, 1), folds=2)
    recon, seg = _write(tmp_path, results)
    for text in (recon, seg):
        notes = _section(text, "Notes")
        assert "a phase ends on its best validation checkpoint, by mean Dice when the phase's loss has a " in notes
        assert "segmentation term and by PSNR otherwise" in notes
        assert "without validation subjects, on its last epoch" in notes
        assert "epochs + finetune_epochs = 45 + 15 = 60 epochs" in notes and "`cpu`" in notes
        assert "SegNet optimisation steps per run: 600 for every row (7 rows)" in notes
        assert "Bootstrap over subjects and seeds as crossed factors" in notes and "300 resamples" in notes
        assert "percentile interval" in notes
        assert "the best of Table 1: among the rows that finished every fold, at any number of seeds" in notes
        assert "'within noise': the 95 % interval includes 0" in notes
        assert "2-fold cross-validation" in notes and "8 test subject(s) in all" in notes
        assert "2 seed(s) [0, 1]" in notes
        assert "gaussian" in notes
    assert "LOUPE-Seg run" in _section(recon, "Notes")
    # steps that differ between rows are listed per row
    for cell in results["cells"]:
        if cell["row"] == "semunet":
            cell["steps"] = {"sampler": 300, "recon": 600, "seg": 300 + 300 * cell["seed"]}
    _, seg = _write(tmp_path, results)
    assert "Baseline Radial 600; Baseline Random 600; " in seg and "SemuNet 300–600; " in seg
    # the default is 10000 resamples
    paths = write_tables(make_results(rows=("semunet", "loupe_seg")), tmp_path)
    assert "10000 resamples" in paths[0].read_text()


def test_written_atomically_and_replaced(tmp_path, monkeypatch):
    written = []
    real = tables.atomic_write_text
    monkeypatch.setattr(tables, "atomic_write_text", lambda path, text: written.append(path) or real(path, text))
    recon, _ = _write(tmp_path, make_results())
    assert sorted(p.name for p in written) == ["table_recon.md", "table_seg.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table_recon.md", "table_seg.md"]
    recon2, _ = _write(tmp_path, make_results(shift=1.0))
    assert recon2 != recon and "**35.50**" in _line(_section(recon2, "This reproduction"), "10%", "PSNR (dB)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table_recon.md", "table_seg.md"]


def test_rejects_results_without_cells_or_with_unknown_rows(tmp_path):
    with pytest.raises(ValueError, match="'results'"):
        write_tables({"settings": {}}, tmp_path)
    results = make_results()
    results["cells"][0]["row"] = "baseline_vdcentre"
    with pytest.raises(ValueError, match="'results'.*baseline_vdcentre"):
        write_tables(results, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_tuned_cells_in_the_input_are_recomputed(tmp_path):
    results = make_results()
    results["cells"].append({**results["cells"][0], "row": TUNED, "chosen": "semunet"})
    recon, _ = _write(tmp_path, results)
    ours = _section(recon, "This reproduction")
    assert _line(ours, "10%", "PSNR (dB)")[-1] == "32.00"


def test_masks_that_miss_the_rate_are_named_in_the_notes(tmp_path):
    results = make_results()
    for cell in results["cells"]:
        cell["mask_rate"] = 0.0988 if cell["row"].endswith("radial") and cell["rate"] == 0.1 else cell["rate"]
    recon, _ = _write(tmp_path, results)
    assert "Masks whose effective rate differs from α: Radial 9.88 % at α = 10%; all others sample exactly α." in recon
    for cell in results["cells"]:
        cell["mask_rate"] = cell["rate"]
    recon, _ = _write(tmp_path, results)
    assert "Every mask samples exactly α of k-space." in recon
