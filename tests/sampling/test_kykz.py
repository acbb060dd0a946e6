"""sampling.geometry 'kykz' (#14 item 1): one mask over the (ky, kz) phase-encode plane of a 3-D Cartesian scan,
applied to the planes across the read-out axis. The planes' 2-D transforms are the scan's hybrid (x, ky, kz) data, so
undersampling them with a shared mask is exactly undersampling 3-D k-space with a mask constant along kx."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch

from semunet_monai.config import load_config
from semunet_monai.data.dataset import SliceDataset
from semunet_monai.engines.builders import build_model
from semunet_monai.engines.workflow import check_settings, train
from semunet_monai.kspace import UndersamplingOperator
from semunet_monai.networks import ReconNet, SegNet
from semunet_monai.sampling.common import budget, centre_disc


def _fft3c(x: torch.Tensor) -> torch.Tensor:
    dims = (-3, -2, -1)
    return torch.fft.fftshift(torch.fft.fftn(torch.fft.ifftshift(x, dim=dims), dim=dims, norm="ortho"), dim=dims)


def _ifft3c(k: torch.Tensor) -> torch.Tensor:
    dims = (-3, -2, -1)
    return torch.fft.fftshift(torch.fft.ifftn(torch.fft.ifftshift(k, dim=dims), dim=dims, norm="ortho"), dim=dims)


@pytest.mark.parametrize("shape", [(7, 10, 5), (8, 6, 9)])
def test_planes_across_the_readout_are_the_3d_acquisition(shape):
    """A (ky, kz) mask on each x plane = the 3-D k-space masked along (ky, kz) for every kx, then inverted."""
    g = torch.Generator().manual_seed(0)
    volume = torch.complex(torch.rand(shape, generator=g, dtype=torch.float64), torch.rand(shape, dtype=torch.float64))
    mask = torch.rand(shape[1:], generator=g) < 0.3
    three_d = _ifft3c(_fft3c(volume) * mask)  # the scan: every kx of the sampled (ky, kz) pairs
    op = UndersamplingOperator(mask=mask)
    planes = op.adjoint(op(volume[:, None]))[:, 0]  # each x: A^H A on its (y, z) plane
    assert torch.allclose(planes, three_d, atol=1e-12)


def _volumes(depths, size=6):
    g = torch.Generator().manual_seed(1)
    out = []
    for i, d in enumerate(depths):
        image = torch.rand(1, size, 8, d, generator=g)
        label = (image > 0.5).long()
        label[:, 0] = 0  # an empty plane at x = 0
        out.append({"image": image, "label": label, "subject": f"s{i}"})
    return out


@pytest.mark.parametrize("axis, plane", [(0, (8, 5)), (1, (6, 5)), (2, (6, 8))])
def test_slice_dataset_gives_the_planes_across_an_axis(axis, plane):
    volumes = _volumes([5, 5])
    ds = SliceDataset(volumes, axis=axis)
    assert len(ds) == 2 * volumes[0]["image"].shape[axis + 1]
    item = ds[3]
    assert tuple(item["image"].shape) == (1, *plane) and tuple(item["label"].shape) == (1, *plane)
    assert torch.equal(item["image"], volumes[0]["image"].select(axis + 1, 3))
    kept = SliceDataset(volumes, axis=0, min_foreground=0.01)
    assert len(kept) == 2 * 5  # the empty x = 0 plane of each volume is skipped


def test_volumes_that_give_different_planes_are_refused():
    with pytest.raises(ValueError, match=r"'s0' and 's1' give planes \(8, 8\) and \(8, 9\) across volume axis 0"):
        SliceDataset(_volumes([8, 9]), axis=0)
    assert len(SliceDataset(_volumes([8, 9]), axis=2)) == 8 + 9  # axial slices need no common depth


@pytest.mark.parametrize("plane", [(48, 10), (240, 48)])  # a thin slab's plane; MRBrainS13's 240x240x48 read out
def test_the_learned_kykz_mask_keeps_the_exact_budget_and_its_centre(plane):
    config = load_config("tiny", overrides={"sampling": {"geometry": "kykz", "acs": 1.0, "rate": 0.1}})
    model = build_model(config, 8, plane)
    assert tuple(model.sampler.param_shape) == plane  # one probability per (ky, kz) pair, not per line
    image = torch.rand(2, 1, *plane)
    out = model(image)  # stage 1: the relaxed mask, and the networks on the plane
    assert out.recon.shape == image.shape and out.seg.shape == (2, 8, *plane)
    out.recon.abs().mean().backward()
    assert bool(model.sampler.logits.grad.abs().sum() > 0)
    model.freeze_mask()
    mask = model.operator.mask.bool()
    assert int(mask.sum()) == budget(0.1, plane[0] * plane[1])  # 1152 of 11520 on the 240x48 plane
    assert mask[centre_disc(plane, 1.0)].all()


def test_poisson_disc_on_a_kykz_plane_and_line_masks_refused():
    overrides = {"train": {"method": "baseline"}, "sampling": {"geometry": "kykz", "mask_kind": "poisson"}}
    model = build_model(load_config("tiny", overrides=overrides), 8, (96, 19))
    assert abs(float(model.operator.mask.mean()) - 0.1) <= 0.005
    overrides["sampling"]["mask_kind"] = "cartesian_random"
    with pytest.raises(ValueError, match="'kykz'.*samples lines"):
        build_model(load_config("tiny", overrides=overrides), 8, (96, 19))
    with pytest.raises(ValueError, match="sampling.readout_axis must be 0, 1 or 2"):
        check_settings(load_config("tiny", overrides={"sampling": {"geometry": "kykz", "readout_axis": 3}}))


@pytest.mark.parametrize("net", [ReconNet(features="tiny"), SegNet(num_classes=3, features="tiny")])
def test_unets_run_on_planes_thinner_than_their_four_poolings(net):
    x = torch.rand(2, 1, 48, 10, requires_grad=True)
    out = net(x)
    assert out.shape[-2:] == (48, 10)
    out.sum().backward()
    assert x.grad is not None and bool(x.grad.abs().sum() > 0)


def test_a_kykz_run_writes_a_mask_that_exports_as_a_3d_sequence_and_infers_on_a_scan(demo_dir, tmp_path):
    """Tiny 1 + 1 epochs with the read-out along the volume's third axis (the tiny demo slab is 10 slices thick,
    under SSIM's 11-pixel window across the other axes); the mask sidecar carries the read-out for export-seq, and
    the run infers on a demo scan."""
    pytest.importorskip("pypulseq")
    from semunet_monai.cli import main

    overrides = {
        "data": {"demo_dir": str(demo_dir)},
        "sampling": {"geometry": "kykz", "readout_axis": 2},
        "train": {"epochs": 1, "finetune_epochs": 1},
    }
    results = train(load_config("tiny", overrides=overrides), tmp_path / "run", progress=False)
    assert 0.0 <= results["mean"]["mean_dice"] <= 1.0
    meta = json.loads((tmp_path / "run" / "mask" / "mask.json").read_text())
    assert meta["geometry"] == "kykz" and meta["n"] == budget(0.1, 48 * 48)
    assert meta["extra"]["readout_axis"] == 2 and meta["extra"]["readout_samples"] == 10
    seq = tmp_path / "kykz.seq"
    assert main(["export-seq", "--mask", str(tmp_path / "run" / "mask"), "--out", str(seq)]) == 0
    played = json.loads(seq.with_suffix(".json").read_text())
    assert played["geometry"] == "kykz" and played["readout"] == 10
    scan = next(demo_dir.glob("TrainingData/*/T1.nii.gz"))  # scan inference cuts it into the planes across axis 2
    assert main(["infer", "--model", str(tmp_path / "run"), "--input", str(scan), "--out", str(tmp_path / "o")]) == 0
    seg = nib.load(str(next((tmp_path / "o").glob("*T1_seg.nii.gz"))))
    assert seg.shape == nib.load(str(scan)).shape and len(np.unique(np.asarray(seg.dataobj))) > 1


def test_the_grid_sizes_its_kykz_cells_from_the_plane(tmp_path):
    """reproduce in kykz mode: the centre-share rows size their disc from the (ky, kz) plane of the demo volumes;
    on user data (plane unknown before loading) they are refused by name; the Poisson row is a grid row."""
    from semunet_monai.grid_rows import ROWS
    from semunet_monai.reproduce.grid import make_cells
    from semunet_monai.reproduce.runner import _mask_shape

    kykz = {"sampling": {"geometry": "kykz", "readout_axis": 0}}
    cells = make_cells([0.1], 1, ["baseline_poisson", "baseline_c50"])
    assert _mask_shape(load_config("tiny", overrides=kykz), cells) == (48, 10)  # demo 48x48x10 read out along x
    assert _mask_shape(load_config("tiny"), cells) == (48, 48)
    mine = load_config("tiny", overrides={**kykz, "data": {"root": str(tmp_path)}})
    with pytest.raises(ValueError, match=r"rows \['baseline_c50'\].*kykz"):
        _mask_shape(mine, cells)
    assert _mask_shape(mine, cells[:1]) == (48, 48)
    overrides = cells[0].overrides((48, 10))
    overrides["sampling"].update(kykz["sampling"])
    poisson = load_config("tiny", overrides=overrides)
    assert poisson.sampling.geometry == "kykz" and poisson.train.method == "baseline"
    model = build_model(poisson, 8, (48, 10))
    assert ROWS["baseline_poisson"].mask_kind == "poisson" and abs(float(model.operator.mask.mean()) - 0.1) <= 0.005


def test_a_network_built_before_the_plane_is_known_gets_a_mask_of_the_plane(demo_dir, tmp_path):
    """A bundle builds network_def before reading the volumes: in kykz its mask is sized to the (ky, kz) plane
    then, keeping the given ReconNet and SegNet; another slice size stays an error for axial slices."""
    overrides = {
        "data": {"demo_dir": str(demo_dir)},
        "sampling": {"geometry": "kykz", "readout_axis": 2},
        "train": {"epochs": 1, "finetune_epochs": 0},
    }
    config = load_config("tiny", overrides=overrides)
    early = build_model(config, 8, (32, 32))
    recon = early.recon
    train(config, tmp_path / "run", model=early, progress=False, test=False)
    state = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert tuple(state["operator.mask"].shape) == (48, 48) and int(state["operator.mask"].sum()) == budget(0.1, 48 * 48)
    assert torch.equal(
        state["recon.unet.conv_0.conv_0.conv.weight"], recon.state_dict()["unet.conv_0.conv_0.conv.weight"]
    )
    axial = load_config("tiny", overrides={**overrides, "sampling": {"geometry": "2d"}})
    with pytest.raises(ValueError, match=r"network_def: the network is built for 32x32 slices, the data has 48x48"):
        train(axial, tmp_path / "run2", model=build_model(axial, 8, (32, 32)), progress=False, test=False)
