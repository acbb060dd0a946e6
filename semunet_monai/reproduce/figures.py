"""Figures of a reproduction grid: the sampling patterns per rate (the paper's Fig. 2), reconstructions, error maps
and segmentations of one test slice per rate (Fig. 3) and the validation curves. Drawn with matplotlib's object API
(``Figure``, no pyplot state) and written atomically as PNG; a missing file blanks its panel with a warning."""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..atomic import atomic_write
from .figures_curves import curves_figure
from .figures_recon import MISSING, RECON_ROWS, bare_axes, recon_figure, short_name
from .grid import ROWS, rate_tag

__all__ = ["MASK_COLUMNS", "DPI", "GridFiles", "effective_rate", "format_rate", "write_figures"]

logger = logging.getLogger(__name__)

DPI = 150
# Fig. 2 columns: title -> rows whose (identical, same kind and seed) fixed mask may stand for it, first present wins
MASK_COLUMNS: dict[str, tuple[str, ...]] = {
    "Random": ("baseline_random", "liu_random", "mdrecon_random"),
    "Radial": ("baseline_radial", "liu_radial", "mdrecon_radial"),
    "Uniform random": ("baseline_uniform",),
    "VD + centre": ("baseline_vdcentre",),
    "LOUPE": ("loupe_seg",),
    "SemuNet": ("semunet",),
}


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


class GridFiles:
    """The grid's cells of one seed, indexed by (row, rate tag), with their files loaded once (warning if missing)."""

    def __init__(self, results: Mapping[str, Any], out_dir: Path) -> None:
        cells = _check(results)
        self.out_dir = out_dir
        self.seed = min((int(c.get("seed", 0)) for c in cells), default=0)
        self.cells = {(c["row"], rate_tag(c.get("rate"))): c for c in cells if int(c.get("seed", 0)) == self.seed}
        rates = (results.get("settings") or {}).get("rates") or {c["rate"] for c in cells if c.get("rate") is not None}
        self.rates = sorted((float(r) for r in rates), reverse=True)
        self.class_names = list(results.get("class_names") or [])
        self._loaded: dict[Path, Any] = {}

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
    fig = Figure(figsize=(1.55 * len(MASK_COLUMNS) + 0.4, 1.75 * len(grid.rates) + 0.4), layout="constrained")
    axes = fig.subplots(len(grid.rates), len(MASK_COLUMNS), squeeze=False)
    for i, rate in enumerate(grid.rates):
        for j, (title, rows) in enumerate(MASK_COLUMNS.items()):
            ax = axes[i, j]
            cell = next((c for c in (grid.cell(r, rate) for r in rows) if c is not None), None)
            mask = None if cell is None else grid.load(cell, "mask/mask.npy")
            if mask is not None and np.ndim(mask) != 2:
                path = grid.out_dir / cell["folder"] / "mask/mask.npy"
                logger.warning("figures: %s is not a 2-D mask (shape %s); its panel is left blank.", path, mask.shape)
                mask = None
            bare_axes(ax, "not run" if cell is None else (MISSING if mask is None else ""))
            ax.set_title(title if mask is None else f"{title}\n{format_rate(mask)}", fontsize=9)
            if mask is not None:
                ax.imshow(mask.astype(np.float32), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if j == 0:
                ax.set_ylabel(f"α = {100 * rate:g} %", fontsize=10)
    fig.suptitle(f"Sampling patterns (white: sampled, k-space centre in the middle; seed {grid.seed})", fontsize=10)
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
    return curves_figure(columns, labels, title=f"Validation curves (seed {grid.seed})")


def write_figures(results: Mapping[str, Any], out_dir: str | Path) -> list[Path]:
    """Write the grid's figures into ``out_dir``: ``fig_masks.png``, one ``fig_recon_<rate tag>.png`` per rate with
    cells and ``fig_curves.png``, all of the lowest seed.

    Args:
        results: the grid's results (``out_dir/results.json``): ``"cells"`` (each with ``"row"``, ``"rate"``,
            ``"seed"`` and ``"folder"`` relative to ``out_dir``), optional ``"settings"`` with ``"rates"`` and
            ``"class_names"``.
        out_dir: the grid's output folder.

    Returns:
        the written PNG paths (no masks or reconstruction figure when there is no undersampling rate).

    Raises:
        ValueError: ``results`` lacks ``"cells"`` or a cell lacks ``"row"`` or ``"folder"``.
    """
    out_dir = Path(out_dir)
    grid = GridFiles(results, out_dir)
    written = [_save(_masks_figure(grid), out_dir / "fig_masks.png")] if grid.rates else []
    for rate in grid.rates:
        if not any(grid.cell(r, rate) is not None for r in ROWS):
            logger.info(
                "figures: no cell at %s for seed %d; fig_recon_%s.png skipped.", rate, grid.seed, rate_tag(rate)
            )
            continue
        written.append(_save(recon_figure(grid, rate), out_dir / f"fig_recon_{rate_tag(rate)}.png"))
    written.append(_save(_curves(grid), out_dir / "fig_curves.png"))
    return written
