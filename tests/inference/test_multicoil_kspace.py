"""Inference on acquired multi-coil k-space (fastMRI HDF5 and .npy ``(slices, coils, H, W)``): coil combination by
root-sum-of-squares, the mask check with counts, the retrospective opt-in for fully sampled data, and refusals."""

from __future__ import annotations

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch

from semunet_monai.inference import infer
from semunet_monai.kspace import fft2c
from semunet_monai.physics import birdcage_maps

from .conftest import MATRIX, smooth_volume


def _multicoil(volume: np.ndarray, coils: int = 4) -> np.ndarray:
    """Fully sampled k-space ``(slices, coils, H, W)`` of a volume ``(H, W, slices)`` seen by normalised coils."""
    image = torch.from_numpy(volume).permute(2, 0, 1)[:, None].to(torch.complex64)  # (S, 1, H, W)
    maps = birdcage_maps(volume.shape[:2], coils, rotation=0.3)
    return fft2c(maps[None] * image).numpy().astype(np.complex64)


def _model_mask(run) -> np.ndarray:
    return torch.load(run / "model.pt", weights_only=True)["operator.mask"].bool().numpy()


def test_fully_sampled_multicoil_hdf5_gives_back_the_image(identity_run, tmp_path):
    """The fully sampled model's ReconNet is the identity: the reconstruction of multi-coil k-space is the
    root-sum-of-squares of its coil images, which is the image for normalised coils."""
    volume = smooth_volume((*MATRIX, 3))
    path = tmp_path / "in" / "scan.h5"
    path.parent.mkdir()
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=_multicoil(volume))
    infer(identity_run, [path], tmp_path / "out", progress=False)
    recon = np.asarray(nib.load(tmp_path / "out" / "scan_recon.nii.gz").dataobj)
    assert recon.shape == volume.shape
    assert np.abs(recon - volume).max() < 1e-3 * volume.max()
    seg = np.asarray(nib.load(tmp_path / "out" / "scan_seg.nii.gz").dataobj)
    assert seg.shape == volume.shape


def test_readout_oversampled_raw_data_is_cropped_in_image_space_with_retrospective(identity_run, tmp_path):
    """fastMRI's layout: k-space at twice the read-out matrix. With --retrospective the image is cropped to the
    trained matrix (the centre rows), so the identity model gives back the centre of the oversampled image."""
    volume = smooth_volume((*MATRIX, 2))
    h = MATRIX[0]
    wide = np.zeros((2 * h, MATRIX[1], 2), np.float32)
    wide[h // 2 : h // 2 + h] = volume  # the object fills the centre half of the oversampled field of view
    np.save(tmp_path / "wide.npy", _multicoil(wide))
    with pytest.raises(ValueError, match=r"wide.npy: k-space slices are \d+x\d+.*cropped to it with --retrospective"):
        infer(identity_run, [tmp_path / "wide.npy"], tmp_path / "refused", progress=False)
    infer(identity_run, [tmp_path / "wide.npy"], tmp_path / "out", progress=False, retrospective=True)
    recon = np.asarray(nib.load(tmp_path / "out" / "wide_recon.nii.gz").dataobj)
    assert recon.shape == volume.shape
    assert np.abs(recon - volume).max() < 1e-3 * volume.max()


def test_undersampled_multicoil_is_checked_and_retrospective_applies_the_mask(semunet_run_and_bundle, tmp_path):
    run, _ = semunet_run_and_bundle
    mask = _model_mask(run)
    full = _multicoil(smooth_volume((*MATRIX, 2)))
    (tmp_path / "acq").mkdir()
    (tmp_path / "raw").mkdir()
    np.save(tmp_path / "acq" / "acq.npy", full * mask)
    np.save(tmp_path / "raw" / "raw.npy", full)
    infer(run, [tmp_path / "acq" / "acq.npy"], tmp_path / "out_acq", progress=False)

    with pytest.raises(ValueError, match=r"raw.npy: the k-space was not sampled with the learned mask: 0 of its \d+ "):
        infer(run, [tmp_path / "raw" / "raw.npy"], tmp_path / "out_raw", progress=False)
    assert not (tmp_path / "out_raw").exists()
    infer(run, [tmp_path / "raw" / "raw.npy"], tmp_path / "out_raw", progress=False, retrospective=True)
    for kind in ("recon", "seg"):
        a = np.asarray(nib.load(tmp_path / "out_acq" / f"acq_{kind}.nii.gz").dataobj)
        b = np.asarray(nib.load(tmp_path / "out_raw" / f"raw_{kind}.nii.gz").dataobj)
        assert a.shape == (*MATRIX, 2) and np.allclose(a, b, atol=1e-5 * max(1.0, np.abs(a).max()))

    np.save(tmp_path / "acq" / "acq.npy", full * mask * (np.arange(MATRIX[1]) % 2 == 0))  # half the mask's columns
    with pytest.raises(ValueError, match=r"retrospective undersampling needs k-space holding every sample"):
        infer(run, [tmp_path / "acq" / "acq.npy"], tmp_path / "o2", progress=False, retrospective=True)


@pytest.mark.parametrize(
    "array, match",
    [
        (np.ones((1, 2, 2, *MATRIX), np.complex64), r"\(slices, H, W\) single-coil or \(slices, coils, H, W\)"),
        (np.ones((2, 3, *MATRIX), np.float32), "k-space must be complex"),
        (np.full((2, 3, *MATRIX), np.nan + 0j, np.complex64), "NaN or Inf"),
    ],
)
def test_bad_multicoil_files_are_refused_by_name(identity_run, tmp_path, array, match):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(ValueError, match=match) as err:
        infer(identity_run, [tmp_path / "bad.npy"], tmp_path / "out", progress=False)
    assert str(err.value).startswith(str(tmp_path / "bad.npy"))
    assert not (tmp_path / "out").exists()
