"""Reproduce the paper's tables and figures: every method at every sampling rate (and seed), scored on the held-out
subjects, with paired bootstrap comparisons."""

from __future__ import annotations

from ..grid_rows import ROWS, Row
from .grid import GRID_BUDGET, Cell, make_cells
from .runner import collect_results, grid_config, run_grid, write_report

__all__ = [
    "ROWS",
    "Row",
    "Cell",
    "GRID_BUDGET",
    "make_cells",
    "grid_config",
    "run_grid",
    "collect_results",
    "write_report",
]
