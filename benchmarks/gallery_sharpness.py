"""Laplacian sharpness of each gallery photo: input, restored and sharp reference (issue 18).

For every ``gallery_src/<name>_blurred.*`` with a ``<name>_sharp.png`` this restores the
blurred photo with each weights file (as the site does: whole image, 8-bit output) and prints
the variance of the Laplacian of input, output and reference, and whether the output is
closer to the reference than the input is (|log(out/ref)| < |log(in/ref)|), plus PSNR and
the fine-detail band error of issue 25: the RMS difference to the reference in a band of fine
detail (a difference of Gaussians, sigma 1 minus sigma 2, on grey), output against input.
The gallery's "Resize only" view is the input through the same 2x resize as "Model +
resize", so the ratio is measured before that shared resize; "band" below 0.90 means the
output's fine-detail error is at least 10% below the plain resize's (the issue's target).

    .venv/bin/python benchmarks/gallery_sharpness.py [--weights FILE ...] [--threads 2]
        [--json OUT] [--strips DIR]

``--strips DIR`` writes one PNG per photo: a centre crop of the input, each weights file's
output and the reference, side by side at 2x (nearest), to look for ringing and halos that
raise the Laplacian measure without restoring anything.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _centre(image: np.ndarray, size: int = 160) -> np.ndarray:
    """The central size x size region (or less, for a smaller image)."""
    h, w = image.shape[:2]
    top, left = max((h - size) // 2, 0), max((w - size) // 2, 0)
    return image[top : top + size, left : left + size]


def dog_band(rgb: np.ndarray) -> np.ndarray:
    """Fine detail of an RGB image in [0, 1]: grey (Rec. 709 weights), Gaussian sigma 1
    minus Gaussian sigma 2."""
    from scipy.ndimage import gaussian_filter

    grey = rgb[..., :3].astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])
    return gaussian_filter(grey, 1.0) - gaussian_filter(grey, 2.0)


def band_error(image: np.ndarray, reference: np.ndarray) -> float:
    """RMS difference of the fine-detail bands of an image and its reference."""
    return float(np.sqrt(np.mean((dog_band(image) - dog_band(reference)) ** 2)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", nargs="*", default=[None],
                        help="weights files (default: the shipped weights)")
    parser.add_argument("--gallery", type=Path, default=ROOT / "gallery_src")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--strips", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch

    from modelkb.models.weights import load_weights
    from modelkb.pixels.imaging import read_image
    from modelkb.pixels.metrics import laplacian_variance, psnr
    from modelkb.train.recipe import restore_8bit

    if args.threads:
        torch.set_num_threads(args.threads)
    pairs = []
    for sharp_path in sorted(args.gallery.glob("*_sharp.png")):
        name = sharp_path.name[: -len("_sharp.png")]
        blurred = sorted(args.gallery.glob(f"{name}_blurred.*"))
        if blurred:
            pairs.append((name, read_image(blurred[0]).rgb, read_image(sharp_path).rgb))
    results = []
    all_ok = True
    crops: dict[str, list[np.ndarray]] = {name: [_centre(b)] for name, b, _ in pairs}
    for weights in args.weights:
        loaded = load_weights(weights)
        print(f"# {loaded.path.name} sha256 {loaded.sha256[:12]}")
        print(f"{'photo':10} {'in':>8} {'out':>8} {'ref':>8} {'out/ref':>8} "
              f"{'closer':>6} {'dPSNR':>6} {'band':>6}")
        for name, blurred, sharp in pairs:
            restored = restore_8bit(loaded.model, blurred)
            crops[name].append(_centre(restored))
            lin, lout, lref = (laplacian_variance(a) for a in (blurred, restored, sharp))
            closer = abs(math.log(lout / lref)) < abs(math.log(lin / lref))
            gain = psnr(restored, sharp) - psnr(blurred, sharp)
            band = band_error(restored, sharp) / band_error(blurred, sharp)
            all_ok &= closer
            print(f"{name:10} {lin:8.5f} {lout:8.5f} {lref:8.5f} {lout / lref:8.3f} "
                  f"{'yes' if closer else 'NO':>6} {gain:+6.2f} {band:6.3f}")
            results.append({"weights": loaded.path.name, "sha256": loaded.sha256, "photo": name,
                            "input": lin, "restored": lout, "reference": lref,
                            "closer": closer, "psnr_gain": gain, "band_error_ratio": band})
        met = sum(r["band_error_ratio"] <= 0.9 for r in results if r["sha256"] == loaded.sha256)
        print(f"band error at least 10% below the input's: {met} of {len(pairs)} photos")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.strips:
        from PIL import Image

        args.strips.mkdir(parents=True, exist_ok=True)
        for name, _blurred, sharp in pairs:
            row = np.concatenate([*crops[name], _centre(sharp)], axis=1)
            image = Image.fromarray(np.round(row * 255).astype(np.uint8))
            image.resize((image.width * 2, image.height * 2), Image.Resampling.NEAREST).save(
                args.strips / f"{name}.png")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
