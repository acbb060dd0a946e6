"""MONAI Label's training path in-process: the bundle's train.json with the overrides BundleTrainTask sets
(``train#dataset#data``, ``validate#dataset#data``, ``train#trainer#max_epochs``) and, for ``pretrained``, the
CheckpointLoader it inserts at the front of ``train#handlers``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from monai.bundle import ConfigWorkflow

from semunet_monai.data.labels import get_label_scheme

REPO = Path(__file__).resolve().parents[2]


def _items(demo_dir: Path, out: Path) -> tuple[list[dict], list[dict]]:
    """MONAI Label's datastore gives class-index labels (0..7, the bundle's channel_def): map the demo's raw ones."""
    scheme = get_label_scheme("paper7")
    lut = np.zeros(256, np.uint8)
    for raw, cls in scheme.mapping.items():
        lut[raw] = max(cls, 0)
    items = []
    for subject in sorted((demo_dir / "TrainingData").iterdir()):
        label = nib.load(str(subject / "LabelsForTraining.nii.gz"))
        path = out / f"{subject.name}_label.nii.gz"
        nib.save(nib.Nifti1Image(lut[np.asarray(label.dataobj).astype(np.int64)], label.affine), str(path))
        items.append({"image": str(subject / "T1.nii.gz"), "label": str(path)})
    return items[:-1], items[-1:]


def _train(bundle: Path, train_items, val_items, max_epochs: int, pretrained: bool) -> Path:
    overrides = {
        "bundle_root": str(bundle),
        "preset": "tiny",
        "train#dataset#data": train_items,
        "validate#dataset#data": val_items,
        "train#trainer#max_epochs": max_epochs,
    }
    if pretrained:  # what monailabel 0.8.5 BundleTrainTask._load_checkpoint inserts
        overrides["train#handlers"] = [
            {
                "_target_": "CheckpointLoader",
                "load_path": str(bundle / "models" / "model.pt"),
                "load_dict": {"model": "$@network"},
                "strict": False,
            }
        ]
    before = set((bundle / "runs").glob("semunet_*")) if (bundle / "runs").is_dir() else set()
    workflow = ConfigWorkflow(
        config_file=str(bundle / "configs" / "train.json"),
        meta_file=str(bundle / "configs" / "metadata.json"),
        logging_file=None,
        workflow_type="train",
        **overrides,
    )
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    (run,) = set((bundle / "runs").glob("semunet_*")) - before
    return run


def _losses(run: Path) -> list[float]:
    return [r["train_loss"] for r in json.loads((run / "metrics.json").read_text())]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_pretrained_warm_start_loads_the_bundles_weights(demo_dir, tmp_path, monkeypatch):
    bundle = tmp_path / "bundle"
    shutil.copytree(
        REPO / "bundle",
        bundle,
        ignore=shutil.ignore_patterns("runs", "eval", "*.pt", "*.npy", "mask*", "experiment.json", "geometry.json"),
    )
    monkeypatch.chdir(tmp_path)
    train_items, val_items = _items(demo_dir, tmp_path)
    scratch = _train(bundle, train_items, val_items, max_epochs=2, pretrained=False)
    assert [r["phase"] for r in json.loads((scratch / "metrics.json").read_text())] == ["joint", "finetune"]  # 1 + 1
    warm = _train(bundle, train_items, val_items, max_epochs=1, pretrained=True)
    # measured: scratch 0.490 then 0.457; warm 0.424 (without the loader the same run gives 0.490 again)
    assert _losses(warm)[0] < _losses(scratch)[-1], (_losses(warm), _losses(scratch))
    assert [r["phase"] for r in json.loads((warm / "metrics.json").read_text())] == ["joint"]  # max_epochs 1: 1 + 0
