"""MSSNet inference benchmark: speed, MACs, achieved GFLOP/s; 24 MP peak memory; tiling error.

Usage (prints Markdown):
    python benchmarks/bench_mssnet.py speed [--repeats N] [--variants ...] [--sizes 512x512 ...]
    python benchmarks/bench_mssnet.py memory [--megapixels 24] [--tile 512]
    python benchmarks/bench_mssnet.py seams [--size 960x640] [--tile 512] [--overlap 64]

Random weights (no trained weights exist yet); speed does not depend on the values.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import numpy as np
import torch
from torch import nn

from modelkb.models.mssnet import VARIANTS, build
from modelkb.models.tiling import restore_array, select_device


def cpu_name() -> str:
    """The CPU model name from /proc/cpuinfo (or platform.processor())."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def count_macs(model: nn.Module, height: int, width: int) -> int:
    """Multiply-accumulates of every convolution for one image, counted with forward hooks."""
    total = 0

    def hook(module: nn.Conv2d, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        per_output = module.in_channels // module.groups * kh * kw
        total += output.numel() // output.shape[0] * per_output

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    meta = model.to("meta")
    with torch.inference_mode():
        meta.restore(torch.empty(1, 3, height, width, device="meta"))
    for h in handles:
        h.remove()
    return total


def matmul_peak(device: torch.device, n: int = 4096, dtype: torch.dtype = torch.float32) -> float:
    """Achievable peak GFLOP/s, estimated from a large square matmul in this process."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    _sync(device)
    start, reps = time.perf_counter(), 3
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_inference(model: nn.Module, x: torch.Tensor, repeats: int, device: torch.device,
                   bf16: bool = False, channels_last: bool = False) -> float:
    """Best wall-clock seconds of ``repeats`` inferences (after one warm-up at 128x128)."""
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    ctx = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    with torch.inference_mode(), ctx:
        model.restore(torch.rand(1, 3, 128, 128, device=device))
        best = float("inf")
        for _ in range(repeats):
            _sync(device)
            start = time.perf_counter()
            model.restore(x)
            _sync(device)
            best = min(best, time.perf_counter() - start)
    return best


def speed(args: argparse.Namespace) -> None:
    """Seconds per megapixel, MACs and GFLOP/s for each variant and size."""
    device = select_device(args.device)
    peak = matmul_peak(device)
    where = cpu_name() if device.type == "cpu" else torch.cuda.get_device_name()
    print(f"Device: {device} ({where}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads.")
    print(f"Peak estimate: {peak:.0f} GFLOP/s fp32, measured with a 4096x4096 matmul in "
          "this run.\n")
    modes = [("fp32", False, False)]
    if device.type == "cuda":
        modes += [("bf16", True, False), ("bf16+channels_last", True, True)]
    print("| variant | size | mode | GMAC/image | s/image | s/MP | GFLOP/s | % of matmul peak |")
    print("|---|---|---|---|---|---|---|---|")
    for variant in args.variants:
        for size in args.sizes:
            width, height = (int(v) for v in size.split("x"))
            macs = count_macs(build(variant), height, width)
            torch.manual_seed(0)
            model = build(variant).eval().to(device)
            x = torch.rand(1, 3, height, width, device=device)
            repeats = args.repeats if width * height <= 512 * 512 else max(1, args.repeats - 1)
            for mode, bf16, cl in modes:
                m = model.to(memory_format=torch.channels_last) if cl else model
                seconds = time_inference(m, x, repeats, device, bf16, cl)
                gflops = 2 * macs / seconds / 1e9
                print(f"| {variant} | {width}x{height} | {mode} | {macs / 1e9:,.0f} | "
                      f"{seconds:.2f} | {seconds / (width * height / 1e6):.2f} | {gflops:.0f} | "
                      f"{100 * gflops / peak:.0f}% |", flush=True)


def memory(args: argparse.Namespace) -> None:
    """Tiled restoration of a large random image; reports time and peak RSS."""
    device = select_device(args.device)
    torch.manual_seed(0)
    model = build(args.variant).eval()
    width = int((args.megapixels * 1e6 * 3 / 2) ** 0.5)
    height = int(width * 2 / 3)
    rgb = np.random.default_rng(0).random((height, width, 3), dtype=np.float32)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    tiles = {"done": 0, "count": 0}

    class Enough(Exception):
        pass

    def progress(done: int, count: int) -> None:
        tiles.update(done=done, count=count)
        if args.max_tiles and done >= args.max_tiles:
            raise Enough

    try:
        out = restore_array(model, rgb, device=device, tile=args.tile, overlap=args.overlap,
                            progress=progress)
        assert out.shape == rgb.shape and np.isfinite(out).all()
    except Enough:
        pass
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.variant}, {width}x{height} ({width * height / 1e6:.1f} MP), tile {args.tile}, "
          f"overlap {args.overlap}, {device}: {tiles['done']} of {tiles['count']} tiles in "
          f"{seconds:.0f} s, peak RSS {peak:,.0f} MiB "
          f"(before inference {before:,.0f} MiB; the float32 input alone is "
          f"{rgb.nbytes / 2**20:,.0f} MiB)")


def seams(args: argparse.Namespace) -> None:
    """Largest difference between tiled and whole-image restoration of one image."""
    device = select_device(args.device)
    torch.manual_seed(0)
    model = build(args.variant).eval()
    width, height = (int(v) for v in args.size.split("x"))
    rng = np.random.default_rng(0)
    # A smooth image with edges, closer to a photo than white noise.
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 0.5 + 0.3 * np.sin(xx / 23.0)[..., None] * np.cos(yy / 31.0)[..., None]
    rgb = np.clip(base + 0.05 * rng.standard_normal((height, width, 3)), 0, 1).astype(np.float32)
    whole = restore_array(model, rgb, device=device, tile=0)
    tiled = restore_array(model, rgb, device=device, tile=args.tile, overlap=args.overlap)
    diff = np.abs(whole - tiled)
    residual = np.abs(whole - rgb)
    from modelkb.imageio import quantize

    levels = np.abs(quantize(whole).astype(int) - quantize(tiled).astype(int))
    print(f"{args.variant} (random weights), {width}x{height}, tile {args.tile}, overlap "
          f"{args.overlap}: max |tiled - whole| = {diff.max():.4f}, mean {diff.mean():.5f}, "
          f"99.9th percentile {np.quantile(diff, 0.999):.4f}; the network's residual "
          f"|output - input| has max {residual.max():.3f}, mean {residual.mean():.3f}; "
          f"8-bit outputs differ by at most {levels.max()} levels, "
          f"{100 * (levels > 0).mean():.2f}% of values differ")


def main() -> None:
    """Parse the sub-command and run it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("speed")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS))
    p.add_argument("--sizes", nargs="+", default=["512x512", "1280x720"])
    p = sub.add_parser("memory")
    p.add_argument("--variant", default="mssnet-small")
    p.add_argument("--megapixels", type=float, default=24.0)
    p.add_argument("--max-tiles", type=int, default=0, help="stop after N tiles (0: all)")
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--overlap", type=int, default=64)
    p = sub.add_parser("seams")
    p.add_argument("--variant", default="mssnet-small")
    p.add_argument("--size", default="960x640")
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--overlap", type=int, default=64)
    args = parser.parse_args()
    {"speed": speed, "memory": memory, "seams": seams}[args.what](args)


if __name__ == "__main__":
    main()
