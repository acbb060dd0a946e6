"""MONAI engines for SemuNet-style models: one trainer iteration for every method, and an evaluator that scores
whole volumes (PSNR, SSIM, Dice) from slices."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from ignite.engine import Engine
from ignite.metrics import Metric
from monai.engines import SupervisedEvaluator, SupervisedTrainer
from monai.engines.utils import IterationEvents
from torch import nn

from ..data.labels import LABEL_SCHEMES
from ..data.layouts import SUBJECT
from ..keys import Keys
from ..losses import JointLoss
from ..metrics import VolumeMetricAccumulator
from ..networks.semunet import SemuNet, SemuNetOutput
from ..precision import autocast, grad_scaler
from ..transforms.physics import magnitude_of
from .methods import Phase

__all__ = ["PhaseForward", "SemuNetTrainer", "SemuNetEvaluator", "VolumeMetrics", "LOSS_RECON", "LOSS_SEG", "LOSS"]

LOSS, LOSS_RECON, LOSS_SEG = "loss", "loss_recon", "loss_seg"
TISSUE3_NAMES = LABEL_SCHEMES["tissue3"].class_names[1:]


def _target(image: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """The reconstruction target in the recon's layout: the fully sampled image itself when the layouts agree; the
    magnitude of complex data (``physics.mode`` complex or multicoil) for a magnitude network; magnitude data plus a
    zero imaginary part for a real/imaginary network."""
    if recon.shape[1] == image.shape[1]:
        return image
    if recon.shape[1] == 1:
        return magnitude_of(image)
    return torch.cat([image, torch.zeros_like(image)], dim=1)


def _frozen_networks(network: nn.Module, phase: Phase) -> list[nn.Module]:
    """The ReconNet and SegNet outside the phase's trainable modules: they run in eval mode, so a frozen network with
    running statistics (BatchNorm) or dropout neither updates nor drops while the others train. SampNet keeps the
    trainer's mode: its mode decides between Monte-Carlo draws and the top-n mask."""
    model = getattr(network, "module", network)  # DistributedDataParallel around the PhaseForward
    model = getattr(model, "model", model)
    parts = {name: getattr(model, name, None) for name in ("recon", "seg")}
    return [m for name, m in parts.items() if m is not None and name not in phase.trainable]


class PhaseForward(nn.Module):
    """The forward pass of one phase as a module, so DistributedDataParallel can wrap it: returns
    ``(recon, seg, mask)``; ``input="full"`` runs SegNet on the fully sampled image (``recon`` is the image)."""

    def __init__(self, model: SemuNet, phase_input: str = "undersampled") -> None:
        super().__init__()
        if phase_input not in ("undersampled", "full"):
            raise ValueError(f"argument 'phase_input' must be 'undersampled' or 'full', got {phase_input!r}.")
        self.model = model
        self.phase_input = phase_input

    def forward(
        self, image: torch.Tensor, maps: torch.Tensor | None = None, kspace: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        if self.phase_input == "full":  # SegNet on the fully sampled magnitude image
            image = magnitude_of(image)
            return image, self.model.seg(image), None
        out = self.model(image, maps, kspace)
        return out.recon, out.seg, out.mask


class SemuNetTrainer(SupervisedTrainer):
    """SupervisedTrainer whose iteration runs one :class:`Phase` of a method; ``network`` is the phase's
    :class:`PhaseForward` (or a DistributedDataParallel around it).

    The loss is ``phase.recon_weight * L1 + seg_weight * CE`` from :meth:`JointLoss.terms`, computed in fp32;
    ``engine.state.output`` holds the batch, ``recon``, ``seg``, ``mask`` and the loss terms as floats.

    Host synchronisation: one per iteration, where the three loss values are read back together (the progress bar,
    TensorBoard and the non-finite-loss check use them); fp16 adds the GradScaler's inf check. :meth:`step` itself
    does not synchronise on a GPU.

    Args:
        phase: the phase to run.
        loss_function: a :class:`JointLoss`; its ``lam`` is lambda wherever the phase's seg weight is ``"lam"`` (the
            one place lambda lives: the phase weights recombine the loss's terms, so a second lambda would be ignored).
        precision: a concrete precision from :func:`~semunet_monai.precision.resolve_precision` (``fp32``,
            ``bf16`` or ``fp16``): the forward pass runs under autocast in that dtype, with a GradScaler for fp16.
        kwargs: passed on to :class:`monai.engines.SupervisedTrainer` (its ``amp`` is replaced by ``precision``).
    """

    def __init__(self, *args, phase: Phase, loss_function: JointLoss, precision: str = "fp32", **kwargs) -> None:
        kwargs.setdefault("decollate", False)
        if kwargs.pop("amp", False):
            raise ValueError("SemuNetTrainer takes 'precision' ('fp32', 'bf16' or 'fp16'), not 'amp'.")
        super().__init__(*args, loss_function=loss_function, **kwargs)
        # MONAI's amp path autocasts to "cuda" only and its run() builds a CUDA GradScaler whenever `amp` is on, so
        # `amp` stays off and the precision and the scaler live in attributes of their own
        self.precision = precision
        self.grad_scaler = grad_scaler(self.state.device, precision)
        self.phase = phase
        self.recon_weight = float(phase.recon_weight)
        self.seg_weight = phase.seg_weight_value(loss_function.lam)
        self.frozen_networks = _frozen_networks(self.network, phase)

    def step(
        self,
        image: torch.Tensor,
        label: torch.Tensor,
        maps: torch.Tensor | None = None,
        kspace: torch.Tensor | None = None,
    ) -> dict:
        """One optimisation step on a batch already on the device (``maps``: its coil sensitivities in ``multicoil``
        physics; ``kspace``: its fully sampled raw k-space); returns the outputs with tensor losses."""
        engine = self  # the names of MONAI's _iteration, which this body follows
        engine.network.train()
        for frozen in engine.frozen_networks:
            frozen.eval()
        engine.optimizer.zero_grad(set_to_none=engine.optim_set_to_none)
        use_seg = self.seg_weight > 0
        with autocast(image.device, self.precision):
            recon, seg, mask = engine.network(image, maps, kspace)
        engine.state.output = {Keys.IMAGE: image, Keys.LABEL: label, Keys.RECON: recon, Keys.SEG: seg}
        engine.fire_event(IterationEvents.FORWARD_COMPLETED)
        terms = engine.loss_function.terms(
            recon.float(),
            _target(image, recon).float(),
            seg.float() if use_seg else None,
            label if use_seg else None,
        )
        loss = self.recon_weight * terms["recon"] + self.seg_weight * terms["seg"]
        engine.state.output[Keys.MASK] = mask
        engine.state.output[LOSS] = loss
        engine.fire_event(IterationEvents.LOSS_COMPLETED)
        if engine.grad_scaler is not None:
            engine.grad_scaler.scale(loss).backward()
            engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
            engine.grad_scaler.step(engine.optimizer)
            engine.grad_scaler.update()
        else:
            loss.backward()
            engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
            engine.optimizer.step()
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        engine.state.output[LOSS_RECON] = terms["recon"]
        engine.state.output[LOSS_SEG] = terms["seg"]
        return engine.state.output

    def _iteration(self, engine: SemuNetTrainer, batchdata: dict) -> dict:
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        device = engine.state.device
        image = batchdata[Keys.IMAGE].to(device, non_blocking=engine.non_blocking)
        label = batchdata[Keys.LABEL].to(device, non_blocking=engine.non_blocking)
        maps, kspace = (batchdata.get(k) for k in (Keys.MAPS, Keys.KSPACE))
        maps = maps.to(device, non_blocking=engine.non_blocking) if maps is not None else None
        kspace = kspace.to(device, non_blocking=engine.non_blocking) if kspace is not None else None
        output = engine.step(image, label, maps, kspace)
        # the iteration's one host synchronisation: the three loss values, read back together
        values = torch.stack([output[k].detach().float() for k in (LOSS, LOSS_RECON, LOSS_SEG)]).tolist()
        output.update(zip((LOSS, LOSS_RECON, LOSS_SEG), values))
        return output


class SemuNetEvaluator(SupervisedEvaluator):
    """Evaluator: the model in eval mode (a SampNet gives its top-n boolean mask), outputs per slice.

    ``engine.state.output``: ``image`` and ``recon`` magnitudes ``(B, 1, H, W)``, ``label`` and ``pred``
    (argmax classes, or None without SegNet) ``(B, 1, H, W)``, ``zero_filled``, ``subject`` ids and ``slice`` indices.

    ``phase_input="full"`` validates what a SegNet pre-training phase trains: SegNet on the fully sampled image
    (``recon`` and ``zero_filled`` are then the image itself).
    """

    def __init__(self, *args, precision: str = "fp32", phase_input: str = "undersampled", **kwargs) -> None:
        kwargs.setdefault("decollate", False)
        if phase_input not in ("undersampled", "full"):
            raise ValueError(f"argument 'phase_input' must be 'undersampled' or 'full', got {phase_input!r}.")
        super().__init__(*args, **kwargs)
        self.precision = precision  # a concrete precision, as SemuNetTrainer's
        self.phase_input = phase_input

    def _iteration(self, engine: SemuNetEvaluator, batchdata: dict) -> dict:
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        device = engine.state.device
        data = batchdata[Keys.IMAGE].to(device)  # real/imaginary in complex physics
        maps, kspace = (batchdata.get(k) for k in (Keys.MAPS, Keys.KSPACE))
        image = magnitude_of(data)  # what every score compares with
        net: SemuNet = engine.network
        net.eval()
        with torch.no_grad(), autocast(device, self.precision):
            if self.phase_input == "full":
                seg = net.seg(image) if net.seg is not None else None
                out = SemuNetOutput(recon=image, seg=seg, mask=torch.ones_like(image[:, :1]), zero_filled=image)
            else:
                out = net(
                    data,
                    maps.to(device) if maps is not None else None,
                    kspace.to(device) if kspace is not None else None,
                )
        if self.phase_input == "full":  # the magnitude image itself, whatever the network's image mode
            recon = zero_filled = image.float()
        else:
            recon = net.magnitude(out.recon).float()
            zero_filled = net.magnitude(out.zero_filled).float()
        pred = out.seg.argmax(dim=1, keepdim=True) if out.seg is not None else None
        engine.state.output = {
            Keys.IMAGE: image,
            Keys.LABEL: batchdata[Keys.LABEL].to(device),
            Keys.RECON: recon,
            Keys.ZERO_FILLED: zero_filled,
            Keys.PRED: pred,
            Keys.MASK: out.mask[:1],
            SUBJECT: list(batchdata[SUBJECT]),
            "slice": batchdata.get("slice"),
        }
        engine.fire_event(IterationEvents.FORWARD_COMPLETED)
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output


def flatten_scores(scores: dict, class_names: Sequence[str]) -> dict[str, float]:
    """One volume's (or the mean's) scores as floats: scalars as they are, per-class Dice as ``dice_<class>`` and
    ``dice_tissue3_<csf|gm|wm>``."""
    flat = {k: float(v) for k, v in scores.items() if not torch.is_tensor(v) or v.ndim == 0}
    if "dice" in scores:
        flat.update({f"dice_{n}": float(v) for n, v in zip(class_names, scores["dice"])})
    if "dice_tissue3" in scores:
        flat.update({f"dice_tissue3_{n}": float(v) for n, v in zip(TISSUE3_NAMES, scores["dice_tissue3"])})
    return flat


class VolumeMetrics(Metric):
    """Ignite metric over whole volumes: PSNR, SSIM (per volume, ``data_range`` = the reference volume's max),
    per-class and mean Dice. Its value is ``key``; every scalar also lands in ``engine.state.metrics``
    (``psnr``, ``ssim``, ``mean_dice``, ``dice_<class>``), and the per-volume table in ``engine.state.volume_metrics``.

    Args:
        key: the metric reported as this metric's value (``psnr``, ``ssim`` or ``mean_dice``).
        num_classes: segmentation classes, or None when the model does not segment.
        class_names: names for the per-class Dice entries (background excluded), default ``1..K-1``.
        ignore_index: reference label excluded from Dice.
        merge: training class -> MRBrainS13 tissue class (CSF, GM, WM), for ``mean_dice_tissue3`` and
            ``dice_tissue3_<csf|gm|wm>`` beside the training classes' Dice; None to skip.
    """

    def __init__(
        self,
        key: str = "mean_dice",
        num_classes: int | None = None,
        class_names: Sequence[str] | None = None,
        ignore_index: int | None = None,
        merge: Sequence[int] | None = None,
    ) -> None:
        self.key = key
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names is not None else None
        self.accumulator = VolumeMetricAccumulator(num_classes, ignore_index, merge)
        super().__init__(output_transform=lambda x: x)

    def reset(self) -> None:
        self.accumulator.reset()

    def iteration_completed(self, engine: Engine) -> None:
        self.update(engine.state.output)  # the whole output dictionary, not Ignite's (y_pred, y) pair

    def update(self, output: dict) -> None:
        labels = (output[Keys.PRED], output[Keys.LABEL]) if self.num_classes is not None else (None, None)
        self.accumulator.add(output[SUBJECT], output[Keys.RECON].float(), output[Keys.IMAGE].float(), *labels)

    def compute(self) -> dict:
        return self.accumulator.compute()

    def completed(self, engine: Engine, name: str) -> None:
        result = self.compute()
        mean = result["mean"]
        names = self.class_names or [str(i) for i in range(1, len(mean.get("dice", [])) + 1)]
        flat = flatten_scores(mean, names)
        if self.key not in flat:
            raise ValueError(f"key metric {self.key!r} is not available; computed: {sorted(flat)}.")
        engine.state.metrics.update(flat)
        engine.state.metrics[name] = flat[self.key]
        engine.state.volume_metrics = result["per_volume"]
        if not math.isfinite(flat[self.key]) and self.key != "psnr":
            engine.logger.warning("key metric %s is %s", self.key, flat[self.key])
