from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
import yaml

from semunet_monai.config import load_config
from semunet_monai.data.labels import get_label_scheme
from semunet_monai.engines.builders import build_model
from semunet_monai.inference import write_geometry

MATRIX = (32, 32)
SPACING = (2.0, 2.0, 4.0)


def smooth_volume(shape=(32, 32, 5), spacing=SPACING, peak=300.0, seed=0) -> np.ndarray:
    """A head-like blob (an ellipsoid with a smooth inner pattern) in scanner units, on a grid of ``spacing`` mm
    covering the same 64 x 64 mm field of view whatever ``shape``."""
    rng = np.random.default_rng(seed)
    fov = 64.0
    x = (np.arange(shape[0]) + 0.5) * fov / shape[0] - fov / 2
    y = (np.arange(shape[1]) + 0.5) * fov / shape[1] - fov / 2
    xx, yy = np.meshgrid(x, y, indexing="ij")
    head = np.clip(1.0 - (xx / 26) ** 2 - (yy / 22) ** 2, 0, None) ** 0.5
    phase = rng.uniform(0, 2 * np.pi)
    pattern = 0.7 + 0.3 * np.cos(xx / 6 + phase) * np.sin(yy / 7)
    slices = [head * pattern * (0.9 + 0.1 * k / shape[2]) for k in range(shape[2])]
    return (peak * np.stack(slices, axis=-1)).astype(np.float32)


def write_scan(path: Path, volume: np.ndarray, spacing=SPACING) -> Path:
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = [-10.0, 5.0, 2.0]
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(volume, affine), str(path))
    return path


def model_folder(folder: Path, method: str, sections: dict | None = None, matrix=MATRIX, spacing=SPACING):
    """An untrained tiny model of ``method`` (mask frozen) written as a run folder: model.pt, config.yaml and, unless
    ``spacing`` is None, geometry.json. Returns ``(model, config)``."""
    overrides = {"train": {"method": method}, "data": {"spatial_size": matrix[0]}, **(sections or {})}
    config = load_config("tiny", overrides=overrides)
    torch.manual_seed(0)
    model = build_model(config, get_label_scheme(config.data.label_scheme).num_classes, tuple(matrix))
    if model.sampler is not None:
        model.freeze_mask()
    folder.mkdir(parents=True)
    torch.save(model.state_dict(), folder / "model.pt")
    (folder / "config.yaml").write_text(yaml.safe_dump(config.to_dict()))
    if spacing is not None:
        geometry = {"spacing": list(spacing), "matrix": list(matrix), "modality": "T1", "orientation": "RAS"}
        write_geometry(geometry, folder)
    return model, config


def _model_folder(folder: Path, method: str) -> Path:
    model_folder(folder, method)
    return folder


@pytest.fixture(scope="session")
def identity_run(tmp_path_factory) -> Path:
    """A run folder of a fully sampled model: its ReconNet is the identity, so its reconstruction is the scan."""
    return _model_folder(tmp_path_factory.mktemp("runs") / "fullysampled", "fullysampled")


@pytest.fixture(scope="session")
def semunet_run_and_bundle(tmp_path_factory) -> tuple[Path, Path]:
    """An (untrained) SemuNet run folder and the same model published as a bundle's models/ folder."""
    base = tmp_path_factory.mktemp("semunet")
    run = _model_folder(base / "run", "semunet")
    models = base / "bundle" / "models"
    models.mkdir(parents=True)
    state = torch.load(run / "model.pt", weights_only=True)
    torch.save({f"model.{k}": v for k, v in state.items()}, models / "model.pt")
    (models / "experiment.json").write_text(json.dumps(yaml.safe_load((run / "config.yaml").read_text())))
    (models / "geometry.json").write_text((run / "geometry.json").read_text())
    return run, base / "bundle"
