"""The paper's methods as sequences of training phases that share one engine.

Each phase names the modules it trains, the weights of the reconstruction and segmentation terms, its input
(retrospectively undersampled, or fully sampled for SegNet pre-training) and whether the learned mask is frozen
(booleanized to top-n) when it starts.

Equal budgets: every network a method trains gets ``epochs + finetune_epochs`` epochs of optimisation in all.
Joint methods spend them over two phases (``epochs``, then ``finetune_epochs``); a phase that trains a network
on its own in one go (LOUPE-Seg's and MD-Recon-Net's SegNet, Liu et al.'s two phases, the fully sampled SegNet)
runs ``epochs + finetune_epochs`` (``length="total"``), so SegNet-only rows are not short of steps.

Model selection, one rule for every phase of every method: a phase ends on its best validation checkpoint, by
mean Dice when the phase's loss has a segmentation term and by PSNR otherwise (:meth:`Phase.key_metric`), and the
next phase starts from those weights; without validation subjects, on its last epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

__all__ = [
    "Phase",
    "Method",
    "METHODS",
    "get_method",
    "method_phases",
    "method_uses",
    "method_steps",
    "phases_steps",
    "phase_from_dict",
    "schedule_phases",
    "config_phases",
]

MODULES = ("sampler", "recon", "seg")
LENGTHS = ("epochs", "finetune_epochs", "total")
INPUTS = ("undersampled", "full")


@dataclass(frozen=True)
class Phase:
    """One training phase.

    Attributes:
        name: phase name (also the checkpoint sub-folder).
        length: ``"epochs"``, ``"finetune_epochs"`` (the config knob that sets its number of epochs) or ``"total"``
            (their sum: a network trained in one phase gets the budget a joint method spreads over two).
        trainable: modules whose parameters are optimised.
        recon_weight: weight of the L1 reconstruction term.
        seg_weight: weight of the CE term; ``"lam"`` means the configured lambda.
        input: ``"undersampled"`` (the SemuNet path) or ``"full"`` (SegNet on the fully sampled image).
        freeze_mask: booleanize the learned mask (top-n) and drop SampNet before this phase.
    """

    name: str
    length: str
    trainable: tuple[str, ...]
    recon_weight: float
    seg_weight: float | str
    input: str = "undersampled"
    freeze_mask: bool = False

    def seg_weight_value(self, lam: float) -> float:
        return float(lam) if self.seg_weight == "lam" else float(self.seg_weight)

    def num_epochs(self, epochs: int, finetune_epochs: int) -> int:
        """This phase's epochs for a config's ``train.epochs`` and ``train.finetune_epochs``."""
        return {"epochs": epochs, "finetune_epochs": finetune_epochs, "total": epochs + finetune_epochs}[self.length]

    def key_metric(self, seg_metric: str = "mean_dice") -> str:
        """The validation metric that selects this phase's checkpoint: ``seg_metric`` when its loss has a
        segmentation term (a CE weight that is not 0), else ``psnr``."""
        return seg_metric if self.seg_weight != 0 else "psnr"


_JOINT = Phase("joint", "epochs", ("sampler", "recon", "seg"), 1.0, "lam")
_FINETUNE = Phase("finetune", "finetune_epochs", ("recon", "seg"), 1.0, "lam", freeze_mask=True)
_SEG_ONLY = Phase("seg", "total", ("seg",), 0.0, 1.0)


@dataclass(frozen=True)
class Method:
    """What the engine needs to know about a method, so that no code tests a method's name.

    Attributes:
        name: the ``train.method`` value.
        phases: its training phases, in order.
        mask: ``"learned"`` (a SampNet, frozen to top-n by a phase's ``freeze_mask``), ``"fixed"``
            (``sampling.mask_kind``) or ``"full"`` (every k-space sample: no undersampling).
        recon: the ReconNet it composes: ``"config"`` (``model``'s ReconNet, a bundle's ``network_def#recon``),
            ``"dual_domain"`` (MD-Recon-Net's own dual-domain network) or ``"identity"`` (no reconstruction).
        modules: the modules it composes (a frozen one included); default: every module a phase trains.
        summary: one line for ``--help`` and the docs.
    """

    name: str
    phases: tuple[Phase, ...]
    mask: str
    recon: str = "config"
    modules: tuple[str, ...] = ()
    summary: str = ""

    def __post_init__(self) -> None:
        if not self.modules:
            object.__setattr__(self, "modules", tuple(m for m in MODULES if any(m in p.trainable for p in self.phases)))

    @property
    def segments(self) -> bool:
        """It has a SegNet, so it is scored (and selected) by Dice."""
        return "seg" in self.modules

    @property
    def reconstructs(self) -> bool:
        """It has a reconstruction to score by PSNR/SSIM (the fully sampled row's image is the reference itself)."""
        return self.recon != "identity"

    def key_metric(self, seg_metric: str = "mean_dice") -> str:
        """The metric its final model is reported and compared by: ``seg_metric`` when it segments, else PSNR."""
        return seg_metric if self.segments else "psnr"

    def steps(self, epochs: int, finetune_epochs: int, steps_per_epoch: int) -> dict[str, int]:
        """Optimisation steps each module receives: ``{"sampler": n, "recon": n, "seg": n}`` (0 where it is never
        trained), for ``steps_per_epoch`` batches an epoch."""
        return phases_steps(self.phases, epochs, finetune_epochs, steps_per_epoch)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "semunet",
            (_JOINT, _FINETUNE),
            "learned",
            summary="SampNet + ReconNet + SegNet jointly with L1 + lambda CE, then the top-n mask and fine-tuning "
            "(paper: 600 + 500 epochs)",
        ),
        Method(
            "baseline",
            (
                Phase("joint", "epochs", ("recon", "seg"), 1.0, "lam"),
                Phase("finetune", "finetune_epochs", ("recon", "seg"), 1.0, "lam"),
            ),
            "fixed",
            summary="a fixed mask + ReconNet + SegNet with the same loss and the same number of epochs in all",
        ),
        Method(
            "loupe",
            (
                Phase("joint", "epochs", ("sampler", "recon"), 1.0, 0.0),
                Phase("finetune", "finetune_epochs", ("recon",), 1.0, 0.0, freeze_mask=True),
            ),
            "learned",
            summary="SampNet + ReconNet on the reconstruction loss only, then the top-n mask and ReconNet fine-tuning",
        ),
        Method(
            "loupe_seg",
            (
                Phase("joint", "epochs", ("sampler", "recon"), 1.0, 0.0),
                Phase("finetune", "finetune_epochs", ("recon",), 1.0, 0.0, freeze_mask=True),
                _SEG_ONLY,
            ),
            "learned",
            summary="LOUPE, then SegNet trained on LOUPE's frozen reconstructions",
        ),
        Method(
            "liu",
            (
                Phase("segpre", "total", ("seg",), 0.0, 1.0, input="full"),
                Phase("recon", "total", ("recon",), 1.0, "lam"),
            ),
            "fixed",
            summary="Liu et al.: SegNet pre-trained on fully sampled images and frozen; ReconNet trained with "
            "L1 + lambda CE through it",
        ),
        Method(
            "mdrecon",
            (Phase("recon", "total", ("recon",), 1.0, 0.0), _SEG_ONLY),
            "fixed",
            recon="dual_domain",
            summary="the dual-domain MD-Recon-Net with a fixed mask on the reconstruction loss, then SegNet on its "
            "output",
        ),
        Method(
            "fullysampled",
            (Phase("seg", "total", ("seg",), 0.0, 1.0, input="full"),),
            "full",
            recon="identity",
            summary="SegNet on fully sampled images: the upper bound",
        ),
    )
}


def get_method(method: str) -> Method:
    """The :class:`Method` named ``method``; raises ``ValueError`` listing the methods."""
    if method not in METHODS:
        raise ValueError(f"argument 'method' must be one of {tuple(METHODS)}, got {method!r}.")
    return METHODS[method]


def method_phases(method: str) -> tuple[Phase, ...]:
    """The phases of ``method``; raises ``ValueError`` listing the methods."""
    return get_method(method).phases


def method_uses(method: str) -> set[str]:
    """Modules the method has: a subset of ``{"sampler", "recon", "seg"}``."""
    return set(get_method(method).modules)


def phases_steps(phases: Sequence[Phase], epochs: int, finetune_epochs: int, steps_per_epoch: int) -> dict[str, int]:
    """Optimisation steps each module receives over ``phases``: ``{"sampler": n, "recon": n, "seg": n}``."""
    steps = dict.fromkeys(MODULES, 0)
    for phase in phases:
        for module in phase.trainable:
            steps[module] += phase.num_epochs(epochs, finetune_epochs) * int(steps_per_epoch)
    return steps


def method_steps(method: str, epochs: int, finetune_epochs: int, steps_per_epoch: int) -> dict[str, int]:
    """Optimisation steps each module of ``method`` receives (see :meth:`Method.steps`)."""
    return get_method(method).steps(epochs, finetune_epochs, steps_per_epoch)


def phase_from_dict(values: Any, where: str = "train.schedule") -> Phase:
    """A :class:`Phase` from a mapping of its fields (a config's ``train.schedule`` entry); errors name ``where``."""
    if not isinstance(values, dict):
        raise ValueError(f"{where}: expected a mapping of a phase's fields, got {values!r}.")
    known = [f.name for f in fields(Phase)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown phase field(s) {unknown} (known: {known}).")
    missing = [k for k in ("name", "length", "trainable", "recon_weight", "seg_weight") if k not in values]
    if missing:
        raise ValueError(f"{where}: missing phase field(s) {missing}.")
    if values["length"] not in LENGTHS:
        raise ValueError(f"{where}.length must be one of {LENGTHS}, got {values['length']!r}.")
    if values.get("input", "undersampled") not in INPUTS:
        raise ValueError(f"{where}.input must be one of {INPUTS}, got {values['input']!r}.")
    trainable = values["trainable"]
    if not isinstance(trainable, (list, tuple)) or not trainable or not set(trainable) <= set(MODULES):
        raise ValueError(f"{where}.trainable must be a non-empty list of {MODULES}, got {trainable!r}.")
    for key in ("recon_weight", "seg_weight"):
        value = values[key]
        if not (value == "lam" and key == "seg_weight") and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
        ):
            allowed = "a non-negative number" + (" or 'lam'" if key == "seg_weight" else "")
            raise ValueError(f"{where}.{key} must be {allowed}, got {value!r}.")
    if not isinstance(values.get("freeze_mask", False), bool) or not isinstance(values["name"], str):
        raise ValueError(f"{where}: 'name' must be a string and 'freeze_mask' true or false.")
    return Phase(**{**values, "trainable": tuple(trainable)})


def schedule_phases(method: Method, schedule: list[dict] | None, where: str = "train.schedule") -> tuple[Phase, ...]:
    """The phases a run of ``method`` trains: ``schedule`` (a config's ``train.schedule``: a list of phase
    mappings) or, when it is None, the method's own.

    A schedule may reorder, add or drop phases, but only within the method's structure: it trains the modules the
    method has, a learned mask only until a phase freezes it (and a learned-mask method freezes it in some phase, so
    that the run ends with a fixed mask), a fully sampled input only for SegNet, and a segmentation term only where
    there is a SegNet. Phase names are unique (they name the checkpoint folders). Raises ``ValueError`` naming the
    entry."""
    if schedule is None:
        return method.phases
    if not isinstance(schedule, (list, tuple)) or not schedule:
        raise ValueError(f"{where} must be a non-empty list of phases (or null: the method's own), got {schedule!r}.")
    phases = tuple(phase_from_dict(p, f"{where}[{i}]") for i, p in enumerate(schedule))
    names = [p.name for p in phases]
    if len(set(names)) != len(names) or any(not n or "/" in n for n in names):
        raise ValueError(f"{where}: phase names must be unique, non-empty folder names, got {names}.")
    frozen = False
    for i, phase in enumerate(phases):
        at = f"{where}[{i}] ({phase.name!r})"
        extra = sorted(set(phase.trainable) - set(method.modules))
        if extra:
            raise ValueError(f"{at}: trains {extra}, which method {method.name!r} does not have {method.modules}.")
        if phase.freeze_mask and method.mask != "learned":
            raise ValueError(
                f"{at}: freeze_mask applies to a learned mask; method {method.name!r} has a {method.mask} one."
            )
        frozen = frozen or phase.freeze_mask
        if frozen and "sampler" in phase.trainable:
            raise ValueError(f"{at}: trains the sampler after the learned mask was frozen.")
        if phase.input == "full" and set(phase.trainable) != {"seg"}:
            raise ValueError(f"{at}: a fully sampled input trains SegNet only, got trainable {list(phase.trainable)}.")
        if phase.seg_weight != 0 and "seg" not in method.modules:
            raise ValueError(f"{at}: a segmentation term needs a SegNet, which method {method.name!r} does not have.")
    if method.mask == "learned" and not frozen:
        raise ValueError(
            f"{where}: method {method.name!r} learns its mask: one phase must freeze it (freeze_mask: true)."
        )
    return phases


def config_phases(config: Any) -> tuple[Phase, ...]:
    """The phases of an :class:`~semunet_monai.config.ExperimentConfig`: ``train.schedule`` or its method's own."""
    return schedule_phases(get_method(config.train.method), config.train.schedule)
