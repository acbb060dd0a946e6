"""The torch-free name lists the command line offers are the registries' own."""

from __future__ import annotations

from semunet_monai import names
from semunet_monai.grid_rows import ROWS
from semunet_monai.precision import PRECISIONS
from semunet_monai.reproduce.grid import GRID_BUDGET
from semunet_monai.sampling.masks import MASK_CLASSES, MASK_KINDS


def test_precisions_and_mask_kinds_are_defined_once():
    assert PRECISIONS is names.PRECISIONS and MASK_KINDS is names.MASK_KINDS
    assert tuple(MASK_CLASSES) == MASK_KINDS  # every kind has a class, in the order of the list


def test_the_grid_rows_and_budget_are_defined_once():
    """The CLI's row choices and the grid read the same torch-free ROWS: a new row is one entry there."""
    from semunet_monai import grid_rows

    assert ROWS is grid_rows.ROWS and names.GRID_BUDGET is GRID_BUDGET
    assert names.GRID_ROWS == tuple(grid_rows.ROWS) and "baseline_poisson" in names.GRID_ROWS
