from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from semunet_monai.sampling.common import budget, centre_disc, centre_lines
from semunet_monai.sampling.masks import (
    MASK_KINDS,
    CartesianEquispacedMask,
    FixedMask,
    RadialMask,
    create_mask,
    make_mask,
    mask_geometry,
)

RATES = [0.05, 0.10, 0.20]
LINE_KINDS = ["cartesian_random", "cartesian_equispaced"]
EXACT_2D_KINDS = ["random", "gaussian"]
SHAPES = [(240, 240), (241, 239), (64, 96), (96, 64)]


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("kind", MASK_KINDS)
def test_rate_at_240(kind, rate):
    m = make_mask(kind, (240, 240), rate, seed=0)
    assert m.dtype == torch.bool and m.shape == (240, 240)
    assert abs(float(m.double().mean()) - rate) <= 0.005


@pytest.mark.parametrize("rate", RATES)
def test_radial_rate_for_many_offsets(rate):
    # the rotation offset changes the rasterisation; every draw has exactly the budget, at every grid size
    for shape in [(240, 240), (96, 96), (48, 48), (61, 47)]:
        sampler = RadialMask(shape, rate, seed=11)
        for _ in range(4):
            assert int(sampler().sum()) == budget(rate, shape[0] * shape[1]), shape


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("kind", EXACT_2D_KINDS)
def test_exact_pixel_count(kind, rate, shape):
    m = make_mask(kind, shape, rate, seed=1)
    assert m.shape == shape
    assert int(m.sum()) == budget(rate, shape[0] * shape[1])


@pytest.mark.parametrize("shape", SHAPES + [(1, 7), (5, 3)])
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("kind", LINE_KINDS)
def test_lines_exact_count_constant_along_h_with_acs(kind, rate, shape):
    h, w = shape
    m = make_mask(kind, shape, rate, seed=2)
    assert m.shape == shape and m.dtype == torch.bool
    assert bool((m == m[:1]).all()), "a lines mask must be constant along the read-out axis H"
    lines = m[0]
    assert int(lines.sum()) == budget(rate, w)
    n_acs = min(int(round(0.32 * rate * w)), budget(rate, w))
    acs = centre_lines(w, n_acs)
    assert bool(lines[acs].all())


@pytest.mark.parametrize("kind", LINE_KINDS)
def test_explicit_center_fraction_and_cap(kind):
    w = 240
    m = make_mask(kind, (32, w), 0.1, seed=0, center_fraction=0.05)
    acs = centre_lines(w, 12)
    assert bool(m[0][acs].all()) and int(m[0].sum()) == 24
    # more ACS than budget: capped, so the mask is exactly the 24 central lines
    capped = make_mask(kind, (32, w), 0.1, seed=0, center_fraction=0.5)
    assert torch.equal(capped[0], centre_lines(w, 24))
    # no ACS at all: lines still exact and the centre is not forced
    sampler = create_mask(kind, (32, w), 0.1, center_fraction=0.0)
    assert sampler.n_acs == 0 and int(sampler()[0].sum()) == 24


@pytest.mark.parametrize("shape", [(240, 240), (64, 97)])
@pytest.mark.parametrize("rate", RATES)
def test_equispaced_spacing(shape, rate):
    sampler = CartesianEquispacedMask(shape, rate, seed=5)
    lines = sampler()[0]
    candidates = torch.nonzero(~sampler.acs).flatten()
    chosen = torch.nonzero(lines[candidates]).flatten()  # positions among the non-ACS lines
    gaps = torch.diff(chosen)
    k, m = candidates.numel(), budget(rate, shape[1]) - sampler.n_acs
    assert chosen.numel() == m
    assert int(gaps.min()) >= math.floor(k / m) and int(gaps.max()) <= math.ceil(k / m)


def test_cartesian_random_non_acs_lines_vary():
    sampler = create_mask("cartesian_random", (16, 240), 0.1, seed=0)
    draws = torch.stack([sampler()[0] for _ in range(20)])
    acs = sampler.acs
    assert bool(draws[:, acs].all())
    # every non-ACS line is picked sometimes but none always: uniform choice, not a fixed pattern
    freq = draws[:, ~acs].double().mean(0)
    assert float(freq.max()) < 1.0 and float((freq > 0).double().mean()) > 0.5


def test_gaussian_centre_disc_and_density():
    shape, rate = (240, 240), 0.1
    m = make_mask("gaussian", shape, rate, seed=0, centre_radius=8)
    disc = centre_disc(shape, 8)
    assert bool(m[disc].all())
    assert int(m.sum()) == budget(rate, 240 * 240)  # disc counted inside the budget
    yy, xx = torch.meshgrid(torch.arange(240) - 120, torch.arange(240) - 120, indexing="ij")
    r = torch.sqrt((yy**2 + xx**2).double()) / 120
    inner, outer = float(m[r < 0.25].double().mean()), float(m[r > 0.75].double().mean())
    assert inner > 5 * outer  # variable density: dense at the centre
    # without centre_radius the centre is not forced (a sparse draw leaves part of a large disc empty)
    sparse = make_mask("gaussian", shape, 0.02, seed=0, sigma=0.5)
    assert not bool(sparse[centre_disc(shape, 8)].all())


def test_gaussian_small_sigma_does_not_underflow():
    # exp(-r^2 / (2 sigma^2)) is 0 in float64 far from the centre; the draw must still be exact
    m = make_mask("gaussian", (64, 64), 0.2, seed=0, sigma=0.01)
    assert int(m.sum()) == budget(0.2, 64 * 64)
    # nearly all samples sit in the smallest disc holding the budget (about 18 px)
    assert float(m[centre_disc((64, 64), 20)].sum()) >= 0.95 * float(m.sum())


def test_gaussian_disc_larger_than_budget():
    with pytest.raises(ValueError, match="centre_radius"):
        make_mask("gaussian", (64, 64), 0.05, centre_radius=20)


def test_radial_spokes_cross_centre_evenly_spaced():
    shape = (241, 241)  # odd: the grid is symmetric about the centre pixel
    m = make_mask("radial", shape, 0.1, seed=3)
    c = 120
    assert bool(m[c - 1 : c + 2, c - 1 : c + 2].all())
    # point symmetry: each spoke passes through the centre
    agree = (m & torch.flip(m, dims=(0, 1))).sum() / m.sum()
    assert float(agree) > 0.97
    # angles of the samples on an annulus cluster into spokes evenly spaced over [0, pi)
    yy, xx = torch.meshgrid(torch.arange(241) - c, torch.arange(241) - c, indexing="ij")
    rr = torch.sqrt((yy**2 + xx**2).double())
    sel = m & (rr >= 80) & (rr <= 110)
    ang = torch.sort(torch.remainder(torch.atan2(yy[sel].double(), xx[sel].double()), math.pi)).values
    breaks = torch.nonzero(torch.diff(ang) > 0.03).flatten()
    clusters = torch.tensor_split(ang, (breaks + 1).tolist())
    if float(ang[-1] - ang[0]) > math.pi - 0.03:  # a spoke split by the wrap at pi
        clusters = [torch.cat([clusters[-1] - math.pi, clusters[0]])] + list(clusters[1:-1])
    centres = torch.sort(torch.stack([cl.mean() for cl in clusters])).values
    k = centres.numel()
    gaps = torch.diff(torch.cat([centres, centres[:1] + math.pi]))
    assert k >= 10
    assert float((gaps - math.pi / k).abs().max()) < 0.01


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_determinism(kind):
    a = make_mask(kind, (64, 96), 0.1, seed=7)
    b = make_mask(kind, (64, 96), 0.1, seed=7)
    c = make_mask(kind, (64, 96), 0.1, seed=8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    sampler = create_mask(kind, (64, 96), 0.1, seed=7)
    draws = [sampler() for _ in range(6)]
    assert torch.equal(draws[0], a)
    # each call draws anew (equispaced has only ~spacing distinct offsets, so compare several draws)
    assert any(not torch.equal(d, draws[0]) for d in draws[1:])
    assert sampler.set_random_state(7) is sampler
    assert torch.equal(sampler(), a)


def test_global_rng_untouched_and_unused():
    torch.manual_seed(1234)
    np.random.seed(1234)
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()
    masks = [make_mask(kind, (48, 40), 0.2, seed=0) for kind in MASK_KINDS]
    assert torch.equal(torch.get_rng_state(), torch_state)
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1]) and after[2:] == np_state[2:]
    torch.manual_seed(99)  # a different global state gives the same masks
    assert all(torch.equal(m, make_mask(k, (48, 40), 0.2, seed=0)) for k, m in zip(MASK_KINDS, masks))


@pytest.mark.parametrize("shape", [(241, 239), (64, 96), (96, 64), (17, 5)])
def test_radial_odd_and_non_square(shape):
    rate = 0.2
    m = make_mask("radial", shape, rate, seed=0)
    assert m.shape == shape and bool(m[shape[0] // 2, shape[1] // 2])
    assert int(m.sum()) == budget(rate, shape[0] * shape[1])


def test_radial_trims_only_the_outermost_pixels():
    sampler = RadialMask((48, 48), 0.1, seed=5)
    m = sampler()
    sampler.set_random_state(5)
    offset = float(torch.rand((), generator=sampler.generator, dtype=torch.float64)) * math.pi
    full = next(f for f in (sampler.spokes(k, offset) for k in range(1, 200)) if int(f.sum()) >= int(m.sum()))
    assert bool((m & ~full).sum() == 0)  # a subset of whole spokes
    yy, xx = torch.meshgrid(torch.arange(48) - 24, torch.arange(48) - 24, indexing="ij")
    r = (yy**2 + xx**2).double()
    dropped = full & ~m
    assert dropped.any() and float(r[dropped].min()) >= float(r[m].max())


def test_mask_geometry_and_kinds():
    assert {k: mask_geometry(k) for k in MASK_KINDS} == {
        "random": "2d",
        "radial": "2d",
        "gaussian": "2d",
        "cartesian_random": "lines",
        "cartesian_equispaced": "lines",
        "poisson": "2d",
    }
    for kind in MASK_KINDS:
        sampler = create_mask(kind, (8, 8), 0.5)
        assert isinstance(sampler, FixedMask) and sampler.kind == kind
    with pytest.raises(ValueError, match="kind"):
        mask_geometry("spiral")


@pytest.mark.parametrize("rate", [0, 1, -0.1, 1.5, "x", None])
@pytest.mark.parametrize("kind", MASK_KINDS)
def test_bad_rate(kind, rate):
    with pytest.raises(ValueError, match="'rate'"):
        make_mask(kind, (32, 32), rate)


@pytest.mark.parametrize("shape", [(240,), (0, 240), (240, -1), (2.5, 3), (4, 4, 4), "ab"])
@pytest.mark.parametrize("kind", MASK_KINDS)
def test_bad_shape(kind, shape):
    with pytest.raises(ValueError, match="'shape'"):
        make_mask(kind, shape, 0.1)


def test_unknown_kind_lists_allowed():
    with pytest.raises(ValueError, match="'kind'") as err:
        make_mask("spiral", (32, 32), 0.1)
    assert all(k in str(err.value) for k in MASK_KINDS)


@pytest.mark.parametrize(
    "kind, kwargs, name",
    [
        ("random", {"sigma": 0.3}, "sigma"),
        ("radial", {"center_fraction": 0.1}, "center_fraction"),
        ("gaussian", {"centre_fraction": 0.1}, "centre_fraction"),
        ("cartesian_random", {"centre_radius": 3}, "centre_radius"),
        ("cartesian_equispaced", {"acs": 3}, "acs"),
    ],
)
def test_unknown_kwarg(kind, kwargs, name):
    with pytest.raises(ValueError, match=f"'{name}'"):
        make_mask(kind, (32, 32), 0.1, **kwargs)


@pytest.mark.parametrize(
    "kind, kwargs, name",
    [
        ("gaussian", {"sigma": 0}, "sigma"),
        ("gaussian", {"sigma": float("nan")}, "sigma"),
        ("gaussian", {"centre_radius": -1}, "centre_radius"),
        ("radial", {"step": 1.0}, "step"),
        ("cartesian_random", {"center_fraction": 1.5}, "center_fraction"),
        ("cartesian_equispaced", {"center_fraction": -0.1}, "center_fraction"),
        ("random", {"seed": "a"}, "seed"),
        ("random", {"seed": True}, "seed"),
    ],
)
def test_bad_kwarg_values(kind, kwargs, name):
    with pytest.raises(ValueError, match=f"'{name}'"):
        make_mask(kind, (32, 32), 0.1, **kwargs)
