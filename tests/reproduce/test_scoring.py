"""Per-slice scores and the figure slice."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semunet_monai.data.labels import IGNORE_INDEX
from semunet_monai.reproduce.scoring import figure_slice, save_figure_slice, score_slices


def _volumes():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (3, 24, 24)).astype(np.float32)
    image[1] *= 0.5  # a darker slice: its PSNR must still use the volume's maximum
    recon = image + rng.normal(0, 0.05, image.shape).astype(np.float32)
    label = np.zeros((3, 24, 24), dtype=np.int64)
    label[0, 4:12, 4:12] = 1
    label[2, 2:20, 2:20] = 2
    label[2, 0, 0] = IGNORE_INDEX
    pred = label.copy()
    pred[2, 2:20, 2:11] = 1  # half of class 2 predicted as class 1 on slice 2
    pred[2, 0, 0] = 0
    volume = {"slice": np.array([5, 6, 7]), "image": image, "recon": recon, "zero_filled": image, "label": label}
    return {"s1": {**volume, "pred": pred}}


def test_slice_psnr_uses_the_volume_range_and_dice_is_per_slice():
    volumes = _volumes()
    table = score_slices(volumes, num_classes=3)
    v = volumes["s1"]
    vmax = float(v["image"].max())
    for i in range(3):
        mse = float(np.mean((v["recon"][i].astype(np.float64) - v["image"][i]) ** 2))
        assert table["psnr"][i] == pytest.approx(10 * math.log10(vmax**2 / mse), abs=1e-4)
    assert table["subject"] == ["s1"] * 3 and table["slice"] == [5, 6, 7]
    assert table["dice"][0] == pytest.approx(1.0)
    assert table["dice"][1] is None  # no tissue in the reference nor the prediction
    volumes["s1"]["pred"][1, :4, :4] = 2  # a false positive on a slice without tissue: still no Dice there
    assert score_slices(volumes, num_classes=3)["dice"][1] is None
    # slice 2: class 2 has 162 of 324 right (Dice 2*162/(324+162) = 2/3), class 1 is only predicted (Dice 0)
    assert table["dice"][2] == pytest.approx((0.0 + 2 / 3) / 2, abs=1e-6)
    assert all(-1 <= s <= 1 for s in table["ssim"])


def test_no_reconstruction_scores_for_fullysampled_and_no_dice_without_segnet():
    volumes = _volumes()
    assert set(score_slices(volumes, num_classes=3, recon_scores=False)) == {"subject", "slice", "dice"}
    assert set(score_slices(volumes, num_classes=None)) == {"subject", "slice", "psnr", "ssim"}


def test_figure_slice_is_the_one_with_most_tissue_and_is_saved_with_its_scores(tmp_path):
    volumes = _volumes()
    assert figure_slice(volumes) == ("s1", 2)
    path = save_figure_slice(volumes, score_slices(volumes, num_classes=3), tmp_path / "figure_slice.npz")
    with np.load(path) as z:
        assert np.array_equal(z["label"], volumes["s1"]["label"][2])
        assert int(z["slice"]) == 7 and str(z["subject"]) == "s1"
        assert float(z["dice"]) == pytest.approx(1 / 3, abs=1e-6)
        assert float(z["psnr"]) == pytest.approx(score_slices(volumes, 3)["psnr"][2])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure_slice.npz"]  # no temporary file left
