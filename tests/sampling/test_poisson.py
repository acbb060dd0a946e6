"""Variable-density Poisson-disc masks: exact budget, calibration square, the enforced minimum distance, density
falling with the radius, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semunet_monai.sampling.common import normalised_radius
from semunet_monai.sampling.masks import create_mask, make_mask


@pytest.mark.parametrize("shape, rate", [((96, 96), 0.1), ((240, 48), 0.1), ((48, 240), 0.05), ((61, 47), 0.2)])
def test_budget_calibration_and_minimum_distance(shape, rate):
    drawer = create_mask("poisson", shape, rate, seed=3)
    mask = drawer().numpy()
    h, w = shape
    assert mask.dtype == bool and int(mask.sum()) == round(rate * h * w)  # exact, so within 0.5 points
    side = int(round(np.sqrt(0.1 * round(rate * h * w))))
    y0, x0 = h // 2 - side // 2, w // 2 - side // 2
    calib = np.zeros(shape, bool)
    calib[y0 : y0 + side, x0 : x0 + side] = True
    assert mask[calib].all()
    radius = drawer.radius.numpy()
    ys, xs = np.nonzero(mask & ~calib)
    d = np.sqrt((ys[:, None] - ys[None, :]) ** 2 + (xs[:, None] - xs[None, :]) ** 2)
    r = radius[ys, xs]
    bound = np.minimum(r[:, None], r[None, :])
    np.fill_diagonal(d, np.inf)
    assert (d >= bound - 1e-9).all()  # the stated minimum distance between samples outside the square
    cy, cx = np.nonzero(calib)
    to_calib = np.sqrt((ys[:, None] - cy[None, :]) ** 2 + (xs[:, None] - cx[None, :]) ** 2).min(axis=1)
    assert (to_calib >= r - 1e-9).all()
    assert radius.min() >= 1.0 or rate > 0.15  # at 5-10 % samples are never neighbours


def test_density_falls_with_the_radius_and_draws_are_seeded():
    state = torch.random.get_rng_state()
    a = make_mask("poisson", (96, 96), 0.1, seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a, make_mask("poisson", (96, 96), 0.1, seed=1))
    assert not torch.equal(a, make_mask("poisson", (96, 96), 0.1, seed=2))
    rho = normalised_radius((96, 96))
    inner = a[(rho > 0.15) & (rho < 0.4)].float().mean()
    outer = a[(rho > 0.7) & (rho < 1.0)].float().mean()
    assert inner > 2 * outer > 0
    flat = make_mask("poisson", (96, 96), 0.1, seed=1, slope=0.0)  # uniform Poisson disc: no density gradient
    assert flat[(rho > 0.15) & (rho < 0.4)].float().mean() < 1.6 * flat[(rho > 0.7) & (rho < 1.0)].float().mean()


def test_options_are_checked():
    with pytest.raises(ValueError, match="'calib'"):
        make_mask("poisson", (32, 32), 0.05, calib=20)  # 400 pixels > the 51-sample budget
    assert make_mask("poisson", (32, 32), 0.1, calib=0).sum() == round(0.1 * 32 * 32)
