"""Draw the pictures of docs/degradations.md: sample kernels and a degraded crop.

    .venv/bin/python benchmarks/degradation_figures.py [OUT_DIR]

Writes kernels.png (16 seeded kernels, shake 3-13 px as trained) and crop.png (a sharp
crop of skimage's `coffee` beside three seeded degradations) into
docs/assets/degradations/ by default.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from modelkb.train.degrade import DegradeConfig, degrade, sample_kernel
from modelkb.train.skimage_photos import load

CELL = 72  # pixels per kernel tile
CONFIG = DegradeConfig(length=(3.0, 13.0))


def kernel_tile(kernel: np.ndarray, cell: int = CELL, box: int = 25) -> Image.Image:
    """A kernel centred in a box x box grid, scaled to its peak, enlarged (nearest)."""
    canvas = np.zeros((box, box), np.float32)
    k = kernel[: box, : box]
    top, left = (box - k.shape[0]) // 2, (box - k.shape[1]) // 2
    canvas[top : top + k.shape[0], left : left + k.shape[1]] = k / k.max()
    grey = (np.sqrt(canvas) * 255).astype(np.uint8)  # sqrt shows the faint tails
    return Image.fromarray(grey).resize((cell, cell), Image.Resampling.NEAREST)


def kernels_figure(out: Path, count: int = 16, columns: int = 8) -> None:
    """Write a grid of seeded kernels with their shake length written under each."""
    rows = (count + columns - 1) // columns
    sheet = Image.new("L", (columns * (CELL + 4) + 4, rows * (CELL + 18) + 4), 40)
    draw = ImageDraw.Draw(sheet)
    for seed in range(count):
        kernel, params = sample_kernel(seed, CONFIG)
        x = 4 + (seed % columns) * (CELL + 4)
        y = 4 + (seed // columns) * (CELL + 18)
        sheet.paste(kernel_tile(kernel), (x, y))
        label = f"{params['length']:.0f}px"
        if params["defocus_radius"]:
            label += f" d{params['defocus_radius']:.1f}"
        draw.text((x + 2, y + CELL + 2), label, fill=220)
    sheet.save(out / "kernels.png", optimize=True)


def crop_figure(out: Path, size: int = 128) -> None:
    """Write sharp | three degradations of one crop, with their parameters in a caption."""
    photo = load("coffee")
    top, left = 120, 300
    sharp = photo[top : top + size, left : left + size].astype(np.float32) / 255.0
    tiles = [sharp]
    for seed in (1, 2, 3):
        blurred, _ = degrade(sharp, seed, CONFIG)
        tiles.append(blurred)
    strip = np.concatenate([np.pad(t, ((0, 0), (0, 4), (0, 0)), constant_values=1) for t in tiles],
                           axis=1)
    Image.fromarray((strip * 255).round().astype(np.uint8)).save(out / "crop.png", optimize=True)


def main(argv: list[str]) -> int:
    """Write both figures."""
    out = Path(argv[0]) if argv else Path("docs/assets/degradations")
    out.mkdir(parents=True, exist_ok=True)
    kernels_figure(out)
    crop_figure(out)
    for path in sorted(out.glob("*.png")):
        print(path, path.stat().st_size, "bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
