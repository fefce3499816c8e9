"""Link-preview cards: 1200x630 PNGs drawn with Pillow at build time, no network.

A page with a gallery picture (an answer, a model, a task, the gallery) gets a photo card:
its title above one region of the picture, twice: the left half is the plain resize
("before"), the right half the workflow's output ("after"), both of the same region (where
the model changed the photo most, unless the caller names one), with the measured gain.
Photo cards are 256-colour PNGs (~150 KB). A page without a picture (a paper, a tool, the
site's own card) gets a text card: its title, a summary and a band of facts along the
bottom, so neither half of it is empty.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Pillow loads only when a card is drawn: cached builds skip it
    from PIL import Image, ImageDraw, ImageFont

    Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

from modelkb.gallery.webimages import WEB_SIDE, changed_most
from modelkb.limits import MAX_CARD_TITLE

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 1200, 630
MARGIN = 48
TEXT_BAND = 230  # height of the question band above the before/after image
# Photo pixels across each half of a card: 320 fill the 600 px half at almost 2x, so a card
# shown 500 px wide in a forum (each half 250 px) still shows the region at 0.8x, where
# before and after can be told apart; a 720 px region would be shrunk to a third.
REGION_WIDTH = 320
BACKGROUND = (24, 32, 48)
INK = (245, 247, 250)
MUTED = (160, 172, 190)
ACCENT = (255, 196, 0)
PANEL = (38, 50, 74)  # the facts band of a text card
FACTS_BAND = 118  # its height, above the accent line
_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu",
              "/usr/share/fonts/TTF", "/Library/Fonts", "C:/Windows/Fonts")
_FONT_FILES = {True: ("DejaVuSans-Bold.ttf", "Arial Bold.ttf", "arialbd.ttf"),
               False: ("DejaVuSans.ttf", "Arial.ttf", "arial.ttf")}


@lru_cache(maxsize=16)
def font(size: int, bold: bool = False) -> Font:
    """A TrueType font of ``size`` px found offline: DejaVu if installed, else Pillow's own."""
    from PIL import ImageFont

    for folder in _FONT_DIRS:
        for name in _FONT_FILES[bold]:
            path = Path(folder) / name
            if path.is_file():
                try:
                    return ImageFont.truetype(str(path), size)
                except OSError:
                    continue
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1: scalable built-in font
    except TypeError:  # older Pillow: fixed bitmap font
        return ImageFont.load_default()


def _fit(word: str, face: Font, width: int) -> Iterator[str]:
    """``word`` as is, or cut into pieces no wider than ``width`` (a binary search each)."""
    while word:
        if face.getlength(word) <= width:
            yield word
            return
        low, high = 1, len(word)  # the longest prefix that fits (at least one character)
        while low < high:
            middle = (low + high + 1) // 2
            if face.getlength(word[:middle]) <= width:
                low = middle
            else:
                high = middle - 1
        yield word[:low]
        word = word[low:]


def _cut_to(text: str, face: Font, width: int) -> str:
    """The longest prefix of ``text`` that fits ``width`` with ' …' after it."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if face.getlength(text[:middle] + " …") <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip()


def wrap(text: str, face: Font, width: int, max_lines: int) -> list[str]:
    """``text`` broken into lines no wider than ``width``; the last line ends in '…' if cut.

    Linear in the text: each word is measured once (line widths add up), a word wider than
    a line is cut by binary search, and nothing after the last shown line is measured.
    """
    cut = len(text) > MAX_CARD_TITLE
    lines: list[str] = []
    current: list[str] = []
    current_width = 0.0
    space = face.getlength(" ")
    for word in text[:MAX_CARD_TITLE].split():
        for piece in _fit(word, face, width):
            piece_width = face.getlength(piece)
            if current and current_width + space + piece_width <= width:
                current.append(piece)
                current_width += space + piece_width
                continue
            if current:
                lines.append(" ".join(current))
            current, current_width = [piece], piece_width
            if len(lines) > max_lines:
                break
        if len(lines) > max_lines:
            break
    if current and len(lines) <= max_lines:
        lines.append(" ".join(current))
    if len(lines) <= max_lines and not cut:
        return lines
    kept = lines[:max_lines]
    kept[-1] = _cut_to(kept[-1], face, width) + " …"
    return kept


def _label(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, anchor_right: bool) -> None:
    face = font(28, bold=True)
    pad_x, pad_y = 16, 8
    width = int(face.getlength(text)) + 2 * pad_x
    height = 28 + 2 * pad_y + 4
    x, y = xy
    if anchor_right:
        x -= width
    draw.rounded_rectangle((x, y, x + width, y + height), radius=10, fill=(0, 0, 0, 170))
    draw.text((x + pad_x, y + pad_y), text, font=face, fill=INK)


def _png(image: Image.Image, photo: bool = False) -> bytes:
    """PNG bytes; a card with a photo is reduced to 256 colours (dithered) to stay small."""
    from PIL import Image

    out = io.BytesIO()
    rgb = image.convert("RGB")
    if photo:
        rgb = rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                           dither=Image.Dither.FLOYDSTEINBERG)
    rgb.save(out, format="PNG", optimize=photo, compress_level=9 if photo else 6)
    return out.getvalue()


def _text_block(draw: ImageDraw.ImageDraw, title: str, heading: str, subtitle: str = "") -> None:
    """The band above a photo card's picture: heading, title, and the subtitle in the lines
    the title leaves free."""
    draw.text((MARGIN, MARGIN - 14), heading.upper(), font=font(24, bold=True), fill=ACCENT)
    face = font(40, bold=True)
    y = MARGIN + 26
    for line in wrap(title, face, WIDTH - 2 * MARGIN, 3):
        draw.text((MARGIN, y), line, font=face, fill=INK)
        y += 48
    room = (TEXT_BAND - 12 - (y + 6)) // 36
    if subtitle and room > 0:
        y += 6
        for line in wrap(subtitle, font(28), WIDTH - 2 * MARGIN, room):
            draw.text((MARGIN, y), line, font=font(28), fill=MUTED)
            y += 36


def _heading(site_name: str, kind: str) -> str:
    """'MODELKB · MODEL': the site's name and what the page is."""
    return f"{site_name} · {kind}" if kind and site_name else (kind or site_name)


def plain_card(title: str, site_name: str, subtitle: str = "", facts: tuple[str, ...] = (),
               kind: str = "") -> bytes:
    """A 1200x630 PNG without a picture: the site's name and the page's ``kind``, the
    title, the ``subtitle`` (a summary) filling the lines left, and ``facts`` in a band
    along the bottom (the site's name when there are none)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, HEIGHT - 16, WIDTH, HEIGHT), fill=ACCENT)
    band_top = HEIGHT - 16 - FACTS_BAND
    draw.rectangle((0, band_top, WIDTH, HEIGHT - 16), fill=PANEL)
    draw.text((MARGIN, MARGIN), _heading(site_name, kind).upper(), font=font(28, bold=True),
              fill=ACCENT)
    size = 60
    if len(wrap(title, font(size, bold=True), WIDTH - 2 * MARGIN, 99)) > 3:
        size = 46
    y = 110
    for line in wrap(title, font(size, bold=True), WIDTH - 2 * MARGIN, 4 if size < 60 else 3):
        draw.text((MARGIN, y), line, font=font(size, bold=True), fill=INK)
        y += int(size * 1.2)
    if subtitle:
        face = font(30)
        room = max(0, (band_top - 24 - (y + 16)) // 40)
        y += 16
        for line in wrap(subtitle, face, WIDTH - 2 * MARGIN, room) if room else []:
            draw.text((MARGIN, y), line, font=face, fill=MUTED)
            y += 40
    text = "  ·  ".join(facts) if facts else site_name
    face = font(32, bold=True)
    lines = wrap(text, face, WIDTH - 2 * MARGIN, 2)
    y = band_top + (FACTS_BAND - 42 * len(lines)) // 2
    for line in lines:
        draw.text((MARGIN, y), line, font=face, fill=INK)
        y += 42
    return _png(image)


def card_region(before: Image.Image, after: Image.Image,
                region: tuple[int, int, int, int] | None = None) -> tuple[int, int, int, int]:
    """(x, y, w, h) of ``after`` both halves of a card show: ``region`` fitted to the halves'
    3:2 shape (at most REGION_WIDTH px wide, around its centre), or the 3:2 window of that
    width where the model changed most
    (:func:`modelkb.gallery.webimages.changed_most`; the gallery records this window as an
    entry's ``focus``, where its viewer opens)."""

    W, H = after.size
    aspect = (WIDTH // 2) / (HEIGHT - TEXT_BAND)
    if region is not None:
        x, y, w, h = region
        cx, cy = x + w / 2, y + h / 2
        w = min(max(w, h * aspect), REGION_WIDTH)
        h = w / aspect
    else:
        w = min(W, REGION_WIDTH)
        h = w / aspect
    if h > H:
        h = H
        w = h * aspect
    w, h = max(1, min(W, round(w))), max(1, min(H, round(h)))
    if region is not None:
        x = round(min(max(cx - w / 2, 0), W - w))
        y = round(min(max(cy - h / 2, 0), H - h))
    else:
        x, y = changed_most(before, after, (w, h))
    return x, y, w, h


def _badge(draw: ImageDraw.ImageDraw, text: str) -> None:
    """The measured gain, bottom right over the 'after' half."""
    face = font(26, bold=True)
    pad_x, pad_y = 16, 9
    width = int(face.getlength(text)) + 2 * pad_x
    x1, y1 = WIDTH - 20, HEIGHT - 20
    draw.rounded_rectangle((x1 - width, y1 - 26 - 2 * pad_y - 4, x1, y1), radius=10,
                           fill=ACCENT + (235,))
    draw.text((x1 - width + pad_x, y1 - 26 - pad_y - 4), text, font=face, fill=BACKGROUND)


CARD_MAX_PIXELS = WEB_SIDE * WEB_SIDE  # the gallery's viewer images, which cards show


def answer_card(question: str, site_name: str, before: Path | None = None,
                after: Path | None = None, gain: str | None = None,
                region: tuple[int, int, int, int] | None = None, kind: str = "",
                facts: tuple[str, ...] = (), subtitle: str = "",
                max_pixels: int = CARD_MAX_PIXELS) -> bytes:
    """A 1200x630 PNG: the title (an answer's question, a model's name, ...), then one region
    of the photo before (left half, the plain resize) and after (right half, the workflow's
    output), and the measured ``gain``; ``kind`` names the page beside the site's name and
    ``subtitle`` fills the lines a short title leaves free.

    Both halves show the same region: ``region`` (pixels of ``after``) or where the model
    changed the photo most. Without both images the card is a text card with ``facts``, and
    so with images declaring more than ``max_pixels`` (refused from their headers, before
    decoding: the gallery publishes none so large).
    """
    from PIL import Image, ImageDraw

    if before is None or after is None:
        return plain_card(question, site_name, subtitle, facts=facts, kind=kind)
    try:
        with contextlib.ExitStack() as files:
            with warnings.catch_warnings():  # Pillow's bomb warning: sizes are checked here
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                b, a = (files.enter_context(Image.open(path, formats=["WEBP", "PNG"]))
                        for path in (before, after))
            for shown in (b, a):
                if shown.width * shown.height > max_pixels:
                    raise ValueError(f"{shown.width}x{shown.height} pixels, more than the "
                                     f"{max_pixels:,} of a gallery picture")
            before_img, after_img = b.convert("RGB"), a.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        log.warning("card for %r: cannot read %s or %s (%s); drawing a plain card",
                    question[:40], before, after, exc)
        return plain_card(question, site_name, subtitle, facts=facts, kind=kind)
    half = WIDTH // 2
    area = (half, HEIGHT - TEXT_BAND)
    if before_img.size != after_img.size:
        before_img = before_img.resize(after_img.size, Image.Resampling.LANCZOS)
    x, y, w, h = card_region(before_img, after_img, region)
    box = (x, y, x + w, y + h)
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    for i, picture in enumerate((before_img, after_img)):
        shown = picture.crop(box).resize(area, Image.Resampling.LANCZOS)
        image.paste(shown, (i * half, TEXT_BAND))
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.rectangle((half - 2, TEXT_BAND, half + 2, HEIGHT), fill=(255, 255, 255, 255))
    _label(draw, (20, TEXT_BAND + 20), "BEFORE · resize only", anchor_right=False)
    _label(draw, (WIDTH - 20, TEXT_BAND + 20), "AFTER · model", anchor_right=True)
    if gain:
        _badge(draw, gain)
    image = Image.alpha_composite(image.convert("RGBA"), overlay)
    _text_block(ImageDraw.Draw(image), question, _heading(site_name, kind), subtitle)
    return _png(image, photo=True)
