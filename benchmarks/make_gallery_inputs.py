"""Write the shipped gallery inputs: held-out scikit-image photos, blurred realistically.

For each photo: ``gallery_src/<name>_sharp.png`` (the reference) and
``gallery_src/<name>_blurred.jpg`` (camera shake + sensor noise from
:mod:`modelkb.train.degrade`, with a fixed seed, saved as a JPEG at quality 85 like a phone
snapshot), plus ``gallery_src/SOURCES.md`` with sources and licences.

Only photos that :mod:`modelkb.train.skimage_photos` holds out of training are used, so the
gallery shows the model on pictures it never saw. Run from the repository root::

    python benchmarks/make_gallery_inputs.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from modelkb.train.degrade import DegradeConfig, degrade, describe
from modelkb.train.skimage_photos import PHOTOS, load

# name -> (seed, caption, source URL)
GALLERY: dict[str, tuple[int, str, str]] = {
    "astronaut": (
        5, "Astronaut Eileen Collins, NASA portrait (skin tones, fabric, flag)",
        "https://flic.kr/p/r9qvLn",
    ),
    "chelsea": (
        11, "Chelsea the cat (fur, whiskers)",
        "https://github.com/scikit-image/scikit-image/tree/main/skimage/data",
    ),
}
MAX_SIDE = 512
JPEG_QUALITY = 85
# Moderate, visible shake; JPEG is applied once, at the end, at a fixed quality.
CONFIG = DegradeConfig(length=(9.0, 13.0), defocus_prob=0.0, photons=(1500.0, 2500.0),
                       read_noise=(0.001, 0.003), jpeg_prob=0.0)


def make(name: str, seed: int, out_dir: Path) -> dict[str, str]:
    """Write <name>_sharp.png and <name>_blurred.jpg; returns a description of the blur."""
    role, _licence = PHOTOS[name]
    if role != "heldout":
        raise SystemExit(f"{name} is used for training; the gallery must show held-out photos")
    sharp = Image.fromarray(load(name))
    if max(sharp.size) > MAX_SIDE:
        scale = MAX_SIDE / max(sharp.size)
        sharp = sharp.resize((round(sharp.width * scale), round(sharp.height * scale)),
                             Image.Resampling.LANCZOS)
    blurred, params = degrade(np.asarray(sharp), seed, CONFIG)
    params.pop("jpeg_quality", None)  # JPEG is applied below, at JPEG_QUALITY
    sharp.save(out_dir / f"{name}_sharp.png", optimize=True)
    u8 = np.round(np.clip(blurred, 0, 1) * 255).astype(np.uint8)
    Image.fromarray(u8).save(out_dir / f"{name}_blurred.jpg", quality=JPEG_QUALITY)
    return {"blur": describe(params), "size": f"{sharp.width}x{sharp.height}"}


def main(out_dir: Path) -> None:
    """Write every gallery input and SOURCES.md into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Gallery inputs: sources and licences",
        "",
        "Written by `python benchmarks/make_gallery_inputs.py` (fixed seeds: rerunning it",
        "gives the same files). Each `<name>_sharp.png` is a photo bundled with scikit-image",
        "(downscaled to at most 512 pixels); `<name>_blurred.jpg` is the same photo with",
        "synthetic camera shake and sensor noise (`modelkb.train.degrade`), saved as a JPEG at",
        f"quality {JPEG_QUALITY}. Both photos are held out of the training of the shipped",
        "weights (`modelkb.train.skimage_photos`).",
        "",
        "| Files | Photo | Source | Licence | Degradation |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, (seed, caption, url) in GALLERY.items():
        done = make(name, seed, out_dir)
        licence = PHOTOS[name][1]
        lines.append(f"| `{name}_blurred.jpg`, `{name}_sharp.png` ({done['size']}) | {caption} "
                     f"| scikit-image `skimage.data.{name}()`, from <{url}> | {licence} "
                     f"| seed {seed}: {done['blur']}, JPEG q{JPEG_QUALITY} |")
    lines += [
        "",
        "The astronaut portrait is a NASA photograph from the NASA Great Images database",
        "(scikit-image: \"No known copyright restrictions, released into the public domain\").",
        "The cat photo was released under CC0 by its photographer, Stefan van der Walt, for",
        "scikit-image. See scikit-image's `skimage/data/README.txt` for the bundled data's",
        "provenance.",
        "",
    ]
    (out_dir / "SOURCES.md").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "gallery_src"))
