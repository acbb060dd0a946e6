"""A learned (ky, kz) mask against Poisson disc and variable density, for a 3-D Cartesian scan (#14, item 5).

On the embedded demo data at 10 % in ``complex`` physics (magnitude k-space is Hermitian-symmetric and flatters every
mask), ``sampling.geometry: kykz`` read out along the volume's first axis (planes 96x19: the demo slab has 19
slices), cpu preset at the grid's per-cell budget (30 + 10 epochs at batch 4), seeds 0 and 1; the same BasicUNet
ReconNet and SegNet in every row:

- SemuNet's learned mask;
- variable-density Poisson disc with a fully sampled calibration square (``poisson``);
- variable density with a fully sampled centre disc holding half the budget (``gaussian`` + ``acs``);
- the whole budget in the centre disc (the tuned fixed mask of the 2-D grid came to this).

Each finished run's mask is also written as a 3-D spoiled GRE (``export-seq`` defaults: TR 15 ms) and its scan time
recorded next to the fully sampled plane's. Runs, resumption, ``--merge`` and the table: see ``row_table.py``.

    python benchmarks/kykz.py --out benchmarks/results/kykz [--threads 1] [--seeds 2]
    python benchmarks/kykz.py --out benchmarks/results/kykz240 --spatial-size 240 --subjects 5   # MRBrainS13's grid
"""

from __future__ import annotations

import row_table

ROWS = {
    # name: (method, sampling overrides)
    "kykz_learned": ("semunet", {}),
    "kykz_poisson": ("baseline", {"mask_kind": "poisson"}),
    "kykz_vd_centre": ("baseline", {"mask_kind": "gaussian", "centre": 0.5}),
    "kykz_centre_full": ("baseline", {"mask_kind": "gaussian", "centre": 1.0}),
}
LABELS = {
    "kykz_learned": "learned | SemuNet",
    "kykz_poisson": "Poisson disc + calibration | baseline",
    "kykz_vd_centre": "VD, centre disc with 50 % of the budget | baseline",
    "kykz_centre_full": "centre disc with the whole budget | baseline",
}
READOUT_AXIS = 0


def config_for(row: str, seed: int, threads: int | None, budget: dict):
    from semunet_monai.config import load_config
    from semunet_monai.engines.rundata import demo_shape
    from semunet_monai.reproduce.grid import centre_radius

    method, sampling = ROWS[row]
    sampling = dict(sampling)
    centre = sampling.pop("centre", None)
    size, subjects = budget.get("spatial_size", 96), budget.get("subjects", 10)
    budget = {k: budget[k] for k in ("epochs", "finetune_epochs", "batch_size")}
    overrides = {
        "data": {"spatial_size": size, "demo_subjects": subjects},
        "physics": {"mode": "complex"},
        "sampling": {"rate": 0.1, "geometry": "kykz", "readout_axis": READOUT_AXIS, **sampling},
        "train": {"method": method, "seed": seed, **budget, **({"threads": threads} if threads else {})},
    }
    config = load_config("cpu", overrides=overrides)
    if centre is not None:
        plane = [n for i, n in enumerate(demo_shape(config.data.spatial_size)) if i != READOUT_AXIS]
        config.sampling.acs = centre_radius(0.1, tuple(plane), centre)
    return config


def scan_time(row: str, run, config) -> dict:
    """The run's mask as a 3-D GRE (pypulseq): its duration, and the fully sampled plane's at the same TR."""
    import json

    from semunet_monai.cli import main as cli

    seq = run / "sequence" / "gre3d.seq"
    if cli(["export-seq", "--mask", str(run / "mask"), "--out", str(seq), "--overwrite"]) != 0:
        return {}
    played = json.loads(seq.with_suffix(".json").read_text())
    full = played["tr"] * played["shape"][0] * played["shape"][1]
    return {"scan_s": played["duration_s"], "full_scan_s": full}


def _caption(budget: dict) -> str:
    from semunet_monai.engines.rundata import demo_shape

    x, y, z = demo_shape(budget.get("spatial_size", 96))
    return (
        f"Demo data ({budget.get('subjects', 10)} MNI152-derived subjects, {x}x{y}x{z}), complex physics, "
        f"sampling.geometry kykz read out along axis 0 ((ky, kz) planes {y}x{z}), 10 %, {budget['epochs']} + "
        f"{budget['finetune_epochs']} epochs at batch {budget['batch_size']}; mean +- std over seeds (n). Scores on "
        f"the test subjects' planes (SSIM on the {y}x{z} planes). Scan time: the mask as a 3-D GRE at TR 15 ms, "
        "against the fully sampled plane."
    )


TABLE = row_table.Table(
    rows=LABELS,
    config_for=config_for,
    caption=lambda budget: _caption(budget),
    first_column="mask",
    extra=scan_time,
    extra_columns={"scan_s": "scan (s)", "full_scan_s": "full (s)"},
    options={
        "spatial-size": {"type": int, "default": 96, "help": "demo grid: 96 (96x96x19) or 240 (MRBrainS13's)"},
        "subjects": {"type": int, "default": 10, "help": "demo subjects (2 test, 1 validation, the rest train)"},
    },
)


if __name__ == "__main__":
    raise SystemExit(row_table.main(TABLE, __doc__.split("\n\n")[0]))
