"""Subjects derived from the MNI152 template: seeded deformation, contrast, skull, scalp, bias field and noise.

Each subject is the template (:mod:`semunet_monai.data.mni152`) seen through its own smooth non-linear deformation
(a random affine plus a trilinear free-form displacement), resampled onto the MRBrainS13 grid (240x240x48 at
0.958x0.958x3 mm, axial slices along the last axis, each slice the mean of three 1-mm sub-slices as a 3-mm
slice profile would give), with:

- T1: the template's own T1 intensities (real texture) through a per-subject monotone contrast curve, the
  extracerebral CSF layer at the subject's CSF level, and a skull (dark tables, brighter diploe) and scalp (fat,
  skin) drawn at distances outside the intracranial mask that vary smoothly in thickness;
- T1_IR and T2_FLAIR: tissue-probability mixtures with literature-like contrasts (synthetic; the template has
  no such images);
- one bias field for the three images (MONAI's ``RandBiasField``) and Rician noise (``RandRicianNoise``).

Labels are the template labels at the deformed positions (nearest neighbour), MRBrainS13 values 0-8 without
lesions (4). Deterministic per seed; the global numpy and torch RNGs are never touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import RandBiasField, RandRicianNoise

from ..keys import Keys
from .mni152 import template_anatomy
from .phantom import MODALITIES, MRBRAINS13_SHAPE, check_subject_args, phantom_affine

__all__ = ["MNI_VERSION", "BRAIN_CENTRE_MM", "NATIVE_SCALE", "make_mni_subject"]

MNI_VERSION = "1"
"""Bumped whenever the same seed would give a different subject."""
BRAIN_CENTRE_MM = (0.0, -18.0, 4.0)  # MNI point put at the grid centre: the 144 mm slab covers z -78..86 MNI mm
# MNI space is larger than a native head (the template's intracranial volume is 2.1 L at scale 1, against 1.2-1.7 L
# in adults): subjects are drawn at 0.88 of its linear size (about 1.5 L), then varied by +-7 percent
NATIVE_SCALE = 0.88
_SLICE_PROFILE_MM = (-1.0, 0.0, 1.0)  # sub-slices averaged into one slice of the default 3-mm thickness
# Template T1 levels (medians inside the derived labels) -> subject levels drawn per subject, as fractions of WM
_T1_KNOTS = (0.0, 0.32, 0.655, 0.847, 1.0)
# Synthetic contrasts [CSF, GM, WM, bone, marrow, fat, skin] as fractions of the T1 WM level (MRBrainS-like: T1-IR
# has near-black CSF and strong GM/WM contrast, FLAIR dark CSF and GM brighter than WM)
_SYNTH = {"T1_IR": (0.03, 0.45, 1.2, 0.05, 0.6, 1.2, 0.45), "T2_FLAIR": (0.12, 0.72, 0.55, 0.06, 0.45, 0.8, 0.5)}
_WM_LEVEL = 150.0  # T1 white matter, as in the phantom


def _smooth_field(rng: np.random.Generator, shape: Sequence[int], nodes: Sequence[int], sigma: float) -> np.ndarray:
    """A band-limited random field: N(0, sigma) on a coarse ``nodes`` grid, trilinearly upsampled to ``shape``."""
    coarse = torch.from_numpy(rng.normal(0.0, sigma, size=(1, 1, *nodes)).astype(np.float32))
    return F.interpolate(coarse, size=tuple(shape), mode="trilinear", align_corners=True)[0, 0].numpy()


def _rotation(angles_deg: np.ndarray) -> np.ndarray:
    ax, ay, az = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _template_voxels(rng: np.random.Generator, grid: tuple[int, ...], mm: tuple[float, ...]) -> np.ndarray:
    """Template voxel coordinates ``(X, Y, S*Z, 3)`` sampled by each sub-slice point of the subject grid."""
    anat = template_anatomy()
    n_sub = len(_SLICE_PROFILE_MM) if mm[2] > 1.5 else 1
    offsets = np.asarray(_SLICE_PROFILE_MM if n_sub > 1 else (0.0,)) * mm[2] / 3.0
    affine = phantom_affine(grid, mm)
    axes = [np.arange(n, dtype=np.float64) * affine[i, i] + affine[i, 3] for i, n in enumerate(grid)]
    z = (axes[2][:, None] + offsets[None, :]).ravel()  # sub-slices of one slice are neighbours along Z
    pts = np.stack(np.meshgrid(axes[0], axes[1], z, indexing="ij"), axis=-1)  # subject mm, centred on 0
    # head size, then per-axis shape, around the native size
    scale = NATIVE_SCALE * rng.uniform(0.93, 1.07) * rng.uniform(0.97, 1.03, size=3)
    rot = _rotation(np.clip(rng.normal(0.0, 3.0, size=3), -7.0, 7.0))
    shift = np.clip(rng.normal(0.0, 2.5, size=3), -6.0, 6.0)
    disp = np.stack([_smooth_field(rng, pts.shape[:3], (6, 6, 5), 2.5) for _ in range(3)], axis=-1)
    mni = (pts * (1.0 / scale)) @ rot.T + np.asarray(BRAIN_CENTRE_MM) + shift + disp
    inv = np.linalg.inv(anat.affine)
    return (mni @ inv[:3, :3].T + inv[:3, 3]).astype(np.float32)


def _sample(volumes: list[np.ndarray], vox: np.ndarray, mode: str) -> list[np.ndarray]:
    """Sample template-grid volumes at voxel coordinates ``vox`` (outside: 0) with ``torch.grid_sample``.

    SciPy and MONAI resample onto the input's own grid; here the output grid (another size, spacing and a
    deformation) differs from the template's, so the template is read at mapped coordinates.
    """
    shape = volumes[0].shape
    norm = torch.from_numpy(vox * (2.0 / (np.asarray(shape, dtype=np.float32) - 1.0)) - 1.0)
    grid = norm.flip(-1)[None]  # grid_sample wants (W, H, D) order: template (X, Y, Z) is (D, H, W)
    stack = torch.from_numpy(np.stack([v.astype(np.float32, copy=False) for v in volumes]))[None]
    out = F.grid_sample(stack, grid, mode=mode, padding_mode="zeros", align_corners=True)[0]
    return list(out.numpy())


def _profile(a: np.ndarray, n_sub: int) -> np.ndarray:
    """Average the ``n_sub`` sub-slices of each slice."""
    return a.reshape(*a.shape[:2], -1, n_sub).mean(axis=-1)


def _soft(d: np.ndarray, edge: np.ndarray | float) -> np.ndarray:
    """Weight 1 below ``edge`` and 0 above it, over about 1 mm."""
    return 1.0 / (1.0 + np.exp(np.clip((d - edge) * 4.0, -30.0, 30.0)))


def make_mni_subject(
    seed: int,
    shape: Sequence[int] = MRBRAINS13_SHAPE,
    spacing: Sequence[float] | None = None,
    *,
    snr: float | None = 30.0,
    bias: float = 0.1,
) -> dict[str, np.ndarray]:
    """One subject derived from the MNI152 template: MRBrainS13 labels and T1, T1-IR, T2-FLAIR volumes.

    Args:
        seed: non-negative integer; the same seed gives identical arrays.
        shape: grid ``(X, Y, Z)``, axial slices along Z (MRBrainS13: 240 x 240 x 48).
        spacing: voxel size in mm; None keeps the MRBrainS13 field of view (229.9 x 229.9 x 144 mm).
        snr: T1 white-matter level over the Rician noise standard deviation; None for no noise.
        bias: largest coefficient of MONAI's Legendre bias field (degree 3); 0 for none.

    Returns:
        ``{"label": uint8 (X, Y, Z) with values 0-3, 5-8, "T1", "T1_IR", "T2_FLAIR": float32 (X, Y, Z) >= 0,
        "affine": (4, 4) float64}``, labels as :func:`semunet_monai.data.phantom.make_subject` (no lesions).
    """
    grid, mm = check_subject_args(seed, shape, spacing, snr, bias)
    geometry_ss, contrast_ss, noise_ss = np.random.SeedSequence(int(seed)).spawn(3)
    geo, con = np.random.default_rng(geometry_ss), np.random.default_rng(contrast_ss)
    anat = template_anatomy()
    vox = _template_voxels(geo, grid, mm)
    n_sub = vox.shape[2] // grid[2]
    centre = vox[:, :, n_sub // 2 :: n_sub]
    (label,) = _sample([anat.label], centre, "nearest")
    brain_mask = (anat.t1 > 0).astype(np.float32)
    maps = _sample([anat.t1, anat.gm, anat.wm, anat.csf, brain_mask], vox, "bilinear")
    # outside the template's field of view (below the medulla) the distance keeps growing: pad with a large value
    (outside,) = _sample([anat.outside_mm - 100.0], vox, "bilinear")
    t1, gm, wm, csf, brain = (_profile(m, n_sub) for m in maps)
    outside = _profile(outside, n_sub) + 100.0

    # contrast: a monotone curve through the template's CSF, GM and WM levels to this subject's levels
    levels = (0.0, con.uniform(0.22, 0.34), con.uniform(0.6, 0.7), 1.0, con.uniform(1.05, 1.15))
    gain = _WM_LEVEL * con.uniform(0.9, 1.1)
    brain_t1 = np.interp(t1 / np.maximum(brain, 1e-3), _T1_KNOTS, levels) * brain
    # skull and scalp: thicknesses vary smoothly over the head
    skull = 6.5 + _smooth_field(con, outside.shape, (4, 4, 3), 1.2)
    scalp = skull + 5.5 + _smooth_field(con, outside.shape, (4, 4, 3), 1.2)
    w_ic = _soft(outside, 0.0)  # intracranial (brain + extracerebral CSF)
    w_skull = _soft(outside, skull) - w_ic
    w_marrow = w_skull * _soft(np.abs(outside - 0.5 * skull), 0.2 * skull)
    w_bone = w_skull - w_marrow
    w_scalp = _soft(outside, scalp) - _soft(outside, skull)
    w_skin = w_scalp * (1.0 - _soft(outside, scalp - 1.5))
    w_fat = w_scalp - w_skin
    csf_out = np.clip(w_ic - brain, 0.0, 1.0)  # the layer the skull stripping removed
    t1_head = brain_t1 + csf_out * levels[1] + w_bone * 0.05 + w_marrow * 0.55 + w_fat * 1.0 + w_skin * 0.5
    images = {"T1": t1_head}
    tissue = np.clip(gm + wm + csf, 1e-3, None)
    for name, (c_csf, c_gm, c_wm, c_bone, c_marrow, c_fat, c_skin) in _SYNTH.items():
        inner = (csf * c_csf + gm * c_gm + wm * c_wm) / tissue * brain + csf_out * c_csf
        images[name] = inner + w_bone * c_bone + w_marrow * c_marrow + w_fat * c_fat + w_skin * c_skin
    stack = np.stack([images[m] * gain for m in MODALITIES]).astype(np.float32)
    noise_seeds = np.random.default_rng(noise_ss).integers(0, 2**31 - 1, size=2)
    if bias > 0:
        field = RandBiasField(degree=3, coeff_range=(0.0, float(bias)), prob=1.0)
        field.set_random_state(int(noise_seeds[0]))
        stack = np.asarray(field(stack[:1] * 0 + 1.0)) * stack  # one field for the three images
    if snr is not None:
        noise = RandRicianNoise(prob=1.0, std=float(_WM_LEVEL / snr), relative=False, sample_std=False)
        noise.set_random_state(int(noise_seeds[1]))
        stack = np.asarray(noise(stack))
    out = {m: np.maximum(stack[i], 0.0).astype(np.float32) for i, m in enumerate(MODALITIES)}
    return {Keys.LABEL.value: np.rint(label).astype(np.uint8), **out, "affine": phantom_affine(grid, mm)}
