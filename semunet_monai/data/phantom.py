"""Procedural brain phantom: MRBrainS13-style labels with T1, T1-IR and T2-FLAIR contrasts, deterministic per seed.

The anatomy is built from approximate signed distance fields (in mm, negative inside) in a head frame that is
rotated and shifted per subject: a scalp and skull ring (label 0 but visible), extracerebral CSF, a cerebrum
whose surface is folded into gyri and sulci by the zero set of a random band-limited field on the sphere, an
interhemispheric fissure, deep grey nuclei, butterfly-shaped lateral ventricles, the cerebellum and brainstem in
the lower slices, and optional periventricular white-matter lesions. Voxel order is ``(x, y, z)``: x to the
subject's right, y anterior, z superior (RAS), axial slices along the last axis, like the MRBrainS13 volumes.
Everything is generated here: nothing is downloaded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from ..keys import Keys

__all__ = [
    "MRBRAINS13_SHAPE",
    "MRBRAINS13_SPACING",
    "MODALITIES",
    "PHANTOM_VERSION",
    "phantom_affine",
    "make_subject",
]

logger = logging.getLogger(__name__)

PHANTOM_VERSION = "1"
"""Bumped whenever the same seed would give a different phantom."""
MRBRAINS13_SHAPE = (240, 240, 48)
MRBRAINS13_SPACING = (0.958, 0.958, 3.0)
MODALITIES = ("T1", "T1_IR", "T2_FLAIR")

# Intensity classes: finer than the labels (scalp and skull are label 0 but must show in the images).
AIR, SKIN, FAT, BONE, MARROW, CSF, GM, DEEP_GM, WM, LESION, VENTRICLE, CBL_GM, CBL_WM, STEM, EYE, MUSCLE = range(16)
_CLASS_TO_LABEL = np.array([0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 6, 7, 7, 8, 0, 0], dtype=np.uint8)
# Mean intensity per class (rows follow the class indices above): T1 as in BrainWeb (CSF 48, GM 106, WM 154),
# T1-IR with CSF near zero and a stronger GM/WM contrast, T2-FLAIR with dark CSF, bright lesions and GM > WM.
_CONTRAST = {
    "T1": [0, 105, 215, 18, 135, 48, 106, 120, 154, 90, 46, 110, 148, 138, 40, 78],
    "T1_IR": [0, 70, 195, 8, 105, 5, 72, 100, 185, 62, 4, 80, 172, 150, 6, 52],
    "T2_FLAIR": [0, 80, 125, 10, 70, 18, 108, 97, 84, 175, 12, 103, 86, 92, 22, 58],
}
_TEXTURE = 0.035  # relative std of the smooth intra-tissue texture
_PV_SIGMA_MM = 0.55  # in-plane partial-volume blur


def phantom_affine(shape: Sequence[int], spacing: Sequence[float]) -> np.ndarray:
    """The ``(4, 4)`` voxel-to-world affine: diagonal ``spacing`` with the grid centre at the origin (RAS, mm)."""
    affine = np.diag([*map(float, spacing), 1.0])
    affine[:3, 3] = -(np.asarray(shape, dtype=float) - 1.0) / 2.0 * np.asarray(spacing, dtype=float)
    return affine


def _check_grid(shape: Sequence[int], spacing: Sequence[float] | None) -> tuple[tuple[int, ...], tuple[float, ...]]:
    try:
        grid = tuple(int(n) for n in shape)
    except (TypeError, ValueError):
        raise ValueError(f"argument 'shape' must be three positive integers (X, Y, Z), got {shape!r}.") from None
    if len(grid) != 3 or min(grid) < 1 or any(int(n) != n for n in shape):
        raise ValueError(f"argument 'shape' must be three positive integers (X, Y, Z), got {shape!r}.")
    if spacing is None:  # keep the MRBrainS13 field of view (229.9 x 229.9 x 144 mm) whatever the grid
        pairs = zip(grid, MRBRAINS13_SHAPE, MRBRAINS13_SPACING)
        return grid, tuple(d if n == n0 else n0 * d / n for n, n0, d in pairs)
    try:
        mm = tuple(float(s) for s in spacing)
    except (TypeError, ValueError):
        raise ValueError(f"argument 'spacing' must be three positive numbers in mm, got {spacing!r}.") from None
    if len(mm) != 3 or not all(np.isfinite(s) and s > 0 for s in mm):
        raise ValueError(f"argument 'spacing' must be three positive numbers in mm, got {spacing!r}.")
    return grid, mm


def check_subject_args(
    seed: int, shape: Sequence[int], spacing: Sequence[float] | None, snr: float | None, bias: float
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Check a subject generator's arguments (seed, grid, noise, bias); returns the grid and spacing in mm."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"argument 'seed' must be a non-negative integer, got {seed!r}.")
    grid, mm = _check_grid(shape, spacing)
    if snr is not None and not (isinstance(snr, (int, float, np.number)) and np.isfinite(snr) and snr > 0):
        raise ValueError(f"argument 'snr' must be a positive number or None, got {snr!r}.")
    if not (isinstance(bias, (int, float, np.number)) and np.isfinite(bias) and 0.0 <= bias < 1.0):
        raise ValueError(f"argument 'bias' must be a number in [0, 1), got {bias!r}.")
    return grid, mm


def _ellipsoid_sdf(coords: Sequence[np.ndarray], centre: Sequence[float], axes: Sequence) -> np.ndarray:
    """Approximate signed distance in mm (negative inside) to an axis-aligned ellipsoid, ``(r - 1) / |grad r|``.

    Works in any dimension; ``axes`` entries may be arrays broadcastable against ``coords``.
    """
    r2 = g2 = 0.0
    for c, c0, a in zip(coords, centre, axes):
        u = (c - c0) / a
        r2 = r2 + u * u
        g2 = g2 + (u / a) ** 2
    r, g = np.sqrt(r2), np.sqrt(g2)
    at_centre = min(float(np.min(a)) for a in axes)  # r / g at the exact centre (0 / 0) lies in [min, max] axis
    scale = np.divide(r, g, out=np.full(np.shape(r), at_centre, dtype=np.float32), where=g > 1e-9)
    return (r - 1.0) * scale


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(np.ceil(3.0 * sigma)))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def _blur_inplane(vol: np.ndarray, sigma_vox: Sequence[float]) -> np.ndarray:
    """Separable Gaussian blur along axes 0 and 1 (in-plane), edge-padded; numpy only (scipy is not a dependency)."""
    out = vol
    for axis, sigma in enumerate(sigma_vox[:2]):
        if sigma < 0.2:
            continue
        k = _gaussian_kernel(float(sigma))
        r = len(k) // 2
        pad = [(0, 0)] * vol.ndim
        pad[axis] = (r, r)
        padded = np.pad(out, pad, mode="edge")
        n = out.shape[axis]
        acc = np.zeros_like(out)
        for i, w in enumerate(k):
            acc += w * np.take(padded, np.arange(i, i + n), axis=axis)
        out = acc
    return out


def _smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Smooth union of two signed distance fields (blend width ``k`` mm)."""
    h = np.maximum(k - np.abs(a - b), 0.0) / k
    return np.minimum(a, b) - h * h * (k / 4.0)


class _Waves:
    """Random band-limited field: a sum of plane waves with random directions and phases (std about 1)."""

    def __init__(self, rng: np.random.Generator, n: int, freq: float, spread: float) -> None:
        v = rng.standard_normal((n, 3))
        w = v / np.linalg.norm(v, axis=1, keepdims=True) * freq * rng.uniform(1 - spread, 1 + spread, (n, 1))
        self.w = w.astype(np.float32)
        self.phase = rng.uniform(0.0, 2.0 * np.pi, n).astype(np.float32)
        amp = rng.uniform(0.6, 1.0, n)
        self.amp = (amp * np.sqrt(2.0 / np.sum(amp**2))).astype(np.float32)

    def __call__(self, pts: np.ndarray, grad: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Value at points ``(N, 3)`` and, if asked, its gradient ``(N, 3)``."""
        arg = pts @ self.w.T + self.phase
        value = np.sin(arg) @ self.amp
        return value, ((np.cos(arg) * self.amp) @ self.w if grad else None)


def _rotation(rng: np.random.Generator, max_deg: Sequence[float]) -> np.ndarray:
    """A small rotation: roll about y, pitch about x, yaw about z, each uniform in +-max_deg."""
    a, b, c = np.deg2rad(rng.uniform(-1.0, 1.0, 3) * np.asarray(max_deg))
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ rx @ ry


def _draw(rng: np.random.Generator) -> dict:
    """Per-subject anatomy parameters (mm), drawn before any grid exists: the anatomy does not depend on it."""

    def u(lo: float, hi: float) -> float:
        return float(rng.uniform(lo, hi))  # Python floats keep the float32 arrays float32

    s = u(0.92, 1.05)  # head size
    p = {"s": s, "ax": 66 * s * u(0.96, 1.04), "ay": 82 * s * u(0.96, 1.04)}
    p |= {"az_top": 58 * s * u(0.95, 1.05), "az_bot": 50 * s * u(0.95, 1.05), "egg": u(0.03, 0.09)}
    p |= {"rot": _rotation(rng, (3.0, 5.0, 6.0)), "shift": [u(-3, 3), u(-3, 3), u(-2, 4)]}
    atrophy = u(0.0, 1.0)
    p |= {"gap": 1.5 + 2.0 * atrophy + u(0, 0.5), "skull": u(5.0, 7.5), "scalp": u(4.0, 7.0)}
    p |= {"gm": u(2.8, 3.4), "sulc_w": 0.9 + 1.4 * atrophy + u(0, 0.4), "sulc_depth": u(20.0, 26.0)}
    # sulci: zero set of a field on the sphere of directions (radial sheets) bent by a 3-D field (curved sheets)
    p |= {"folds": _Waves(rng, 24, 2 * np.pi * 70.0 / u(13.0, 16.0), 0.2), "bend": _Waves(rng, 12, 0.22, 0.3)}
    p |= {"depth_field": _Waves(rng, 12, 2 * np.pi * 70.0 / 40.0, 0.3)}
    p |= {"fiss_w": 1.0 + 1.5 * atrophy, "fiss_wave": u(0, 2 * np.pi), "vs": 0.95 + 0.85 * atrophy + u(-0.1, 0.2)}
    p |= {"deep": [s * u(0.93, 1.07) for _ in range(4)], "folia": u(0, 2 * np.pi), "sylvian": u(-4.0, 4.0)}
    return p


def _anatomy(rng: np.random.Generator, shape: tuple[int, ...], spacing: tuple[float, ...]) -> dict:
    """Intensity-class volume ``(X, Y, Z)`` uint8 plus the fields needed to place lesions and draw folia."""
    p = _draw(rng)
    s, vs = p["s"], p["vs"]
    gap, skull, gm = p["gap"], p["skull"], p["gm"]
    # head-frame coordinates (mm): local = R^T (world - shift)
    world = [(np.arange(n, dtype=np.float32) - (n - 1) / 2.0) * d - t for n, d, t in zip(shape, spacing, p["shift"])]
    wx, wy, wz = world[0][:, None, None], world[1][None, :, None], world[2][None, None, :]
    r = p["rot"].astype(np.float32)
    x, y, z = (r[0, i] * wx + r[1, i] * wy + r[2, i] * wz for i in range(3))

    # hulls: cerebrum (egg-shaped ellipsoid), cerebellum (two hemispheres and vermis), brainstem (a column)
    width = 1.0 - p["egg"] * y / p["ay"]
    az = np.where(z > 0, np.float32(p["az_top"]), np.float32(p["az_bot"]))
    d_cer = _ellipsoid_sdf((x / width, y, z), (0, 0, 0), (p["ax"], p["ay"], az))
    # anterior cranial fossa: the frontal lobes rest on the orbital roofs, which rise laterally and anteriorly
    roof = -27.0 * s + 0.25 * (y - 30.0 * s) + 0.006 * x * x
    floor = -60.0 * s + (roof + 60.0 * s) / (1.0 + np.exp(np.clip((26.0 * s - y) / (8.0 * s), -30, 30)))
    d_cer = np.maximum(d_cer, floor - z)
    c = p["deep"][3]
    hemis = [_ellipsoid_sdf((x, y, z), (sx * 20 * c, -50 * c, -44 * c), (31 * c, 31 * c, 22 * c)) for sx in (-1, 1)]
    d_cbl = _smin(
        _smin(hemis[0], hemis[1], 8.0), _ellipsoid_sdf((x, y, z), (0, -48 * c, -38 * c), (12 * c, 28 * c, 20 * c)), 4.0
    )
    bump = np.exp(-(((z + 44.0 * s) / (13.0 * s)) ** 2))
    bs_top = -14.0 * s
    d_bs = _ellipsoid_sdf((x, y), (0, -19 * s + 5 * s * bump), ((9 + 5 * bump) * s, (8 + 6 * bump) * s))
    d_bs = np.maximum(d_bs, z - bs_top)
    d_head = _smin(_smin(d_cer, d_cbl, 10.0), d_bs, 10.0)  # everything inside the skull
    fossa = np.minimum(d_cbl, np.where(z < bs_top - 2.0, d_bs, np.float32(np.inf)))
    below_tent = fossa - (0.5 * gap + 1.0)  # tentorium and CSF between cerebrum and posterior fossa
    depth = np.minimum(-d_cer, below_tent)  # depth below the unfolded pial surface of the cerebrum

    # scalp (skin, fat), skull (tables, marrow); below the skull base soft tissue, orbits and a sinus
    cls = np.zeros(shape, dtype=np.uint8)
    d_low = np.maximum(_ellipsoid_sdf((x, y), (0, 2 * s), (70 * s, 86 * s)), z + 30 * s)
    d_out = _smin(d_head - (gap + skull + p["scalp"]), d_low, 8.0)
    cls[d_out < 0] = SKIN
    cls[d_out < -1.5] = FAT
    cls[d_out < -p["scalp"]] = MUSCLE
    cls[d_head < gap + skull] = BONE
    cls[(d_head < gap + skull - 1.6) & (d_head >= gap + 1.6)] = MARROW
    cls[d_head < gap] = CSF
    extra = d_head >= gap + skull
    eye = np.minimum(*[_ellipsoid_sdf((x, y, z), (sx * 28 * s, 66 * s, -40 * s), (11 * s,) * 3) for sx in (-1, 1)])
    cls[(eye < 4.0) & (d_out < -1.5) & extra] = FAT  # orbital fat
    cls[(eye < 0) & extra] = EYE
    cls[(_ellipsoid_sdf((x, y, z), (0, 52 * s, -58 * s), (13 * s, 15 * s, 11 * s)) < 0) & extra] = AIR  # sinus

    # cerebrum: cortex folded into gyri and sulci, interhemispheric and Sylvian fissures, white matter
    brain = depth > 0
    cls[brain] = WM
    dist = depth.copy()  # distance to the nearest CSF
    xm = np.abs(x - 1.2 * np.sin(2 * np.pi * y / (90.0 * s) + p["fiss_wave"]))
    near = np.nonzero(brain & (xm < p["fiss_w"] / 2 + gm + 1.0))
    d_core = _ellipsoid_sdf((y[near], z[near]), (-5 * s, -14 * s), (46 * s, 24 * s + 6.5 * vs + 7))
    d_fiss = np.sqrt(np.maximum(xm[near] - p["fiss_w"] / 2, 0) ** 2 + np.maximum(-d_core, 0) ** 2)
    dist[near] = np.minimum(dist[near], d_fiss)
    # Sylvian fissure: an oblique sheet from the lateral surface to the insula, rising posteriorly, and the
    # insular cistern, a sagittal sheet at the insula
    near = np.nonzero(brain & (np.abs(x) > 30 * s) & (np.abs(y - 2 * s) < 30 * s) & (np.abs(z + 6 * s) < 28 * s))
    xs, ys = np.abs(x[near]), y[near]
    zs = z[near] - (-6 * s - 0.5 * (ys - 2 * s) + p["sylvian"])
    y_out = np.maximum(np.abs(ys - 2 * s) - 24 * s, 0)
    lateral = np.sqrt(np.maximum(np.abs(zs) - 0.9, 0) ** 2 + np.maximum(37 * s - xs, 0) ** 2 + y_out**2)
    insula = np.sqrt(np.maximum(np.abs(xs - 37 * s) - 1.0, 0) ** 2 + np.maximum(np.abs(zs - 2) - 12 * s, 0) ** 2)
    dist[near] = np.minimum(dist[near], np.minimum(lateral, np.sqrt(insula**2 + y_out**2)))
    shell = np.nonzero(brain & (depth < p["sulc_depth"] + gm + 2.0))
    n = np.stack([x[shell] / width[shell] / p["ax"], y[shell] / p["ay"], z[shell] / az[shell]], axis=1)
    rn = np.maximum(np.linalg.norm(n, axis=1), 1e-6)
    v = n / rn[:, None]
    radius = np.sqrt(x[shell] ** 2 + y[shell] ** 2 + z[shell] ** 2) / rn  # mm from the centre to the hull
    pts = np.stack([x[shell], y[shell], z[shell]], axis=1)
    g, grad = p["folds"](v, grad=True)
    grad = (grad - np.sum(grad * v, axis=1, keepdims=True) * v) / radius[:, None]  # per mm, along the surface
    g3, grad3 = p["bend"](pts, grad=True)
    g, grad = g + 1.5 * g3, grad + 1.5 * grad3
    h = np.abs(g) / np.maximum(np.linalg.norm(grad, axis=1), 1e-4)  # mm to the sulcal sheet (first order)
    sd = p["sulc_depth"] * (0.7 + 0.4 * np.tanh(p["depth_field"](v)[0]))  # deep and shallow sulci
    sd[below_tent[shell] < -d_cer[shell]] *= 0.4  # shallow on the tentorial surface (radial sheets cut it)
    hh = np.maximum(h - p["sulc_w"] / 2, 0)
    dd = depth[shell]
    d_sulc = np.where(dd < sd, hh, np.sqrt(hh**2 + np.maximum(dd - sd, 0) ** 2))
    dist[shell] = np.minimum(dist[shell], d_sulc)
    cls[brain & (dist < gm)] = GM
    cls[brain & (dist <= 0)] = CSF

    # cerebellum (folia are drawn as texture), brainstem, fourth ventricle
    cbl = d_cbl < 0
    cls[cbl] = CBL_GM
    core = -8.0 * c + 2.5 * np.sin(0.35 * x + p["folia"]) * np.cos(0.3 * z)
    cls[cbl & (d_cbl < core)] = CBL_WM
    cls[d_bs < 0] = STEM
    cls[_ellipsoid_sdf((x, y, z), (0, -31 * s, -42 * s), (4.5 * s, 3.0 * s, 7.0 * s)) < 0] = CSF

    # deep structures, evaluated in a box around the centre: lateral ventricles, caudate, nuclei, third ventricle
    box = np.nonzero((np.abs(x) < 45 * s) & (np.abs(y + 5 * s) < 55 * s) & (np.abs(z) < 40 * s))
    bx, by, bz = x[box], y[box], z[box]
    ax_ = np.abs(bx)
    ym, half_len = -6.0 * s, 36.0 * s
    t = np.clip(1.0 - ((by - ym) / half_len) ** 2, 0.0, 1.0) ** 0.35
    xc = 1.0 + 3.6 * vs + 0.007 * (by - ym) ** 2
    zc = 10.0 * s - 0.011 * (by - ym) ** 2
    rx, rz = np.maximum(3.6 * vs * t, 1e-3), np.maximum(6.5 * vs * t, 1e-3)
    q = np.sqrt(((ax_ - xc) / rx) ** 2 + ((bz - zc) / rz) ** 2)  # < 1 inside the lateral ventricles
    q[t <= 0] = np.inf
    sub = np.zeros(bx.shape, dtype=np.uint8)
    sub[q < 1] = VENTRICLE
    cd, ln, th = p["deep"][:3]
    taper = np.clip((by - ym + 14 * cd) / (half_len + 10 * cd), 0, 1)  # caudate: head in front, thin body behind
    rc = (1.2 + 4.0 * taper**1.5) * cd
    q_cd = np.sqrt(((ax_ - (xc + rx * 0.7 + 0.6 * rc)) / rc) ** 2 + ((bz - zc - 1.0) / (1.6 * rc)) ** 2)
    sub[(q_cd < 1) & (by > ym - 14 * cd) & (by < ym + half_len - 6 * cd)] = DEEP_GM
    nuclei = [((23.0 * ln, 2.0 * ln, -2.0 * ln), (6.0 * ln, 15.0 * ln, 9.0 * ln))]  # lentiform nucleus
    nuclei.append(((10.0 * th, -15.0 * th, -4.0 * th), (8.0 * th, 13.0 * th, 8.0 * th)))  # thalamus
    for centre, axes in nuclei:
        sub[_ellipsoid_sdf((ax_, by, bz), centre, axes) < 0] = DEEP_GM
    third = (ax_ < 0.6 + 0.8 * vs) & (_ellipsoid_sdf((by, bz), (-9 * s, -6 * s), (12 * s, 8 * s)) < 0)
    sub[third] = CSF
    inside = brain[box] & (sub > 0)
    cls[tuple(i[inside] for i in box)] = sub[inside]
    q_vent = np.full(shape, np.inf, dtype=np.float32)
    q_vent[box] = q
    # folia: thin fissures on arcs around the fourth ventricle (convex posteriorly), slightly wiggled
    cx, cy, cz = x[cbl], y[cbl] + 28.0 * c, 0.7 * (z[cbl] + 40.0 * c)
    folia = np.sqrt(cx * cx + cy * cy + cz * cz) + 1.2 * np.sin(0.21 * cx + p["folia"]) * np.cos(0.17 * cz)
    return {"cls": cls, "q_vent": q_vent, "depth": depth, "cbl": cbl, "folia": folia}


def _add_lesions(rng: np.random.Generator, cls: np.ndarray, anat: dict, spacing: tuple[float, ...]) -> int:
    """Paint periventricular (and a few deep) white-matter lesions into ``cls``; returns how many were placed."""
    wm = cls == WM
    pools = [np.flatnonzero(wm & (anat["q_vent"] >= 1.0) & (anat["q_vent"] < 2.3))]
    pools += [np.flatnonzero(wm & (anat["depth"] > 12)), np.flatnonzero(wm)]
    placed = 0
    for _ in range(int(rng.integers(5, 16))):
        pool = pools[0] if rng.uniform() < 0.75 else pools[1]
        pool = pool if pool.size else pools[2]
        radii = np.array([rng.uniform(2.0, 6.0), rng.uniform(2.0, 6.0), rng.uniform(2.5, 6.0)])  # mm
        if not pool.size:
            continue
        centre = np.unravel_index(pool[rng.integers(pool.size)], cls.shape)
        half = np.ceil(radii / np.asarray(spacing)).astype(int)
        box = tuple(slice(max(0, c - h), min(n, c + h + 1)) for c, h, n in zip(centre, half, cls.shape))
        inside = sum(((g - c) * d / r) ** 2 for g, c, d, r in zip(np.ogrid[box], centre, spacing, radii)) <= 1.0
        view = cls[box]
        view[inside & (view == WM)] = LESION
        placed += 1
    return placed


def _bias_field(
    rng: np.random.Generator, shape: tuple[int, ...], spacing: tuple[float, ...], head: np.ndarray, strength: float
) -> np.ndarray:
    """Smooth multiplicative field: exp of a random quadratic polynomial plus a Gaussian blob, within +-strength."""
    u = [((np.arange(n, dtype=np.float32) - (n - 1) / 2.0) * d / 115.0) for n, d in zip(shape, spacing)]
    x, y, z = u[0][:, None, None], u[1][None, :, None], u[2][None, None, :]
    c = rng.standard_normal(9).astype(np.float32)
    f = c[0] * x + c[1] * y + c[2] * z + c[3] * x * x + c[4] * y * y + c[5] * z * z + c[6] * x * y
    f = f + c[7] * x * z + c[8] * y * z
    b = rng.uniform(-0.6, 0.6, 3).astype(np.float32)
    f = f + rng.choice([-1.0, 1.0]) * 1.5 * np.exp(-((x - b[0]) ** 2 + (y - b[1]) ** 2 + (z - b[2]) ** 2) / 0.18)
    f = np.broadcast_to(f, shape)
    inside = f[head] if head.any() else f.ravel()
    f = (f - inside.mean()) / max(float(np.abs(inside - inside.mean()).max()), 1e-6)
    return np.exp(np.float32(strength) * f).astype(np.float32)


def _render(
    rng: np.random.Generator, cls: np.ndarray, anat: dict, spacing: tuple[float, ...], snr: float | None, bias: float
) -> dict[str, np.ndarray]:
    """T1, T1-IR and T2-FLAIR volumes from the class map: texture, partial volume, bias field, Rician noise."""
    shape = cls.shape
    head = cls != AIR
    tex = _blur_inplane(rng.standard_normal(shape, dtype=np.float32), [1.2 / d for d in spacing])
    tex *= np.float32(_TEXTURE / max(float(tex.std()), 1e-6))
    mult = 1.0 + tex
    fis = (0.5 + 0.5 * np.cos(2.0 * np.pi * anat["folia"] / 3.4)) ** 8  # thin dark cerebellar fissures
    mult[anat["cbl"]] *= 1.0 - 0.25 * fis
    sigma_pv = [_PV_SIGMA_MM / d for d in spacing]
    out = {}
    for name in MODALITIES:
        lut = np.asarray(_CONTRAST[name], dtype=np.float32)
        img = lut[cls] * mult
        img = _blur_inplane(img, sigma_pv)
        img *= _bias_field(rng, shape, spacing, head, bias)
        if snr is not None:
            sigma = np.float32(lut[WM] / snr)
            real = img + sigma * rng.standard_normal(shape, dtype=np.float32)
            imag = sigma * rng.standard_normal(shape, dtype=np.float32)
            img = np.sqrt(real * real + imag * imag)
        out[name] = np.maximum(img, 0.0).astype(np.float32, copy=False)
    return out


def make_subject(
    seed: int,
    shape: Sequence[int] = MRBRAINS13_SHAPE,
    spacing: Sequence[float] | None = None,
    lesions: bool = True,
    *,
    snr: float | None = 30.0,
    bias: float = 0.15,
) -> dict[str, np.ndarray]:
    """One phantom subject: MRBrainS13 labels and T1, T1-IR, T2-FLAIR volumes.

    The anatomy (head size and shape, pose, folding pattern, atrophy, ventricle size, lesions) and the
    contrast (texture, bias field, noise) are drawn from independent streams of ``np.random.SeedSequence(seed)``;
    the global numpy RNG is never touched, and ``lesions=False`` gives the same subject without lesions.

    Args:
        seed: non-negative integer; the same seed gives identical arrays.
        shape: grid ``(X, Y, Z)``, axial slices along Z (MRBrainS13: 240 x 240 x 48).
        spacing: voxel size in mm. None keeps the MRBrainS13 field of view (229.9 x 229.9 x 144 mm), i.e.
            ``(0.958, 0.958, 3.0)`` for the default shape; a smaller field of view crops the head.
        lesions: add white-matter lesions (label 4).
        snr: white-matter intensity over the noise standard deviation of the Rician noise; None for no noise.
        bias: amplitude of the multiplicative bias field (0.15: about +-15 percent); 0 for none.

    Returns:
        ``{"label": uint8 (X, Y, Z) with values 0..8, "T1", "T1_IR", "T2_FLAIR": float32 (X, Y, Z) >= 0,
        "affine": (4, 4) float64}``. Labels: 0 background (incl. scalp and skull), 1 cortical GM, 2 basal
        ganglia, 3 WM, 4 WM lesions, 5 extracerebral CSF, 6 lateral ventricles, 7 cerebellum, 8 brainstem.
    """
    grid, mm = check_subject_args(seed, shape, spacing, snr, bias)
    anatomy_ss, lesion_ss, contrast_ss = np.random.SeedSequence(int(seed)).spawn(3)
    anat = _anatomy(np.random.default_rng(anatomy_ss), grid, mm)
    cls = anat["cls"]
    if lesions:
        _add_lesions(np.random.default_rng(lesion_ss), cls, anat, mm)
    label = _CLASS_TO_LABEL[cls]
    missing = sorted(set(range(1, 9)) - set(np.unique(label).tolist()) - (set() if lesions else {4}))
    if missing:
        logger.warning("phantom seed %d on grid %s x %s mm lacks labels %s.", seed, grid, mm, missing)
    images = _render(np.random.default_rng(contrast_ss), cls, anat, mm, snr, bias)
    return {Keys.LABEL.value: label, **images, "affine": phantom_affine(grid, mm)}
