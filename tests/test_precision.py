"""Mixed precision: resolving the setting, bf16 against fp32 on a fixed batch, what stays fp32 / complex64, and the
trainer's precision wiring."""

from __future__ import annotations

import logging

import pytest
import torch
from torch.utils.data import DataLoader

import semunet_monai.precision as precision_mod
from semunet_monai import JointLoss, ReconNet, SampNet, SegNet, SemuNet, UndersamplingOperator
from semunet_monai.config import config_from_dict, load_config
from semunet_monai.engines.methods import method_phases
from semunet_monai.engines.trainer import LOSS, PhaseForward, SemuNetTrainer
from semunet_monai.networks.mdrecon import MDReconNet
from semunet_monai.precision import autocast, grad_scaler, resolve_precision


@pytest.fixture
def no_cpu_bf16(monkeypatch):
    monkeypatch.setattr(precision_mod, "cpu_has_bf16", lambda: False)


@pytest.fixture
def cpu_bf16(monkeypatch):
    monkeypatch.setattr(precision_mod, "cpu_has_bf16", lambda: True)


def test_auto_picks_bf16_on_a_bf16_cpu(cpu_bf16):
    assert resolve_precision("auto", "cpu") == "bf16"
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"
    assert resolve_precision("fp32", "cpu") == "fp32"


def test_auto_falls_back_to_fp32_without_bf16(no_cpu_bf16):
    assert resolve_precision("auto", "cpu") == "fp32"


@pytest.mark.parametrize(
    "name, match",
    [
        ("fp16", r"train.precision 'fp16' needs a CUDA device"),
        ("half", r"train.precision must be one of \('auto', 'fp32', 'bf16', 'fp16'\), got 'half'"),
    ],
)
def test_bad_precisions_name_the_setting(name, match):
    with pytest.raises(ValueError, match=match):
        resolve_precision(name, "cpu")


def test_bf16_on_a_cpu_without_it_is_refused(no_cpu_bf16):
    with pytest.raises(ValueError, match=r"precision 'bf16': the device cpu has no native bf16"):
        resolve_precision("bf16", "cpu", setting="precision")


def test_grad_scaler_only_for_fp16():
    assert grad_scaler("cpu", "bf16") is None and grad_scaler("cpu", "fp32") is None
    assert isinstance(grad_scaler("cpu", "fp16"), torch.amp.GradScaler)


def _model(seed: int = 0, size: int = 32) -> SemuNet:
    torch.manual_seed(seed)
    sampler = SampNet((size, size), 0.25, acs=2, init="vd", seed=seed)
    return SemuNet(recon=ReconNet(features="small"), seg=SegNet(num_classes=4, features="small"), sampler=sampler)


def _batch(size: int = 32):
    g = torch.Generator().manual_seed(1)
    image = torch.rand(4, 1, size, size, generator=g)
    label = torch.randint(0, 4, (4, 1, size, size), generator=g)
    return image, label


def _loss_and_grads(model: SemuNet, image, label, precision: str):
    model.sampler.generator.manual_seed(3)  # the same Monte-Carlo draws in both runs
    model.zero_grad()
    with autocast("cpu", precision):
        out = model.train()(image)
    loss = JointLoss(lam=0.1)(out.recon.float(), image, out.seg.float(), label)
    loss.backward()
    grads = torch.cat([p.grad.flatten() for p in (*model.recon.parameters(), *model.seg.parameters())])
    return out, loss.detach(), grads, model.sampler.logits.grad.flatten().clone()


def test_bf16_forward_and_backward_match_fp32_on_a_fixed_batch():
    """Tolerances: the reconstruction within 2 % of its range, the loss within 2 %; the networks' gradient with
    cosine > 0.99 to fp32 and its norm within 2 %. The mask logits' gradient is a sum over the whole bf16 ReconNet
    and is noisier (measured cosine 0.91, norm +9 %): cosine > 0.85, norm within 15 %."""
    image, label = _batch()
    model = _model()
    out32, loss32, g32, m32 = _loss_and_grads(model, image, label, "fp32")
    out16, loss16, g16, m16 = _loss_and_grads(model, image, label, "bf16")
    # SegNet's logits come out of bf16 convolutions; ReconNet's residual sum x + U(x) promotes back to fp32
    assert out16.seg.dtype == torch.bfloat16 and out32.seg.dtype == torch.float32
    span = float(out32.recon.detach().max() - out32.recon.detach().min())
    assert float((out16.recon.float() - out32.recon).detach().abs().max()) < 0.02 * span
    assert abs(float(loss16 - loss32)) < 0.02 * float(loss32)
    for a, b, cosine, norm in ((g16, g32, 0.99, 0.02), (m16, m32, 0.85, 0.15)):
        assert float(torch.nn.functional.cosine_similarity(a, b, dim=0)) > cosine
        assert abs(float(a.norm() / b.norm()) - 1) < norm
    # and bf16 really ran: the outputs are not bit-identical
    assert not torch.equal(out16.recon.float(), out32.recon)


def test_sampnet_stays_fp32_and_on_budget_under_bf16():
    sampler = SampNet((40, 36), 0.1, acs=2, init="vd", seed=0)
    with torch.no_grad():
        sampler.logits.mul_(3.0)  # move away from the initial rescaling
    with autocast("cpu", "bf16"):
        p = sampler.prob_mask().detach()
        m = sampler.train()(4).detach()
    assert p.dtype == torch.float32 and m.dtype == torch.float32
    assert abs(float(p.mean()) - 0.1) < 1e-5
    assert ((m >= 0) & (m <= 1)).all()


@pytest.mark.parametrize("shape", [(33, 20), (24, 24)])
def test_kspace_stays_complex64_under_autocast(shape):
    op = UndersamplingOperator(torch.rand(shape) > 0.5)
    image = torch.rand(2, 1, *shape)
    with autocast("cpu", "bf16"):
        k = op(image)
        zf = op.adjoint(k)
        k_half = op(image.bfloat16())  # a bf16 network output reaching the operator
    assert k.dtype == zf.dtype == k_half.dtype == torch.complex64


def test_mdrecon_runs_under_bf16_with_complex64_kspace():
    torch.manual_seed(0)
    net = MDReconNet(1, cascades=2, features=8)
    op = UndersamplingOperator(torch.rand(24, 20) > 0.5)
    image = torch.rand(2, 1, 24, 20)
    k = op(image)
    with torch.no_grad():
        with autocast("cpu", "bf16"):
            out = net(op.adjoint(k).abs(), k, op.mask)
        ref = net(op.adjoint(k).abs(), k, op.mask)
    assert out.dtype == torch.float32 and out.shape == (2, 1, 24, 20)
    assert float((out - ref).abs().max()) < 0.05 * float(ref.max())


def _trainer(precision: str, model: SemuNet, image, label, epochs: int = 1) -> SemuNetTrainer:
    config = load_config("tiny")
    phase = method_phases("semunet")[0]
    loader = DataLoader([{"image": i, "label": lab} for i, lab in zip(image, label)], batch_size=2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return SemuNetTrainer(
        device=torch.device("cpu"),
        max_epochs=epochs,
        train_data_loader=loader,
        network=PhaseForward(model, phase.input),
        optimizer=opt,
        loss_function=JointLoss(lam=config.train.lam),
        phase=phase,
        precision=precision,
    )


def test_trainer_runs_bf16_and_keeps_the_mask_on_budget():
    image, label = _batch()
    model = _model()
    seen = []
    trainer = _trainer("bf16", model, image, label, epochs=2)

    @trainer.on(__import__("ignite").engine.Events.ITERATION_COMPLETED)
    def _keep(engine):
        seen.append((engine.state.output[LOSS], engine.state.output["seg"].dtype))

    before = model.recon.unet.conv_0.conv_0.conv.weight.detach().clone()
    trainer.run()
    assert len(seen) == 4 and all(isinstance(v, float) and v == v for v, _ in seen)
    assert {d for _, d in seen} == {torch.bfloat16}
    assert not torch.equal(before, model.recon.unet.conv_0.conv_0.conv.weight)  # it trained
    assert abs(float(model.sampler.prob_mask().detach().mean()) - 0.25) < 1e-5


def test_trainer_refuses_monai_amp():
    image, label = _batch()
    with pytest.raises(ValueError, match="takes 'precision'"):
        SemuNetTrainer(
            device=torch.device("cpu"),
            max_epochs=1,
            train_data_loader=[],
            network=PhaseForward(_model()),
            optimizer=torch.optim.Adam(_model().parameters()),
            loss_function=JointLoss(),
            phase=method_phases("semunet")[0],
            amp=True,
        )


def test_fp16_trainer_gets_a_scaler_and_bf16_none():
    image, label = _batch()
    assert _trainer("bf16", _model(), image, label).grad_scaler is None
    assert _trainer("fp32", _model(), image, label).grad_scaler is None
    assert isinstance(_trainer("fp16", _model(), image, label).grad_scaler, torch.amp.GradScaler)


def test_fp16_step_goes_through_the_grad_scaler():
    """fp16 (CPU autocast here, CUDA in practice): the loss is scaled before backward and the scaler steps."""
    image, label = _batch()
    trainer = _trainer("fp16", _model(), image, label)
    calls = []
    scaler = trainer.grad_scaler
    scale, step = scaler.scale, scaler.step
    scaler.scale = lambda loss: calls.append("scale") or scale(loss)
    scaler.step = lambda opt: calls.append("step") or step(opt)
    out = trainer.step(image[:2], label[:2])
    assert calls == ["scale", "step"] and out["seg"].dtype == torch.float16
    assert torch.isfinite(out[LOSS])


def test_amp_is_a_deprecated_alias_of_precision(caplog):
    with caplog.at_level(logging.WARNING):
        on = config_from_dict({"train": {"amp": True}}, source="old.yaml")
        off = config_from_dict({"train": {"amp": False}}, source="old.yaml")
    assert on.train.precision == "auto" and off.train.precision == "fp32"
    assert "old.yaml: 'train.amp' is deprecated" in caplog.text
    with pytest.raises(ValueError, match="old.yaml: give 'train.precision' only"):
        config_from_dict({"train": {"amp": True, "precision": "bf16"}}, source="old.yaml")
    with pytest.raises(ValueError, match="key 'train.amp' must be of type bool"):
        config_from_dict({"train": {"amp": "yes"}}, source="old.yaml")


def test_presets_use_auto():
    for preset in ("cpu", "paper", "tiny"):
        assert load_config(preset).train.precision == "auto"
