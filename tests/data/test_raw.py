"""Simulated multi-coil k-space in the fastMRI HDF5 layout (demo-data --layout fastmri)."""

from __future__ import annotations

import h5py
import nibabel as nib
import numpy as np
import pytest

from semunet_monai.data.demo import write_demo_dataset
from semunet_monai.data.raw import write_fastmri_demo


def test_fastmri_demo_files_hold_the_scans_k_space_and_their_labels(tmp_path):
    files = write_fastmri_demo(tmp_path / "raw", subjects=1, seed=3, shape=(32, 28, 4), coils=3)
    assert [f.name for f in files] == ["1.h5"]
    reference = write_demo_dataset(tmp_path / "images", subjects=1, seed=3, shape=(32, 28, 4))[0]
    t1 = np.asarray(nib.load(str(reference / "T1.nii.gz")).dataobj, np.float32)
    with h5py.File(files[0]) as f:
        kspace, rss = f["kspace"][:], f["reconstruction_rss"][:]
        assert f.attrs["coils"] == 3 and f.attrs["acquisition"] == "simulated"
    assert kspace.shape == (4, 3, 32, 28) and kspace.dtype == np.complex64
    # normalised coils: the root-sum-of-squares of the coil images is the scan's magnitude
    assert np.allclose(rss, t1.transpose(2, 0, 1), atol=1e-4 * t1.max())
    labels = nib.load(str(tmp_path / "raw" / "1_labels.nii.gz"))
    assert labels.shape == t1.shape
    assert np.array_equal(
        np.asarray(labels.dataobj), np.asarray(nib.load(str(reference / "LabelsForTraining.nii.gz")).dataobj)
    )
    # complex physics: the k-space of each coil is not Hermitian-symmetric (the image has a phase)
    k = kspace[1, 0, 1:, 1:]
    assert np.linalg.norm(k - np.conj(k[::-1, ::-1])) > 0.05 * np.linalg.norm(k)
    with pytest.raises(ValueError, match="is not empty"):
        write_fastmri_demo(tmp_path / "raw", subjects=1, shape=(32, 28, 4))
    with pytest.raises(ValueError, match="'coils' must be at least 1"):
        write_fastmri_demo(tmp_path / "other", coils=0)


def test_the_simulated_image_behind_the_coils_has_a_phase(tmp_path):
    """Combining the coil images with the simulation's own maps gives back a complex image whose phase varies over
    the head (the coils' own phases are removed by the combination)."""
    import torch

    from semunet_monai.kspace import ifft2c
    from semunet_monai.transforms.physics import SimulateAcquisition

    files = write_fastmri_demo(tmp_path / "raw", subjects=1, seed=3, shape=(32, 28, 4), coils=3)
    with h5py.File(files[0]) as f:
        kspace = torch.from_numpy(f["kspace"][:])
    maps = SimulateAcquisition("multicoil", coils=3, seed=3).maps((32, 28), "1")
    image = (maps.conj()[None] * ifft2c(kspace)).sum(1)  # (slices, H, W)
    inside = image.abs() > 0.2 * image.abs().max()
    assert float(image.angle()[inside].std()) > 0.1
