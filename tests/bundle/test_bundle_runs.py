"""The bundle as users run it: `python -m monai.bundle ...` in subprocesses, on a copy of bundle/."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO.parent / "shared" / "monai-bundle-schema" / "meta_schema_20240725.json"
# inference.json with the override file training writes beside the model (the trained network's settings)
INFER = "['configs/inference.json','models/inference_override.json']"


def _bundle_copy(root: Path) -> Path:
    shutil.copytree(
        REPO / "bundle",
        root / "bundle",
        ignore=shutil.ignore_patterns(
            "runs", "eval", "*.pt", "*.npy", "mask*", "experiment.json", "geometry.json", "inference_override.json"
        ),
    )
    return root / "bundle"


def _run(args, cwd, env_extra=None, timeout=600, expect_ok=True):
    env = {**os.environ, "OMP_NUM_THREADS": "2", **(env_extra or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "monai.bundle", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if expect_ok:
        assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


@pytest.fixture(scope="module")
def trained_bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle_run")
    bundle = _bundle_copy(root)
    cache = root / "cache"
    # from the repository root: bundle_root resolves to ./bundle
    _run(
        ["run", "training", "--config_file", "bundle/configs/train.json", "--preset", "tiny"],
        cwd=root,
        env_extra={"SEMUNET_MONAI_CACHE": str(cache)},
    )
    return bundle, cache


def test_training_writes_the_model_mask_and_experiment(trained_bundle):
    bundle, _ = trained_bundle
    models = bundle / "models"
    published = ("model.pt", "experiment.json", "inference_override.json", "mask.npy", "mask.nii.gz", "mask.png")
    for name in (*published, "mask.json"):
        assert (models / name).is_file(), name
    state = torch.load(models / "model.pt", weights_only=True)
    assert all(k.startswith("model.") for k in state)
    mask = np.load(models / "mask.npy")
    assert torch.equal(state["model.operator.mask"].bool(), torch.from_numpy(mask))
    assert int(mask.sum()) == round(0.1 * mask.size)
    assert json.loads((models / "experiment.json").read_text())["train"]["method"] == "semunet"


def test_inference_on_new_scans_keeps_shape_and_affine(trained_bundle, tmp_path):
    bundle, cache = trained_bundle
    source = next(cache.glob("demo_*/TrainingData/2/T1.nii.gz"))
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copyfile(source, inputs / "$scan.nii.gz")  # a literal name: must not be evaluated
    # from inside bundle/: bundle_root resolves to "."
    _run(
        [
            "run",
            "--config_file",
            INFER,
            "--input_dir",
            str(inputs),
            "--output_dir",
            str(tmp_path / "out"),
        ],
        cwd=bundle,
    )
    ref = nib.load(str(inputs / "$scan.nii.gz"))
    seg = nib.load(str(tmp_path / "out" / "$scan_seg.nii.gz"))
    recon = nib.load(str(tmp_path / "out" / "$scan_recon.nii.gz"))
    for out in (seg, recon):
        assert out.shape == ref.shape
        np.testing.assert_allclose(out.affine, ref.affine, atol=1e-4)
    labels = np.asarray(seg.dataobj)
    assert labels.dtype == np.uint8 and set(np.unique(labels)) <= set(range(8)) and len(np.unique(labels)) > 1
    assert sorted(p.name for p in inputs.iterdir()) == ["$scan.nii.gz"]  # the input folder is untouched


def test_inference_precision_setting_reaches_the_network(trained_bundle, tmp_path):
    """inference.json's precision: bf16 and fp32 outputs differ (the setting is used) but agree."""
    from semunet_monai.precision import cpu_has_bf16

    if not cpu_has_bf16():
        pytest.skip("no native bf16 on this CPU")
    bundle, cache = trained_bundle
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copyfile(next(cache.glob("demo_*/TrainingData/2/T1.nii.gz")), inputs / "T1.nii.gz")
    out = {}
    for precision in ("fp32", "bf16"):
        args = ["--input_dir", str(inputs), "--output_dir", str(tmp_path / precision), "--precision", precision]
        _run(["run", "--config_file", INFER, *args], cwd=bundle)
        out[precision] = [
            np.asarray(nib.load(str(tmp_path / precision / f"T1_{k}.nii.gz")).dataobj) for k in ("seg", "recon")
        ]
    (seg32, recon32), (seg16, recon16) = out["fp32"], out["bf16"]
    assert not np.array_equal(recon32, recon16)
    diff = np.abs(recon32 - recon16)  # in the scan's units now: compare robust statistics, not single voxels
    assert np.percentile(diff, 99) < 0.05 * np.percentile(np.abs(recon32), 99)
    assert diff.mean() < 0.03 * np.abs(recon32).mean()
    assert (seg32 == seg16).mean() > 0.9  # a 1 + 1 epoch tiny model: many near-tied logits (measured 0.95)


def test_torchscript_export_matches_the_network(trained_bundle, tmp_path):
    from semunet_monai.bundle import load_bundle_network

    bundle, _ = trained_bundle
    _run(
        [
            "ckpt_export",
            "--net_id",
            "network_def",
            "--filepath",
            str(tmp_path / "model.ts"),
            "--ckpt_file",
            "models/model.pt",
            "--meta_file",
            "configs/metadata.json",
            "--config_file",
            INFER,
            "--use_trace",
            "True",
            "--input_shape",
            "[1, 1, 48, 48]",
        ],
        cwd=bundle,
    )
    scripted = torch.jit.load(str(tmp_path / "model.ts"))
    network = load_bundle_network(bundle / "models", weights=True)
    x = torch.rand(2, 1, 48, 48)
    assert torch.allclose(scripted(x), network(x), atol=1e-5)


def test_verify_net_in_out_on_an_untrained_bundle(tmp_path):
    bundle = _bundle_copy(tmp_path)
    _run(
        [
            "verify_net_in_out",
            "network_def",
            "--meta_file",
            "configs/metadata.json",
            "--config_file",
            "configs/inference.json",
        ],
        cwd=bundle,
    )


def test_verify_net_in_out_for_the_reconstruction_output(tmp_path):
    """The second output, described by metadata's recon_network_data_format: the same network_def with
    outputs='recon', checked by MONAI's verify_net_in_out against that format."""
    bundle = _bundle_copy(tmp_path)
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    meta["network_data_format"] = meta["recon_network_data_format"]
    (bundle / "configs" / "recon_metadata.json").write_text(json.dumps(meta))
    args = ["verify_net_in_out", "network_def", "--meta_file", "configs/recon_metadata.json"]
    _run([*args, "--config_file", "configs/inference.json", "--network_def#outputs", "recon"], cwd=bundle)
    bad = ["--config_file", "configs/inference.json", "--network_def#outputs", "seg"]  # 8 channels, not 1
    assert _run([*args, *bad], cwd=bundle, expect_ok=False).returncode != 0


def test_verify_metadata_against_the_model_zoo_schema():
    if not SCHEMA.is_file():
        pytest.skip(f"schema not found at {SCHEMA} (it ships in ../shared beside the repository)")
    pytest.importorskip("jsonschema")
    _run(["verify_metadata", "--meta_file", "bundle/configs/metadata.json", "--filepath", str(SCHEMA)], cwd=REPO)


def test_metadata_changelog_holds_the_current_version():
    meta = json.loads((REPO / "bundle" / "configs" / "metadata.json").read_text())
    assert meta["version"] in meta["changelog"]


def test_evaluate_writes_per_subject_and_mean_tables(trained_bundle):
    bundle, cache = trained_bundle
    _run(
        [
            "run",
            "evaluating",
            "--config_file",
            "['bundle/configs/train.json','bundle/configs/evaluate.json']",
            "--preset",
            "tiny",
        ],
        cwd=bundle.parent,
        env_extra={"SEMUNET_MONAI_CACHE": str(cache)},
    )
    result = json.loads((bundle / "eval" / "metrics.json").read_text())
    assert result["subjects"] == sorted(result["per_subject"]) and len(result["subjects"]) == 1
    for key in ("psnr", "ssim", "mean_dice"):
        assert np.isfinite(result["mean"][key])
    rows = (bundle / "eval" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("subject,psnr,ssim,mean_dice") and rows[-1].startswith("mean,")


def test_inference_on_acquired_kspace_and_refusal_of_another_mask(trained_bundle, tmp_path):
    from semunet_monai.kspace import fft2c

    bundle, cache = trained_bundle
    mask = np.load(bundle / "models" / "mask.npy")
    volume = np.asarray(nib.load(str(next(cache.glob("demo_*/TrainingData/2/T1.nii.gz")))).dataobj, np.float32)
    slices = torch.from_numpy(volume).permute(2, 0, 1).contiguous()
    kspace = (fft2c(torch.complex(slices, torch.zeros_like(slices))).numpy() * mask).astype(np.complex64)
    (tmp_path / "in").mkdir()
    np.save(tmp_path / "in" / "acq.npy", kspace)
    _run(
        [
            "run",
            "--config_file",
            INFER,
            "--input_dir",
            str(tmp_path / "in"),
            "--output_dir",
            str(tmp_path / "out"),
        ],
        cwd=bundle,
    )
    seg = nib.load(str(tmp_path / "out" / "acq_seg.nii.gz"))
    assert seg.shape == (*mask.shape, volume.shape[2]) and len(np.unique(np.asarray(seg.dataobj))) > 1
    shifted = np.roll(kspace, 1, axis=-1)  # sampled with another pattern
    np.save(tmp_path / "in" / "acq.npy", shifted)
    args = ["run", "--config_file", INFER, "--input_dir", str(tmp_path / "in"), "--output_dir"]
    proc = _run([*args, str(tmp_path / "out2")], cwd=bundle, expect_ok=False)
    assert proc.returncode != 0 and "was not sampled with the learned mask" in proc.stderr + proc.stdout
    assert not (tmp_path / "out2" / "acq_seg.nii.gz").exists()

    # fully sampled multi-coil raw data in the fastMRI HDF5 layout, undersampled by the bundle (--retrospective)
    import h5py

    from semunet_monai.physics import birdcage_maps

    maps = birdcage_maps(mask.shape, 4)
    coils = fft2c(maps[None] * torch.complex(slices, torch.zeros_like(slices))[:, None]).numpy().astype(np.complex64)
    (tmp_path / "raw").mkdir()
    with h5py.File(tmp_path / "raw" / "scan.h5", "w") as f:
        f.create_dataset("kspace", data=coils)
    raw = ["run", "--config_file", INFER, "--input_dir", str(tmp_path / "raw"), "--output_dir"]
    _run([*raw, str(tmp_path / "out3"), "--retrospective", "true"], cwd=bundle)
    seg3 = np.asarray(nib.load(str(tmp_path / "out3" / "scan_seg.nii.gz")).dataobj)
    agree = float((seg3 == np.asarray(seg.dataobj)).mean())
    assert seg3.shape == seg.shape and agree > 0.85  # root-sum-of-squares input: mostly the single-coil labels (0.90)


def test_two_process_gloo_ddp_training(tmp_path):
    bundle = _bundle_copy(tmp_path)
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SEMUNET_MONAI_CACHE": str(tmp_path / "cache")}
    cmd = [
        str(torchrun),
        "--standalone",
        "--nnodes=1",
        "--nproc_per_node=2",
        "-m",
        "monai.bundle",
        "run",
        "training",
        "--config_file",
        "['bundle/configs/train.json','bundle/configs/multi_gpu_train.json']",
        "--preset",
        "tiny",
        "--epochs",
        "2",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    # both ranks checked that they end with bit-identical weights
    assert (
        "rank 0 of 2: replicas hold identical weights" in log and "rank 1 of 2: replicas hold identical weights" in log
    )
    assert (bundle / "models" / "model.pt").is_file()
    run = next((bundle / "runs").iterdir())
    assert not [p for p in run.rglob(".*") if p.is_file()]  # no temporary file left behind
    assert len(list((run / "tb").iterdir())) == 1  # one TensorBoard writer: rank 0's
    rows = json.loads((run / "metrics.json").read_text())
    assert [r["epoch"] for r in rows if r["phase"] == "joint"] == [1, 2]  # one table row per epoch, not per rank
