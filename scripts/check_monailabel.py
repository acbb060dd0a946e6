"""Check the bundle inside the real MONAI Label (monailabel 0.8.5), in the venv made by check_monailabel.sh.

It copies bundle/ into a MONAI Label app layout (<app>/model/semunet), trains a tiny model there with the bundle's
own train.json, then runs MONAI Label's BundleInferTask on a generated scan and checks the label volume it writes.
``--geometry kykz`` trains the copy with ``sampling.geometry: kykz`` (the 3-D acquisition simulated plane by plane), so
the infer task cuts the scan into (ky, kz) planes across the read-out axis and puts them back.
Then it builds a MONAI Label datastore from generated scans and lets BundleTrainTask train the bundle on it. Prints
a short report; exit code 1 if either check fails.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", help="working folder (default: a new temporary folder)")
    parser.add_argument("--geometry", choices=("2d", "kykz"), default="2d", help="the bundle's sampling geometry")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = Path(args.work or tempfile.mkdtemp(prefix="semunet_monailabel_"))
    app_model = work / "app" / "model" / "semunet"
    shutil.copytree(
        REPO / "bundle", app_model, ignore=shutil.ignore_patterns("runs", "eval", "*.pt", "mask*", "*.json.tmp")
    )
    for stale in ("experiment.json", "geometry.json", "inference_override.json"):
        (app_model / "models" / stale).unlink(missing_ok=True)
    env = {**os.environ, "SEMUNET_MONAI_CACHE": str(work / "cache")}
    report = []
    experiment = []
    if args.geometry != "2d":
        (work / "experiment.yaml").write_text(f"sampling:\n  geometry: {args.geometry}\n")
        experiment = ["--experiment_file", str(work / "experiment.yaml")]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "monai.bundle",
            "run",
            "training",
            "--config_file",
            "configs/train.json",
            "--preset",
            "tiny",
            *experiment,
        ],
        cwd=app_model,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    report.append(f"trained a tiny bundle ({args.geometry}) in {app_model}")
    # MONAI Label reads configs/inference.json alone: the tiny network's settings go into the deployed copy
    from semunet_monai.bundle_network import layer_inference_override

    layer_inference_override(app_model)

    from monailabel.tasks.infer.bundle import BundleInferTask

    task = BundleInferTask(str(app_model), conf={})
    ok = task.is_valid()
    report.append(f"BundleInferTask valid: {ok}; labels: {task.labels}")
    scan = next((work / "cache").glob("demo_*/TrainingData/2/T1.nii.gz"))
    result_file, result_json = task({"image": str(scan), "device": "cpu", "result_extension": ".nii.gz"})
    seg, ref = nib.load(result_file), nib.load(str(scan))
    labels = np.unique(np.asarray(seg.dataobj))
    shape_ok = seg.shape == ref.shape
    affine_ok = bool(np.allclose(seg.affine, ref.affine, atol=1e-3))
    labels_ok = set(labels.tolist()) <= set(range(8)) and len(labels) > 1
    report.append(
        f"BundleInferTask result {result_file}: shape {seg.shape} (input {ref.shape}) ok={shape_ok}, "
        f"affine ok={affine_ok}, labels {labels.tolist()} ok={labels_ok}"
    )

    train_ok = False
    try:
        from monailabel.datastore.local import LocalDatastore
        from monailabel.tasks.train.bundle import BundleTrainTask

        from semunet_monai.data.labels import LABEL_SCHEMES

        # a MONAI Label datastore: images plus final labels in the model's class space (paper7 classes)
        store = work / "datastore"
        (store / "labels" / "final").mkdir(parents=True, exist_ok=True)
        lut = np.array([LABEL_SCHEMES["paper7"].mapping[v] for v in range(9)], np.uint8)
        for subject in sorted((next((work / "cache").glob("demo_*")) / "TrainingData").iterdir()):
            shutil.copyfile(subject / "T1.nii.gz", store / f"subject{subject.name}.nii.gz")
            raw = nib.load(str(subject / "LabelsForTraining.nii.gz"))
            nib.save(
                nib.Nifti1Image(lut[np.asarray(raw.dataobj)], raw.affine),
                str(store / "labels" / "final" / f"subject{subject.name}.nii.gz"),
            )
        datastore = LocalDatastore(str(store), extensions=("*.nii.gz",), auto_reload=False)
        trainer = BundleTrainTask(str(app_model), conf={})
        before = (app_model / "models" / "model.pt").stat().st_mtime
        trainer(
            {
                "model": "semunet",
                "max_epochs": 2,
                "device": "cpu",
                "multi_gpu": False,
                "val_split": 0.34,
            },
            datastore,
        )
        train_ok = (app_model / "models" / "model.pt").stat().st_mtime > before
        report.append(
            f"BundleTrainTask trained on {len(datastore.list_images())} datastore images: model.pt rewritten={train_ok}"
        )
        # the same infer task (a running server) infers with the retrained model, without a restart
        again, _ = task({"image": str(scan), "device": "cpu", "result_extension": ".nii.gz"})
        seg2 = nib.load(again)
        after_ok = seg2.shape == ref.shape and len(np.unique(np.asarray(seg2.dataobj))) > 1
        report.append(f"BundleInferTask after training: {again} shape {seg2.shape} ok={after_ok}")
        train_ok = train_ok and after_ok
    except Exception as err:  # noqa: BLE001 - a report of what MONAI Label does with this bundle
        logging.getLogger(__name__).exception("BundleTrainTask")
        report.append(f"BundleTrainTask failed: {type(err).__name__}: {str(err)[:400]}")

    for line in report:
        sys.stdout.write(line + "\n")
    return 0 if ok and shape_ok and affine_ok and labels_ok and train_ok else 1


if __name__ == "__main__":
    sys.exit(main())
