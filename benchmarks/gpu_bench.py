"""The GPU rows of the speed benchmark, for benchmarks/gpu_check.sh (not a test).

    python benchmarks/gpu_bench.py --out gpu_check.json [--device cuda] [--quick]

On one device: a paper-size training step (the paper's U-Net widths, 240x240, batch 12) in fp32, bf16 and fp16
(GradScaler), with its peak memory; inference per 240x240x48 volume (BasicUNet default widths) by precision and slices
per batch; and one run of the bundle's inference.json on a generated scan with a freshly initialised model (it checks
the bundle path on the device, not a trained model's quality). ``--device cpu --quick`` is a smoke run of this script.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from speed_options import model_and_parts

from semunet_monai.bundle import BundleNetwork
from semunet_monai.config import load_config
from semunet_monai.engines.checkpoint import save_atomic
from semunet_monai.engines.trainer import LOSS, PhaseForward, SemuNetTrainer
from semunet_monai.precision import resolve_precision

ROOT = Path(__file__).resolve().parent.parent


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_steps(device: torch.device, precision: str, size: int, batch: int, steps: int) -> dict:
    torch.manual_seed(0)
    _, phase, model, opt, loss = model_and_parts(size, batch, "paper", None)
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    trainer = SemuNetTrainer(
        device=device,
        max_epochs=1,
        train_data_loader=[],
        network=PhaseForward(model, phase.input),
        optimizer=opt,
        loss_function=loss,
        phase=phase,
        precision=precision,
    )
    image = torch.rand(batch, 1, size, size, device=device)
    label = torch.randint(0, 8, (batch, 1, size, size), device=device).float()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times, losses = [], []
    for step in range(steps + 2):
        sync(device)
        start = time.perf_counter()
        out = trainer.step(image, label)
        sync(device)
        if step >= 2:
            times.append(time.perf_counter() - start)
        losses.append(float(out[LOSS].detach()))
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    t = statistics.median(times)
    return {
        "seconds_per_step": t,
        "slices_per_s": batch / t,
        "peak_memory_mb": peak,
        "losses_finite": all(np.isfinite(losses)),
    }


def inference(device: torch.device, precision: str, batch: int, slices: int) -> float:
    torch.manual_seed(0)
    _, _, model, _, _ = model_and_parts(240, 1)
    model.freeze_mask()
    net = BundleNetwork(model.eval(), outputs="stacked", precision=precision).to(device)
    volume = torch.rand(slices, 1, 240, 240, device=device)
    with torch.no_grad():
        net(volume[:batch])
        sync(device)
        start = time.perf_counter()
        for i in range(0, slices, batch):
            net(volume[i : i + batch])
        sync(device)
    return (time.perf_counter() - start) * 48 / slices


def bundle_inference(device: torch.device, work: Path) -> dict:
    """inference.json on one generated 96x96x8 scan with an untrained model of the cpu preset."""
    _, _, model, _, _ = model_and_parts(96, 1, "cpu", None)
    model.freeze_mask()
    models = work / "models"
    models.mkdir()
    save_atomic({f"model.{k}": v for k, v in model.state_dict().items()}, models / "model.pt")
    (models / "experiment.json").write_text(json.dumps(load_config("cpu").to_dict()))
    scans = work / "scans"
    scans.mkdir()
    nib.save(
        nib.Nifti1Image(np.random.default_rng(0).random((96, 96, 8)).astype(np.float32), np.eye(4)), scans / "T1.nii.gz"
    )
    cmd = [
        sys.executable, "-m", "monai.bundle", "run", "--config_file", str(ROOT / "bundle/configs/inference.json"),
        "--models_dir", str(models), "--input_dir", str(scans), "--output_dir", str(work / "out"),
        "--device", f"$torch.device('{device}')",
    ]  # fmt: skip
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    seconds = time.perf_counter() - start
    outputs = sorted(p.name for p in (work / "out").glob("*.nii.gz")) if (work / "out").is_dir() else []
    seg = nib.load(work / "out" / "T1_seg.nii.gz").get_fdata() if "T1_seg.nii.gz" in outputs else None
    return {
        "returncode": res.returncode,
        "seconds": seconds,
        "outputs": outputs,
        "seg_shape": list(seg.shape) if seg is not None else None,
        "stderr_tail": res.stderr[-2000:] if res.returncode else "",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu (a smoke run)")
    parser.add_argument("--quick", action="store_true", help="small sizes and few steps")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.stderr.write("gpu_bench: --device cuda but CUDA is not available here\n")
        return 1
    size, batch, steps, slices = (64, 2, 1, 4) if args.quick else (240, 12, 5, 48)
    result: dict = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "training_step_paper_widths": {"size": size, "batch": batch},
        "inference_per_240x240x48_volume_seconds": {},
    }
    precisions = ["fp32", "bf16", "fp16"] if device.type == "cuda" else ["fp32", "bf16"]
    for precision in precisions:
        try:
            resolve_precision(precision, device)
        except ValueError as err:
            result["training_step_paper_widths"][precision] = {"skipped": str(err)}
            continue
        result["training_step_paper_widths"][precision] = train_steps(device, precision, size, batch, steps)
        sys.stderr.write(f"[gpu] train {precision}: {result['training_step_paper_widths'][precision]}\n")
        for b in (8, 48) if not args.quick else (2,):
            t = inference(device, precision, b, slices)
            result["inference_per_240x240x48_volume_seconds"][f"{precision}, batch {b}"] = t
            sys.stderr.write(f"[gpu] inference {precision} batch {b}: {t:.3f} s per volume\n")
    with tempfile.TemporaryDirectory() as tmp:
        result["bundle_inference"] = bundle_inference(device, Path(tmp))
    sys.stderr.write(f"[gpu] bundle inference: {result['bundle_inference']}\n")
    Path(args.out).write_text(json.dumps(result, indent=2))
    return 0 if result["bundle_inference"]["returncode"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
