from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semunet_monai.kspace import fft2c, ifft2c
from semunet_monai.networks.mdrecon import MDReconNet

TINY = {"cascades": 2, "features": 8, "depth": 3}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors gain nothing from intra-op threads, and OpenMP spin-waiting on a busy CPU slows them ~100x."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _example(shape=(1, 1, 32, 32), rate=0.25, seed=0, channels=1, relaxed=False):
    """A smooth random complex image, its mask, masked k-space and network-layout zero-filled image."""
    g = torch.Generator().manual_seed(seed)
    b, _, h, w = shape
    low = torch.randn(b, 2, max(h // 4, 2), max(w // 4, 2), generator=g)
    smooth = F.interpolate(low, size=(h, w), mode="bicubic", align_corners=False)
    image = (
        torch.complex(smooth[:, :1], smooth[:, 1:])
        if channels == 2
        else torch.complex(smooth[:, :1].abs(), 0 * smooth[:, :1])
    )
    mask = torch.rand(b, 1, h, w, generator=g)
    mask = mask if relaxed else (mask < rate).float()
    kspace = fft2c(image) * mask
    zf = ifft2c(kspace)
    zero_filled = zf.abs() if channels == 1 else torch.cat([zf.real, zf.imag], dim=1)
    target = image.abs() if channels == 1 else torch.cat([image.real, image.imag], dim=1)
    return zero_filled, kspace, mask, image, target


def _net(seed=0, **kwargs):
    with torch.random.fork_rng():  # parameter init leaves the global RNG untouched
        torch.manual_seed(seed)
        return MDReconNet(**kwargs)


@pytest.mark.parametrize(
    "kwargs, input_shape, expected_shape",
    [
        ({"in_channels": 1, **TINY}, (2, 1, 32, 32), (2, 1, 32, 32)),
        ({"in_channels": 2, **TINY}, (2, 2, 32, 32), (2, 2, 32, 32)),
        ({"in_channels": 1, **TINY}, (1, 1, 33, 47), (1, 1, 33, 47)),
        ({"in_channels": 2, **TINY}, (1, 2, 47, 33), (1, 2, 47, 33)),
    ],
)
def test_output_shapes(kwargs, input_shape, expected_shape):
    zf, k, m, _, _ = _example((input_shape[0], 1, *input_shape[2:]), channels=input_shape[1])
    out = _net(**kwargs)(zf, k, m)
    assert out.shape == expected_shape
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_defaults():
    net = MDReconNet()
    assert net.in_channels == 1 and net.cascades == 5
    assert len(net.kspace_branches) == len(net.image_branches) == 5


@pytest.mark.parametrize("shape, mask_2d", [((2, 1, 32, 32), False), ((1, 1, 33, 47), True)])
def test_hard_data_consistency_at_sampled_locations(shape, mask_2d):
    zf, k, m, _, _ = _example(shape, channels=2, seed=1)
    if mask_2d:
        m = m[0, 0]
    with torch.no_grad():
        out = _net(in_channels=2, **TINY)(zf, k, m)
    k_out = fft2c(torch.complex(out[:, :1], out[:, 1:]))
    sampled = (m.expand_as(k) if mask_2d else m) == 1
    assert sampled.any() and (~sampled).any()
    assert torch.allclose(k_out[sampled], k[sampled], atol=1e-5)
    # and the network did change the unsampled part
    assert not torch.allclose(k_out[~sampled], torch.zeros_like(k_out[~sampled]), atol=1e-3)


def test_unmasked_kspace_outside_the_mask_is_ignored():
    zf, k, m, image, _ = _example(seed=2)
    net = _net(**TINY)
    with torch.no_grad():
        assert torch.allclose(net(zf, k, m), net(zf, fft2c(image), m), atol=1e-6)


@pytest.mark.parametrize("channels", [1, 2])
def test_fully_sampled_mask_returns_the_input(channels):
    _, _, _, image, target = _example((2, 1, 33, 47), channels=channels, seed=3)
    kspace = fft2c(image)
    zf = target
    with torch.no_grad():
        out = _net(in_channels=channels, **TINY)(zf, kspace, torch.ones(33, 47))
    assert torch.allclose(out, target, atol=1e-5)


def test_output_scales_with_the_input():
    zf, k, m, _, _ = _example(seed=4)
    net = _net(**TINY)
    with torch.no_grad():
        assert torch.allclose(net(100.0 * zf, 100.0 * k, m), 100.0 * net(zf, k, m), rtol=1e-4, atol=1e-4)


def test_gradients_reach_both_branches_of_every_cascade():
    zf, k, m, _, target = _example(seed=5)
    net = _net(**TINY)
    F.l1_loss(net(zf, k, m), target).backward()
    for i in range(net.cascades):
        for branches in (net.kspace_branches, net.image_branches):
            for name, p in branches[i].named_parameters():
                assert p.grad is not None and torch.isfinite(p.grad).all(), f"cascade {i} {name}"
                assert p.grad.abs().sum() > 0, f"cascade {i} {name}"


def test_relaxed_mask_is_differentiable():
    zf, _, _, image, target = _example(seed=6)
    logits = torch.zeros(1, 1, 32, 32, requires_grad=True)
    m = torch.sigmoid(logits)
    k = fft2c(image) * m
    zf = ifft2c(k).abs()
    out = _net(**TINY)(zf, k, m)
    F.l1_loss(out, target).backward()
    assert torch.isfinite(out).all()
    assert logits.grad is not None and torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("channels", [1, 2])
def test_all_zero_input_is_finite_with_finite_gradients(channels):
    net = _net(in_channels=channels, **TINY)
    zf = torch.zeros(1, channels, 16, 16, requires_grad=True)
    k = torch.zeros(1, 1, 16, 16, dtype=torch.complex64, requires_grad=True)
    m = (torch.arange(256).reshape(16, 16) % 3 == 0).float()
    out = net(zf, k, m)
    out.sum().backward()
    assert torch.isfinite(out).all()
    assert torch.isfinite(k.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        ({"in_channels": 3}, "in_channels"),
        ({"in_channels": True}, "in_channels"),
        ({"cascades": 0}, "cascades"),
        ({"features": 0}, "features"),
        ({"features": 8.0}, "features"),
        ({"depth": 1}, "depth"),
    ],
)
def test_bad_constructor_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=f"'{arg}'"):
        MDReconNet(**kwargs)


def test_bad_forward_inputs():
    net = _net(**TINY)
    zf, k, m, _, _ = _example((2, 1, 16, 16))
    with pytest.raises(ValueError, match="'zero_filled'"):
        net(torch.rand(2, 2, 16, 16), k, m)  # wrong channel count for in_channels=1
    with pytest.raises(ValueError, match="'zero_filled'"):
        net(zf[0], k, m)
    with pytest.raises(ValueError, match="'kspace'"):
        net(zf, k.abs(), m)  # real, not complex
    with pytest.raises(ValueError, match="'kspace'"):
        net(zf, k[:, :, :8], m)
    with pytest.raises(ValueError, match="'mask'"):
        net(zf, k, m[:, :, :8])
    with pytest.raises(ValueError, match="'mask'"):
        net(zf, k, torch.ones(3, 1, 16, 16))
    with pytest.raises(ValueError, match="'mask'"):
        net(zf, k, m.to(torch.complex64))


def test_a_few_adam_steps_lower_the_loss():
    zf, k, m, _, target = _example((1, 1, 32, 32), rate=0.25, seed=7)
    net = _net(seed=0, **TINY)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    zero_filled_loss = F.l1_loss(zf, target).item()
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.l1_loss(net(zf, k, m), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        final = F.l1_loss(net(zf, k, m), target).item()
    assert final < 0.7 * losses[0], (losses[0], final)
    assert final < zero_filled_loss, (zero_filled_loss, final)
