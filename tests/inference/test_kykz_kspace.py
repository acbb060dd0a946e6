"""Inference of a (ky, kz) model (#14 item 4): on the 3-D k-space its sequence acquires (``(kx, ky, kz)`` or
``(coils, kx, ky, kz)``, read out along kx) and on image volumes cut into the planes across the read-out, through
``semunet-monai infer`` and the bundle's inference.json."""

from __future__ import annotations

import json

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser

from semunet_monai.bundle_kspace import read_kspace
from semunet_monai.bundle_network import inference_override, write_inference_override
from semunet_monai.inference import infer
from semunet_monai.kspace import fft2c
from semunet_monai.physics import birdcage_maps

from ..test_bundle_network import INFERENCE
from .conftest import model_folder, smooth_volume

PLANE = (32, 12)  # (ky, kz): the networks' plane; x (the read-out) can be any length
NX = 6


def _fft3c(x: np.ndarray) -> np.ndarray:
    axes = (-3, -2, -1)
    return np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)


def _volume() -> np.ndarray:
    """A smooth blob ``(x, y, z)`` whose (y, z) planes fill the plane and vary along x."""
    planes = smooth_volume((*PLANE, NX)).transpose(2, 0, 1)  # (x, y, z)
    return np.ascontiguousarray(planes).astype(np.float32)


def _coil_kspace(volume: np.ndarray, coils: int = 4) -> np.ndarray:
    """Fully sampled 3-D k-space ``(coils, kx, ky, kz)`` with normalised sensitivities over the (y, z) plane."""
    maps = birdcage_maps(volume.shape[1:], coils, rotation=0.4).numpy()  # (coils, y, z), the same for every x
    return _fft3c(maps[:, None] * volume[None]).astype(np.complex64)


def _run(folder, method: str, readout_axis: int = 0, spacing=None):
    sections = {"sampling": {"geometry": "kykz", "readout_axis": readout_axis}}
    return model_folder(folder, method, sections, matrix=PLANE, spacing=spacing)


@pytest.mark.parametrize("coils", [None, 3])
def test_each_readout_position_is_the_2d_transform_of_its_plane(tmp_path, coils):
    g = np.random.default_rng(0)
    volume = (g.random((5, 7, 4)) + 1j * g.random((5, 7, 4))).astype(np.complex64)
    images = volume[None] if coils is None else birdcage_maps((7, 4), coils).numpy()[:, None] * volume[None]
    kspace = _fft3c(images).astype(np.complex64)
    np.save(tmp_path / "k.npy", kspace[0] if coils is None else kspace)
    planes, mask = read_kspace(tmp_path / "k.npy", "kykz")
    assert planes.shape == (5, coils or 1, 7, 4) and mask is None
    expected = fft2c(torch.from_numpy(np.ascontiguousarray(images.transpose(1, 0, 2, 3)))).numpy()
    assert np.allclose(planes, expected, atol=1e-5)
    np.save(tmp_path / "bad.npy", kspace[:, :, :, :, None])
    with pytest.raises(ValueError, match=r"bad.npy: k-space must be \(kx, ky, kz\) single-coil or \(coils, kx, ky"):
        read_kspace(tmp_path / "bad.npy", "kykz")


def test_fully_sampled_3d_multicoil_hdf5_gives_back_the_volume(tmp_path):
    """The fully sampled kykz model's ReconNet is the identity: the reconstruction is the root-sum-of-squares of
    the coil images of each read-out position's plane, which is the volume, in the file's (x, y, z) order."""
    _run(tmp_path / "run", "fullysampled")
    volume = _volume()
    path = tmp_path / "in" / "scan3d.h5"
    path.parent.mkdir()
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=_coil_kspace(volume))
    infer(tmp_path / "run", [path], tmp_path / "out", progress=False)
    recon = np.asarray(nib.load(tmp_path / "out" / "scan3d_recon.nii.gz").dataobj)
    assert recon.shape == volume.shape == (NX, *PLANE)
    assert np.abs(recon - volume).max() < 1e-3 * volume.max()
    seg = np.asarray(nib.load(tmp_path / "out" / "scan3d_seg.nii.gz").dataobj)
    assert seg.shape == volume.shape


def test_the_learned_plane_mask_is_checked(tmp_path):
    model, _ = _run(tmp_path / "run", "semunet")
    mask = model.operator.mask.bool().numpy()
    assert mask.shape == PLANE and 0 < mask.sum() < mask.size
    full = _coil_kspace(_volume())
    for name, data in (("acq", full * mask), ("raw", full)):
        (tmp_path / name).mkdir()
        np.save(tmp_path / name / f"{name}.npy", data.astype(np.complex64))  # the mask is constant along kx
    infer(tmp_path / "run", [tmp_path / "acq" / "acq.npy"], tmp_path / "out_acq", progress=False)
    with pytest.raises(ValueError, match=r"raw.npy: the k-space was not sampled with the learned mask: 0 of its \d+"):
        infer(tmp_path / "run", [tmp_path / "raw" / "raw.npy"], tmp_path / "out_raw", progress=False)
    assert not (tmp_path / "out_raw").exists()
    infer(tmp_path / "run", [tmp_path / "raw" / "raw.npy"], tmp_path / "out_raw", progress=False, retrospective=True)
    for kind in ("recon", "seg"):
        a = np.asarray(nib.load(tmp_path / "out_acq" / f"acq_{kind}.nii.gz").dataobj)
        b = np.asarray(nib.load(tmp_path / "out_raw" / f"raw_{kind}.nii.gz").dataobj)
        assert a.shape == (NX, *PLANE) and np.allclose(a, b, atol=1e-5 * max(1.0, np.abs(a).max()))

    np.save(tmp_path / "acq" / "wide.npy", np.zeros((2, NX, PLANE[0], PLANE[1] + 2), np.complex64))
    with pytest.raises(ValueError, match=r"wide.npy: its \(ky, kz\) plane is 32x14, the model's mask is 32x12"):
        infer(tmp_path / "run", [tmp_path / "acq" / "wide.npy"], tmp_path / "o2", progress=False)
    assert not (tmp_path / "o2").exists()


@pytest.mark.parametrize("readout_axis", [0, 2])
def test_an_image_volume_is_cut_into_the_planes_across_the_readout(tmp_path, readout_axis):
    """The identity (fully sampled) kykz model gives the scan back on its own grid, whichever axis is read out:
    the volume is transposed so that the planes across the read-out are the slices, and back."""
    spacing = (3.0, 1.0, 2.0) if readout_axis == 0 else (1.0, 2.0, 3.0)
    _run(tmp_path / "run", "fullysampled", readout_axis, spacing)
    volume = np.moveaxis(_volume(), 0, readout_axis)  # the read-out positions along readout_axis
    affine = np.diag([*spacing, 1.0])
    nib.save(nib.Nifti1Image(volume, affine), str(tmp_path / "T1.nii.gz"))
    summary = infer(tmp_path / "run", [tmp_path / "T1.nii.gz"], tmp_path / "out", progress=False)
    assert summary["fit"] == "resample"
    out = nib.load(str(tmp_path / "out" / "T1_recon.nii.gz"))
    recon = np.asarray(out.dataobj)
    top = np.percentile(volume, 99.5)
    assert recon.shape == volume.shape and np.allclose(out.affine, affine)
    np.testing.assert_allclose(recon, np.minimum(volume, top), rtol=1e-4, atol=1e-3 * top)


def test_an_image_volume_is_undersampled_plane_by_plane_with_the_learned_mask(tmp_path):
    """A SemuNet kykz model on a scan gives what the model gives on the scaled volume's planes across the
    read-out, mapped back to the scan's units."""
    model, _ = _run(tmp_path / "run", "semunet", 0, (3.0, 1.0, 2.0))
    volume = _volume()
    nib.save(nib.Nifti1Image(volume, np.diag([3.0, 1.0, 2.0, 1.0])), str(tmp_path / "T1.nii.gz"))
    infer(tmp_path / "run", [tmp_path / "T1.nii.gz"], tmp_path / "out", progress=False, precision="fp32")
    recon = np.asarray(nib.load(str(tmp_path / "out" / "T1_recon.nii.gz")).dataobj)
    low, high = float(volume.min()), float(np.percentile(volume, 99.5))  # training's scaling, as inference does
    scaled = torch.from_numpy(np.clip((volume - low) / (high - low), 0, 1))
    with torch.no_grad():
        planes = model.eval()(scaled[:, None])  # (x, 1, y, z): one plane per read-out position, the mask on each
    expected = model.magnitude(planes.recon)[:, 0].numpy() * (high - low) + low
    np.testing.assert_allclose(recon, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_the_bundle_infers_3d_kspace_and_volumes_through_the_override(tmp_path):
    """inference.json layered with the override of a kykz model: its network carries the geometry and its
    preprocessing the read-out axis (MONAI Label's path for scans); it gives what ``semunet-monai infer`` gives for
    a 3-D k-space file and for a scan."""
    model, config = _run(tmp_path / "run", "semunet", 0, (3.0, 1.0, 2.0))
    models = tmp_path / "bundle" / "models"
    models.mkdir(parents=True)
    torch.save({f"model.{k}": v for k, v in model.state_dict().items()}, models / "model.pt")
    (models / "experiment.json").write_text(json.dumps(config.to_dict()))
    override = inference_override(model, config, {"spacing": [3.0, 1.0, 2.0]})
    assert override["network_def#geometry"] == "kykz" and override["spacing"] == [1.0, 2.0]  # the plane's axes
    assert override["readout_axis"] == 0
    write_inference_override(models, override)
    mask = model.operator.mask.bool().numpy()
    (tmp_path / "in").mkdir()
    np.save(tmp_path / "in" / "acq.npy", (_coil_kspace(_volume()) * mask).astype(np.complex64))
    nib.save(nib.Nifti1Image(_volume(), np.diag([3.0, 1.0, 2.0, 1.0])), str(tmp_path / "in" / "T1.nii.gz"))

    parser = ConfigParser()
    parser.read_config(str(INFERENCE))
    for key, value in json.loads((models / "inference_override.json").read_text()).items():
        parser[key] = value
    parser["models_dir"], parser["device"], parser["precision"] = str(models), "$torch.device('cpu')", "fp32"
    parser["input_dir"], parser["output_dir"] = str(tmp_path / "in"), str(tmp_path / "out")
    parser.get_parsed_content("initialize")
    parser.get_parsed_content("run")
    infer(tmp_path / "run", [tmp_path / "in"], tmp_path / "cli", progress=False, precision="fp32")
    for name in ("acq_recon", "acq_seg", "T1_recon", "T1_seg"):
        a = np.asarray(nib.load(tmp_path / "out" / f"{name}.nii.gz").dataobj)
        b = np.asarray(nib.load(tmp_path / "cli" / f"{name}.nii.gz").dataobj)
        assert a.shape == (NX, *PLANE) and np.allclose(a, b, atol=1e-4 * max(1.0, np.abs(a).max())), name


@pytest.mark.parametrize("axis", [3, [0], "0"])
def test_a_bad_readout_axis_is_refused_by_name(axis):
    from semunet_monai.inference.pipeline import preprocessing

    with pytest.raises(ValueError, match=r"readout_axis must be 0, 1, 2 or None"):
        preprocessing(PLANE, (1.0, 2.0), readout_axis=axis)
