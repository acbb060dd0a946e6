from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from semunet_monai.sampling.sampnet import SampNet

RATES = [0.05, 0.10, 0.20]
GEOMS = [("2d", None), ("2d", 3), ("lines", None), ("lines", 2)]


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("geometry, acs", GEOMS)
@pytest.mark.parametrize("init", ["uniform", "vd"])
def test_prob_mask_mean_is_rate(rate, geometry, acs, init):
    net = SampNet((64, 80), rate, geometry=geometry, acs=acs, init=init, seed=3)
    pm = net.prob_mask().detach()
    assert pm.shape == (64, 80)
    assert abs(float(pm.double().mean()) - rate) < 1e-5
    assert float(pm.min()) >= 0.0 and float(pm.max()) <= 1.0


@pytest.mark.parametrize("rate", RATES)
def test_prob_mask_mean_after_logits_move(rate):
    # both branches of the scaling layer: mean(p) above and below alpha
    net = SampNet((32, 32), rate, seed=0)
    with torch.no_grad():
        net.logits.fill_(-2.0)  # p ~ 4.5e-5 < alpha: the "1 - (1 - p) ..." branch
    assert abs(float(net.prob_mask().detach().mean()) - rate) < 1e-5
    with torch.no_grad():
        net.logits.fill_(1.0)  # p ~ 0.99 > alpha
    assert abs(float(net.prob_mask().detach().mean()) - rate) < 1e-5


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("geometry, acs", GEOMS)
def test_straight_through_samples_hit_rate(rate, geometry, acs):
    net = SampNet((64, 64), rate, geometry=geometry, acs=acs, straight_through=True, seed=1).train()
    draws = net(200).detach()
    assert draws.shape == (200, 1, 64, 64)
    assert set(torch.unique(draws).tolist()) <= {0.0, 1.0}
    assert abs(float(draws.mean()) - rate) < 0.01


def test_relaxed_mean_matches_closed_form_and_exceeds_rate():
    s = 12.0
    net = SampNet((64, 64), 0.1, slope_sample=s, seed=2).train()
    with torch.no_grad():
        net.logits.zero_()  # p = 0.5 everywhere -> p' = 0.1 everywhere
    expected = (math.log1p(math.exp(s * 0.1)) - math.log1p(math.exp(s * (0.1 - 1)))) / s
    assert abs(expected - 0.1218) < 1e-3
    assert abs(float(net.expected_relaxed_rate()) - expected) < 1e-6
    draws = net(400).detach()
    assert abs(float(draws.mean()) - expected) < 2e-3
    assert float(draws.mean()) > 0.1 + 0.015


def test_relaxed_mean_closed_form_on_uneven_probabilities():
    net = SampNet((32, 32), 0.2, seed=5).train()
    p = net.prob_mask().detach()
    closed = float(((F.softplus(12 * p) - F.softplus(12 * (p - 1))) / 12).mean())
    assert abs(float(net.expected_relaxed_rate()) - closed) < 1e-6
    assert abs(float(net(2000).detach().mean()) - closed) < 2e-3


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("geometry, acs", GEOMS)
def test_booleanize_has_exactly_n_samples(rate, geometry, acs):
    h, w = 61, 75
    net = SampNet((h, w), rate, geometry=geometry, acs=acs, seed=4)
    mask = net.booleanize()
    assert mask.dtype == torch.bool and mask.shape == (h, w)
    if geometry == "2d":
        assert int(mask.sum()) == round(rate * h * w)
    else:
        lines = mask.any(dim=0)
        assert int(lines.sum()) == round(rate * w)
        # constant along the read-out axis
        assert torch.equal(mask, lines.unsqueeze(0).expand(h, w))
    if acs is not None:
        assert bool(mask[h // 2, w // 2])
    # eval-mode forward is that same deterministic mask
    net.eval()
    assert torch.equal(net(3)[:, 0].bool(), mask.expand(3, h, w))


def test_booleanize_breaks_ties_deterministically():
    net = SampNet((8, 8), 0.25, seed=0)
    with torch.no_grad():
        net.logits.zero_()
    mask = net.booleanize()
    assert int(mask.sum()) == 16
    assert torch.equal(mask.flatten()[:16], torch.ones(16, dtype=torch.bool))  # lower flat index wins


def test_acs_keeps_dc_and_is_counted_inside_budget():
    net = SampNet((96, 96), 0.05, acs=4, seed=0)
    with torch.no_grad():
        net.logits.fill_(-3.0)
        net.logits[0, 0] = 3.0
    mask = net.booleanize()
    assert int(mask.sum()) == round(0.05 * 96 * 96)
    assert bool(mask[48, 48]) and bool(mask[48, 52]) and bool(mask[0, 0])
    assert float(net.prob_mask().detach()[48, 48]) == 1.0


def test_too_large_acs_raises():
    with pytest.raises(ValueError, match="'acs'"):
        SampNet((32, 32), 0.05, acs=10)


def test_vd_init_is_centre_weighted():
    net = SampNet((96, 96), 0.1, init="vd", seed=0)
    pm = net.prob_mask().detach()
    assert float(pm[40:56, 40:56].mean()) > 3 * float(pm[:16, :16].mean())
    assert bool(net.booleanize()[48, 48])


def test_warm_start_init_keeps_the_given_mask():
    given = torch.zeros(40, 40)
    given[10:20, 5:15] = 1.0  # 100 pixels
    net = SampNet((40, 40), 100 / 1600, init=given, seed=0)
    assert torch.equal(net.booleanize(), given.bool())
    lines = SampNet((40, 40), 0.1, geometry="lines", init=given, seed=0)
    assert lines.booleanize().any(dim=0)[5:15].sum() == 4


def test_seeded_and_global_rng_untouched():
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()
    a = SampNet((32, 32), 0.1, seed=7).train()
    b = SampNet((32, 32), 0.1, seed=7).train()
    c = SampNet((32, 32), 0.1, seed=8)
    assert torch.equal(a.logits, b.logits) and not torch.equal(a.logits, c.logits)
    assert torch.equal(a(2), b(2))
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.random.get_state()[1].tolist() == np_state[1].tolist()


def test_generator_state_travels_with_state_dict():
    a = SampNet((16, 16), 0.2, seed=1).train()
    a(3)
    b = SampNet((16, 16), 0.2, seed=99).train()
    b.load_state_dict(a.state_dict())
    assert torch.equal(a(2), b(2))


def test_gradients_reach_logits_in_both_modes():
    for st in (False, True):
        net = SampNet((16, 16), 0.1, straight_through=st, seed=0).train()
        (net(4) * torch.rand(4, 1, 16, 16)).sum().backward()
        assert net.logits.grad is not None and float(net.logits.grad.abs().sum()) > 0


def test_mask_change_tracks_movement():
    net = SampNet((32, 32), 0.1, seed=0)
    assert net.mask_change() == 0.0
    with torch.no_grad():
        net.logits.copy_(-net.logits)
    assert net.mask_change() > 0.5


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"rate": 0.0}, "rate"),
        ({"rate": 1.0}, "rate"),
        ({"rate": -0.2}, "rate"),
        ({"rate": 0.1, "slope_prob": 0.0}, "slope_prob"),
        ({"rate": 0.1, "slope_sample": -1.0}, "slope_sample"),
        ({"rate": 0.1, "geometry": "radial"}, "geometry"),
        ({"rate": 0.1, "init": "gaussian"}, "init"),
        ({"rate": 0.1, "init": torch.ones(3, 3)}, "init"),
        ({"rate": 0.1, "eps": 0.7}, "eps"),
    ],
)
def test_bad_arguments_raise(kwargs, name):
    with pytest.raises(ValueError, match=f"'{name}'"):
        SampNet((16, 16), **kwargs)


def test_bad_shape_and_batch_raise():
    with pytest.raises(ValueError, match="'shape'"):
        SampNet((16,), 0.1)
    with pytest.raises(ValueError, match="'batch_size'"):
        SampNet((16, 16), 0.1)(0)


@pytest.mark.parametrize("geometry, acs", [("2d", 2), ("lines", 2)])
def test_save_and_load_the_booleanized_mask(tmp_path, geometry, acs):
    from semunet_monai.sampling.io import load_mask

    net = SampNet((40, 48), 0.15, geometry=geometry, acs=acs, slope_prob=4.0, seed=3)
    paths = net.save(tmp_path / "m")
    assert {p.name for p in paths.values()} >= {"mask.npy", "mask.nii.gz", "mask.png", "mask.json", "mask_prob.npy"}
    mask, meta = load_mask(tmp_path / "m")
    assert torch.equal(mask, net.booleanize())
    n = round(0.15 * (40 * 48 if geometry == "2d" else 48))
    assert meta["rate"] == 0.15 and meta["geometry"] == geometry and meta["method"] == "sampnet"
    assert meta["slopes"] == {"prob": 4.0, "sample": 12.0} and meta["shape"] == [40, 48]
    assert (meta.get("n_lines") if geometry == "lines" else meta["n"]) == n
    prob = np.load(tmp_path / "m" / "mask_prob.npy")
    assert abs(float(prob.mean()) - 0.15) < 1e-5
    with pytest.raises(ValueError, match="exist"):
        net.save(tmp_path / "m")
