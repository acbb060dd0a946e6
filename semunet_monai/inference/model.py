"""A trained model as inference finds it: a training run folder or a MONAI Bundle, and the geometry it learned on.

Training writes ``geometry.json`` beside ``model.pt``: the in-plane voxel spacing (mm, after RAS orientation), the
matrix and the modality of the training scans. Inference resamples new scans to that spacing and pads or crops them
to that matrix, as training did, instead of squeezing any field of view into the matrix.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from ..atomic import atomic_write_text
from ..config import ExperimentConfig, config_from_dict
from ..networks.semunet import SemuNet

__all__ = [
    "GEOMETRY_NAME",
    "Trained",
    "load_trained",
    "saved_experiment",
    "training_geometry",
    "write_geometry",
    "read_geometry",
    "plane_spacing",
]

logger = logging.getLogger(__name__)

GEOMETRY_NAME = "geometry.json"


@dataclass
class Trained:
    """A model ready for inference.

    Attributes:
        model: the SemuNet with its fixed mask, in eval mode.
        config: its experiment configuration.
        spacing: in-plane spacing (mm) of the training scans, or None when the model predates ``geometry.json``.
        source: the folder it was loaded from.
        kind: ``"run"`` or ``"bundle"``.
    """

    model: SemuNet
    config: ExperimentConfig
    spacing: tuple[float, float] | None
    source: Path
    kind: str

    @property
    def matrix(self) -> tuple[int, int]:
        return tuple(int(s) for s in self.model.operator.mask.shape)

    @property
    def modality(self) -> str:
        return self.config.data.modality

    @property
    def readout_axis(self) -> int | None:
        """The read-out axis of a ``sampling.geometry: kykz`` model (its slices are the planes across it)."""
        s = self.config.sampling
        return int(s.readout_axis) if s.geometry == "kykz" else None


def training_geometry(image_path: str | Path, matrix: tuple[int, int], modality: str) -> dict:
    """The geometry a model is trained on: the spacing of ``image_path`` (a training scan) after RAS orientation,
    as the training pipeline orients it, with the trained matrix and modality."""
    from monai.transforms import Compose, EnsureChannelFirst, LoadImage, Orientation

    from ..data.readers import SimpleITKReader

    image = Compose(
        [
            LoadImage(reader=SimpleITKReader(), image_only=True),
            EnsureChannelFirst(channel_dim="no_channel"),
            Orientation("RAS", labels=None),
        ]
    )(str(image_path))
    spacing = [round(float(s), 6) for s in image.pixdim[:3]]
    return {"spacing": spacing, "matrix": [int(m) for m in matrix], "modality": modality, "orientation": "RAS"}


def write_geometry(geometry: dict, folder: str | Path) -> Path:
    path = Path(folder) / GEOMETRY_NAME
    atomic_write_text(path, json.dumps(geometry, indent=2))
    return path


def read_geometry(folder: str | Path) -> dict | None:
    """``folder/geometry.json``, or None when it is absent."""
    path = Path(folder) / GEOMETRY_NAME
    if not path.is_file():
        return None
    try:
        geometry = json.loads(path.read_text())
        spacing = [float(s) for s in geometry["spacing"]]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a geometry file ({type(err).__name__}: {err}).") from None
    if len(spacing) < 2 or min(spacing[:2]) <= 0:
        raise ValueError(f"{path}: 'spacing' must hold positive in-plane spacings, got {geometry['spacing']!r}.")
    return geometry


def saved_experiment(models_dir: str | Path) -> ExperimentConfig:
    """The experiment a bundle's ``models/`` (``experiment.json``) or a run folder (``config.yaml``) was trained
    with."""
    home = Path(models_dir)
    path = home / "experiment.json" if (home / "experiment.json").is_file() else home / "config.yaml"
    raw = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
    return config_from_dict(raw, source=str(path))


def plane_spacing(spacing, config: ExperimentConfig) -> list[float] | None:
    """The spacing (mm) of the networks' planes from the training volume's ``spacing`` (3 axes, RAS): the first
    two axes, or the two axes other than the read-out for a ``sampling.geometry: kykz`` model. None when
    ``spacing`` lacks an axis that is needed."""
    axes = [0, 1]
    if config.sampling.geometry == "kykz":
        axes = [a for a in range(3) if a != config.sampling.readout_axis]
    return [float(spacing[a]) for a in axes] if len(spacing) > max(axes) else None


def _bundle_models_dir(path: Path) -> Path | None:
    for candidate in (path, path / "models"):
        if (candidate / "experiment.json").is_file() and (candidate / "model.pt").is_file():
            return candidate
    return None


def load_trained(path: str | Path, device: str | torch.device = "cpu") -> Trained:
    """Load a finished training run folder (``config.yaml`` + ``model.pt``) or a bundle (its root or ``models/``
    folder: ``experiment.json`` + ``model.pt``, keys prefixed ``model.``).

    Raises ``ValueError`` naming the folder when it is neither, or when its model is incomplete.
    """
    from ..engines.checkpoint import CheckpointError
    from ..engines.evaluation import load_trained_model

    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"--model {folder}: no such folder; expected a training run folder or a bundle.")
    try:
        if (folder / "config.yaml").is_file():
            model, config = load_trained_model(folder, device)
            kind, home = "run", folder
        else:
            home = _bundle_models_dir(folder)
            if home is None:
                raise ValueError(
                    f"--model {folder}: neither a training run folder (config.yaml + model.pt) nor a bundle "
                    f"(models/experiment.json + models/model.pt); train first, or point at the right folder."
                )
            from ..bundle import load_bundle_network

            model = load_bundle_network(home, weights=True).model.to(device).eval()
            config = saved_experiment(home)
            kind = "bundle"
    except CheckpointError as err:
        raise ValueError(str(err)) from None
    geometry = read_geometry(home)
    plane = plane_spacing(geometry["spacing"], config) if geometry else None
    spacing = tuple(plane) if plane else None
    if geometry is None:
        logger.warning(
            "%s: no %s (a model trained before it was written): scans are resized to the trained matrix %s, "
            "which changes their pixel size; retrain to resample them to the training spacing instead.",
            home,
            GEOMETRY_NAME,
            tuple(model.operator.mask.shape),
        )
    return Trained(model, config, spacing, home, kind)
