"""GPU checks (``pytest -m gpu``; skipped without CUDA): the training step does not synchronise with the host, AMP
(bf16, and fp16 with a GradScaler) trains with k-space in complex64, and bundle inference runs on the GPU.

``benchmarks/gpu_check.sh`` runs these on a GPU machine.
"""

from __future__ import annotations

import pytest
import torch

from semunet_monai import JointLoss, ReconNet, SampNet, SegNet, SemuNet
from semunet_monai.bundle import BundleNetwork
from semunet_monai.engines.methods import method_phases
from semunet_monai.engines.trainer import LOSS, PhaseForward, SemuNetTrainer
from semunet_monai.precision import autocast, cuda_has_bf16

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

SIZE = 64


def _trainer(precision: str, model: SemuNet) -> SemuNetTrainer:
    phase = method_phases("semunet")[0]
    return SemuNetTrainer(
        device=torch.device("cuda"),
        max_epochs=1,
        train_data_loader=[],
        network=PhaseForward(model, phase.input),
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
        loss_function=JointLoss(lam=0.1, ignore_index=255),
        phase=phase,
        precision=precision,
        non_blocking=True,
    )


def _skip_without(precision: str) -> None:
    if precision == "bf16" and not cuda_has_bf16(torch.device("cuda")):
        pytest.skip("this GPU has no bf16")


def _model() -> SemuNet:
    torch.manual_seed(0)
    sampler = SampNet((SIZE, SIZE), 0.1, acs=2, init="vd", seed=0)
    model = SemuNet(recon=ReconNet(features="small"), seg=SegNet(num_classes=4, features="small"), sampler=sampler)
    return model.cuda()


def _batch():
    image = torch.rand(4, 1, SIZE, SIZE, device="cuda")
    label = torch.randint(0, 4, (4, 1, SIZE, SIZE), device="cuda").float()
    return image, label


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_step_does_not_synchronise(precision):
    _skip_without(precision)
    model = _model()
    trainer = _trainer(precision, model)
    image, label = _batch()
    trainer.step(image, label)  # warm-up: lazy initialisation, the device generator's seeding
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = trainer.step(image, label)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert out[LOSS].device.type == "cuda" and torch.isfinite(out[LOSS]).item()
    assert abs(float(model.sampler.prob_mask().detach().mean()) - 0.1) < 1e-5


def test_sampnet_draws_on_the_device_and_resumes_them():
    sampler = SampNet((SIZE, SIZE), 0.1, seed=0).cuda().train()
    sampler(2)
    state = sampler.state_dict()
    first = sampler(3)
    restored = SampNet((SIZE, SIZE), 0.1, seed=5).cuda().train()
    restored.load_state_dict(state)
    assert first.device.type == "cuda" and torch.equal(restored(3), first)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_amp_training_keeps_kspace_complex64(precision):
    _skip_without(precision)
    model = _model()
    trainer = _trainer(precision, model)
    assert (trainer.grad_scaler is not None) == (precision == "fp16")
    image, label = _batch()
    with autocast("cuda", precision):
        kspace = model.operator(image, model.current_mask(4, image))
        zero_filled = model.operator.adjoint(kspace, model.current_mask(4, image))
    assert kspace.dtype == zero_filled.dtype == torch.complex64
    losses = [float(trainer.step(image, label)[LOSS]) for _ in range(3)]
    assert all(torch.isfinite(torch.tensor(losses)))


def test_bundle_inference_on_the_gpu():
    model = _model()
    model.freeze_mask()
    net = BundleNetwork(model.eval(), outputs="stacked", precision="auto").cuda()
    with torch.no_grad():
        out = net(torch.rand(3, 1, SIZE, SIZE, device="cuda"))
    assert out.shape == (3, 5, SIZE, SIZE) and out.dtype == torch.float32 and out.device.type == "cuda"
