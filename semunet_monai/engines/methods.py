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

from dataclasses import dataclass

__all__ = ["Phase", "Method", "METHODS", "get_method", "method_phases", "method_uses", "method_steps"]

MODULES = ("sampler", "recon", "seg")


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
        steps = dict.fromkeys(MODULES, 0)
        for phase in self.phases:
            for module in phase.trainable:
                steps[module] += phase.num_epochs(epochs, finetune_epochs) * int(steps_per_epoch)
        return steps


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


def method_steps(method: str, epochs: int, finetune_epochs: int, steps_per_epoch: int) -> dict[str, int]:
    """Optimisation steps each module of ``method`` receives (see :meth:`Method.steps`)."""
    return get_method(method).steps(epochs, finetune_epochs, steps_per_epoch)
