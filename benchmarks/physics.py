"""How much the magnitude simulation flatters the numbers, and what a data-consistency ReconNet gives back (#10).

On the embedded demo data at 10 %, cpu preset at the grid's per-cell budget (30 + 10 epochs at batch 4), seeds 0
and 1, one run per row and seed:

- BasicUNet + learned mask in each physics mode (magnitude, complex, multicoil with 8 coils);
- in multicoil physics: VarNet + learned mask, VarNet + variable density with a fully sampled centre disc holding
  half the budget, VarNet + Cartesian lines with ACS lines (fastMRI's share).

Runs, resumption, ``--merge`` and the table: see ``row_table.py``.

    python benchmarks/physics.py --out benchmarks/results/physics [--threads 1] [--seeds 2]

Two workers on separate ``--out`` folders (``--rows`` / ``--only-seeds`` disjoint) share a machine's cores; merge
their ``results.json`` files afterwards with ``--merge DIR...``.
"""

from __future__ import annotations

import row_table

ROWS = {
    # name: (physics mode, recon, method, sampling overrides)
    "magnitude_unet_learned": ("magnitude", "unet", "semunet", {}),
    "complex_unet_learned": ("complex", "unet", "semunet", {}),
    "multicoil_unet_learned": ("multicoil", "unet", "semunet", {}),
    "multicoil_varnet_learned": ("multicoil", "varnet", "semunet", {}),
    "multicoil_varnet_vd_centre": ("multicoil", "varnet", "baseline", {"mask_kind": "gaussian", "centre": 0.5}),
    "multicoil_varnet_lines_acs": (
        "multicoil",
        "varnet",
        "baseline",
        {"mask_kind": "cartesian_random", "geometry": "lines"},
    ),
}
LABELS = {
    "magnitude_unet_learned": "magnitude | BasicUNet + learned mask (the paper's setting)",
    "complex_unet_learned": "complex | BasicUNet + learned mask",
    "multicoil_unet_learned": "multicoil | BasicUNet + learned mask",
    "multicoil_varnet_learned": "multicoil | VarNet + learned mask",
    "multicoil_varnet_vd_centre": "multicoil | VarNet + VD, centre disc with 50 % of the budget",
    "multicoil_varnet_lines_acs": "multicoil | VarNet + Cartesian lines with ACS",
}


def config_for(row: str, seed: int, threads: int | None, budget: dict):
    from semunet_monai.config import load_config
    from semunet_monai.reproduce.grid import centre_radius

    mode, recon, method, sampling = ROWS[row]
    sampling = dict(sampling)
    centre = sampling.pop("centre", None)
    overrides = {
        "physics": {"mode": mode, "coils": 8},
        "model": {"recon": recon},
        "sampling": {"rate": 0.1, **sampling},
        "train": {"method": method, "seed": seed, **budget, **({"threads": threads} if threads else {})},
    }
    config = load_config("cpu", overrides=overrides)
    if centre is not None:
        size = config.data.spatial_size
        config.sampling.acs = centre_radius(0.1, (size, size), centre)
    return config


TABLE = row_table.Table(
    rows=LABELS,
    config_for=config_for,
    caption=lambda budget: (
        f"Demo data (10 MNI152-derived subjects, 96x96), 10 %, {budget['epochs']} + {budget['finetune_epochs']} "
        f"epochs at batch {budget['batch_size']}; mean +- std over seeds (n). Scores on the test subjects (magnitude "
        "images; PSNR with the volume's maximum as data range)."
    ),
    first_column="physics",
)


if __name__ == "__main__":
    raise SystemExit(row_table.main(TABLE, __doc__.split("\n\n")[0]))
