"""The reproduction grid: which rows (method + sampling pattern) the paper's tables compare, the cells (row, rate,
fold, seed) that train them, and each cell's configuration overrides.

:data:`ROWS` is the one home of the rows: the tables, the statistics and the figures read each row's place in
the paper's tables, its figure names and its role from it, so a new row is one entry here.

The paper's 'Random' pattern is a variable-density random 2-D pattern: its Table 1 has Random above Radial at 5 %,
which a uniform random 2-D mask cannot give (it misses the k-space centre). It is ``gaussian`` here (no forced
centre); uniform ``random`` is an extra row. So are the patterns a user would pick instead of learning one:
variable density with a fully sampled centre disc holding a share of the budget, swept over
:data:`CENTRE_SHARES`; the share with the best validation PSNR is the tuned fixed mask (:data:`TUNED`), the bar a
learned mask must clear.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..names import GRID_BUDGET

__all__ = [
    "Row",
    "ROWS",
    "PAPER_ROWS",
    "T1_ROWS",
    "T2_ROWS",
    "FIXED_ROWS",
    "BASELINE_ROWS",
    "PAPER_BASELINES",
    "SWEEP_ROWS",
    "CENTRE_SHARES",
    "TUNED",
    "Cell",
    "GRID_BUDGET",
    "centre_radius",
    "make_cells",
    "rate_tag",
    "row_name",
]

# Shares of the sampling budget in the fully sampled centre disc of the swept 'VD + centre' rows.
CENTRE_SHARES = (0.25, 0.5, 0.75, 0.9, 1.0)
# The tuned fixed mask: a virtual row, the sweep row with the best validation PSNR at each rate.
TUNED = "baseline_tuned"

# The training budget of one grid cell per preset lives in semunet_monai.names (the CLI's --help shows it).


@dataclass(frozen=True)
class Row:
    """One compared row of the tables.

    Attributes:
        key: identifier (folder name, JSON key).
        method: training method (see :data:`semunet_monai.engines.methods.METHODS`).
        mask_kind: fixed pattern for fixed-mask methods, None for learned masks and ``fullysampled``.
        label: the method as the paper names it.
        pattern: the pattern column (``Random``, ``Radial``, ``Learned``, ...).
        short: the name in figure panels and legends.
        centre: share of the budget in a fully sampled centre disc of a fixed pattern (0: none).
        per_rate: False only for ``fullysampled``, which does not undersample.
        t1: position in the paper's Table 1 (reconstruction), None if the paper has no such column.
        t2: position in the paper's Table 2 (segmentation), None likewise.
        recon: has a reconstruction column (False for ``fullysampled``).
        panel: title of its mask panel in Fig. 2 (rows with the same fixed pattern share one), None for none.
    """

    key: str
    method: str
    mask_kind: str | None
    label: str
    pattern: str
    short: str
    centre: float = 0.0
    per_rate: bool = True
    t1: int | None = None
    t2: int | None = None
    recon: bool = True
    panel: str | None = None

    @property
    def sweep(self) -> bool:
        """A member of the centre-share sweep that the tuned fixed mask is chosen from."""
        return self.method == "baseline" and self.centre > 0


def _sweep_row(share: float) -> Row:
    pct = round(100 * share)
    return Row(
        f"baseline_c{pct:02d}",
        "baseline",
        "gaussian",
        "Baseline",
        f"VD + centre {pct} %",
        f"Baseline (c. {pct} %)",
        centre=share,
        panel=f"VD + centre {pct} %",
    )


ROWS: dict[str, Row] = {
    r.key: r
    for r in (
        Row(
            "baseline_radial", "baseline", "radial", "Baseline", "Radial", "Baseline (rad.)", t1=0, t2=1, panel="Radial"
        ),
        Row(
            "baseline_random",
            "baseline",
            "gaussian",
            "Baseline",
            "Random",
            "Baseline (rand.)",
            t1=1,
            t2=0,
            panel="Random",
        ),
        Row("liu_radial", "liu", "radial", "Liu et al.", "Radial", "Liu (rad.)", t1=2, t2=3, panel="Radial"),
        Row("liu_random", "liu", "gaussian", "Liu et al.", "Random", "Liu (rand.)", t1=3, t2=2, panel="Random"),
        Row("mdrecon_radial", "mdrecon", "radial", "MD-Recon-Net", "Radial", "MD-Recon (rad.)", t1=4, panel="Radial"),
        Row(
            "mdrecon_random", "mdrecon", "gaussian", "MD-Recon-Net", "Random", "MD-Recon (rand.)", t1=5, panel="Random"
        ),
        # one run gives both LOUPE (its reconstruction: the SegNet phase leaves mask and ReconNet unchanged) and
        # LOUPE-Seg (its segmentation)
        Row("loupe_seg", "loupe_seg", None, "LOUPE / LOUPE-Seg", "Learned", "LOUPE(-Seg)", t1=6, t2=4, panel="LOUPE"),
        Row("semunet", "semunet", None, "SemuNet", "Learned", "SemuNet", t1=7, t2=5, panel="SemuNet"),
        # extra rows, not in the paper
        Row(
            "baseline_uniform",
            "baseline",
            "random",
            "Baseline",
            "Uniform random",
            "Baseline (unif.)",
            panel="Uniform random",
        ),
        # variable-density Poisson disc with a fully sampled centre: the 3-D (ky, kz) baseline (sampling.geometry kykz)
        Row(
            "baseline_poisson", "baseline", "poisson", "Baseline", "Poisson disc", "Baseline (Poisson)", panel="Poisson"
        ),
        *(_sweep_row(share) for share in CENTRE_SHARES),
        Row(
            "fullysampled", "fullysampled", None, "Fully sampled", "Full", "Fully sampled", per_rate=False, recon=False
        ),
    )
}

# the rows of the paper's tables, in each table's column order (the others are this project's additions)
T1_ROWS: tuple[str, ...] = tuple(sorted((k for k, r in ROWS.items() if r.t1 is not None), key=lambda k: ROWS[k].t1))
T2_ROWS: tuple[str, ...] = tuple(sorted((k for k, r in ROWS.items() if r.t2 is not None), key=lambda k: ROWS[k].t2))
PAPER_ROWS = frozenset(T1_ROWS + T2_ROWS)
# fixed-pattern rows (every fixed-mask method), the Baseline rows among them, and the paper's two Baseline columns
FIXED_ROWS: tuple[str, ...] = tuple(k for k, r in ROWS.items() if r.mask_kind is not None)
BASELINE_ROWS: tuple[str, ...] = tuple(k for k, r in ROWS.items() if r.method == "baseline")
PAPER_BASELINES: tuple[str, ...] = tuple(k for k in T2_ROWS if ROWS[k].method == "baseline")
SWEEP_ROWS: tuple[str, ...] = tuple(k for k, r in ROWS.items() if r.sweep)


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
