"""Build a method's model and optimiser from an :class:`~semunet_monai.config.ExperimentConfig`."""

from __future__ import annotations

import torch
from torch import nn

from ..config import ExperimentConfig
from ..kspace import UndersamplingOperator
from ..networks.semunet import SemuNet
from ..networks.unets import IdentityRecon, ReconNet, SegNet
from ..sampling.masks import make_mask, mask_geometry
from ..sampling.sampnet import SampNet
from .methods import Phase, get_method

__all__ = ["build_model", "build_operator", "build_optimizer", "set_trainable"]


def build_model(
    config: ExperimentConfig,
    num_classes: int,
    shape: tuple[int, int],
    recon: nn.Module | None = None,
    seg: nn.Module | None = None,
) -> SemuNet:
    """The SemuNet composition for ``config.train.method`` on images of ``shape``.

    Learned-mask methods get a SampNet; fixed-mask methods get ``make_mask(sampling.mask_kind, ...)``;
    a method that samples all of k-space (``fullysampled``) gets an all-ones mask and an identity ReconNet, so its
    path is SegNet on the image.

    Args:
        recon, seg: networks to compose instead of building them from ``config.model`` (a bundle's
            ``network_def`` nodes). ``recon`` is unused by ``fullysampled`` (identity) and ``mdrecon`` (its own
            dual-domain network), ``seg`` by ``loupe`` (no SegNet).
    """
    method, s, m = get_method(config.train.method), config.sampling, config.model
    channels = 1 if m.image_mode == "magnitude" else 2
    if "seg" not in method.modules:
        seg = None
    elif seg is None:
        seg = SegNet(num_classes=num_classes, features=m.seg_features or m.features)
    if method.recon == "identity":
        recon = IdentityRecon()
    elif method.recon == "dual_domain":
        from ..networks.mdrecon import MDReconNet

        recon = MDReconNet(channels, cascades=m.mdrecon_cascades, features=m.mdrecon_features)
    elif recon is None and m.recon == "varnet":
        from ..networks.varnet import VarNetRecon

        recon = VarNetRecon(m.varnet_cascades, m.varnet_features, m.varnet_sens_features, m.varnet_calib)
    elif recon is None:
        recon = ReconNet(in_channels=channels, features=m.recon_features or m.features)
    operator = build_operator(config, shape)
    if method.mask == "full":
        return SemuNet(
            recon=recon, seg=seg, operator=operator, mask=torch.ones(shape, dtype=torch.bool), image_mode="magnitude"
        )
    if method.mask == "learned":
        sampler = SampNet(
            shape,
            s.rate,
            geometry="2d" if s.geometry == "kykz" else s.geometry,  # kykz: a pixel mask of the (ky, kz) plane
            slope_prob=s.slope_prob,
            slope_sample=s.slope_sample,
            init=s.init,
            acs=s.acs,
            straight_through=s.straight_through,
            seed=config.train.seed,
        )
        return SemuNet(recon=recon, seg=seg, sampler=sampler, operator=operator, image_mode=m.image_mode)
    geometry = mask_geometry(s.mask_kind)
    if geometry != s.geometry and s.geometry == "lines":
        raise ValueError(
            f"sampling.geometry is 'lines' but sampling.mask_kind {s.mask_kind!r} is a 2-D mask: pick "
            f"'cartesian_random' or 'cartesian_equispaced'."
        )
    if geometry == "lines" and s.geometry == "kykz":
        raise ValueError(
            f"sampling.geometry is 'kykz' (a mask over the (ky, kz) plane) but sampling.mask_kind {s.mask_kind!r} "
            "samples lines: pick a 2-D kind such as 'poisson' or 'gaussian'."
        )
    # sampling.acs gives the variable-density mask a fully sampled centre disc too (radius in pixels)
    extra = {"centre_radius": float(s.acs)} if s.mask_kind == "gaussian" and s.acs is not None else {}
    mask = make_mask(s.mask_kind, shape, s.rate, seed=s.mask_seed, **extra)
    return SemuNet(recon=recon, seg=seg, operator=operator, mask=mask, image_mode=m.image_mode)


def build_operator(config: ExperimentConfig, shape: tuple[int, int]) -> UndersamplingOperator:
    """The undersampling operator of ``config.physics``: single-coil ``A = M F``, or ``A = M F S`` for
    ``multicoil``. The multi-coil operator holds unrotated birdcage maps as its default, which scans given as images
    (inference) are simulated with; training batches bring each subject's own maps."""
    p = config.physics
    if p.mode != "multicoil":
        return UndersamplingOperator()
    from ..physics import MultiCoilOperator, birdcage_maps

    return MultiCoilOperator(maps=birdcage_maps(shape, p.coils, radius=p.coil_radius))


def set_trainable(model: SemuNet, phase: Phase) -> list[nn.Module]:
    """Enable gradients on the phase's modules only and return them (the trainer runs a frozen ReconNet or SegNet in
    eval mode, so a user's network with BatchNorm or dropout keeps its statistics while it is frozen)."""
    parts = {"sampler": model.sampler, "recon": model.recon, "seg": model.seg}
    trainable = []
    for name, module in parts.items():
        if module is None:
            continue
        on = name in phase.trainable
        module.requires_grad_(on)
        if on:
            trainable.append(module)
    return trainable


def build_optimizer(model: SemuNet, phase: Phase, config: ExperimentConfig, factory=None) -> torch.optim.Optimizer:
    """Adam over the phase's trainable modules; SampNet's logits get their own group and learning rate.

    ``factory`` (a bundle's ``optimizer`` node in ``callable`` mode, e.g. ``functools.partial(torch.optim.Adam,
    lr=...)``) replaces Adam: it is called with the parameter groups, and the networks' group takes its ``lr``."""
    groups = []
    if "sampler" in phase.trainable and model.sampler is not None:
        groups.append({"params": list(model.sampler.parameters()), "lr": config.sampling.mask_lr, "name": "sampler"})
    nets = [
        p
        for n in ("recon", "seg")
        if n in phase.trainable and getattr(model, n) is not None
        for p in getattr(model, n).parameters()
    ]
    if nets:
        groups.append({"params": nets, "name": "networks", **({} if factory is not None else {"lr": config.train.lr})})
    if not groups:
        raise ValueError(f"phase {phase.name!r} has nothing to train for method {config.train.method!r}.")
    return factory(groups) if factory is not None else torch.optim.Adam(groups)
