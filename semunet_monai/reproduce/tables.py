"""The reproduction's Markdown tables: our Table 1 (reconstruction) and Table 2 (segmentation) laid out like the
paper's, the paper's numbers quoted next to them, the centre-share sweep behind the tuned fixed mask, hierarchical
bootstrap comparisons and the verdicts on the paper's claims.

Every number and verdict comes from the ``results`` dictionary of the grid runner; the rows, their order and their
names come from :data:`~semunet_monai.grid_rows.ROWS`; only the paper's own numbers are constants here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from semunet_monai.atomic import atomic_write_text
from semunet_monai.data.labels import LABEL_SCHEMES
from semunet_monai.engines.methods import get_method
from semunet_monai.grid_rows import ROWS, SWEEP_ROWS, T1_ROWS, T2_ROWS, TUNED
from semunet_monai.reproduce.claims import CLAIMS, orderings, psnr_dice_agreement
from semunet_monai.reproduce.grid import rate_tag, row_name
from semunet_monai.reproduce.markdown import MISSING, bold_best, fmt_number, fmt_stat, md_table, rate_label
from semunet_monai.reproduce.stats import add_tuned_cells, comparisons, fold_coverage, spread, summarise

__all__ = [
    "PAPER_TABLE1",
    "PAPER_TABLE2",
    "RECON_COLUMNS",
    "SEG_COLUMNS",
    "RECON_EXTRAS",
    "SEG_EXTRAS",
    "TUNED_COLUMN",
    "column_name",
    "write_tables",
]

TUNED_COLUMN = "Tuned VD + centre (extra)"


def _paper1(psnr: Sequence[float], ssim: Sequence[float]) -> dict[str, dict[str, float]]:
    return {row: {"psnr": p, "ssim": s} for row, p, s in zip(T1_ROWS, psnr, ssim, strict=True)}


# The paper's Table 1 (MRB test set), in T1_ROWS order: PAPER_TABLE1[rate_tag][row] = {"psnr": dB, "ssim": %};
# "loupe_seg" is LOUPE.
PAPER_TABLE1: dict[str, dict[str, dict[str, float]]] = {
    "a20": _paper1(
        [36.30, 32.69, 36.17, 32.81, 39.44, 39.34, 38.82, 39.24],
        [96.67, 94.01, 96.24, 93.76, 98.09, 97.80, 98.09, 98.56],
    ),
    "a10": _paper1(
        [31.30, 30.26, 31.14, 30.31, 32.62, 33.95, 33.63, 34.30],
        [90.27, 90.69, 90.93, 90.73, 93.59, 94.47, 95.19, 96.47],
    ),
    "a05": _paper1(
        [27.45, 28.95, 27.26, 28.87, 26.83, 30.12, 30.96, 31.20],
        [85.00, 88.46, 84.45, 88.54, 85.13, 92.00, 91.31, 93.16],
    ),
}
# The paper's Table 2 (MRB test set), in T2_ROWS order: PAPER_TABLE2[rate_tag][row] = mean Dice in %.
PAPER_TABLE2: dict[str, dict[str, float]] = {
    tag: dict(zip(T2_ROWS, values, strict=True))
    for tag, values in {
        "a20": [70.65, 73.91, 71.64, 73.77, 76.19, 76.79],
        "a10": [68.3, 70.48, 67.73, 70.92, 72.91, 75.08],
        "a05": [66.6, 64.54, 64.66, 63.65, 70.97, 72.45],
    }.items()
}
_PAPER_RATES = (0.2, 0.1, 0.05)


def column_name(row: str, table: int) -> str:
    """A row's column name in our Table ``table`` (1: reconstruction, 2: segmentation): the paper's name for the
    paper's columns; ``(extra)`` for this project's rows, ``+ SegNet`` for a reconstruction-only method of the paper
    given a SegNet here, ``(extra, upper bound)`` for the fully sampled SegNet."""
    if table not in (1, 2):
        raise ValueError(f"argument 'table' must be 1 or 2, got {table!r}.")
    if row == TUNED:
        return TUNED_COLUMN
    name = row_name(row, "psnr" if table == 1 else "dice")
    if row in (T1_ROWS if table == 1 else T2_ROWS):
        return name
    spec = ROWS[row]
    if not spec.per_rate:
        return f"{spec.label} (extra, upper bound)"
    if table == 2 and spec.t1 is not None:
        return f"{name} + SegNet (extra)"
    return f"{name} (extra)"


def _has_seg(row: str) -> bool:
    return get_method(ROWS[row].method).segments


# (row key, column name): the paper's columns in its order; then every other row of the grid that has the table's
# output (a reconstruction, a segmentation), in ROWS order; the tuned fixed mask comes last in both tables
RECON_COLUMNS: list[tuple[str, str]] = [(r, column_name(r, 1)) for r in T1_ROWS]
SEG_COLUMNS: list[tuple[str, str]] = [(r, column_name(r, 2)) for r in T2_ROWS]
RECON_EXTRAS: list[tuple[str, str]] = [(r, column_name(r, 1)) for r, s in ROWS.items() if s.recon and r not in T1_ROWS]
RECON_EXTRAS.append((TUNED, TUNED_COLUMN))
SEG_EXTRAS: list[tuple[str, str]] = [(r, column_name(r, 2)) for r in ROWS if _has_seg(r) and r not in T2_ROWS]
SEG_EXTRAS.append((TUNED, TUNED_COLUMN))

_RECON_METRICS = (("psnr", "PSNR (dB)", 1.0), ("ssim", "SSIM (%)", 100.0))
_DICE_METRICS = (("mean_dice", "7 classes"), ("mean_dice_tissue3", "CSF/GM/WM"))
_TISSUE3 = tuple(LABEL_SCHEMES["tissue3"].class_names[1:])
# comparison metric -> (name, scale, unit)
_UNITS = {
    "psnr": ("PSNR", 1.0, "dB"),
    "ssim": ("SSIM", 100.0, "% points"),
    "dice": ("Dice, 7 classes", 100.0, "% points"),
    "dice3": ("Dice, CSF/GM/WM", 100.0, "% points"),
}


def _rates(results: Mapping) -> list[float]:
    """The grid's rates, descending (the paper's order)."""
    rates = (results.get("settings") or {}).get("rates")
    if rates is None:
        rates = {c["rate"] for c in results["cells"] if c.get("rate") is not None}
    return sorted((float(r) for r in rates), reverse=True)


def _stat(summary: Mapping, row: str, tag: str, metric: str) -> Mapping | None:
    tag = "full" if row in ROWS and not ROWS[row].per_rate else tag
    return ((summary.get(row) or {}).get(tag) or {}).get(metric)


def _line(summary: Mapping, tag: str, metric: str, scale: float, columns: list, extras: list) -> list[str]:
    """One table line: the paper's columns (best in bold), then the extra columns. A cell that averages another
    number of runs than most cells of its line says how many (``(5 runs)``): a grid being filled in, or rows run
    with fewer seeds, is visible where its numbers are read."""
    stats = [_stat(summary, row, tag, metric) for row, _ in columns + extras]
    runs = [s["n"] if s and s.get("mean") is not None else None for s in stats]
    counts = Counter(n for n in runs if n is not None)
    usual = max(counts, key=lambda n: (counts[n], n)) if counts else None  # ties: the larger count
    texts = [fmt_stat(s, scale) for s in stats]
    texts[: len(columns)] = bold_best(
        texts[: len(columns)], [s.get("mean") if s else None for s in stats[: len(columns)]]
    )
    return [t + (f" ({n} runs)" if n not in (None, usual) else "") for t, n in zip(texts, runs)]


def _recon_ours(summary: Mapping, rates: list[float]) -> str:
    header = ["α", "Metric"] + [name for _, name in RECON_COLUMNS + RECON_EXTRAS]
    rows = [
        [rate_label(rate), label] + _line(summary, rate_tag(rate), metric, scale, RECON_COLUMNS, RECON_EXTRAS)
        for rate in rates
        for metric, label, scale in _RECON_METRICS
    ]
    return md_table(header, rows)


def _recon_paper() -> str:
    rows = []
    for rate in _PAPER_RATES:
        for metric, label, _ in _RECON_METRICS:
            values = [PAPER_TABLE1[rate_tag(rate)][row][metric] for row, _ in RECON_COLUMNS]
            rows.append([rate_label(rate), label] + bold_best([fmt_number(v) for v in values], values))
    return md_table(["α", "Metric"] + [name for _, name in RECON_COLUMNS], rows)


def _seg_ours(summary: Mapping, rates: list[float]) -> str:
    header = ["α", "Mean Dice over"] + [name for _, name in SEG_COLUMNS + SEG_EXTRAS]
    rows = [
        [rate_label(rate), label] + _line(summary, rate_tag(rate), metric, 100.0, SEG_COLUMNS, SEG_EXTRAS)
        for rate in rates
        for metric, label in _DICE_METRICS
    ]
    return md_table(header, rows)


def _seg_paper() -> str:
    rows = []
    for rate in _PAPER_RATES:
        values = [PAPER_TABLE2[rate_tag(rate)][row] for row, _ in SEG_COLUMNS]
        rows.append([rate_label(rate)] + bold_best([fmt_number(v) for v in values], values))
    return md_table(["α"] + [name for _, name in SEG_COLUMNS], rows)


def _class_lines(rates: list[float]) -> list[tuple[str, str, str]]:
    """The ``(rate label, rate tag, row)`` lines of the per-class tables: each rate's rows, then the rate-free ones."""
    names = dict(SEG_COLUMNS + SEG_EXTRAS)
    per_rate = [r for r in names if r not in ROWS or ROWS[r].per_rate]
    lines = [(rate_label(r), rate_tag(r), row) for r in rates for row in per_rate]
    return lines + [("full", "full", r) for r in names if r in ROWS and not ROWS[r].per_rate]


def _per_class(summary: Mapping, rates: list[float], classes: Sequence[str]) -> str:
    names = dict(SEG_COLUMNS + SEG_EXTRAS)
    lines = _class_lines(rates)
    metrics = [f"dice_{c}" for c in classes] + ["mean_dice"]
    metrics += [f"dice_tissue3_{c}" for c in _TISSUE3] + ["mean_dice_tissue3"]
    rows = [
        [label, names[row]] + [fmt_stat(_stat(summary, row, tag, m), 100.0) for m in metrics]
        for label, tag, row in lines
        if any(_stat(summary, row, tag, m) is not None for m in ("mean_dice", "mean_dice_tissue3"))
    ]
    header = ["α", "Method", *classes, "Mean (7 classes)"]
    header += [f"tissue3 {c.upper()}" for c in _TISSUE3] + ["Mean (CSF/GM/WM)"]
    return md_table(header, rows)


# a run "collapses" on a class when its Dice there stays below this (the class is mostly missed)
COLLAPSE_DICE = 0.5


def _worst_runs(cells: list[Mapping], rates: list[float], classes: Sequence[str]) -> str:
    """Per rate, row and class: the worst run's Dice and how many runs stayed below :data:`COLLAPSE_DICE`."""
    names = dict(SEG_COLUMNS + SEG_EXTRAS)
    keys = [f"dice_{c}" for c in classes]
    rows = []
    for label, tag, row in _class_lines(rates):
        runs = [c.get("mean") or {} for c in cells if c["row"] == row and rate_tag(c["rate"]) == tag]
        line = []
        for key in keys:
            vals = [v for m in runs if isinstance(v := m.get(key), float) and np.isfinite(v)]
            low = sum(v < COLLAPSE_DICE for v in vals)
            line.append(f"{100 * min(vals):.1f} ({low}/{len(vals)})" if vals else MISSING)
        if any(x != MISSING for x in line):
            rows.append([label, names[row], *line])
    if not rows:
        return "No run has per-class Dice."
    intro = (
        f"The worst run's Dice (%) per class and, in brackets, how many runs scored below {100 * COLLAPSE_DICE:g} % "
        "on that class (of the runs with the class): a SegNet that collapses on a small class in some runs shows "
        "here, where the mean ± std over runs blurs it."
    )
    return intro + "\n\n" + md_table(["α", "Method", *classes], rows)


def _sweep(cells: list[Mapping], summary: Mapping, rates: list[float]) -> str:
    """Per rate, each centre share's validation and test scores and how often the tuned row chose it."""
    tuned = [c for c in cells if c["row"] == TUNED]
    rows = []
    for rate in rates:
        tag = rate_tag(rate)
        mine = [c for c in tuned if rate_tag(c["rate"]) == tag]
        full = max((c.get("candidates", 0) for c in mine), default=0)
        # only runs that chose among the whole sweep count (a later seed that trained one share repeats seed 0's)
        chosen = Counter(c.get("chosen") for c in mine if c.get("candidates", 0) == full)
        runs = sum(chosen.values())
        for row in SWEEP_ROWS:
            mine = [c for c in cells if c["row"] == row and rate_tag(c["rate"]) == tag]
            if not mine:
                continue
            val = [v for c in mine if (v := (c.get("val") or {}).get("psnr")) is not None and np.isfinite(v)]
            rows.append(
                [rate_label(rate), f"{100 * ROWS[row].centre:g} %", fmt_stat(spread(val))]
                + [fmt_stat(_stat(summary, row, tag, m), s) for m, s in (("psnr", 1.0), ("mean_dice", 100.0))]
                + [fmt_stat(_stat(summary, row, tag, "mean_dice_tissue3"), 100.0)]
                + [f"{chosen[row]} of {runs}" if runs else MISSING]
            )
    if not rows:
        return "The centre-share sweep was not run in this grid (no tuned fixed mask)."
    notes = []
    for rate in rates:
        mine = [c for c in tuned if rate_tag(c["rate"]) == rate_tag(rate)]
        full = max((c.get("candidates", 0) for c in mine), default=0)
        partial = [c for c in mine if c.get("candidates", full) < full]
        later = [c for c in partial if c.get("seed", 0) > 0]
        if later:
            notes.append(
                f"At {rate_label(rate)}, {len(later)} of the {len(mine)} runs are at seeds after the first with fewer "
                f"than the {full} shares of the full sweep: the share is tuned at seed 0, and later seeds train only "
                "the share seed 0 chose for their fold (`reproduce --tune-every-seed` trains them all), so their "
                "choice is among the shares trained for that seed; with one share it is that share by construction."
            )
        if len(partial) > len(later):
            notes.append(
                f"At {rate_label(rate)}, {len(partial) - len(later)} of the {len(mine)} runs are at seed 0 with "
                f"fewer than the {full} shares: their sweep is unfinished, and their choice is among the shares "
                "trained so far."
            )
    header = ["α", "Centre share", "Validation PSNR (dB)", "Test PSNR (dB)", "Test Dice, 7 classes (%)"]
    header += ["Test Dice, CSF/GM/WM (%)", "Chosen (runs with the whole sweep)"]
    intro = (
        "Variable-density masks with a fully sampled centre disc holding a share of the budget. The tuned fixed mask "
        f"(column '{TUNED_COLUMN}') takes, per rate, fold and seed, the share with the best PSNR on the validation "
        "subjects; its test scores are that share's, so the choice never sees the test subjects."
    )
    return intro + "\n\n" + md_table(header, rows) + "".join("\n\n" + n for n in notes)


def _comparison_table(comps: list[Mapping], metrics: Sequence[str]) -> str:
    rows = []
    for c in (c for c in comps if c["metric"] in metrics):
        name, scale, unit = _UNITS[c["metric"]]
        ci = f"[{scale * c['low']:+.2f}, {scale * c['high']:+.2f}]"
        rows.append(
            [rate_label(c["rate"]), name, f"{c['label']} ({c['a']} − {c['b']})", f"{scale * c['diff']:+.2f} {unit}"]
            + [ci, c["verdict"], f"{c['n_subjects']} × {c['n_seeds']}"]
        )
    if not rows:
        return "No comparison could be made (rows missing from this grid, or fewer than 2 test subjects)."
    header = ["α", "Metric", "Comparison (a − b)", "Mean Δ", "95 % CI", "Verdict", "Subjects × seeds"]
    return md_table(header, rows)


def _verdicts(items: list[Mapping], rates: list[float]) -> str:
    lines = [
        "Each claim at each rate: **holds** (every difference it needs has a 95 % interval above 0), **fails** (at "
        "least one interval lies below 0) or **within noise** (otherwise: an interval includes 0).",
    ]
    for claim in CLAIMS:
        lines += ["", f"Paper's claim: *{claim}*", ""]
        for rate in rates:
            found = [i for i in items if i["claim"] == claim and rate_tag(i["rate"]) == rate_tag(rate)]
            for item in found:
                lines.append(f"- {rate_label(rate)}: **{item['verdict']}**: {item['detail']}")
            if not found:
                lines.append(f"- {rate_label(rate)}: no verdict (rows missing from this grid)")
    return "\n".join(lines)


def _agreement(summary: Mapping, cells: list[Mapping], rates: list[float]) -> str:
    rows = [
        [rate_label(a["rate"]), _UNITS[a["metric"]][0], fmt_number(a["rho"])]
        + [str(a["n_rows"]), a["top_psnr"] or MISSING, a["top_dice"] or MISSING, ", ".join(a["left_out"]) or MISSING]
        for a in psnr_dice_agreement(summary, rates, fold_coverage(cells))
    ]
    intro = (
        "Spearman rank correlation, at each rate, between the rows' mean test PSNR and mean test Dice (the "
        "undersampled rows with both; LOUPE-Seg pairs LOUPE's PSNR with its SegNet's Dice; the tuned row is left out, "
        "it repeats sweep rows; a row that has not finished every fold yet is left out, its mean covers other test "
        "subjects). ρ = 1: the PSNR ranking is the Dice ranking; – with fewer than 3 rows or ties only."
    )
    header = ["α", "Dice", "Spearman ρ", "Rows", "Best PSNR", "Best Dice", "Left out (folds missing)"]
    return intro + "\n\n" + md_table(header, rows)


def _mask_rates(results: Mapping) -> str:
    """Fixed masks whose effective rate differs from the nominal α (normally none: every pattern hits it)."""
    off = sorted(
        {
            (c["rate"], ROWS[c["row"]].pattern, round(100 * c["mask_rate"], 2))
            for c in results["cells"]
            if c["row"] in ROWS
            and c.get("rate")
            and c.get("mask_rate") is not None
            and abs(c["mask_rate"] - c["rate"]) > 5e-4
        },
        key=lambda x: (-x[0], x[1], x[2]),
    )
    if not off:
        return "Every mask samples exactly α of k-space."
    shown = ", ".join(f"{pattern} {m:.2f} % at α = {rate_label(a)}" for a, pattern, m in off)
    return f"Masks whose effective rate differs from α: {shown}; all others sample exactly α."


_SELECTION = (
    "Model selection, one rule for every phase of every method: a phase ends on its best validation checkpoint, by "
    "mean Dice when the phase's loss has a segmentation term and by PSNR otherwise, and the next phase starts from "
    "those weights; without validation subjects, on its last epoch."
)
_STATISTICS = (
    "Statistics: the unit is one test subject in one seed (per-volume scores), paired between the two rows "
    "(same subject, same seed, same fold). Bootstrap over subjects and seeds as crossed factors (one seed's models "
    "score every test subject of its fold): each of the {n_boot} resamples draws the test subjects with "
    "replacement and, independently, the seeds with replacement; the 95 % interval is the percentile interval of "
    "the resampled means. With one seed per fold the run-to-run spread enters only through the folds, so the "
    "intervals are conditional on the runs made. Verdict 'a > b' / 'a < b': the interval lies above / below 0; "
    "'within noise': the 95 % interval includes 0. 'Best' rows are the highest test mean at that rate among the "
    "rows with as many runs as the learned rows, a choice that favours the fixed side (the best of Table 1: among "
    "the rows that finished every fold, at any number of seeds, paired with SemuNet on the seeds both ran; the "
    "paper ran its rivals once); the tuned row is chosen on the validation subjects."
)


def _steps(results: Mapping, module: str) -> str | None:
    """Optimisation steps ``module`` got per run of each row (from the cells' ``steps``), None if no cell has any."""
    found: dict[str, set[int]] = {}
    for c in results["cells"]:
        n = (c.get("steps") or {}).get(module)
        if n and c["row"] in ROWS:
            found.setdefault(c["row"], set()).add(int(n))
    if not found:
        return None
    values = set().union(*found.values())
    if len(values) == 1:
        return f"{values.pop()} for every row ({len(found)} rows)"
    parts = [
        f"{row_name(r, 'dice' if module == 'seg' else 'psnr')} {min(found[r])}"
        + (f"–{max(found[r])}" if len(found[r]) > 1 else "")
        for r in ROWS
        if r in found
    ]
    return "; ".join(parts)


def _budget(results: Mapping, modules: Sequence[tuple[str, str]]) -> str:
    s = results.get("settings") or {}
    epochs, finetune = s.get("epochs"), s.get("finetune_epochs")
    total = f" = {epochs + finetune}" if isinstance(epochs, int) and isinstance(finetune, int) else ""
    budget = f"{'?' if epochs is None else epochs} + {'?' if finetune is None else finetune}{total}"
    text = (
        f"Equal budgets: every network a method trains gets epochs + finetune_epochs = {budget} epochs of "
        f"optimisation in all (preset "
        f"`{s.get('preset', '?')}`; joint methods spread them over two phases, a network trained in one phase gets "
        "them in one go)."
    )
    for module, name in modules:
        steps = _steps(results, module)
        if steps:
            text += f" {name} optimisation steps per run: {steps}."
    return text


def _subjects(results: Mapping) -> list[str]:
    subjects = (results.get("settings") or {}).get("test_subjects")
    if subjects is None:
        subjects = {str(s) for c in results["cells"] for s in (c.get("per_volume") or {})}
    return sorted(str(s) for s in subjects)


def _data(results: Mapping) -> str:
    s = results.get("settings") or {}
    folds = s.get("folds") or max((int(c.get("folds", 1)) for c in results["cells"]), default=1)
    seeds = list(s.get("seeds", []))
    subjects = _subjects(results)
    split = (
        f"{folds}-fold cross-validation over subjects: each fold's test subjects are scored by that fold's models"
        if folds > 1
        else "one split (no k-fold)"
    )
    return (
        f"Data: `{s.get('data', '?')}`, spatial size {s.get('spatial_size', '?')}; {split}; {len(subjects)} test "
        f"subject(s) in all {subjects}; {len(seeds)} seed(s) {seeds}; a run is one fold with one seed."
    )


def _document(title: str, sections: list[tuple[str, str]], notes: list[str]) -> str:
    """A Markdown page: the title, each ``(heading, body)`` section, then the notes as a list."""
    parts = [f"# {title}"] + [x for heading, body in sections for x in (f"## {heading}", body)]
    return "\n\n".join(parts + ["## Notes", "\n".join(f"- {n}" for n in notes)])


def _common_notes(results: Mapping, n_boot: int, modules: Sequence[tuple[str, str]]) -> list[str]:
    return [
        _SELECTION,
        _budget(results, modules),
        _STATISTICS.format(n_boot=n_boot),
        _data(results),
        f"{MISSING}: not run in this grid, or undefined.",
    ]


_RUNS = (
    " A cell marked `(k runs)` averages another number of runs than most cells of its line (a row run with fewer "
    "seeds, or a grid still being filled in)."
)
_PATTERNS = (
    "The 'Random' columns are a variable-density Gaussian 2-D pattern (sampling kind `gaussian`, no forced centre); "
    "'Uniform random' is a uniform random 2-D mask and 'VD + centre s %' a variable-density pattern whose fully "
    "sampled centre disc holds the share s of the budget. 'Tuned VD + centre' is the share chosen on the validation "
    "subjects (see the centre-share sweep): the bar a learned mask must clear."
)


def _recon_markdown(results: Mapping, tables: Mapping) -> str:
    notes = [
        "Scores are per test volume (PSNR and SSIM with data_range = the reference volume's maximum; SSIM is 2-D, "
        "averaged over the slices), averaged over the test subjects of a run; the tables show the mean over runs "
        "(folds × seeds) and `±` the standard deviation over runs (only with more than one run). Bold: the best of "
        "the paper's columns on each line." + _RUNS,
        _PATTERNS,
        "LOUPE's numbers come from the LOUPE-Seg run's reconstruction (its segmentation phase leaves the mask and "
        "the reconstruction network unchanged).",
        _mask_rates(results),
        *_common_notes(results, tables["n_boot"], (("recon", "ReconNet"), ("seg", "SegNet"))),
    ]
    sections = [
        ("This reproduction", _recon_ours(tables["summary"], tables["rates"])),
        ("Paper (MRB, 240×240, quoted)", _recon_paper()),
        ("Centre-share sweep", _sweep(tables["cells"], tables["summary"], tables["rates"])),
        ("Bootstrap comparisons (per-volume PSNR and SSIM)", _comparison_table(tables["comps"], ("psnr", "ssim"))),
        ("Verdicts on the paper's claims", _verdicts(tables["items"], tables["rates"])),
    ]
    return _document("Reconstruction: PSNR (dB) and SSIM (%) (the paper's Table 1)", sections, notes)


def _seg_markdown(results: Mapping, tables: Mapping) -> str:
    notes = [
        "Dice is per test volume and excludes background, averaged over the classes and then over the test "
        "subjects of a run; the tables show the mean over runs (folds × seeds) and `±` the standard deviation over "
        "runs (only with more than one run). Bold: the best of the paper's columns on each line." + _RUNS,
        "Two class sets: the 7 training classes (paper7) and the MRBrainS13 challenge's 3 tissue classes "
        "(CSF, GM, WM; cerebellum and brainstem count as background), the prediction merged into them.",
        "MD-Recon-Net + SegNet is not in the paper's Table 2. 'Fully sampled' segments the fully sampled images: "
        "an upper bound, the same value on every line.",
        _PATTERNS,
        _mask_rates(results),
        *_common_notes(results, tables["n_boot"], (("seg", "SegNet"),)),
    ]
    summary, rates = tables["summary"], tables["rates"]
    sections = [
        ("This reproduction", _seg_ours(summary, rates)),
        ("Paper (MRB, 240×240, quoted)", _seg_paper()),
        ("Dice (%) per class", _per_class(summary, rates, results.get("class_names") or [])),
        (
            "Worst run per class: collapse on small classes",
            _worst_runs(tables["cells"], rates, results.get("class_names") or []),
        ),
        ("Centre-share sweep", _sweep(tables["cells"], summary, rates)),
        ("Bootstrap comparisons (per-volume Dice)", _comparison_table(tables["comps"], ("dice", "dice3"))),
        ("Verdicts on the paper's claims", _verdicts(tables["items"], rates)),
        (
            "Does better PSNR bring better Dice?",
            _agreement({r: v for r, v in summary.items() if r != TUNED}, tables["cells"], rates),
        ),
    ]
    return _document("Segmentation: Dice (%) (the paper's Table 2)", sections, notes)


def write_tables(results: Mapping, out_dir: str | Path, n_boot: int = 10000) -> list[Path]:
    """Write ``out_dir/table_recon.md`` and ``out_dir/table_seg.md`` (atomically) from the grid's results.

    Args:
        results: the grid runner's results (``settings``, ``class_names``, ``cells``; see
            :mod:`semunet_monai.reproduce.grid`).
        out_dir: output folder (created if needed).
        n_boot: bootstrap resamples per comparison.

    Returns:
        The paths written.

    Raises:
        ValueError: ``results`` lacks a ``cells`` list, or a cell names an unknown row.
    """
    if not isinstance(results, Mapping) or not isinstance(results.get("cells"), list):
        raise ValueError("argument 'results' must be a mapping with a 'cells' list (the grid runner's results).")
    rows = {c["row"] for c in results["cells"] if isinstance(c, Mapping) and "row" in c}
    unknown = sorted(map(str, rows - set(ROWS) - {TUNED}))
    if unknown:
        raise ValueError(f"argument 'results': cells name unknown row(s) {unknown}; known: {list(ROWS)}.")
    rates = _rates(results)
    cells = add_tuned_cells(results["cells"])
    summary = summarise(cells)
    comps = comparisons(cells, rates, n_boot=n_boot)
    tables = {
        "rates": rates,
        "cells": cells,
        "summary": summary,
        "comps": comps,
        "items": orderings(summary, comps, rates),
        "n_boot": n_boot,
    }
    out = Path(out_dir)
    return [
        atomic_write_text(out / "table_recon.md", _recon_markdown(results, tables) + "\n"),
        atomic_write_text(out / "table_seg.md", _seg_markdown(results, tables) + "\n"),
    ]
