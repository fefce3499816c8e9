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

:func:`render_files` says which files, formats and pixel sizes a render of an entry
writes, from the same size rules: a merged shard (:mod:`modelkb.gallery.shardcheck`) may
bring exactly those.

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
AUTO_LABEL = "where the model changed the photo most"  # the automatic crop's label
DIFF_MAX = 10.0  # ΔE00 at which the heat map saturates (2 is just noticeable)
# Heat map colours from "no change" to DIFF_MAX: near-black, purple, red-orange, yellow.
HEAT_STOPS = ((0.0, (12, 10, 24)), (0.25, (84, 20, 120)), (0.55, (200, 50, 70)),
              (0.8, (245, 140, 30)), (1.0, (252, 240, 120)))


def to_pil8(rgb: np.ndarray) -> Image.Image:
    from modelkb.pixels.imaging import to_pil

    return to_pil(rgb)


def fit_size(size: tuple[int, int], side: int) -> tuple[int, int]:
    """``size`` scaled down so its long side is at most ``side`` (unchanged when it is)."""
    if max(size) <= side:
        return size
    scale = side / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _fit(image: Image.Image, side: int) -> Image.Image:
    """The image scaled down (Lanczos) so its long side is at most ``side``."""
    from PIL import Image

    size = fit_size(image.size, side)
    return image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)


def _save_webp(image: Image.Image, path: Path, quality: int = WEBP_QUALITY) -> tuple[int, int]:
    """Write ``image`` as WebP; returns its (width, height)."""
    image.save(path, format="WEBP", quality=quality, method=6)
    return image.size


def auto_crop_side(width: int, height: int) -> int:
    """The side of the automatic crop's square on an input of ``width`` x ``height``."""
    return min(max(8, min(128, min(height, width) // 4)), height, width)


def auto_crop(input_rgb: np.ndarray, restored: np.ndarray) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the square where the model changed the image most (box-filtered |diff|)."""
    import numpy as np
    from scipy.ndimage import uniform_filter

    height, width = input_rgb.shape[:2]
    side = auto_crop_side(width, height)
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


def _clamp_crop(crop: Crop, width: int, height: int, entry_id: str, quiet: bool = False
                ) -> tuple[int, int, int, int]:
    x, y = min(crop.x, width - 1), min(crop.y, height - 1)
    w, h = min(crop.width, width - x), min(crop.height, height - y)
    if (x, y, w, h) != (crop.x, crop.y, crop.width, crop.height) and not quiet:
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

    files = {}
    for role, array in images.items():
        x0, y0, x1, y1 = crop_bounds(role, box, scale)
        piece = Image.fromarray(array[y0:y1, x0:x1])
        files[role] = f"{name}-{role}.webp"
        _save_webp(piece, folder / files[role], quality=CROP_QUALITY)
    return files, crop_shown_size(box, scale)


def crop_bounds(role: str, box: tuple[int, int, int, int], scale: float
                ) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the crop ``box`` (input pixels) in the view ``role`` (the input
    at its size, the others at the output's: ``scale`` times it), before the array clips."""
    x, y, w, h = box
    factor = 1.0 if role == "input" else scale
    x0, y0 = round(x * factor), round(y * factor)
    if role == "input":
        return x0, y0, x0 + w, y0 + h
    return x0, y0, x0 + max(1, round(w * scale)), y0 + max(1, round(h * scale))


def crop_shown_size(box: tuple[int, int, int, int], scale: float) -> tuple[int, int]:
    """The (width, height) a crop's views are shown at: the output's pixels, zoomed alike
    by a whole factor to about CROP_SIDE."""
    ow, oh = max(1, round(box[2] * scale)), max(1, round(box[3] * scale))
    zoom = max(1, round(CROP_SIDE / max(ow, oh)))
    return ow * zoom, oh * zoom


FileShape = tuple[str, tuple[int, int] | None]  # (format: PNG, WEBP or JSON; pixel size)


def crop_boxes(entry: GalleryEntry, input_size: tuple[int, int], restored: bool,
               auto_box: tuple[int, int, int, int] | None
               ) -> list[tuple[str, tuple[int, int, int, int], str | None, bool]]:
    """(name, box in input pixels, label, automatic) of each crop a render writes: the
    entry's crops clipped to the input, and with a restore step the automatic one at
    ``auto_box`` (where :func:`auto_crop` found it)."""
    width, height = input_size
    boxes = [(f"crop-{i}", _clamp_crop(c, width, height, entry.id, quiet=True), c.label, False)
             for i, c in enumerate(entry.crops, start=1)]
    if restored and auto_box is not None:
        boxes.append(("crop-auto", auto_box, AUTO_LABEL, True))
    return boxes


def render_files(entry: GalleryEntry, workflow: Workflow, input_size: tuple[int, int],
                 auto_box: tuple[int, int, int, int] | None = None) -> dict[str, FileShape]:
    """Every file :func:`render_entry` writes for ``entry`` on an input of ``input_size``
    (as decoded: EXIF orientation applied): name -> (format, pixel size); ``metrics.json``
    -> ("JSON", None). ``auto_box`` is where the automatic crop is (with a restore step)."""
    from modelkb.pixels.workflows import resized_size, total_scale

    output = input_size
    restored = False
    for step in workflow.steps:
        if step.op == "resize":
            output = resized_size(*output, step.scale)
        else:
            restored = True
    views = {"output": fit_size(output, WEB_SIDE), "baseline": fit_size(output, WEB_SIDE),
             "input": fit_size(input_size, WEB_SIDE)}
    if entry.reference:
        views["reference"] = fit_size(output, WEB_SIDE)
    if restored:
        views["diff"] = input_size
    views["thumb-input"] = fit_size(input_size, THUMB_SIDE)
    views["thumb-output"] = fit_size(output, THUMB_SIDE)
    files: dict[str, FileShape] = {f"{name}.webp": ("WEBP", size) for name, size in views.items()}
    roles = ["input", "baseline", "output"] + (["reference"] if entry.reference else [])
    scale = total_scale(workflow)
    for name, box, _label, _auto in crop_boxes(entry, input_size, restored, auto_box):
        for role in roles:
            limit = input_size if role == "input" else output
            x0, y0, x1, y1 = crop_bounds(role, box, scale)
            files[f"{name}-{role}.webp"] = ("WEBP", (min(x1, limit[0]) - x0,
                                                     min(y1, limit[1]) - y0))
    files["metrics.json"] = ("JSON", None)
    return files


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
    for crop in entry.crops:  # warn about crops reaching outside the input
        _clamp_crop(crop, width, height, entry.id)
    boxes = crop_boxes(entry, (width, height), restored is not None,
                       auto_crop(rgb, restored) if restored is not None else None)
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
