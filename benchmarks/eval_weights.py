"""Held-out gain of MSSNet weights at fixed camera-shake lengths (issue 18).

The held-out photos (never trained on) from ``python -m modelkb.train.photos OUT`` are
scaled to at most ``--max-pixels`` (as the trainer scales its photos), centre-cropped to
``--size``, and degraded with fixed seeds at each shake length (5, 10, 15, 20, 25 px by
default) with the training pipeline's sensor noise and JPEG at one fixed moderate level
(1000 electrons, read noise 0.002, JPEG q85), so buckets differ only in shake. Each is
restored and scored:
PSNR/SSIM gain over the blurred input (modelkb.gallery.metrics on 8-bit images) and
sharpness as the variance of the Laplacian relative to the sharp photo's (1.0 = as sharp as
the reference; the blurred input is far below 1).

    .venv/bin/python benchmarks/eval_weights.py --photos /work/photos [--weights FILE]
        [--lengths 5 10 15 20 25] [--size 384] [--threads 2] [--json OUT] [--plot PNG]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

# One fixed, moderate capture for every bucket, so the buckets differ only in shake length:
# 1000 electrons at full scale, read noise 0.002 (linear), JPEG quality 85.
NOISE_PHOTONS, READ_NOISE, JPEG_QUALITY = 1000.0, 0.002, 85


def held_out(photos: Path, size: int, max_pixels: int) -> list[tuple[str, np.ndarray]]:
    """(name, HxWx3 float32 sharp crop) for each held-out photo."""
    from modelkb.train.data import _fit, centre_crop, list_images, load_rgb

    out = []
    for path in list_images(photos / "heldout"):
        image = _fit(load_rgb(path), max_pixels)
        out.append((path.stem, centre_crop(image, size).astype(np.float32) / 255.0))
    return out


def evaluate(model, photos: list[tuple[str, np.ndarray]], lengths: list[float],
             seeds: int = 1) -> list[dict]:
    """One row per (photo, length, seed): input and output PSNR/SSIM and sharpness."""
    from modelkb.gallery.metrics import laplacian_variance, psnr, ssim
    from modelkb.train.degrade import DegradeConfig, degrade
    from modelkb.train.recipe import restore_8bit

    rows = []
    for index, (name, sharp) in enumerate(photos):
        sharp8 = np.round(sharp * 255) / 255
        reference_sharpness = laplacian_variance(sharp8)
        for li, length in enumerate(lengths):
            config = DegradeConfig(length=(length, length), defocus_prob=0.0,
                                   photons=(NOISE_PHOTONS, NOISE_PHOTONS),
                                   read_noise=(READ_NOISE, READ_NOISE), jpeg_prob=1.0,
                                   jpeg_quality=(JPEG_QUALITY, JPEG_QUALITY))
            for seed in range(seeds):
                blurred, _params = degrade(sharp, np.random.default_rng([77, index, li, seed]),
                                           config)
                restored = restore_8bit(model, blurred)
                rows.append({
                    "image": name, "length": length, "seed": seed,
                    "input_psnr": psnr(blurred, sharp8), "output_psnr": psnr(restored, sharp8),
                    "input_ssim": ssim(blurred, sharp8), "output_ssim": ssim(restored, sharp8),
                    "input_sharpness": laplacian_variance(blurred) / reference_sharpness,
                    "output_sharpness": laplacian_variance(restored) / reference_sharpness,
                })
    return rows


def summarise(rows: list[dict], lengths: list[float]) -> dict:
    """Mean figures per shake length and over everything."""
    keys = ("input_psnr", "output_psnr", "input_ssim", "output_ssim", "input_sharpness",
            "output_sharpness")

    def mean(subset: list[dict]) -> dict:
        m = {k: float(np.mean([r[k] for r in subset])) for k in keys}
        m["psnr_gain"] = m["output_psnr"] - m["input_psnr"]
        m["ssim_gain"] = m["output_ssim"] - m["input_ssim"]
        return m

    return {"by_length": {str(length): mean([r for r in rows if r["length"] == length])
                          for length in lengths},
            "mean": mean(rows)}


def plot(summaries: dict[str, dict], lengths: list[float], out: Path) -> None:
    """Gain against shake length, one line per weights file (Pillow only, no matplotlib)."""
    from PIL import Image, ImageDraw

    width, height, pad = 640, 360, 48
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    gains = [s["by_length"][str(x)]["psnr_gain"] for s in summaries.values() for x in lengths]
    top = max(1.0, max(gains) * 1.15)
    bottom = min(0.0, min(gains))

    def xy(x: float, y: float) -> tuple[float, float]:
        fx = (x - lengths[0]) / max(lengths[-1] - lengths[0], 1)
        fy = (y - bottom) / (top - bottom)
        return pad + fx * (width - 2 * pad), height - pad - fy * (height - 2 * pad)

    draw.line([xy(lengths[0], 0), xy(lengths[-1], 0)], fill=(160, 160, 160))
    for x in lengths:
        px, py = xy(x, bottom)
        draw.text((px - 8, py + 8), f"{x:g}px", fill="black")
    for tick in np.linspace(bottom, top, 5):
        px, py = xy(lengths[0], tick)
        draw.text((4, py - 6), f"{tick:+.1f}", fill="black")
    colours = [(0, 102, 204), (204, 102, 0), (0, 153, 76)]
    for i, (name, summary) in enumerate(summaries.items()):
        points = [xy(x, summary["by_length"][str(x)]["psnr_gain"]) for x in lengths]
        draw.line(points, fill=colours[i % 3], width=3)
        for p in points:
            draw.ellipse([p[0] - 4, p[1] - 4, p[0] + 4, p[1] + 4], fill=colours[i % 3])
        draw.text((pad + 10, 10 + 16 * i), f"{name}", fill=colours[i % 3])
    draw.text((width // 2 - 120, height - 18), "shake length; PSNR gain in dB", fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)


def main(argv: list[str] | None = None) -> int:
    """Print a table per weights file and optionally write JSON and the plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, required=True,
                        help="output folder of python -m modelkb.train.photos")
    parser.add_argument("--weights", nargs="+", default=[None],
                        help="weights files to compare (default: the shipped file)")
    parser.add_argument("--lengths", type=float, nargs="+", default=[5, 10, 15, 20, 25])
    parser.add_argument("--size", type=int, default=384, help="centre crop, multiple of 16")
    parser.add_argument("--max-pixels", type=int, default=1_600_000)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch

    from modelkb.models.weights import load_weights

    if args.threads:
        torch.set_num_threads(args.threads)
    photos = held_out(args.photos, args.size, args.max_pixels)
    results: dict[str, dict] = {}
    for weights in args.weights:
        started = time.perf_counter()
        loaded = load_weights(weights)
        model = loaded.model.float().eval()
        rows = evaluate(model, photos, args.lengths, args.seeds)
        summary = summarise(rows, args.lengths)
        label = f"{loaded.path.name} ({loaded.sha256[:12]})"
        results[label] = {**summary, "rows": rows}
        print(f"\n{label}, {loaded.variant}: {len(photos)} held-out photos, "
              f"{args.size}px crops, {time.perf_counter() - started:.0f} s")
        print("| shake | PSNR in -> out (gain) | SSIM in -> out | sharpness in -> out |")
        print("|---|---|---|---|")
        for length in args.lengths:
            m = summary["by_length"][str(length)]
            print(f"| {length:g} px | {m['input_psnr']:.2f} -> {m['output_psnr']:.2f} "
                  f"({m['psnr_gain']:+.2f} dB) | {m['input_ssim']:.3f} -> "
                  f"{m['output_ssim']:.3f} | {m['input_sharpness']:.2f} -> "
                  f"{m['output_sharpness']:.2f} |")
        m = summary["mean"]
        print(f"| mean | {m['input_psnr']:.2f} -> {m['output_psnr']:.2f} "
              f"({m['psnr_gain']:+.2f} dB) | {m['input_ssim']:.3f} -> {m['output_ssim']:.3f} | "
              f"{m['input_sharpness']:.2f} -> {m['output_sharpness']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    if args.plot:
        plot({k: v for k, v in results.items()}, args.lengths, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
