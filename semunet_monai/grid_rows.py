"""The rows of the reproduction grid (method + sampling pattern), in a module that imports nothing heavy.

:data:`ROWS` is the one home of the rows: the command line's ``reproduce --rows`` choices
(:data:`semunet_monai.names.GRID_ROWS`), the cells (:mod:`semunet_monai.reproduce.grid`), the tables, the statistics
and the figures read each row's place in the paper's tables, its figure names and its role from it, so a new row is
one entry here.

The paper's 'Random' pattern is a variable-density random 2-D pattern: its Table 1 has Random above Radial at 5 %,
which a uniform random 2-D mask cannot give (it misses the k-space centre). It is ``gaussian`` here (no forced
centre); uniform ``random`` is an extra row. So are the patterns a user would pick instead of learning one:
variable density with a fully sampled centre disc holding a share of the budget, swept over
:data:`CENTRE_SHARES`; the share with the best validation PSNR is the tuned fixed mask (:data:`TUNED`), the bar a
learned mask must clear.
"""

from __future__ import annotations

from dataclasses import dataclass

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
]

# Shares of the sampling budget in the fully sampled centre disc of the swept 'VD + centre' rows.
CENTRE_SHARES = (0.25, 0.5, 0.75, 0.9, 1.0)
# The tuned fixed mask: a virtual row, the sweep row with the best validation PSNR at each rate.
TUNED = "baseline_tuned"


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
