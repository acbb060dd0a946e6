from __future__ import annotations

import re

import pytest

import semunet_monai.reproduce.tables as tables
from semunet_monai.reproduce.tables import PAPER_TABLE1, PAPER_TABLE2, write_tables
from tests.reproduce.test_stats import make_cell

CLASSES = ["cortical_gm", "wm"]
# (psnr, ssim, dice) per row at 10 %; MD-Recon-Net Random is the best of the paper's columns in PSNR, SemuNet in SSIM
LEVELS = {
    "baseline_radial": (31.0, 0.85, 0.70),
    "baseline_random": (30.0, 0.84, 0.68),
    "mdrecon_random": (34.5, 0.88, 0.71),
    "loupe_seg": (33.5, 0.89, 0.72),
    "semunet": (34.0, 0.7623, 0.75),
    "baseline_vdcentre": (35.0, 0.95, 0.80),  # an extra row: never bold, even when higher
}


def make_results(seeds=(0,), rows=tuple(LEVELS), shift=0.0):
    cells = []
    for seed in seeds:
        for row in rows:
            psnr, ssim, dice = LEVELS[row]
            jitter = 0.2 * seed  # different seeds give different means, so std > 0
            per_class = {f"dice_{c}": dice + 0.01 * i for i, c in enumerate(CLASSES)}
            cells.append(make_cell(row, 0.1, seed, psnr + jitter + shift, ssim, dice, **per_class))
        cells.append(make_cell("fullysampled", None, seed, dice=0.83))
    settings = {"rates": [0.1], "seeds": list(seeds), "preset": "cpu", "epochs": 40, "finetune_epochs": 15}
    settings.update(data="demo", rows=list(rows) + ["fullysampled"], spatial_size=96, test_subjects=["5"])
    return {"settings": settings, "versions": {}, "class_names": CLASSES, "cells": cells, "wall_seconds": 1.0}


def _write(tmp_path, results):
    paths = write_tables(results, tmp_path)
    assert [p.name for p in paths] == ["table_recon.md", "table_seg.md"]
    return paths[0].read_text(), paths[1].read_text()


def _section(text, title):
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0].strip()


def _line(section, *starts):
    prefix = "| " + " | ".join(starts) + " |"
    found = [line for line in section.splitlines() if line.startswith(prefix)]
    assert len(found) == 1, (prefix, section)
    return [c.strip() for c in found[0].strip("|").split("|")]


def _number(cell):
    return float(re.match(r"\**(-?[\d.]+)", cell).group(1))


def test_paper_numbers_quoted(tmp_path):
    recon, seg = _write(tmp_path, make_results())
    paper1, paper2 = _section(recon, "Paper (MRB, 240×240, quoted)"), _section(seg, "Paper (MRB, 240×240, quoted)")
    expected1 = "| 10% | PSNR (dB) | 31.30 | 30.26 | 31.14 | 30.31 | 32.62 | 33.95 | 33.63 | **34.30** |"
    assert expected1 in paper1
    assert "| 20% | PSNR (dB) | 36.30 | 32.69 | 36.17 | 32.81 | **39.44** | 39.34 | 38.82 | 39.24 |" in paper1
    assert "| 5% | SSIM (%) | 85.00 | 88.46 | 84.45 | 88.54 | 85.13 | 92.00 | 91.31 | **93.16** |" in paper1
    assert "| 20% | 70.65 | 73.91 | 71.64 | 73.77 | 76.19 | **76.79** |" in paper2
    assert "| 10% | 68.30 | 70.48 | 67.73 | 70.92 | 72.91 | **75.08** |" in paper2
    assert PAPER_TABLE1["a05"]["loupe_seg"] == {"psnr": 30.96, "ssim": 91.31}
    assert PAPER_TABLE2["a05"]["baseline_random"] == 66.6


def test_bold_marks_the_true_maximum_of_the_paper_columns(tmp_path):
    recon, seg = _write(tmp_path, make_results())
    ours = _section(recon, "This reproduction")
    header = [c.strip() for c in ours.splitlines()[0].strip("|").split("|")]
    for metric in ("PSNR (dB)", "SSIM (%)"):
        line = _line(ours, "10%", metric)
        paper_cols = [c for c, h in zip(line, header) if h != "α" and h != "Metric" and "(extra)" not in h]
        values = [_number(c) for c in paper_cols if c != "–"]
        bold = [_number(c) for c in paper_cols if c.startswith("**")]
        assert bold == [max(values)]
        assert not any(c.startswith("**") for c, h in zip(line, header) if "(extra)" in h)
    assert _line(ours, "10%", "PSNR (dB)")[header.index("MD-Recon-Net Random")] == "**34.50**"
    assert _line(ours, "10%", "SSIM (%)")[header.index("LOUPE Learned")] == "**89.00**"
    seg_line = _line(_section(seg, "This reproduction"), "10%")
    assert "**75.00**" in seg_line and "80.00" in seg_line  # SemuNet bold, VD + centre (extra) shown plain


def test_ssim_in_percent_and_missing_rows_as_dash(tmp_path):
    recon, seg = _write(tmp_path, make_results())
    ours = _section(recon, "This reproduction")
    header = [c.strip() for c in ours.splitlines()[0].strip("|").split("|")]
    ssim = _line(ours, "10%", "SSIM (%)")
    assert ssim[header.index("SemuNet Learned")] == "76.23"
    for name in ("Liu et al. Radial", "Liu et al. Random", "MD-Recon-Net Radial", "Baseline Uniform random (extra)"):
        assert ssim[header.index(name)] == "–"
    seg_ours = _section(seg, "This reproduction")
    seg_header = [c.strip() for c in seg_ours.splitlines()[0].strip("|").split("|")]
    line = _line(seg_ours, "10%")
    assert line[seg_header.index("Liu et al. Random")] == "–"
    assert line[seg_header.index("Fully sampled (extra, upper bound)")] == "83.00"


def test_plus_minus_only_with_several_seeds(tmp_path):
    recon, seg = _write(tmp_path / "one", make_results(seeds=(0,)))
    assert "±" not in _section(recon, "This reproduction") and "±" not in _section(seg, "This reproduction")
    assert "±" not in _section(seg, "Dice (%) per class")
    recon, seg = _write(tmp_path / "two", make_results(seeds=(0, 1)))
    ours = _section(recon, "This reproduction")
    assert "**34.60 ± 0.14**" in _line(ours, "10%", "PSNR (dB)")  # mean of 34.5 and 34.7, std 0.1414
    assert "76.23 ± 0.00" in _line(ours, "10%", "SSIM (%)")
    assert "±" in _line(_section(seg, "This reproduction"), "10%")[6]


def test_per_class_comparisons_verdicts_and_notes(tmp_path):
    recon, seg = _write(tmp_path, make_results())
    per_class = _section(seg, "Dice (%) per class")
    assert per_class.splitlines()[0] == "| α | Method | cortical_gm | wm | Mean |"
    assert _line(per_class, "10%", "SemuNet") == ["10%", "SemuNet", "75.00", "76.00", "75.00"]
    assert _line(per_class, "full", "Fully sampled (extra, upper bound)")[-1] == "83.00"
    assert "SemuNet − LOUPE" in _section(recon, "Paired bootstrap comparisons (per-slice PSNR and SSIM)")
    assert "SemuNet − LOUPE-Seg" in _section(seg, "Paired bootstrap comparisons (per-slice Dice)")
    # MD-Recon-Net Random (34.5 dB) beats SemuNet (34.0 dB): the verdict must say so, whatever the paper claims
    verdict = _section(recon, "Ordering verdict")
    assert "**does not hold**" in verdict and "mdrecon_random 34.50 dB (by 0.50 dB)" in verdict
    assert "**holds**" in _section(seg, "Ordering verdict")
    notes = _section(recon, "Notes")
    assert "40 epochs" in notes and "15 fine-tuning" in notes and "`cpu`" in notes and "gaussian" in notes
    assert "LOUPE-Seg run" in notes


def test_verdict_follows_the_results(tmp_path):
    recon, _ = _write(tmp_path, make_results(rows=("semunet", "loupe_seg", "baseline_radial", "baseline_random")))
    assert "- 10%: **holds**" in _section(recon, "Ordering verdict")
    recon, seg = _write(tmp_path, make_results(rows=("semunet",)))
    assert "no verdict" in _section(recon, "Ordering verdict") and "no verdict" in _section(seg, "Ordering verdict")
    assert "No comparison" in recon


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


def test_rejects_results_without_cells(tmp_path):
    with pytest.raises(ValueError, match="'results'"):
        write_tables({"settings": {}}, tmp_path)


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
