"""Statistics of the reproduction grid: means over runs, the tuned fixed mask, and hierarchical bootstrap intervals
that resample test subjects and seeds (the paper's ordering claims are checked in :mod:`.claims`).

Input is the ``cells`` list of the grid's ``results.json`` (see :mod:`semunet_monai.reproduce.grid`). A cell's
``mean`` holds per-volume scores averaged over its test subjects (SSIM and Dice as fractions), ``per_volume`` one
score per test subject, and ``val`` the final model's scores on the validation subjects. ``None`` (or NaN) marks
an undefined value and is skipped.

Why subjects and seeds: the slices of one subject are not independent, and a difference between two methods also
moves from one training run to the next. The unit of a comparison is therefore one test subject in one seed
(paired: both methods saw the same subject with the same seed index, in the same fold); the bootstrap draws subjects
with replacement and, independently, seeds with replacement (a seed's models score every test subject, so the two
are crossed factors). A bootstrap over the slices of one or two subjects would be degenerate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from semunet_monai.grid_rows import BASELINE_ROWS, FIXED_ROWS, PAPER_BASELINES, SWEEP_ROWS, T1_ROWS, TUNED
from semunet_monai.reproduce.grid import rate_tag, row_name

__all__ = [
    "VOLUME_METRICS",
    "SUMMARY_METRIC",
    "add_tuned_cells",
    "finite_value",
    "spread",
    "summarise",
    "summary_mean",
    "best_row",
    "fold_coverage",
    "fold_complete",
    "volume_values",
    "hierarchical_bootstrap",
    "verdict",
    "comparison_pairs",
    "comparisons",
]

# metrics compared per test volume, and the cell["mean"] / cell["per_volume"] key each reads
SUMMARY_METRIC: dict[str, str] = {"psnr": "psnr", "ssim": "ssim", "dice": "mean_dice", "dice3": "mean_dice_tissue3"}
VOLUME_METRICS: tuple[str, ...] = tuple(SUMMARY_METRIC)

Key = tuple[str, int]  # (test subject, seed)


def finite_value(x: object) -> float | None:
    """``x`` as a float, or None if it is None or not finite."""
    if x is None:
        return None
    v = float(x)  # type: ignore[arg-type]
    return v if math.isfinite(v) else None


def _is_summary_metric(key: str) -> bool:
    return key in ("psnr", "ssim", "mean_dice", "mean_dice_tissue3") or key.startswith("dice_")


def _check_cells(cells: Iterable[Mapping]) -> list[Mapping]:
    cells = list(cells)
    for i, cell in enumerate(cells):
        if not isinstance(cell, Mapping) or "row" not in cell or "rate" not in cell:
            raise ValueError(f"argument 'cells': item {i} must be a mapping with keys 'row' and 'rate', got {cell!r}.")
    return cells


def spread(values: Iterable[float | None]) -> dict:
    """``{"mean", "std" (ddof=1), "n"}`` of the defined values (None where undefined)."""
    vals = [v for v in values if v is not None]
    n = len(vals)
    return {
        "mean": float(np.mean(vals)) if n else None,
        "std": float(np.std(vals, ddof=1)) if n > 1 else None,
        "n": n,
    }


def add_tuned_cells(cells: Iterable[Mapping]) -> list[Mapping]:
    """``cells`` plus one :data:`~.grid.TUNED` cell per rate, fold and seed: a copy of the centre-share sweep cell
    (:data:`~.grid.SWEEP_ROWS`) of that run with the best PSNR on the validation subjects, its choice in ``chosen``
    and the number of shares it chose from in ``candidates`` (fewer where a run's sweep is incomplete).

    The choice uses the validation subjects only, run by run, so the tuned mask's test scores are as unbiased as any
    other row's. Runs whose sweep cells lack validation scores get no tuned cell.
    """
    cells = [c for c in _check_cells(cells) if c["row"] != TUNED]
    runs: dict[tuple, list[Mapping]] = {}
    for c in cells:
        if c["row"] in SWEEP_ROWS:
            runs.setdefault((rate_tag(c["rate"]), c.get("fold", 0), c.get("seed", 0)), []).append(c)
    tuned = []
    for group in runs.values():
        scored = [(v, c) for c in group if (v := finite_value((c.get("val") or {}).get("psnr"))) is not None]
        if scored:
            # ties: the smallest share, whatever order the cells came in (a resumed grid reads them from disk)
            best = max(scored, key=lambda vc: (vc[0], -SWEEP_ROWS.index(vc[1]["row"])))[1]
            tuned.append({**best, "row": TUNED, "chosen": best["row"], "candidates": len(scored)})
    return cells + tuned


def summarise(cells: Iterable[Mapping]) -> dict:
    """Mean and spread over runs (folds x seeds) of each row, rate and metric.

    Args:
        cells: the grid's cells (each with ``row``, ``rate`` and ``mean``).

    Returns:
        ``summary[row][rate_tag][metric] = {"mean": float | None, "std": float | None, "n": int}`` for the metrics
        ``psnr``, ``ssim``, ``mean_dice``, ``mean_dice_tissue3`` and every ``dice_<class>`` a cell reports;
        ``rate_tag`` is :func:`~semunet_monai.reproduce.grid.rate_tag` (``full`` for ``fullysampled``). ``n``
        counts the runs with a defined value; ``std`` uses ``ddof=1`` and is None when ``n < 2``.

    Raises:
        ValueError: a cell lacks ``row`` or ``rate``.
    """
    groups: dict[tuple[str, str], list[Mapping]] = {}
    for cell in _check_cells(cells):
        groups.setdefault((cell["row"], rate_tag(cell["rate"])), []).append(cell.get("mean") or {})
    summary: dict = {}
    for (row, tag), means in groups.items():
        metrics = list(dict.fromkeys(k for m in means for k in m if _is_summary_metric(k)))
        summary.setdefault(row, {})[tag] = {k: spread(finite_value(m.get(k)) for m in means) for k in metrics}
    return summary


def summary_mean(summary: Mapping, row: str, tag: str, metric: str) -> float | None:
    """The mean over runs of ``metric`` for ``row`` at rate tag ``tag`` in a :func:`summarise` output, or None."""
    return ((summary.get(row) or {}).get(tag) or {}).get(metric, {}).get("mean")


def best_row(summary: Mapping, rows: Iterable[str], tag: str, metric: str) -> str | None:
    """The row of ``rows`` with the highest summary mean of ``metric`` at rate tag ``tag`` (None if none has one)."""
    found = {r: m for r in rows if (m := summary_mean(summary, r, tag, metric)) is not None}
    return max(found, key=found.__getitem__) if found else None


def fold_coverage(cells: Iterable[Mapping]) -> dict[tuple[str, str], frozenset[int]]:
    """The folds each row has finished at each rate: ``{(row, rate_tag): folds}``. A row that misses a fold the
    other rows have has not tested every subject yet, so its mean is not comparable with theirs."""
    out: dict[tuple[str, str], set[int]] = {}
    for cell in _check_cells(cells):
        out.setdefault((cell["row"], rate_tag(cell["rate"])), set()).add(int(cell.get("fold", 0)))
    return {k: frozenset(v) for k, v in out.items()}


def fold_complete(rows: Iterable[str], tag: str, folds: Mapping[tuple[str, str], frozenset[int]]) -> list[str]:
    """The rows of ``rows`` that have finished, at rate tag ``tag``, every fold any of them has (:func:`fold_coverage`):
    the rows whose means cover the same test subjects."""
    rows = list(rows)
    every = frozenset().union(*(folds.get((r, tag), frozenset()) for r in rows))
    return [r for r in rows if folds.get((r, tag), frozenset()) == every]


def volume_values(cells: Iterable[Mapping], row: str, rate: float | None, metric: str) -> dict[Key, float]:
    """Per-volume scores of one row and rate: ``{(test subject, seed): value}`` over every fold (each subject is
    tested in one fold); undefined values are left out.

    Raises:
        ValueError: unknown ``metric``.
    """
    if metric not in SUMMARY_METRIC:
        raise ValueError(f"argument 'metric' must be one of {VOLUME_METRICS}, got {metric!r}.")
    key, tag = SUMMARY_METRIC[metric], rate_tag(rate)
    out: dict[Key, float] = {}
    for cell in _check_cells(cells):
        if cell["row"] != row or rate_tag(cell["rate"]) != tag:
            continue
        for subject, scores in (cell.get("per_volume") or {}).items():
            v = finite_value((scores or {}).get(key))
            if v is not None:
                out[(str(subject), int(cell.get("seed", 0)))] = v
    return out


def hierarchical_bootstrap(diffs: Mapping[Key, float], n_boot: int = 10000, seed: int = 0, level: float = 0.95) -> dict:
    """Bootstrap of the mean of paired differences ``{(subject, seed): a - b}`` that resamples test subjects and
    seeds.

    Subjects and seeds are crossed (the model of one seed scores every test subject of its fold), so each resample
    draws the subjects with replacement and, independently, the seed indices with replacement, and averages the
    drawn subject x seed differences (the 'pigeonhole' bootstrap for crossed factors; with one seed it is the
    bootstrap over subjects). A ``numpy.random.Generator`` seeded with ``seed`` draws (the global numpy state is
    untouched).

    Args:
        diffs: paired differences, one per test subject and seed.
        n_boot: number of resamples.
        seed: seed of the resampling generator.
        level: confidence level of the percentile interval, in (0, 1).

    Returns:
        ``{"diff": mean difference (subjects weighted equally), "low", "high" (percentile interval),
        "n_subjects", "n_seeds", "n": pairs, "p_not_positive": fraction of resampled means <= 0}``.

    Raises:
        ValueError: fewer than 2 subjects, ``n_boot < 1`` or ``level`` outside (0, 1).
    """
    if n_boot < 1:
        raise ValueError(f"argument 'n_boot' must be at least 1, got {n_boot}.")
    if not 0 < level < 1:
        raise ValueError(f"argument 'level' must be in (0, 1), got {level}.")
    values = {k: v for k, d in diffs.items() if (v := finite_value(d)) is not None}
    subjects = sorted({s for s, _ in values})
    seeds = sorted({k for _, k in values})
    if len(subjects) < 2:
        raise ValueError(f"argument 'diffs' must cover at least 2 test subjects, got {len(subjects)}.")
    table = np.full((len(subjects), len(seeds)), np.nan)
    for (s, k), v in values.items():
        table[subjects.index(s), seeds.index(k)] = v
    subject_means = np.nanmean(table, axis=1)
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for start in range(0, n_boot, 1000):
        b = min(1000, n_boot - start)
        rows = rng.integers(0, len(subjects), size=(b, len(subjects)))
        cols = rng.integers(0, len(seeds), size=(b, len(seeds)))
        drawn = table[rows[:, :, None], cols[:, None, :]]  # (b, subjects, seeds)
        defined = ~np.isnan(drawn)
        count = defined.sum(axis=2)
        total = np.where(defined, drawn, 0.0).sum(axis=2)
        # a drawn subject none of whose drawn seeds has a value falls back to its own mean
        per_subject = np.where(count > 0, total / np.maximum(count, 1), subject_means[rows])
        means[start : start + b] = per_subject.mean(axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return {
        "diff": float(subject_means.mean()),
        "low": float(low),
        "high": float(high),
        "n_subjects": len(subjects),
        "n_seeds": len(seeds),
        "n": len(values),
        "p_not_positive": float(np.mean(means <= 0)),
    }


def verdict(comparison: Mapping) -> str:
    """``"a > b"`` when the interval lies above 0, ``"a < b"`` when below, else ``"within noise"``."""
    if comparison["low"] > 0:
        return "a > b"
    if comparison["high"] < 0:
        return "a < b"
    return "within noise"


def comparison_pairs(
    summary: Mapping, tag: str, metric: str, folds: Mapping[tuple[str, str], frozenset[int]] | None = None
) -> list[tuple[str, str, str]]:
    """The ``(a, b, role)`` pairs compared at rate tag ``tag`` for ``metric`` (see :func:`comparisons`);
    ``folds`` (:func:`fold_coverage`) lets a row run at fewer seeds but on every fold be the best of Table 1."""
    measure = SUMMARY_METRIC[metric]

    def runs(row: str) -> int:
        return (((summary.get(row) or {}).get(tag) or {}).get(measure) or {}).get("n", 0)

    # 'best' among the rows with as many runs as the learned rows: a row run at fewer seeds (or a grid being filled
    # in) would otherwise be compared on the few subjects and seeds it shares with them
    least = max((runs(r) for r in ("semunet", "loupe_seg")), default=0)

    def best(rows: Iterable[str]) -> str | None:
        return best_row(summary, [r for r in rows if runs(r) >= least], tag, measure)

    def best_t1() -> str | None:
        # the paper ran its Table 1 rivals once; a row with every test subject (every fold), at any number of seeds,
        # pairs with SemuNet on the seeds both ran
        others = [r for r in T1_ROWS if r != "semunet"]
        if folds is None:
            return best(others)
        return best_row(summary, [r for r in fold_complete(T1_ROWS, tag, folds) if r != "semunet"], tag, measure)

    fixed = best(FIXED_ROWS)
    pairs = [("semunet", TUNED, "tuned"), ("loupe_seg", TUNED, "tuned"), ("semunet", "loupe_seg", "pair")]
    if metric in ("psnr", "ssim"):
        pairs += [
            ("semunet", fixed, "best_fixed"),
            ("loupe_seg", fixed, "best_fixed"),
            ("semunet", best_t1(), "best_t1"),
        ]
    else:
        pairs += [("loupe_seg", best(PAPER_BASELINES), "best_baseline")]
        baseline = best(BASELINE_ROWS)
        pairs += [("semunet", baseline, "best_baseline")]
        pairs += [("semunet", fixed, "best_fixed")] if fixed != baseline else []
    return [(a, b, role) for a, b, role in dict.fromkeys(pairs) if b is not None]


def _label(a: str, b: str, metric: str, role: str) -> str:
    qualifier = {
        "pair": "",
        "tuned": "",
        "best_fixed": "best fixed: ",
        "best_baseline": "best Baseline: ",
        "best_t1": "best of Table 1: ",
    }[role]
    return f"{row_name(a, metric)} − {qualifier}{row_name(b, metric)}"


def comparisons(
    cells: Iterable[Mapping], rates: Iterable[float], n_boot: int = 10000, seed: int = 0, metrics: Sequence[str] = ()
) -> list[dict]:
    """Paired comparisons per rate and metric, with hierarchical bootstrap intervals over subjects and seeds.

    Per rate and metric (``psnr``, ``ssim``, ``dice`` = paper7 mean Dice, ``dice3`` = tissue3 mean Dice):
    SemuNet − the tuned fixed mask (:func:`add_tuned_cells`) and SemuNet − LOUPE(-Seg); for PSNR and SSIM also
    LOUPE − the tuned fixed mask, both learned rows − the best fixed-mask row and SemuNet − the best of the paper's
    other Table 1 columns (Baseline, Liu et al., MD-Recon-Net, LOUPE; chosen among rows that finished every fold,
    whatever their number of seeds, and paired on the seeds both ran); for Dice LOUPE-Seg − the better of the
    paper's two Baseline columns, and SemuNet − the best Baseline and best fixed rows when those differ. "Best" is
    the highest summary mean at that rate, among rows with as many runs as the learned rows unless said otherwise.
    A comparison is left out when fewer than 2 subjects pair.

    Args:
        cells: the grid's cells (tuned cells are added here if missing).
        rates: sampling rates to compare at.
        n_boot: bootstrap resamples per comparison.
        seed: bootstrap seed (the same for every comparison).
        metrics: metrics to compare (default all of :data:`VOLUME_METRICS`).

    Returns:
        One dict per comparison: ``rate``, ``metric``, ``a``, ``b`` (row keys), ``role``, ``label``,
        ``verdict`` (:func:`verdict`) and the fields of :func:`hierarchical_bootstrap`.
    """
    cells = add_tuned_cells(cells)
    summary, folds = summarise(cells), fold_coverage(cells)
    out = []
    for rate in rates:
        for metric in metrics or VOLUME_METRICS:
            for a, b, role in comparison_pairs(summary, rate_tag(rate), metric, folds):
                va, vb = volume_values(cells, a, rate, metric), volume_values(cells, b, rate, metric)
                diffs = {k: va[k] - vb[k] for k in va.keys() & vb.keys()}
                if len({s for s, _ in diffs}) < 2:
                    continue
                result = hierarchical_bootstrap(diffs, n_boot=n_boot, seed=seed)
                comp = {"rate": rate, "metric": metric, "a": a, "b": b, "role": role, **result}
                out.append({**comp, "label": _label(a, b, metric, role), "verdict": verdict(comp)})
    return out
