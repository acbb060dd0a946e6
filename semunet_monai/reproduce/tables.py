"""The reproduction's Markdown tables: our Table 1 (reconstruction) and Table 2 (segmentation) laid out like the
paper's, the paper's numbers quoted next to them, paired bootstrap comparisons and the ordering verdicts.

Every number and verdict comes from the ``results`` dictionary of the grid runner; only the paper's own numbers
are constants here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from semunet_monai.atomic import atomic_write_text
from semunet_monai.reproduce.claims import CLAIM_DICE, CLAIM_PSNR, orderings
from semunet_monai.reproduce.grid import ROWS, rate_tag
from semunet_monai.reproduce.markdown import MISSING, bold_best, fmt_number, fmt_stat, md_table, rate_label
from semunet_monai.reproduce.stats import comparisons, summarise

__all__ = ["PAPER_TABLE1", "PAPER_TABLE2", "RECON_COLUMNS", "SEG_COLUMNS", "write_tables"]

_T1_ROWS = ("baseline_radial", "baseline_random", "liu_radial", "liu_random")
_T1_ROWS += ("mdrecon_radial", "mdrecon_random", "loupe_seg", "semunet")
_T2_ROWS = ("baseline_random", "baseline_radial", "liu_random", "liu_radial", "loupe_seg", "semunet")


def _paper1(psnr: Sequence[float], ssim: Sequence[float]) -> dict[str, dict[str, float]]:
    return {row: {"psnr": p, "ssim": s} for row, p, s in zip(_T1_ROWS, psnr, ssim, strict=True)}


# The paper's Table 1 (MRB test set): PAPER_TABLE1[rate_tag][row] = {"psnr": dB, "ssim": %}; "loupe_seg" is LOUPE.
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
# The paper's Table 2 (MRB test set): PAPER_TABLE2[rate_tag][row] = mean Dice in %.
PAPER_TABLE2: dict[str, dict[str, float]] = {
    tag: dict(zip(_T2_ROWS, values, strict=True))
    for tag, values in {
        "a20": [70.65, 73.91, 71.64, 73.77, 76.19, 76.79],
        "a10": [68.3, 70.48, 67.73, 70.92, 72.91, 75.08],
        "a05": [66.6, 64.54, 64.66, 63.65, 70.97, 72.45],
    }.items()
}
_PAPER_RATES = (0.2, 0.1, 0.05)

# (row key, column name): the paper's columns in its order, then this project's extra rows
RECON_COLUMNS: list[tuple[str, str]] = [
    ("baseline_radial", "Baseline Radial"),
    ("baseline_random", "Baseline Random"),
    ("liu_radial", "Liu et al. Radial"),
    ("liu_random", "Liu et al. Random"),
    ("mdrecon_radial", "MD-Recon-Net Radial"),
    ("mdrecon_random", "MD-Recon-Net Random"),
    ("loupe_seg", "LOUPE Learned"),
    ("semunet", "SemuNet Learned"),
]
SEG_COLUMNS: list[tuple[str, str]] = [
    ("baseline_random", "Baseline Random"),
    ("baseline_radial", "Baseline Radial"),
    ("liu_random", "Liu et al. Random"),
    ("liu_radial", "Liu et al. Radial"),
    ("loupe_seg", "LOUPE-Seg"),
    ("semunet", "SemuNet"),
]
_EXTRAS = [
    ("baseline_uniform", "Baseline Uniform random (extra)"),
    ("baseline_vdcentre", "Baseline VD + centre (extra)"),
]
_SEG_EXTRAS = _EXTRAS + [
    ("mdrecon_radial", "MD-Recon-Net Radial + SegNet (extra)"),
    ("mdrecon_random", "MD-Recon-Net Random + SegNet (extra)"),
    ("fullysampled", "Fully sampled (extra, upper bound)"),
]
_RECON_METRICS = (("psnr", "PSNR (dB)", 1.0), ("ssim", "SSIM (%)", 100.0))


def _rates(results: Mapping) -> list[float]:
    """The grid's rates, descending (the paper's order)."""
    rates = (results.get("settings") or {}).get("rates")
    if rates is None:
        rates = {c["rate"] for c in results["cells"] if c.get("rate") is not None}
    return sorted((float(r) for r in rates), reverse=True)


def _stat(summary: Mapping, row: str, tag: str, metric: str) -> Mapping | None:
    tag = "full" if row == "fullysampled" else tag
    return ((summary.get(row) or {}).get(tag) or {}).get(metric)


def _line(summary: Mapping, tag: str, metric: str, scale: float, columns: list, extras: list) -> list[str]:
    """One table line: the paper's columns (best in bold), then the extra columns."""
    stats = [_stat(summary, row, tag, metric) for row, _ in columns]
    texts = bold_best([fmt_stat(s, scale) for s in stats], [s.get("mean") if s else None for s in stats])
    return texts + [fmt_stat(_stat(summary, row, tag, metric), scale) for row, _ in extras]


def _recon_ours(summary: Mapping, rates: list[float]) -> str:
    header = ["α", "Metric"] + [name for _, name in RECON_COLUMNS + _EXTRAS]
    rows = [
        [rate_label(rate), label] + _line(summary, rate_tag(rate), metric, scale, RECON_COLUMNS, _EXTRAS)
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
    header = ["α"] + [name for _, name in SEG_COLUMNS + _SEG_EXTRAS]
    rows = [
        [rate_label(rate)] + _line(summary, rate_tag(rate), "mean_dice", 100.0, SEG_COLUMNS, _SEG_EXTRAS)
        for rate in rates
    ]
    return md_table(header, rows)


def _seg_paper() -> str:
    rows = []
    for rate in _PAPER_RATES:
        values = [PAPER_TABLE2[rate_tag(rate)][row] for row, _ in SEG_COLUMNS]
        rows.append([rate_label(rate)] + bold_best([fmt_number(v) for v in values], values))
    return md_table(["α"] + [name for _, name in SEG_COLUMNS], rows)


def _per_class(summary: Mapping, rates: list[float], classes: Sequence[str]) -> str:
    names = dict(SEG_COLUMNS + _SEG_EXTRAS)
    lines = [(rate_label(r), rate_tag(r), row) for r in rates for row in names if row != "fullysampled"]
    lines.append(("full", "full", "fullysampled"))
    rows = [
        [label, names[row]]
        + [fmt_stat(_stat(summary, row, tag, f"dice_{c}"), 100.0) for c in classes]
        + [fmt_stat(_stat(summary, row, tag, "mean_dice"), 100.0)]
        for label, tag, row in lines
        if _stat(summary, row, tag, "mean_dice") is not None
    ]
    return md_table(["α", "Method"] + list(classes) + ["Mean"], rows)


def _comparison_table(comps: list[Mapping], metrics: Sequence[str]) -> str:
    units = {"psnr": ("PSNR", 1.0, "dB"), "ssim": ("SSIM", 100.0, "% points"), "dice": ("Dice", 100.0, "% points")}
    rows = []
    for c in (c for c in comps if c["metric"] in metrics):
        name, scale, unit = units[c["metric"]]
        ci = f"[{scale * c['low']:+.2f}, {scale * c['high']:+.2f}]"
        excludes = "yes" if c["low"] > 0 or c["high"] < 0 else "no"
        rows.append(
            [rate_label(c["rate"]), name, f"{c['label']} ({c['a']} − {c['b']})", f"{scale * c['diff']:+.2f} {unit}"]
            + [ci, excludes, f"{c['p_not_positive']:.4f}", str(c["n"])]
        )
    if not rows:
        return "No comparison could be made (rows missing from this grid)."
    header = ["α", "Metric", "Comparison (a − b)", "Mean Δ", "95% CI", "CI excludes 0", "resamples Δ ≤ 0", "n slices"]
    return md_table(header, rows)


def _verdicts(items: list[Mapping], claim: str, rates: list[float]) -> str:
    lines = [f"Paper's claim: *{claim}* (checked on the means over seeds).", ""]
    for rate in rates:
        found = [i for i in items if i["claim"] == claim and rate_tag(i["rate"]) == rate_tag(rate)]
        for item in found:
            lines.append(f"- {rate_label(rate)}: **{'holds' if item['holds'] else 'does not hold'}**: {item['detail']}")
        if not found:
            lines.append(f"- {rate_label(rate)}: no verdict (rows missing from this grid)")
    return "\n".join(lines)


def _mask_rates(results: Mapping) -> str:
    """Fixed masks whose effective rate differs from the nominal α (radial spokes cannot hit it exactly)."""
    off = sorted(
        {
            (c["rate"], ROWS[c["row"]].pattern, round(100 * c["mask_rate"], 2))
            for c in results["cells"]
            if c.get("rate") and c.get("mask_rate") is not None and abs(c["mask_rate"] - c["rate"]) > 5e-4
        },
        key=lambda x: (-x[0], x[1], x[2]),
    )
    if not off:
        return "Every mask samples exactly α of k-space."
    shown = ", ".join(f"{pattern} {m:.2f} % at α = {rate_label(a)}" for a, pattern, m in off)
    return f"Masks whose effective rate differs from α: {shown}; all others sample exactly α."


_CAVEATS = (
    "The intervals are conditional on the trained models: they resample the test slices (from the test subjects "
    "listed below; neighbouring slices are not independent, so the intervals are too narrow rather than too wide) "
    "and leave out the spread between training runs; with several seeds, each slice's score is first averaged over "
    "the seeds. 'resamples Δ ≤ 0' is the share of bootstrap means at or below 0, not a p-value."
)
_SELECTION = (
    "Model selection: SemuNet, Baseline and Liu et al. keep the checkpoint of their last phase with the best "
    "validation Dice (ReconNet included); LOUPE's and MD-Recon-Net's reconstruction networks are their last-epoch "
    "weights (their last phase trains only SegNet)."
)


def _budget(results: Mapping) -> str:
    s = results.get("settings") or {}
    seeds = s.get("seeds", [])
    return (
        f"Training budget: preset `{s.get('preset', '?')}`, {s.get('epochs', '?')} epochs + "
        f"{s.get('finetune_epochs', '?')} fine-tuning epochs per cell, {len(seeds)} seed(s) {list(seeds)}. "
        f"Data: `{s.get('data', '?')}`, spatial size {s.get('spatial_size', '?')}, "
        f"test subject(s) {list(s.get('test_subjects', []))}."
    )


def _document(title: str, sections: list[tuple[str, str]], notes: list[str]) -> str:
    """A Markdown page: the title, each ``(heading, body)`` section, then the notes as a list."""
    parts = [f"# {title}"] + [x for heading, body in sections for x in (f"## {heading}", body)]
    return "\n\n".join(parts + ["## Notes", "\n".join(f"- {n}" for n in notes)])


def _recon_markdown(results: Mapping, summary: Mapping, comps: list, items: list, rates: list[float]) -> str:
    notes = [
        "Scores are per test volume (PSNR and SSIM with data_range = the reference volume's maximum; SSIM is 2-D, "
        "averaged over the slices), averaged over the test subjects; `±` is the standard deviation over seeds "
        "(shown only with more than one seed). Bold: the best of the paper's columns on each line.",
        "The 'Random' columns are a variable-density Gaussian 2-D pattern (sampling kind `gaussian`, no forced "
        "centre); 'Uniform random' is a uniform random 2-D mask and 'VD + centre' a variable-density pattern with a "
        "fully sampled centre disc: the bar a learned mask must clear.",
        "LOUPE's numbers come from the LOUPE-Seg run's reconstruction (its segmentation phase leaves the mask and "
        "the reconstruction network unchanged).",
        _mask_rates(results),
        _SELECTION,
        _budget(results),
        f"Missing cells: {MISSING}. Bootstrap: paired over test slices, 10000 resamples, percentile interval.",
        _CAVEATS,
    ]
    sections = [
        ("This reproduction", _recon_ours(summary, rates)),
        ("Paper (MRB, 240×240, quoted)", _recon_paper()),
        ("Paired bootstrap comparisons (per-slice PSNR and SSIM)", _comparison_table(comps, ("psnr", "ssim"))),
        ("Ordering verdict", _verdicts(items, CLAIM_PSNR, rates)),
    ]
    return _document("Reconstruction: PSNR (dB) and SSIM (%) (the paper's Table 1)", sections, notes)


def _seg_markdown(results: Mapping, summary: Mapping, comps: list, items: list, rates: list[float]) -> str:
    notes = [
        "Dice is per test volume and excludes background, averaged over the classes and then over the test "
        "subjects; `±` is the standard deviation over seeds (shown only with more than one seed). Bold: the best "
        "of the paper's columns on each line.",
        "MD-Recon-Net + SegNet is not in the paper's Table 2. 'Fully sampled' segments the fully sampled images: "
        "an upper bound, the same value on every line.",
        "The bootstrap is paired over test slices; a slice's Dice is the mean over the foreground classes present "
        "in its reference or prediction, and slices without reference tissue are left out for every method.",
        _SELECTION,
        _budget(results),
        f"Missing cells: {MISSING}.",
        _CAVEATS,
    ]
    sections = [
        ("This reproduction", _seg_ours(summary, rates)),
        ("Paper (MRB, 240×240, quoted)", _seg_paper()),
        ("Dice (%) per class", _per_class(summary, rates, results.get("class_names") or [])),
        ("Paired bootstrap comparisons (per-slice Dice)", _comparison_table(comps, ("dice",))),
        ("Ordering verdict", _verdicts(items, CLAIM_DICE, rates)),
    ]
    return _document("Segmentation: Dice (%) (the paper's Table 2)", sections, notes)


def write_tables(results: Mapping, out_dir: str | Path) -> list[Path]:
    """Write ``out_dir/table_recon.md`` and ``out_dir/table_seg.md`` (atomically) from the grid's results.

    Args:
        results: the grid runner's results (``settings``, ``class_names``, ``cells``; see
            :mod:`semunet_monai.reproduce.grid`).
        out_dir: output folder (created if needed).

    Returns:
        The paths written.

    Raises:
        ValueError: ``results`` lacks a ``cells`` list.
    """
    if not isinstance(results, Mapping) or not isinstance(results.get("cells"), list):
        raise ValueError("argument 'results' must be a mapping with a 'cells' list (the grid runner's results).")
    rates = _rates(results)
    summary = summarise(results["cells"])
    comps = comparisons(results["cells"], rates)
    items = orderings(summary, comps, rates)
    out = Path(out_dir)
    return [
        atomic_write_text(out / "table_recon.md", _recon_markdown(results, summary, comps, items, rates) + "\n"),
        atomic_write_text(out / "table_seg.md", _seg_markdown(results, summary, comps, items, rates) + "\n"),
    ]
