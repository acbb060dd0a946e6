"""Train and evaluate a method end to end: data, phases, validation, checkpoints, resume and the run folder.

Run folder: ``config.yaml``, ``metrics.csv``/``metrics.json`` (one row per validation), ``tb/`` (TensorBoard),
``phases/<i>_<name>/{latest.pt, latest.prev.pt, best.pt, final.pt}``, and at the end ``model.pt`` (the final
SemuNet state dict), ``mask/`` (the fixed or learned boolean mask: npy, NIfTI, PNG, JSON) and
``test_metrics.{json,csv}``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
import yaml
from monai.utils import set_determinism

from ..atomic import atomic_write_text
from ..config import ExperimentConfig, config_from_dict
from ..data.labels import IGNORE_INDEX
from ..keys import Keys
from ..losses import JointLoss
from ..networks.semunet import SemuNet
from ..precision import resolve_precision
from ..sampling.io import save_mask
from .builders import build_model
from .checkpoint import all_finite, load_checkpoint, save_atomic
from .distributed import barrier, is_main, main_first, rank, replicas_agree, world_size
from .evaluation import evaluate, evaluate_folder, load_trained_model, make_loader, write_table
from .handlers import NonFiniteLossError, save_json_atomic
from .methods import config_phases, get_method
from .phase import RunContext, phase_dir, run_phase
from .rundata import RunData, demo_root, ensure_demo_dataset, physics_transform, prepare_data, resolve_device

# re-exported so that ``semunet_monai.engines.workflow`` stays the one place to import a run's entry points from
__all__ = [
    "RunData",
    "demo_root",
    "ensure_demo_dataset",
    "prepare_data",
    "train",
    "evaluate",
    "evaluate_folder",
    "write_table",
    "load_trained_model",
    "resolve_device",
]

logger = logging.getLogger(__name__)


def check_settings(config: ExperimentConfig) -> None:
    """Refuse bad settings before any data is prepared: each error names the config key."""
    from ..data.demo import DEMO_GENERATORS
    from ..names import PHYSICS_MODES, RECON_NETS
    from ..networks.semunet import IMAGE_MODES
    from ..networks.unets import resolve_features
    from ..precision import check_precision
    from ..sampling.common import GEOMETRIES, check_rate
    from ..sampling.masks import MASK_KINDS

    s, m, p = config.sampling, config.model, config.physics
    method = get_method(config.train.method)
    config_phases(config)  # train.schedule, checked against the method
    if p.mode not in PHYSICS_MODES:
        raise ValueError(f"physics.mode must be one of {PHYSICS_MODES}, got {p.mode!r}.")
    physics_transform(config)  # the simulation's own checks name each physics.* setting
    if m.recon not in RECON_NETS:
        raise ValueError(f"model.recon must be one of {RECON_NETS}, got {m.recon!r}.")
    if m.recon == "varnet" and method.recon == "dual_domain":
        raise ValueError(
            f"train.method {method.name!r} brings its own ReconNet (MD-Recon-Net); model.recon 'varnet' does not "
            "apply to it: use model.recon 'unet' or another method."
        )
    if m.recon == "varnet" and m.image_mode != "magnitude":
        raise ValueError(
            "model.recon 'varnet' returns the root-sum-of-squares magnitude: it needs model.image_mode 'magnitude', "
            f"got {m.image_mode!r}."
        )
    if m.recon == "varnet" and (m.varnet_cascades < 1 or m.varnet_calib < 1):
        raise ValueError(
            f"model.varnet_cascades and model.varnet_calib must be at least 1, got {m.varnet_cascades} and "
            f"{m.varnet_calib}."
        )
    for key in ("varnet_features", "varnet_sens_features"):
        try:
            resolve_features(getattr(m, key))
        except ValueError as err:
            raise ValueError(f"model.{key}: {err}") from None
    if p.mode == "multicoil" and method.recon == "dual_domain":
        raise ValueError(
            f"train.method {method.name!r} (MD-Recon-Net) works on single-coil k-space; physics.mode 'multicoil' needs "
            "a multi-coil ReconNet: use physics.mode 'complex' or another method."
        )
    check_precision(config.train.precision)
    check_rate(s.rate, "sampling.rate")
    if s.geometry not in GEOMETRIES:
        raise ValueError(f"sampling.geometry must be one of {GEOMETRIES}, got {s.geometry!r}.")
    if s.readout_axis not in (0, 1, 2):
        raise ValueError(f"sampling.readout_axis must be 0, 1 or 2 (an axis of the volume), got {s.readout_axis!r}.")
    if s.mask_kind not in MASK_KINDS:
        raise ValueError(f"sampling.mask_kind must be one of {MASK_KINDS}, got {s.mask_kind!r}.")
    if config.data.root is None and config.data.demo_generator not in DEMO_GENERATORS:
        raise ValueError(f"data.demo_generator must be one of {DEMO_GENERATORS}, got {config.data.demo_generator!r}.")
    if m.image_mode not in IMAGE_MODES:
        raise ValueError(f"model.image_mode must be one of {IMAGE_MODES}, got {m.image_mode!r}.")
    try:
        resolve_features(m.features)
    except ValueError as err:
        raise ValueError(f"model.features: {err}") from None
    for key in ("epochs", "batch_size", "val_every"):
        if getattr(config.train, key) < 1:
            raise ValueError(f"train.{key} must be at least 1, got {getattr(config.train, key)}.")
    if config.train.finetune_epochs < 0:
        raise ValueError(
            f"train.finetune_epochs must be 0 (no fine-tuning) or more, got {config.train.finetune_epochs}."
        )
    if not config.train.lr > 0 or not s.mask_lr > 0:
        raise ValueError(f"train.lr and sampling.mask_lr must be positive, got {config.train.lr} and {s.mask_lr}.")


def _saved_config(path: Path) -> dict | None:
    """A run folder's config.yaml read as a configuration (deprecated keys mapped), or None if it is not one."""
    try:
        return config_from_dict(yaml.safe_load(path.read_text()), source=str(path)).to_dict()
    except (ValueError, yaml.YAMLError):
        return None


def _write_config(config: ExperimentConfig, run_dir: Path) -> None:
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))


# settings a resumed run may change: how long it trains (see _resume_plan), how many threads it uses and on which
# device (checkpoints load onto the CPU first: a run may move to another GPU, as reproduce --workers moves cells)
_RESUMABLE = {"epochs", "finetune_epochs", "threads", "device"}


def _resume_plan(config: ExperimentConfig, run_dir: Path) -> set[int]:
    """Check that ``config`` may continue the run saved in ``run_dir``; returns the indices of finished phases that
    it extends (trained on past their saved end).

    Only the training length may change. A phase that gets more epochs continues from its latest checkpoint,
    whether it is in progress or finished, unless a later phase has started from its result (more stage-1 epochs
    after the mask was frozen are refused). A phase that has started cannot be shortened. Raises ``ValueError``
    naming each refused setting with its saved and requested values.
    """
    path = run_dir / "config.yaml"
    saved = _saved_config(path)
    if saved is None:
        raise ValueError(f"{path}: not a readable run configuration; use a new --out folder.")
    new = config.to_dict()
    changed = [
        f"{section}.{key}: {saved.get(section, {}).get(key)!r} saved, {value!r} now"
        for section in new
        for key, value in new[section].items()
        if saved.get(section, {}).get(key) != value and not (section == "train" and key in _RESUMABLE)
    ]
    if changed:
        raise ValueError(
            f"{path}: this run was trained with other settings ({'; '.join(changed)}); --resume may only change "
            f"train.epochs and train.finetune_epochs (to train longer). Use a new --out folder for other settings."
        )
    phases = config_phases(config)
    old_t, new_t = saved["train"], new["train"]
    # a phase has started when it trained (a 0-epoch phase, fine-tuning skipped, only froze the mask: rerun it)
    started = [(phase_dir(run_dir, i, p) / "latest.pt").is_file() for i, p in enumerate(phases)]
    for i, phase in enumerate(phases):
        before = phase.num_epochs(old_t["epochs"], old_t["finetune_epochs"])
        after = phase.num_epochs(new_t["epochs"], new_t["finetune_epochs"])
        knob = "train.epochs + train.finetune_epochs" if phase.length == "total" else f"train.{phase.length}"
        if after < before and started[i]:
            raise ValueError(
                f"{knob}: phase {phase.name!r} of this run was set to {before} epochs and has started; it cannot be "
                f"shortened to {after}. Use a new --out folder."
            )
        if after > before and any(started[i + 1 :]):
            later = phases[started.index(True, i + 1)].name
            raise ValueError(
                f"{knob}: phase {phase.name!r} finished its {before} epochs and phase {later!r} has started from its "
                f"result{' (the learned mask is frozen)' if phases[i + 1].freeze_mask else ''}; it cannot get "
                f"{after} epochs now. Use a new --out folder, or give more epochs to the phase in progress."
            )
    # every finished phase from the first one that changes on: trained on (or, with 0 epochs, just rerun)
    resized = [
        i
        for i, phase in enumerate(phases)
        if phase.num_epochs(new_t["epochs"], new_t["finetune_epochs"])
        != phase.num_epochs(old_t["epochs"], old_t["finetune_epochs"])
    ]
    first = min(resized, default=len(phases))
    return {i for i, p in enumerate(phases) if i >= first and (phase_dir(run_dir, i, p) / "final.pt").is_file()}


def train(
    config: ExperimentConfig,
    run_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    test: bool = True,
    model: SemuNet | None = None,
    optimizer_factory=None,
    loss_fn: JointLoss | None = None,
    data: RunData | None = None,
    loader_factory=None,
    val_loader_factory=None,
    handlers: list | None = None,
    val_handlers: list | None = None,
    trainer_factory=None,
    evaluator_factory=None,
    phase_handlers: list | None = None,
) -> dict:
    """Train ``config.train.method`` into ``run_dir`` and evaluate it on the test subjects.

    Args:
        config: the experiment.
        run_dir: output folder. An existing run is an error unless ``resume``.
        resume: continue from the latest checkpoints (finished phases are skipped).
        progress: show a progress bar.
        test: evaluate the final model on the test subjects (the reproduction grid scores them itself, in one pass).
        model: the SemuNet to train instead of building it from the config (a bundle's ``network_def``, possibly
            warm-started); its mask must have the data's slice shape.
        optimizer_factory: called with each phase's parameter groups instead of ``torch.optim.Adam`` (a bundle's
            ``optimizer`` node in callable mode).
        loss_fn: the joint loss instead of one built from ``train.lam`` and ``train.seg_loss`` (a bundle's ``loss``
            node; its settings must be the config's, see :func:`semunet_monai.bundle.record_network`).
        data: the run's datasets instead of those :func:`prepare_data` makes from ``config.data`` (a bundle's
            ``train#dataset``, ``validate#dataset`` and ``test#dataset`` nodes).
        loader_factory, val_loader_factory: called as ``loader_factory(dataset, sampler=...)`` for each phase's
            training loader and ``val_loader_factory(dataset)`` for the validation loader, instead of
            :func:`make_loader` (a bundle's ``train#dataloader`` and ``validate#dataloader`` nodes, ``DataLoader``
            partials in callable mode).
        handlers, val_handlers: Ignite or MONAI handlers (objects with ``attach(engine)``) attached to every phase's
            trainer and evaluator (a bundle's ``train#handlers`` and ``validate#handlers``).
        phase_handlers: the handlers bound to every phase (:mod:`.phase_handlers`: validation, metrics table,
            checkpoints, TensorBoard, ...; a bundle's ``train#handlers``), checked here; None or empty: the
            default ones.
        trainer_factory, evaluator_factory: called with each phase's arguments instead of ``SemuNetTrainer`` and
            ``SemuNetEvaluator`` (a bundle's ``train#trainer`` and ``validate#evaluator`` nodes in callable mode:
            their own keyword arguments, such as ``epoch_length``, add to the phase's).

    Returns:
        the test metrics (``{"mean": {...}, "per_subject": {...}}``).
    """
    run_dir = Path(run_dir)
    t = config.train
    phases = config_phases(config)

    extend: set[int] = set()  # finished phases this resumed run trains further

    def check_run_dir() -> None:
        if run_dir.exists() and any(run_dir.iterdir()) and not resume:
            raise ValueError(
                f"{run_dir}: the output folder is not empty: resume that run (CLI --resume; bundle --resume true) "
                "or choose another folder."
            )
        if resume and (run_dir / "config.yaml").is_file():
            extend.update(_resume_plan(config, run_dir))  # a refused change stops here, before any work

    check_settings(config)
    from .phase_handlers import check_phase_handlers, default_phase_handlers

    # a list that names phase handlers is the whole set (checked before anything is written); none: the defaults
    phase_handlers = check_phase_handlers(list(phase_handlers or ()) or default_phase_handlers())
    main_first(check_run_dir)  # rank 0 checks; its errors reach every rank
    if t.threads:
        torch.set_num_threads(int(t.threads))
    device = resolve_device(t.device)
    precision = resolve_precision(t.precision, device)
    logger.info("device %s, precision %s (train.precision: %s)", device, precision, t.precision)
    set_determinism(seed=t.seed)
    if data is None:
        data = prepare_data(config)  # may fail on bad data: nothing has been written to run_dir yet

    def start_run() -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_config(config, run_dir)
        if data.items:  # the items of each part, as a datalist whose sections fix the split
            sections = {"training": "train", "validation": "val", "test": "test"}
            datalist = {name: data.items.get(part, []) for name, part in sections.items()}
            atomic_write_text(run_dir / "datalist.json", json.dumps(datalist, indent=2, default=str))

    main_first(start_run)
    shape = tuple(data.train[0]["image"].shape[-2:])
    if model is None:
        model = build_model(config, data.scheme.num_classes, shape)
    elif model.mask_shape != shape and config.sampling.geometry == "kykz":
        # a bundle builds its network before the volumes are read, and the (ky, kz) plane is known only then: its
        # ReconNet and SegNet (shape-free) are composed again with a sampler and mask of that plane
        logger.info("network_def: the (ky, kz) plane is %dx%d: the mask is sized to it", *shape)
        model = build_model(config, data.scheme.num_classes, shape, recon=model.recon, seg=model.seg)
    elif model.mask_shape != shape:
        raise ValueError(
            f"network_def: the network is built for {model.mask_shape[0]}x{model.mask_shape[1]} slices, the data has "
            f"{shape[0]}x{shape[1]} (data.spatial_size)."
        )
    model = model.to(device)
    if model.sampler is not None and rank() > 0:
        model.sampler.generator.manual_seed(t.seed + 7919 * rank())  # fresh Monte-Carlo draws per rank
    loss_fn = loss_fn if loss_fn is not None else JointLoss(lam=t.lam, seg_loss=t.seg_loss, ignore_index=IGNORE_INDEX)
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run_dir / "tb")) if is_main() else None
    ctx = RunContext(
        config,
        model,
        data,
        loss_fn,
        device,
        run_dir,
        val_loader=(
            make_loader(data.val, t.batch_size, t.num_workers, device=device)
            if val_loader_factory is None
            else val_loader_factory(data.val)
        ),
        writer=writer,
        resume=resume,
        progress=progress and is_main(),
        optimizer_factory=optimizer_factory,
        loader_factory=loader_factory,
        trainer_factory=trainer_factory,
        evaluator_factory=evaluator_factory,
        handlers=tuple(handlers or ()),
        val_handlers=tuple(val_handlers or ()),
        phase_handlers=tuple(phase_handlers),
    )
    try:
        for index, phase in enumerate(phases):
            folder = phase_dir(run_dir, index, phase)
            if phase.freeze_mask and model.sampler is not None:
                mask = model.freeze_mask()
                logger.info("froze the learned mask: %d of %d samples", int(mask.sum()), mask.numel())
            final_path = folder / "final.pt"
            if resume and final_path.is_file() and index not in extend:
                model.load_state_dict(load_checkpoint(final_path)["network"])
                logger.info("phase %s already finished: loaded %s", phase.name, final_path)
                continue
            if index in extend:
                logger.info("phase %s: more epochs requested, continuing it from its latest checkpoint", phase.name)
            run_phase(ctx, phase, index)
            best_path = folder / "best.pt"
            barrier()  # rank 0 has written its last best.pt: every rank selects the same weights
            if data.split["val"] and best_path.is_file():  # the one model-selection rule (engines.methods)
                best_state = load_checkpoint(best_path)
                model.load_state_dict(best_state["network"])
                logger.info(
                    "phase %s ends on its best validation checkpoint (epoch %s)",
                    phase.name,
                    best_state.get("meta", {}).get("epoch"),
                )
            if is_main():
                save_atomic({"network": model.state_dict()}, final_path)
            barrier()
        if not replicas_agree(model):
            raise RuntimeError(f"rank {rank()}: the replicas' weights differ after training; nothing was saved.")
        if world_size() > 1:
            logger.info("rank %d of %d: replicas hold identical weights", rank(), world_size())
        results = main_first(lambda: _finish(config, model, data, run_dir, device, test))
        barrier()  # every rank leaves together, after rank 0 has written the model
        return results if results is not None else {}
    finally:
        if writer is not None:
            writer.close()


def _readout(config: ExperimentConfig, data: RunData) -> dict:
    """A kykz mask's read-out: the volume axis and its samples (the planes' count per volume), for export-seq."""
    if config.sampling.geometry != "kykz":
        return {}
    volume = data.train.volumes[0][Keys.IMAGE]
    axis = config.sampling.readout_axis
    return {"readout_axis": axis, "readout_samples": int(volume.shape[axis + 1])}


def _finish(
    config: ExperimentConfig, model: SemuNet, data: RunData, run_dir: Path, device: torch.device, test: bool = True
) -> dict:
    """Rank 0, after the last phase: pick the final weights, write model.pt and the mask, evaluate on the test set."""
    t = config.train
    if not all_finite(model):
        raise NonFiniteLossError("the final weights are not finite; model.pt was not written.")
    save_atomic(model.state_dict(), run_dir / "model.pt")
    if (
        data.train_images and model.operator.mask is not None
    ):  # the geometry inference brings new scans to (semunet_monai.inference.model)
        from ..inference.model import training_geometry, write_geometry

        matrix = tuple(int(s) for s in model.operator.mask.shape)
        write_geometry(training_geometry(data.train_images[0], matrix, config.data.modality), run_dir)
    kind = get_method(t.method).mask
    if model.sampler is None and model.operator.mask is not None and kind != "full":
        method = "sampnet" if kind == "learned" else f"fixed:{config.sampling.mask_kind}"
        save_mask(
            model.operator.mask.bool().cpu(),
            run_dir / "mask",
            rate=config.sampling.rate,
            geometry=config.sampling.geometry,
            method=method,
            overwrite=True,
            extra={"training_method": t.method, **_readout(config, data)},
        )
    if not test:
        return {}
    if data.test is None:
        logger.info("no test subjects: model.pt written, no test metrics")
        return {}
    results = evaluate(model, data.test, config, data.scheme, device)
    save_json_atomic(results, run_dir / "test_metrics.json")
    write_table(results, run_dir / "test_metrics.csv")
    logger.info("test: %s", {k: round(v, 4) for k, v in results["mean"].items() if isinstance(v, float)})
    return results
