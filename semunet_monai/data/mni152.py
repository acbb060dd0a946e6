"""The MNI ICBM152 2009a template shipped with the package, and MRBrainS labels derived from it by anatomical rules.

The three template files (T1, grey- and white-matter probability maps, 197x233x189 at 1 mm, skull-stripped, the
versions nilearn 0.14 ships as ``mni_icbm152_*_tal_nlin_sym_09a_converted.nii.gz``) live in ``templates/`` beside
this module with their licence notice (``templates/LICENSE_MNI_ICBM152.txt``). :func:`template_anatomy` turns
them, once per process, into:

- a CSF probability ``1 - GM - WM`` inside the skull-stripped mask, and a 2 mm extracerebral CSF layer around it
  (skull stripping removes most of the CSF between brain and skull);
- the MRBrainS13 labels by documented rules in MNI millimetres (see :func:`derive_labels`): approximate, which
  the data card (docs/data_card.md) says;
- the distance (mm) outside the intracranial mask, from which the generator draws a skull and a scalp.

Voxel order is ``(x, y, z)`` RAS, as in the files; MNI coordinates come from the files' affine.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

__all__ = ["TEMPLATE_DIR", "TEMPLATE_FILES", "TemplateAnatomy", "derive_labels", "load_template", "template_anatomy"]

logger = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).with_name("templates")
TEMPLATE_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}
# sha256 of the files as nilearn 0.14.1 ships them: a changed file would silently change every subject
TEMPLATE_SHA256 = {
    "t1": "421a10e872fd6cadae7f61d358dffbcc1795a497d61ee76c5dda2503e1a1e9e6",
    "gm": "97a5ca69bd24db37a9cb7b32525e1733a209af904129bf1cd36da06d24243bed",
    "wm": "382d92812de4744f9c86c7a0e4f680dc317a0a50e4da1f0153618a6798c7b7db",
}
EXTRACEREBRAL_MM = 2.0  # CSF layer added outside the skull-stripped mask


class TemplateAnatomy:
    """The template on its own grid: ``t1``, ``gm``, ``wm``, ``csf`` in [0, 1] (float32), ``label`` (uint8,
    MRBrainS values 0-8), ``outside_mm`` (distance outside the intracranial mask, 0 inside) and ``affine``."""

    def __init__(self, **arrays: np.ndarray) -> None:
        self.t1, self.gm, self.wm, self.csf = arrays["t1"], arrays["gm"], arrays["wm"], arrays["csf"]
        self.label, self.outside_mm, self.affine = arrays["label"], arrays["outside_mm"], arrays["affine"]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.label.shape)


def load_template(name: str, check: bool = True) -> nib.Nifti1Image:
    """One template file (``"t1"``, ``"gm"`` or ``"wm"``), checked against its sha256 unless ``check`` is False."""
    if name not in TEMPLATE_FILES:
        raise ValueError(f"argument 'name' must be one of {tuple(TEMPLATE_FILES)}, got {name!r}.")
    path = TEMPLATE_DIR / TEMPLATE_FILES[name]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the MNI152 template file is missing; reinstall semunet-monai.")
    if check and hashlib.sha256(path.read_bytes()).hexdigest() != TEMPLATE_SHA256[name]:
        raise ValueError(f"{path}: the MNI152 template file is not the one shipped with semunet-monai (sha256).")
    return nib.load(str(path))


def _mni_coords(shape: tuple[int, ...], affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MNI x, y, z in mm of every voxel (broadcastable open grids)."""
    idx = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij", sparse=True)
    a = affine.astype(np.float32)
    return tuple(a[r, 0] * idx[0] + a[r, 1] * idx[1] + a[r, 2] * idx[2] + a[r, 3] for r in range(3))


def _box(affine: np.ndarray, shape: tuple[int, ...], y_max: float, z_max: float) -> tuple[slice, ...]:
    """Index slices of the template region at MNI y <= ``y_max`` and z <= ``z_max`` (a diagonal affine)."""
    inv = np.linalg.inv(affine)
    j = int(np.floor(inv[1, 1] * y_max + inv[1, 3])) + 1
    k = int(np.floor(inv[2, 2] * z_max + inv[2, 3])) + 1
    return slice(0, shape[0]), slice(0, min(max(j, 1), shape[1])), slice(0, min(max(k, 1), shape[2]))


def _outside_distance(brain: np.ndarray, margin: int = 24) -> np.ndarray:
    """Distance (voxels) outside ``brain``; computed in the brain's bounding box plus ``margin`` voxels (the head
    around the brain is thinner than that), a large value beyond."""
    idx = np.argwhere(brain)
    lo, hi = np.maximum(idx.min(0) - margin, 0), np.minimum(idx.max(0) + margin + 1, brain.shape)
    crop = tuple(slice(a, b) for a, b in zip(lo, hi))
    out = np.full(brain.shape, 1000.0, np.float32)
    out[crop] = ndimage.distance_transform_edt(~brain[crop])
    return out


def _largest(mask: np.ndarray, n: int = 1) -> np.ndarray:
    """The ``n`` largest 26-connected components of ``mask``."""
    lab, count = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    if count == 0:
        return mask
    sizes = np.bincount(lab.ravel())[1:]
    keep = np.argsort(sizes)[::-1][:n] + 1
    return np.isin(lab, keep)


def derive_labels(
    gm: np.ndarray, wm: np.ndarray, csf: np.ndarray, intracranial: np.ndarray, affine: np.ndarray
) -> np.ndarray:
    """MRBrainS13 labels from tissue probabilities by anatomical rules in MNI mm (approximate by design).

    1. Tissue: the most probable of CSF, GM, WM inside ``intracranial``.
    2. Brainstem (8): GM/WM below z = -6 inside an elliptic cylinder around the midline whose centre moves
       posteriorly with depth (midbrain y = -24 at z = -10, medulla y = -38 at z = -55), 15 mm half-width above
       z = -45 and 9 mm below.
    3. Cerebellum (7): cores of confident parenchyma (GM+WM > 0.9, brainstem cut away, eroded by 2 voxels)
       fall apart into cerebrum and cerebellum; the 26-connected cores centred at y < -40 and z < -15 are the
       cerebellum's, and every GM/WM voxel takes the side of its nearest core voxel.
    4. Basal ganglia (2): GM inside one ellipsoid per hemisphere, centre (+-17, -5, 5), semi-axes (16, 31, 17)
       mm, except in front of y = 8 below z = -4 (orbito-frontal cortex) and within 9 mm of the midline above
       z = 12 (cingulate cortex).
    5. Ventricles (6): CSF in the box |x| <= 30, -46 <= y <= 34, -6 <= z <= 32, minus the interhemispheric
       fissure (|x| < 4 above z = 12) and the quadrigeminal cistern (|x| < 8, y < -28); the two largest
       connected components (the lateral ventricles and the third ventricle, often joined).
    6. Everything else: cortical GM (1), WM (3) and extracerebral CSF (5). No lesions (4).

    Returns:
        uint8 array of the input's shape with values 0, 1, 2, 3, 5, 6, 7, 8.
    """
    x, y, z = _mni_coords(gm.shape, affine)
    tissue = np.argmax(np.stack([csf, gm, wm]), axis=0)  # 0 CSF, 1 GM, 2 WM
    tissue[~intracranial] = 3
    is_gm, is_wm, is_csf = tissue == 1, tissue == 2, tissue == 0
    label = np.zeros(gm.shape, np.uint8)
    label[is_gm], label[is_wm], label[is_csf] = 1, 3, 5
    parenchyma = is_gm | is_wm

    yc = np.where(z > -10, -24.0, -24.0 + (z + 10) * (14.0 / 45.0))
    half_x = np.where(z > -45, 15.0, 9.0)
    stem = parenchyma & (z < -6) & ((x / half_x) ** 2 + ((y - yc) / 13.0) ** 2 <= 1.0)
    label[stem] = 8

    # Cores: confident parenchyma (GM+WM > 0.9) eroded twice; the cerebellum's core separates there from the cerebrum's
    # (at > 0.5 the cerebellar peduncles and the partial volume across the tentorium join them).
    core = ndimage.binary_erosion(((gm + wm) > 0.9) & intracranial & ~stem, iterations=2)
    lab, count = ndimage.label(core, structure=np.ones((3, 3, 3), bool))
    ids = lab[core]
    n = np.bincount(ids, minlength=count + 1)
    mean_y = np.bincount(ids, np.broadcast_to(y, core.shape)[core], minlength=count + 1) / np.maximum(n, 1)
    mean_z = np.bincount(ids, np.broadcast_to(z, core.shape)[core], minlength=count + 1) / np.maximum(n, 1)
    is_cbl = (mean_y < -40) & (mean_z < -15) & (n > 1000)
    # every parenchyma voxel takes the side of its nearest core voxel; only the box y <= -10, z <= 5 mm can be
    # cerebellar, so the distance transform runs there (a third of the grid)
    box = _box(affine, gm.shape, y_max=-10.0, z_max=5.0)
    nearest = ndimage.distance_transform_edt(~core[box], return_distances=False, return_indices=True)
    side = np.zeros_like(core)
    side[box] = is_cbl[lab[box][tuple(nearest)]]
    label[parenchyma & ~stem & side] = 7

    # one ellipsoid per hemisphere around caudate, putamen, pallidum and thalamus
    deep_box = ((np.abs(x) - 17.0) / 16.0) ** 2 + ((y + 5.0) / 31.0) ** 2 + ((z - 5.0) / 17.0) ** 2 <= 1.0
    deep_box &= ~((y > 8) & (z < -4)) & ~((np.abs(x) < 9) & (z > 12))
    label[deep_box & is_gm & (label == 1)] = 2

    vbox = (np.abs(x) <= 30) & (y >= -46) & (y <= 34) & (z >= -6) & (z <= 32)
    vbox &= ~((np.abs(x) < 4) & (z > 12)) & ~((np.abs(x) < 8) & (y < -28))
    vent = _largest(vbox & is_csf & (label == 5), 2)
    label[vent] = 6
    return label


@functools.lru_cache(maxsize=1)
def template_anatomy() -> TemplateAnatomy:
    """Load the template and derive its tissue maps and labels (about 10 s; cached for the process)."""
    images = {name: load_template(name) for name in TEMPLATE_FILES}
    affine = images["t1"].affine
    t1, gm, wm = (np.asarray(images[n].dataobj, dtype=np.float32) / 255.0 for n in ("t1", "gm", "wm"))
    brain = ndimage.binary_fill_holes(t1 > 0)
    outside = _outside_distance(brain)
    intracranial = outside <= EXTRACEREBRAL_MM
    csf = np.where(brain, np.clip(1.0 - gm - wm, 0.0, 1.0), intracranial.astype(np.float32)).astype(np.float32)
    label = derive_labels(gm, wm, csf, intracranial, affine)
    outside_mm = np.maximum(outside - EXTRACEREBRAL_MM, 0.0).astype(np.float32)
    logger.debug("MNI152 template anatomy derived: %s voxels", label.shape)
    return TemplateAnatomy(t1=t1, gm=gm, wm=wm, csf=csf, label=label, outside_mm=outside_mm, affine=affine)
