"""Held-out gain of MSSNet weights per skill: deblurring alone, and with light or heavy noise.

The held-out photos (never trained on) from ``python -m modelkb.train.photos OUT`` are
scaled to at most ``--max-pixels`` (as the trainer scales its photos), centre-cropped to
``--size``, and blurred with fixed seeds at each curved camera-shake length (5, 10, 15,
20 px by default; the same shake path for a photo and length in every condition), then
captured in three conditions:

- ``blur``: blur only: no noise, no JPEG (what deblurring alone gains);
- ``light``: Gaussian noise of 1% of full scale on the sRGB values (no shot noise) and
  JPEG q90;
- ``heavy``: the training mix's middle: 1000 electrons at full scale, read noise 0.002,
  JPEG q85 (the fixed capture of earlier versions' tables).

Each is restored and scored: PSNR/SSIM gain over the degraded input
(modelkb.pixels.metrics on 8-bit images) and fine detail as the variance of the Laplacian
relative to the sharp photo's (1.0 = as much fine detail as the reference; a blurred input
is far below 1, a noisy one can be above).

    .venv/bin/python benchmarks/eval_weights.py --photos /work/photos [--weights FILE...]
        [--conditions blur light heavy] [--lengths 5 10 15 20] [--size 384] [--threads 2]
        [--json OUT] [--plot PNG]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

# One fixed capture per condition, so within a condition the buckets differ only in shake.
NOISE_PHOTONS, READ_NOISE, JPEG_QUALITY = 1000.0, 0.002, 85  # heavy
LIGHT_READ_NOISE, LIGHT_JPEG_QUALITY = 0.01, 90  # light

CONDITIONS: dict[str, dict] = {
    "blur": {"clean_prob": 1.0},
    "light": {"light_prob": 1.0, "light_read_noise": (LIGHT_READ_NOISE, LIGHT_READ_NOISE),
              "jpeg_prob": 1.0, "light_jpeg_quality": (LIGHT_JPEG_QUALITY, LIGHT_JPEG_QUALITY)},
    "heavy": {"photons": (NOISE_PHOTONS, NOISE_PHOTONS), "read_noise": (READ_NOISE, READ_NOISE),
              "jpeg_prob": 1.0, "jpeg_quality": (JPEG_QUALITY, JPEG_QUALITY)},
}


def held_out(photos: Path, size: int, max_pixels: int) -> list[tuple[str, np.ndarray]]:
    """(name, HxWx3 float32 sharp crop) for each held-out photo."""
    from modelkb.train.data import _fit, centre_crop, list_images, load_rgb

    out = []
    for path in list_images(photos / "heldout"):
        image = _fit(load_rgb(path), max_pixels)
        out.append((path.stem, centre_crop(image, size).astype(np.float32) / 255.0))
    return out


def evaluate(model, photos: list[tuple[str, np.ndarray]], lengths: list[float],
             seeds: int = 1, conditions: tuple[str, ...] = ("heavy",)) -> list[dict]:
    """One row per (condition, photo, length, seed): input and output PSNR/SSIM and fine
    detail (Laplacian variance relative to the sharp photo's)."""
    from modelkb.pixels.metrics import laplacian_variance, psnr, ssim
    from modelkb.train.degrade import DegradeConfig, degrade
    from modelkb.train.recipe import restore_8bit

    rows = []
    for index, (name, sharp) in enumerate(photos):
        sharp8 = np.round(sharp * 255) / 255
        reference = laplacian_variance(sharp8)
        for li, length in enumerate(lengths):
            for condition in conditions:
                config = DegradeConfig(length=(length, length), defocus_prob=0.0,
                                       **CONDITIONS[condition])
                for seed in range(seeds):
                    # The seed ignores the condition and the kernel is drawn first: a photo
                    # and length get the same shake path in every condition.
                    rng = np.random.default_rng([77, index, li, seed])
                    blurred, _params = degrade(sharp, rng, config)
                    restored = restore_8bit(model, blurred)
                    rows.append({
                        "condition": condition, "image": name, "length": length, "seed": seed,
                        "input_psnr": psnr(blurred, sharp8),
                        "output_psnr": psnr(restored, sharp8),
                        "input_ssim": ssim(blurred, sharp8),
                        "output_ssim": ssim(restored, sharp8),
                        "input_sharpness": laplacian_variance(blurred) / reference,
                        "output_sharpness": laplacian_variance(restored) / reference,
                    })
    return rows


KEYS = ("input_psnr", "output_psnr", "input_ssim", "output_ssim", "input_sharpness",
        "output_sharpness")


def _mean(subset: list[dict]) -> dict:
    m = {k: float(np.mean([r[k] for r in subset])) for k in KEYS}
    m["psnr_gain"] = m["output_psnr"] - m["input_psnr"]
    m["ssim_gain"] = m["output_ssim"] - m["input_ssim"]
    return m


def summarise(rows: list[dict], lengths: list[float]) -> dict:
    """Mean figures per condition, per condition and shake length, and over everything."""
    conditions = list(dict.fromkeys(r.get("condition", "heavy") for r in rows))
    by_condition = {}
    for condition in conditions:
        subset = [r for r in rows if r.get("condition", "heavy") == condition]
        by_condition[condition] = {
            "by_length": {str(length): _mean([r for r in subset if r["length"] == length])
                          for length in lengths},
            "mean": _mean(subset)}
    first = by_condition[conditions[0]]
    return {"conditions": by_condition, "by_length": first["by_length"], "mean": first["mean"]}


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
    colours = [(0, 102, 204), (204, 102, 0), (0, 153, 76), (153, 0, 153), (102, 102, 102),
               (204, 0, 0)]
    for i, (name, summary) in enumerate(summaries.items()):
        points = [xy(x, summary["by_length"][str(x)]["psnr_gain"]) for x in lengths]
        draw.line(points, fill=colours[i % len(colours)], width=3)
        for p in points:
            draw.ellipse([p[0] - 4, p[1] - 4, p[0] + 4, p[1] + 4], fill=colours[i % len(colours)])
        draw.text((pad + 10, 10 + 16 * i), f"{name}", fill=colours[i % len(colours)])
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
    parser.add_argument("--conditions", nargs="+", choices=tuple(CONDITIONS),
                        default=list(CONDITIONS))
    parser.add_argument("--lengths", type=float, nargs="+", default=[5, 10, 15, 20])
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
        rows = evaluate(model, photos, args.lengths, args.seeds, tuple(args.conditions))
        summary = summarise(rows, args.lengths)
        label = f"{loaded.path.name} ({loaded.sha256[:12]})"
        results[label] = {**summary, "rows": rows}
        print(f"\n{label}, {loaded.variant}: {len(photos)} held-out photos, "
              f"{args.size}px crops, {time.perf_counter() - started:.0f} s")
        print("| condition | shake | PSNR in -> out (gain) | SSIM in -> out | "
              "fine detail in -> out |")
        print("|---|---|---|---|---|")
        for condition, figures in summary["conditions"].items():
            for length in [*args.lengths, "mean"]:
                m = (figures["mean"] if length == "mean"
                     else figures["by_length"][str(length)])
                shown = "**mean**" if length == "mean" else f"{length:g} px"
                print(f"| {condition} | {shown} | {m['input_psnr']:.2f} -> "
                      f"{m['output_psnr']:.2f} ({m['psnr_gain']:+.2f} dB) | "
                      f"{m['input_ssim']:.3f} -> {m['output_ssim']:.3f} | "
                      f"{m['input_sharpness']:.3f} -> {m['output_sharpness']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    if args.plot:
        plot({f"{name} {condition}": figures for name, result in results.items()
              for condition, figures in result["conditions"].items()}, args.lengths, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
