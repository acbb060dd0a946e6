from __future__ import annotations

import pytest
import torch

from semunet_monai.networks.semunet import SemuNet
from semunet_monai.networks.unets import FEATURE_PRESETS, ReconNet, SegNet, resolve_features
from semunet_monai.sampling.sampnet import SampNet


@pytest.mark.parametrize(
    "kwargs, input_shape, expected_shape",
    [
        ({"in_channels": 1, "features": "tiny"}, (2, 1, 32, 32), (2, 1, 32, 32)),
        ({"in_channels": 2, "features": "tiny"}, (1, 2, 48, 40), (1, 2, 48, 40)),
        ({"in_channels": 1, "features": (4, 4, 8, 8, 16, 4)}, (1, 1, 241, 239), (1, 1, 241, 239)),
    ],
)
def test_reconnet_shapes(kwargs, input_shape, expected_shape):
    assert ReconNet(**kwargs)(torch.rand(input_shape)).shape == expected_shape


def test_reconnet_is_residual_on_its_input():
    net = ReconNet(features="tiny")
    x = torch.rand(1, 1, 32, 32)
    assert torch.allclose(net(x) - x, net.unet(x), atol=1e-6)
    plain = ReconNet(features="tiny", residual=False)
    assert torch.allclose(plain(x), plain.unet(x), atol=1e-6)


@pytest.mark.parametrize("num_classes, input_shape", [(8, (2, 1, 32, 32)), (4, (1, 1, 33, 47))])
def test_segnet_shapes(num_classes, input_shape):
    out = SegNet(num_classes=num_classes, features="tiny")(torch.rand(input_shape))
    assert out.shape == (input_shape[0], num_classes, *input_shape[2:])


def test_feature_presets_and_errors():
    assert resolve_features("paper") == (64, 128, 256, 512, 1024, 64)
    assert set(FEATURE_PRESETS) >= {"paper", "tiny"}
    with pytest.raises(ValueError, match="'features'"):
        resolve_features("huge")
    with pytest.raises(ValueError, match="'features'"):
        resolve_features((1, 2, 3))
    with pytest.raises(ValueError, match="'in_channels'"):
        ReconNet(in_channels=3)
    with pytest.raises(ValueError, match="'num_classes'"):
        SegNet(num_classes=1)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        ReconNet(features="tiny")(torch.rand(1, 2, 16, 16))


def _semunet(image_mode="magnitude", sampler=True, shape=(32, 32)):
    c = 1 if image_mode == "magnitude" else 2
    return SemuNet(
        recon=ReconNet(in_channels=c, features="tiny"),
        seg=SegNet(num_classes=4, features="tiny"),
        sampler=SampNet(shape, 0.2, seed=0) if sampler else None,
        mask=None if sampler else torch.rand(shape) > 0.7,
        image_mode=image_mode,
    )


@pytest.mark.parametrize("image_mode, channels", [("magnitude", 1), ("complex", 2)])
def test_semunet_outputs(image_mode, channels):
    model = _semunet(image_mode).train()
    out = model(torch.rand(3, channels, 32, 32))
    assert out.recon.shape == (3, channels, 32, 32)
    assert out.seg.shape == (3, 4, 32, 32)
    assert out.mask.shape == (3, 1, 32, 32)
    assert out.zero_filled.shape == (3, channels, 32, 32)
    # training draws relaxed masks: values strictly between 0 and 1 occur
    assert ((out.mask > 0) & (out.mask < 1)).any()


def test_eval_uses_booleanized_mask_and_freeze_mask_gives_the_same_path():
    model = _semunet().eval()
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        before = model(x)
    expected = model.sampler.booleanize()
    assert torch.equal(before.mask[0, 0].bool(), expected)
    frozen = model.freeze_mask()
    assert model.sampler is None and torch.equal(frozen, expected)
    assert int(frozen.sum()) == round(0.2 * 32 * 32)
    with torch.no_grad():
        after = model(x)
    assert torch.allclose(before.recon, after.recon, atol=1e-6)
    assert torch.allclose(before.seg, after.seg, atol=1e-6)
    with pytest.raises(ValueError, match="no sampler"):
        model.freeze_mask()


def test_forward_kspace_matches_retrospective_path():
    model = _semunet(sampler=False).eval()
    x = torch.rand(2, 1, 32, 32)
    kspace = model.operator(x)  # acquired undersampled k-space under the fixed mask
    with torch.no_grad():
        a, b = model(x), model.forward_kspace(kspace)
    assert torch.allclose(a.zero_filled, b.zero_filled, atol=1e-6)
    assert torch.allclose(a.seg, b.seg, atol=1e-5)


def test_gradients_reach_sampler_recon_and_seg():
    model = _semunet().train()
    x = torch.rand(2, 1, 32, 32)
    labels = torch.randint(0, 4, (2, 32, 32))
    out = model(x)
    loss = (out.recon - x).abs().mean() + 0.1 * torch.nn.functional.cross_entropy(out.seg, labels)
    loss.backward()
    for name, part in [("sampler", model.sampler), ("recon", model.recon), ("seg", model.seg)]:
        grads = [p.grad for p in part.parameters()]
        assert all(g is not None for g in grads), name
        assert sum(float(g.abs().sum()) for g in grads) > 0, name


def test_all_zero_image_is_finite():
    for mode, c in (("magnitude", 1), ("complex", 2)):
        model = _semunet(mode).train()
        x = torch.zeros(2, c, 32, 32, requires_grad=True)
        out = model(x)
        (out.recon.sum() + out.seg.sum()).backward()
        assert torch.isfinite(out.recon).all() and torch.isfinite(out.seg).all()
        assert torch.isfinite(x.grad).all() and torch.isfinite(model.sampler.logits.grad).all()


def test_semunet_argument_errors():
    with pytest.raises(ValueError, match="'image_mode'"):
        SemuNet(ReconNet(features="tiny"), mask=torch.ones(8, 8), image_mode="phase")
    with pytest.raises(ValueError, match="not both"):
        SemuNet(ReconNet(features="tiny"), sampler=SampNet((8, 8), 0.2), mask=torch.ones(8, 8))
    with pytest.raises(ValueError, match="needs a mask"):
        SemuNet(ReconNet(features="tiny"))
    with pytest.raises(ValueError, match="freeze_mask"):
        _semunet().forward_kspace(torch.zeros(1, 1, 32, 32, dtype=torch.complex64))


@pytest.mark.parametrize("size", [(32, 48), (40, 36), (33, 20)])
def test_unets_skip_only_the_no_op_pad(size):
    """Sizes divisible by 16 skip UpCat's zero-width pad with identical outputs and gradients; others still pad."""
    torch.manual_seed(0)
    net = SegNet(num_classes=3, features="tiny")
    x = torch.rand(2, 1, *size, requires_grad=True)
    out = net(x)
    divisible = all(s % 16 == 0 for s in size)
    assert out.shape == (2, 3, *size)
    assert [up.is_pad for up in (net.unet.upcat_1, net.unet.upcat_4)] == [not divisible] * 2
    (grad,) = torch.autograd.grad(out.square().sum(), x)
    for up in (net.unet.upcat_1, net.unet.upcat_2, net.unet.upcat_3, net.unet.upcat_4):
        up.is_pad = True  # MONAI's default path
    ref = net.unet(x)
    (ref_grad,) = torch.autograd.grad(ref.square().sum(), x)
    assert torch.equal(out, ref) and torch.equal(grad, ref_grad)


def test_unets_activation_is_not_in_place_and_gives_monai_defaults_values():
    torch.manual_seed(0)
    net = ReconNet(features="tiny")
    acts = [m for m in net.modules() if isinstance(m, torch.nn.LeakyReLU)]
    assert acts and all(not m.inplace and m.negative_slope == 0.1 for m in acts)
    x = torch.rand(2, 1, 32, 32)
    out = net(x)
    for m in acts:
        m.inplace = True  # BasicUNet's default: the same values
    assert torch.equal(net(x), out)
