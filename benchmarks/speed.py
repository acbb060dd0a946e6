"""Speed and memory benchmarks (not a test; a few minutes on 2 cores). Writes JSON and a markdown table.

    python benchmarks/speed.py --out benchmarks/results

Measures, in one run on one machine: the machine's fp32 matmul GFLOP/s (the roof); training throughput of the
project's engine (SemuNetTrainer) against a bare PyTorch loop with the same model, batch and data; inference latency
per 240x240x48 volume, eager and TorchScript (traced), and the achieved GFLOP/s; data pipeline throughput from the
slice cache against what training consumes; peak RSS of training at batch 12 and of inference (each in a fresh
subprocess); and the training step time at 128, 192, 240 and 320.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from ignite.engine import Events
from torch.utils.flop_counter import FlopCounterMode

from semunet_monai.config import load_config
from semunet_monai.data.dataset import make_slice_dataset, volume_transforms
from semunet_monai.data.demo import write_demo_dataset
from semunet_monai.data.layouts import discover
from semunet_monai.engines.builders import build_model, build_optimizer, set_trainable
from semunet_monai.engines.methods import method_phases
from semunet_monai.engines.trainer import PhaseForward, SemuNetTrainer
from semunet_monai.losses import JointLoss

FEATURES = "monai"  # BasicUNet's default widths (32, 32, 64, 128, 256, 32); the paper's widths are 16x the FLOPs


def log(msg: str) -> None:
    sys.stderr.write(f"[speed] {msg}\n")
    sys.stderr.flush()


def matmul_roof(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def demo_slices(root: Path, size: int, subjects: int = 2):
    data = root / f"demo_{size}"
    if not data.exists():
        write_demo_dataset(data, subjects=subjects, seed=0, shape=(size, size, max(8, round(48 * size / 240))))
    return make_slice_dataset(discover(data), volume_transforms("paper7", spatial_size=size))


def model_and_parts(size: int, batch: int):
    config = load_config("tiny", overrides={"model": {"features": FEATURES}, "train": {"batch_size": batch}})
    phase = method_phases("semunet")[0]
    model = build_model(config, 8, (size, size))
    set_trainable(model, phase)
    return config, phase, model, build_optimizer(model, phase, config), JointLoss(lam=0.1)


def bare_loop(loader, model, optimizer, loss_fn, steps: int) -> float:
    model.train()
    seen, start, it = 0, None, iter(loader)
    for step in range(steps + 1):
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        if step == 1:
            start = time.perf_counter()  # the first step warms up
        out = model(batch["image"])
        loss = loss_fn(out.recon, batch["image"], out.seg, batch["label"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += batch["image"].shape[0] if step >= 1 else 0
    return seen / (time.perf_counter() - start)


def engine_loop(loader, model, optimizer, loss_fn, phase, steps: int) -> float:
    trainer = SemuNetTrainer(
        device=torch.device("cpu"),
        max_epochs=1,
        epoch_length=steps + 1,
        train_data_loader=loader,
        network=PhaseForward(model, phase.input),
        optimizer=optimizer,
        loss_function=loss_fn,
        phase=phase,
        lam=0.1,
    )
    marks = {}

    @trainer.on(Events.ITERATION_COMPLETED)
    def _mark(engine):
        if engine.state.iteration == 1:
            marks["start"] = time.perf_counter()

    trainer.run()
    return steps * loader.batch_size / (time.perf_counter() - marks["start"])


def train_throughput(root: Path, size: int, batch: int, steps: int, rounds: int) -> dict:
    ds = demo_slices(root, size)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, drop_last=True)
    bare, engine = [], []
    for _ in range(rounds):  # alternate, so that drift hits both
        torch.manual_seed(0)
        _, phase, model, opt, loss = model_and_parts(size, batch)
        bare.append(bare_loop(loader, model, opt, loss, steps))
        torch.manual_seed(0)
        _, phase, model, opt, loss = model_and_parts(size, batch)
        engine.append(engine_loop(loader, model, opt, loss, phase, steps))
        log(f"train {size}px batch {batch}: bare {bare[-1]:.2f} slices/s, engine {engine[-1]:.2f} slices/s")
    b, e = statistics.median(bare), statistics.median(engine)
    return {
        "size": size,
        "batch": batch,
        "steps": steps,
        "rounds": rounds,
        "bare_slices_per_s": b,
        "engine_slices_per_s": e,
        "ratio": e / b,
        "bare_all": bare,
        "engine_all": engine,
    }


def data_throughput(root: Path, size: int, batch: int) -> float:
    ds = demo_slices(root, size)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True)
    start, seen = time.perf_counter(), 0
    for _ in range(5):
        for b in loader:
            seen += b["image"].shape[0]
    return seen / (time.perf_counter() - start)


def inference_latency(root: Path, roof: float) -> dict:
    from semunet_monai.bundle import BundleNetwork

    torch.manual_seed(0)
    _, _, model, _, _ = model_and_parts(240, 1)
    model.freeze_mask()
    net = BundleNetwork(model.eval(), outputs="stacked")
    volume = torch.rand(48, 1, 240, 240)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(volume[:1])
    flops_per_slice = counter.get_total_flops()
    traced = torch.jit.trace(net, volume[:1], check_trace=False)
    out = {"flops_per_slice_g": flops_per_slice / 1e9}
    for name, fn in (("eager", net), ("torchscript", traced)):
        with torch.no_grad():
            fn(volume[:8])  # warm-up
            times = []
            for _ in range(2):
                start = time.perf_counter()
                for i in range(0, 48, 8):
                    fn(volume[i : i + 8])
                times.append(time.perf_counter() - start)
        best = min(times)
        out[name] = {
            "seconds_per_volume": best,
            "gflops": 48 * flops_per_slice / best / 1e9,
            "fraction_of_roof": 48 * flops_per_slice / best / 1e9 / roof,
        }
        log(f"inference {name}: {best:.2f} s per 240x240x48 volume")
    return out


def step_times(root: Path, sizes: list[int], batch: int) -> dict:
    out = {}
    for size in sizes:
        torch.manual_seed(0)
        _, _, model, opt, loss = model_and_parts(size, batch)
        image = torch.rand(batch, 1, size, size)
        label = torch.randint(0, 8, (batch, 1, size, size))
        times = []
        for step in range(3):
            start = time.perf_counter()
            o = model.train()(image)
            l_ = loss(o.recon, image, o.seg, label)
            opt.zero_grad(set_to_none=True)
            l_.backward()
            opt.step()
            if step:
                times.append(time.perf_counter() - start)
        out[size] = min(times)
        log(f"step {size}px batch {batch}: {out[size]:.2f} s")
    return out


def peak_rss_mb(kind: str) -> float:
    """Peak RSS of a fresh subprocess that runs two training steps at batch 12 (240px) or one volume's inference."""
    code = f"""
import resource, torch, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from speed import model_and_parts
from semunet_monai.bundle import BundleNetwork
torch.manual_seed(0)
if {kind!r} == "train":
    _, _, model, opt, loss = model_and_parts(240, 12)
    image = torch.rand(12, 1, 240, 240); label = torch.randint(0, 8, (12, 1, 240, 240))
    for _ in range(2):
        o = model.train()(image); l = loss(o.recon, image, o.seg, label)
        opt.zero_grad(); l.backward(); opt.step()
else:
    _, _, model, _, _ = model_and_parts(240, 1); model.freeze_mask()
    net = BundleNetwork(model.eval(), outputs="stacked")
    with torch.no_grad():
        for i in range(0, 48, 8):
            net(torch.rand(8, 1, 240, 240))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(res.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results", help="output folder for speed.json and speed.md")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke run of this script)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    steps, rounds = (3, 1) if args.quick else (12, 3)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        roof = matmul_roof()
        log(f"fp32 matmul roof: {roof:.1f} GFLOP/s")
        train = train_throughput(root, 128, 8, steps, rounds)
        data = data_throughput(root, 128, 8)
        infer = inference_latency(root, roof)
        sizes = step_times(root, [128, 192] if args.quick else [128, 192, 240, 320], 4)
    rss = {"train_batch12_240px_mb": peak_rss_mb("train"), "inference_volume_mb": peak_rss_mb("infer")}
    result = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "threads": args.threads,
            "torch": torch.__version__,
        },
        "features": FEATURES,
        "matmul_roof_gflops": roof,
        "training": train,
        "data_pipeline_slices_per_s": data,
        "data_vs_training_consumption": data / train["engine_slices_per_s"],
        "inference": infer,
        "step_seconds_batch4": sizes,
        "peak_rss": rss,
        "wall_seconds": time.perf_counter() - t0,
    }
    (out_dir / "speed.json").write_text(json.dumps(result, indent=2))
    eager, script = infer["eager"], infer["torchscript"]
    consumption = data / train["engine_slices_per_s"]
    rows = [
        ("fp32 matmul roof (2048^3)", f"{roof:.1f} GFLOP/s"),
        ("training, bare PyTorch loop (128px, batch 8)", f"{train['bare_slices_per_s']:.2f} slices/s"),
        ("training, SemuNetTrainer (same model, batch, data)", f"{train['engine_slices_per_s']:.2f} slices/s"),
        ("engine / bare", f"{train['ratio']:.3f} (goal >= 0.95)"),
        ("data pipeline from cache (128px)", f"{data:.0f} slices/s ({consumption:.0f}x what training consumes)"),
        (
            "inference per 240x240x48 volume, eager",
            f"{eager['seconds_per_volume']:.2f} s, {eager['gflops']:.1f} GFLOP/s "
            f"({100 * eager['fraction_of_roof']:.0f}% of roof)",
        ),
        (
            "inference per volume, TorchScript (traced)",
            f"{script['seconds_per_volume']:.2f} s, {script['gflops']:.1f} GFLOP/s "
            f"({100 * script['fraction_of_roof']:.0f}% of roof)",
        ),
        ("FLOPs per slice (recon + seg U-Nets, FFTs not counted)", f"{infer['flops_per_slice_g']:.1f} GFLOP"),
        ("peak RSS, training at batch 12 (240px)", f"{rss['train_batch12_240px_mb']:.0f} MB"),
        ("peak RSS, inference of one volume", f"{rss['inference_volume_mb']:.0f} MB"),
    ] + [(f"training step, {s}px, batch 4", f"{t:.2f} s") for s, t in sizes.items()]
    table = "| measure | value |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows) + "\n"
    header = (
        f"Speed on {platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}, "
        f"U-Net widths `{FEATURES}`; wall time {result['wall_seconds']:.0f} s.\n\n"
    )
    (out_dir / "speed.md").write_text(header + table)
    sys.stdout.write(header + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
