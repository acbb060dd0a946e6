"""Bundle inference on acquired k-space: fastMRI-style HDF5 (dataset ``kspace``, complex ``(slices, H, W)``
single-coil or ``(slices, coils, H, W)`` multi-coil, optional ``mask``) read with MONAI's FastMRIReader, or complex
``.npy`` of the same shapes.

The k-space must have been sampled with the learned mask: a file whose sampling pattern differs is refused with a
message saying how many of the mask's samples are missing and how many lie outside it. With ``retrospective``, fully
sampled k-space is accepted and the learned mask applied to it (what researchers have); it must then hold every
sample of the mask. Each slice is zero-filled (multi-coil: root-sum-of-squares of the coil images), reconstructed
and segmented; outputs are NIfTI volumes ``(H, W, slices)`` with an identity affine (k-space files carry no patient
geometry).

A model trained with ``sampling.geometry: kykz`` (a (ky, kz) mask of a 3-D Cartesian scan) takes the 3-D k-space
such a scan acquires: ``kspace`` ``(kx, ky, kz)`` single-coil or ``(coils, kx, ky, kz)`` multi-coil, centered (DC at
``n // 2`` on every axis, as ``export-seq`` numbers its phase encodes), the read-out ``kx`` first and fully sampled,
(ky, kz) the mask's plane (``mask`` in the file, when present, is ``(ky, kz)``). The read-out is inverted first
(:func:`~semunet_monai.kspace.ifft1c`); each read-out position's (ky, kz) plane then goes through the networks as a
slice does, and the outputs are volumes ``(x, y, z)`` in the file's axis order.
"""

from __future__ import annotations

import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from monai.apps.reconstruction.fastmri_reader import FastMRIReader

from .atomic import atomic_write
from .precision import autocast, resolve_precision

__all__ = [
    "KSPACE_SUFFIXES",
    "read_kspace",
    "fit_readout",
    "load_kspace",
    "check_sampling",
    "infer_kspace",
    "run_inference",
]

logger = logging.getLogger(__name__)

KSPACE_SUFFIXES = (".h5", ".npy")


def read_kspace(path: str | Path, geometry: str = "2d") -> tuple[np.ndarray, np.ndarray | None]:
    """Complex64 k-space ``(slices, coils, H, W)`` (1 coil for single-coil files) and the file's sampling mask
    (``(W,)``/``(H, W)``) or None. With ``geometry`` ``"kykz"`` the file is 3-D k-space ``(kx, ky, kz)`` or
    ``(coils, kx, ky, kz)``, returned as its hybrid data ``(x, coils, ky, kz)``: one (ky, kz) plane per read-out
    position."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".h5":
            content = FastMRIReader().read(str(path))
            if "kspace" not in content:
                raise ValueError(
                    f"{path}: no 'kspace' dataset (found {sorted(k for k in content if k != 'filename')})."
                )
            kspace, mask = np.asarray(content["kspace"]), content.get("mask")
        else:
            kspace, mask = np.load(path, allow_pickle=False), None
    except (OSError, ValueError) as err:
        if str(path) in str(err):
            raise
        raise ValueError(f"{path}: could not be read as k-space ({type(err).__name__}: {err}).") from err
    if not np.iscomplexobj(kspace):
        raise ValueError(f"{path}: k-space must be complex, got dtype {kspace.dtype}.")
    three_d = geometry == "kykz"
    if kspace.ndim == 2 and not three_d:
        kspace = kspace[None]
    if kspace.ndim == 3:
        kspace = kspace[None] if three_d else kspace[:, None]
    if kspace.ndim != 4 or 0 in kspace.shape:
        layouts = (
            "(kx, ky, kz) single-coil or (coils, kx, ky, kz) multi-coil 3-D k-space (the model learned a (ky, kz) mask)"
            if three_d
            else "(slices, H, W) single-coil or (slices, coils, H, W) multi-coil data"
        )
        raise ValueError(f"{path}: k-space must be {layouts}, got shape {kspace.shape}.")
    if not np.isfinite(kspace).all():
        raise ValueError(f"{path}: k-space holds NaN or Inf values.")
    kspace = kspace.astype(np.complex64)
    if three_d:
        from .kspace import ifft1c

        kspace = ifft1c(torch.from_numpy(kspace), dim=1).permute(1, 0, 2, 3).contiguous().numpy()
    return kspace, (np.asarray(mask) if mask is not None else None)


def fit_readout(
    kspace: np.ndarray,
    file_mask: np.ndarray | None,
    matrix: tuple[int, int],
    path: str | Path,
    retrospective: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Fully sampled k-space oversampled along the read-out (``H`` twice the trained matrix's, fastMRI's 640x320 for
    320x320) is cropped to the matrix in image space (:func:`semunet_monai.kspace.crop_readout`), as training on raw
    data crops it; with ``retrospective`` only, since undersampled k-space on another grid cannot hold the learned
    mask. Other shapes are returned as they are (and refused by :func:`load_kspace` when they do not fit)."""
    h, w = kspace.shape[-2:]
    if not (retrospective and w == matrix[1] and h == 2 * matrix[0]):
        return kspace, file_mask
    from .kspace import crop_readout

    logger.info("%s: read-out oversampled (%dx%d): cropped to %dx%d in image space", path, h, w, *matrix)
    return crop_readout(torch.from_numpy(kspace), matrix[0]).numpy().astype(np.complex64), None


def load_kspace(path: str | Path, learned: np.ndarray, geometry: str = "2d", retrospective: bool = False) -> np.ndarray:
    """The k-space of ``path`` as the networks take it (:func:`read_kspace`; a 2-D model's read-out oversampling
    removed, :func:`fit_readout`), refused in one line when its slices or (ky, kz) planes are not the learned
    mask's (boolean ``(H, W)``) size or were not sampled with it (:func:`check_sampling`)."""
    kspace, file_mask = read_kspace(path, geometry)
    if geometry != "kykz":  # a 3-D scan's read-out is not in its planes: any read-out length works
        kspace, file_mask = fit_readout(kspace, file_mask, learned.shape, path, retrospective)
    if kspace.shape[-2:] != learned.shape:
        size, want = "x".join(map(str, kspace.shape[-2:])), "x".join(map(str, learned.shape))
        hint = (
            "acquire the 3-D scan with the exported sequence (export-seq), k-space (kx, ky, kz) or "
            "(coils, kx, ky, kz) with the read-out first."
            if geometry == "kykz"
            else "k-space cannot be resampled: acquire at the trained matrix size (fully sampled k-space "
            "oversampled 2x along the read-out is cropped to it with --retrospective)."
        )
        what = "its (ky, kz) plane is" if geometry == "kykz" else "k-space slices are"
        raise ValueError(f"{path}: {what} {size}, the model's mask is {want}; {hint}")
    check_sampling(kspace, file_mask, learned, path, retrospective=retrospective)
    return kspace


def check_sampling(
    kspace: np.ndarray,
    file_mask: np.ndarray | None,
    learned: np.ndarray,
    path: str | Path,
    retrospective: bool = False,
) -> None:
    """Refuse k-space not sampled with ``learned`` (boolean ``(H, W)``): its pattern is the file's ``mask`` when
    present (a 1-D line mask is expanded along H), else the locations holding data in any slice or coil. With
    ``retrospective`` the k-space may hold more (it is fully sampled, and the mask is applied to it) but must hold
    every sample of the mask."""
    if kspace.shape[-2:] != learned.shape:
        raise ValueError(
            f"{path}: k-space slices are {kspace.shape[-2]}x{kspace.shape[-1]}, the learned mask is "
            f"{learned.shape[0]}x{learned.shape[1]}; acquire at the trained matrix size."
        )
    if file_mask is not None:
        sampled = np.asarray(file_mask).astype(bool)
        if sampled.ndim == 1 and sampled.shape[0] == learned.shape[1]:
            sampled = np.broadcast_to(sampled[None, :], learned.shape)
        if sampled.shape != learned.shape:
            raise ValueError(f"{path}: its 'mask' has shape {sampled.shape}, expected (W,) or {learned.shape}.")
    else:
        sampled = np.abs(kspace).reshape(-1, *kspace.shape[-2:]).max(axis=0) > 0
    missing = int((learned & ~sampled).sum())
    extra = int((sampled & ~learned).sum())
    if retrospective and missing:
        raise ValueError(
            f"{path}: retrospective undersampling needs k-space holding every sample of the learned mask: {missing} of "
            f"its {int(learned.sum())} samples hold no data."
        )
    if (missing or extra) and not retrospective:
        raise ValueError(
            f"{path}: the k-space was not sampled with the learned mask: {missing} of its {int(learned.sum())} "
            f"samples are missing and {extra} sampled locations lie outside it. Acquire with the bundle's "
            f"models/mask.npy (centered k-space, DC at (H//2, W//2)), or pass retrospective (CLI --retrospective) for "
            "fully sampled k-space."
        )


def _save(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(array, np.eye(4))
    img.set_qform(np.eye(4), code=0)
    atomic_write(path, lambda tmp: nib.save(img, str(tmp)))


@torch.no_grad()
def infer_kspace(
    network: torch.nn.Module,
    items: list[dict],
    output_dir: str | Path,
    batch_size: int = 8,
    label_values: list[int] | None = None,
    retrospective: bool = False,
) -> list:
    """Reconstruct and segment each k-space file; writes the item's ``recon_file`` and ``seg_file`` when given, else
    ``<output_dir>/<stem>_recon.nii.gz`` and ``<stem>_seg.nii.gz``.

    Units: k-space has no reference intensity scale. The zero-filled magnitude of each volume is divided by its
    99.5th percentile before the networks (as training scaled the fully sampled images; the zero-filled image's
    percentile sits a little off the full image's), and the reconstruction is multiplied back by it, so it is in
    the units of the k-space's own inverse FFT (centered, orthonormal). ``label_values`` as in
    :func:`semunet_monai.inference.pipeline.postprocessing`. ``retrospective`` as in :func:`check_sampling`.
    ``network.geometry`` (a :class:`~semunet_monai.bundle.BundleNetwork`'s) ``"kykz"`` reads 3-D k-space files
    (see :func:`read_kspace`).
    """
    model = network.model if hasattr(network, "model") else network
    geometry = getattr(network, "geometry", "2d")
    learned = model.operator.mask.bool().cpu().numpy()
    device = model.operator.mask.device
    out_dir = Path(output_dir)
    written = []
    for item in items:
        path = Path(item["kspace"])
        kspace = load_kspace(path, learned, geometry, retrospective)
        k = model.operator.restrict(torch.from_numpy(kspace).to(device))
        zero_filled = model.acquired_zero_filled(k).abs()
        scale = float(
            torch.quantile(zero_filled.flatten().float().cpu()[:: max(1, zero_filled.numel() // 2**20)], 0.995)
        )
        scale = max(scale, 1e-12)
        k = k / scale
        recon, seg = [], []
        precision = resolve_precision(getattr(network, "precision", "fp32"), device, "precision")
        for start in range(0, k.shape[0], batch_size):
            with autocast(device, precision):
                out = model.forward_kspace(k[start : start + batch_size])
            recon.append(model.magnitude(out.recon).float().cpu())
            seg.append(out.seg.argmax(dim=1, keepdim=True).cpu() if out.seg is not None else None)
        recon_path = Path(item.get("recon_file") or out_dir / f"{item['stem']}_recon.nii.gz")
        write_seg = "seg_file" in item or "recon_file" not in item  # explicit items without seg_file: no SegNet
        seg_path = (
            Path(item["seg_file"]) if "seg_file" in item else out_dir / f"{item.get('stem', path.stem)}_seg.nii.gz"
        )
        # slices (S, H, W) are written as (H, W, S); a 3-D scan's planes (x, ky, kz) are its volume (x, y, z)
        order = (0, 1, 2) if geometry == "kykz" else (1, 2, 0)
        recon_vol = (torch.cat(recon)[:, 0].permute(*order).numpy() * scale).astype(np.float32)
        _save(recon_vol, recon_path)
        written.append(recon_path)
        if seg[0] is not None and write_seg:
            seg_vol = torch.cat(seg)[:, 0].permute(*order).numpy()
            seg_vol = (np.asarray(label_values)[seg_vol] if label_values is not None else seg_vol).astype(np.uint8)
            _save(seg_vol, seg_path)
            written.append(seg_path)
        what = "read-out positions' (ky, kz) planes" if geometry == "kykz" else "slices"
        logger.info("%s: %d %s reconstructed and segmented", path, kspace.shape[0], what)
    return written


def run_inference(
    evaluator,
    network: torch.nn.Module,
    image_items: list[dict],
    kspace_items: list[dict],
    output_dir: str | Path,
    label_values: list[int] | None = None,
    retrospective: bool = False,
) -> list:
    """inference.json's ``run``: MONAI's ``evaluator`` over the image scans, then the k-space files through
    ``network`` (:func:`infer_kspace`); the evaluator and ``network`` share the weights loaded once in
    ``initialize``. An empty list is skipped (Ignite refuses an engine run over no data)."""
    if image_items:
        evaluator.run()
    return infer_kspace(network, kspace_items, output_dir, label_values=label_values, retrospective=retrospective)
