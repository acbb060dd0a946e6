from __future__ import annotations

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch

from semunet_monai.bundle import BundleNetwork
from semunet_monai.bundle_kspace import check_sampling, infer_kspace, read_kspace
from semunet_monai.inference import select_inputs
from semunet_monai.kspace import fft2c
from semunet_monai.networks import ReconNet, SegNet, SemuNet
from semunet_monai.sampling import make_mask


def _network(mask):
    torch.manual_seed(0)
    model = SemuNet(ReconNet(features="tiny"), SegNet(num_classes=4, features="tiny"), mask=torch.from_numpy(mask))
    return BundleNetwork(model.eval())


def _kspace(mask, slices=3, seed=0):
    rng = np.random.default_rng(seed)
    images = torch.from_numpy(rng.random((slices, *mask.shape), dtype=np.float32))
    return (fft2c(torch.complex(images, torch.zeros_like(images))).numpy() * mask).astype(np.complex64)


def test_npy_and_h5_give_the_same_outputs_as_the_network(tmp_path):
    mask = make_mask("gaussian", (32, 32), 0.25, seed=1).numpy()
    k = _kspace(mask)
    (tmp_path / "in").mkdir()
    np.save(tmp_path / "in" / "a.npy", k)
    with h5py.File(tmp_path / "in" / "b.h5", "w") as f:
        f["kspace"] = k
        f["mask"] = mask.astype(np.uint8)
    selection = select_inputs([tmp_path / "in"], tmp_path / "out")
    assert [s.kind for s in selection.scans] == ["kspace", "kspace"] and selection.skipped == []
    items = [{"kspace": str(s.path), "stem": s.path.stem} for s in selection.scans]
    assert [i["stem"] for i in items] == ["a", "b"]
    network = _network(mask)
    infer_kspace(network, items, tmp_path / "out")
    a = np.asarray(nib.load(str(tmp_path / "out" / "a_seg.nii.gz")).dataobj)
    b = np.asarray(nib.load(str(tmp_path / "out" / "b_seg.nii.gz")).dataobj)
    recon = np.asarray(nib.load(str(tmp_path / "out" / "a_recon.nii.gz")).dataobj)
    assert a.shape == (32, 32, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    # the same as running the test-stage path by hand on the scaled k-space
    kt = torch.from_numpy(k)[:, None]
    scale = float(
        np.quantile(
            np.abs(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))),
            0.995,
        )
    )
    with torch.no_grad():
        out = network.model.forward_kspace(kt / scale)
    expected_seg = out.seg.argmax(1)[:, ...].permute(1, 2, 0).numpy()
    assert np.mean(expected_seg == a) > 0.99
    # written in the units of the k-space's own inverse FFT: the network's output times the scale it divided by
    np.testing.assert_allclose(recon, out.recon[:, 0].permute(1, 2, 0).numpy() * scale, atol=2e-3 * scale)


def test_sampling_pattern_must_match_the_learned_mask(tmp_path):
    mask = make_mask("radial", (24, 24), 0.3, seed=0).numpy()
    k = _kspace(mask)
    check_sampling(k, None, mask, "x.npy")  # matches
    extra = k.copy()
    extra[:, 0, 0] = 1
    with pytest.raises(ValueError, match="0 of its .* samples are missing and 1 sampled locations lie outside"):
        check_sampling(extra, None, mask, "x.npy")
    with pytest.raises(ValueError, match="are missing"):
        check_sampling(k, np.zeros_like(mask), mask, "x.h5")
    with pytest.raises(ValueError, match="the learned mask is 24x24"):
        check_sampling(np.zeros((2, 20, 24), np.complex64), None, mask, "x.npy")
    lines = make_mask("cartesian_random", (24, 24), 0.25, seed=0).numpy()
    check_sampling(_kspace(lines), lines[0], lines, "lines.h5")  # a fastMRI (W,) mask is expanded along H


def test_read_kspace_errors(tmp_path):
    np.save(tmp_path / "real.npy", np.ones((2, 8, 8), np.float32))
    with pytest.raises(ValueError, match="must be complex"):
        read_kspace(tmp_path / "real.npy")
    np.save(tmp_path / "rank.npy", np.ones((2, 2, 2, 8, 8), np.complex64))
    with pytest.raises(ValueError, match=r"\(slices, H, W\) single-coil or \(slices, coils, H, W\) multi-coil"):
        read_kspace(tmp_path / "rank.npy")
    np.save(tmp_path / "coils.npy", np.ones((2, 3, 8, 8), np.complex64))
    assert read_kspace(tmp_path / "coils.npy")[0].shape == (2, 3, 8, 8)
    with h5py.File(tmp_path / "nok.h5", "w") as f:
        f["image"] = np.ones((2, 8, 8))
    with pytest.raises(ValueError, match="no 'kspace' dataset"):
        read_kspace(tmp_path / "nok.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="junk.h5: could not be read"):
        read_kspace(tmp_path / "junk.h5")
    bad = np.ones((1, 8, 8), np.complex64)
    bad[0, 1, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match="NaN or Inf"):
        read_kspace(tmp_path / "nan.npy")
