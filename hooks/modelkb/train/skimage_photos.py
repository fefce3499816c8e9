"""The photos bundled inside scikit-image used to train the shipped weights, with licences.

Only files that ship in the scikit-image wheel are used (no pooch downloads). `astronaut`
and `chelsea` are held out: never trained on, used to measure the held-out gain.
Run ``python -m modelkb.train.skimage_photos OUT_DIR`` to write OUT_DIR/train and
OUT_DIR/heldout as PNG files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

# name (skimage.data function) -> (role, licence as stated in skimage.data's docstrings)
PHOTOS: dict[str, tuple[str, str]] = {
    "coffee": ("train", "CC0 (photographer Rachel Michetti)"),
    "rocket": ("train", "public domain (SpaceX)"),
    "hubble_deep_field": ("train", "public domain (NASA)"),
    "immunohistochemistry": ("train", "no known copyright restrictions (CMMI)"),
    "retina": ("train", "CC0 1.0 (Mikael Häggström, Wikimedia Commons)"),
    "camera": ("train", "CC0 (photographer Lav Varshney); grey, replicated to RGB"),
    "brick": ("train", "CC0 (CC0Textures); grey, replicated to RGB"),
    "grass": ("train", "CC0 (DeviantArt linolafett); grey, replicated to RGB"),
    "gravel": ("train", "CC0 (CC0Textures); grey, replicated to RGB"),
    "coins": ("train", "no known copyright restrictions (Brooklyn Museum); grey, as RGB"),
    "astronaut": ("heldout", "public domain (NASA)"),
    "chelsea": ("heldout", "CC0 (photographer Stefan van der Walt)"),
}

MAX_SIDE = 640  # larger training photos are downscaled (less JPEG noise, balanced sampling)


def load(name: str) -> np.ndarray:
    """A bundled scikit-image photo as HxWx3 uint8 (grey replicated)."""
    import skimage.data

    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3]).astype(np.uint8)


def export(out_dir: Path, max_side: int | None = MAX_SIDE) -> dict[str, list[Path]]:
    """Write OUT/train/*.png and OUT/heldout/*.png (training ones at most `max_side`)."""
    written: dict[str, list[Path]] = {"train": [], "heldout": []}
    for name, (role, _licence) in PHOTOS.items():
        image = Image.fromarray(load(name))
        if role == "train" and max_side and max(image.size) > max_side:
            scale = max_side / max(image.size)
            size = (round(image.size[0] * scale), round(image.size[1] * scale))
            image = image.resize(size, Image.Resampling.LANCZOS)
        folder = out_dir / role
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        image.save(path)
        written[role].append(path)
    return written


if __name__ == "__main__":
    files = export(Path(sys.argv[1] if len(sys.argv) > 1 else ".cache/skimage-photos"))
    for role, paths in files.items():
        print(role, " ".join(p.name for p in paths))
