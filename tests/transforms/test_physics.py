"""The simulated acquisition (physics.mode): deterministic per subject, slice and seed, magnitude-preserving, no
Hermitian symmetry in complex modes, per-subject coil maps; and the data pipeline and models that consume it."""

from __future__ import annotations

import math

import pytest
import torch

from semunet_monai.keys import Keys
from semunet_monai.kspace import fft2c
from semunet_monai.transforms.physics import SimulateAcquisition, SimulateAcquisitiond, magnitude_of


def _slice(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    image = torch.zeros(1, 40, 36)
    image[:, 8:32, 6:30] = torch.rand(1, 24, 24, generator=g) + 0.5
    return image


def _hermitian_error(image: torch.Tensor) -> float:
    """Relative distance of k-space from its conjugate point reflection (0 for a real image, even sizes aside)."""
    k = fft2c(torch.complex(image[0], image[1]) if image.shape[0] == 2 else image[0].to(torch.complex64))
    k = k[1:, 1:]  # even sizes: the reflection about the centre pixel pairs rows/columns 1..N-1
    reflected = torch.flip(k, dims=(-2, -1)).conj()
    return float((k - reflected).abs().norm() / k.abs().norm())


@pytest.mark.parametrize("mode", ["complex", "multicoil"])
def test_simulation_is_seeded_keeps_the_magnitude_and_breaks_hermitian_symmetry(mode):
    image = _slice()
    state = torch.get_rng_state()
    sim = SimulateAcquisition(mode, coils=4, seed=3)
    a, maps_a = sim(image, "s1", 5)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is untouched
    b, _ = SimulateAcquisition(mode, coils=4, seed=3)(image, "s1", 5)
    assert torch.equal(a, b)
    assert not torch.allclose(a, sim(image, "s1", 6)[0])  # another slice, another phase
    assert not torch.allclose(a, SimulateAcquisition(mode, coils=4, seed=4)(image, "s1", 5)[0])
    assert a.shape == (2, 40, 36)
    assert torch.allclose(magnitude_of(a[None])[0], image, atol=1e-5)
    assert _hermitian_error(image) < 1e-5
    assert _hermitian_error(a) > 0.05
    if mode == "complex":
        assert maps_a is None
    else:
        assert maps_a.shape == (4, 40, 36) and torch.is_complex(maps_a)
        assert torch.allclose((maps_a.abs() ** 2).sum(0), torch.ones(40, 36), atol=1e-5)
        assert torch.equal(maps_a, sim(image, "s1", 9)[1])  # one coil array per subject
        assert not torch.allclose(maps_a, sim(image, "s2", 5)[1])  # rotated per subject


def test_magnitude_mode_leaves_the_slice_alone_and_bad_settings_are_refused():
    image = _slice()
    out, maps = SimulateAcquisition("magnitude")(image, "s", 0)
    assert out is image and maps is None
    with pytest.raises(ValueError, match="physics.mode"):
        SimulateAcquisition("phase")
    with pytest.raises(ValueError, match="physics.coils"):
        SimulateAcquisition("multicoil", coils=0)
    with pytest.raises(ValueError, match="physics.max_phase"):
        SimulateAcquisition("complex", max_phase=7.0)
    with pytest.raises(ValueError, match=r"\(1, H, W\)"):
        SimulateAcquisition("complex")(torch.rand(2, 8, 8))


def test_dictionary_transform_names_the_slice_and_adds_maps():
    item = {Keys.IMAGE: _slice(), Keys.LABEL: torch.zeros(1, 40, 36), "subject": "7", "slice": 2}
    out = SimulateAcquisitiond(mode="multicoil", coils=3, seed=1)(item)
    direct, maps = SimulateAcquisition("multicoil", coils=3, seed=1)(item[Keys.IMAGE], "7", 2)
    assert torch.equal(out[Keys.IMAGE], direct) and torch.equal(out[Keys.MAPS], maps)
    assert out[Keys.LABEL] is item[Keys.LABEL] and Keys.MAPS not in item


def test_single_unit_coil_multicoil_equals_complex():
    """One coil of unit sensitivity: the multi-coil model gives the complex model's numbers."""
    from semunet_monai.kspace import UndersamplingOperator
    from semunet_monai.networks.semunet import SemuNet
    from semunet_monai.networks.unets import IdentityRecon
    from semunet_monai.physics import MultiCoilOperator

    image, _ = SimulateAcquisition("complex", seed=2)(_slice(), "s", 0)
    mask = torch.rand(40, 36, generator=torch.Generator().manual_seed(0)) < 0.3
    ones = torch.ones(1, 40, 36, dtype=torch.complex64)
    single = SemuNet(IdentityRecon(), mask=mask, operator=UndersamplingOperator(), image_mode="complex")
    multi = SemuNet(IdentityRecon(), mask=mask, operator=MultiCoilOperator(maps=ones), image_mode="complex")
    a, b = single(image[None]), multi(image[None])
    assert torch.allclose(a.zero_filled, b.zero_filled, atol=1e-6)
    assert float((a.zero_filled - image[None]).abs().mean()) > 1e-3  # undersampling did something


def test_maps_given_to_a_single_coil_model_are_refused():
    from semunet_monai.networks.semunet import SemuNet
    from semunet_monai.networks.unets import IdentityRecon

    model = SemuNet(IdentityRecon(), mask=torch.ones(8, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="single-coil"):
        model(torch.rand(1, 1, 8, 8), torch.ones(1, 2, 8, 8, dtype=torch.complex64))


@pytest.mark.parametrize("mode, recon", [("complex", "unet"), ("multicoil", "unet"), ("multicoil", "varnet")])
def test_training_batches_carry_the_physics_and_the_model_trains_on_them(mode, recon, demo_dir, tmp_path):
    from semunet_monai.engines.workflow import prepare_data, train

    from ..engines.conftest import tiny

    config = tiny(
        demo_dir,
        physics={"mode": mode, "coils": 4},
        model={"recon": recon, "varnet_cascades": 2},
        train={"epochs": 2, "finetune_epochs": 1},
    )
    data = prepare_data(config)
    item = data.train[0]
    assert item[Keys.IMAGE].shape[0] == 2
    assert (Keys.MAPS in item) == (mode == "multicoil")
    results = train(config, tmp_path / "run", progress=False)
    assert math.isfinite(results["mean"]["psnr"]) and 0 <= results["mean"]["mean_dice"] <= 1
    saved = (tmp_path / "run" / "config.yaml").read_text()
    assert f"mode: {mode}" in saved


def test_mdrecon_in_multicoil_physics_is_refused_before_any_work(demo_dir, tmp_path):
    from semunet_monai.engines.workflow import train

    from ..engines.conftest import tiny

    config = tiny(demo_dir, physics={"mode": "multicoil"}, train={"method": "mdrecon"})
    with pytest.raises(ValueError, match="physics.mode 'multicoil'"):
        train(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_multicoil_model_saves_its_coil_maps_and_infers_from_magnitude_images():
    """Inference rebuilds the network from the experiment and loads model.pt strictly: the default maps the
    operator simulates scans given as images with are part of the state, and a magnitude scan goes through."""
    from semunet_monai.bundle import BundleNetwork
    from semunet_monai.config import load_config
    from semunet_monai.engines.builders import build_model

    config = load_config(
        "tiny", overrides={"physics": {"mode": "multicoil", "coils": 5}, "train": {"method": "baseline"}}
    )
    model = build_model(config, 8, (32, 32))
    assert model.operator.maps.shape == (5, 32, 32)
    rebuilt = build_model(config, 8, (32, 32))
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    seg = BundleNetwork(rebuilt.eval())(torch.rand(2, 1, 32, 32))
    assert seg.shape == (2, 8, 32, 32) and bool(torch.isfinite(seg).all())
