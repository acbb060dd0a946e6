"""ResampleToSpacingd: MONAI's Spacingd that leaves the item's other entries alone (MONAI Label's ``image_path``)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.transforms import LoadImaged, Spacingd

from semunet_monai.transforms.dictionary import ResampleToSpacingd


@pytest.fixture
def item(tmp_path):
    path = tmp_path / "scan.nii.gz"
    data = np.random.default_rng(0).random((20, 16, 5)).astype(np.float32)
    nib.save(nib.Nifti1Image(data, np.diag([1.0, 1.0, 3.0, 1.0])), str(path))
    loaded = LoadImaged("image", ensure_channel_first=True)({"image": str(path)})
    return {**loaded, "image_path": str(path)}  # as MONAI Label's infer task adds it


def test_a_string_beside_the_image_is_kept_and_the_result_is_spacingd(item):
    with pytest.raises(AttributeError):  # what MONAI 1.6.1's own Spacingd does with it
        Spacingd("image", pixdim=(2.0, 2.0, -1.0))(dict(item))
    out = ResampleToSpacingd("image", pixdim=(2.0, 2.0, -1.0))(dict(item))
    plain = Spacingd("image", pixdim=(2.0, 2.0, -1.0))({k: v for k, v in item.items() if k != "image_path"})
    assert out["image_path"] == item["image_path"]
    assert out["image"].shape == plain["image"].shape == (1, 10, 8, 5)
    assert torch.allclose(out["image"], plain["image"])


def test_its_inverse_brings_the_image_back_to_the_scan_grid(item):
    transform = ResampleToSpacingd("image", pixdim=(2.0, 2.0, -1.0))
    back = transform.inverse(transform(dict(item)))
    assert back["image"].shape == item["image"].shape and back["image_path"] == item["image_path"]
