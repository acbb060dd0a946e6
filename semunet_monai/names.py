"""Names of the registries that the command line offers as choices, in a module that imports nothing heavy.

``semunet-monai --help`` builds its parser from these without importing torch or MONAI. :data:`PRECISIONS` and
:data:`MASK_KINDS` are defined here only: :mod:`semunet_monai.precision` and :mod:`semunet_monai.sampling.masks`
import them. :data:`GRID_ROWS` and :data:`GRID_BUDGET` mirror :mod:`semunet_monai.reproduce.grid`, which imports
torch; ``tests/test_names.py`` keeps them equal.
"""

from __future__ import annotations

__all__ = ["PRECISIONS", "MASK_KINDS", "GRID_ROWS", "GRID_BUDGET"]

# Network precisions (see semunet_monai.precision).
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

# Fixed k-space mask kinds (see semunet_monai.sampling.masks.MASK_CLASSES).
MASK_KINDS = ("random", "radial", "gaussian", "cartesian_random", "cartesian_equispaced")

# Keys of semunet_monai.reproduce.grid.ROWS, in its order.
GRID_ROWS = (
    "baseline_radial",
    "baseline_random",
    "liu_radial",
    "liu_random",
    "mdrecon_radial",
    "mdrecon_random",
    "loupe_seg",
    "semunet",
    "baseline_uniform",
    "baseline_c25",
    "baseline_c50",
    "baseline_c75",
    "baseline_c90",
    "baseline_c100",
    "fullysampled",
)

# A copy of semunet_monai.reproduce.grid.GRID_BUDGET (the reasons for its values are given there).
GRID_BUDGET: dict[str, dict[str, int] | None] = {
    "tiny": None,
    "cpu": {"epochs": 30, "finetune_epochs": 10, "batch_size": 4},
    "paper": None,
}
