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
from .config import ExperimentConfig, config_from_dict, load_config, read_yaml
from .data.labels import get_label_scheme
from .engines.builders import build_model
from .engines.checkpoint import load_checkpoint, save_atomic
from .keys import Keys
from .names import GEOMETRIES
from .networks.semunet import SemuNet
from .networks.varnet import VarNetRecon
from .precision import autocast, check_precision, resolve_precision

__all__ = [
    "experiment",
    "build_experiment",
    "train_bundle",
    "evaluate_bundle",
    "BundleNetwork",
    "TrainingNetwork",
    "training_network",
    "load_bundle_network",
]

logger = logging.getLogger(__name__)

CONFIG_NAME = "experiment.json"
OUTPUTS = ("seg", "recon", "both", "stacked")


def experiment(*args, debug: bool = False, **kwargs) -> ExperimentConfig:
    """train.json's ``experiment``: :func:`build_experiment`, its settings checked as ``semunet-monai train`` checks
    them. Unless ``debug``, a bad setting ends the run in one ERROR line naming it and ``SystemExit(1)``, before any
    network is built (MONAI would wrap a ``ValueError`` raised while parsing in a long traceback)."""
    from .engines.workflow import check_settings
    from .inference.infer import one_line_errors

    def build() -> ExperimentConfig:
        config = build_experiment(*args, **kwargs)
        check_settings(config)
        return config

    return one_line_errors(build, debug)


def build_experiment(
    preset: str = "cpu",
    dataset_dir: str | None = None,
    config_file: str | None = None,
    device: str | None = None,
    train_items: list[dict] | None = None,
    max_epochs: int | None = None,
    models_dir: str | None = None,
    **overrides: Any,
) -> ExperimentConfig:
    """The experiment of a bundle run: ``preset``, then ``config_file``, then the bundle's top-level overrides.

    Args:
        preset: ``tiny``, ``cpu`` or ``paper``.
        dataset_dir: dataset folder or datalist; None uses the embedded demo data.
        config_file: optional user YAML.
        device: ``auto``, ``cpu``, ``cuda`` (a torch.device is accepted too).
        train_items: ``[{"image", "label"}]`` items given directly (MONAI Label's ``train#dataset#data``, which
            train.json's ``datalist`` node takes as the split): their labels are taken as class indices already
            (identity label mapping). Nothing is written here: the run folder records the datalist it trained on.
        max_epochs: MONAI Label's ``train#trainer#max_epochs``: the epochs of the whole run, split between the main
            and the fine-tuning phases in the preset's proportion (at least 1 main epoch; 1 gives no fine-tuning).
        models_dir: the bundle's ``models/``. When training from given items (MONAI Label) and it holds a trained
            ``experiment.json``, that experiment is the starting point instead of the preset, so the retrained
            network keeps the architecture the running server infers with.
        overrides: flat names routed to their section: ``method``, ``epochs``, ``finetune_epochs``,
            ``batch_size``, ``lr``, ``seed``, ``val_every``, ``precision`` (train); ``rate``, ``mask_kind``,
            ``geometry`` (sampling); ``spatial_size``, ``modality``, ``label_scheme`` (data); ``features`` (model);
            ``physics`` (physics.mode) and ``coils`` (physics). None values are ignored.
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
            "schedule",
        ),
        "sampling": ("rate", "mask_kind", "geometry", "acs", "init", "mask_lr"),
        "data": ("spatial_size", "modality", "label_scheme", "demo_subjects", "demo_generator", "demo_dir"),
        "model": ("features",),
        "physics": ("physics", "coils"),  # the id "physics" is physics.mode
    }
    nested: dict[str, dict[str, Any]] = {name: {} for name in sections}
    for key, value in overrides.items():
        if key == "physics" and value is not None:
            nested["physics"]["mode"] = value
            continue
        section = next((name for name, keys in sections.items() if key in keys), None)
        if section is None:
            known = sorted(k for keys in sections.values() for k in keys)
            raise ValueError(f"bundle override {key!r} is not known (known: {known}).")
        if value is not None:
            nested[section][key] = value
    if dataset_dir is not None:
        nested["data"]["root"] = str(dataset_dir)
    saved = Path(models_dir) / CONFIG_NAME if models_dir is not None else None
    if train_items and saved is not None and saved.is_file():  # MONAI Label retrains the bundle's own network
        start = config_from_dict(json.loads(saved.read_text()), source=str(saved))
        if config_file is not None:
            start = config_from_dict(read_yaml(Path(config_file)), start, source=str(config_file))
        logger.info("training from given items starts from the trained experiment %s", saved)
    else:
        start = load_config(preset, config_file)
    if max_epochs is not None:
        nested["train"]["epochs"], nested["train"]["finetune_epochs"] = _split_epochs(
            int(max_epochs), config_from_dict({"train": dict(nested["train"])}, start, source="bundle overrides")
        )
    if train_items:  # MONAI Label's datastore labels are class indices (the bundle's channel_def)
        nested["data"].setdefault("label_scheme", {i: i for i in range(8)})
    if device is not None:
        nested["train"]["device"] = str(device)
    return config_from_dict(nested, start, source="bundle overrides")


class TrainingNetwork(nn.Module):
    """The network train.json trains, as ``network``: the SemuNet of the experiment (with its SampNet for learned
    masks) as ``.model``, so its state-dict keys (``model.recon...``) match the bundle's ``models/model.pt`` and a
    ``CheckpointLoader`` in ``train#handlers`` (MONAI Label's ``pretrained`` warm start) loads into it."""

    def __init__(self, model: SemuNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor) -> Tensor:
        return self.model(image).seg


def call_node(node, node_id: str):
    """A config node given in callable mode (a partial), called; a module given as such is returned as it is. A
    bad setting (``ValueError``, or ``TypeError`` for an unknown keyword) is re-raised as a ``ValueError`` that
    names the node's id (``network_def#recon: ...``), which :func:`~semunet_monai.inference.one_line_errors`
    turns into one line: MONAI would wrap it in a traceback of its config machinery."""
    if node is None or isinstance(node, nn.Module) or not callable(node):
        return node
    try:
        return node()
    except (ValueError, TypeError) as err:
        raise ValueError(f"{node_id}: {err}") from err


def training_network(
    experiment: ExperimentConfig, recon=None, seg=None, varnet=None, debug: bool = False
) -> TrainingNetwork:
    """``network_def`` of train.json: the method's SemuNet at the experiment's spatial size, composed of ``recon``
    (or ``varnet`` when ``model.recon`` is ``varnet``) and ``seg`` (train.json's nested ``network_def#recon``,
    ``network_def#varnet`` and ``network_def#seg`` nodes, in callable mode; None builds them from the experiment).

    The nodes are called here, under the experiment's seed (``train.seed``, the global RNG state is restored), in
    the order the command line builds them, so the bundle's initial weights are reproducible and equal to
    ``semunet-monai train``'s. A bad node setting ends the run in one ERROR line naming its id, unless ``debug``."""
    from .inference.infer import one_line_errors

    def build() -> TrainingNetwork:
        size = (experiment.data.spatial_size,) * 2
        num_classes = get_label_scheme(experiment.data.label_scheme).num_classes
        varnet_used = experiment.model.recon == "varnet"
        with torch.random.fork_rng():
            torch.manual_seed(experiment.train.seed)
            seg_ = call_node(seg, "network_def#seg")  # build_model's order: seg first
            recon_ = call_node(varnet if varnet_used else recon, f"network_def#{'varnet' if varnet_used else 'recon'}")
            try:
                return TrainingNetwork(build_model(experiment, num_classes, size, recon=recon_, seg=seg_))
            except ValueError as err:
                raise ValueError(f"network_def: {err}") from err

    return one_line_errors(build, debug)


def record_network(config: ExperimentConfig, model: SemuNet, optimizer=None) -> ExperimentConfig:
    """``config`` with what ``network_def`` and ``optimizer`` set written into it (``model.recon_features`` or
    the VarNet's ``model.varnet_*``, ``model.seg_features``, ``train.lr``), so that the run's config.yaml and the
    published experiment.json rebuild this very network for inference. Raises ``ValueError`` when the network
    differs from what the recorded config rebuilds (a setting the experiment cannot hold, such as a BasicUNet
    activation)."""
    values: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    if isinstance(model.recon, VarNetRecon):
        values["model"].update(
            varnet_cascades=len(model.recon.varnet.cascades),
            varnet_features=[int(f) for f in model.recon.features],
            varnet_sens_features=[int(f) for f in model.recon.sens_features],
            varnet_calib=int(model.recon.varnet.coil_sensitivity_model.calib),
        )
    else:
        features = getattr(model.recon, "features", None)
        if features is not None:
            values["model"]["recon_features"] = [int(f) for f in features]
    features = getattr(model.seg, "features", None)
    if features is not None:
        values["model"]["seg_features"] = [int(f) for f in features]
    lr = getattr(optimizer, "keywords", {}).get("lr") if optimizer is not None else None
    if lr is not None:
        values["train"]["lr"] = float(lr)
    recorded = config_from_dict(values, config, source="network_def")
    rebuilt = build_model(recorded, get_label_scheme(recorded.data.label_scheme).num_classes, model.mask_shape)
    ours = {k: tuple(getattr(v, "shape", ())) for k, v in model.state_dict().items()}  # SampNet's extra state: a dict
    theirs = {k: tuple(getattr(v, "shape", ())) for k, v in rebuilt.state_dict().items()}
    if ours != theirs or str(rebuilt) != str(model):
        raise ValueError(
            "network_def: the network differs from what the recorded experiment rebuilds (the bundle records the "
            "ReconNet and SegNet widths only, so inference could not rebuild it); change other settings through "
            "the experiment's ids (preset, config_file, method, rate, ...)."
        )
    return recorded


def record_loss(config: ExperimentConfig, loss) -> ExperimentConfig:
    """``config`` with train.json's ``loss`` node written into it (``train.lam``, ``train.seg_loss``), so the run's
    config.yaml says what was trained; refuses what the experiment cannot record (another reconstruction loss or
    ignore index)."""
    from .data.labels import IGNORE_INDEX
    from .losses import JointLoss

    if not isinstance(loss, JointLoss):
        raise ValueError(f"loss: expected a semunet_monai.losses.JointLoss node, got {type(loss).__name__}.")
    if loss.recon_loss != "l1" or loss.ignore_index != IGNORE_INDEX:
        raise ValueError(
            "loss: the experiment records lam and seg_loss only; recon_loss must stay 'l1' and ignore_index "
            f"{IGNORE_INDEX}, got {loss.recon_loss!r} and {loss.ignore_index!r}."
        )
    return config_from_dict({"train": {"lam": loss.lam, "seg_loss": loss.seg_loss}}, config, source="loss")


def _named_factory(node, node_id: str):
    """A config node in callable mode (a partial), wrapped so that a bad argument (``TypeError``/``ValueError`` when
    a phase calls it) ends in one line naming the node's id; None stays None."""
    if node is None:
        return None
    if not callable(node):
        raise ValueError(f'{node_id}: expected a node in callable mode ("_mode_": "callable"), got {node!r}.')
    target = getattr(node, "func", None)
    if isinstance(target, type):  # refuse unknown arguments now, before the run folder is written
        import inspect

        known = {
            name
            for cls in target.__mro__
            if "__init__" in vars(cls) and cls is not object
            for name, param in inspect.signature(vars(cls)["__init__"]).parameters.items()
            if param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
        }
        unknown = sorted(set(getattr(node, "keywords", {})) - known)
        if unknown:
            raise ValueError(f"{node_id}: {target.__name__} takes no argument(s) {unknown}.")

    def call(*args, **kwargs):
        try:
            return node(*args, **kwargs)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{node_id}: {err}") from err

    return call


def _split_handlers(handlers: list | None, node_id: str = "train#handlers") -> tuple[list, list, list]:
    """``(checkpoint loaders, phase handlers, other handlers)`` of a handlers node; refuses an entry that no engine
    can attach."""
    from monai.handlers import CheckpointLoader

    from .engines.phase_handlers import PhaseHandler

    loaders, phase, others = [], [], []
    for n, handler in enumerate(handlers or []):
        if isinstance(handler, CheckpointLoader):
            loaders.append(handler)
        elif isinstance(handler, PhaseHandler):
            phase.append(handler)
        elif callable(getattr(handler, "attach", None)):
            others.append(handler)
        else:
            raise ValueError(
                f"{node_id}#{n}: expected an Ignite or MONAI handler (an object with attach(engine)), got "
                f"{type(handler).__name__}."
            )
    return loaders, phase, others


def _warm_start(loaders: list, network: TrainingNetwork | None) -> None:
    """Run the ``CheckpointLoader`` handlers of ``train#handlers`` into ``network``, which training then starts from;
    refuse loaders that load no ReconNet or SegNet weight."""
    if not loaders:
        return
    from ignite.engine import Engine

    if network is None:
        raise ValueError("train#handlers holds a CheckpointLoader but no 'network' was given to train_bundle.")
    before = {k: v.clone() for k, v in network.model.state_dict().items() if isinstance(v, torch.Tensor)}
    for loader in loaders:
        loader(Engine(lambda engine, batch: None))
        logger.info("warm start from %s", loader.load_path)
    after = network.model.state_dict()
    changed = [k for k, v in before.items() if k.startswith(("recon.", "seg.")) and not torch.equal(v, after[k])]
    if not changed:
        paths = ", ".join(str(h.load_path) for h in loaders)
        raise ValueError(
            f"warm start: {paths} loaded no ReconNet or SegNet weight into the network (its keys must be the bundle's "
            f"'model.recon...', 'model.seg...', as in models/model.pt; a training run's model.pt has no 'model.' "
            f"prefix)."
        )
    logger.info("warm start: %d ReconNet/SegNet tensors loaded", len(changed))


def _split_epochs(total: int, config: ExperimentConfig) -> tuple[int, int]:
    """``(epochs, finetune_epochs)`` whose whole run (every phase of the method, a SegNet-only phase counting
    ``epochs + finetune_epochs``) lasts at most ``total`` epochs, in the config's proportion (at least 1 main
    epoch: a method whose shortest run is longer says so in a warning)."""
    from .engines.methods import config_phases

    if total < 1:
        raise ValueError(f"max_epochs (train#trainer#max_epochs) must be at least 1, got {total!r}.")
    phases = config_phases(config)
    length = lambda e, f: sum(p.num_epochs(e, f) for p in phases)  # noqa: E731
    e0, f0 = config.train.epochs, config.train.finetune_epochs
    scale = total / max(length(e0, f0), 1)
    main, fine = max(1, round(e0 * scale)), max(0, round(f0 * scale))
    while length(main, fine) > total and (fine > 0 or main > 1):
        if fine > 0 and (main == 1 or fine * e0 >= main * f0):  # trim whichever is above its share
            fine -= 1
        else:
            main -= 1
    if length(main, fine) > total:
        logger.warning(
            "max_epochs %d: method %s trains at least %d epochs", total, config.train.method, length(main, fine)
        )
    return main, fine


def train_bundle(
    config: ExperimentConfig,
    run_dir: str | Path,
    models_dir: str | Path,
    resume: bool = False,
    handlers: list | None = None,
    network: TrainingNetwork | None = None,
    optimizer=None,
    loss=None,
    debug: bool = True,
    datalist: dict | None = None,
    datasets: dict | None = None,
    dataloaders: dict | None = None,
    preprocessing=None,
    val_handlers: list | None = None,
    trainer=None,
    evaluator=None,
) -> dict:
    """Train ``config`` into ``run_dir`` and publish the result in ``models_dir``: ``model.pt`` (the SemuNet state
    dict, with the boolean mask as ``operator.mask``), ``experiment.json`` (the configuration inference rebuilds the
    network from) and ``mask.{npy,nii.gz,png,json}``.

    ``network`` (train.json's ``network``) is the network trained, and ``optimizer`` (train.json's ``optimizer``
    node in callable mode: a partial) makes each phase's optimiser; both are recorded into the experiment
    (:func:`record_network`).
    ``handlers`` (``train#handlers``) may hold ``CheckpointLoader`` objects loading into ``network``: training then
    starts from those ReconNet and SegNet weights (a warm start). Its other handlers are attached to every phase's
    trainer, and those of ``val_handlers`` (``validate#handlers``) to every phase's evaluator, beside the package's
    own (validation, metrics table, checkpoints, TensorBoard).
    ``datalist`` and ``datasets`` (``{"train", "val", "test"}``: train.json's ``datalist``, ``train#dataset``,
    ``validate#dataset`` and ``test#dataset``, :mod:`semunet_monai.bundle_data`) are the data trained on, and
    ``dataloaders`` (``{"train", "val"}``: ``DataLoader`` partials, ``train#dataloader`` and ``validate#dataloader``)
    make the loaders; the training loader's ``batch_size`` and ``num_workers``, and the settings of
    ``preprocessing`` (``train#preprocessing``, the volume transforms the datasets were made with) are recorded into
    the experiment. Without them the data come from ``config.data``, as with ``semunet-monai train``.
    ``trainer`` and ``evaluator`` (``train#trainer``, ``validate#evaluator``: ``SemuNetTrainer`` and
    ``SemuNetEvaluator`` nodes in callable mode) make each phase's engines; the phase sets their device, epochs,
    loader, network, optimiser, loss and metric, and the node's other keyword arguments (``epoch_length``,
    ``train_handlers``, ...) add to them. ``train#trainer#max_epochs`` is the whole run's budget (see
    :func:`build_experiment`); each phase replaces it with its own epochs.

    Unless ``debug``, an expected failure (bad settings, data or checkpoint) ends the run in one ERROR line and
    ``SystemExit(1)`` (see :func:`semunet_monai.inference.one_line_errors`); train.json passes its ``debug`` id."""
    from .inference.infer import one_line_errors

    nodes = {
        "datalist": datalist,
        "datasets": datasets,
        "dataloaders": dataloaders,
        "preprocessing": preprocessing,
        "val_handlers": val_handlers,
        "trainer": trainer,
        "evaluator": evaluator,
    }
    return one_line_errors(
        lambda: _train_bundle(config, run_dir, models_dir, resume, handlers, network, optimizer, loss, **nodes), debug
    )


def _train_bundle(
    config,
    run_dir,
    models_dir,
    resume,
    handlers,
    network,
    optimizer,
    loss=None,
    datalist=None,
    datasets=None,
    dataloaders=None,
    preprocessing=None,
    val_handlers=None,
    trainer=None,
    evaluator=None,
) -> dict:
    from .bundle_data import record_loader, record_preprocessing
    from .engines.distributed import is_main
    from .engines.rundata import run_data
    from .engines.workflow import train

    warm, phase_handlers, handlers = _split_handlers(handlers)  # train() checks the phase handlers
    refused, refused_phase, val_handlers = _split_handlers(val_handlers, "validate#handlers")
    if refused or refused_phase:
        raise ValueError(
            "validate#handlers: CheckpointLoaders and phase handlers (semunet_monai.engines.phase_handlers) go in "
            "train#handlers."
        )
    _warm_start(warm, network)  # the loaders write into network.model, the model train() then trains
    model = network.model if network is not None else None
    if model is not None:
        config = record_network(config, model, optimizer)
    if loss is not None:
        config = record_loss(config, loss)
    data = None
    if datasets is not None:
        if datalist is None:
            raise ValueError("train_bundle: 'datasets' need the 'datalist' they were made from.")
        if getattr(datalist, "given", False):
            # given items (MONAI Label): the run's config points at the datalist the run folder records
            config = config_from_dict(
                {"data": {"root": str(Path(run_dir) / "datalist.json")}}, config, source="datalist"
            )
        parts = {"train": datalist["training"], "val": datalist["validation"], "test": datalist["test"]}
        data = run_data(config, datasets.get("train"), datasets.get("val"), datasets.get("test"), parts)
    if preprocessing is not None:
        config = record_preprocessing(config, preprocessing)
    loaders = dataloaders or {}
    if loaders.get("train") is not None:
        config = record_loader(config, loaders["train"])
    results = train(
        config,
        run_dir,
        resume=resume,
        model=model,
        optimizer_factory=_named_factory(optimizer, "optimizer"),
        loss_fn=loss,
        data=data,
        loader_factory=_named_factory(loaders.get("train"), "train#dataloader"),
        val_loader_factory=_named_factory(loaders.get("val"), "validate#dataloader"),
        handlers=handlers,
        val_handlers=val_handlers,
        phase_handlers=phase_handlers,
        trainer_factory=_named_factory(trainer, "train#trainer"),
        evaluator_factory=_named_factory(evaluator, "validate#evaluator"),
    )
    if not is_main():
        return results  # rank 0 publishes the model
    run_dir, models_dir = Path(run_dir), Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    # keys as in network_def (a BundleNetwork holding the SemuNet as .model), for MONAI's CheckpointLoader/MONAI Label
    state = {f"model.{k}": v for k, v in load_checkpoint(run_dir / "model.pt").items()}
    save_atomic(state, models_dir / "model.pt")
    atomic_write_text(models_dir / CONFIG_NAME, json.dumps(config.to_dict(), indent=2))
    for path in sorted((run_dir / "mask").glob("mask*")) + [run_dir / "geometry.json"]:
        if path.is_file():
            atomic_copy(path, models_dir / path.name)
    from .bundle_network import inference_override, write_inference_override
    from .inference.model import read_geometry

    trained = load_bundle_network(models_dir, weights=True).model
    write_inference_override(models_dir, inference_override(trained, config, read_geometry(run_dir)))
    logger.info("bundle model written to %s", models_dir)
    return results


def evaluate_bundle(
    config: ExperimentConfig, models_dir: str | Path, output_dir: str | Path, dataset=None, datalist=None
) -> dict:
    """Score the bundle's trained network on the test subjects of ``config``'s split (the same split training
    used; or ``dataset``, evaluate.json's ``test#dataset``, made from ``datalist``'s ``test`` items): writes
    ``metrics.json`` and ``metrics.csv`` (per subject and mean PSNR, SSIM, Dice) into ``output_dir``."""
    from .data.layouts import SUBJECT
    from .engines.handlers import save_json_atomic
    from .engines.workflow import evaluate, prepare_data, resolve_device, write_table

    device = resolve_device(config.train.device)
    network = load_bundle_network(models_dir, weights=True).to(device)
    if dataset is None and datalist is None:
        data = prepare_data(config)
        dataset, subjects = data.test, data.split["test"]
    else:
        subjects = sorted({str(it[SUBJECT]) for it in (datalist or {}).get("test", [])})
    if dataset is None:
        raise ValueError("the experiment's split has no test subjects to evaluate.")
    results = evaluate(network.model, dataset, config, get_label_scheme(config.data.label_scheme), device)
    results["subjects"] = subjects
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
        geometry: the ``sampling.geometry`` the model was trained with. A ``kykz`` model's mask is the (ky, kz)
            plane of a 3-D scan: its inputs are the planes across the read-out (inference's preprocessing cuts a
            scan into them, ``readout_axis``), and k-space files are read as 3-D k-space
            (:func:`semunet_monai.bundle_kspace.infer_kspace`).
    """

    def __init__(
        self,
        model: SemuNet,
        outputs: str = "seg",
        precision: str = "fp32",
        compile: bool = False,
        geometry: str = "2d",
    ) -> None:
        super().__init__()
        if outputs not in OUTPUTS:
            raise ValueError(f"argument 'outputs' must be one of {OUTPUTS}, got {outputs!r}.")
        if geometry not in GEOMETRIES:
            raise ValueError(f"argument 'geometry' must be one of {GEOMETRIES}, got {geometry!r}.")
        self.geometry = geometry
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

    ``models_dir`` may also be a ``semunet-monai train`` run folder (``config.yaml`` + ``model.pt``, whose keys have
    no ``model.`` prefix). Without weights (e.g. to verify the network's input/output shapes) a mask of ``shape``
    (default the experiment's spatial size) stands in. ``precision`` as in :class:`BundleNetwork`.
    """
    models_dir = Path(models_dir)
    cfg_path = models_dir / CONFIG_NAME
    run_cfg = models_dir / "config.yaml"
    if cfg_path.is_file():
        config = config_from_dict(json.loads(cfg_path.read_text()), source=str(cfg_path))
    elif run_cfg.is_file():
        import yaml

        config = config_from_dict(yaml.safe_load(run_cfg.read_text()), source=str(run_cfg))
    elif weights:
        raise ValueError(f"{cfg_path}: not found; train the bundle first (python -m monai.bundle run training ...).")
    else:
        config = load_config("cpu")
    state = load_checkpoint(models_dir / "model.pt") if weights else None
    if state is not None and not any(k.startswith("model.") for k in state):  # a run folder's SemuNet keys
        state = {f"model.{k}": v for k, v in state.items()}
    mask = state.get("model.operator.mask") if state is not None else None
    if state is not None and mask is None:
        raise ValueError(f"{models_dir / 'model.pt'}: no fixed mask in the state dict (was training finished?).")
    size = tuple(mask.shape) if mask is not None else (shape or (config.data.spatial_size,) * 2)
    model = build_model(config, get_label_scheme(config.data.label_scheme).num_classes, size)
    if model.sampler is not None:
        model.freeze_mask()
    network = BundleNetwork(model.eval(), outputs, precision, geometry=config.sampling.geometry)
    if state is not None:
        network.load_state_dict(state)
    return network
