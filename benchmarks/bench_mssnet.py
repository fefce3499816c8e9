"""MSSNet inference benchmark: speed, MACs, achieved GFLOP/s; 24 MP peak memory; tiling error.

Usage (prints Markdown):
    python benchmarks/bench_mssnet.py speed [--repeats N] [--variants ...] [--sizes 512x512 ...]
    python benchmarks/bench_mssnet.py memory [--megapixels 24] [--tile 512]
    python benchmarks/bench_mssnet.py seams [--size 960x640] [--tile 512] [--overlap 64]
    python benchmarks/bench_mssnet.py options [--variant ...] [--size 1280x720] [--batch 4]

``options`` times every inference option on the device present (fp32, channels_last, bf16
autocast, cudnn.benchmark, torch.compile, batched tiles) with its error against fp32 eager,
and names the fastest one within a tolerance. Speed does not depend on the weights' values;
``speed``, ``memory`` and ``seams`` use random weights, ``options`` the shipped
mssnet-small weights where they fit (so its error column is that of a trained network).
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import re
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from modelkb.pixels.mssnet import VARIANTS, build
from modelkb.pixels.tiling import DEFAULT_TILE, restore_array, select_device


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


def matmul_peak(device: torch.device, n: int = 4096, dtype: torch.dtype = torch.float32,
                reps: int = 3) -> float:
    """Achievable peak GFLOP/s, estimated from a large square matmul in this process."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    _sync(device)
    start = time.perf_counter()
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


def smooth_image(height: int, width: int) -> np.ndarray:
    """A smooth HxWx3 float32 image with edges plus a little noise, closer to a photo than
    white noise (the same every call)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 0.5 + 0.3 * np.sin(xx / 23.0)[..., None] * np.cos(yy / 31.0)[..., None]
    return np.clip(base + 0.05 * rng.standard_normal((height, width, 3)), 0, 1).astype(np.float32)


def seams(args: argparse.Namespace) -> None:
    """Largest difference between tiled and whole-image restoration of one image."""
    device = select_device(args.device)
    torch.manual_seed(0)
    model = build(args.variant).eval()
    width, height = (int(v) for v in args.size.split("x"))
    rgb = smooth_image(height, width)
    whole = restore_array(model, rgb, device=device, tile=0)
    tiled = restore_array(model, rgb, device=device, tile=args.tile, overlap=args.overlap)
    diff = np.abs(whole - tiled)
    residual = np.abs(whole - rgb)
    from modelkb.pixels.imaging import quantize

    levels = np.abs(quantize(whole).astype(int) - quantize(tiled).astype(int))
    print(f"{args.variant} (random weights), {width}x{height}, tile {args.tile}, overlap "
          f"{args.overlap}: max |tiled - whole| = {diff.max():.4f}, mean {diff.mean():.5f}, "
          f"99.9th percentile {np.quantile(diff, 0.999):.4f}; the network's residual "
          f"|output - input| has max {residual.max():.3f}, mean {residual.mean():.3f}; "
          f"8-bit outputs differ by at most {levels.max()} levels, "
          f"{100 * (levels > 0).mean():.2f}% of values differ")


# -- options: every inference option on the device present ------------------------------------

# Dense (no sparsity) datasheet peaks in TFLOP/s, only for GPUs whose figures are certain: the
# NVIDIA H100 SXM5 and H200 SXM datasheets (FP32 on CUDA cores; TF32 and BF16 on tensor cores,
# the "with sparsity" figures halved). Other GPUs get only the measured matmul peak.
DATASHEET_TFLOPS: dict[str, dict[str, float]] = {
    "H100 SXM": {"fp32": 67.0, "tf32": 495.0, "bf16": 989.0},
    "H200 SXM": {"fp32": 67.0, "tf32": 495.0, "bf16": 989.0},
}


def datasheet_peak(device_name: str) -> tuple[str, dict[str, float]] | None:
    """(GPU, dense datasheet TFLOP/s per dtype) for a GPU name known here, else None."""
    if "NVL" in device_name or "PCIe" in device_name:
        return None  # other clocks and power limits than the SXM parts
    if re.search(r"\bH100\b", device_name) and ("HBM3" in device_name or "SXM" in device_name):
        return "H100 SXM", DATASHEET_TFLOPS["H100 SXM"]  # "NVIDIA H100 80GB HBM3"
    if re.search(r"\bH200\b", device_name):  # "NVIDIA H200"; GH200 does not match
        return "H200 SXM", DATASHEET_TFLOPS["H200 SXM"]
    return None


@dataclass(frozen=True)
class Mode:
    """One combination of inference options; ``tiles`` runs a batch of tiles, not the image."""

    name: str
    bf16: bool = False
    channels_last: bool = False
    cudnn_benchmark: bool = False
    compile: bool = False
    tiles: bool = False
    batched: bool = False

    @property
    def reference(self) -> bool:
        """True when this mode computes exactly what fp32 eager computes (the reference)."""
        return not (self.bf16 or self.channels_last or self.cudnn_benchmark or self.compile
                    or self.batched)


MODES: list[Mode] = [
    Mode("fp32"),
    Mode("channels_last", channels_last=True),
    Mode("bf16", bf16=True),
    Mode("bf16+channels_last", bf16=True, channels_last=True),
    Mode("cudnn.benchmark", cudnn_benchmark=True),
    Mode("bf16+channels_last+cudnn.benchmark", bf16=True, channels_last=True,
         cudnn_benchmark=True),
    Mode("compile", compile=True),
    Mode("compile+bf16+channels_last", bf16=True, channels_last=True, compile=True),
    Mode("tiles fp32", tiles=True),
    Mode("tiles fp32 batched", tiles=True, batched=True),
    Mode("tiles bf16+channels_last", bf16=True, channels_last=True, tiles=True),
    Mode("tiles bf16+channels_last batched", bf16=True, channels_last=True, tiles=True,
         batched=True),
]
MODE_NAMES = [mode.name for mode in MODES]


@dataclass
class Row:
    """One measured (or failed) mode."""

    variant: str
    mode: Mode
    workload: str
    items: int
    megapixels: float
    macs: int
    seconds: float | None = None
    compile_seconds: float | None = None
    max_diff: float | None = None
    max_levels: int | None = None
    status: str = "ok"


def measured_peaks(device: torch.device, n: int) -> dict[str, float | str]:
    """Matmul GFLOP/s per compute dtype: fp32 and bf16, plus TF32 on CUDA; an error string
    where a dtype cannot be measured."""
    jobs = [("fp32", torch.float32, "highest"), ("bf16", torch.bfloat16, None)]
    if device.type == "cuda":
        jobs.insert(1, ("tf32", torch.float32, "high"))
    reps = 50 if device.type == "cuda" else 3
    peaks: dict[str, float | str] = {}
    for key, dtype, precision in jobs:
        before = torch.get_float32_matmul_precision()
        try:
            if precision and device.type == "cuda":
                torch.set_float32_matmul_precision(precision)
            peaks[key] = matmul_peak(device, n, dtype, reps)
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            peaks[key] = _error(exc)
        finally:
            torch.set_float32_matmul_precision(before)
    return peaks


def _peak_key(mode: Mode, device: torch.device) -> str:
    """The matmul peak a mode's convolutions compare with (cuDNN runs fp32 convs as TF32 by
    default, so fp32 modes on CUDA compare with the TF32 peak unless that is switched off)."""
    if mode.bf16:
        return "bf16"
    if device.type == "cuda" and torch.backends.cudnn.allow_tf32:
        return "tf32"
    return "fp32"


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    message = f"{type(exc).__name__}: {text[0] if text else ''}".replace("|", "/")
    return message[:200]


def _timed(call: Callable[[], torch.Tensor], warmup: int, repeats: int,
           device: torch.device) -> tuple[float, float, torch.Tensor]:
    """(seconds of the first call, best seconds of ``repeats`` calls made after ``warmup``
    untimed calls, the first one included; the last output)."""
    _sync(device)
    start = time.perf_counter()
    out = call()
    _sync(device)
    first = time.perf_counter() - start
    for _ in range(max(warmup, 1) - 1):
        out = call()
    best = float("inf")
    for _ in range(max(repeats, 1)):
        _sync(device)
        start = time.perf_counter()
        out = call()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return first, best, out


def run_mode(mode: Mode, model: nn.Module, inputs: list[torch.Tensor], device: torch.device,
             warmup: int, repeats: int) -> tuple[float, float, torch.Tensor]:
    """Time ``mode`` on ``inputs`` (one forward each; a batched mode concatenates them first);
    returns (first-call seconds, best seconds, float32 output on the CPU)."""
    if mode.cudnn_benchmark and device.type != "cuda":
        raise RuntimeError("skipped: CUDA only")
    if "torch._dynamo" in sys.modules:  # drop the previous mode's compiled graphs
        torch._dynamo.reset()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    net = copy.deepcopy(model).eval().to(device)
    layout = torch.channels_last if mode.channels_last else torch.contiguous_format
    if mode.channels_last:
        net = net.to(memory_format=torch.channels_last)
    if mode.compile:
        forward = torch.compile(net)  # eval-mode forward is restore()
    else:
        forward = net.restore
    if mode.batched:
        inputs = [torch.cat(inputs)]
    inputs = [x.to(device).contiguous(memory_format=layout) for x in inputs]

    def call() -> torch.Tensor:
        outs = [forward(x) for x in inputs]
        return torch.cat(outs) if len(outs) > 1 else outs[0]

    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if mode.bf16 else nullcontext()
    benchmark = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = benchmark or mode.cudnn_benchmark
        with torch.inference_mode(), autocast:
            first, best, out = _timed(call, warmup, repeats, device)
        return first, best, out.float().cpu()
    finally:
        torch.backends.cudnn.benchmark = benchmark


def test_photo(height: int, width: int) -> tuple[np.ndarray, str]:
    """A mildly blurred real photo (scikit-image's held-out 'astronaut', resized to cover and
    centre-cropped) as HxWx3 float32, or the smooth synthetic image without scikit-image."""
    from PIL import Image, ImageFilter

    try:
        from modelkb.train.skimage_photos import load

        photo = Image.fromarray(load("astronaut"))
    except Exception:  # noqa: BLE001 - any failure: fall back to the synthetic image
        return smooth_image(height, width), "smooth synthetic image"
    scale = max(width / photo.width, height / photo.height)
    size = (max(width, round(photo.width * scale)), max(height, round(photo.height * scale)))
    photo = photo.resize(size, Image.Resampling.LANCZOS)
    left, top = (size[0] - width) // 2, (size[1] - height) // 2
    photo = photo.crop((left, top, left + width, top + height))
    photo = photo.filter(ImageFilter.GaussianBlur(1.5))
    return np.asarray(photo, dtype=np.float32) / 255.0, "'astronaut' photo, Gaussian blur 1.5"


def options_model(variant: str) -> tuple[nn.Module, str]:
    """The shipped trained weights for mssnet-small, random (seed 0) weights otherwise."""
    if variant == "mssnet-small":
        try:
            from modelkb.models.weights import load_weights

            loaded = load_weights(None)
            if loaded.variant == variant:
                return loaded.model.float().eval(), "shipped trained weights"
        except Exception:  # noqa: BLE001 - fall back to random weights
            pass
    torch.manual_seed(0)
    return build(variant).eval(), "random weights (seed 0)"


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]


def _levels(values: torch.Tensor) -> torch.Tensor:
    return torch.floor(values.clamp(0, 1) * 255 + 0.5)


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def options_table(rows: list[Row], peaks: dict[str, float | str], device: torch.device,
                  datasheet: tuple[str, dict[str, float]] | None) -> list[str]:
    """Markdown rows (header included) for measured rows."""
    head = ["variant", "mode", "input", "images/s", "s/image", "s/MP", "compile s", "GFLOP/s",
            "% of measured peak"]
    if datasheet:
        head.append(f"% of {datasheet[0]} datasheet")
    head += ["max abs diff vs fp32", "max 8-bit levels", "status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        lines.append(options_row(row, peaks, device, datasheet))
    return lines


def options_row(row: Row, peaks: dict[str, float | str], device: torch.device,
                datasheet: tuple[str, dict[str, float]] | None) -> str:
    """One Markdown table row."""
    key = _peak_key(row.mode, device)
    gflops = per_item = per_mp = rate = peak_pct = sheet_pct = None
    if row.seconds is not None:
        gflops = 2 * row.macs / row.seconds / 1e9
        rate, per_item = row.items / row.seconds, row.seconds / row.items
        per_mp = row.seconds / row.megapixels
        peak = peaks.get(key)
        if isinstance(peak, float):
            peak_pct = 100 * gflops / peak
        if datasheet:
            sheet_pct = 100 * gflops / (datasheet[1][key] * 1e3)
    cells = [row.variant, row.mode.name, row.workload, _fmt(rate, ".3g"), _fmt(per_item, ".3g"),
             _fmt(per_mp, ".3g"), _fmt(row.compile_seconds, ".0f"), _fmt(gflops, ".0f"),
             "—" if peak_pct is None else f"{peak_pct:.0f}% of {key}"]
    if datasheet:
        cells.append("—" if sheet_pct is None else f"{sheet_pct:.1f}% of {key}")
    cells += [_fmt(row.max_diff, ".1e"), _fmt(row.max_levels, "d"), row.status]
    return "| " + " | ".join(cells) + " |"


def summarise(rows: list[Row], variant: str, tolerance: float) -> list[str]:
    """The best default (fastest whole-image mode within ``tolerance`` of fp32 eager), the
    fastest regardless of error, and what batching tiles gains."""
    lines = []
    whole = [r for r in rows if r.variant == variant and not r.mode.tiles and r.seconds]
    base = next((r for r in whole if r.mode.name == "fp32"), None)
    within = [r for r in whole if r.max_diff is not None and r.max_diff <= tolerance]
    if within:
        best = min(within, key=lambda r: r.seconds or 0.0)
        text = (f"**Best default for this device ({variant}, {best.workload}): {best.mode.name}** "
                f"— {best.seconds / best.megapixels:.3g} s/MP")
        if base:
            text += f", {base.seconds / best.seconds:.2f}x fp32 eager"
        text += f"; max abs diff {best.max_diff:.1e} <= tolerance {tolerance:.1e}"
        if best.compile_seconds is not None and base and base.seconds > best.seconds:
            images = best.compile_seconds / (base.seconds - best.seconds)
            text += (f"; torch.compile costs {best.compile_seconds:.0f} s once per process and "
                     f"shape, repaid after {images:.0f} images")
        lines.append(text + ".")
    else:
        lines.append(f"Best default for this device ({variant}): none measured within "
                     f"tolerance {tolerance:.1e}.")
    if whole:
        fastest = min(whole, key=lambda r: r.seconds or 0.0)
        if not within or fastest is not best:
            ratio = f" ({base.seconds / fastest.seconds:.2f}x fp32 eager)" if base else ""
            lines.append(f"Fastest regardless of error: {fastest.mode.name}{ratio}, max abs "
                         f"diff {_fmt(fastest.max_diff, '.1e')}, max 8-bit levels "
                         f"{_fmt(fastest.max_levels, 'd')} (tolerance {tolerance:.1e}).")
    for one in (r for r in rows if r.variant == variant and r.mode.tiles and not r.mode.batched):
        batched = next((r for r in rows if r.variant == variant and r.mode.tiles
                        and r.mode.batched and r.mode.bf16 == one.mode.bf16), None)
        if one.seconds and batched and batched.seconds:
            lines.append(f"Batching ({one.mode.name}, {batched.workload}): "
                         f"{batched.items / batched.seconds:.3g} tiles/s in one forward vs "
                         f"{one.items / one.seconds:.3g} one at a time "
                         f"({one.seconds / batched.seconds:.2f}x); max abs diff "
                         f"{_fmt(batched.max_diff, '.1e')}.")
    return lines


def _loadavg() -> str:
    try:
        with open("/proc/loadavg", encoding="utf-8") as handle:
            return " ".join(handle.read().split()[:3])
    except OSError:
        return "n/a"


def options(args: argparse.Namespace) -> None:
    """Every inference option on the device present: speed, fraction of peak, error."""
    device = select_device(args.device)
    width, height = (int(v) for v in args.size.split("x"))
    if width % 16 or height % 16 or args.tile % 16:
        raise SystemExit(f"--size {args.size} and --tile {args.tile} must be multiples of 16")
    unknown = sorted(set(args.modes) - set(MODE_NAMES))
    if unknown:
        raise SystemExit(f"unknown mode(s) {unknown}: choose from {MODE_NAMES}")
    modes = [m for m in MODES if m.name in args.modes]
    variants = args.variant or (list(VARIANTS) if device.type == "cuda" else ["mssnet-small"])
    cuda = device.type == "cuda"
    name = torch.cuda.get_device_name(device) if cuda else cpu_name()
    datasheet = datasheet_peak(name) if cuda else None
    peak_n = args.peak_size or (8192 if cuda else 4096)
    peaks = measured_peaks(device, peak_n)
    print(f"Device: {device} ({name}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; load average at start {_loadavg()}.")
    shown = ", ".join(f"{k} {v:,.0f} GFLOP/s" if isinstance(v, float) else f"{k} {v}"
                      for k, v in peaks.items())
    print(f"Measured matmul peak ({peak_n}x{peak_n}): {shown}. Each mode's % is of the peak in "
          "its compute dtype" + (" (fp32 convs on CUDA run as TF32 while "
                                 "torch.backends.cudnn.allow_tf32 is on)" if cuda else "") + ".")
    if datasheet:
        sheet = ", ".join(f"{k} {v:g}" for k, v in datasheet[1].items())
        print(f"Datasheet dense peak, {datasheet[0]}: {sheet} TFLOP/s.")
    print(f"Timing: best of {args.repeats} after {args.warmup} warm-up call(s) (the first "
          "call, which includes compilation, is timed separately); 'compile s' = first call "
          "minus the best. Error: max |output - fp32 eager output| on the same input.")
    photo, photo_name = test_photo(height, width)
    strip, _ = test_photo(args.tile, args.tile * args.batch)
    tiles = [_tensor(strip[:, i * args.tile:(i + 1) * args.tile]) for i in range(args.batch)]
    cache = tempfile.mkdtemp(prefix="bench-inductor-") if not args.warm_compile_cache else None
    before = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if cache:  # cold compile times: no kernels from earlier runs
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
    rows: list[Row] = []
    try:
        for variant in variants:
            model, weights = options_model(variant)
            print(f"\n{variant}: {weights}; input {width}x{height} {photo_name}; tiles "
                  f"{args.batch} of {args.tile}x{args.tile}.\n", flush=True)
            macs = count_macs(build(variant), height, width)
            tile_macs = count_macs(build(variant), args.tile, args.tile) * args.batch
            references: dict[bool, torch.Tensor] = {}
            header = options_table([], peaks, device, datasheet)
            print("\n".join(header), flush=True)
            for mode in modes:
                if mode.tiles:
                    row = Row(variant, mode, f"{args.batch} tiles {args.tile}x{args.tile}",
                              args.batch, args.batch * args.tile**2 / 1e6, tile_macs)
                    inputs = tiles
                else:
                    row = Row(variant, mode, f"{width}x{height}", 1, width * height / 1e6,
                              macs)
                    inputs = [_tensor(photo)]
                try:
                    first, best, out = run_mode(mode, model, inputs, device, args.warmup,
                                                args.repeats)
                    row.seconds = best
                    if mode.compile:
                        row.compile_seconds = max(first - best, 0.0)
                    if mode.reference and mode.tiles not in references:
                        references[mode.tiles] = out
                    if mode.tiles not in references:
                        _, _, references[mode.tiles] = run_mode(MODES[0], model, inputs,
                                                                device, 0, 1)
                    ref = references[mode.tiles]
                    row.max_diff = float((out - ref).abs().max())
                    row.max_levels = int((_levels(out) - _levels(ref)).abs().max())
                except Exception as exc:  # noqa: BLE001 - a failing mode is a row, not a crash
                    message = _error(exc)
                    row.status = message.split(": ", 1)[1] if "skipped" in message else message
                rows.append(row)
                print(options_row(row, peaks, device, datasheet), flush=True)
            print()
            for line in summarise(rows, variant, args.tolerance):
                print(line)
    finally:
        if cache:
            if before is None:
                os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
            else:
                os.environ["TORCHINDUCTOR_CACHE_DIR"] = before
            shutil.rmtree(cache, ignore_errors=True)
    print(f"\nLoad average at end: {_loadavg()}.")


def main(argv: list[str] | None = None) -> None:
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
    p = sub.add_parser("options", help="every inference option on the device present")
    p.add_argument("--variant", nargs="+", choices=list(VARIANTS),
                   help="default: mssnet-small on a CPU, every variant on CUDA")
    p.add_argument("--size", default="1280x720", help="WxH, multiples of 16")
    p.add_argument("--modes", nargs="+", default=MODE_NAMES, metavar="MODE",
                   help=f"subset of: {', '.join(MODE_NAMES)}")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls per mode (at least 1)")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per mode (best counts)")
    p.add_argument("--batch", type=int, default=4, help="tiles per batched forward")
    p.add_argument("--tile", type=int, default=DEFAULT_TILE, help="tile side (tiling.py's)")
    p.add_argument("--tolerance", type=float, default=1 / 255,
                   help="max abs diff vs fp32 eager allowed for the best default "
                        "(default one 8-bit level, 1/255)")
    p.add_argument("--peak-size", type=int, default=0,
                   help="matmul side for the peak (default 4096 on CPU, 8192 on CUDA)")
    p.add_argument("--warm-compile-cache", action="store_true",
                   help="reuse inductor's on-disk cache (default: a fresh one, cold compiles)")
    args = parser.parse_args(argv)
    commands = {"speed": speed, "memory": memory, "seams": seams, "options": options}
    commands[args.what](args)


if __name__ == "__main__":
    main()
