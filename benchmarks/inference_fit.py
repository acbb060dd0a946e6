"""Scans whose matrix or pixel size differs from training: Dice of ``infer --fit resample`` (resample to the training
spacing, then pad/crop) against ``--fit resize`` (squeeze each slice into the trained matrix).

Subjects are drawn from the MNI152-derived generator with seeds the demo data does not use, at three geometries:
the trained one, the MRBrainS13 grid (240 x 240, 0.96 mm: the same field of view, finer pixels) and 128 x 128 at
2.0 mm (a 256 mm field of view: larger than the trained 230 mm). Each is written as NIfTI, run through
:func:`semunet_monai.inference.infer` both ways, and scored against its labels (paper7 classes and tissue3).

Example::

    python benchmarks/inference_fit.py --model runs/quickstart --out benchmarks/results/inference_fit
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import nibabel as nib
import numpy as np

from semunet_monai.data.labels import get_label_scheme
from semunet_monai.data.mni_subjects import make_mni_subject
from semunet_monai.inference import infer, load_trained

logger = logging.getLogger("inference_fit")

GEOMETRIES = {
    "trained": None,  # filled from the model: its matrix at its spacing
    "mrbrains13_240": ((240, 240, 48), (229.9 / 240, 229.9 / 240, 3.0)),
    "fov256_128": ((128, 128, 48), (2.0, 2.0, 3.0)),
}


def dice(pred: np.ndarray, ref: np.ndarray, classes: int) -> list[float]:
    out = []
    for c in range(1, classes):
        a, b = pred == c, ref == c
        denom = a.sum() + b.sum()
        out.append(float(2 * (a & b).sum() / denom) if denom else float("nan"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="run folder or bundle with geometry.json")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[101, 102], help="subject seeds (not the demo's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    trained = load_trained(args.model)
    if trained.spacing is None:
        raise SystemExit(f"{args.model}: no geometry.json; train again with this version to compare both fits.")
    scheme = get_label_scheme(trained.config.data.label_scheme)
    tissue = get_label_scheme("tissue3")
    lut7 = np.zeros(256, np.int64)
    lut3 = np.zeros(256, np.int64)
    for raw, cls in scheme.mapping.items():
        lut7[raw] = max(cls, 0)
    for raw, cls in tissue.mapping.items():
        lut3[raw] = max(cls, 0)
    merge = np.asarray(scheme.merge_lut("tissue3"))
    geometries = dict(GEOMETRIES)
    h, w = trained.matrix
    geometries["trained"] = ((h, w, 19), (trained.spacing[0], trained.spacing[1], 7.58))
    out = Path(args.out)
    rows = []
    for name, (shape, spacing) in geometries.items():
        for seed in args.seeds:
            subject = make_mni_subject(seed, shape, spacing)
            folder = out / "scans" / name / f"s{seed}"
            folder.mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(subject["T1"], subject["affine"]), str(folder / "T1.nii.gz"))
            label = subject["label"].astype(np.int64)
            for fit in ("resample", "resize"):
                target = out / "outputs" / name / f"s{seed}" / fit
                summary = infer(args.model, [folder / "T1.nii.gz"], target, fit=fit, overwrite=True, progress=False)
                seg = np.asarray(nib.load(str(target / "T1_seg.nii.gz")).dataobj).astype(np.int64)
                d7 = dice(seg, lut7[label], scheme.num_classes)
                d3 = dice(merge[seg], lut3[label], tissue.num_classes)
                rows.append(
                    {
                        "geometry": name,
                        "shape": list(shape),
                        "spacing": [round(s, 3) for s in spacing],
                        "seed": seed,
                        "fit": fit,
                        "dice7": float(np.nanmean(d7)),
                        "dice3": float(np.nanmean(d3)),
                        "seconds": summary["seconds_per_volume"],
                    }
                )
                logger.info("%s", rows[-1])
    (out / "results.json").write_text(json.dumps({"model": str(args.model), "rows": rows}, indent=2))
    lines = [
        "| scan geometry | fit | tissue3 Dice | paper7 Dice | s / volume |",
        "|---|---|---|---|---|",
    ]
    for name, (shape, spacing) in geometries.items():
        for fit in ("resample", "resize"):
            sel = [r for r in rows if r["geometry"] == name and r["fit"] == fit]
            lines.append(
                f"| {shape[0]}x{shape[1]} at {spacing[0]:.2f} mm | {fit} | {np.mean([r['dice3'] for r in sel]):.3f} | "
                f"{np.mean([r['dice7'] for r in sel]):.3f} | {np.mean([r['seconds'] for r in sel]):.1f} |"
            )
    (out / "table.md").write_text("\n".join(lines) + "\n")
    logger.info("wrote %s", out / "table.md")


if __name__ == "__main__":
    main()
