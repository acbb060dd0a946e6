from __future__ import annotations

import torch

from semunet_monai.config import load_config
from semunet_monai.engines.builders import build_model
from semunet_monai.sampling.common import centre_disc


def test_fixed_gaussian_mask_gets_the_acs_disc_and_exact_budget():
    config = load_config("tiny", overrides={"train": {"method": "baseline"}, "sampling": {"acs": 3, "rate": 0.1}})
    model = build_model(config, 8, (48, 48))
    mask = model.operator.mask.bool()
    assert int(mask.sum()) == round(0.1 * 48 * 48)
    assert bool(mask[centre_disc((48, 48), 3)].all())
    assert model.sampler is None


def test_learned_methods_get_a_sampnet_and_fullysampled_an_all_ones_mask():
    semunet = build_model(load_config("tiny"), 8, (32, 32))
    assert semunet.sampler is not None and semunet.sampler.rate == 0.1
    full = build_model(load_config("tiny", overrides={"train": {"method": "fullysampled"}}), 8, (32, 32))
    assert torch.equal(full.operator.mask, torch.ones(32, 32))
    loupe = build_model(load_config("tiny", overrides={"train": {"method": "loupe"}}), 8, (32, 32))
    assert loupe.seg is None
