from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import semunet_monai.metrics as metrics
from semunet_monai.metrics import (
    SEGMENTATION_METRIC_NAMES,
    VolumeMetricAccumulator,
    dice_per_class,
    hd95_per_class,
    psnr,
    segmentation_metrics,
    ssim,
    ssim_if_defined,
)

IMAGE_SHAPES = [(3, 32, 40), (2, 48, 23), (25, 17), (1, 64, 64)]


def _pair(shape, seed=0):
    rng = np.random.default_rng(seed)
    ref = rng.random(shape) * 2.0
    pred = ref + 0.2 * rng.standard_normal(shape)
    return pred, ref


def _skimage_ssim(pred, ref):
    ref3, pred3 = np.atleast_3d(ref.T).T, np.atleast_3d(pred.T).T  # (H, W) -> (1, H, W)
    kw = dict(data_range=ref.max(), gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    return float(np.mean([structural_similarity(r, p, **kw) for r, p in zip(ref3, pred3)]))


@pytest.mark.parametrize("shape", IMAGE_SHAPES)
@pytest.mark.parametrize("as_torch", [False, True])
def test_psnr_ssim_match_skimage(shape, as_torch):
    pred, ref = _pair(shape)
    expected_psnr = peak_signal_noise_ratio(ref, pred, data_range=ref.max())
    expected_ssim = _skimage_ssim(pred, ref)
    args = (torch.from_numpy(pred).float(), torch.from_numpy(ref).float()) if as_torch else (pred, ref)
    assert abs(psnr(*args) - expected_psnr) < 1e-3
    assert abs(ssim(*args) - expected_ssim) < 1e-3


def test_data_range_is_the_reference_volume_max():
    pred, ref = _pair((2, 32, 32))
    ref[1] *= 0.05  # a dim second slice: its SSIM must still use the volume max
    pred[1] = ref[1] + 0.02 * np.random.default_rng(4).standard_normal(ref[1].shape)
    expected = _skimage_ssim(pred, ref)
    assert abs(ssim(pred, ref) - expected) < 1e-3
    per_slice_range = np.mean([ssim(p, r) for p, r in zip(pred, ref)])
    assert abs(per_slice_range - expected) > 0.05  # the convention is observable


def test_identical_inputs():
    _, ref = _pair((2, 20, 24))
    assert psnr(ref, ref) == math.inf
    assert ssim(ref, ref) == pytest.approx(1.0, abs=1e-6)


def test_image_metric_bad_args():
    pred, ref = _pair((2, 20, 24))
    with pytest.raises(ValueError, match="'pred' and 'ref'"):
        psnr(pred[:, :-1], ref)
    with pytest.raises(ValueError, match="'ref'"):
        psnr(pred, np.zeros_like(ref))
    with pytest.raises(ValueError, match="'pred'"):
        ssim(pred[:, :8, :8], ref[:, :8, :8])
    with pytest.raises(ValueError, match="'pred'"):
        psnr(pred.astype(np.complex64), ref)


def test_dice_hand_count():
    ref = torch.tensor([[0, 1, 1, 2], [0, 1, 2, 2], [0, 0, 0, 3]])
    pred = torch.tensor([[0, 1, 0, 2], [1, 1, 2, 0], [0, 0, 0, 0]])
    # class 1: ref 3 px, pred 3 px, overlap 2 -> 4/6; class 2: ref 3, pred 2, overlap 2 -> 4/5; class 3: 0
    dice = dice_per_class(pred, ref, num_classes=5)
    torch.testing.assert_close(dice[:3].double(), torch.tensor([4 / 6, 4 / 5, 0.0], dtype=torch.float64))
    assert torch.isnan(dice[3])  # class 4 absent from both
    scores = segmentation_metrics(pred, ref, num_classes=5)
    assert set(scores) == set(SEGMENTATION_METRIC_NAMES)
    assert scores["mean_dice"] == pytest.approx((4 / 6 + 4 / 5 + 0.0) / 3)


def test_dice_identical_and_ignore_index():
    rng = np.random.default_rng(1)
    ref = rng.integers(0, 4, size=(3, 16, 16))
    torch.testing.assert_close(dice_per_class(ref, ref, 4), torch.ones(3))
    pred = ref.copy()
    ignored = np.zeros_like(ref, dtype=bool)
    ignored[:, :5] = True
    pred[ignored] = (ref[ignored] + 1) % 4  # wrong only where ignored
    ref_ign = np.where(ignored, 255, ref)
    torch.testing.assert_close(dice_per_class(pred, ref_ign, 4, ignore_index=255), torch.ones(3))
    assert (dice_per_class(pred, ref, 4) < 1).all()
    with pytest.raises(ValueError, match="ref_labels"):
        dice_per_class(pred, ref_ign, 4)  # 255 without ignore_index is out of range


def test_float_labels_accepted_and_validated():
    ref = np.zeros((12, 12))
    ref[3:8, 3:8] = 1
    torch.testing.assert_close(dice_per_class(ref.astype(np.float32), ref, 2), torch.ones(1))
    with pytest.raises(ValueError, match="pred_labels"):
        dice_per_class(ref + 0.5, ref, 2)
    with pytest.raises(ValueError, match="pred_labels"):
        dice_per_class(ref[:-1], ref, 2)
    with pytest.raises(ValueError, match="num_classes"):
        dice_per_class(ref, ref, 1)


def _square(shape, top, left, size):
    x = np.zeros(shape, dtype=np.int64)
    x[top : top + size, left : left + size] = 1
    return x


def test_hd95_identical_and_shifted_square():
    ref = _square((32, 32), 8, 8, 10)
    assert hd95_per_class(ref, ref, 2).item() == 0.0
    shifted = _square((32, 32), 8, 11, 10)  # moved 3 columns
    assert hd95_per_class(shifted, ref, 2).item() == pytest.approx(3.0)
    assert hd95_per_class(shifted, ref, 2, spacing=(1.0, 0.5)).item() == pytest.approx(1.5)
    vol_ref, vol_shift = np.stack([ref, ref]), np.stack([shifted, shifted])
    assert hd95_per_class(vol_shift, vol_ref, 2, spacing=(5.0, 1.0, 2.0)).item() == pytest.approx(6.0)
    with pytest.raises(ValueError, match="spacing"):
        hd95_per_class(vol_shift, vol_ref, 2, spacing=(1.0, 1.0))


def test_segmentation_metrics_nan_classes_excluded_from_means():
    ref = _square((20, 20), 2, 2, 6)
    pred = _square((20, 20), 2, 4, 6)  # class 1 shifted by 2; classes 2 absent from both
    scores = segmentation_metrics(pred, ref, num_classes=3)
    assert torch.isnan(scores["dice"][1]) and torch.isnan(scores["hd95"][1])
    assert scores["mean_dice"] == pytest.approx(scores["dice"][0].item()) == pytest.approx(2 * 24 / 72)
    assert scores["mean_hd95"] == pytest.approx(2.0)


def test_accumulator_assembles_volumes_by_id():
    pred_a, ref_a = _pair((4, 24, 20), seed=2)
    pred_b, ref_b = _pair((3, 24, 20), seed=3)
    lab_a = (ref_a > 1.0).astype(np.int64)
    lab_b = (ref_b > 1.2).astype(np.int64)
    acc = VolumeMetricAccumulator(num_classes=2)

    def first_batch(a, b):  # slices 0-1 of volume a and slice 0 of volume b, as (B, 1, H, W)
        return np.concatenate([a[:2], b[:1]])[:, None]

    labels = first_batch(lab_a, lab_b)
    acc.add(["a", "a", "b"], first_batch(pred_a, pred_b), first_batch(ref_a, ref_b), labels, labels)
    acc.add("a", pred_a[2:], ref_a[2:], lab_a[2:], 1 - lab_a[2:])
    acc.add("b", torch.from_numpy(pred_b[1:]), torch.from_numpy(ref_b[1:]), lab_b[1:], lab_b[1:])
    out = acc.compute()
    per = out["per_volume"]
    assert list(per) == ["a", "b"]
    assert per["a"]["psnr"] == pytest.approx(psnr(pred_a, ref_a), abs=1e-9)
    assert per["a"]["ssim"] == pytest.approx(ssim(pred_a, ref_a), abs=1e-9)
    assert per["b"]["ssim"] == pytest.approx(ssim(pred_b, ref_b), abs=1e-9)
    ref_lab_a = np.concatenate([lab_a[:2], 1 - lab_a[2:]])
    torch.testing.assert_close(per["a"]["dice"], dice_per_class(lab_a, ref_lab_a, 2))
    assert per["b"]["mean_dice"] == 1.0
    assert out["mean"]["psnr"] == pytest.approx((per["a"]["psnr"] + per["b"]["psnr"]) / 2)
    assert out["mean"]["mean_dice"] == pytest.approx((per["a"]["mean_dice"] + 1.0) / 2)
    acc.reset()
    assert acc.compute() == {"per_volume": {}, "mean": {}}


def test_ssim_on_planes_under_the_window_is_nan_with_one_warning(caplog, monkeypatch):
    monkeypatch.setattr(metrics, "_SMALL_PLANES_WARNED", set())  # warned once per process: start afresh
    pred, ref = _pair((48, 48, 10), seed=4)  # the (ky, kz) planes of a 10-slice volume: 48 x 10
    with pytest.raises(ValueError, match="H, W >= 11"):
        ssim(pred, ref)  # the metric itself refuses
    with caplog.at_level("WARNING", logger="semunet_monai.metrics"):
        assert math.isnan(ssim_if_defined(pred, ref))
        assert math.isnan(ssim_if_defined(pred[:3], ref[:3]))
    assert [r.getMessage() for r in caplog.records] == [
        "SSIM is not defined on 48x10 planes (the window is 11x11): reported as NaN."
    ]
    assert ssim_if_defined(pred[:, :, :1].repeat(11, 2), ref[:, :, :1].repeat(11, 2)) == pytest.approx(
        ssim(pred[:, :, :1].repeat(11, 2), ref[:, :, :1].repeat(11, 2))
    )
    acc = VolumeMetricAccumulator(num_classes=2)
    labels = (ref > 1.0).astype(np.int64)
    acc.add("thin", pred, ref, labels, labels)
    out = acc.compute()  # scored, not refused: PSNR and Dice are defined
    assert out["per_volume"]["thin"]["psnr"] == pytest.approx(psnr(pred, ref))
    assert math.isnan(out["per_volume"]["thin"]["ssim"]) and out["per_volume"]["thin"]["mean_dice"] == 1.0


def test_accumulator_bad_args():
    acc = VolumeMetricAccumulator(num_classes=2)
    img = np.ones((2, 16, 16))
    with pytest.raises(ValueError, match="pred_labels"):
        acc.add("a", img, img)
    with pytest.raises(ValueError, match="ref_image"):
        acc.add("a", img, img[:, :-1], img, img)
    with pytest.raises(ValueError, match="volume_id"):
        acc.add(["a", "b", "c"], img, img, img, img)


def test_a_given_data_range_replaces_the_reference_maximum():
    import math

    ref = torch.full((16, 16), 0.5, dtype=torch.float64)
    pred = ref + 0.1
    assert psnr(pred, ref, data_range=2.0) == pytest.approx(10 * math.log10(4.0 / 0.01))
    assert psnr(pred, ref) == pytest.approx(10 * math.log10(0.25 / 0.01))
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0, 1, (2, 32, 32))
    expected = structural_similarity(
        a, b, data_range=2.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ssim(a, b, data_range=2.0) == pytest.approx(expected, abs=1e-6)
    assert ssim(a, b) != pytest.approx(expected, abs=1e-3)
    for bad in (0.0, -1.0, float("nan"), "1"):
        with pytest.raises(ValueError, match="'data_range'"):
            psnr(pred, ref, data_range=bad)


def test_tissue3_merge_scores_merged_classes():
    # paper7 -> tissue3: cortical GM (1) and basal ganglia (2) are one GM class; CSF (4) and ventricles (5) one CSF
    from semunet_monai.data.labels import LABEL_SCHEMES

    lut = LABEL_SCHEMES["paper7"].merge_lut("tissue3")
    assert lut == [0, 2, 2, 3, 1, 1, 0, 0]
    ref = np.zeros((1, 16, 16), np.int64)
    ref[0, :8, :8], ref[0, 8:, :8], ref[0, :8, 8:], ref[0, 8:, 8:] = 1, 2, 4, 3
    pred = ref.copy()
    pred[0, 8:, :8] = 1  # basal ganglia predicted as cortical GM: wrong in paper7, right in tissue3
    pred[0, :8, 8:] = 5  # CSF predicted as ventricles: the same
    ref[0, 0, 0] = 255  # ignored in both
    acc = VolumeMetricAccumulator(num_classes=8, ignore_index=255, merge=lut)
    img = np.ones((1, 16, 16))
    acc.add("a", img, img, pred, ref)
    per = acc.compute()["per_volume"]["a"]
    assert per["mean_dice_tissue3"] == 1.0
    torch.testing.assert_close(per["dice_tissue3"], torch.ones(3))
    assert per["mean_dice"] < 0.7  # classes 2 and 4 are missed, 1 and 5 over-predicted
    assert LABEL_SCHEMES["tissue3"].merge_lut() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="argument 'merge'"):
        VolumeMetricAccumulator(num_classes=4, merge=[0, 1])


def test_merge_lut_refuses_a_split_class():
    from semunet_monai.data.labels import get_label_scheme

    # a custom scheme putting cortical GM and WM into one class cannot be merged into tissue3
    custom = get_label_scheme({0: 0, 1: 1, 2: 2, 3: 1, 4: 1, 5: 3, 6: 3, 7: 0, 8: 0})
    assert custom.merge_lut("tissue3") is None
