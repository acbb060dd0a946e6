"""What the MONAI Bundle in ``bundle/`` calls by dotted path: building the experiment from bundle overrides, the
training entry point, and network wrappers with the input/output contract of MONAI's bundle tools.

``network_def`` must take ``image`` and return one tensor ``pred`` (``verify_net_in_out``; MONAI Label keeps one
output), so :class:`BundleNetwork` exposes the segmentation logits by default and both outputs as a dictionary for
the bundle's own inference.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .atomic import atomic_copy, atomic_write_text
from .compile import CompiledForward
from .config import ExperimentConfig, config_from_dict, load_config
from .data.labels import get_label_scheme
from .data.layouts import strip_suffix
from .engines.builders import build_model
from .engines.checkpoint import load_checkpoint, save_atomic
from .keys import Keys
from .networks.semunet import SemuNet
from .precision import autocast, check_precision, resolve_precision

__all__ = ["experiment", "train_bundle", "evaluate_bundle", "BundleNetwork", "load_bundle_network", "inference_inputs"]

logger = logging.getLogger(__name__)

CONFIG_NAME = "experiment.json"
OUTPUTS = ("seg", "recon", "both", "stacked")
INPUT_SUFFIXES = (".nii", ".nii.gz")


def experiment(
    preset: str = "cpu",
    dataset_dir: str | None = None,
    config_file: str | None = None,
    device: str | None = None,
    train_items: list[dict] | None = None,
    val_items: list[dict] | None = None,
    datalist_path: str | None = None,
    max_epochs: int | None = None,
    **overrides: Any,
) -> ExperimentConfig:
    """The experiment of a bundle run: ``preset``, then ``config_file``, then the bundle's top-level overrides.

    Args:
        preset: ``tiny``, ``cpu`` or ``paper``.
        dataset_dir: dataset folder or datalist; None uses the embedded demo data.
        config_file: optional user YAML.
        device: ``auto``, ``cpu``, ``cuda`` (a torch.device is accepted too).
        train_items, val_items: ``[{"image", "label"}]`` lists given directly (MONAI Label's ``train#dataset#data``
            and ``validate#dataset#data``). They are written to ``datalist_path`` as a datalist whose sections fix
            the split; their labels are taken as class indices already (identity label mapping).
        datalist_path: where that datalist goes.
        max_epochs: MONAI Label's ``train#trainer#max_epochs``; sets the epochs of the main phases.
        overrides: flat names routed to their section: ``method``, ``epochs``, ``finetune_epochs``,
            ``batch_size``, ``lr``, ``seed``, ``val_every``, ``precision`` (train); ``rate``, ``mask_kind``,
            ``geometry`` (sampling); ``spatial_size``, ``modality``, ``label_scheme`` (data); ``features`` (model).
            None values are ignored.
    """
    sections = {
        "train": (
            "method",
            "epochs",
            "finetune_epochs",
            "batch_size",
            "lr",
            "seed",
            "val_every",
            "lam",
            "threads",
            "precision",
        ),
        "sampling": ("rate", "mask_kind", "geometry", "acs", "init", "mask_lr"),
        "data": ("spatial_size", "modality", "label_scheme", "demo_subjects", "demo_generator", "demo_dir"),
        "model": ("features",),
    }
    nested: dict[str, dict[str, Any]] = {name: {} for name in sections}
    for key, value in overrides.items():
        section = next((name for name, keys in sections.items() if key in keys), None)
        if section is None:
            known = sorted(k for keys in sections.values() for k in keys)
            raise ValueError(f"bundle override {key!r} is not known (known: {known}).")
        if value is not None:
            nested[section][key] = value
    if dataset_dir is not None:
        nested["data"]["root"] = str(dataset_dir)
    if max_epochs is not None:
        nested["train"]["epochs"] = int(max_epochs)
    if train_items:
        if not val_items:
            raise ValueError("bundle training from given items needs validation items too (validate#dataset#data).")
        if datalist_path is None:
            raise ValueError("argument 'datalist_path' is required with train_items.")
        path = Path(datalist_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        entries = [(name, it) for name, items in (("training", train_items), ("validation", val_items)) for it in items]
        stems = [strip_suffix(Path(str(it["image"])).name) for _, it in entries]
        # subject ids: the image names, made unique with their folder where two images share a name
        ids = [
            s if stems.count(s) == 1 else f"{Path(str(it['image'])).parent.name}_{s}"
            for s, (_, it) in zip(stems, entries)
        ]
        if len(set(ids)) != len(ids):
            ids = [f"{i:04d}_{s}" for i, s in enumerate(stems)]
        sections: dict[str, list[dict]] = {"training": [], "validation": []}
        for sid, (name, it) in zip(ids, entries):
            sections[name].append({"image": str(it["image"]), "label": str(it["label"]), "subject": sid})
        path.write_text(json.dumps(sections, indent=2))
        nested["data"]["root"] = str(path)
        nested["data"].setdefault("label_scheme", {i: i for i in range(8)})
    if device is not None:
        nested["train"]["device"] = str(device)
    return load_config(preset, config_file, nested)


def train_bundle(config: ExperimentConfig, run_dir: str | Path, models_dir: str | Path, resume: bool = False) -> dict:
    """Train ``config`` into ``run_dir`` and publish the result in ``models_dir``: ``model.pt`` (the SemuNet state
    dict, with the boolean mask as ``operator.mask``), ``experiment.json`` (the configuration inference rebuilds the
    network from) and ``mask.{npy,nii.gz,png,json}``."""
    from .engines.distributed import is_main
    from .engines.workflow import train

    results = train(config, run_dir, resume=resume)
    if not is_main():
        return results  # rank 0 publishes the model
    run_dir, models_dir = Path(run_dir), Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    # keys as in network_def (a BundleNetwork holding the SemuNet as .model), for MONAI's CheckpointLoader/MONAI Label
    state = {f"model.{k}": v for k, v in load_checkpoint(run_dir / "model.pt").items()}
    save_atomic(state, models_dir / "model.pt")
    atomic_write_text(models_dir / CONFIG_NAME, json.dumps(config.to_dict(), indent=2))
    for path in sorted((run_dir / "mask").glob("mask*")):
        atomic_copy(path, models_dir / path.name)
    logger.info("bundle model written to %s", models_dir)
    return results


def evaluate_bundle(config: ExperimentConfig, models_dir: str | Path, output_dir: str | Path) -> dict:
    """Score the bundle's trained network on the test subjects of ``config``'s split (the same split training
    used): writes ``metrics.json`` and ``metrics.csv`` (per subject and mean PSNR, SSIM, Dice) into ``output_dir``."""
    from .engines.handlers import save_json_atomic
    from .engines.workflow import evaluate, prepare_data, resolve_device, write_table

    device = resolve_device(config.train.device)
    network = load_bundle_network(models_dir, weights=True).to(device)
    data = prepare_data(config)
    if data.test is None:
        raise ValueError("the experiment's split has no test subjects to evaluate.")
    results = evaluate(network.model, data.test, config, data.scheme, device)
    results["subjects"] = data.split["test"]
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_json_atomic(results, out / "metrics.json")
    write_table(results, out / "metrics.csv")
    logger.info("evaluation of %s written to %s: %s", models_dir, out, results["mean"])
    return results


class BundleNetwork(nn.Module):
    """A trained SemuNet behind MONAI's bundle contract: ``(B, 1, H, W)`` fully sampled image in, retrospective
    undersampling with the stored boolean mask inside, segmentation logits ``(B, K, H, W)`` out.

    Args:
        model: a SemuNet with a fixed mask (after stage 2).
        outputs: ``"seg"`` (one tensor: ``pred``), ``"recon"`` (one tensor), ``"both"`` (a dictionary
            ``{"pred": logits, "recon": magnitude}``) or ``"stacked"`` (one tensor ``(B, 1 + K, H, W)``: the
            reconstruction then the logits, split again by :class:`~semunet_monai.transforms.SplitReconSegd`).
        precision: ``fp32``, ``bf16``, ``fp16`` or ``auto`` (see :mod:`semunet_monai.precision`), resolved for the
            input's device at each call; outputs are float32 either way. MONAI's evaluator autocasts to CUDA only,
            so the bundle's inference sets the precision here. Keep ``fp32`` for TorchScript export.
        compile: run the SemuNet through ``torch.compile`` (:class:`~semunet_monai.compile.CompiledForward`: eager
            when no compiler is found or compilation fails). It pays off over many volumes: 47 s to compile on 2
            CPU cores with a cold cache, then 1.6x faster per volume (benchmarks/speed.py).
    """

    def __init__(self, model: SemuNet, outputs: str = "seg", precision: str = "fp32", compile: bool = False) -> None:
        super().__init__()
        if outputs not in OUTPUTS:
            raise ValueError(f"argument 'outputs' must be one of {OUTPUTS}, got {outputs!r}.")
        if model.sampler is not None:
            raise ValueError("argument 'model' still has a SampNet: freeze its mask (stage 2) first.")
        self.model = model
        self.outputs = outputs
        self.precision = check_precision(precision, "precision")
        self.run_model = CompiledForward(model, compile, "compile")

    def forward(self, image: Tensor) -> Tensor | dict[str, Tensor]:
        if self.precision == "fp32":
            out = self.run_model(image)  # no autocast context at all: TorchScript tracing sees plain ops
        else:
            with autocast(image.device, resolve_precision(self.precision, image.device, "precision")):
                out = self.run_model(image)
            out = out._replace(recon=out.recon.float(), seg=out.seg.float() if out.seg is not None else None)
        recon = self.model.magnitude(out.recon)
        if self.outputs == "recon":
            return recon
        seg = out.seg if out.seg is not None else torch.zeros_like(recon)
        if self.outputs == "stacked":
            return torch.cat([recon, seg], dim=1)
        return seg if self.outputs == "seg" else {Keys.PRED: seg, Keys.RECON: recon}


def load_bundle_network(
    models_dir: str | Path,
    outputs: str = "seg",
    shape: tuple[int, int] | None = None,
    weights: bool = True,
    precision: str = "fp32",
) -> BundleNetwork:
    """Rebuild the network from ``models_dir/experiment.json`` (and load ``model.pt`` when ``weights``).

    Without weights (e.g. to verify the network's input/output shapes) a mask of ``shape`` (default the
    experiment's spatial size) stands in. ``precision`` as in :class:`BundleNetwork`.
    """
    models_dir = Path(models_dir)
    cfg_path = models_dir / CONFIG_NAME
    config = config_from_dict(json.loads(cfg_path.read_text()), source=str(cfg_path)) if cfg_path.is_file() else None
    if config is None:
        if weights:
            raise ValueError(
                f"{cfg_path}: not found; train the bundle first (python -m monai.bundle run training ...)."
            )
        config = load_config("cpu")
    state = load_checkpoint(models_dir / "model.pt") if weights else None
    mask = state["model.operator.mask"] if state is not None else None
    size = tuple(mask.shape) if mask is not None else (shape or (config.data.spatial_size,) * 2)
    model = build_model(config, get_label_scheme(config.data.label_scheme).num_classes, size)
    if model.sampler is not None:
        model.freeze_mask()
    network = BundleNetwork(model.eval(), outputs, precision)
    if state is not None:
        network.load_state_dict(state)
    return network


def inference_inputs(
    input_dir: str | None = None,
    input_list: str | None = None,
    output_dir: str = "eval",
    kind: str = "image",
    postfixes: tuple[str, ...] = ("seg", "recon"),
) -> list[dict[str, str]]:
    """The scans to run inference on, with every output checked before anything runs.

    Paths come from a folder (``input_dir``: its ``.nii``/``.nii.gz`` scans and ``.h5``/``.npy`` k-space files) or a
    text file (``input_list``: one path per line, ``#`` comments allowed); they are never handed to MONAI's config
    parser, so a file name that begins with ``$``, ``@`` or ``%`` stays a literal path.

    Args:
        kind: ``"image"`` returns the NIfTI scans as ``[{"image": path}]``; ``"kspace"`` returns the k-space files
            as ``[{"kspace": path, "stem": name}]``. Both kinds are validated together either way.

    Raises ``ValueError`` naming the file for: no input given, a missing folder, list or scan, an unsupported file
    type, two inputs that would write the same output name, and an output that would leave ``output_dir`` or
    overwrite an input.
    """
    from .bundle_kspace import KSPACE_SUFFIXES

    if kind not in ("image", "kspace"):
        raise ValueError(f"argument 'kind' must be 'image' or 'kspace', got {kind!r}.")
    suffixes = INPUT_SUFFIXES + KSPACE_SUFFIXES
    if (input_dir is None) == (input_list is None):
        raise ValueError("give exactly one of 'input_dir' (a folder of scans) or 'input_list' (a text file).")
    if input_dir is not None:
        folder = Path(input_dir)
        if not folder.is_dir():
            raise ValueError(f"input_dir {folder}: not a folder.")
        paths = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(suffixes))
        if not paths:
            raise ValueError(f"input_dir {folder}: no .nii, .nii.gz, .h5 or .npy files found.")
    else:
        listing = Path(str(input_list))
        if not listing.is_file():
            raise ValueError(f"input_list {listing}: file not found.")
        lines = [ln.strip() for ln in listing.read_text().splitlines()]
        paths = [
            Path(ln) if Path(ln).is_absolute() else listing.parent / ln for ln in lines if ln and not ln.startswith("#")
        ]
        if not paths:
            raise ValueError(f"input_list {listing}: lists no scans.")
    out = Path(output_dir).resolve()
    inputs = {p.resolve() for p in paths}
    seen: dict[Path, Path] = {}
    for path in paths:
        if not path.is_file():
            raise ValueError(f"{path}: scan not found.")
        if not path.name.lower().endswith(suffixes):
            raise ValueError(f"{path}: unsupported file type; expected .nii, .nii.gz (images), .h5 or .npy (k-space).")
        for postfix in postfixes:
            target = (out / f"{strip_suffix(path.name)}_{postfix}.nii.gz").resolve()
            if not target.is_relative_to(out):
                raise ValueError(f"{path}: its output {target} would be written outside output_dir {out}.")
            if target in inputs:
                raise ValueError(f"{path}: its output {target} would overwrite an input scan.")
            if target in seen:
                raise ValueError(f"{path} and {seen[target]} would both write {target}; rename one of them.")
            seen[target] = path
    if kind == "image":
        return [{Keys.IMAGE: str(p)} for p in paths if p.name.lower().endswith(INPUT_SUFFIXES)]
    return [
        {Keys.KSPACE: str(p), "stem": strip_suffix(p.name)} for p in paths if p.name.lower().endswith(KSPACE_SUFFIXES)
    ]
