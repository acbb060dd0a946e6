"""Speed and memory benchmarks (not a test; a few minutes on 2 cores). Writes JSON and a markdown table.

    python benchmarks/speed.py --out benchmarks/results

Measures, in one run on one machine (speed_options.py holds the side-by-side comparisons): the fp32 and bf16
matmul GFLOP/s (the roofs); training throughput at the cpu preset in fp32, bf16 and bf16 with each hot-path option
(channels_last, fused Adam, data loader workers); the engine (SemuNetTrainer) against a bare PyTorch loop at each
precision; inference per 240x240x48 volume by precision, slices per batch, channels_last and torch.compile, against
its FLOP floor at the fp32 roof; data pipeline throughput from the slice cache against what training consumes; the
SampNet draw's cost; peak RSS of training at batch 12 and of inference (each in a fresh subprocess); and the
training step time at 128 and 240 px in fp32 and bf16.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from speed_options import (
    demo_slices,
    engine_vs_bare,
    inference_variants,
    log,
    matmul_roof,
    model_and_parts,
    sampnet_share,
    train_variants,
)

from semunet_monai.precision import autocast

FEATURES = "monai"  # BasicUNet's default widths (32, 32, 64, 128, 256, 32); the paper's widths are 16x the FLOPs


def data_throughput(root: Path, size: int, batch: int) -> float:
    ds = demo_slices(root, size)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True)
    start, seen = time.perf_counter(), 0
    for _ in range(5):
        for b in loader:
            seen += b["image"].shape[0]
    return seen / (time.perf_counter() - start)


def step_times(sizes: list[int], batch: int) -> dict:
    """Seconds of one training step (BasicUNet default widths) per slice size, fp32 and bf16 (the best of 2 steps)."""
    out: dict[str, dict[int, float]] = {"fp32": {}, "bf16": {}}
    for size in sizes:
        for precision in out:
            torch.manual_seed(0)
            _, _, model, opt, loss = model_and_parts(size, batch)
            image = torch.rand(batch, 1, size, size)
            label = torch.randint(0, 8, (batch, 1, size, size))
            times = []
            for step in range(3):
                start = time.perf_counter()
                with autocast("cpu", precision):
                    o = model.train()(image)
                l_ = loss(o.recon.float(), image, o.seg.float(), label)
                opt.zero_grad(set_to_none=True)
                l_.backward()
                opt.step()
                if step:
                    times.append(time.perf_counter() - start)
            out[precision][size] = min(times)
            log(f"step {size}px batch {batch} {precision}: {out[precision][size]:.2f} s")
    return out


def peak_rss_mb(kind: str, precision: str = "fp32") -> float:
    """Peak RSS of a fresh subprocess that runs two training steps at batch 12 (240px) or one volume's inference
    (batches of 2 slices)."""
    code = f"""
import resource, torch, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from speed_options import model_and_parts
from semunet_monai.bundle import BundleNetwork
from semunet_monai.precision import autocast
torch.manual_seed(0)
if {kind!r} == "train":
    _, _, model, opt, loss = model_and_parts(240, 12)
    image = torch.rand(12, 1, 240, 240); label = torch.randint(0, 8, (12, 1, 240, 240))
    for _ in range(2):
        with autocast("cpu", {precision!r}):
            o = model.train()(image)
        l = loss(o.recon.float(), image, o.seg.float(), label)
        opt.zero_grad(); l.backward(); opt.step()
else:
    _, _, model, _, _ = model_and_parts(240, 1); model.freeze_mask()
    net = BundleNetwork(model.eval(), outputs="stacked", precision={precision!r})
    with torch.no_grad():
        for i in range(0, 48, 2):
            net(torch.rand(2, 1, 240, 240))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(res.stdout.strip().splitlines()[-1])


def table(result: dict) -> str:
    roof, roof16 = result["matmul_roof_gflops"], result["matmul_roof_bf16_gflops"]
    rows = [
        ("fp32 matmul roof (2048^3)", f"{roof:.1f} GFLOP/s"),
        ("bf16 matmul roof (2048^3)", f"{roof16:.1f} GFLOP/s ({roof16 / roof:.2f}x fp32)"),
    ]
    for name, v in result["training_cpu_preset"].items():
        rows.append(
            (
                f"training, cpu preset (96px, batch 8), {name}",
                f"{v['slices_per_s']:.1f} slices/s ({v['vs_fp32']:.2f}x fp32, {v['vs_bf16']:.2f}x bf16)",
            )
        )
    for precision, v in result["engine_vs_bare"].items():
        rows.append(
            (
                f"engine / bare PyTorch loop, {precision} (128px, batch 8)",
                f"{v['ratio']:.3f} ({v['engine_slices_per_s']:.2f} / {v['bare_slices_per_s']:.2f} slices/s; "
                "goal >= 0.95)",
            )
        )
    infer = result["inference"]
    rows.append(("FLOPs per slice (recon + seg U-Nets, FFTs not counted)", f"{infer['flops_per_slice_g']:.1f} GFLOP"))
    rows.append(("FLOP floor per 240x240x48 volume at the fp32 roof", f"{infer['floor_seconds_at_fp32_roof']:.2f} s"))
    for name, v in infer["variants"].items():
        extra = f"; compiling took {v['compile_seconds']:.0f} s" if "compile_seconds" in v else ""
        rows.append(
            (
                f"inference per volume, {name}",
                f"{v['seconds_per_volume']:.2f} s ({v['vs_floor']:.2f}x the floor, "
                f"{100 * v['fraction_of_fp32_roof']:.0f}% of the fp32 roof{extra})",
            )
        )
    data = result["data_pipeline_slices_per_s"]
    rows.append(
        (
            "data pipeline from cache (128px)",
            f"{data:.0f} slices/s ({result['data_vs_training_consumption']:.0f}x "
            "what bf16 training at the cpu preset consumes)",
        )
    )
    share = result["sampnet"]["seconds_per_draw"]
    rows.append(("SampNet mask draw, forward + backward (96px, batch 8)", f"{1000 * share:.2f} ms"))
    for key, label in (
        ("train_batch12_240px_fp32_mb", "peak RSS, training at batch 12 (240px), fp32"),
        ("train_batch12_240px_bf16_mb", "peak RSS, training at batch 12 (240px), bf16"),
        ("inference_volume_fp32_mb", "peak RSS, inference of one volume, fp32"),
        ("inference_volume_bf16_mb", "peak RSS, inference of one volume, bf16"),
    ):
        rows.append((label, f"{result['peak_rss'][key]:.0f} MB"))
    for precision, sizes in result["step_seconds_batch4"].items():
        for size, t in sizes.items():
            rows.append((f"training step, {size}px, batch 4, {precision}", f"{t:.2f} s"))
    return "| measure | value |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results", help="output folder for speed.json and speed.md")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--quick", action="store_true", help="fewer steps and rounds (a smoke run of this script)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    steps, rounds = (2, 1) if args.quick else (12, 3)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(root / "inductor")  # a cold cache: the compile time a user sees
        roof, roof16 = matmul_roof(torch.float32), matmul_roof(torch.bfloat16)
        log(f"matmul roof: fp32 {roof:.1f}, bf16 {roof16:.1f} GFLOP/s")
        train = train_variants(root, steps, rounds)
        bare = engine_vs_bare(root, steps, rounds)
        data = data_throughput(root, 128, 8)
        infer = inference_variants(roof, rounds)
        sizes = step_times([128] if args.quick else [128, 240], 4)
    rss = {
        f"{kind}_{precision}_mb": peak_rss_mb(k, precision)
        for kind, k in (("train_batch12_240px", "train"), ("inference_volume", "infer"))
        for precision in ("fp32", "bf16")
    }
    result = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "threads": args.threads,
            "torch": torch.__version__,
        },
        "features": FEATURES,
        "matmul_roof_gflops": roof,
        "matmul_roof_bf16_gflops": roof16,
        "training_cpu_preset": train,
        "engine_vs_bare": bare,
        "data_pipeline_slices_per_s": data,
        "data_vs_training_consumption": data / train["bf16"]["slices_per_s"],
        "inference": infer,
        "sampnet": sampnet_share(),
        "step_seconds_batch4": sizes,
        "peak_rss": rss,
        "wall_seconds": time.perf_counter() - t0,
    }
    (out_dir / "speed.json").write_text(json.dumps(result, indent=2))
    header = (
        f"Speed on {platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}; "
        f"training rows at the cpu preset, engine/bare and inference rows at U-Net widths `{FEATURES}`; medians of "
        f"{rounds} alternating rounds; wall time {result['wall_seconds']:.0f} s.\n\n"
    )
    text = header + table(result)
    (out_dir / "speed.md").write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
