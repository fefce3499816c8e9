"""`modelkb restore`: deblur photos with MSSNet.

Each result is reported on stdout as ``wrote OUT (WxH, N s)``. A long single image shows its
tiles done on stderr (see :class:`TileProgress`); several images get a bar. ``--quiet``
prints errors only.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from modelkb.errors import ModelkbError
from modelkb.pixels.registry import DEVICES, check_device, check_variant, variant_names

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the restore command's arguments."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="blurred photo(s)")
    parser.add_argument(
        "-o", "--output", required=True, metavar="OUT",
        help="output file for one input, output folder (created) for several",
    )
    parser.add_argument("--weights", metavar="FILE", help="MSSNet weights (.pt or .safetensors)")
    parser.add_argument(
        "--variant", metavar="NAME",
        help=f"network variant ({', '.join(variant_names())}); inferred from the weights if "
        "omitted",
    )
    parser.add_argument("--device", default="auto", metavar="|".join(DEVICES),
                        help="default: auto")
    parser.add_argument(
        "--tile", type=str, default=None, metavar="PIXELS",
        help="tile side (multiple of 16, >= 64); 0 = whole image; default: whole image up to "
        "about 1.2 MP, 512-pixel tiles above",
    )
    parser.add_argument(
        "--bit-depth", type=str, default=None, metavar="8|16",
        help="bits per channel of the output (default: as the input)",
    )
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast (CUDA only)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print errors only (no progress, no 'wrote' lines)")


class TileProgress:
    """Tiles done of one image, on stderr: on a terminal a line rewritten in place from the
    start; elsewhere (a log, a pipe) a line every ``every`` seconds, so a quick image prints
    nothing and a long one shows it is alive."""

    def __init__(self, name: str, size: tuple[int, int], stream: TextIO,
                 every: float = 10.0) -> None:
        self.name, self.size, self.stream, self.every = name, size, stream, every
        self.tty = stream.isatty()
        self.start = self.last = time.monotonic()
        self.shown = 0  # length of the line on screen (terminal only)
        if self.tty:
            self._show(f"restore: {name} ({size[0]}x{size[1]}) ...")

    def _show(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r" + text.ljust(self.shown))
            self.shown = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if total <= 1 or done >= total or (not self.tty and now - self.last < self.every):
            return
        self.last = now
        self._show(f"restore: {self.name} ({self.size[0]}x{self.size[1]}): tile {done}/{total} "
                   f"({100 * done // total}%), {now - self.start:.0f} s")

    def close(self) -> None:
        """Clear the line on a terminal (the 'wrote' line follows)."""
        if self.tty and self.shown:
            self.stream.write("\r" + " " * self.shown + "\r")
            self.stream.flush()
            self.shown = 0


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def _parse_int(value: str | None, option: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ModelkbError(f"{option} must be a whole number, not {value!r}") from None


def _plan_outputs(inputs: list[Path], output: Path) -> list[Path]:
    """Where each input's result goes; raises on file/folder confusion."""
    if len(inputs) == 1:
        if output.is_dir() or str(output).endswith(("/", "\\")):
            return [output / (inputs[0].stem + ".png")]
        if not output.suffix:
            raise ModelkbError(
                f"output {output} has no file extension: give a file name such as "
                f"{output}.png, or an existing folder"
            )
        if not output.parent.is_dir():
            raise ModelkbError(
                f"folder {output.parent} for the output {output.name} does not exist"
            )
        return [output]
    if output.exists() and not output.is_dir():
        raise ModelkbError(
            f"{len(inputs)} inputs need an output folder, but {output} is a file; "
            "give a folder name with -o"
        )
    if output.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"):
        raise ModelkbError(
            f"{len(inputs)} inputs need an output folder, but {output} looks like an image "
            "file name; give a folder name with -o"
        )
    stems = [p.stem for p in inputs]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise ModelkbError(
            f"several inputs are named {duplicates[0]!r}; their outputs would overwrite each other"
        )
    return [output / (p.stem + ".png") for p in inputs]


def _check_not_inputs(inputs: list[Path], outputs: list[Path]) -> None:
    """Refuse an output that is one of the inputs (same file, whatever the spelling)."""
    for target in outputs:
        if not target.exists():
            continue
        for source in inputs:
            try:
                same = os.path.samefile(source, target)
            except OSError:
                continue
            if same:
                raise ModelkbError(
                    f"output {target} is the input {source}: modelkb never overwrites an "
                    f"original; give another output name, e.g. {target.stem}-restored.png, or "
                    "another folder")


def _has_alpha(path: Path) -> bool:
    """True when the image file has an alpha channel (reads only its header)."""
    from modelkb.pixels.imaging import open_image

    try:
        with open_image(path) as image:
            return "A" in image.getbands() or "transparency" in image.info
    except (OSError, ValueError, SyntaxError):
        return False  # read_image names the problem later


def _check_formats(inputs: list[Path], outputs: list[Path], bit_depth: int | None) -> None:
    """Every output's format checked before the model runs; lossy formats are mentioned."""
    from modelkb.pixels.imaging import LOSSY_SUFFIXES, check_output_name

    for source, target in zip(inputs, outputs, strict=True):
        suffix = target.suffix.lower()
        check_output_name(target, bit_depth, suffix in (".jpg", ".jpeg") and _has_alpha(source))
    lossy = sorted({t.suffix.lower() for t in outputs if t.suffix.lower() in LOSSY_SUFFIXES})
    if lossy:
        print(f"modelkb restore: note: {', '.join(lossy)} is a lossy format: the restored "
              "pixels are stored approximately (quality 95); use .png to keep them exactly",
              file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Restore every input and write the results; returns the exit code."""
    if args.quiet:  # warnings and errors only
        logging.getLogger("modelkb").setLevel(logging.WARNING)
    tile = _parse_int(args.tile, "--tile")
    bit_depth = _parse_int(args.bit_depth, "--bit-depth")
    if bit_depth not in (None, 8, 16):
        raise ModelkbError(f"--bit-depth must be 8 or 16, not {bit_depth}")
    if args.variant is not None:
        check_variant(args.variant)
    check_device(args.device)
    inputs = [Path(p) for p in args.inputs]
    for path in inputs:
        if not path.is_file():
            raise ModelkbError(f"input {path} does not exist or is not a file")
    outputs = _plan_outputs(inputs, Path(args.output))
    _check_not_inputs(inputs, outputs)

    # Importing torch takes a while: only after the cheap checks.
    from modelkb.files import atomic_path
    from modelkb.models.weights import choose_weights, load_weights
    from modelkb.pixels.imaging import SIXTEEN_BIT_SUFFIXES, read_image, write_image
    from modelkb.pixels.tiling import (
        DEFAULT_OVERLAP,
        check_finite,
        check_tiling,
        prepare_model,
        restore_with_fallback,
        select_device,
    )

    overlap = min(DEFAULT_OVERLAP, tile // 4) if tile else DEFAULT_OVERLAP
    check_tiling(tile, overlap)
    if bit_depth == 16 and any(t.suffix.lower() not in SIXTEEN_BIT_SUFFIXES for t in outputs):
        raise ModelkbError("--bit-depth 16 needs .png or .tif outputs")
    _check_formats(inputs, outputs, bit_depth)
    weights = choose_weights(args.weights).fetched()
    device = select_device(args.device)
    if args.bf16 and device.type != "cuda":
        raise ModelkbError("--bf16 needs --device cuda (or auto with a CUDA GPU)")
    loaded = load_weights(weights, args.variant)
    model = prepare_model(loaded.model, device, channels_last=True)  # faster on CPU and GPU
    log.info("restoring %d image(s) with %s on %s", len(inputs), loaded.variant, device)

    progress = None
    if len(inputs) > 1:
        from tqdm import tqdm

        progress = tqdm(total=len(inputs), unit="image", desc="restore", disable=args.quiet)
        outputs[0].parent.mkdir(parents=True, exist_ok=True)
    for source, target in zip(inputs, outputs, strict=True):
        started = time.monotonic()
        picture = read_image(source)
        depth = bit_depth or picture.bit_depth
        if target.suffix.lower() not in SIXTEEN_BIT_SUFFIXES:
            depth = 8  # e.g. a 16-bit input written as JPEG
        height, width = picture.rgb.shape[:2]
        tiles = None
        if progress is None and not args.quiet:
            tiles = TileProgress(source.name, (width, height), sys.stderr)
        try:
            rgb, _used = restore_with_fallback(model, picture.rgb, device=device, tile=tile,
                                               overlap=overlap, bf16=args.bf16,
                                               channels_last=True, progress=tiles)
        finally:
            if tiles is not None:
                tiles.close()
        check_finite(rgb, str(source))
        try:
            with atomic_path(target) as tmp:  # never half a file; an input is never replaced
                write_image(tmp, rgb, picture.alpha, picture.grayscale, depth,
                            picture.icc_profile, suffix=target.suffix)
        except OSError as exc:
            raise ModelkbError(f"cannot write {target}: {exc.strerror or exc}") from None
        if not args.quiet:
            size = f"{rgb.shape[1]}x{rgb.shape[0]}"
            line = f"wrote {target} ({size}, {_seconds(time.monotonic() - started)})"
            if progress is not None:
                progress.write(line, file=sys.stdout)
            else:
                print(line, flush=True)
        if progress is not None:
            progress.update(1)
    if progress is not None:
        progress.close()
    return 0
