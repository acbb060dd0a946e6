"""The SemuNet training loss: ``L = L1(recon, target) + lam * CE(seg_logits, labels)`` (paper: ``lam = 0.1``).

The segmentation term is cross entropy (``"ce"``, the paper's choice) or Dice + cross entropy (``"dicece"``, as
MONAI's ``DiceCELoss``). A model that only reconstructs (LOUPE) passes ``seg_logits=None, labels=None`` and gets a
segmentation term of 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from monai.losses import DiceLoss
from torch import Tensor, nn

__all__ = ["JointLoss", "LOSS_TERMS", "RECON_LOSSES", "SEG_LOSSES"]

LOSS_TERMS: tuple[str, str, str] = ("loss", "recon", "seg")
"""Keys of :meth:`JointLoss.terms`: the weighted total, the reconstruction term and the unweighted seg term."""

SEG_LOSSES: tuple[str, ...] = ("ce", "dicece")
RECON_LOSSES: tuple[str, ...] = ("l1", "mse")


class JointLoss(nn.Module):
    """Joint reconstruction + segmentation loss ``recon_loss(recon, target) + lam * seg_loss(seg_logits, labels)``.

    Pixels whose label equals ``ignore_index`` count in neither the cross-entropy nor the Dice term: the cross
    entropy is averaged over the remaining pixels only, and changing the logits at ignored pixels does not change
    the loss. If every pixel is ignored the segmentation term is 0 (not NaN).

    Args:
        lam: weight of the segmentation term, ``>= 0`` (paper: 0.1). ``lam = 0`` gives the reconstruction term only.
        seg_loss: ``"ce"`` (cross entropy) or ``"dicece"`` (soft Dice over all classes, background included,
            plus cross entropy, each with weight 1, as ``monai.losses.DiceCELoss(to_onehot_y=True, softmax=True)``).
        ignore_index: label value excluded from the segmentation term, or ``None``. Any other label must lie in
            ``[0, K)``.
        recon_loss: ``"l1"`` (paper) or ``"mse"``, mean over all elements.
    """

    def __init__(
        self, lam: float = 0.1, seg_loss: str = "ce", ignore_index: int | None = None, recon_loss: str = "l1"
    ) -> None:
        super().__init__()
        if not isinstance(lam, (int, float)) or not math.isfinite(lam) or lam < 0:
            raise ValueError(f"JointLoss: argument 'lam' must be a finite number >= 0, got {lam!r}.")
        if seg_loss not in SEG_LOSSES:
            raise ValueError(f"JointLoss: argument 'seg_loss' must be one of {SEG_LOSSES}, got {seg_loss!r}.")
        if recon_loss not in RECON_LOSSES:
            raise ValueError(f"JointLoss: argument 'recon_loss' must be one of {RECON_LOSSES}, got {recon_loss!r}.")
        if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, int)):
            raise ValueError(f"JointLoss: argument 'ignore_index' must be an int or None, got {ignore_index!r}.")
        self.lam = float(lam)
        self.seg_loss = seg_loss
        self.ignore_index = ignore_index
        self.recon_loss = recon_loss
        # MONAI 1.6.1's DiceCELoss has no ignore_index (its docstring says so), but its DiceLoss does: compose
        # DiceLoss + torch cross entropy, which equals DiceCELoss(to_onehot_y=True, softmax=True) when nothing is
        # ignored (tested).
        self.dice = (
            DiceLoss(to_onehot_y=True, softmax=True, ignore_index=ignore_index) if seg_loss == "dicece" else None
        )

    def _recon_term(self, recon: Tensor, target: Tensor) -> Tensor:
        if recon.shape != target.shape:
            raise ValueError(
                f"JointLoss: arguments 'recon' and 'target' must have the same shape (B, C, H, W), "
                f"got {tuple(recon.shape)} and {tuple(target.shape)}."
            )
        if recon.ndim < 3:
            raise ValueError(f"JointLoss: argument 'recon' must have shape (B, C, H, W), got {tuple(recon.shape)}.")
        if self.recon_loss == "l1":
            return F.l1_loss(recon, target)
        return F.mse_loss(recon, target)

    def _label_index(self, seg_logits: Tensor, labels: Tensor) -> Tensor:
        """Validate ``labels`` against ``seg_logits`` and return them as a long tensor ``(B, H, W)``."""
        if seg_logits.ndim < 3 or seg_logits.shape[1] < 2:
            raise ValueError(
                f"JointLoss: argument 'seg_logits' must have shape (B, K, H, W) with K >= 2 classes, "
                f"got {tuple(seg_logits.shape)}."
            )
        if labels.ndim == seg_logits.ndim and labels.shape[1] == 1:
            labels = labels[:, 0]
        expected = (seg_logits.shape[0], *seg_logits.shape[2:])
        if tuple(labels.shape) != expected:
            raise ValueError(
                f"JointLoss: argument 'labels' must have shape (B, 1, H, W) or (B, H, W) = {expected} to match "
                f"'seg_logits' {tuple(seg_logits.shape)}, got {tuple(labels.shape)}."
            )
        if torch.is_complex(labels) or labels.dtype == torch.bool:
            raise ValueError(f"JointLoss: argument 'labels' must hold integer class indices, got dtype {labels.dtype}.")
        # The value checks read tensors back to the host: they run on CPU tensors only, so that a GPU step does not
        # synchronise (on a GPU the labels were checked by the data preflight before training).
        if labels.device.type == "cpu":
            self._check_label_values(labels, seg_logits.shape[1])
        return labels.long()

    def _check_label_values(self, labels: Tensor, num_classes: int) -> None:
        if torch.is_floating_point(labels) and not bool(torch.all(labels == torch.round(labels))):  # NaN/inf too
            raise ValueError("JointLoss: argument 'labels' must be integer-valued, got non-integer values.")
        labels = labels.long()
        valid = labels if self.ignore_index is None else labels[labels != self.ignore_index]
        if valid.numel() and (int(valid.min()) < 0 or int(valid.max()) >= num_classes):
            raise ValueError(
                f"JointLoss: argument 'labels' must lie in [0, {num_classes}) (K = seg_logits.shape[1])"
                f"{'' if self.ignore_index is None else f' or equal ignore_index={self.ignore_index}'}, "
                f"got values in [{int(valid.min())}, {int(valid.max())}]."
            )

    def _seg_term(self, seg_logits: Tensor, labels: Tensor) -> Tensor:
        index = self._label_index(seg_logits, labels)
        # Sum / count instead of torch's mean: finite (0) when every pixel is ignored, where torch returns NaN.
        ignore = -100 if self.ignore_index is None else self.ignore_index  # -100: torch's default, never a valid label
        # the count stays a tensor (no host synchronisation)
        n_valid = max(index.numel(), 1) if self.ignore_index is None else (index != ignore).sum().clamp_min(1)
        ce = F.cross_entropy(seg_logits, index, ignore_index=ignore, reduction="sum") / n_valid
        if self.dice is None:
            return ce
        return self.dice(seg_logits, index.unsqueeze(1)) + ce

    def terms(
        self, recon: Tensor, target: Tensor, seg_logits: Tensor | None = None, labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Compute the loss and its parts.

        Args:
            recon: reconstruction ``(B, C, H, W)``, float (``C = 1`` magnitude or ``2`` real/imaginary).
            target: fully sampled reference, same shape as ``recon``.
            seg_logits: segmentation logits ``(B, K, H, W)``, or ``None`` for a reconstruction-only model.
            labels: class indices ``(B, 1, H, W)`` or ``(B, H, W)``, integer dtype or float holding integers (as
                MONAI's ``LoadImage`` produces), or ``None`` together with ``seg_logits``.

        Returns:
            ``{"loss": recon + lam * seg, "recon": recon term, "seg": unweighted seg term}``, scalar tensors (keys
            in :data:`LOSS_TERMS`). ``seg`` is 0 when ``seg_logits`` and ``labels`` are ``None``.
        """
        recon_term = self._recon_term(recon, target)
        if seg_logits is None and labels is None:
            seg_term = recon_term.new_zeros(())
        elif seg_logits is None or labels is None:
            raise ValueError(
                "JointLoss: arguments 'seg_logits' and 'labels' must both be tensors or both be None, got "
                f"seg_logits={'None' if seg_logits is None else 'tensor'}, "
                f"labels={'None' if labels is None else 'tensor'}."
            )
        else:
            seg_term = self._seg_term(seg_logits, labels)
        total = recon_term + self.lam * seg_term
        return dict(zip(LOSS_TERMS, (total, recon_term, seg_term)))

    def forward(
        self, recon: Tensor, target: Tensor, seg_logits: Tensor | None = None, labels: Tensor | None = None
    ) -> Tensor:
        """Return ``terms(recon, target, seg_logits, labels)["loss"]``, a scalar tensor (see :meth:`terms`)."""
        return self.terms(recon, target, seg_logits, labels)[LOSS_TERMS[0]]

    def extra_repr(self) -> str:
        return (
            f"lam={self.lam}, seg_loss={self.seg_loss!r}, ignore_index={self.ignore_index}, "
            f"recon_loss={self.recon_loss!r}"
        )
