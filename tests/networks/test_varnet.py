"""VarNetRecon: MONAI's VarNet through the project's operator, with a data-consistency term a sampler learns
through, coil maps from a 2-D calibration square, and the settings it refuses."""

from __future__ import annotations

import pytest
import torch
from monai.apps.reconstruction.networks.blocks.varnetblock import VarNetBlock

from semunet_monai.kspace import UndersamplingOperator
from semunet_monai.networks.varnet import SoftDCBlock, VarNetRecon
from semunet_monai.physics import MultiCoilOperator, birdcage_maps
from semunet_monai.sampling.sampnet import SampNet


def test_soft_dc_equals_monai_for_a_boolean_mask_and_is_m_times_the_residual_for_a_relaxed_one():
    """The measured k-space is weighted by the mask (ref = m * y): the DC term is m * (x - y) for any m."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 3, 10, 9, 2, generator=g), torch.randn(2, 3, 10, 9, 2, generator=g)
    mask = torch.rand(2, 1, 10, 9, 1, generator=g) < 0.4
    ours, theirs = SoftDCBlock(torch.nn.Identity()), VarNetBlock(torch.nn.Identity())
    m = mask.float()
    assert torch.allclose(ours.soft_dc(x, m * y, m), theirs.soft_dc(x, m * y, mask))
    with pytest.raises(RuntimeError):
        theirs.soft_dc(x, y, m * 0.5)  # MONAI's needs a boolean condition
    relaxed = torch.rand(2, 1, 10, 9, 1, generator=g)
    assert torch.allclose(ours.soft_dc(x, relaxed * y, relaxed), relaxed * (x - y), atol=1e-6)


@pytest.mark.parametrize("shape", [(48, 48), (45, 38)])
def test_sampnet_learns_through_the_data_consistency_term(shape):
    """The input k-space is detached, so every gradient on the logits comes through the DC term's mask."""
    torch.manual_seed(0)
    op = MultiCoilOperator(maps=birdcage_maps(shape, 4))
    net = VarNetRecon(cascades=2)
    sampler = SampNet(shape, 0.1, acs=2, init="vd")
    image = torch.rand(2, 1, *shape)
    mask = sampler(2)
    kspace = op(image, mask).detach()
    out = net(image, kspace, mask, op)
    assert out.shape == (2, 1, *shape) and bool(torch.isfinite(out).all())
    out.sum().backward()
    assert float(sampler.logits.grad.abs().sum()) > 0
    sampler.logits.grad = None
    for block in net.varnet.cascades:
        block.dc_weight.data.zero_()  # no data consistency: nothing reaches the sampler
    net(image, kspace, sampler(2), op).sum().backward()
    assert sampler.logits.grad is None or float(sampler.logits.grad.abs().sum()) == 0


def test_coil_maps_are_normalised_and_a_single_coil_operator_is_one_coil():
    op = MultiCoilOperator(maps=birdcage_maps((40, 36), 5))
    net = VarNetRecon(cascades=1)
    mask = (torch.rand(1, 1, 40, 36, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    maps = net.varnet.coil_sensitivity_model(op(torch.rand(3, 1, 40, 36), mask), mask, op)
    assert maps.shape == (3, 5, 40, 36, 2)
    assert torch.allclose((maps**2).sum(dim=(1, -1)), torch.ones(3, 40, 36), atol=1e-4)
    single = UndersamplingOperator()
    out = net(torch.rand(2, 1, 40, 36), single(torch.rand(2, 1, 40, 36), mask), mask, single)
    assert out.shape == (2, 1, 40, 36)


def test_varnet_refuses_missing_inputs_and_bad_settings(demo_dir, tmp_path):
    from semunet_monai.engines.workflow import train

    from ..engines.conftest import tiny

    with pytest.raises(ValueError, match="masked k-space"):
        VarNetRecon(1)(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="cascades"):
        VarNetRecon(0)
    for overrides, message in (
        ({"model": {"recon": "varnet"}, "train": {"method": "mdrecon"}}, "brings its own ReconNet"),
        ({"model": {"recon": "varnet", "image_mode": "complex"}}, "model.image_mode 'magnitude'"),
        ({"model": {"recon": "transformer"}}, "model.recon must be one of"),
    ):
        with pytest.raises(ValueError, match=message):
            train(tiny(demo_dir, **overrides), tmp_path / "run", progress=False)
        assert not (tmp_path / "run").exists()
