"""Experiment configuration: typed sections, YAML presets in ``configs/`` and strict validation.

The design card has pyyaml but no schema library, so the few lines that check keys and types live here: an unknown
key or a value of the wrong type is an error that names the key (``train.epochs``) and the file.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import logging
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "DataConfig",
    "ModelConfig",
    "SamplingConfig",
    "TrainConfig",
    "ExperimentConfig",
    "PRESETS",
    "preset_path",
    "load_config",
    "read_yaml",
    "config_from_dict",
]

PRESETS = ("tiny", "cpu", "paper")

logger = logging.getLogger(__name__)


@dataclass
class DataConfig:
    """Where the data comes from and how it is prepared (``root: null`` uses the embedded demo dataset)."""

    root: str | None = None
    layout: str | None = None
    modality: str = "T1"
    label_scheme: str | dict[int, int] = "paper7"  # a name, or a custom mapping raw value -> class
    spatial_size: int = 240
    n_test: int = 1
    n_val: int = 1
    folds: int | None = None
    fold: int = 0
    split_seed: int = 0
    n4: bool = False
    cache: str = "memory"
    cache_dir: str | None = None
    min_foreground: float = 0.0
    demo_subjects: int = 5
    demo_generator: str = "mni152"  # mni152 (real anatomy) | phantom (every MRBrainS label, lesions)
    demo_seed: int = 0
    demo_dir: str | None = None


@dataclass
class ModelConfig:
    """Network widths and image layout (``recon_features``/``seg_features``: each network's own widths, None for
    ``features``; the bundle records a ``network_def`` override of either here).

    ``recon``: ``unet`` (the paper's BasicUNet on the zero-filled image) or ``varnet`` (an end-to-end VarNet on the
    masked k-space, :class:`~semunet_monai.networks.varnet.VarNetRecon`, with ``varnet_cascades`` cascades of
    ``varnet_features`` ComplexUnets and coil sensitivities estimated by a ``varnet_sens_features`` ComplexUnet from
    the centre ``varnet_calib`` x ``varnet_calib`` k-space square)."""

    features: str | list[int] = "small"
    recon_features: str | list[int] | None = None
    seg_features: str | list[int] | None = None
    image_mode: str = "magnitude"
    recon: str = "unet"
    varnet_cascades: int = 4
    varnet_features: str | list[int] = "tiny"
    varnet_sens_features: str | list[int] = "tiny"
    varnet_calib: int = 8
    mdrecon_cascades: int = 5
    mdrecon_features: int = 32


@dataclass
class SamplingConfig:
    """The k-space budget and how the mask is made (fixed ``mask_kind`` or learned SampNet).

    ``geometry``: ``2d`` (a pixel mask per axial slice, the paper's), ``lines`` (phase-encode lines, playable by a
    2-D multi-slice scan) or ``kykz`` (one pixel mask over the (ky, kz) phase-encode plane of a 3-D Cartesian scan,
    shared by every read-out position; the networks then see the planes across ``readout_axis``, the volume axis
    read out: 0, 1 or 2 of the RAS-oriented volume)."""

    rate: float = 0.1
    geometry: str = "2d"
    readout_axis: int = 0
    mask_kind: str = "gaussian"
    mask_seed: int = 0
    acs: float | None = None
    slope_prob: float = 5.0
    slope_sample: float = 12.0
    init: str = "uniform"
    straight_through: bool = False
    mask_lr: float = 1e-2


@dataclass
class TrainConfig:
    """Optimisation schedule (paper: Adam, lr 1e-4, batch 12, 600 + 500 epochs, lambda 0.1)."""

    method: str = "semunet"
    epochs: int = 600
    finetune_epochs: int = 500
    batch_size: int = 12
    lr: float = 1e-4
    lam: float = 0.1
    seg_loss: str = "ce"
    val_every: int = 10
    key_metric: str = "mean_dice"
    seed: int = 0
    num_workers: int = 0
    device: str = "auto"
    precision: str = "auto"  # fp32 | bf16 | fp16 | auto (bf16 where the device has it); see semunet_monai.precision
    threads: int | None = None
    # the phases trained, each a mapping of semunet_monai.engines.methods.Phase's fields; null: the method's own
    schedule: list[dict] | None = None


@dataclass
class PhysicsConfig:
    """What the k-space data is (``model.image_mode`` stays what the network sees; see
    :mod:`semunet_monai.transforms.physics`).

    ``mode``: ``magnitude`` (the paper's: k-space of the magnitude image, Hermitian-symmetric), ``complex`` (the
    image gets a smooth seeded phase of up to ``max_phase`` radians, a polynomial of degree ``phase_degree``) or
    ``multicoil`` (also ``coils`` birdcage sensitivities at ``coil_radius`` half fields of view, rotated per
    subject). ``seed`` makes the simulation differ between datasets; every method of a grid sees the same one.
    """

    mode: str = "magnitude"
    coils: int = 8
    coil_radius: float = 1.5
    max_phase: float = 3.141592653589793
    phase_degree: int = 2
    seed: int = 0


@dataclass
class ExperimentConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    physics: PhysicsConfig = field(default_factory=PhysicsConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def preset_path(name: str) -> Path:
    """Path of a packaged preset (``tiny``, ``cpu``, ``paper``)."""
    if name not in PRESETS:
        raise ValueError(f"argument 'preset' must be one of {PRESETS}, got {name!r}.")
    return Path(str(importlib.resources.files("semunet_monai.presets") / f"{name}.yaml"))


def _type_ok(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin is dict:
        kt, vt = typing.get_args(annotation)
        return isinstance(value, dict) and all(_type_ok(k, kt) and _type_ok(v, vt) for k, v in value.items())
    if origin is list:
        (inner,) = typing.get_args(annotation)
        return isinstance(value, list) and all(_type_ok(v, inner) for v in value)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def _int_keys(value: Any, annotation: Any) -> Any:
    """JSON has string keys only: where the annotation admits ``dict[int, ...]``, ``{"3": 2}`` reads as ``{3: 2}``."""
    options = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else ()
    wants_int_keys = any(typing.get_origin(a) is dict and typing.get_args(a)[0] is int for a in (annotation, *options))
    if not (wants_int_keys and isinstance(value, dict)):
        return value
    return {int(k) if isinstance(k, str) and k.lstrip("-").isdigit() else k: v for k, v in value.items()}


def _update(section: Any, values: Any, prefix: str, source: str) -> None:
    if not isinstance(values, dict):
        raise ValueError(f"{source}: '{prefix}' must be a mapping of keys to values, got {type(values).__name__}.")
    hints = typing.get_type_hints(type(section))
    for key, value in values.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if key not in hints:
            raise ValueError(f"{source}: unknown key '{name}' (known: {sorted(hints)}).")
        current = getattr(section, key)
        if dataclasses.is_dataclass(current):
            _update(current, value, name, source)
            continue
        value = _int_keys(value, hints[key])
        if not _type_ok(value, hints[key]):
            raise ValueError(
                f"{source}: key '{name}' must be of type {getattr(hints[key], '__name__', hints[key])}, "
                f"got {value!r} ({type(value).__name__})."
            )
        setattr(section, key, float(value) if hints[key] is float else value)


def _deprecated_amp(values: Any, source: str) -> Any:
    """``train.amp`` (a bool, before ``train.precision``) read as ``precision: auto`` (true) or ``fp32`` (false)."""
    train = values.get("train") if isinstance(values, dict) else None
    if not isinstance(train, dict) or "amp" not in train:
        return values
    train = dict(train)
    amp = train.pop("amp")
    if not isinstance(amp, bool):
        raise ValueError(f"{source}: key 'train.amp' must be of type bool, got {amp!r} ({type(amp).__name__}).")
    if "precision" in train:
        raise ValueError(f"{source}: give 'train.precision' only; 'train.amp' is its deprecated alias.")
    train["precision"] = "auto" if amp else "fp32"
    logger.warning("%s: 'train.amp' is deprecated; read as train.precision: %s", source, train["precision"])
    return {**values, "train": train}


def config_from_dict(values: dict, base: ExperimentConfig | None = None, source: str = "config") -> ExperimentConfig:
    """Apply nested ``values`` onto ``base`` (defaults if None) with key and type checks (``train.amp`` is read as
    the deprecated alias of ``train.precision``)."""
    base = base if base is not None else ExperimentConfig()
    values = _deprecated_amp(values, source)
    sections = ("data", "model", "sampling", "train", "physics")
    config = ExperimentConfig(**{k: dataclasses.replace(getattr(base, k)) for k in sections})  # a copy
    _update(config, values or {}, "", source)
    return config


def read_yaml(path: Path) -> dict:
    """The mapping in a YAML config file; errors name the file."""
    if not path.is_file():
        raise ValueError(f"{path}: config file not found.")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err}).") from err
    if values is not None and not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping at the top level, got {type(values).__name__}.")
    return values or {}


def load_config(
    preset: str | None = "cpu", config_file: str | Path | None = None, overrides: dict | None = None
) -> ExperimentConfig:
    """Preset, then a user's YAML on top, then explicit overrides (e.g. from the command line).

    Args:
        preset: packaged preset name or None (defaults, i.e. the paper's settings).
        config_file: a user's YAML file with the same sections (``data``, ``model``, ``sampling``, ``train``).
        overrides: nested dictionary applied last.
    """
    config = ExperimentConfig()
    if preset is not None:
        path = preset_path(preset)
        config = config_from_dict(read_yaml(path), config, source=str(path))
    if config_file is not None:
        config = config_from_dict(read_yaml(Path(config_file)), config, source=str(config_file))
    if overrides:
        config = config_from_dict(overrides, config, source="overrides")
    return config
