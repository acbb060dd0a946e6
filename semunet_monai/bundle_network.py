"""The bundle's inference network as config nodes, and the override file training writes for it.

``inference.json``'s ``network_def`` is :func:`inference_network` with its parts as nested ``_target_`` nodes: the
ReconNet, the SegNet, the undersampling operator, the mask's matrix and the image layout. Its literal values are
those of the default bundle (train.json with the cpu preset). Training writes ``models/inference_override.json``:
the same ids set to the trained network's values, plus what preprocessing must repeat (in-plane spacing, N4, the
dataset's label values). Inference layers it on:

    python -m monai.bundle run --config_file "['configs/inference.json','models/inference_override.json']" ...

and any id can also be set on the command line (``--network_def#recon#features "[...]"``). Nothing is read from
the models folder while the config is parsed: ``model.pt`` is loaded in ``initialize`` by :func:`load_weights`,
which names the override file when the weights do not fit the declared network.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .atomic import atomic_write_text
from .bundle import BundleNetwork
from .config import ExperimentConfig
from .data.labels import get_label_scheme
from .kspace import UndersamplingOperator
from .networks import IdentityRecon, MDReconNet, ReconNet, SegNet, SemuNet, VarNetRecon
from .physics import MultiCoilOperator

__all__ = ["OVERRIDE_NAME", "inference_network", "module_node", "inference_override", "write_inference_override"]
__all__ += ["load_weights", "layer_inference_override"]

logger = logging.getLogger(__name__)

OVERRIDE_NAME = "inference_override.json"
CALLABLE = {"_mode_": "callable"}  # nodes inference_network calls itself, so that a bad setting is named in one line
LAYERED = f"--config_file \"['configs/inference.json','models/{OVERRIDE_NAME}']\""


def inference_network(
    matrix: Sequence[int],
    recon: nn.Module,
    seg: nn.Module | None = None,
    operator: UndersamplingOperator | None = None,
    image_mode: str = "magnitude",
    outputs: str = "seg",
    precision: str = "fp32",
    geometry: str = "2d",
    debug: bool = False,
) -> BundleNetwork:
    """A trained bundle's network before its weights: the SemuNet of ``recon``, ``seg`` (None: no SegNet) and
    ``operator`` (default single-coil) with a fixed mask of ``matrix`` ``(H, W)`` (all zeros until
    :func:`load_weights` loads ``model.pt``, whose ``model.operator.mask`` is the learned or fixed mask), behind
    :class:`~semunet_monai.bundle.BundleNetwork` (``outputs``, ``precision``, ``geometry`` as there: ``kykz``, the
    mask is the (ky, kz) plane of a 3-D scan and ``matrix`` that plane). ``recon``, ``seg`` and ``operator`` may be
    config nodes in callable mode (``"_mode_": "callable"``, as inference.json and the override give them): a bad
    setting then ends the run in one ERROR line naming its id (unless ``debug``)."""
    from .bundle import call_node
    from .inference.infer import one_line_errors

    def build() -> BundleNetwork:
        shape = tuple(int(m) for m in matrix)
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"network_def#matrix: expected two positive integers (H, W), got {matrix!r}.")
        parts = {name: call_node(node, f"network_def#{name}") for name, node in (("recon", recon), ("seg", seg))}
        op = call_node(operator, "network_def#operator")
        mask = torch.zeros(shape, dtype=torch.bool)
        try:
            model = SemuNet(**parts, operator=op, mask=mask, image_mode=image_mode)
            return BundleNetwork(model.eval(), outputs, precision, geometry=geometry)
        except ValueError as err:
            raise ValueError(f"network_def: {err}") from err

    return one_line_errors(build, debug)


def module_node(module: nn.Module, coil_radius: float = 1.5) -> dict[str, Any]:
    """The config node (``_target_`` and keyword arguments) that rebuilds ``module``'s structure: a ReconNet kind,
    the SegNet or the undersampling operator (``coil_radius``: the birdcage radius a multi-coil operator's default
    maps were made with, which the operator does not keep)."""
    if isinstance(module, ReconNet):
        kw = {"in_channels": module.in_channels, "features": list(module.features), "residual": module.residual}
        return {"_target_": "semunet_monai.networks.ReconNet", **CALLABLE, **kw}
    if isinstance(module, VarNetRecon):
        kw = {
            "cascades": len(module.varnet.cascades),
            "features": list(module.features),
            "sens_features": list(module.sens_features),
            "calib": int(module.varnet.coil_sensitivity_model.calib),
        }
        return {"_target_": "semunet_monai.networks.VarNetRecon", **CALLABLE, **kw}
    if isinstance(module, MDReconNet):
        kw = {"in_channels": module.in_channels, "cascades": module.cascades, "features": module.features}
        return {"_target_": "semunet_monai.networks.MDReconNet", **CALLABLE, **kw, "depth": module.depth}
    if isinstance(module, IdentityRecon):
        return {"_target_": "semunet_monai.networks.IdentityRecon", **CALLABLE}
    if isinstance(module, SegNet):
        kw = {"num_classes": module.num_classes, "in_channels": module.in_channels, "features": list(module.features)}
        return {"_target_": "semunet_monai.networks.SegNet", **CALLABLE, **kw}
    if isinstance(module, MultiCoilOperator):
        if module.maps is None:
            raise ValueError("a multi-coil operator without default maps cannot be described as a config node.")
        coils, *shape = (int(s) for s in module.maps.shape[-3:])
        maps = {"_target_": "semunet_monai.physics.birdcage_maps", "shape": shape, "coils": coils}
        maps = {**maps, "radius": float(coil_radius)}
        return {"_target_": "semunet_monai.physics.MultiCoilOperator", **CALLABLE, "maps": maps}
    if type(module) is UndersamplingOperator:
        return {"_target_": "semunet_monai.kspace.UndersamplingOperator", **CALLABLE}
    raise ValueError(f"{type(module).__name__}: no config node describes this module for inference.json.")


def inference_override(model: SemuNet, config: ExperimentConfig, geometry: dict | None = None) -> dict[str, Any]:
    """The ids of inference.json that rebuild ``model`` (a trained SemuNet with its fixed mask) and repeat
    ``config``'s preprocessing: ``network_def#...`` (``#geometry``: the sampling geometry), ``spacing`` (from
    ``geometry``, the training scans' ``geometry.json``: the in-plane spacing, or a ``kykz`` model's plane across the
    read-out; None: unknown, scans are resized), ``readout_axis`` (a ``kykz`` model's, else None: the planes scans are
    cut into), ``n4``, ``modality`` (the trained contrast, which inference takes from a folder) and
    ``trained_label_values``."""
    if model.sampler is not None:
        raise ValueError("the model still has a SampNet: freeze its mask (stage 2) before writing the override.")
    from .inference.model import plane_spacing

    spacing = plane_spacing(geometry["spacing"], config) if geometry else None
    kykz = config.sampling.geometry == "kykz"

    return {
        "network_def#matrix": list(model.mask_shape),
        "network_def#image_mode": model.image_mode,
        "network_def#operator": module_node(model.operator, config.physics.coil_radius),
        "network_def#recon": module_node(model.recon),
        "network_def#seg": module_node(model.seg) if model.seg is not None else None,
        "network_def#geometry": config.sampling.geometry,
        "readout_axis": int(config.sampling.readout_axis) if kykz else None,
        "spacing": spacing,
        "n4": bool(config.data.n4),
        "modality": config.data.modality,
        "trained_label_values": [int(v) for v in get_label_scheme(config.data.label_scheme).raw_values()],
    }


def write_inference_override(models_dir: str | Path, override: dict[str, Any]) -> Path:
    path = Path(models_dir) / OVERRIDE_NAME
    atomic_write_text(path, json.dumps(override, indent=2) + "\n")
    return path


def load_weights(network: nn.Module, models_dir: str | Path, debug: bool = False) -> nn.Module:
    """Load ``models_dir/model.pt`` into ``network`` (inference.json's ``network``); a checkpoint whose tensors
    do not fit the declared network ends the run in one ERROR line that names the first difference and the
    override file (unless ``debug``; see :func:`semunet_monai.inference.one_line_errors`)."""
    from .engines.checkpoint import load_checkpoint
    from .inference.infer import one_line_errors

    def run() -> nn.Module:
        path = Path(models_dir) / "model.pt"
        if not path.is_file():
            raise ValueError(f"{path}: not found; train the bundle first (python -m monai.bundle run training ...).")
        state = load_checkpoint(path)
        ours = {k: tuple(v.shape) for k, v in network.state_dict().items() if isinstance(v, torch.Tensor)}
        theirs = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
        if ours != theirs:
            missing, extra = sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours))
            shapes = [k for k in sorted(set(ours) & set(theirs)) if ours[k] != theirs[k]]
            if shapes:
                detail = f"{shapes[0]} is {theirs[shapes[0]]} in model.pt, {ours[shapes[0]]} in network_def"
            else:
                detail = f"model.pt lacks {missing[:2]}" if missing else f"network_def lacks {extra[:2]}"
            raise ValueError(
                f"{path}: the trained weights do not fit inference.json's network_def ({detail}); layer the file "
                f"training wrote beside it: {LAYERED}, or set the network_def ids to the trained values."
            )
        network.load_state_dict(state)
        logger.info("loaded %s", path)
        return network

    return one_line_errors(run, debug)


def layer_inference_override(bundle_dir: str | Path) -> Path:
    """Write ``bundle_dir/models/inference_override.json`` into ``bundle_dir/configs/inference.json`` (the previous
    file kept as ``inference.json.bak``). MONAI Label's BundleInferTask reads ``configs/inference.json`` alone, so a
    deployed copy of a bundle trained with other settings than the defaults needs them there; keep the repository's
    own bundle layered on the command line instead."""
    from monai.bundle import ConfigParser

    bundle_dir = Path(bundle_dir)
    config_path, override_path = bundle_dir / "configs" / "inference.json", bundle_dir / "models" / OVERRIDE_NAME
    for path in (config_path, override_path):
        if not path.is_file():
            raise ValueError(f"{path}: not found (train the bundle first; the override is written beside model.pt).")
    parser = ConfigParser()
    parser.read_config(str(config_path))
    for key, value in json.loads(override_path.read_text()).items():
        parser[key] = value
    original = config_path.read_text()
    atomic_write_text(config_path.with_name("inference.json.bak"), original)
    atomic_write_text(config_path, json.dumps(parser.config, indent=4) + "\n")
    return config_path
