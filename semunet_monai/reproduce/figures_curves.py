"""Validation curves of a grid's runs: PSNR and mean Dice against the epoch counted across training phases."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

__all__ = [
    "COLOURS",
    "NO_RECONSTRUCTION",
    "CURVE_METRICS",
    "cumulative_epochs",
    "phase_starts",
    "metric_series",
    "curves_figure",
]

# (metrics.json key, axis label) of the two figure rows
CURVE_METRICS: tuple[tuple[str, str], ...] = (("psnr", "PSNR (dB)"), ("mean_dice", "mean Dice"))

# matplotlib's tab10, then tab20's light tones: one colour per row of the grid; black for the dashed references
COLOURS = (
    *("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"),
    *("#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"),
    "#000000",
)


# rows whose runs do not reconstruct: no PSNR/SSIM curve
NO_RECONSTRUCTION = ("fullysampled",)


def cumulative_epochs(rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Epoch of each validation row counted from the start of the run: each phase's epochs (which restart at 1) are
    shifted by the last epoch of the phases before it.

    Args:
        rows: ``metrics.json`` rows in file order, each with ``"phase"`` and ``"epoch"``.

    Returns:
        one cumulative epoch per row, e.g. ``[10, 20, 30]`` for phases ``joint 10, joint 20, finetune 10``.
    """
    xs: list[int] = []
    offset, last, phase = 0, 0, None
    for i, row in enumerate(rows):
        if "phase" not in row or "epoch" not in row:
            raise ValueError(f"argument 'rows': row {i} lacks key 'phase' or 'epoch' (got keys {sorted(row)}).")
        if phase is not None and row["phase"] != phase:
            offset += last
        phase, last = row["phase"], int(row["epoch"])
        xs.append(offset + last)
    return xs


def phase_starts(rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Cumulative epoch at which each phase after the first starts (the previous phases' epochs)."""
    xs = cumulative_epochs(rows)
    return [xs[i - 1] for i in range(1, len(rows)) if rows[i]["phase"] != rows[i - 1]["phase"]]


def metric_series(rows: Sequence[Mapping[str, Any]], metric: str) -> tuple[list[int], list[float]]:
    """``(x, y)`` of one metric over the run: cumulative epochs of the rows holding a finite value of ``metric``."""
    points = [
        (x, float(row[metric]))
        for x, row in zip(cumulative_epochs(rows), rows)
        if isinstance(row.get(metric), (int, float)) and math.isfinite(row[metric])
    ]
    return [p[0] for p in points], [p[1] for p in points]


def curves_figure(
    columns: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
    labels: Mapping[str, str],
    dashed: Sequence[str] = ("fullysampled",),
    title: str = "",
) -> Figure:
    """Two rows (:data:`CURVE_METRICS`) by one column per entry of ``columns``.

    Args:
        columns: column title -> {row key: its ``metrics.json`` rows}; a row key without a metric draws no line.
        labels: every row key -> legend label, in the order that fixes each row's colour.
        dashed: row keys drawn dashed and black (references such as the fully sampled run).
        title: figure title.
    """
    drawn_in_colour = [key for key in labels if key not in dashed]
    colours = {key: COLOURS[i % (len(COLOURS) - 1)] for i, key in enumerate(drawn_in_colour)}
    colours.update(dict.fromkeys(dashed, COLOURS[-1]))  # references in black
    ncols = max(1, len(columns))
    fig = Figure(figsize=(3.6 * ncols + 1.8, 5.2), layout="constrained")
    axes = fig.subplots(len(CURVE_METRICS), ncols, squeeze=False, sharey="row")
    drawn: dict[str, Any] = {}
    for j, (name, runs) in enumerate(columns.items()):
        starts: set[int] = set()
        for i, (metric, ylabel) in enumerate(CURVE_METRICS):
            ax = axes[i, j]
            for key, rows in runs.items():
                if key in NO_RECONSTRUCTION and metric in ("psnr", "ssim"):
                    continue  # its 'reconstruction' is the image itself: an infinite PSNR
                x, y = metric_series(rows, metric)
                if not x:
                    continue
                style = "--" if key in dashed else "-"
                (line,) = ax.plot(x, y, style, color=colours.get(key, "0.5"), lw=1.2, label=labels.get(key, key))
                drawn.setdefault(labels.get(key, key), line)
                starts.update(phase_starts(rows))
            if not ax.lines:
                ax.text(0.5, 0.5, "no data", ha="center", va="center", color="0.5", transform=ax.transAxes)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(name, fontsize=10)
            if i == len(CURVE_METRICS) - 1:
                ax.set_xlabel("epoch (all phases)")
            if j == 0:
                ax.set_ylabel(ylabel)
        for i in range(len(CURVE_METRICS)):
            for x in sorted(starts):
                axes[i, j].axvline(x, color="0.6", lw=0.6, ls=":")
    if drawn:
        fig.legend(list(drawn.values()), list(drawn), loc="outside right center", fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
