"""Names of the registries that the command line offers as choices, in a module that imports nothing heavy.

``semunet-monai --help`` builds its parser from these without importing torch or MONAI. :data:`PRECISIONS` and
:data:`MASK_KINDS` are defined here only: :mod:`semunet_monai.precision` and :mod:`semunet_monai.sampling.masks`
import them. :data:`GRID_BUDGET` (the grid's per-cell budget) is defined here only and
:mod:`semunet_monai.reproduce.grid` imports it; :data:`GRID_ROWS` is the keys of :data:`semunet_monai.grid_rows.ROWS`
(a torch-free module too).
"""

from __future__ import annotations

from .grid_rows import ROWS as _GRID_ROWS

__all__ = ["PRECISIONS", "MASK_KINDS", "GEOMETRIES", "PHYSICS_MODES", "RECON_NETS", "GRID_ROWS", "GRID_BUDGET"]

# Network precisions (see semunet_monai.precision).
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

# Fixed k-space mask kinds (see semunet_monai.sampling.masks.MASK_CLASSES).
MASK_KINDS = ("random", "radial", "gaussian", "cartesian_random", "cartesian_equispaced", "poisson")

# sampling.geometry values (semunet_monai.sampling.common imports them): a pixel mask per axial slice, phase-encode
# lines, or one pixel mask over the (ky, kz) phase-encode plane of a 3-D Cartesian acquisition (the read-out kx is
# fully sampled); a sampler or a fixed mask draws a kykz mask as a "2d" mask of that plane.
GEOMETRIES = ("2d", "lines", "kykz")

# model.recon values (semunet_monai.networks: ReconNet, VarNetRecon).
RECON_NETS = ("unet", "varnet")

# physics.mode values (see semunet_monai.transforms.physics).
PHYSICS_MODES = ("magnitude", "complex", "multicoil")

# The grid's rows (semunet_monai.grid_rows.ROWS, torch-free), in their order.
GRID_ROWS = tuple(_GRID_ROWS)

# Training budget of one grid cell per preset when the command line does not set it (None: the preset's own).
# cpu: on the MNI152-derived data (10 subjects at 96x96, 7 training per fold) fully sampled SegNet reached tissue3 Dice
# 0.855 +- 0.013 on the test subjects of 5 folds with 30 + 10 epochs at batch 4 (65 s a cell on 2 cores), against
# 0.846 at batch 8 (44 s) and 0.854 with 60 + 20 epochs at batch 8 (92 s): batch 4 doubles the steps for 1.5x the time.
# The 10 % grid's 15 fully sampled runs (5 folds x 3 seeds) at this budget: 0.863 +- 0.007 (README Results).
GRID_BUDGET: dict[str, dict[str, int] | None] = {
    "tiny": None,
    "cpu": {"epochs": 30, "finetune_epochs": 10, "batch_size": 4},
    "paper": None,
}
