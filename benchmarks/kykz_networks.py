"""Planes or volumes for the networks of ``sampling.geometry: kykz`` (#14 item 1): the cost of one training pass
over one volume, by the 2-D BasicUNets on its (ky, kz) planes (what the project runs) or by 3-D BasicUNets on the
whole volume, at the same widths. Not a test; about a minute per shape on 2 cores.

    python benchmarks/kykz_networks.py --out benchmarks/results/kykz

Both see the same data: the read-out transform makes every plane an independent 2-D problem with the shared
(ky, kz) mask (tests/sampling/test_kykz.py), so a 3-D network adds context across x, not information about the
acquisition. What it costs is measured here: seconds and peak memory (the allocator's high-water mark is not
available on CPU, so the activations kept for backward are counted through saved-tensor hooks).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from monai.networks.nets import BasicUNet
from torch import nn

WIDTHS = (16, 16, 32, 64, 128, 16)  # the cpu preset's ReconNet and SegNet
SHAPES = {"demo slab 96x96x19": (96, 96, 19), "MRBrainS13 240x240x48": (240, 240, 48)}


def _nets(dims: int) -> tuple[nn.Module, nn.Module]:
    recon = BasicUNet(spatial_dims=dims, in_channels=1, out_channels=1, features=WIDTHS)
    seg = BasicUNet(spatial_dims=dims, in_channels=1, out_channels=8, features=WIDTHS)
    return recon, seg


def _pass(recon: nn.Module, seg: nn.Module, x: torch.Tensor) -> int:
    """Forward and backward of ReconNet then SegNet on ``x``; returns the bytes saved for backward."""
    saved = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        r = recon(x)
        s = seg(r)
        loss = r.abs().mean() + s.logsumexp(1).mean()
    loss.backward()
    return saved


def measure(shape: tuple[int, int, int], batch: int, repeats: int) -> dict:
    torch.manual_seed(0)
    nx, ny, nz = shape
    planes = torch.rand(nx, 1, ny, nz)  # BasicUNet takes any side of at least 16 (its UpCat pads)
    volume = torch.rand(1, 1, nx, ny, nz)
    out = {}
    for name, dims in (("planes (2-D)", 2), ("volume (3-D)", 3)):
        recon, seg = _nets(dims)
        params = sum(p.numel() for p in [*recon.parameters(), *seg.parameters()])
        times, saved = [], 0
        for _ in range(repeats + 1):
            start = time.perf_counter()
            if dims == 2:
                saved = max(_pass(recon, seg, planes[i : i + batch]) for i in range(0, nx, batch))
            else:
                saved = _pass(recon, seg, volume)
            times.append(time.perf_counter() - start)
        out[name] = {
            "s_per_volume": min(times[1:]),
            "saved_for_backward_mib_per_step": saved / 2**20,
            "parameters": params,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--batch", type=int, default=4, help="planes per step (the grid's batch)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {label: measure(shape, args.batch, args.repeats) for label, shape in SHAPES.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"threads": args.threads, "batch": args.batch, "torch": torch.__version__, "widths": list(WIDTHS)}
    (args.out / "networks.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    lines = [
        f"fp32 forward + backward of ReconNet then SegNet (BasicUNet, widths {list(WIDTHS)}) over one volume, "
        f"{args.threads} thread(s), best of {args.repeats}; planes in steps of {args.batch}, the volume in one step.",
        "",
        "| volume | networks on | parameters | s per volume | saved for backward per step (MiB) |",
        "|---|---|---|---|---|",
    ]
    for label, rows in results.items():
        for name, r in rows.items():
            lines.append(
                f"| {label} | {name} | {r['parameters']:,} | {r['s_per_volume']:.2f} | "
                f"{r['saved_for_backward_mib_per_step']:.0f} |"
            )
    (args.out / "networks.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
