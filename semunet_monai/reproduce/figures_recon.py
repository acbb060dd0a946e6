"""The paper's Fig. 3 for one sampling rate: the test slice's reconstruction, 5 x error map and segmentation overlay
of every method, next to the fully sampled reference, the zero-filled image and the fully sampled SegNet."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..data.labels import IGNORE_INDEX
from ..engines.handlers import overlay
from ..grid_rows import ROWS, TUNED

if TYPE_CHECKING:
    from .figures import GridFiles

__all__ = ["RECON_ROWS", "SHORT_NAMES", "short_name", "bare_axes", "recon_figure"]

# method columns, in the order of ROWS: every row with a reconstruction
RECON_ROWS: tuple[str, ...] = tuple(k for k, r in ROWS.items() if r.recon)
# panel / legend names (Row.short); the tuned fixed mask is a virtual row
SHORT_NAMES: dict[str, str] = {k: r.short for k, r in ROWS.items()} | {TUNED: "Tuned VD + c."}
MISSING = "missing"
_ERROR_GAIN = 5


def short_name(row: str) -> str:
    """Panel / legend name of a row (:data:`SHORT_NAMES`, else the key itself)."""
    return SHORT_NAMES.get(row, row)


def bare_axes(ax: Axes, text: str = "", frame: bool = True) -> None:
    """No ticks; optional frame and centred grey note (``"missing"``, ``"not run"``)."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_frame_on(frame)
    if text:
        ax.set_box_aspect(1)  # the size of a (square) image panel
        ax.text(0.5, 0.5, text, ha="center", va="center", color="0.45", fontsize=8, transform=ax.transAxes)


def _number(value: Any, spec: str) -> str:
    value = float("nan" if value is None else value)
    return "n/a" if math.isnan(value) else ("∞" if math.isinf(value) else format(value, spec))


def _labels_rgb(image: np.ndarray, labels: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """``(H, W, 3)`` overlay of ``labels`` on ``image`` scaled by ``vmin, vmax`` (ignored pixels left grey)."""
    grey = (np.asarray(image, dtype=np.float32) - vmin) / max(vmax - vmin, 1e-8)
    return overlay(grey, np.where(labels == IGNORE_INDEX, 0, labels)).transpose(1, 2, 0)


def _legend(fig: Figure, class_names: Sequence[str]) -> None:
    # colours of labels 1..K as the overlay draws them
    colours = [overlay(np.zeros((1, 1)), np.array([[k]]), alpha=1.0)[:, 0, 0] for k in range(1, len(class_names) + 1)]
    handles = [Patch(color=c, label=n.replace("_", " ")) for c, n in zip(colours, class_names)]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8, frameon=False)


class _Panels:
    """One figure's reference image and shared grey / error scales."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = np.asarray(image, dtype=np.float32)
        self.vmin, self.vmax = float(self.image.min()), float(self.image.max())
        self.error = None

    def grey(self, ax: Axes, image: np.ndarray) -> None:
        ax.imshow(image, cmap="gray", vmin=self.vmin, vmax=self.vmax)

    def error_map(self, ax: Axes, image: np.ndarray) -> None:
        err = _ERROR_GAIN * np.abs(np.asarray(image, dtype=np.float32) - self.image)
        self.error = ax.imshow(err, cmap="inferno", vmin=0, vmax=self.vmax)

    def labels(self, ax: Axes, image: np.ndarray, labels: np.ndarray) -> None:
        ax.imshow(_labels_rgb(image, labels, self.vmin, self.vmax))


def _method_column(axes: Sequence[Axes], panels: _Panels, name: str, data: Mapping[str, Any] | None) -> None:
    top, mid, bottom = axes
    if data is None:
        top.set_title(short_name(name), fontsize=8)
        bare_axes(top, MISSING)
        return
    scores = f"{_number(data.get('psnr'), '.2f')} dB / {_number(data.get('ssim'), '.3f')}"
    top.set_title(f"{short_name(name)}\n{scores}", fontsize=8)
    panels.grey(top, data["recon"])
    panels.error_map(mid, data["recon"])
    if "pred" in data:
        panels.labels(bottom, data["recon"], data["pred"])
        bottom.set_title(f"Dice {_number(data.get('dice'), '.3f')}", fontsize=8)
    else:
        bare_axes(bottom, "no SegNet", frame=False)


def recon_figure(grid: GridFiles, rate: float) -> Figure:
    """Three rows (reconstruction, error, segmentation) by the columns reference, zero-filled (of the SemuNet cell,
    else the first method present), each method of :data:`RECON_ROWS` present at ``rate`` and the fully sampled
    SegNet (if run)."""
    rows = [r for r in RECON_ROWS if grid.cell(r, rate) is not None]
    full = grid.cell("fullysampled", None)
    zf_cell = grid.cell("semunet", rate) or next((grid.cell(r, rate) for r in rows), None)
    # every cell holds the same test slice: the reference comes from the first readable one
    candidates = [grid.cell(r, rate) for r in rows] + [full] + list(grid.cells.values())
    ref = next((d for d in (grid.slice_arrays(c, "image") for c in candidates if c) if d is not None), None)
    columns = ["reference", "zero_filled", *rows] + (["fullysampled"] if full is not None else [])
    fig = Figure(figsize=(1.45 * len(columns) + 0.9, 5.3), layout="constrained")
    fig.suptitle(
        f"Test slice at α = {100 * rate:g} % ({grid.replicate}): PSNR / SSIM and Dice of the slice", fontsize=10
    )
    axes = fig.subplots(3, len(columns), squeeze=False)
    for ax in axes.flat:
        bare_axes(ax, frame=False)
    for i, name in enumerate(("reconstruction", f"{_ERROR_GAIN} × |error|", "segmentation")):
        axes[i, 0].set_ylabel(name, fontsize=9)
    axes[0, 0].set_title("Reference\n(fully sampled)", fontsize=8)
    if ref is None:
        bare_axes(axes[0, 0], MISSING)
        return fig
    panels = _Panels(ref["image"])
    panels.grey(axes[0, 0], panels.image)
    if "label" in ref:
        panels.labels(axes[2, 0], panels.image, ref["label"])
        axes[2, 0].set_title("ground truth", fontsize=8)

    data = grid.slice_arrays(zf_cell, "zero_filled")
    axes[0, 1].set_title(f"Zero-filled\n({short_name(zf_cell['row']) + ' mask' if zf_cell else 'no cell'})", fontsize=8)
    if data is None:
        bare_axes(axes[0, 1], MISSING)
    else:
        panels.grey(axes[0, 1], data["zero_filled"])
        panels.error_map(axes[1, 1], data["zero_filled"])

    for j, name in enumerate(rows, start=2):
        _method_column(axes[:, j], panels, name, grid.slice_arrays(grid.cell(name, rate), "recon"))

    if full is not None:
        data = grid.slice_arrays(full, "pred")
        dice = "" if data is None else f"\nDice {_number(data.get('dice'), '.3f')}"
        axes[2, -1].set_title(f"{short_name('fullysampled')} SegNet{dice}", fontsize=8)
        bare_axes(axes[2, -1], MISSING if data is None else "")
        if data is not None:
            panels.labels(axes[2, -1], panels.image, data["pred"])

    if panels.error is not None and full is not None:  # the fully sampled column's empty error slot holds the bar
        fig.colorbar(panels.error, cax=axes[1, -1].inset_axes((0.0, 0.0, 0.12, 1.0)))
    elif panels.error is not None:
        fig.colorbar(panels.error, ax=axes[1, :].tolist(), shrink=0.9, pad=0.01, aspect=12)
    if grid.class_names:
        _legend(fig, grid.class_names)
    return fig
