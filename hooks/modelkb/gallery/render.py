"""What a gallery entry publishes: web-sized WebP images, thumbnails, zoomed crops, metrics.json.

Rendering reads a computed result (``results/<key>``) and writes the files pages show into a
``renders/<key>`` cache entry; it never runs a model (the resize-only baseline is cheap).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from modelkb.catalog import Crop, GalleryEntry, Workflow
from modelkb.gallery.records import CropInfo, GalleryRecord

if TYPE_CHECKING:  # numpy and Pillow load only to compute or render: cached builds skip them
    import numpy as np
    from PIL import Image

log = logging.getLogger("mkdocs.plugins.modelkb")

RENDER_VERSION = 1  # bump when the published files change (sizes, crops, formats)
WEB_SIDE = 1600
THUMB_SIDE = 320
CROP_MIN_SIDE = 256  # crops are zoomed (nearest neighbour) until their long side reaches this
CROP_GAP = 8
WEBP_QUALITY = 85


def to_pil8(rgb: np.ndarray) -> Image.Image:
    from modelkb.imaging import to_pil

    return to_pil(rgb)


def _fit(image: Image.Image, side: int) -> Image.Image:
    """The image scaled down (Lanczos) so its long side is at most ``side``."""
    from PIL import Image

    if max(image.size) <= side:
        return image
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _save_webp(image: Image.Image, path: Path) -> None:
    image.save(path, format="WEBP", quality=WEBP_QUALITY, method=4)


def read_rgb(path: Path) -> np.ndarray:
    """Float RGB in [0, 1] of a PNG this module wrote."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float32) / np.float32(255)


def as_u8(rgb: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.asarray(to_pil8(rgb).convert("RGB"))


def auto_crop(input_rgb: np.ndarray, restored: np.ndarray) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the square where the model changed the image most (box-filtered |diff|)."""
    import numpy as np
    from scipy.ndimage import uniform_filter

    height, width = input_rgb.shape[:2]
    side = max(8, min(128, min(height, width) // 4))
    side = min(side, height, width)
    diff = np.abs(restored.astype(np.float32) - input_rgb.astype(np.float32)).mean(axis=2)
    box = uniform_filter(diff, size=side, mode="constant")
    half = side // 2
    valid = box[half : height - side + half + 1, half : width - side + half + 1]
    y, x = np.unravel_index(int(np.argmax(valid)), valid.shape)
    return int(x), int(y), side, side


def _clamp_crop(crop: Crop, width: int, height: int, entry_id: str) -> tuple[int, int, int, int]:
    x, y = min(crop.x, width - 1), min(crop.y, height - 1)
    w, h = min(crop.width, width - x), min(crop.height, height - y)
    if (x, y, w, h) != (crop.x, crop.y, crop.width, crop.height):
        log.warning("gallery: %s: crop %d,%d %dx%d reaches outside the %dx%d input; "
                    "clipped to %d,%d %dx%d", entry_id, crop.x, crop.y, crop.width, crop.height,
                    width, height, x, y, w, h)
    return x, y, w, h


def _write_crops(folder: Path, name: str, box: tuple[int, int, int, int], scale: float,
                 images: dict[str, np.ndarray]) -> dict[str, str]:
    """Crop input/baseline/output at ``box`` (input pixels), zoomed alike; one file each + side."""
    from PIL import Image

    x, y, w, h = box
    ow, oh = max(1, round(w * scale)), max(1, round(h * scale))
    zoom = max(1, math.ceil(CROP_MIN_SIDE / max(ow, oh)))
    size = (ow * zoom, oh * zoom)
    tiles: dict[str, Image.Image] = {}
    for role, array in images.items():
        factor = 1.0 if role == "input" else scale
        x0, y0 = round(x * factor), round(y * factor)
        x1 = x0 + (w if role == "input" else ow)
        y1 = y0 + (h if role == "input" else oh)
        piece = Image.fromarray(array[y0:y1, x0:x1])
        tiles[role] = piece.resize(size, Image.Resampling.NEAREST)
    files = {}
    for role, tile in tiles.items():
        files[role] = f"{name}-{role}.png"
        tile.save(folder / files[role])
    side = Image.new("RGB", (size[0] * len(tiles) + CROP_GAP * (len(tiles) - 1), size[1]),
                     (255, 255, 255))
    for i, tile in enumerate(tiles.values()):
        side.paste(tile, (i * (size[0] + CROP_GAP), 0))
    files["side"] = f"{name}.png"
    side.save(folder / files["side"])
    return files


def render_entry(folder: Path, entry: GalleryEntry, workflow: Workflow, rgb: np.ndarray,
                 result_dir: Path, key: str) -> GalleryRecord:
    """Write the published files of one computed entry into ``folder``; returns its record."""
    import numpy as np

    from modelkb.gallery.workflows import run_workflow, total_scale

    run = json.loads((result_dir / "run.json").read_text(encoding="utf-8"))
    output = read_rgb(result_dir / "output.png")
    restored = (read_rgb(result_dir / "restored.png")
                if (result_dir / "restored.png").is_file() else None)
    baseline = run_workflow(workflow, rgb, only_resize=True).output
    scale = total_scale(workflow)
    height, width = rgb.shape[:2]

    input_img, output_img, baseline_img = to_pil8(rgb), to_pil8(output), to_pil8(baseline)
    _save_webp(_fit(output_img, WEB_SIDE), folder / "output.webp")
    _save_webp(_fit(baseline_img, WEB_SIDE), folder / "baseline.webp")
    _save_webp(_fit(input_img, WEB_SIDE), folder / "input.webp")
    _save_webp(_fit(input_img, THUMB_SIDE), folder / "thumb-input.webp")
    _save_webp(_fit(output_img, THUMB_SIDE), folder / "thumb-output.webp")

    arrays = {"input": np.asarray(input_img.convert("RGB")),
              "baseline": np.asarray(baseline_img.convert("RGB")),
              "output": np.asarray(output_img.convert("RGB"))}
    crops: list[CropInfo] = []
    boxes: list[tuple[str, tuple[int, int, int, int], str | None, bool]] = [
        (f"crop-{i}", _clamp_crop(c, width, height, entry.id), c.label, False)
        for i, c in enumerate(entry.crops, start=1)]
    if restored is not None:
        boxes.append(("crop-auto", auto_crop(rgb, restored),
                      "where the model changed the photo most", True))
    for name, box, label, automatic in boxes:
        files = _write_crops(folder, name, box, scale, arrays)
        crops.append(CropInfo(name=name, label=label, auto=automatic, x=box[0], y=box[1],
                              width=box[2], height=box[3], files=files))
    info = {"id": entry.id, "key": key, "render_version": RENDER_VERSION,
            "input_file": entry.input, "reference_file": entry.reference,
            "scale": scale, **run, "crops": [asdict(c) for c in crops]}
    (folder / "metrics.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return GalleryRecord.from_dict(info)
