"""Copy the assembled training photos at about 1.6 MP (JPEG q95) for a GPU session's carry.

    .venv/bin/python benchmarks/gpu_prepare.py PHOTOS_DIR .gpu   # writes .gpu/photos/...

The trainer scales photos to 1.6 MP anyway (--max-pixels), so nothing is lost; the copies
keep the whole set under the device tool's 64 MiB limit together with the wheels.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from PIL import Image

MAX_PIXELS = 1_600_000


def main(argv: list[str]) -> int:
    """Copy PHOTOS/{train,heldout}/* to OUT/photos/ at most MAX_PIXELS each."""
    source, out = Path(argv[0]), Path(argv[1]) / "photos"
    for role in ("train", "heldout"):
        (out / role).mkdir(parents=True, exist_ok=True)
        for path in sorted((source / role).iterdir()):
            with Image.open(path) as image:
                image = image.convert("RGB")
                if image.width * image.height > MAX_PIXELS:
                    scale = (MAX_PIXELS / (image.width * image.height)) ** 0.5
                    image = image.resize((round(image.width * scale),
                                          round(image.height * scale)), Image.Resampling.LANCZOS)
                image.save(out / role / f"{path.stem}.jpg", quality=95)
    shutil.copy(source / "SOURCES.md", out / "SOURCES.md")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
