"""Held-out gain of MSSNet weights on scikit-image photos never trained on (issue 4).

Each held-out photo (astronaut, chelsea) is centre-cropped, degraded with fixed seeds by
modelkb.train.degrade (the training distribution, shake length 3-13 px), restored, and scored
with PSNR/SSIM (skimage.metrics, 8-bit output) against the sharp photo.

    .venv/bin/python benchmarks/eval_weights.py [--weights FILE] [--seeds 4] [--size 256]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    """Print per-image and mean PSNR/SSIM of blurred input vs restored output."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="default: the shipped file")
    parser.add_argument("--seeds", type=int, default=4, help="degradations per photo")
    parser.add_argument("--size", type=int, default=256, help="centre crop (multiple of 16)")
    parser.add_argument("--blur-length", type=float, nargs=2, default=(3.0, 13.0))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)

    import torch

    from modelkb.models.weights import load_weights
    from modelkb.train.data import centre_crop
    from modelkb.train.degrade import DegradeConfig, degrade
    from modelkb.train.recipe import psnr_ssim, restore_8bit
    from modelkb.train.skimage_photos import PHOTOS, load

    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = load_weights(args.weights)
    model = loaded.model.float().eval()
    config = DegradeConfig(length=tuple(args.blur_length))
    rows = []
    started = time.perf_counter()
    held_out = [name for name, (role, _) in PHOTOS.items() if role == "heldout"]
    for index, name in enumerate(held_out):
        sharp = centre_crop(load(name), args.size).astype(np.float32) / 255.0
        for seed in range(args.seeds):
            blurred, params = degrade(sharp, np.random.default_rng([2024, index, seed]), config)
            restored = restore_8bit(model, blurred)
            in_psnr, in_ssim = psnr_ssim(sharp, blurred)
            out_psnr, out_ssim = psnr_ssim(sharp, restored)
            rows.append({"image": name, "seed": seed, "blur_length": params["length"],
                         "input_psnr": in_psnr, "output_psnr": out_psnr,
                         "input_ssim": in_ssim, "output_ssim": out_ssim})
            print(f"{name:10s} seed {seed} shake {params['length']:5.1f}px  "
                  f"PSNR {in_psnr:6.2f} -> {out_psnr:6.2f} dB   "
                  f"SSIM {in_ssim:.4f} -> {out_ssim:.4f}")
    mean = {k: float(np.mean([r[k] for r in rows]))
            for k in ("input_psnr", "output_psnr", "input_ssim", "output_ssim")}
    mean["psnr_gain"] = mean["output_psnr"] - mean["input_psnr"]
    mean["ssim_gain"] = mean["output_ssim"] - mean["input_ssim"]
    print(f"mean over {len(rows)} held-out crops ({loaded.path.name}, {loaded.variant}): "
          f"PSNR {mean['input_psnr']:.2f} -> {mean['output_psnr']:.2f} dB "
          f"({mean['psnr_gain']:+.2f} dB), SSIM {mean['input_ssim']:.4f} -> "
          f"{mean['output_ssim']:.4f}; {time.perf_counter() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"mean": mean, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
