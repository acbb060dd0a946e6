from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss

from semunet_monai.losses import LOSS_TERMS, JointLoss


def _inputs(b=2, c=2, k=4, hw=(12, 10), seed=0, labels_float=False, channel_dim=True):
    gen = torch.Generator().manual_seed(seed)
    recon = torch.randn(b, c, *hw, generator=gen, dtype=torch.float64)
    target = torch.randn(b, c, *hw, generator=gen, dtype=torch.float64)
    logits = torch.randn(b, k, *hw, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, k, (b, *hw), generator=gen)
    if channel_dim:
        labels = labels.unsqueeze(1)
    if labels_float:
        labels = labels.float()
    return recon, target, logits, labels


@pytest.mark.parametrize("lam", [0.1, 0.0, 2.5])
@pytest.mark.parametrize("labels_float", [False, True])
@pytest.mark.parametrize("channel_dim", [False, True])
def test_joint_equals_l1_plus_lam_ce(lam, labels_float, channel_dim):
    recon, target, logits, labels = _inputs(labels_float=labels_float, channel_dim=channel_dim)
    terms = JointLoss(lam=lam).terms(recon, target, logits, labels)
    assert set(terms) == set(LOSS_TERMS)
    index = labels.long().reshape(logits.shape[0], *logits.shape[2:])
    l1 = (recon - target).abs().mean()
    ce = F.cross_entropy(logits, index)
    torch.testing.assert_close(terms["recon"], l1)
    torch.testing.assert_close(terms["seg"], ce)
    torch.testing.assert_close(terms["loss"], l1 + lam * ce)
    torch.testing.assert_close(JointLoss(lam=lam)(recon, target, logits, labels), l1 + lam * ce)
    if lam == 0.0:
        torch.testing.assert_close(terms["loss"], l1)


def test_mse_recon_term():
    recon, target, logits, labels = _inputs()
    terms = JointLoss(recon_loss="mse").terms(recon, target, logits, labels)
    torch.testing.assert_close(terms["recon"], ((recon - target) ** 2).mean())


def test_dicece_matches_monai_dicece_without_ignore():
    recon, target, logits, labels = _inputs(k=3, seed=3)
    seg = JointLoss(seg_loss="dicece").terms(recon, target, logits, labels)["seg"]
    expected = DiceCELoss(to_onehot_y=True, softmax=True)(logits, labels)
    torch.testing.assert_close(seg, expected)
    assert seg > F.cross_entropy(logits, labels[:, 0])  # Dice part is really added


def test_recon_only_when_seg_is_none():
    recon, target, _, _ = _inputs()
    terms = JointLoss(lam=0.1).terms(recon, target)
    assert terms["seg"].item() == 0.0
    torch.testing.assert_close(terms["loss"], (recon - target).abs().mean())


@pytest.mark.parametrize("seg_loss", ["ce", "dicece"])
@pytest.mark.parametrize("ignore_index", [255, -1])
def test_ignored_pixels_do_not_change_loss(seg_loss, ignore_index):
    recon, target, logits, labels = _inputs(k=3, seed=5)
    labels[:, :, :4] = ignore_index  # ignore a band of rows
    loss_fn = JointLoss(seg_loss=seg_loss, ignore_index=ignore_index)
    base = loss_fn(recon, target, logits, labels)
    perturbed = logits.clone()
    perturbed[:, :, :4] += 10 * torch.randn_like(perturbed[:, :, :4])
    torch.testing.assert_close(loss_fn(recon, target, perturbed, labels), base)
    # sanity: perturbing logits at non-ignored pixels does change it
    changed = logits.clone()
    changed[:, :, 6:] += 10 * torch.randn_like(changed[:, :, 6:])
    assert not torch.isclose(loss_fn(recon, target, changed, labels), base)
    if seg_loss == "ce":  # CE averages over the valid pixels only
        valid = labels[:, 0] != ignore_index
        expected = F.cross_entropy(logits.permute(0, 2, 3, 1)[valid], labels[:, 0][valid])
        torch.testing.assert_close(loss_fn.terms(recon, target, logits, labels)["seg"], expected)


@pytest.mark.parametrize("seg_loss", ["ce", "dicece"])
def test_all_pixels_ignored_is_finite(seg_loss):
    recon, target, logits, labels = _inputs(k=3)
    labels[:] = 255
    logits.requires_grad_(True)
    loss = JointLoss(seg_loss=seg_loss, ignore_index=255)(recon, target, logits, labels)
    loss.backward()
    assert math.isfinite(loss.item()) and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("seg_loss", ["ce", "dicece"])
def test_gradients_flow_to_recon_and_logits(seg_loss):
    recon, target, logits, labels = _inputs()
    recon.requires_grad_(True)
    logits.requires_grad_(True)
    JointLoss(seg_loss=seg_loss)(recon, target, logits, labels).backward()
    assert recon.grad is not None and recon.grad.abs().sum() > 0
    assert logits.grad is not None and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("seg_loss", ["ce", "dicece"])
def test_all_zero_inputs_finite(seg_loss):
    recon = torch.zeros(2, 1, 8, 8, requires_grad=True)
    logits = torch.zeros(2, 3, 8, 8, requires_grad=True)
    labels = torch.zeros(2, 1, 8, 8)
    loss = JointLoss(seg_loss=seg_loss)(recon, torch.zeros(2, 1, 8, 8), logits, labels)
    loss.backward()
    assert math.isfinite(loss.item())
    assert torch.isfinite(recon.grad).all() and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        ({"lam": -0.1}, "lam"),
        ({"lam": float("nan")}, "lam"),
        ({"seg_loss": "dice"}, "seg_loss"),
        ({"recon_loss": "ssim"}, "recon_loss"),
        ({"ignore_index": 1.5}, "ignore_index"),
    ],
)
def test_bad_constructor_args(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        JointLoss(**kwargs)


def test_unknown_seg_loss_lists_allowed_values():
    with pytest.raises(ValueError, match=r"'ce', 'dicece'"):
        JointLoss(seg_loss="focal")


def test_bad_call_args():
    recon, target, logits, labels = _inputs(k=4)
    loss_fn = JointLoss(ignore_index=255)
    with pytest.raises(ValueError, match="labels"):
        loss_fn(recon, target, logits, torch.full_like(labels, 4))  # label == K
    with pytest.raises(ValueError, match="labels"):
        loss_fn(recon, target, logits, torch.full_like(labels, -1))
    with pytest.raises(ValueError, match="labels"):
        loss_fn(recon, target, logits, labels.float() + 0.5)
    with pytest.raises(ValueError, match="labels"):
        loss_fn(recon, target, logits, labels[..., :-1])
    with pytest.raises(ValueError, match="'recon' and 'target'"):
        loss_fn(recon, target[..., :-1], logits, labels)
    with pytest.raises(ValueError, match="seg_logits"):
        loss_fn(recon, target, logits, None)
    with pytest.raises(ValueError, match="seg_logits"):
        loss_fn(recon, target, logits[:, :1], labels.clamp(max=0))
