"""Side-by-side measurements of each precision and hot-path option (imported by speed.py; not a test).

Every comparison alternates its variants round by round, so that drift of the machine hits all of them, and reports
the median of the rounds. An option is worth keeping when its median beats the baseline of the same run by >= 5 %.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
from ignite.engine import Events
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

from semunet_monai.bundle import BundleNetwork
from semunet_monai.config import load_config
from semunet_monai.data.dataset import make_slice_dataset, volume_transforms
from semunet_monai.data.demo import write_demo_dataset
from semunet_monai.data.layouts import discover
from semunet_monai.engines.builders import build_model, build_optimizer, set_trainable
from semunet_monai.engines.methods import method_phases
from semunet_monai.engines.trainer import PhaseForward, SemuNetTrainer
from semunet_monai.losses import JointLoss
from semunet_monai.networks import unets
from semunet_monai.precision import autocast

_pad_only_where_needed = unets._pad_only_where_needed


def _always_pad(unet, spatial) -> None:
    """MONAI's UpCat behaviour: the replicate pad on every call."""
    for up in (unet.upcat_4, unet.upcat_3, unet.upcat_2, unet.upcat_1):
        up.is_pad = True


# a training variant: precision plus options. Kept in the library: skipping UpCat's zero-width pad and a LeakyReLU
# that is not in place (the "MONAI's ..." variants put MONAI's defaults back); measured only: channels_last memory
# layout, fused Adam, torch.compile, data loader workers.
TRAIN_VARIANTS = {
    "fp32": {"precision": "fp32"},
    "bf16": {"precision": "bf16"},
    "fp32, MONAI's UpCat pad and in-place LeakyReLU (before)": {
        "precision": "fp32",
        "upcat_pad": True,
        "inplace": True,
    },
    "bf16, MONAI's UpCat pad": {"precision": "bf16", "upcat_pad": True},
    "bf16, MONAI's in-place LeakyReLU": {"precision": "bf16", "inplace": True},
    "bf16 + channels_last": {"precision": "bf16", "channels_last": True},
    "bf16 + fused Adam": {"precision": "bf16", "fused": True},
    "bf16 + torch.compile": {"precision": "bf16", "compile": True},
    "bf16 + 2 loader workers": {"precision": "bf16", "workers": 2},
}


def log(msg: str) -> None:
    sys.stderr.write(f"[speed] {msg}\n")
    sys.stderr.flush()


def matmul_roof(dtype: torch.dtype = torch.float32, n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
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


def model_and_parts(size: int, batch: int, preset: str = "tiny", features: str | None = "monai", fused: bool = False):
    """A SemuNet stage-1 model of ``preset`` (widths ``features``) with its optimiser and loss."""
    overrides = {"train": {"batch_size": batch}, **({"model": {"features": features}} if features else {})}
    config = load_config(preset, overrides=overrides)
    phase = method_phases("semunet")[0]
    model = build_model(config, 8, (size, size))
    set_trainable(model, phase)
    optimizer = build_optimizer(model, phase, config)
    if fused:
        optimizer = torch.optim.Adam(optimizer.param_groups, fused=True)
    return config, phase, model, optimizer, JointLoss(lam=0.1)


def engine_run(loader, model, optimizer, loss_fn, phase, steps: int, precision: str, compiled: bool = False) -> float:
    """Slices per second of SemuNetTrainer over ``steps`` iterations after one warm-up iteration."""
    forward = PhaseForward(model, phase.input)
    trainer = SemuNetTrainer(
        device=torch.device("cpu"),
        max_epochs=1,
        epoch_length=steps + 1,
        train_data_loader=loader,
        network=torch.compile(forward) if compiled else forward,
        optimizer=optimizer,
        loss_function=loss_fn,
        phase=phase,
        precision=precision,
    )
    marks = {}

    @trainer.on(Events.ITERATION_COMPLETED)
    def _mark(engine):
        if engine.state.iteration == 1:
            marks["start"] = time.perf_counter()

    trainer.run()
    return steps * loader.batch_size / (time.perf_counter() - marks["start"])


def bare_run(loader, model, optimizer, loss_fn, steps: int, precision: str) -> float:
    """The same as :func:`engine_run` in a plain PyTorch loop."""
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
        with autocast("cpu", precision):
            out = model(batch["image"])
        loss = loss_fn(out.recon.float(), batch["image"], out.seg.float(), batch["label"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += batch["image"].shape[0] if step >= 1 else 0
    return seen / (time.perf_counter() - start)


def train_variants(root: Path, steps: int, rounds: int) -> dict:
    """Training throughput at the cpu preset (96x96 slices, small U-Nets, batch 8) for every TRAIN_VARIANTS entry."""
    size, batch = 96, 8
    ds = demo_slices(root, size)
    results: dict[str, list[float]] = {name: [] for name in TRAIN_VARIANTS}
    for r in range(rounds):
        for name, v in TRAIN_VARIANTS.items():
            torch.manual_seed(0)
            _, phase, model, opt, loss = model_and_parts(size, batch, "cpu", None, v.get("fused", False))
            if v.get("channels_last"):
                model = model.to(memory_format=torch.channels_last)
            for m in model.modules():
                if isinstance(m, torch.nn.LeakyReLU):
                    m.inplace = bool(v.get("inplace"))
            workers = v.get("workers", 0)
            loader = DataLoader(ds, batch_size=batch, shuffle=True, drop_last=True, num_workers=workers)
            unets._pad_only_where_needed = _always_pad if v.get("upcat_pad") else _pad_only_where_needed
            try:
                speed = engine_run(loader, model, opt, loss, phase, steps, v["precision"], v.get("compile", False))
            finally:
                unets._pad_only_where_needed = _pad_only_where_needed
            results[name].append(speed)
            log(f"round {r + 1}/{rounds} train cpu preset, {name}: {results[name][-1]:.2f} slices/s")
    base = statistics.median(results["fp32"])
    bf16 = statistics.median(results["bf16"])
    return {
        name: {
            "slices_per_s": statistics.median(v),
            "vs_fp32": statistics.median(v) / base,
            "vs_bf16": statistics.median(v) / bf16,
            "all": v,
        }
        for name, v in results.items()
    }


def engine_vs_bare(root: Path, steps: int, rounds: int) -> dict:
    """The engine against a bare loop, at 128px, batch 8, BasicUNet default widths, in fp32 and bf16."""
    ds = demo_slices(root, 128)
    loader = DataLoader(ds, batch_size=8, shuffle=True, drop_last=True)
    out = {}
    for precision in ("fp32", "bf16"):
        bare, engine = [], []
        for _ in range(rounds):
            torch.manual_seed(0)
            _, phase, model, opt, loss = model_and_parts(128, 8)
            bare.append(bare_run(loader, model, opt, loss, steps, precision))
            torch.manual_seed(0)
            _, phase, model, opt, loss = model_and_parts(128, 8)
            engine.append(engine_run(loader, model, opt, loss, phase, steps, precision))
            log(f"engine vs bare {precision}: bare {bare[-1]:.2f}, engine {engine[-1]:.2f} slices/s")
        b, e = statistics.median(bare), statistics.median(engine)
        out[precision] = {"bare_slices_per_s": b, "engine_slices_per_s": e, "ratio": e / b}
    return out


# an inference variant: precision, slices per batch, channels_last, torch.compile
INFER_VARIANTS = {
    "fp32, batch 8": ("fp32", 8, False, False),
    "fp32, batch 2": ("fp32", 2, False, False),
    "bf16, batch 8": ("bf16", 8, False, False),
    "bf16, batch 4": ("bf16", 4, False, False),
    "bf16, batch 2": ("bf16", 2, False, False),
    "bf16, batch 1": ("bf16", 1, False, False),
    "bf16, batch 2, channels_last": ("bf16", 2, True, False),
    "bf16, batch 2, torch.compile": ("bf16", 2, False, True),
}


def inference_variants(roof: float, rounds: int) -> dict:
    """Seconds per 240x240x48 volume (BasicUNet default widths, recon + seg) for every INFER_VARIANTS entry."""
    torch.manual_seed(0)
    _, _, model, _, _ = model_and_parts(240, 1)
    model.freeze_mask()
    model.eval()
    volume = torch.rand(48, 1, 240, 240)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        BundleNetwork(model, outputs="stacked")(volume[:1])
    flops = counter.get_total_flops()
    floor = 48 * flops / 1e9 / roof
    nets, compile_s = {}, {}
    for name, (precision, _, _, compiled) in INFER_VARIANTS.items():
        nets[name] = BundleNetwork(model, outputs="stacked", precision=precision, compile=compiled)
    times: dict[str, list[float]] = {name: [] for name in INFER_VARIANTS}
    for r in range(rounds):
        for name, (_, batch, channels_last, compiled) in INFER_VARIANTS.items():
            net = nets[name]
            model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
            with torch.no_grad():
                start = time.perf_counter()
                net(volume[:batch])  # warm-up (and, the first time, compilation)
                if r == 0 and compiled:
                    compile_s[name] = time.perf_counter() - start
                start = time.perf_counter()
                for i in range(0, 48, batch):
                    x = volume[i : i + batch]
                    net(x.contiguous(memory_format=torch.channels_last) if channels_last else x)
                times[name].append(time.perf_counter() - start)
            log(f"round {r + 1}/{rounds} inference {name}: {times[name][-1]:.2f} s per volume")
    model.to(memory_format=torch.contiguous_format)
    out = {"flops_per_slice_g": flops / 1e9, "floor_seconds_at_fp32_roof": floor, "variants": {}}
    for name, t in times.items():
        m = statistics.median(t)
        out["variants"][name] = {
            "seconds_per_volume": m,
            "vs_floor": m / floor,
            "gflops": 48 * flops / m / 1e9,
            "fraction_of_fp32_roof": 48 * flops / m / 1e9 / roof,
            "all": t,
            **({"compile_seconds": compile_s[name]} if name in compile_s else {}),
        }
    return out


def sampnet_share(size: int = 96, batch: int = 8, repeats: int = 50) -> dict:
    """Seconds of one SampNet mask draw (forward and backward) at the cpu preset, for the step-time share."""
    _, _, model, _, _ = model_and_parts(size, batch, "cpu", None)
    sampler = model.sampler.train()
    start = time.perf_counter()
    for _ in range(repeats):
        sampler(batch).sum().backward()
    return {"seconds_per_draw": (time.perf_counter() - start) / repeats}
