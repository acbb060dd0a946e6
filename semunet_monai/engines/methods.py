"""The paper's methods as sequences of training phases that share one engine.

Each phase names the modules it trains, the weights of the reconstruction and segmentation terms, its input
(retrospectively undersampled, or fully sampled for SegNet pre-training) and whether the learned mask is frozen
(booleanized to top-n) when it starts.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Phase", "METHODS", "method_phases", "method_uses"]

MODULES = ("sampler", "recon", "seg")


@dataclass(frozen=True)
class Phase:
    """One training phase.

    Attributes:
        name: phase name (also the checkpoint sub-folder).
        length: ``"epochs"`` or ``"finetune_epochs"``: the config knob that sets its number of epochs.
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


_JOINT = Phase("joint", "epochs", ("sampler", "recon", "seg"), 1.0, "lam")
_FINETUNE = Phase("finetune", "finetune_epochs", ("recon", "seg"), 1.0, "lam", freeze_mask=True)
_SEG_ONLY = Phase("seg", "epochs", ("seg",), 0.0, 1.0)

METHODS: dict[str, tuple[Phase, ...]] = {
    # SampNet + ReconNet + SegNet jointly with L1 + lambda CE, then top-n mask and fine-tuning (paper: 600 + 500)
    "semunet": (_JOINT, _FINETUNE),
    # fixed mask + ReconNet + SegNet with the same loss and the same number of epochs in all
    "baseline": (
        Phase("joint", "epochs", ("recon", "seg"), 1.0, "lam"),
        Phase("finetune", "finetune_epochs", ("recon", "seg"), 1.0, "lam"),
    ),
    # SampNet + ReconNet on the reconstruction loss only, then top-n mask and ReconNet fine-tuning
    "loupe": (
        Phase("joint", "epochs", ("sampler", "recon"), 1.0, 0.0),
        Phase("finetune", "finetune_epochs", ("recon",), 1.0, 0.0, freeze_mask=True),
    ),
    # LOUPE, then SegNet trained on LOUPE's frozen reconstructions
    "loupe_seg": (
        Phase("joint", "epochs", ("sampler", "recon"), 1.0, 0.0),
        Phase("finetune", "finetune_epochs", ("recon",), 1.0, 0.0, freeze_mask=True),
        _SEG_ONLY,
    ),
    # Liu et al.: SegNet pre-trained on fully sampled images and frozen; ReconNet trained with L1 + lambda CE
    "liu": (
        Phase("segpre", "epochs", ("seg",), 0.0, 1.0, input="full"),
        Phase("recon", "epochs", ("recon",), 1.0, "lam"),
    ),
    # dual-domain MD-Recon-Net with a fixed mask on the reconstruction loss, then SegNet on its output
    "mdrecon": (Phase("recon", "epochs", ("recon",), 1.0, 0.0), _SEG_ONLY),
    # SegNet on fully sampled images: the upper bound
    "fullysampled": (Phase("seg", "epochs", ("seg",), 0.0, 1.0, input="full"),),
}


def method_phases(method: str) -> tuple[Phase, ...]:
    """The phases of ``method``; raises ``ValueError`` listing the methods."""
    if method not in METHODS:
        raise ValueError(f"argument 'method' must be one of {tuple(METHODS)}, got {method!r}.")
    return METHODS[method]


def method_uses(method: str) -> set[str]:
    """Modules the method has: a subset of ``{"sampler", "recon", "seg"}``."""
    phases = method_phases(method)
    used = set().union(*(p.trainable for p in phases))
    if method == "liu":
        used |= {"recon", "seg"}
    return used
