from __future__ import annotations

import numpy as np
import pytest
import torch

from semunet_monai.kspace import UndersamplingOperator, fft2c, ifft2c, to_complex

SHAPES = [(16, 16), (241, 239), (33, 20)]


def _rand_complex(shape, gen, dtype=torch.float64):
    return torch.complex(torch.randn(shape, generator=gen, dtype=dtype), torch.randn(shape, generator=gen, dtype=dtype))


@pytest.mark.parametrize("hw", SHAPES)
def test_fft_matches_numpy_centered_ortho(hw):
    gen = torch.Generator().manual_seed(0)
    x = _rand_complex((2, 1, *hw), gen)
    expected = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x.numpy(), axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    np.testing.assert_allclose(fft2c(x).numpy(), expected, atol=1e-10)
    np.testing.assert_allclose(ifft2c(fft2c(x)).numpy(), x.numpy(), atol=1e-10)
    # orthonormal: energy is preserved
    assert torch.allclose(fft2c(x).abs().pow(2).sum(), x.abs().pow(2).sum())


@pytest.mark.parametrize("hw", SHAPES)
@pytest.mark.parametrize("relaxed", [False, True])
def test_operator_adjointness_float64(hw, relaxed):
    gen = torch.Generator().manual_seed(1)
    mask = torch.rand(hw, generator=gen, dtype=torch.float64)
    if not relaxed:
        mask = mask > 0.7
    op = UndersamplingOperator()
    x = _rand_complex((3, 1, *hw), gen)
    y = _rand_complex((3, 1, *hw), gen)
    lhs = torch.vdot(op(x, mask).flatten(), y.flatten())
    rhs = torch.vdot(x.flatten(), op.adjoint(y, mask).flatten())
    assert abs(lhs - rhs) < 1e-5 * max(1.0, abs(lhs))
    assert op(x, mask).dtype == torch.complex128


def test_magnitude_and_two_channel_inputs_agree():
    gen = torch.Generator().manual_seed(2)
    re, im = torch.randn(2, 1, 8, 10, generator=gen), torch.randn(2, 1, 8, 10, generator=gen)
    mask = torch.ones(8, 10)
    op = UndersamplingOperator(mask)
    k2 = op(torch.cat([re, im], dim=1))
    kc = op(torch.complex(re, im))
    assert k2.dtype == torch.complex64
    assert torch.allclose(k2, kc)
    # a magnitude image is the real part of a complex image with zero imaginary part
    assert torch.allclose(op(re), op(torch.complex(re, torch.zeros_like(re))))
    # full mask: zero-filling is lossless
    assert torch.allclose(op.zero_filled(re).real, re, atol=1e-5)


def test_mask_zeroes_unsampled_kspace_and_buffer_is_used():
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[:, ::2] = True
    op = UndersamplingOperator(mask)
    k = op(torch.rand(1, 1, 8, 8))
    assert torch.count_nonzero(k[..., 1::2]) == 0
    assert torch.count_nonzero(k[..., ::2]) > 0
    # a per-call batch mask overrides the buffer
    per_call = torch.ones(1, 1, 8, 8)
    assert torch.count_nonzero(op(torch.rand(1, 1, 8, 8), per_call)) == 64


def test_zero_image_gives_finite_values_and_gradients():
    x = torch.zeros(2, 1, 12, 12, requires_grad=True)
    mask = torch.full((12, 12), 0.3, requires_grad=True)
    op = UndersamplingOperator()
    zf = op.zero_filled(x, mask).abs()
    zf.sum().backward()
    assert torch.isfinite(zf).all()
    assert torch.isfinite(x.grad).all() and torch.isfinite(mask.grad).all()


def test_gradient_reaches_relaxed_mask():
    x = torch.rand(1, 1, 10, 10)
    mask = torch.full((10, 10), 0.5, requires_grad=True)
    loss = (UndersamplingOperator().zero_filled(x, mask).abs() - x).abs().mean()
    loss.backward()
    assert mask.grad is not None and mask.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "image, match",
    [
        (torch.rand(8, 8), "rank 4"),
        (torch.rand(1, 3, 8, 8), "1 \\(magnitude\\) or 2"),
    ],
)
def test_bad_image_raises(image, match):
    with pytest.raises(ValueError, match=match):
        to_complex(image)


def test_bad_mask_raises():
    op = UndersamplingOperator()
    with pytest.raises(ValueError, match="'mask'"):
        op(torch.rand(1, 1, 8, 8), torch.ones(8, 9))
    with pytest.raises(ValueError, match="no mask"):
        op(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="'kspace'"):
        op.adjoint(torch.rand(1, 1, 8, 8), torch.ones(8, 8))


@pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental")
def test_half_precision_inputs_are_computed_in_complex64():
    x = torch.rand(1, 1, 10, 14, dtype=torch.float16)
    k = UndersamplingOperator(torch.ones(10, 14))(x)
    assert k.dtype == torch.complex64
    assert torch.allclose(ifft2c(k).real, x.float(), atol=1e-3)
    assert fft2c(torch.complex(x.float(), x.float()).to(torch.complex32)).dtype == torch.complex64
