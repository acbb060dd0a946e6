"""Saving and loading a final boolean k-space mask: ``.npy`` + NIfTI + PNG + JSON sidecar, written atomically."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import SimpleITK as sitk
import torch
from torch import Tensor

from ..atomic import atomic_write
from .common import GEOMETRIES, check_rate

__all__ = ["save_mask", "load_mask"]


def _as_bool_mask(mask: Tensor | np.ndarray, name: str, source: str = "") -> np.ndarray:
    """``mask`` as a boolean ``(H, W)`` numpy array; it must be 2-D and boolean or hold only 0 and 1."""
    where = f" in {source}" if source else ""
    arr = mask.detach().cpu().numpy() if isinstance(mask, Tensor) else np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"'{name}'{where} must be a 2-D (H, W) mask, got shape {arr.shape}.")
    if arr.dtype == np.bool_:
        return arr
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"'{name}'{where} must be boolean or hold only 0 and 1, got dtype {arr.dtype}.")
    if not np.isin(arr, (0, 1)).all():
        raise ValueError(f"'{name}'{where} must be boolean or hold only 0 and 1, got other values.")
    return arr.astype(bool)


def _jsonable(value: Any) -> Any:
    """``json.dumps`` fallback for numpy/torch scalars and arrays, tuples and paths."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, Tensor):
        return value.detach().cpu().tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"object of type {type(value).__name__} is not JSON serialisable")


def _save_npy(arr: np.ndarray) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.save would append ".npy" to a path
            np.save(f, arr)

    return write


def save_mask(
    mask: Tensor | np.ndarray,
    out_dir: str | Path,
    *,
    rate: float,
    geometry: str,
    method: str,
    slopes: Mapping[str, float] | None = None,
    prob: Tensor | np.ndarray | None = None,
    seed: int | None = None,
    extra: Mapping[str, Any] | None = None,
    stem: str = "mask",
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write a final boolean mask and its sidecar into ``out_dir`` (created if needed).

    Files: ``<stem>.npy`` (bool ``(H, W)``), ``<stem>.nii.gz`` (uint8 ``(H, W, 1)``, identity affine),
    ``<stem>.png`` (uint8 0/255), ``<stem>_prob.npy`` (float32 ``(H, W)``, only if ``prob`` is given) and
    ``<stem>.json`` (written last) with ``rate``, ``effective_rate``, ``n``, ``shape``, ``geometry``, ``method``,
    ``slopes``, ``seed``, ``created``, ``semunet_monai_version`` and ``extra``. Each file is written to a temporary
    name in ``out_dir`` and moved into place with ``os.replace``.

    Args:
        mask: boolean (or 0/1) mask ``(H, W)``; a ``"lines"`` mask must be constant along ``H``.
        out_dir: output folder.
        rate: requested sampling rate in (0, 1).
        geometry: ``"2d"``, ``"lines"`` or ``"kykz"`` (a 2-D mask of a 3-D acquisition's (ky, kz) plane).
        method: how the mask was made, e.g. ``"fixed:radial"`` or ``"sampnet"``.
        slopes: SampNet slopes, if any.
        prob: optional probability map ``(H, W)``.
        seed: seed used to make the mask, if any.
        extra: further JSON-serialisable metadata, stored under ``"extra"``.
        stem: file name stem (no folder part).
        overwrite: replace existing files instead of refusing.

    Returns:
        paths by key ``"npy"``, ``"nii"``, ``"png"``, ``"json"`` and ``"prob"`` (if written).
    """
    arr = _as_bool_mask(mask, "mask")
    rate = check_rate(rate)
    if geometry not in GEOMETRIES:
        raise ValueError(f"argument 'geometry' must be one of {GEOMETRIES}, got {geometry!r}.")
    if geometry == "lines" and not (arr == arr[:1]).all():
        raise ValueError("argument 'mask' has geometry 'lines' but is not constant along the read-out axis H.")
    if not isinstance(stem, str) or not stem or Path(stem).name != stem or stem in (".", ".."):
        raise ValueError(f"argument 'stem' must be a plain file name without folders, got {stem!r}.")
    prob_arr = None
    if prob is not None:
        prob_arr = (prob.detach().cpu().numpy() if isinstance(prob, Tensor) else np.asarray(prob)).astype(np.float32)
        if prob_arr.shape != arr.shape:
            raise ValueError(f"argument 'prob' must have the mask's shape {arr.shape}, got {prob_arr.shape}.")

    out = Path(out_dir)
    paths = {key: out / f"{stem}{suffix}" for key, suffix in (("npy", ".npy"), ("nii", ".nii.gz"), ("png", ".png"))}
    if prob_arr is not None:
        paths["prob"] = out / f"{stem}_prob.npy"
    paths["json"] = out / f"{stem}.json"
    if not overwrite:
        for path in paths.values():
            if path.exists():
                raise ValueError(f"file {path} already exists; refusing to overwrite it (overwrite=False).")

    h, w = arr.shape
    n = int(arr.sum())
    sidecar = {
        "rate": rate,
        "effective_rate": n / arr.size,
        "n": n,
        "shape": [h, w],
        "geometry": geometry,
        "method": str(method),
        "slopes": dict(slopes) if slopes is not None else None,
        "seed": seed,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "semunet_monai_version": _version(),
        "extra": dict(extra) if extra is not None else {},
    }
    if geometry == "lines":
        sidecar["n_lines"] = int(arr[0].sum())
    try:
        text = json.dumps(sidecar, indent=2, default=_jsonable, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"arguments 'slopes'/'seed'/'extra' must be JSON serialisable and finite: {err}") from None

    out.mkdir(parents=True, exist_ok=True)
    u8 = arr.astype(np.uint8)
    atomic_write(paths["npy"], _save_npy(arr))
    atomic_write(paths["nii"], lambda p: nib.save(nib.Nifti1Image(u8[:, :, None], np.eye(4)), str(p)))
    atomic_write(paths["png"], lambda p: sitk.WriteImage(sitk.GetImageFromArray(u8 * 255), str(p)))
    if prob_arr is not None:
        atomic_write(paths["prob"], _save_npy(prob_arr))
    atomic_write(paths["json"], lambda p: p.write_text(text + "\n", encoding="utf-8"))
    return paths


def _version() -> str:
    from .. import __version__  # local import: the package __init__ may import this module

    return __version__


def _resolve_paths(path: str | Path, stem: str) -> tuple[Path, Path]:
    p = Path(path)
    if p.is_dir():
        return p / f"{stem}.npy", p / f"{stem}.json"
    if p.suffix == ".npy":
        return p, p.with_suffix(".json")
    if p.suffix == ".json":
        return p.with_suffix(".npy"), p
    raise ValueError(f"argument 'path' must be a mask .npy, its .json sidecar or their folder, got {p}.")


def load_mask(path: str | Path, stem: str = "mask") -> tuple[Tensor, dict[str, Any]]:
    """Load a mask written by :func:`save_mask` and check it against its sidecar.

    Args:
        path: the ``.npy``, the ``.json`` sidecar, or the folder holding ``<stem>.npy``.
        stem: file stem used when ``path`` is a folder.

    Returns:
        the boolean mask ``(H, W)`` and the sidecar dict (empty if there is no sidecar).
    """
    npy, js = _resolve_paths(path, stem)
    if not npy.is_file():
        raise ValueError(f"mask file {npy} does not exist (expected a boolean (H, W) .npy written by save_mask).")
    try:
        raw = np.load(npy, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"mask file {npy} is not a readable .npy array: {err}") from None
    arr = _as_bool_mask(raw, "mask", source=str(npy))

    meta: dict[str, Any] = {}
    if js.is_file():
        try:
            meta = json.loads(js.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"sidecar {js} is not valid JSON: {err}") from None
        if not isinstance(meta, dict):
            raise ValueError(f"sidecar {js} must hold a JSON object, got {type(meta).__name__}.")
        if meta.get("shape") != list(arr.shape):
            raise ValueError(f"sidecar {js} has shape {meta.get('shape')!r}, expected {list(arr.shape)} from {npy}.")
        if meta.get("n") != int(arr.sum()):
            raise ValueError(f"sidecar {js} has n={meta.get('n')!r}, expected {int(arr.sum())} samples from {npy}.")
    return torch.from_numpy(arr.copy()), meta
