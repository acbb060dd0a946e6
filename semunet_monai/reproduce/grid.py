"""The reproduction grid: the cells (row, rate, fold, seed) that train the rows of :mod:`semunet_monai.grid_rows`
and each cell's configuration overrides."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..grid_rows import ROWS, TUNED, Row
from ..names import GRID_BUDGET

__all__ = ["Cell", "GRID_BUDGET", "centre_radius", "make_cells", "rate_tag", "row_name"]

# The training budget of one grid cell per preset lives in semunet_monai.names (the CLI's --help shows it).


def row_name(row: str, metric: str = "psnr") -> str:
    """A row's name in text: LOUPE or LOUPE-Seg by metric, the tuned fixed mask, else label and pattern."""
    if row == "loupe_seg":
        return "LOUPE-Seg" if metric in ("dice", "mean_dice", "dice3", "mean_dice_tissue3") else "LOUPE"
    if row == TUNED:
        return "Tuned VD + centre"
    spec = ROWS[row]
    return spec.label if spec.method == "semunet" else f"{spec.label} {spec.pattern}"


def centre_radius(rate: float, shape: tuple[int, int], share: float) -> float:
    """Radius (pixels) of the largest centre disc with at most ``share`` of the budget ``round(rate * H * W)``
    (pixels at distance <= radius from the k-space centre ``(H // 2, W // 2)``)."""
    h, w = int(shape[0]), int(shape[1])
    limit = int(share * round(rate * h * w) + 1e-9)
    yy = torch.arange(h, dtype=torch.float64) - h // 2
    xx = torch.arange(w, dtype=torch.float64) - w // 2
    r2 = torch.sort((yy[:, None] ** 2 + xx[None, :] ** 2).flatten()).values
    if limit < 1:
        return 0.0
    v = float(r2[limit - 1])
    if limit < r2.numel() and float(r2[limit]) == v:  # a ring of equal radius would overshoot: stop inside it
        smaller = r2[r2 < v]
        v = float(smaller[-1]) if smaller.numel() else 0.0
    return math.sqrt(v)


def rate_tag(rate: float | None) -> str:
    """Folder tag of a rate: ``a05``, ``a10``, ``a20`` (``full`` for None)."""
    return "full" if rate is None else f"a{round(rate * 100):02d}"


@dataclass(frozen=True)
class Cell:
    """One training run of the grid: a row at a rate (None for ``fullysampled``) on one fold with one seed.

    With ``folds`` > 1 the subjects are split k-fold (``data.folds``/``data.fold``): fold ``f`` is the test set;
    the run seed ``seed * folds + fold`` seeds training and the fixed pattern, so every (fold, seed) replicate has
    its own networks, data order, Monte-Carlo masks and fixed random patterns.
    """

    row: str
    rate: float | None
    seed: int
    fold: int = 0
    folds: int = 1

    @property
    def spec(self) -> Row:
        return ROWS[self.row]

    @property
    def run_seed(self) -> int:
        return self.seed * self.folds + self.fold

    @property
    def folder(self) -> str:
        """Run folder relative to the grid's output folder."""
        fold = f"fold{self.fold}/" if self.folds > 1 else ""
        return f"cells/{self.row}/{rate_tag(self.rate)}/{fold}seed{self.seed}"

    @property
    def name(self) -> str:
        fold = f" fold {self.fold}" if self.folds > 1 else ""
        return f"{self.row} {rate_tag(self.rate)}{fold} seed {self.seed}"

    def overrides(self, shape: tuple[int, int]) -> dict:
        """Config overrides of this cell on top of the preset: method, rate, pattern, centre, fold and seeds."""
        spec = self.spec
        sampling: dict = {"mask_seed": self.run_seed}
        if self.rate is not None:
            sampling["rate"] = float(self.rate)
        if spec.mask_kind is not None:
            sampling["mask_kind"] = spec.mask_kind
            # a fixed gaussian mask reads sampling.acs as its centre disc: none for the paper's 'Random' pattern
            sampling["acs"] = centre_radius(self.rate, shape, spec.centre) if spec.centre else None
        out = {"train": {"method": spec.method, "seed": self.run_seed}, "sampling": sampling}
        if self.folds > 1:
            out["data"] = {"folds": self.folds, "fold": self.fold}
        return out


def make_cells(rates: list[float], seeds: int, rows: list[str] | None = None, folds: int = 1) -> list[Cell]:
    """All cells, grouped by seed, then fold, then rate (the rate-independent ``fullysampled`` once per replicate).

    Args:
        rates: sampling rates in (0, 1), each at most once.
        seeds: number of seeds (0 .. seeds-1).
        rows: row keys to train (default: all of :data:`ROWS`), in the order given.
        folds: k-fold cross-validation over subjects (1: the preset's single split).

    Raises:
        ValueError: unknown row, repeated rate, rate outside (0, 1), seeds < 1 or folds < 1.
    """
    rows = list(ROWS) if rows is None else list(dict.fromkeys(rows))
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
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 1:
        raise ValueError(f"argument 'folds' must be an integer >= 1, got {folds!r}.")
    cells = []
    for seed in range(seeds):
        for fold in range(folds):
            for rate in sorted(rates, reverse=True):
                cells += [Cell(r, float(rate), seed, fold, folds) for r in rows if ROWS[r].per_rate]
            cells += [Cell(r, None, seed, fold, folds) for r in rows if not ROWS[r].per_rate]
    return cells
