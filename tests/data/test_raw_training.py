"""Training on raw multi-coil k-space files (fastMRI HDF5 + NIfTI labels through a datalist), and the preflight
errors of such datasets, each naming its file."""

from __future__ import annotations

import json
import math
import shutil

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch

from semunet_monai.data.raw import write_fastmri_demo
from semunet_monai.keys import Keys

SHAPE = (32, 32, 6)


@pytest.fixture(scope="module")
def raw_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    write_fastmri_demo(root / "files", subjects=4, seed=1, shape=SHAPE, coils=3)
    entry = lambda i: {"kspace": f"files/{i}.h5", "label": f"files/{i}_labels.nii.gz"}  # noqa: E731
    datalist = {"training": [entry(1), entry(2)], "validation": [entry(3)], "test": [entry(4)]}
    (root / "datalist.json").write_text(json.dumps(datalist))
    return root


def _config(root, **sections):
    from semunet_monai.config import load_config

    overrides = {
        "data": {"root": str(root / "datalist.json"), "spatial_size": SHAPE[0]},
        "physics": {"mode": "multicoil", "coils": 3},
        "train": {"epochs": 2, "finetune_epochs": 1, "batch_size": 4},
    }
    for key, value in sections.items():
        overrides.setdefault(key, {}).update(value)
    return load_config("tiny", overrides=overrides)


def test_raw_slices_hold_scaled_kspace_and_its_rss_target(raw_dataset):
    from semunet_monai.engines.rundata import prepare_data
    from semunet_monai.kspace import ifft2c

    data = prepare_data(_config(raw_dataset))
    assert data.split == {"train": ["1", "2"], "val": ["3"], "test": ["4"]}
    item = data.train[0]
    assert item[Keys.KSPACE].shape == (3, 32, 32) and torch.is_complex(item[Keys.KSPACE])
    rss = torch.linalg.vector_norm(ifft2c(item[Keys.KSPACE]), dim=0, keepdim=True)
    assert torch.allclose(item[Keys.IMAGE], rss, atol=1e-5)
    volume = torch.stack([data.train[i][Keys.IMAGE] for i in range(SHAPE[2])])
    assert 0.9 < float(torch.quantile(volume.flatten(), 0.995)) < 1.1  # scaled as the image pipeline scales


@pytest.mark.parametrize("recon", ["unet", "varnet"])
def test_training_on_raw_kspace_runs_and_the_mask_samples_it(raw_dataset, tmp_path, recon):
    from semunet_monai.engines.workflow import train

    results = train(
        _config(raw_dataset, model={"recon": recon, "varnet_cascades": 1}), tmp_path / "run", progress=False
    )
    assert math.isfinite(results["mean"]["psnr"]) and 0 <= results["mean"]["mean_dice"] <= 1
    assert set(results["per_subject"]) == {"4"}


def test_the_mask_samples_the_raw_kspace_and_the_target_is_only_the_target():
    """With raw k-space the zero-filled input is the root-sum-of-squares of the masked coil images of that k-space;
    the image argument (the target) does not reach the network."""
    from semunet_monai.kspace import ifft2c
    from semunet_monai.networks.semunet import SemuNet
    from semunet_monai.networks.unets import IdentityRecon
    from semunet_monai.physics import MultiCoilOperator, birdcage_maps, rss

    g = torch.Generator().manual_seed(0)
    mask = torch.rand(16, 12, generator=g) < 0.3
    model = SemuNet(IdentityRecon(), mask=mask, operator=MultiCoilOperator(maps=birdcage_maps((16, 12), 2)))
    kspace = torch.randn(2, 3, 16, 12, dtype=torch.complex64, generator=g)
    out = model(torch.zeros(2, 1, 16, 12), kspace=kspace)
    assert torch.allclose(out.zero_filled, rss(ifft2c(kspace * mask)), atol=1e-5)
    assert not torch.allclose(out.zero_filled, model(torch.rand(2, 1, 16, 12)).zero_filled)


def test_raw_data_needs_multicoil_physics(raw_dataset, tmp_path):
    from semunet_monai.engines.workflow import train

    with pytest.raises(ValueError, match="set physics.mode: multicoil"):
        train(_config(raw_dataset, physics={"mode": "magnitude"}), tmp_path / "run", progress=False)


def _broken(root, tmp_path, change):
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    return change(copy) or copy


def _noise(shape):
    rng = np.random.default_rng(0)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def _rewrite(path, **datasets):
    with h5py.File(path, "w") as f:
        for name, data in datasets.items():
            f.create_dataset(name, data=data)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda c: _rewrite(c / "files/2.h5", other=np.zeros(3)), r"2.h5: no 'kspace' dataset"),
        (
            lambda c: _rewrite(c / "files/2.h5", kspace=np.ones((6, 32, 32), np.complex64)),
            r"2.h5: 'kspace' must be multi-coil",
        ),
        (
            lambda c: _rewrite(c / "files/2.h5", kspace=_noise((6, 2, 32, 32))),
            r"2.h5: \(coils, H, W\) \(2, 32, 32\) differs",
        ),
        (
            lambda c: _rewrite(c / "files/2.h5", kspace=np.full((6, 3, 32, 32), np.nan, np.complex64)),
            r"2.h5: 'kspace' holds NaN",
        ),
        (
            lambda c: _rewrite(c / "files/2.h5", kspace=np.ones((6, 3, 32, 32), np.float32)),
            r"2.h5: 'kspace' must be complex",
        ),
        (
            lambda c: nib.save(
                nib.Nifti1Image(np.zeros((32, 32, 5), np.uint8), np.eye(4)), str(c / "files/2_labels.nii.gz")
            ),
            r"2_labels.nii.gz: 5 label slices for the 6 k-space slices",
        ),
        (lambda c: (c / "files/2.h5").unlink(), r"2.h5: missing kspace file of subject '2'"),
    ],
)
def test_bad_raw_files_are_refused_by_name_before_training(raw_dataset, tmp_path, change, match):
    from semunet_monai.engines.workflow import train

    copy = _broken(raw_dataset, tmp_path, change)
    with pytest.raises(ValueError, match=match):
        train(_config(copy), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_readout_oversampled_kspace_is_cropped_to_the_labels_matrix(raw_dataset, tmp_path):
    """fastMRI stores k-space at twice the read-out matrix: the centre half in image space is what is trained on."""
    from semunet_monai.data.labels import get_label_scheme
    from semunet_monai.data.raw_dataset import read_raw_subject
    from semunet_monai.kspace import fft2c, ifft2c

    item = {"kspace": str(raw_dataset / "files/1.h5"), "label": str(raw_dataset / "files/1_labels.nii.gz")}
    scheme = get_label_scheme("paper7")
    kspace, rss, labels = read_raw_subject(item, scheme)
    with h5py.File(raw_dataset / "files/1.h5") as f:
        images = ifft2c(torch.from_numpy(f["kspace"][:]))
    wide = torch.zeros(*images.shape[:2], 64, 32, dtype=images.dtype)
    wide[..., 16:48, :] = images  # the object in the centre of a field of view twice as long
    _rewrite(tmp_path / "wide.h5", kspace=fft2c(wide).numpy())
    item_wide = {**item, "kspace": str(tmp_path / "wide.h5")}
    kspace2, rss2, labels2 = read_raw_subject(item_wide, scheme)
    assert kspace2.shape == kspace.shape and torch.equal(labels2, labels)
    assert torch.allclose(rss2, rss, atol=1e-4)
