"""Reading and writing photos for restoration: any mode, any bit depth, EXIF orientation applied.

Policy (documented for users of ``modelkb restore`` and the gallery):

- EXIF orientation is applied on reading (``PIL.ImageOps.exif_transpose``); outputs are
  written upright, without an orientation tag.
- Palette, CMYK, 1-bit and other modes are converted to RGB. Grayscale inputs are fed to the
  network as three equal channels and written back as grayscale (mean of the three restored
  channels), so a grayscale photo stays grayscale.
- An alpha channel is carried through untouched (rescaled only when the output bit depth
  differs from the input's: x257 or /257 rounded).
- 16-bit PNGs (Pillow's C decoder; grey+alpha through pypng) and 16-bit TIFFs (tifffile)
  are read at full precision; a missing decoder is an error, never a silent 8 bits. A
  PNG whose data inflates beyond what its declared size needs is refused (bounded memory).
  16-bit TIFFs get the same orientation and colour handling as Pillow gives 8-bit ones.
- Pillow opens only :data:`ALLOWED_FORMATS` (never EPS/PS/PDF, which would run Ghostscript).
- The file's content decides how it is read (a PNG named ``.jpg`` reads as the PNG it is).
- Images declaring more than ``max_pixels`` pixels (default :data:`DEFAULT_MAX_PIXELS`,
  ``extra.modelkb.max_pixels`` for the gallery) are refused before they are decoded, so a
  small "decompression bomb" file cannot exhaust memory; a TIFF's decoded size (samples
  per pixel and bytes per sample included) must fit in what ``max_pixels`` pixels of 16-bit
  RGBA take (:data:`~modelkb.limits.MAX_BYTES_PER_PIXEL`); empty files are named as such.
- Rounding as in the original MSSNet test script: ``clamp(x + 0.5/255, 0, 1)`` then truncation
  to 8 bits; for 16-bit output the same with 65535.

This module must not import torch (it is used by build-time code that may never run a model).
"""

from __future__ import annotations

import contextlib
import io
import logging
import struct
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from modelkb.limits import DEFAULT_MAX_PIXELS, MAX_BYTES_PER_PIXEL, MAX_PNG_SLACK
from modelkb.pixels.usererror import ModelkbError

log = logging.getLogger(__name__)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
SIXTEEN_BIT_SUFFIXES = {".png", ".tif", ".tiff"}
# The only formats Pillow may open: never EPS/PS/PDF (Ghostscript) or other delegates.
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")
FORMATS_TEXT = "PNG, JPEG, WebP, TIFF, BMP or GIF"


def open_image(path: str | Path) -> Image.Image:
    """``Image.open`` restricted to :data:`ALLOWED_FORMATS` (content decides, not the name)."""
    return Image.open(path, formats=ALLOWED_FORMATS)


@dataclass
class Picture:
    """A decoded photo: RGB in [0, 1] (float32, HxWx3) plus what must be carried through."""

    rgb: np.ndarray
    alpha: np.ndarray | None = None  # HxW, uint8 or uint16, untouched
    grayscale: bool = False
    bit_depth: int = 8
    icc_profile: bytes | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) like PIL."""
        return self.rgb.shape[1], self.rgb.shape[0]


def _as_unit(array: np.ndarray, maximum: float) -> np.ndarray:
    return array.astype(np.float32) / np.float32(maximum)


def picture_from_pil(image: Image.Image, bit_depth_hint: int | None = None) -> Picture:
    """Decode a PIL image (EXIF orientation applied) into a Picture."""
    image = ImageOps.exif_transpose(image) or image
    mode = image.mode
    icc = image.info.get("icc_profile") if mode != "CMYK" else None  # not for the RGB written
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        gray = _as_unit(np.asarray(image, dtype=np.uint16), 65535)
        return Picture(np.repeat(gray[..., None], 3, axis=2), None, True, 16, icc)
    if mode == "I":
        data = np.asarray(image, dtype=np.int64)
        depth = bit_depth_hint or (16 if data.max(initial=0) > 255 else 8)
        maximum = 65535 if depth == 16 else 255
        gray = _as_unit(np.clip(data, 0, maximum), maximum)
        return Picture(np.repeat(gray[..., None], 3, axis=2), None, True, depth, icc)
    if mode == "F":
        gray = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
        return Picture(np.repeat(gray[..., None], 3, axis=2), None, True, 16, icc)
    if mode in ("L", "LA", "1", "La"):
        alpha = np.asarray(image.getchannel("A")).copy() if mode in ("LA", "La") else None
        gray = _as_unit(np.asarray(image.convert("L")), 255)
        return Picture(np.repeat(gray[..., None], 3, axis=2), alpha, True, 8, icc)
    alpha = None
    if "A" in image.getbands() or mode == "RGBa":
        alpha = np.asarray(image.getchannel("A")).copy()
    rgb = _as_unit(np.asarray(image.convert("RGB")), 255)
    return Picture(rgb, alpha, False, 8, icc)


def _png_header(data: bytes) -> tuple[int, int, int, int, int] | None:
    """(width, height, bit depth, colour type, interlace) of a PNG, or None."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", data[16:29])
    return width, height, depth, colour, interlace


def _png16_rawmodes(tile: list) -> tuple[object, str] | None:
    """(tile, low-byte rawmode) when Pillow decodes this PNG as 16-bit RGB(A) truncated."""
    if len(tile) != 1:
        return None
    args = tile[0][3] if len(tile[0]) > 3 else None
    if args not in ("RGB;16B", "RGBA;16B"):
        return None
    return tile[0], args.replace(";16B", ";16L")


def _with_rawmode(tile: object, rawmode: str) -> object:
    """The same decoder tile, unpacking with ``rawmode`` (Pillow >= 11 tiles are namedtuples)."""
    if hasattr(tile, "_replace"):
        return tile._replace(args=rawmode)  # type: ignore[attr-defined]
    codec, box, offset, _args = tile  # type: ignore[misc]
    return (codec, box, offset, rawmode)


def check_png_inflate(data: bytes, name: str | Path = "the PNG") -> None:
    """Raise a ModelkbError when the PNG's image data inflates to more bytes than its
    declared size needs (a small file that would expand to gigabytes); memory stays bounded."""
    header = _png_header(data)
    if header is None:
        raise ModelkbError(f"{name} is not a PNG file")
    width, height, depth, colour, interlace = header
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour, 4)
    stride = (width * channels * depth + 7) // 8
    needed = height * (stride + 1) + (7 * (height + 8) if interlace else 0)
    allowed = needed + MAX_PNG_SLACK
    inflater, total, pos = zlib.decompressobj(), 0, 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        if kind == b"IEND":
            break
        if kind == b"IDAT":
            pending = data[pos + 8:pos + 8 + length]
            while pending:
                try:
                    total += len(inflater.decompress(pending, 1 << 16))
                except zlib.error as exc:
                    raise ModelkbError(f"cannot read {name}: damaged PNG image data ({exc}); "
                                       "is the file complete?") from None
                if total > allowed:
                    raise ModelkbError(
                        f"{name} declares {width}x{height} pixels but its image data inflates "
                        f"to more than the {allowed:,} bytes that size needs: it may be a "
                        "decompression bomb; re-save the photo with an image editor")
                pending = inflater.unconsumed_tail
        pos += 12 + length


def _read_png16_pypng(data: bytes, name: str | Path) -> np.ndarray:
    """16-bit gray+alpha PNGs (Pillow has no 16-bit LA mode) through pypng."""
    import png

    try:
        width, height, rows, info = png.Reader(bytes=data).read()
        planes = int(info["planes"])
        array = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])
    except (png.Error, ValueError, zlib.error) as exc:
        raise ModelkbError(f"cannot read {name} as a 16-bit PNG ({exc}); is it complete?"
                           ) from None
    return array.reshape(height, width, planes)


def read_png16(data: bytes, name: str | Path = "the PNG",
               max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode a 16-bit PNG (gray, gray+alpha, RGB, RGBA; interlaced or not) into an HxWxC
    uint16 array, with its decompressed size bounded by its declared dimensions.

    Pillow's C decoder does the work (it unpacks 16-bit colour to 8 bits, so the high and
    the low bytes are unpacked in two passes); gray+alpha goes through pypng.
    """
    header = _png_header(data)
    if header is None or header[2] != 16:
        raise ModelkbError(f"{name} is not a 16-bit PNG")
    check_pixels(Path(str(name)), header[0], header[1], max_pixels)
    check_png_inflate(data, name)
    if header[3] == 4:
        return _read_png16_pypng(data, name)
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            if image.mode == "I;16":
                image.load()
                return np.asarray(image, dtype=np.uint16)[..., None].copy()
            modes = _png16_rawmodes(image.tile)
            if modes is None:
                raise ModelkbError(f"cannot read {name}: unexpected 16-bit PNG layout "
                                   f"(Pillow mode {image.mode})")
            image.load()
            high = np.asarray(image, dtype=np.uint8)
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.tile = [_with_rawmode(modes[0], modes[1])]
            image.load()
            low = np.asarray(image, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, zlib.error, struct.error) as exc:
        raise ModelkbError(f"cannot read {name} as a 16-bit PNG ({exc}); is it complete?"
                           ) from None
    return (high.astype(np.uint16) << 8) | low


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an HxWxC array, as exif_transpose does."""
    if orientation == 2:
        array = array[:, ::-1]
    elif orientation == 4:
        array = array[::-1]
    elif orientation in (5, 7):
        array = array.swapaxes(0, 1)
        orientation = 1 if orientation == 5 else 3
    turns = {3: 2, 6: -1, 8: 1}.get(orientation, 0)
    return np.ascontiguousarray(np.rot90(array, k=turns))


def _picture_from_array16(array: np.ndarray, icc: bytes | None = None) -> Picture:
    """A Picture from an HxWxC (C = 1..4) uint16 array."""
    channels = array.shape[2]
    color = array[..., :3] if channels >= 3 else np.repeat(array[..., :1], 3, axis=2)
    alpha = array[..., -1].copy() if channels in (2, 4) else None
    return Picture(_as_unit(color, 65535), alpha, channels <= 2, 16, icc)


def check_pixels(path: Path, width: int, height: int, max_pixels: int) -> None:
    """Raise a ModelkbError when a declared image size exceeds ``max_pixels``."""
    if width * height > max_pixels:
        raise ModelkbError(
            f"{path} declares {width}x{height} = {width * height / 1e6:.1f} million pixels, more "
            f"than the limit of {max_pixels / 1e6:g} million: it may be a decompression bomb (a "
            "small file that expands to a huge image). Shrink the photo, or raise "
            "extra.modelkb.max_pixels in mkdocs.yml if you trust the file")


@contextlib.contextmanager
def _pillow_limit(max_pixels: int) -> Iterator[None]:
    """Pillow's own decompression-bomb guard set to ``max_pixels`` and made an error."""
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def read_image(path: str | Path, max_pixels: int | None = None) -> Picture:
    """Read a photo file into a Picture, with a clear ModelkbError when it cannot be read.

    ``max_pixels`` (default :data:`DEFAULT_MAX_PIXELS`) caps width x height before decoding.
    Only :data:`ALLOWED_FORMATS` are opened; 16-bit PNGs and TIFFs keep their 16 bits.
    """
    path = Path(path)
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    if not path.is_file():
        raise ModelkbError(f"input {path} does not exist or is not a file")
    try:
        with path.open("rb") as handle:
            head = handle.read(32)
    except OSError as exc:
        raise ModelkbError(f"cannot read {path}: {exc.strerror}") from exc
    if not head:
        raise ModelkbError(f"cannot read {path}: the file is empty (0 bytes); replace it with "
                           "the photo")
    header = _png_header(head)
    if header is not None:
        check_pixels(path, header[0], header[1], limit)
    try:
        with _pillow_limit(limit):
            if header is not None and header[2] == 16:
                data = path.read_bytes()
                with open_image(path) as image:
                    orientation = image.getexif().get(0x0112, 1)
                    icc = image.info.get("icc_profile")
                array = orient(read_png16(data, path, limit), orientation)
                return _picture_from_array16(array, icc)
            if head.startswith(TIFF_SIGNATURES):
                picture = _read_tiff16(path, limit)
                if picture is not None:
                    return picture
            with open_image(path) as image:
                check_pixels(path, image.width, image.height, limit)
                image.load()
                return picture_from_pil(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ModelkbError(
            f"{path} is refused as a possible decompression bomb ({exc}); shrink the photo, or "
            "raise extra.modelkb.max_pixels in mkdocs.yml if you trust the file") from None
    except UnidentifiedImageError:
        raise ModelkbError(
            f"cannot read {path}: it is not a {FORMATS_TEXT} image (whatever its name says; "
            "other formats such as EPS, PostScript or PDF are never opened); save it as PNG "
            "or JPEG") from None
    except (OSError, ValueError, SyntaxError, zlib.error, struct.error, EOFError) as exc:
        raise ModelkbError(
            f"cannot read {path} as an image ({exc}); is it complete? Give a PNG, JPEG, TIFF "
            "or WebP photo"
        ) from None


def _tiff_bits(path: Path) -> int:
    """The largest bits per sample a TIFF declares (Pillow reads only the header)."""
    with open_image(path) as image:
        bits = image.tag_v2.get(258, 8) if hasattr(image, "tag_v2") else 8  # type: ignore
    return max(bits) if isinstance(bits, tuple) else int(bits)


def check_decoded_size(path: Path, width: int, height: int, samples: int, sample_bytes: int,
                       max_pixels: int) -> None:
    """Raise a ModelkbError when an image's decoded size (width x height x samples x bytes
    per sample) exceeds what ``max_pixels`` pixels of 16-bit RGBA would take: a small file
    declaring a thousand samples per pixel is as much a bomb as one declaring huge sides."""
    decoded = width * height * max(1, samples) * max(1, sample_bytes)
    allowed = max_pixels * MAX_BYTES_PER_PIXEL
    if decoded > allowed:
        raise ModelkbError(
            f"{path} declares {width}x{height} pixels of {samples} samples at {sample_bytes} "
            f"byte(s) each, {decoded / 1e6:,.0f} MB decoded, more than the {allowed / 1e6:,.0f} "
            f"MB the limit of {max_pixels / 1e6:g} million pixels allows (16-bit RGBA): it may "
            "be a decompression bomb. Re-save the photo as RGB (or gray), or raise "
            "extra.modelkb.max_pixels in mkdocs.yml if you trust the file")


# TIFF photometric interpretations the 16-bit path reads, with their colour samples.
_TIFF_COLOUR_SAMPLES = {0: 1, 1: 1, 2: 3, 3: 1, 5: 4}  # miniswhite, minisblack, rgb, palette, cmyk


def _read_tiff16(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Picture | None:
    """16-bit TIFFs through tifffile (Pillow truncates colour ones); None for other TIFFs,
    which Pillow reads. Any TIFF's decoded size (samples and depth included) is bounded
    before either decoder runs.

    Read as the 8-bit path reads through Pillow: EXIF orientation applied, MINISWHITE
    inverted, CMYK converted to RGB (and its ICC profile, a CMYK one, dropped), a palette
    looked up, an extra sample marked as alpha carried through.
    A 16-bit TIFF that tifffile cannot decode (or tifffile missing) is an error, never 8 bits.
    """
    try:
        import tifffile
    except ImportError:
        if _tiff_bits(path) > 8:
            raise ModelkbError(
                f"cannot read {path} at full precision: it has more than 8 bits per channel and "
                "the TIFF decoder 'tifffile' is not installed; run: pip install tifffile "
                "(modelkb never silently reduces a photo to 8 bits)") from None
        return None
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            width, height = int(page.imagewidth), int(page.imagelength)  # type: ignore
            check_pixels(path, width, height * int(page.imagedepth), max_pixels)  # type: ignore
            check_decoded_size(path, width, height * int(page.imagedepth),  # type: ignore
                               int(page.samplesperpixel),  # type: ignore[union-attr]
                               (int(page.bitspersample) + 7) // 8,  # type: ignore
                               max_pixels)
            if page.dtype != np.uint16:  # type: ignore[union-attr]
                return None
            tags = page.tags  # type: ignore[union-attr]
            orientation = tags.get(274).value if 274 in tags else 1
            icc = tags.get(34675).value if 34675 in tags else None
            photometric = int(page.photometric)  # type: ignore[union-attr]
            extras = tuple(page.extrasamples)  # type: ignore[union-attr]
            colormap = page.colormap  # type: ignore[union-attr]
            axes = page.axes  # type: ignore[union-attr]
            array = page.asarray()  # type: ignore[union-attr]
    except ModelkbError:
        raise
    except Exception as exc:  # noqa: BLE001 - a TIFF tifffile cannot parse: Pillow's message
        if _tiff_bits(path) > 8:
            raise ModelkbError(f"cannot read the 16-bit TIFF {path} ({exc}); re-save it as a "
                               "16-bit PNG") from None
        return None
    if array.dtype != np.uint16 or array.ndim not in (2, 3) or axes not in ("YX", "YXS", "SYX"):
        raise ModelkbError(f"cannot read the 16-bit TIFF {path}: unexpected layout "
                           f"{array.dtype} {array.shape}; re-save it as a 16-bit PNG")
    array = np.moveaxis(array, 0, 2) if axes == "SYX" else array
    array = array[..., None] if array.ndim == 2 else array
    colour = _TIFF_COLOUR_SAMPLES.get(photometric)
    if colour is None or array.shape[2] < colour or (photometric == 3 and colormap is None):
        raise ModelkbError(f"cannot read the 16-bit TIFF {path}: its colour space (TIFF "
                           f"photometric {photometric}) with {array.shape[2]} samples is not "
                           "supported; re-save it as 16-bit RGB or grayscale")
    alpha = None
    if array.shape[2] > colour and extras and extras[0] in (1, 2):  # associated/unassociated
        alpha = array[..., colour].copy()
    planes = array[..., :colour]
    if photometric == 0:  # MINISWHITE: 0 is white
        planes = 65535 - planes
    if photometric == 3:
        planes = np.moveaxis(colormap[:, planes[..., 0]], 0, 2)  # type: ignore[index]
    if photometric == 5:  # CMYK as Pillow converts it: R = (1 - C)(1 - K), ...
        units = _as_unit(planes, 65535)
        rgb = (1.0 - units[..., :3]) * (1.0 - units[..., 3:4])
        icc = None  # a CMYK profile does not describe the RGB written
    else:
        rgb = _as_unit(np.repeat(planes, 3, axis=2) if planes.shape[2] == 1 else planes, 65535)
    rgb = orient(rgb, int(orientation))
    alpha = orient(alpha[..., None], int(orientation))[..., 0] if alpha is not None else None
    grayscale = photometric in (0, 1)
    return Picture(np.ascontiguousarray(rgb, dtype=np.float32), alpha, grayscale, 16,
                   bytes(icc) if icc else None)


def quantize(values: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """Round like the original test script: clamp(x + 0.5/max, 0, 1) * max, truncated."""
    maximum = 65535 if bit_depth == 16 else 255
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    scaled = np.clip(values + np.float32(0.5 / maximum), 0.0, 1.0) * np.float32(maximum)
    return scaled.astype(dtype)


def convert_alpha(alpha: np.ndarray, bit_depth: int) -> np.ndarray:
    """Alpha at the output bit depth (unchanged when it already matches)."""
    if bit_depth == 16 and alpha.dtype == np.uint8:
        return alpha.astype(np.uint16) * 257
    if bit_depth == 8 and alpha.dtype == np.uint16:
        return ((alpha.astype(np.uint32) + 128) // 257).astype(np.uint8)
    return alpha


def output_channels(rgb: np.ndarray, alpha: np.ndarray | None, grayscale: bool,
                    bit_depth: int) -> np.ndarray:
    """The HxWxC integer array to write: gray or RGB, plus alpha if any."""
    color = rgb.mean(axis=2, keepdims=True) if grayscale else rgb
    planes = [quantize(color, bit_depth)]
    if alpha is not None:
        planes.append(convert_alpha(alpha, bit_depth)[..., None])
    return np.concatenate(planes, axis=2) if len(planes) > 1 else planes[0]


def to_pil(
    rgb: np.ndarray, alpha: np.ndarray | None = None, grayscale: bool = False
) -> Image.Image:
    """An 8-bit PIL image (L, LA, RGB or RGBA) from float RGB in [0, 1]."""
    array = output_channels(rgb, alpha, grayscale, 8)
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[array.shape[2]]
    return Image.fromarray(array[..., 0] if mode == "L" else array, mode=mode)


def as_u8(rgb: np.ndarray) -> np.ndarray:
    """Float RGB in [0, 1] as the 8-bit RGB array :func:`to_pil` writes."""
    return np.asarray(to_pil(rgb).convert("RGB"))


def read_rgb(path: str | Path) -> np.ndarray:
    """Float RGB in [0, 1] of an 8-bit image this package wrote (e.g. ``output.png``)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float32) / np.float32(255)


def write_png16(path: str | Path, array: np.ndarray) -> None:
    """Write an HxWxC (C = 1..4: gray, gray+alpha, RGB, RGBA) uint16 array as a 16-bit PNG
    (pypng; the one 16-bit PNG writer)."""
    import png

    if array.ndim == 2:
        array = array[..., None]
    height, width, channels = array.shape
    rows = array.astype(">u2").reshape(height, width * channels).view(np.uint8)
    writer = png.Writer(width, height, greyscale=channels <= 2, alpha=channels in (2, 4),
                        bitdepth=16, compression=6)
    with Path(path).open("wb") as handle:
        writer.write_packed(handle, rows)


WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF",
                 ".tiff": "TIFF", ".webp": "WEBP", ".bmp": "BMP"}
LOSSY_SUFFIXES = {".jpg", ".jpeg", ".webp"}


def check_output_name(path: str | Path, bit_depth: int | None = None,
                      has_alpha: bool = False) -> None:
    """Raise a ModelkbError (before any work) when ``path``'s format cannot hold the output."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITE_FORMATS:
        raise ModelkbError(f"cannot write {path.name}: unknown output format {suffix or '(none)'};"
                           f" use one of {', '.join(sorted(WRITE_FORMATS))}")
    if bit_depth == 16 and suffix not in SIXTEEN_BIT_SUFFIXES:
        raise ModelkbError(f"cannot write 16 bits per channel to {path.name}: use .png or .tif")
    if has_alpha and suffix in (".jpg", ".jpeg"):
        raise ModelkbError(
            f"{path.name}: JPEG cannot store the input's alpha channel; write a .png instead")


def write_image(path: str | Path, rgb: np.ndarray, alpha: np.ndarray | None = None,
                grayscale: bool = False, bit_depth: int = 8,
                icc_profile: bytes | None = None, suffix: str | None = None) -> None:
    """Write restored float RGB (plus alpha) to ``path`` at 8 or 16 bits per channel; the
    format follows ``suffix`` (default: the path's own, e.g. for a temporary file)."""
    path = Path(path)
    suffix = (suffix or path.suffix).lower()
    check_output_name(path.with_suffix(suffix) if path.suffix.lower() != suffix else path,
                      bit_depth, alpha is not None)
    try:
        if bit_depth == 16:
            array = output_channels(rgb, alpha, grayscale, 16)
            if suffix == ".png":
                write_png16(path, array)
            else:
                import tifffile

                channels = array.shape[2]  # said outright: tifffile would take gray+alpha
                tifffile.imwrite(  # for a stack of two-pixel-wide pages
                    path, array[..., 0] if channels == 1 else array,
                    photometric="minisblack" if channels <= 2 else "rgb",
                    planarconfig="contig" if channels > 1 else None,
                    extrasamples=[2] if channels in (2, 4) else None)  # unassociated alpha
            return
        image = to_pil(rgb, alpha, grayscale)
        options: dict[str, object] = {"icc_profile": icc_profile} if icc_profile else {}
        if suffix in (".jpg", ".jpeg", ".webp"):
            options["quality"] = 95
        image.save(path, format=WRITE_FORMATS[suffix], **options)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelkbError(f"cannot write {path}: {exc}") from exc
