"""Does a better PSNR bring a better Dice? Every run of every undersampled row as one point (test PSNR against test
mean Dice), one panel per rate and Dice scheme, with each row's mean over runs and the fully sampled SegNet's Dice as
the ceiling. The rank correlation over row means (:func:`~.claims.psnr_dice_agreement`) is in each panel's title."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

from ..grid_rows import ROWS, TUNED
from .claims import psnr_dice_agreement
from .figures_curves import COLOURS
from .figures_recon import short_name
from .grid import rate_tag
from .stats import SUMMARY_METRIC, finite_value, fold_coverage, summarise, summary_mean

__all__ = ["SCORE_SCHEMES", "run_points", "scores_figure"]

# (claims metric, axis label) of the figure's panel rows
SCORE_SCHEMES: tuple[tuple[str, str], ...] = (("dice", "mean Dice, 7 classes"), ("dice3", "mean Dice, CSF/GM/WM"))
_CEILING = "fullysampled"


def run_points(cells: Sequence[Mapping[str, Any]], rate: float, metric: str) -> dict[str, list[tuple[float, float]]]:
    """Per row (in the order of :data:`~semunet_monai.grid_rows.ROWS`), the ``(PSNR, Dice)`` test means of each of
    its runs at ``rate``; runs missing either are left out, and so are the tuned row (a copy of a sweep row's runs)
    and rows without a reconstruction.

    Raises:
        ValueError: ``metric`` is not ``"dice"`` or ``"dice3"``.
    """
    if metric not in ("dice", "dice3"):
        raise ValueError(f"argument 'metric' must be 'dice' or 'dice3', got {metric!r}.")
    tag = rate_tag(rate)
    out: dict[str, list[tuple[float, float]]] = {}
    for row in ROWS:
        if row == TUNED or not ROWS[row].recon:
            continue
        for cell in cells:
            if cell.get("row") != row or cell.get("rate") is None or rate_tag(cell["rate"]) != tag:
                continue
            mean = cell.get("mean") or {}
            psnr, dice = finite_value(mean.get("psnr")), finite_value(mean.get(SUMMARY_METRIC[metric]))
            if psnr is not None and dice is not None:
                out.setdefault(row, []).append((psnr, dice))
    return out


def scores_figure(cells: Sequence[Mapping[str, Any]], rates: Sequence[float]) -> Figure:
    """One column per rate, one row per :data:`SCORE_SCHEMES`: small points are runs, large edged points the row's
    mean over its runs; the dashed line is the fully sampled SegNet's mean Dice (the ceiling); the title gives
    Spearman's rho between the rows' mean PSNR and mean Dice (as the tables' agreement section)."""
    cells = list(cells)
    summary = summarise(cells)
    rho = {(rate_tag(a["rate"]), a["metric"]): a for a in psnr_dice_agreement(summary, rates, fold_coverage(cells))}
    full = {m: summary_mean(summary, _CEILING, "full", SUMMARY_METRIC[m]) for m, _ in SCORE_SCHEMES}
    colours = {row: COLOURS[i % (len(COLOURS) - 1)] for i, row in enumerate(ROWS)}
    ncols = max(1, len(rates))
    fig = Figure(figsize=(4.2 * ncols + 1.8, 3.4 * len(SCORE_SCHEMES)), layout="constrained")
    axes = fig.subplots(len(SCORE_SCHEMES), ncols, squeeze=False)
    shown: dict[str, Any] = {}
    for col, rate in enumerate(rates):
        for line, (metric, label) in enumerate(SCORE_SCHEMES):
            ax = axes[line][col]
            for row, points in run_points(cells, rate, metric).items():
                xs, ys = [p[0] for p in points], [100 * p[1] for p in points]
                ax.scatter(xs, ys, s=12, color=colours[row], alpha=0.45, linewidths=0)
                shown[row] = ax.scatter(
                    [sum(xs) / len(xs)], [sum(ys) / len(ys)], s=70, color=colours[row], edgecolors="black",
                    linewidths=0.8, label=short_name(row), zorder=3,
                )  # fmt: skip
            if full[metric] is not None:
                shown[_CEILING] = ax.axhline(
                    100 * full[metric], color="black", linestyle="--", linewidth=0.9, label="Fully sampled SegNet"
                )
            found = rho.get((rate_tag(rate), metric)) or {}
            r = found.get("rho")
            text = f"ρ = {r:.2f} over {found['n_rows']} rows" if r is not None else "ρ undefined (under 3 rows)"
            if found.get("left_out"):
                text += f"\n({len(found['left_out'])} rows with folds missing plotted, not in ρ)"
            ax.set_title(f"α = {100 * rate:g} %: {text}", fontsize=9)
            ax.set_xlabel("test PSNR (dB)")
            ax.set_ylabel(f"test {label} (%)")
            ax.grid(alpha=0.3)
    if shown:
        order = sorted(shown, key=list(ROWS).index)  # the rows' order, whichever panel drew a row first
        fig.legend(handles=[shown[r] for r in order], loc="outside right center", fontsize=8, frameon=False)
    fig.suptitle("Each run (small) and each row's mean (large): does a better PSNR bring a better Dice?")
    return fig
