"""Statistics of the reproduction grid: means over seeds, per-slice values paired across rows, paired bootstrap
confidence intervals (the paper's ordering claims are checked in :mod:`.claims`).

Input is the ``cells`` list of the grid's ``results.json`` (see :mod:`semunet_monai.reproduce.grid`); a cell's
``mean`` holds per-volume scores averaged over the test subjects (SSIM and Dice as fractions) and its
``per_slice`` holds one score per test slice. ``None`` (or NaN) marks an undefined value and is skipped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from semunet_monai.reproduce.grid import ROWS, rate_tag

__all__ = [
    "SLICE_METRICS",
    "SUMMARY_METRIC",
    "BASELINE_ROWS",
    "FIXED_ROWS",
    "PAPER_BASELINES",
    "summarise",
    "summary_mean",
    "best_row",
    "comparison_pairs",
    "slice_values",
    "paired_bootstrap",
    "comparisons",
]

# per-slice metrics of a cell, and the summary metric (cell["mean"] key) each is compared on
SLICE_METRICS: tuple[str, str, str] = ("psnr", "ssim", "dice")
SUMMARY_METRIC: dict[str, str] = {"psnr": "psnr", "ssim": "ssim", "dice": "mean_dice"}
# fixed-pattern rows: the baselines (candidates for 'best fixed Baseline') and every fixed-mask method
BASELINE_ROWS: tuple[str, ...] = tuple(k for k, r in ROWS.items() if r.method == "baseline")
FIXED_ROWS: tuple[str, ...] = tuple(k for k, r in ROWS.items() if r.mask_kind is not None)
# the two Baseline columns of the paper's Table 2
PAPER_BASELINES: tuple[str, str] = ("baseline_random", "baseline_radial")

Key = tuple[str, int]


def _value(x: object) -> float | None:
    """``x`` as a float, or None if it is None or not finite."""
    if x is None:
        return None
    v = float(x)  # type: ignore[arg-type]
    return v if math.isfinite(v) else None


def _is_summary_metric(key: str) -> bool:
    return key in ("psnr", "ssim", "mean_dice") or key.startswith("dice_")


def _check_cells(cells: Iterable[Mapping]) -> list[Mapping]:
    cells = list(cells)
    for i, cell in enumerate(cells):
        if not isinstance(cell, Mapping) or "row" not in cell or "rate" not in cell:
            raise ValueError(f"argument 'cells': item {i} must be a mapping with keys 'row' and 'rate', got {cell!r}.")
    return cells


def _stats(values: Iterable[float | None]) -> dict:
    vals = [v for v in values if v is not None]
    n = len(vals)
    return {
        "mean": float(np.mean(vals)) if n else None,
        "std": float(np.std(vals, ddof=1)) if n > 1 else None,
        "n": n,
    }


def summarise(cells: Iterable[Mapping]) -> dict:
    """Mean and spread over seeds of each row, rate and metric.

    Args:
        cells: the grid's cells (each with ``row``, ``rate`` and ``mean``).

    Returns:
        ``summary[row][rate_tag][metric] = {"mean": float | None, "std": float | None, "n": int}`` for the metrics
        ``psnr``, ``ssim``, ``mean_dice`` and every ``dice_<class>`` a cell reports; ``rate_tag`` is
        :func:`~semunet_monai.reproduce.grid.rate_tag` (``full`` for ``fullysampled``). ``n`` counts the seeds with a
        defined value; ``std`` uses ``ddof=1`` and is None when ``n < 2``; ``mean`` is None when ``n == 0``.

    Raises:
        ValueError: a cell lacks ``row`` or ``rate``.
    """
    groups: dict[tuple[str, str], list[Mapping]] = {}
    for cell in _check_cells(cells):
        groups.setdefault((cell["row"], rate_tag(cell["rate"])), []).append(cell.get("mean") or {})
    summary: dict = {}
    for (row, tag), means in groups.items():
        metrics = list(dict.fromkeys(k for m in means for k in m if _is_summary_metric(k)))
        summary.setdefault(row, {})[tag] = {k: _stats(_value(m.get(k)) for m in means) for k in metrics}
    return summary


def slice_values(
    cells: Iterable[Mapping], row: str, rate: float | None, metric: str
) -> tuple[list[Key], list[float | None]]:
    """Per-slice values of one row and rate, averaged over its seeds slice by slice.

    Args:
        cells: the grid's cells.
        row: row key (see :data:`~semunet_monai.reproduce.grid.ROWS`).
        rate: sampling rate (None for ``fullysampled``); matched to 1 % as :func:`rate_tag` does.
        metric: one of :data:`SLICE_METRICS`.

    Returns:
        ``(keys, values)``: the ``(subject, slice)`` keys, sorted, and for each the mean over the seeds that define
        it (None where no seed does). Seeds are paired by key, whatever order they list their slices in.

    Raises:
        ValueError: unknown ``metric``, or a cell whose per-slice lists differ in length.
    """
    if metric not in SLICE_METRICS:
        raise ValueError(f"argument 'metric' must be one of {SLICE_METRICS}, got {metric!r}.")
    tag = rate_tag(rate)
    pooled: dict[Key, list[float]] = {}
    for cell in _check_cells(cells):
        per_slice = cell.get("per_slice") or {}
        if cell["row"] != row or rate_tag(cell["rate"]) != tag or metric not in per_slice:
            continue
        subjects, slices, values = per_slice["subject"], per_slice["slice"], per_slice[metric]
        if not len(subjects) == len(slices) == len(values):
            raise ValueError(
                f"argument 'cells': per_slice lists of {row} {tag} seed {cell.get('seed')} differ in length "
                f"(subject {len(subjects)}, slice {len(slices)}, {metric} {len(values)})."
            )
        for subject, index, value in zip(subjects, slices, values):
            found = pooled.setdefault((str(subject), int(index)), [])
            v = _value(value)
            if v is not None:
                found.append(v)
    keys = sorted(pooled)
    return keys, [float(np.mean(pooled[k])) if pooled[k] else None for k in keys]


def paired_bootstrap(
    a: Sequence[float | None],
    b: Sequence[float | None],
    n_boot: int = 10000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """Paired bootstrap of the mean difference ``a - b``.

    Pairs where either value is None or NaN are dropped; the remaining differences are resampled with replacement
    ``n_boot`` times by a ``numpy.random.Generator`` seeded with ``seed`` (global numpy state untouched).

    Args:
        a: values of the first method, one per item (slice).
        b: values of the second method for the same items, in the same order.
        n_boot: number of bootstrap resamples.
        seed: seed of the resampling generator.
        level: confidence level of the percentile interval, in (0, 1).

    Returns:
        ``{"diff": mean of a - b, "low": .., "high": .. (percentile interval), "n": pairs used,
        "p_not_positive": fraction of bootstrap means <= 0}``.

    Raises:
        ValueError: ``a`` and ``b`` differ in length, fewer than 2 pairs remain, ``n_boot < 1`` or ``level``
            outside (0, 1).
    """
    if len(a) != len(b):
        raise ValueError(f"argument 'b' must have the same length as 'a', got {len(b)} and {len(a)}.")
    if n_boot < 1:
        raise ValueError(f"argument 'n_boot' must be at least 1, got {n_boot}.")
    if not 0 < level < 1:
        raise ValueError(f"argument 'level' must be in (0, 1), got {level}.")
    pairs = [(x, y) for x, y in ((_value(x), _value(y)) for x, y in zip(a, b)) if x is not None and y is not None]
    if len(pairs) < 2:
        raise ValueError(
            f"arguments 'a' and 'b' must hold at least 2 pairs with both values defined, got {len(pairs)}."
        )
    d = np.array([x - y for x, y in pairs], dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = np.concatenate(
        [
            d[rng.integers(0, len(d), size=(min(1000, n_boot - start), len(d)))].mean(axis=1)
            for start in range(0, n_boot, 1000)
        ]
    )
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return {
        "diff": float(d.mean()),
        "low": float(low),
        "high": float(high),
        "n": len(d),
        "p_not_positive": float(np.mean(means <= 0)),
    }


def summary_mean(summary: Mapping, row: str, tag: str, metric: str) -> float | None:
    """The mean over seeds of ``metric`` for ``row`` at rate tag ``tag`` in a :func:`summarise` output, or None."""
    return ((summary.get(row) or {}).get(tag) or {}).get(metric, {}).get("mean")


def best_row(summary: Mapping, rows: Iterable[str], tag: str, metric: str) -> str | None:
    """The row of ``rows`` with the highest summary mean of ``metric`` at rate tag ``tag`` (None if none has one)."""
    found = {r: m for r in rows if (m := summary_mean(summary, r, tag, metric)) is not None}
    return max(found, key=found.__getitem__) if found else None


def _name(row: str, metric: str) -> str:
    if row == "loupe_seg":
        return "LOUPE-Seg" if metric == "dice" else "LOUPE"
    spec = ROWS[row]
    return spec.label if spec.method in ("semunet",) else f"{spec.label} {spec.pattern}"


def _compare(cells: list[Mapping], a: str, b: str, rate: float, metric: str, role: str, **boot) -> dict | None:
    keys_a, values_a = slice_values(cells, a, rate, metric)
    keys_b, values_b = slice_values(cells, b, rate, metric)
    by_key = dict(zip(keys_b, values_b))
    paired_b = [by_key.get(k) for k in keys_a]
    if sum(x is not None and y is not None for x, y in zip(values_a, paired_b)) < 2:
        return None
    result = paired_bootstrap(values_a, paired_b, **boot)
    qualifier = {"pair": "", "best_fixed": "best fixed: ", "best_baseline": "best Baseline: "}[role]
    label = f"{_name(a, metric)} − {qualifier}{_name(b, metric)}"
    return {"rate": rate, "metric": metric, "a": a, "b": b, "role": role, "label": label, **result}


def comparison_pairs(summary: Mapping, tag: str, metric: str) -> list[tuple[str, str, str]]:
    """The ``(a, b, role)`` pairs compared at rate tag ``tag`` for ``metric`` (see :func:`comparisons`)."""
    measure = SUMMARY_METRIC[metric]
    fixed = best_row(summary, FIXED_ROWS, tag, measure)
    baseline = best_row(summary, BASELINE_ROWS, tag, measure)
    pairs = [("semunet", "loupe_seg", "pair"), ("semunet", fixed, "best_fixed")]
    if metric == "dice":
        pairs.append(("loupe_seg", best_row(summary, PAPER_BASELINES, tag, measure), "best_baseline"))
    else:
        pairs.append(("loupe_seg", fixed, "best_fixed"))
    if baseline != fixed:
        pairs.append(("semunet", baseline, "best_baseline"))
    return [(a, b, role) for a, b, role in pairs if b is not None]


def comparisons(cells: Iterable[Mapping], rates: Iterable[float], n_boot: int = 10000, seed: int = 0) -> list[dict]:
    """Paired bootstrap comparisons over test slices, per rate: the differences the paper's orderings rest on.

    For each rate and metric (``psnr``, ``ssim``, ``dice``): SemuNet − LOUPE(-Seg); SemuNet − the best fixed-mask
    row (:data:`FIXED_ROWS`: Baseline, Liu et al. and MD-Recon-Net with any fixed pattern); for PSNR and SSIM also
    LOUPE − the best fixed-mask row; for Dice LOUPE-Seg − the better of the paper's two Baseline columns
    (:data:`PAPER_BASELINES`); and SemuNet − the best Baseline row (:data:`BASELINE_ROWS`: the same networks, only
    the mask differs) when that is not already the best fixed row. "Best" is the highest summary mean at that
    rate (``mean_dice`` for ``dice``). A comparison is left out when a row is missing or fewer than 2 slices pair.

    Args:
        cells: the grid's cells.
        rates: sampling rates to compare at.
        n_boot: bootstrap resamples per comparison.
        seed: bootstrap seed (the same for every comparison).

    Returns:
        One dict per comparison: ``rate``, ``metric``, ``a``, ``b`` (row keys), ``role`` (``pair``, ``best_fixed``
        or ``best_baseline``), ``label`` (e.g. ``"SemuNet − best fixed: MD-Recon-Net Random"``) and the fields of
        :func:`paired_bootstrap`.
    """
    cells = _check_cells(cells)
    summary = summarise(cells)
    out = []
    for rate in rates:
        for metric in SLICE_METRICS:
            for a, b, role in comparison_pairs(summary, rate_tag(rate), metric):
                if comp := _compare(cells, a, b, rate, metric, role, n_boot=n_boot, seed=seed):
                    out.append(comp)
    return out
