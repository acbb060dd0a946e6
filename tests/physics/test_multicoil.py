"""Multi-coil physics: adjointness of every operator (float64, odd and non-square sizes), coil normalisation,
coil combination, a mask shared across coils that passes gradients, and a smooth seeded phase."""

from __future__ import annotations

import math
import re

import pytest
import torch

from semunet_monai.kspace import UndersamplingOperator, fft2c
from semunet_monai.physics import MultiCoilOperator, birdcage_maps, rss, sense_combine, smooth_phase

SHAPES = [(7, 5), (9, 12), (16, 16)]


def _complex(shape, generator):
    return torch.complex(
        torch.randn(shape, generator=generator, dtype=torch.float64),
        torch.randn(shape, generator=generator, dtype=torch.float64),
    )


def _inner(a, b):
    return (a * b.conj()).sum()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", ["single", "multi"])
def test_every_operator_is_adjoint_to_its_adjoint(shape, kind):
    g = torch.Generator().manual_seed(sum(shape))
    mask = torch.rand((2, 1, *shape), generator=g, dtype=torch.float64)  # relaxed, per batch item
    x = _complex((2, 1, *shape), g)
    if kind == "single":
        op, y = UndersamplingOperator(), _complex((2, 1, *shape), g)
        ax, ahy = op(x, mask), op.adjoint(y, mask)
    else:
        maps = _complex((2, 4, *shape), g)  # any maps: adjointness does not need normalised ones
        op, y = MultiCoilOperator(), _complex((2, 4, *shape), g)
        ax, ahy = op(x, mask, maps), op.adjoint(y, mask, maps)
    assert ax.dtype == torch.complex128
    torch.testing.assert_close(_inner(ax, y), _inner(x, ahy), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape", SHAPES)
def test_birdcage_maps_are_normalised_and_distinct(shape):
    maps = birdcage_maps(shape, 8, dtype=torch.complex128)
    assert maps.shape == (8, *shape)
    torch.testing.assert_close((maps.abs() ** 2).sum(0), torch.ones(shape, dtype=torch.float64))
    assert (maps[0].abs() - maps[4].abs()).abs().max() > 0.1  # opposite coils see the image differently
    rotated = birdcage_maps(shape, 8, rotation=0.3, dtype=torch.complex128)
    assert not torch.allclose(rotated, maps)
    with pytest.raises(ValueError, match="radius"):
        birdcage_maps(shape, 8, radius=0.5)


def test_fully_sampled_multicoil_round_trip_and_rss():
    g = torch.Generator().manual_seed(0)
    x = _complex((1, 1, 9, 12), g)
    maps = birdcage_maps((9, 12), 6, dtype=torch.complex128)
    op = MultiCoilOperator(maps, mask=torch.ones(9, 12))
    k = op(x)
    assert k.shape == (1, 6, 9, 12)
    torch.testing.assert_close(op.adjoint(k), x)  # sum_c |S_c|^2 = 1: SENSE combination is exact
    torch.testing.assert_close(rss(op.coil_images(k)), x.abs())
    torch.testing.assert_close(op.zero_filled(x), x)
    torch.testing.assert_close(sense_combine(op.coil_images(k), maps[None]), x)


def test_one_mask_is_shared_by_every_coil_and_passes_gradients():
    maps = birdcage_maps((16, 16), 4)
    logits = torch.zeros(16, 16, requires_grad=True)
    mask = torch.sigmoid(logits)
    x = torch.rand(2, 1, 16, 16)
    op = MultiCoilOperator(maps)
    op(x, (mask > 0.5).float())  # a boolean-valued mask works too
    k = op(x, mask)
    k.abs().sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    hard = (torch.rand(16, 16, generator=torch.Generator().manual_seed(1)) > 0.7).float()
    k = op(x, hard)
    assert (k[..., hard == 0] == 0).all() and (k[..., hard == 1] != 0).any()


def test_operator_errors_name_the_argument():
    op = MultiCoilOperator()
    with pytest.raises(ValueError, match="no coil sensitivities"):
        op(torch.rand(1, 1, 8, 8), torch.ones(8, 8))
    with pytest.raises(ValueError, match="'maps' is \\(8, 8\\) in-plane, the data is \\(8, 6\\)"):
        op(torch.rand(1, 1, 8, 6), torch.ones(8, 6), birdcage_maps((8, 8), 2))
    with pytest.raises(ValueError, match="must be complex"):
        MultiCoilOperator(torch.ones(2, 8, 8))


def test_smooth_phase_is_seeded_bounded_smooth_and_breaks_hermitian_symmetry():
    state = torch.random.get_rng_state()
    a, b, c = smooth_phase((32, 40), 3), smooth_phase((32, 40), 3), smooth_phase((32, 40), 4)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is untouched
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.abs().max() <= math.pi + 1e-6 and a.std() > 0.05
    field = torch.polar(torch.ones(32, 40), a).to(torch.complex128)
    energy = fft2c(field).abs() ** 2
    centre = energy[16 - 3 : 16 + 4, 20 - 3 : 20 + 4].sum()
    assert centre / energy.sum() > 0.95  # smooth: its spectrum sits near the centre
    # the k-space of a real image is Hermitian-symmetric (the implicit data crime); with the phase it is not
    image = torch.rand(31, 31, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    k_real = fft2c(image.to(torch.complex128))
    k_phase = fft2c(torch.polar(image, smooth_phase((31, 31), 3, dtype=torch.float64)))
    flip = lambda k: torch.flip(k, dims=(-2, -1)).conj()  # noqa: E731  k(-f)* about the centre of an odd grid
    torch.testing.assert_close(k_real, flip(k_real))
    assert (k_phase - flip(k_phase)).abs().max() > 0.1 * k_phase.abs().max()


def test_operator_transforms_and_data_consistency():
    g = torch.Generator().manual_seed(5)
    x = _complex((1, 1, 9, 12), g)
    single = UndersamplingOperator()
    torch.testing.assert_close(single.backproject(single.project(x)), x)
    mask = (torch.rand(9, 12, generator=g) > 0.5).double()
    acquired = single(x, mask)
    predicted = _complex((1, 1, 9, 12), g)
    dc = single.data_consistency(predicted, acquired, mask)
    torch.testing.assert_close(dc[..., mask == 1], acquired[..., mask == 1])
    torch.testing.assert_close(dc[..., mask == 0], predicted[..., mask == 0])
    torch.testing.assert_close(single.restrict(single.project(x), mask), acquired)
    maps = birdcage_maps((9, 12), 3, dtype=torch.complex128)
    multi = MultiCoilOperator(maps)
    torch.testing.assert_close(multi.backproject(multi.project(x)), x)
    torch.testing.assert_close(multi.backproject(multi(x, mask)), multi.zero_filled(x, mask))


def test_semunet_learns_its_mask_through_the_multicoil_operator():
    from semunet_monai.networks import ReconNet, SegNet, SemuNet
    from semunet_monai.sampling import SampNet

    maps = birdcage_maps((48, 48), 4)
    model = SemuNet(
        ReconNet(features="tiny"),
        SegNet(num_classes=3, features="tiny"),
        SampNet((48, 48), 0.25),
        MultiCoilOperator(maps),
    )
    image = torch.rand(2, 1, 48, 48)
    out = model(image)
    assert out.recon.shape == (2, 1, 48, 48) and out.seg.shape == (2, 3, 48, 48)
    # a magnitude network sees the root-sum-of-squares of the zero-filled coil images, as for acquired k-space
    coil_images = model.operator.coil_backproject(model.operator(image, out.mask))
    torch.testing.assert_close(out.zero_filled, torch.linalg.vector_norm(coil_images, dim=1, keepdim=True))
    out.recon.abs().mean().backward()
    assert model.sampler.logits.grad.abs().sum() > 0


def test_networks_and_inference_never_call_raw_ffts():
    """As in deepinv: networks and inference go through the operator (its forward, adjoint, project, backproject,
    restrict and data_consistency), so a new operator (multi-coil, 3-D) reaches every one of them."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "semunet_monai"
    files = [*(root / "networks").glob("*.py"), *(root / "inference").glob("*.py"), root / "bundle_kspace.py"]
    raw = re.compile(r"^\s*(from|import) .*\b(i?fft2c|fftn_centered_t|ifftn_centered_t)\b|torch\.fft\.", re.M)
    offenders = [f.name for f in files if raw.search(f.read_text())]
    assert offenders == []
