"""The tuning protocol of the centre-share sweep: the share is a hyper-parameter of the fixed mask, tuned once per
rate and fold on the validation subjects at seed 0; the other seeds repeat only the chosen share.

Why: the sweep's points (:data:`~semunet_monai.grid_rows.SWEEP_ROWS`) exist to find the strongest fixed mask, and
repeating every point at every seed multiplies the grid's cost by the number of shares while the other rows get
their seeds for one configuration. A seed > 0 sweep cell is therefore left out once its rate and fold have a scored
seed-0 cell for every share of the grid, and that seed chose another share; the tuned row
(:func:`~.stats.add_tuned_cells`) of that seed is then the chosen share, by construction. A seed that has more
shares (trained with ``--tune-every-seed``, or before this protocol) chooses among them by its own validation PSNR.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .grid import Cell
from .stats import add_tuned_cells

__all__ = ["seed0_choices", "seed0_siblings", "tuning_key", "untrained_sweep_cells"]


def tuning_key(cell: Cell) -> tuple:
    """What a share is tuned for: the rate and fold (a choice at seed 0 holds for every seed of them)."""
    return (cell.rate, cell.fold, cell.folds)


def seed0_siblings(cell: Cell, cells: Iterable[Cell]) -> list[Cell]:
    """The seed-0 sweep cells of ``cells`` at ``cell``'s rate and fold: the shares its tuning chooses among."""
    return [c for c in cells if c.spec.sweep and c.seed == 0 and tuning_key(c) == tuning_key(cell)]


def seed0_choices(cells: Iterable[Cell], records: Mapping[Cell, Mapping]) -> dict[tuple, str]:
    """``{(rate, fold, folds): row}``: the share seed 0 chose, for each rate and fold whose seed-0 sweep cells (in
    ``cells``) are all finished (in ``records``) with validation scores."""
    first: dict[tuple, list[Cell]] = {}
    for c in cells:
        if c.spec.sweep and c.seed == 0:
            first.setdefault(tuning_key(c), []).append(c)
    chosen: dict[tuple, str] = {}
    for key, group in first.items():
        if all(c in records for c in group):
            tuned = [t for t in add_tuned_cells([records[c] for c in group]) if "chosen" in t]
            if tuned:
                chosen[key] = tuned[0]["chosen"]
    return chosen


def untrained_sweep_cells(cells: Iterable[Cell], records: Mapping[Cell, Mapping]) -> dict[Cell, str]:
    """The sweep cells of ``cells`` at seeds > 0 that the protocol does not train, each with the share (row key)
    that seed 0 chose for its rate and fold.

    Args:
        cells: the grid's cells (requested and already on disk).
        records: the finished cells' records (``cell.json``); a finished cell is never left out.

    A cell is kept while its fold's seed-0 sweep is unfinished (the choice is not known yet), and when it is the
    chosen share.
    """
    cells = list(cells)
    chosen = seed0_choices(cells, records)
    return {
        c: chosen[key]
        for c in cells
        if c.spec.sweep
        and c.seed > 0
        and c not in records
        and (key := tuning_key(c)) in chosen
        and c.row != chosen[key]
    }
