"""What a gallery entry publishes: the viewer's images, thumbnails, zoomed crops, metrics.json.

Rendering reads a computed result (``results/<key>``) and writes the files pages show into a
``renders/<key>`` cache entry; it never runs a model (the resize-only baseline is cheap).
Every file written here is linked from the pages (nothing is published unseen):

- ``output.webp``, ``baseline.webp`` and, with a sharp reference, ``reference.webp``: the
  comparison viewer's views at the output's size (the reference resized like the baseline,
  so all three line up pixel for pixel);
- ``input.webp`` (the input at its own size) and ``diff.webp`` (a heat map of the CIEDE2000
  colour difference between input and restored photo: where the model changed it);
- ``thumb-input.webp``, ``thumb-output.webp``: the workflow nodes' thumbnails, at the size
  they are shown;
- ``crop-<n>-<role>.webp``: zoomed crops (nearest neighbour, lossless), at the size shown;
- ``metrics.json``: the record of the run (:class:`~modelkb.gallery.records.GalleryRecord`),
  with its ``focus``: the window of the output where the model changed the photo most
  against the plain resize (the viewer opens there at 1:1).

The renders cache key holds this module's code and what it imports
(:func:`modelkb.gallery.single.render_code_key`: the pixel package's imaging, workflows and
metrics, the gallery's records), Pillow's version and :data:`RENDER_VERSION`: a change here
re-renders without recomputing a picture.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from modelkb.gallery.records import CropInfo, Focus, GalleryRecord

if TYPE_CHECKING:  # numpy and Pillow load only to compute or render: cached builds skip them
    import numpy as np
    from PIL import Image

    from modelkb.catalog import Crop, GalleryEntry, Workflow

log = logging.getLogger(__name__)

RENDER_VERSION = 5  # bump to re-render every entry when nothing here changed but should
WEB_SIDE = 1600  # the viewer's images (outputs up to this size are published 1:1)
THUMB_SIDE = 192  # workflow-node thumbnails: shown at most 12rem (192 CSS px) wide
FOCUS_SIDE = 720  # the focus window: 3:2, at most this wide (as a link-preview card's halves)
CROP_SIDE = 232  # crops are shown about this wide (a 3-4 column grid), zoomed alike
WEBP_QUALITY = 82  # the model's output
SOFT_QUALITY = 62  # views that are blurry or noise (baseline, input, reference, heat map)
CROP_QUALITY = 90  # crops are published at their real pixels and zoomed by the browser
DIFF_MAX = 10.0  # ΔE00 at which the heat map saturates (2 is just noticeable)
# Heat map colours from "no change" to DIFF_MAX: near-black, purple, red-orange, yellow.
HEAT_STOPS = ((0.0, (12, 10, 24)), (0.25, (84, 20, 120)), (0.55, (200, 50, 70)),
              (0.8, (245, 140, 30)), (1.0, (252, 240, 120)))


def to_pil8(rgb: np.ndarray) -> Image.Image:
    from modelkb.pixels.imaging import to_pil

    return to_pil(rgb)


def _fit(image: Image.Image, side: int) -> Image.Image:
    """The image scaled down (Lanczos) so its long side is at most ``side``."""
    from PIL import Image

    if max(image.size) <= side:
        return image
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _save_webp(image: Image.Image, path: Path, quality: int = WEBP_QUALITY) -> tuple[int, int]:
    """Write ``image`` as WebP; returns its (width, height)."""
    image.save(path, format="WEBP", quality=quality, method=6)
    return image.size


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


def changed_most(before: Image.Image, after: Image.Image, size: tuple[int, int]
                 ) -> tuple[int, int]:
    """Top-left corner of the ``size`` window where ``after`` differs most from ``before``
    (images of one size; luminance differences summed with an integral image)."""
    import numpy as np

    w, h = size
    a = np.asarray(after.convert("L"), dtype=np.float64)
    b = np.asarray(before.convert("L"), dtype=np.float64)
    diff = np.abs(a - b)
    table = np.pad(diff.cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # integral image
    sums = table[h:, w:] - table[:-h, w:] - table[h:, :-w] + table[:-h, :-w]
    y, x = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(x), int(y)


def focus_window(before: Image.Image, after: Image.Image) -> Focus:
    """The 3:2 window (at most FOCUS_SIDE wide) of ``after`` where it differs most from
    ``before`` (:func:`changed_most`, as link-preview cards choose theirs), with the mean
    difference there."""
    import numpy as np

    width, height = after.size
    w = min(width, FOCUS_SIDE)
    h = min(height, max(1, round(w / 1.5)))
    x, y = changed_most(before, after, (w, h))
    a = np.asarray(after.convert("L").crop((x, y, x + w, y + h)), dtype=np.float64)
    b = np.asarray(before.convert("L").crop((x, y, x + w, y + h)), dtype=np.float64)
    return Focus(x=x, y=y, width=w, height=h, change=round(float(np.abs(a - b).mean()), 3))


def _clamp_crop(crop: Crop, width: int, height: int, entry_id: str) -> tuple[int, int, int, int]:
    x, y = min(crop.x, width - 1), min(crop.y, height - 1)
    w, h = min(crop.width, width - x), min(crop.height, height - y)
    if (x, y, w, h) != (crop.x, crop.y, crop.width, crop.height):
        log.warning("gallery: %s: crop %d,%d %dx%d reaches outside the %dx%d input; "
                    "clipped to %d,%d %dx%d", entry_id, crop.x, crop.y, crop.width, crop.height,
                    width, height, x, y, w, h)
    return x, y, w, h


def heat_map(input_rgb: np.ndarray, restored: np.ndarray) -> Image.Image:
    """CIEDE2000 between input and restored photo as colours (HEAT_STOPS, 0 to DIFF_MAX)."""
    import numpy as np
    from PIL import Image

    from modelkb.pixels.metrics import delta_e_map

    t = np.clip(delta_e_map(input_rgb, restored) / DIFF_MAX, 0.0, 1.0)
    xs = [stop for stop, _ in HEAT_STOPS]
    channels = [np.interp(t, xs, [colour[c] for _, colour in HEAT_STOPS]) for c in range(3)]
    return Image.fromarray(np.round(np.stack(channels, axis=-1)).astype(np.uint8))


def _write_crops(folder: Path, name: str, box: tuple[int, int, int, int], scale: float,
                 images: dict[str, np.ndarray]) -> tuple[dict[str, str], tuple[int, int]]:
    """Crop each view at ``box`` (input pixels): one WebP per view at its real pixels (the
    page zooms them alike, nearest neighbour, to about CROP_SIDE). Returns (files by role,
    (width, height) they are shown at)."""
    from PIL import Image

    x, y, w, h = box
    ow, oh = max(1, round(w * scale)), max(1, round(h * scale))
    zoom = max(1, round(CROP_SIDE / max(ow, oh)))
    size = (ow * zoom, oh * zoom)
    files = {}
    for role, array in images.items():
        factor = 1.0 if role == "input" else scale
        x0, y0 = round(x * factor), round(y * factor)
        x1 = x0 + (w if role == "input" else ow)
        y1 = y0 + (h if role == "input" else oh)
        piece = Image.fromarray(array[y0:y1, x0:x1])
        files[role] = f"{name}-{role}.webp"
        _save_webp(piece, folder / files[role], quality=CROP_QUALITY)
    return files, size


def render_entry(folder: Path, entry: GalleryEntry, workflow: Workflow, rgb: np.ndarray,
                 result_dir: Path, key: str, reference: np.ndarray | None = None
                 ) -> GalleryRecord:
    """Write the published files of one computed entry into ``folder``; returns its record."""
    import numpy as np
    from PIL import Image

    from modelkb.pixels.imaging import read_rgb
    from modelkb.pixels.runrecord import RunRecord
    from modelkb.pixels.workflows import run_workflow, total_scale

    run = RunRecord.read(result_dir / "run.json").run_dict()
    output = read_rgb(result_dir / "output.png")
    restored = (read_rgb(result_dir / "restored.png")
                if (result_dir / "restored.png").is_file() else None)
    baseline = run_workflow(workflow, rgb, only_resize=True).output
    scale = total_scale(workflow)
    height, width = rgb.shape[:2]

    input_img, output_img, baseline_img = to_pil8(rgb), to_pil8(output), to_pil8(baseline)
    sizes: dict[str, tuple[int, int]] = {}
    web = _fit(output_img, WEB_SIDE)
    sizes["output"] = _save_webp(web, folder / "output.webp")
    sizes["baseline"] = _save_webp(_fit(baseline_img, WEB_SIDE), folder / "baseline.webp",
                                   SOFT_QUALITY)
    sizes["input"] = _save_webp(_fit(input_img, WEB_SIDE), folder / "input.webp", SOFT_QUALITY)
    arrays = {"input": np.asarray(input_img.convert("RGB")),
              "baseline": np.asarray(baseline_img.convert("RGB")),
              "output": np.asarray(output_img.convert("RGB"))}
    if reference is not None and reference.shape == rgb.shape:
        # The sharp original through the same resize as the baseline: what a perfect
        # restoration followed by this workflow's enlargement would give.
        ref_big = to_pil8(reference).resize(output_img.size, Image.Resampling.LANCZOS)
        sizes["reference"] = _save_webp(_fit(ref_big, WEB_SIDE), folder / "reference.webp",
                                        SOFT_QUALITY)
        arrays["reference"] = np.asarray(ref_big.convert("RGB"))
    if restored is not None:
        sizes["diff"] = _save_webp(heat_map(rgb, restored), folder / "diff.webp", SOFT_QUALITY)
    sizes["thumb-input"] = _save_webp(_fit(input_img, THUMB_SIDE), folder / "thumb-input.webp")
    sizes["thumb-output"] = _save_webp(_fit(output_img, THUMB_SIDE),
                                       folder / "thumb-output.webp")

    crops: list[CropInfo] = []
    boxes: list[tuple[str, tuple[int, int, int, int], str | None, bool]] = [
        (f"crop-{i}", _clamp_crop(c, width, height, entry.id), c.label, False)
        for i, c in enumerate(entry.crops, start=1)]
    if restored is not None:
        boxes.append(("crop-auto", auto_crop(rgb, restored),
                      "where the model changed the photo most", True))
    for name, box, label, automatic in boxes:
        files, size = _write_crops(folder, name, box, scale, arrays)
        sizes[name] = size
        crops.append(CropInfo(name=name, label=label, auto=automatic, x=box[0], y=box[1],
                              width=box[2], height=box[3], files=files))
    info = {"id": entry.id, "key": key, "render_version": RENDER_VERSION,
            "input_file": entry.input, "reference_file": entry.reference,
            "scale": scale, **run, "crops": [asdict(c) for c in crops],
            "images": {name: {"width": w, "height": h} for name, (w, h) in sizes.items()},
            "focus": asdict(focus_window(baseline_img, output_img))}
    (folder / "metrics.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return GalleryRecord.from_dict(info)
