"""The reproduction grid: which rows (method + sampling pattern) the paper's tables compare, the cells (row, rate,
seed) that train them, and each cell's configuration overrides.

The paper's 'Random' pattern is a variable-density random 2-D pattern: its Table 1 has Random above Radial at 5 %,
which a uniform random 2-D mask cannot give (it misses the k-space centre). It is ``gaussian`` here (no forced
centre); uniform ``random`` is an extra row, and so is the pattern a user would pick instead of learning one:
variable density with a fully sampled centre disc holding a quarter of the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "Row",
    "ROWS",
    "PAPER_ROWS",
    "Cell",
    "GRID_EPOCHS",
    "VD_CENTRE_SHARE",
    "centre_radius",
    "make_cells",
    "rate_tag",
]

# Share of the sampling budget that the 'VD + centre' row spends on its fully sampled centre disc.
VD_CENTRE_SHARE = 0.25

# Epoch budget of one grid cell per preset when the command line does not set it (None: the preset's own).
# cpu: the preset's 80 + 30 epochs give one run in about 5 minutes; the 31 cells of a 3-rate grid at half of
# that (40 + 15) finish in about an hour on 2 cores.
GRID_EPOCHS: dict[str, tuple[int, int] | None] = {"tiny": None, "cpu": (40, 15), "paper": None}


@dataclass(frozen=True)
class Row:
    """One compared row of the tables.

    Attributes:
        key: identifier (folder name, JSON key).
        method: training method (see :data:`semunet_monai.engines.methods.METHODS`).
        mask_kind: fixed pattern for fixed-mask methods, None for learned masks and ``fullysampled``.
        label: the method as the paper names it.
        pattern: the pattern column (``Random``, ``Radial``, ``Learned``, ...).
        centre: the fixed pattern gets a fully sampled centre disc (see :func:`centre_radius`).
        per_rate: False only for ``fullysampled``, which does not undersample.
    """

    key: str
    method: str
    mask_kind: str | None
    label: str
    pattern: str
    centre: bool = False
    per_rate: bool = True


ROWS: dict[str, Row] = {
    r.key: r
    for r in (
        Row("baseline_radial", "baseline", "radial", "Baseline", "Radial"),
        Row("baseline_random", "baseline", "gaussian", "Baseline", "Random"),
        Row("liu_radial", "liu", "radial", "Liu et al.", "Radial"),
        Row("liu_random", "liu", "gaussian", "Liu et al.", "Random"),
        Row("mdrecon_radial", "mdrecon", "radial", "MD-Recon-Net", "Radial"),
        Row("mdrecon_random", "mdrecon", "gaussian", "MD-Recon-Net", "Random"),
        # one run gives both LOUPE (its reconstruction: the SegNet phase leaves mask and ReconNet unchanged) and
        # LOUPE-Seg (its segmentation)
        Row("loupe_seg", "loupe_seg", None, "LOUPE / LOUPE-Seg", "Learned"),
        Row("semunet", "semunet", None, "SemuNet", "Learned"),
        # extra rows, not in the paper
        Row("baseline_uniform", "baseline", "random", "Baseline", "Uniform random"),
        Row("baseline_vdcentre", "baseline", "gaussian", "Baseline", "VD + centre", centre=True),
        Row("fullysampled", "fullysampled", None, "Fully sampled", "Full", per_rate=False),
    )
}

# the rows of the paper's tables, in its column order (the others are this project's additions)
PAPER_ROWS = ROWS.keys() - {"baseline_uniform", "baseline_vdcentre", "fullysampled"}


def centre_radius(rate: float, shape: tuple[int, int]) -> float:
    """Radius (pixels) of the centre disc holding :data:`VD_CENTRE_SHARE` of the budget ``rate * H * W``."""
    return math.sqrt(VD_CENTRE_SHARE * rate * shape[0] * shape[1] / math.pi)


def rate_tag(rate: float | None) -> str:
    """Folder tag of a rate: ``a05``, ``a10``, ``a20`` (``full`` for None)."""
    return "full" if rate is None else f"a{round(rate * 100):02d}"


@dataclass(frozen=True)
class Cell:
    """One training run of the grid: a row at a rate (None for ``fullysampled``) with a seed."""

    row: str
    rate: float | None
    seed: int

    @property
    def spec(self) -> Row:
        return ROWS[self.row]

    @property
    def folder(self) -> str:
        """Run folder relative to the grid's output folder."""
        return f"cells/{self.row}/{rate_tag(self.rate)}/seed{self.seed}"

    @property
    def name(self) -> str:
        return f"{self.row} {rate_tag(self.rate)} seed {self.seed}"

    def overrides(self, shape: tuple[int, int]) -> dict:
        """Config overrides of this cell on top of the preset: method, rate, pattern, centre and seeds.

        The training seed and the fixed pattern's seed both follow the cell's seed, so ``--seeds K`` measures the
        spread over network initialisations, data order, Monte-Carlo masks and fixed random patterns.
        """
        spec = self.spec
        sampling: dict = {"mask_seed": self.seed}
        if self.rate is not None:
            sampling["rate"] = float(self.rate)
        if spec.mask_kind is not None:
            sampling["mask_kind"] = spec.mask_kind
            # a fixed gaussian mask reads sampling.acs as its centre disc: none for the paper's 'Random' pattern
            sampling["acs"] = centre_radius(self.rate, shape) if spec.centre else None
        return {"train": {"method": spec.method, "seed": self.seed}, "sampling": sampling}


def make_cells(rates: list[float], seeds: int, rows: list[str] | None = None) -> list[Cell]:
    """All cells, grouped by seed then rate (the rate-independent ``fullysampled`` once per seed).

    Args:
        rates: sampling rates in (0, 1), each at most once.
        seeds: number of seeds (0 .. seeds-1).
        rows: row keys to train (default: all of :data:`ROWS`).

    Raises:
        ValueError: unknown row, repeated rate, rate outside (0, 1) or seeds < 1.
    """
    rows = list(ROWS) if rows is None else list(rows)
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        raise ValueError(f"argument 'rows': unknown row(s) {unknown}; known: {list(ROWS)}.")
    if not rates:
        raise ValueError("argument 'rates' must list at least one sampling rate.")
    if any(not 0 < r < 1 for r in rates):
        raise ValueError(f"argument 'rates' must hold sampling rates in (0, 1), got {rates}.")
    if len({rate_tag(r) for r in rates}) != len(rates):
        raise ValueError(f"argument 'rates' holds the same rate (to 1 %) twice: {rates}.")
    if seeds < 1:
        raise ValueError(f"argument 'seeds' must be at least 1, got {seeds}.")
    cells = []
    for seed in range(seeds):
        for rate in sorted(rates, reverse=True):
            cells += [Cell(r, float(rate), seed) for r in rows if ROWS[r].per_rate]
        cells += [Cell(r, None, seed) for r in rows if not ROWS[r].per_rate]
    return cells
