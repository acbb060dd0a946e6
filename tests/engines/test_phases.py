"""The comparison's own rules: equal optimisation budgets, one lambda, and SegNet pre-training validated on what it
trains on."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ignite.engine import Events

from semunet_monai.engines.builders import build_model, set_trainable
from semunet_monai.engines.evaluation import make_evaluator, make_loader
from semunet_monai.engines.methods import METHODS, Phase, method_steps, method_uses
from semunet_monai.engines.rundata import prepare_data
from semunet_monai.engines.trainer import PhaseForward, SemuNetTrainer
from semunet_monai.losses import JointLoss

from .conftest import tiny


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_network_gets_epochs_plus_finetune_epochs(method):
    steps = method_steps(method, epochs=30, finetune_epochs=10, steps_per_epoch=7)
    for module in method_uses(method) - {"sampler"}:
        if method == "liu" or module in {p for ph in METHODS[method].phases for p in ph.trainable}:
            assert steps[module] == 40 * 7, (method, module)
    if "sampler" in method_uses(method):
        assert steps["sampler"] == 30 * 7  # the mask learns in the joint phase, then it is frozen
    assert method_steps("loupe_seg", 30, 10, 7)["seg"] == method_steps("semunet", 30, 10, 7)["seg"]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_the_model_a_method_builds_follows_its_record(method, demo_dir):
    from semunet_monai.networks.unets import IdentityRecon

    record = METHODS[method]
    config = tiny(demo_dir)
    config.train.method = method
    model = build_model(config, 8, (48, 48))
    assert (model.sampler is not None) == (record.mask == "learned")
    assert (model.seg is not None) == record.segments == ("seg" in method_uses(method))
    assert isinstance(model.recon, IdentityRecon) == (not record.reconstructs)
    assert (
        type(model.recon).__name__
        == {"config": "ReconNet", "dual_domain": "MDReconNet", "identity": "IdentityRecon"}[record.recon]
    )
    if record.mask == "full":
        assert bool(model.operator.mask.all())
    elif record.mask == "fixed":
        assert 0 < float(model.operator.mask.float().mean()) < 0.5
    assert record.key_metric() == ("mean_dice" if record.segments else "psnr")


def test_no_engine_code_tests_a_method_by_name():
    """A method's behaviour comes from its record (engines.methods.Method), not from comparing its name."""
    import re

    import semunet_monai

    root = Path(semunet_monai.__file__).parent
    names = "|".join(METHODS)
    pattern = re.compile(rf"""(==|!=|\bin\b)\s*\(?["']({names})["']""")
    hits = [
        f"{path.relative_to(root)}:{i}"
        for folder in ("engines", "bundle.py", "inference", "reproduce/runner.py")
        for path in ([root / folder] if folder.endswith(".py") else sorted((root / folder).rglob("*.py")))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not hits, hits


def test_phase_selection_metric_follows_its_loss():
    assert Phase("x", "epochs", ("recon",), 1.0, 0.0).key_metric() == "psnr"
    assert Phase("x", "epochs", ("recon", "seg"), 1.0, "lam").key_metric() == "mean_dice"
    assert Phase("x", "total", ("seg",), 0.0, 1.0).num_epochs(30, 10) == 40
    assert Phase("x", "finetune_epochs", ("seg",), 0.0, 1.0).num_epochs(30, 10) == 10


def _trainer(model, optimizer, phase, loss=None, **kwargs):
    """A SemuNetTrainer of one phase on the CPU, without data (tests call its step)."""
    return SemuNetTrainer(
        device=torch.device("cpu"),
        max_epochs=1,
        train_data_loader=[],
        network=PhaseForward(model),
        optimizer=optimizer,
        loss_function=loss or JointLoss(),
        phase=phase,
        **kwargs,
    )


def test_the_trainer_reads_lambda_from_the_loss(demo_dir):
    config = tiny(demo_dir)
    model = build_model(config, 8, (48, 48))
    optimizer = torch.optim.Adam(model.parameters())
    joint = METHODS["semunet"].phases[0]
    for lam in (0.1, 0.37):
        loss = JointLoss(lam=lam)
        assert _trainer(model, optimizer, joint, loss=loss).seg_weight == lam
    with pytest.raises(TypeError):
        _trainer(model, optimizer, joint, lam=0.5)  # no second source of lambda


def test_a_frozen_network_with_batchnorm_keeps_its_statistics(demo_dir):
    # a user's SegNet with BatchNorm, frozen while ReconNet trains (MD-Recon-Net's and Liu's ReconNet phases)
    config = tiny(demo_dir, train={"precision": "fp32"})
    model = build_model(config, 8, (48, 48))
    model.seg = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.BatchNorm2d(8))
    recon_only = Phase("recon", "epochs", ("recon",), 1.0, 0.0)
    set_trainable(model, recon_only)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad])
    trainer = _trainer(model, optimizer, recon_only)
    bn = model.seg[1]
    before = (bn.running_mean.clone(), bn.running_var.clone(), int(bn.num_batches_tracked))
    recon_before = [p.detach().clone() for p in model.recon.parameters()]
    trainer.step(torch.rand(2, 2, 48, 48), torch.zeros(2, 1, 48, 48, dtype=torch.long))
    assert torch.equal(bn.running_mean, before[0]) and torch.equal(bn.running_var, before[1])
    assert int(bn.num_batches_tracked) == before[2] and not model.seg.training
    assert model.recon.training and any(not torch.equal(a, b) for a, b in zip(recon_before, model.recon.parameters()))


def test_segnet_pretraining_is_validated_on_fully_sampled_images(demo_dir):
    config = tiny(demo_dir, train={"method": "liu", "precision": "fp32"})
    data = prepare_data(config)
    model = build_model(config, data.scheme.num_classes, (48, 48)).eval()
    loader = make_loader(data.val, 8, 0)
    segpre, recon = METHODS["liu"].phases
    evaluator = make_evaluator(model, loader, torch.device("cpu"), config, data.scheme, segpre)
    outputs = []
    evaluator.add_event_handler(Events.ITERATION_COMPLETED, lambda e: outputs.append(e.state.output))
    evaluator.run()
    batch = next(iter(loader))
    first = outputs[0]
    assert torch.equal(first["recon"], batch["image"])  # SegNet sees the fully sampled image itself
    with torch.no_grad():
        expected = model.seg(batch["image"]).argmax(1, keepdim=True)
    assert torch.equal(first["pred"], expected)
    assert evaluator.state.metrics["key"] == evaluator.state.metrics["mean_dice"]
    # the ReconNet phase is validated through the undersampling path, on PSNR and Dice, with its key on Dice
    later = make_evaluator(model, loader, torch.device("cpu"), config, data.scheme, recon)
    outputs.clear()
    later.add_event_handler(Events.ITERATION_COMPLETED, lambda e: outputs.append(e.state.output))
    later.run()
    assert not torch.equal(outputs[0]["recon"], batch["image"])


def test_segnet_pretraining_validation_works_in_every_image_mode(demo_dir):
    from semunet_monai.networks.semunet import IMAGE_MODES

    for mode in IMAGE_MODES:
        config = tiny(demo_dir, train={"method": "liu", "precision": "fp32"}, model={"image_mode": mode})
        data = prepare_data(config)
        model = build_model(config, data.scheme.num_classes, (48, 48)).eval()
        loader = make_loader(data.val, 8, 0)
        evaluator = make_evaluator(model, loader, torch.device("cpu"), config, data.scheme, METHODS["liu"].phases[0])
        evaluator.run()  # the magnitude image is scored as the 'reconstruction', whatever the network's layout
        assert evaluator.state.metrics["ssim"] == pytest.approx(1.0) and 0 <= evaluator.state.metrics["mean_dice"] <= 1
