"""Figures of a reproduction grid: the sampling patterns per rate (the paper's Fig. 2), reconstructions, error maps
and segmentations of one test slice per rate (Fig. 3) and the validation curves. Drawn with matplotlib's object API
(``Figure``, no pyplot state) and written atomically as PNG; a missing file blanks its panel with a warning."""

from __future__ import annotations

import json
import logging
import zipfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..atomic import atomic_write
from ..grid_rows import ROWS, TUNED
from .figures_curves import curves_figure
from .figures_recon import MISSING, RECON_ROWS, bare_axes, recon_figure, short_name
from .figures_scores import scores_figure
from .grid import rate_tag
from .stats import add_tuned_cells

__all__ = ["MASK_COLUMNS", "DPI", "GridFiles", "effective_rate", "format_rate", "write_figures"]

logger = logging.getLogger(__name__)

DPI = 150
TUNED_PANEL = "Tuned VD + centre"


def _mask_columns() -> dict[str, tuple[str, ...]]:
    fixed: dict[str, tuple[str, ...]] = {}
    learned: dict[str, tuple[str, ...]] = {}
    for key, row in ROWS.items():
        if row.panel is not None:
            into = fixed if row.mask_kind is not None else learned
            into[row.panel] = into.get(row.panel, ()) + (key,)
    return fixed | learned


# Fig. 2 columns: panel title (Row.panel) -> rows whose (identical: same kind, centre and seed) mask may stand for
# it, first present wins; the fixed patterns in the order of ROWS (the centre-share sweep last), then the learned
MASK_COLUMNS: dict[str, tuple[str, ...]] = _mask_columns()


def effective_rate(mask: np.ndarray) -> float:
    """Fraction of k-space a boolean (or 0/1) mask samples."""
    mask = np.asarray(mask)
    if mask.size == 0:
        raise ValueError("argument 'mask' is empty.")
    return float(np.count_nonzero(mask)) / mask.size


def format_rate(mask: np.ndarray) -> str:
    """The mask's effective rate in percent, e.g. ``"10.0 %"``."""
    return f"{100 * effective_rate(mask):.1f} %"


def _check(results: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if not isinstance(results, Mapping) or "cells" not in results:
        raise ValueError("argument 'results': missing key 'cells' (expected the grid's results with a list of cells).")
    if not isinstance(results["cells"], (list, tuple)):
        raise ValueError(f"argument 'results': key 'cells' must be a list, got {type(results['cells']).__name__}.")
    for i, cell in enumerate(results["cells"]):
        for key in ("row", "folder"):
            if not isinstance(cell, Mapping) or key not in cell:
                raise ValueError(f"argument 'results': cells[{i}] lacks key {key!r} (got {cell!r}).")
    return list(results["cells"])


def _tuned_choice(cells: list[Mapping[str, Any]]) -> dict[str, tuple[set[str], int, int]]:
    """Per rate tag: the sweep rows the tuned fixed mask chose most often (ties: all), how often, out of how many
    runs (empty when the sweep cells carry no validation scores). Only runs that chose among the rate's whole sweep
    count: a later seed trains only the share seed 0 chose (:mod:`.tuning`), so its choice is no new evidence."""
    tuned = [c for c in add_tuned_cells(c for c in cells if "rate" in c) if c["row"] == TUNED]
    full = Counter()
    for c in tuned:
        full[rate_tag(c["rate"])] = max(full[rate_tag(c["rate"])], c.get("candidates", 0))
    counts: dict[str, Counter] = {}
    for c in tuned:
        if c.get("candidates", 0) == full[rate_tag(c["rate"])]:
            counts.setdefault(rate_tag(c["rate"]), Counter())[c["chosen"]] += 1
    out = {}
    for tag, counter in counts.items():
        top = max(counter.values())
        out[tag] = ({r for r, n in counter.items() if n == top}, top, sum(counter.values()))
    return out


class GridFiles:
    """The grid's cells of one replicate (the lowest seed, then its lowest fold, normally 0), indexed by (row, rate
    tag), with their files loaded once (warning if missing); ``tuned`` holds, per rate tag, the centre-share sweep
    rows the tuned fixed mask chose most often over all replicates and ``(times, runs)``."""

    def __init__(self, results: Mapping[str, Any], out_dir: Path) -> None:
        cells = _check(results)
        self.out_dir = out_dir
        self.seed = min((int(c.get("seed", 0)) for c in cells), default=0)
        self.fold = min((int(c.get("fold", 0)) for c in cells if int(c.get("seed", 0)) == self.seed), default=0)
        self.folds = max((int(c.get("folds", 1)) for c in cells), default=1)
        self.cells = {
            (c["row"], rate_tag(c.get("rate"))): c
            for c in cells
            if int(c.get("seed", 0)) == self.seed and int(c.get("fold", 0)) == self.fold
        }
        rates = (results.get("settings") or {}).get("rates") or {c["rate"] for c in cells if c.get("rate") is not None}
        self.rates = sorted((float(r) for r in rates), reverse=True)
        self.class_names = list(results.get("class_names") or [])
        self.tuned = _tuned_choice(cells)
        # the share the tuned fixed mask took in this replicate, per rate tag (its own choice, not the most frequent)
        mine = [c for c in self.cells.values() if "rate" in c]
        self.tuned_row = {rate_tag(c["rate"]): c["chosen"] for c in add_tuned_cells(mine) if c["row"] == TUNED}
        self._loaded: dict[Path, Any] = {}

    @property
    def replicate(self) -> str:
        """The replicate drawn, in words: ``seed 0`` (``seed 0, fold 0`` with k-fold)."""
        return f"seed {self.seed}" + (f", fold {self.fold}" if self.folds > 1 else "")

    def cell(self, row: str, rate: float | None) -> Mapping[str, Any] | None:
        return self.cells.get((row, rate_tag(rate)))

    def load(self, cell: Mapping[str, Any], name: str) -> Any:
        """The cell's file ``name`` (mask.npy array, npz dict or JSON), None (with one warning) if unreadable."""
        path = self.out_dir / cell["folder"] / name
        if path not in self._loaded:
            self._loaded[path] = None
            if not path.is_file():
                logger.warning("figures: %s is missing; its panels are left blank.", path)
                return None
            try:
                if path.suffix == ".json":
                    self._loaded[path] = json.loads(path.read_text())
                elif path.suffix == ".npz":
                    with np.load(path, allow_pickle=False) as data:
                        self._loaded[path] = dict(data)
                else:
                    self._loaded[path] = np.load(path, allow_pickle=False)
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
                logger.warning("figures: cannot read %s (%s); its panels are left blank.", path, err)
        return self._loaded[path]

    def slice_arrays(self, cell: Mapping[str, Any] | None, *keys: str) -> dict | None:
        """The cell's figure_slice.npz if it holds ``keys`` (warning naming the file and key otherwise)."""
        data = None if cell is None else self.load(cell, "figure_slice.npz")
        missing = [k for k in keys if data is not None and k not in data]
        if missing:
            logger.warning("figures: %s lacks %s.", self.out_dir / cell["folder"] / "figure_slice.npz", missing)
            return None
        return data


def _save(fig: Figure, path: Path) -> Path:
    return atomic_write(path, lambda p: fig.savefig(p, dpi=DPI, format="png"))


def _masks_figure(grid: GridFiles) -> Figure:
    """One line per rate, one panel per column of :data:`MASK_COLUMNS` that has a cell at some rate (all columns
    when none has one); a column's panel without a cell at a rate reads 'not run'."""
    columns = {t: rows for t, rows in MASK_COLUMNS.items() if any(grid.cell(r, a) for r in rows for a in grid.rates)}
    columns = columns or MASK_COLUMNS
    if grid.tuned_row:  # the tuned fixed mask of this replicate, right before the learned masks it is the bar for
        at = next((i for i, rows in enumerate(columns.values()) if ROWS[rows[0]].mask_kind is None), len(columns))
        items = list(columns.items())
        columns = dict(items[:at] + [(TUNED_PANEL, ())] + items[at:])
    fig = Figure(figsize=(1.55 * len(columns) + 0.4, 1.75 * len(grid.rates) + 0.4), layout="constrained")
    axes = fig.subplots(len(grid.rates), len(columns), squeeze=False)
    for i, rate in enumerate(grid.rates):
        for j, (title, rows) in enumerate(columns.items()):
            ax = axes[i, j]
            if title == TUNED_PANEL:
                chosen_row = grid.tuned_row.get(rate_tag(rate))
                rows = (chosen_row,) if chosen_row else ()
            cell = next((c for c in (grid.cell(r, rate) for r in rows) if c is not None), None)
            mask = None if cell is None else grid.load(cell, "mask/mask.npy")
            if mask is not None and np.ndim(mask) != 2:
                path = grid.out_dir / cell["folder"] / "mask/mask.npy"
                logger.warning("figures: %s is not a 2-D mask (shape %s); its panel is left blank.", path, mask.shape)
                mask = None
            bare_axes(ax, "not run" if cell is None else (MISSING if mask is None else ""))
            lines = [title] + ([format_rate(mask)] if mask is not None else [])
            chosen, times, runs = grid.tuned.get(rate_tag(rate), (set(), 0, 0))
            if title == TUNED_PANEL:
                lines[0] = f"{title}: {100 * ROWS[cell['row']].centre:g} %" if cell is not None else title
            elif cell is not None and cell["row"] in chosen:
                lines.append(f"(tuned {times}/{runs})" if runs > 1 else "(tuned)")
            ax.set_title("\n".join(lines), fontsize=9)
            if mask is not None:
                ax.imshow(mask.astype(np.float32), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if j == 0:
                ax.set_ylabel(f"α = {100 * rate:g} %", fontsize=10)
    fig.suptitle(f"Sampling patterns (white: sampled, k-space centre in the middle; {grid.replicate})", fontsize=10)
    return fig


def _curves(grid: GridFiles) -> Figure:
    order = [*RECON_ROWS, *(k for k in ROWS if k not in RECON_ROWS)]
    full = grid.cell("fullysampled", None)
    columns = {}
    for rate in grid.rates:
        runs = [(r, grid.cell(r, rate)) for r in order if grid.cell(r, rate) is not None] + [("fullysampled", full)]
        loaded = {r: grid.load(c, "metrics.json") for r, c in runs if c is not None}
        columns[f"α = {100 * rate:g} %"] = {r: rows for r, rows in loaded.items() if isinstance(rows, list)}
    labels = {r: short_name(r) for r in order}
    return curves_figure(columns, labels, title=f"Validation curves ({grid.replicate})")


def write_figures(results: Mapping[str, Any], out_dir: str | Path) -> list[Path]:
    """Write the grid's figures into ``out_dir``: ``fig_masks.png``, one ``fig_recon_<rate tag>.png`` per rate with
    cells and ``fig_curves.png``, all of one replicate (the lowest seed, then fold 0); the masks figure marks the
    centre share the tuned fixed mask chose most often at each rate (over all replicates); ``fig_psnr_dice.png``
    plots every run's test PSNR against its test Dice (all replicates).

    Args:
        results: the grid's results (``out_dir/results.json``): ``"cells"`` (each with ``"row"``, ``"rate"``,
            ``"seed"``, ``"fold"`` and ``"folder"`` relative to ``out_dir``; ``"val"`` for the tuned choice),
            optional ``"settings"`` with ``"rates"`` and ``"class_names"``.
        out_dir: the grid's output folder.

    Returns:
        the written PNG paths (no masks, reconstruction or PSNR-Dice figure when there is no undersampling rate).

    Raises:
        ValueError: ``results`` lacks ``"cells"`` or a cell lacks ``"row"`` or ``"folder"``.
    """
    out_dir = Path(out_dir)
    grid = GridFiles(results, out_dir)
    written = [_save(_masks_figure(grid), out_dir / "fig_masks.png")] if grid.rates else []
    for rate in grid.rates:
        if not any(grid.cell(r, rate) is not None for r in ROWS):
            logger.info(
                "figures: no cell at %s for %s; fig_recon_%s.png skipped.", rate, grid.replicate, rate_tag(rate)
            )
            continue
        written.append(_save(recon_figure(grid, rate), out_dir / f"fig_recon_{rate_tag(rate)}.png"))
    written.append(_save(_curves(grid), out_dir / "fig_curves.png"))
    if grid.rates:
        written.append(_save(scores_figure(results["cells"], sorted(grid.rates)), out_dir / "fig_psnr_dice.png"))
    return written
