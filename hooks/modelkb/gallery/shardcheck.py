"""What a shard's cache entry may hold: exactly the files a render of that entry writes.

A shard folder comes from another machine (``modelkb gallery --shard I/N --export``), and
everything in a renders entry is published under the site's origin. So before
:func:`modelkb.gallery.shards.merge_caches` copies an entry, :class:`EntryChecker` holds it
to what this checkout's code would have written for it, from the catalog's entry, its
workflow and the size of its photo (read from the header of the site's own copy):

- the exact file names: ``results/<key>``: ``output.png``, ``restored.png`` (with a
  restore step) and ``run.json`` (:func:`result_files`, what
  :func:`modelkb.pixels.compute.compute` writes); ``renders/<key>``: the views, thumbnails,
  crops and ``metrics.json`` (:func:`modelkb.gallery.webimages.render_files`, from the
  size rules the render itself uses); plain files only (no folder, no symbolic link);
- images of the format their name says, of the exact pixel size a render makes, declaring
  no more than the gallery's pixel limit (``max_pixels``, as for the gallery's inputs;
  checked from the header, before any decoding), with no bytes after the image data, and
  decoding completely (a PNG's inflated data bounded by its declared size);
- records by their schema (:class:`~modelkb.pixels.runrecord.RunRecord`,
  :class:`~modelkb.gallery.records.GalleryRecord`: every field's type, no NaN or
  Infinity) and naming this entry: its id, its results key, its workflow, its sizes, its
  crops and their files.

Anything else is one line naming the file and what is wrong; the merge then copies nothing.
"""

from __future__ import annotations

import os
import stat
import struct
import zlib
from pathlib import Path
from typing import Any

from modelkb.catalog import Catalog, GalleryEntry, Workflow
from modelkb.errors import ModelkbError
from modelkb.gallery.cache import MANIFEST
from modelkb.gallery.records import GalleryRecord, read_record
from modelkb.gallery.webimages import (
    RENDER_VERSION,
    FileShape,
    auto_crop_side,
    crop_boxes,
    crop_shown_size,
    render_files,
)
from modelkb.limits import DEFAULT_MAX_PIXELS
from modelkb.pixels.runrecord import RecordError, RunRecord, Size

PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk a PNG ends with
IMAGE_SLACK = 1 << 16  # bytes an image file may take beyond 4 bytes a pixel (headers, chunks)


def workflow_sizes(workflow: Workflow, input_size: tuple[int, int]
                   ) -> tuple[tuple[int, int], tuple[int, int] | None]:
    """(output size, size the last restore step worked at, or None) of ``workflow``."""
    from modelkb.pixels.workflows import resized_size

    size, restored = input_size, None
    for step in workflow.steps:
        if step.op == "resize":
            size = resized_size(*size, step.scale)
        else:
            restored = size
    return size, restored


def result_files(workflow: Workflow, input_size: tuple[int, int]) -> dict[str, FileShape]:
    """The files of ``results/<key>`` (what :func:`modelkb.pixels.compute.compute` writes)."""
    output, restored = workflow_sizes(workflow, input_size)
    files: dict[str, FileShape] = {"output.png": ("PNG", output), "run.json": ("JSON", None)}
    if restored is not None:
        files["restored.png"] = ("PNG", restored)
    return files


def oriented_size(path: Path) -> tuple[int, int]:
    """The (width, height) of the photo at ``path`` as decoded (EXIF orientation applied),
    from its header."""
    from modelkb.pixels.imaging import open_image

    with open_image(path) as image:
        width, height = image.size
        orientation = image.getexif().get(0x0112, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _auto_box(record: Any) -> tuple[int, int, int, int] | None:
    """The automatic crop's box in a record (parsed or typed), or None."""
    crops = record.get("crops") if isinstance(record, dict) else getattr(record, "crops", None)
    for crop in crops if isinstance(crops, list) else ():
        values = crop if isinstance(crop, dict) else vars(crop)
        if values.get("name") == "crop-auto":
            box = tuple(values.get(k) for k in ("x", "y", "width", "height"))
            if all(isinstance(v, int) for v in box):
                return box  # type: ignore[return-value]
    return None


def expected_entry_files(catalog: Catalog, gallery_dir: Path, entry: GalleryEntry,
                         record: Any = None) -> dict[str, dict[str, FileShape]]:
    """{"results": ..., "renders": ...}: the files, formats and pixel sizes a run of
    ``entry`` writes; the automatic crop sits where ``record`` (its metrics.json) says."""
    workflow = catalog.workflows[entry.workflow]
    size = oriented_size(gallery_dir / entry.input)
    return {"results": result_files(workflow, size),
            "renders": render_files(entry, workflow, size, _auto_box(record))}


def scan_problem(folder: Path) -> str | None:
    """A folder, symbolic link or special file in the entry ``folder`` (None: plain files)."""
    try:
        with os.scandir(folder) as found:
            for item in sorted(found, key=lambda i: i.name):
                mode = item.stat(follow_symlinks=False).st_mode
                if stat.S_ISLNK(mode):
                    return f"{item.name}: a symbolic link (a render writes plain files)"
                if stat.S_ISDIR(mode):
                    return f"{item.name}: a folder, not a file a render writes"
                if not stat.S_ISREG(mode):
                    return f"{item.name}: not a plain file, not a file a render writes"
    except OSError as exc:
        return f"cannot be listed ({exc.strerror or exc})"
    return None


def image_problem(path: Path, kind: str, size: tuple[int, int], max_pixels: int) -> str | None:
    """What is wrong with the image ``path`` where a render writes a ``kind`` (PNG or WEBP)
    image of ``size`` pixels; None when it is one. Its header is read first: a declared size
    over ``max_pixels`` (or over ``size``) is refused before anything is decoded."""
    from PIL import Image, UnidentifiedImageError

    from modelkb.pixels.imaging import check_png_inflate

    limit = max(max_pixels, size[0] * size[1])
    old_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # the declared size is checked here, before decoding
    try:
        with Image.open(path, formats=[kind]) as image:
            width, height = image.size
            if width * height > limit:
                return (f"declares {width}x{height} = {width * height / 1e6:.1f} million "
                        f"pixels, more than the limit of {max_pixels / 1e6:g} million "
                        "(max_pixels): a decompression bomb")
            if (width, height) != size:
                return f"is {width}x{height} pixels; a render writes {size[0]}x{size[1]}"
            length = path.stat().st_size
            if length > width * height * 4 + IMAGE_SLACK:
                return f"is {length:,} bytes, more than a {width}x{height} image takes"
            with path.open("rb") as handle:
                data = handle.read(length + 1)
            if kind == "WEBP":
                declared = struct.unpack("<I", data[4:8])[0] + 8
                if len(data) > declared + (declared % 2):
                    return "has bytes after its image data"
            elif not data.endswith(PNG_END):
                return "has bytes after its image data, or none of its end"
            if kind == "PNG":
                check_png_inflate(data, path.name)
            image.load()
    except UnidentifiedImageError:
        return f"not a {kind} image"
    except ModelkbError as exc:
        return str(exc).replace(f"{path.name} ", "", 1)
    except (OSError, ValueError, SyntaxError, EOFError, zlib.error, struct.error) as exc:
        return f"cannot be decoded as a {kind} image ({exc})"
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit
    return None


class EntryChecker:
    """Holds shard entries to what a render writes (see the module's notes). ``keys``:
    the (results key, renders key) the site's build looks up, by entry id."""

    def __init__(self, catalog: Catalog, gallery_dir: Path, keys: dict[str, tuple[str, str]],
                 max_pixels: int | None = None):
        self.catalog = catalog
        self.gallery_dir = gallery_dir
        self.keys = keys
        self.max_pixels = max_pixels or DEFAULT_MAX_PIXELS
        self.owners: dict[tuple[str, str], str] = {}
        for entry_id, (result_key, render_key) in keys.items():
            self.owners.setdefault(("results", result_key), entry_id)
            self.owners[("renders", render_key)] = entry_id

    def problem(self, level: str, folder: Path) -> str | None:
        """What in the entry ``folder`` (of cache ``level``) a render would not have written,
        as 'FILE: what is wrong'; None when it holds exactly what a render writes."""
        entry_id = self.owners[(level, folder.name)]
        entry = self.catalog.gallery[entry_id]
        workflow = self.catalog.workflows[entry.workflow]
        try:
            size = oriented_size(self.gallery_dir / entry.input)
        except Exception as exc:  # noqa: BLE001 - the site's own photo: the build reports it
            return f"cannot be checked: the photo {entry.input} cannot be read ({exc})"
        output, restored = workflow_sizes(workflow, size)
        try:
            if level == "results":
                run = read_record(folder / "run.json", RunRecord)
                problem = _same("run.json", (run.workflow, run.input, run.output),
                                (workflow.id, Size(*size), Size(*output)))
                expected = result_files(workflow, size)
            else:
                record = read_record(folder / "metrics.json", GalleryRecord)
                problem = self._record_problem(record, entry, workflow, size, output,
                                               restored is not None)
                expected = render_files(entry, workflow, size, _auto_box(record))
        except RecordError as exc:
            return str(exc)
        if problem:
            return problem
        present = {p.name for p in folder.iterdir()} - {MANIFEST}
        for name in sorted(present - set(expected)):
            return (f"{name}: not a file a render writes (a render of {entry_id} writes "
                    "only its images, crops and its record)")
        for name in sorted(set(expected) - present):
            return f"{name}: missing (a render of {entry_id} writes it)"
        for name, (kind, dims) in sorted(expected.items()):
            if kind != "JSON" and dims is not None:
                found = image_problem(folder / name, kind, dims, self.max_pixels)
                if found:
                    return f"{name}: {found}"
        return None

    def _record_problem(self, record: GalleryRecord, entry: GalleryEntry, workflow: Workflow,
                        size: tuple[int, int], output: tuple[int, int], restored: bool
                        ) -> str | None:
        """What in ``metrics.json`` does not describe this entry's render."""
        from modelkb.pixels.workflows import total_scale

        problem = _same("metrics.json", (
            record.id, record.key, record.workflow, record.input, record.output,
            record.input_file, record.reference_file, record.render_version,
        ), (entry.id, self.keys[entry.id][0], workflow.id, Size(*size), Size(*output),
            entry.input, entry.reference, RENDER_VERSION))
        if problem:
            return problem
        auto = _auto_box(record)
        if restored:
            side = auto_crop_side(*size)
            if auto is None or auto[2:] != (side, side) or not (
                    0 <= auto[0] <= size[0] - side and 0 <= auto[1] <= size[1] - side):
                return f"metrics.json: the automatic crop is not a {side}-pixel square in " \
                       "the photo"
        scale = total_scale(workflow)
        roles = ["input", "baseline", "output"] + (["reference"] if entry.reference else [])
        boxes = crop_boxes(entry, size, restored, auto)
        want = [(name, label, is_auto, *box, {r: f"{name}-{r}.webp" for r in roles})
                for name, box, label, is_auto in boxes]
        have = [(c.name, c.label, c.auto, c.x, c.y, c.width, c.height, c.files)
                for c in record.crops]
        if have != want:
            return f"metrics.json: its crops {have!r:.200} are not the entry's {want!r:.200}"
        files = render_files(entry, workflow, size, auto)
        views = {name.removesuffix(".webp"): dims for name, (kind, dims) in files.items()
                 if kind == "WEBP" and not name.startswith("crop-")}
        views.update({name: crop_shown_size(box, scale) for name, box, _l, _a in boxes})
        images = {name: (s.width, s.height) for name, s in record.images.items()}
        if images != views:
            return f"metrics.json: its images {images!r:.200} are not what a render writes " \
                   f"{views!r:.200}"
        focus = record.focus
        if focus is not None and not (0 <= focus.x and 0 <= focus.y and 0 < focus.width
                                      and 0 < focus.height and focus.x + focus.width
                                      <= output[0] and focus.y + focus.height <= output[1]):
            return "metrics.json: its focus lies outside the output"
        return None


def _same(name: str, found: tuple, expected: tuple) -> str | None:
    """'NAME: it says X where this entry's render says Y' for the first field that differs."""
    for have, want in zip(found, expected, strict=True):
        if have != want:
            return f"{name}: it says {have!r:.80} where a render of this entry says {want!r:.80}"
    return None
