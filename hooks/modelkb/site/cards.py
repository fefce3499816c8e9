"""Link-preview cards: 1200x630 PNGs drawn with Pillow at build time, no network.

An answer's card shows its question above the first gallery image, split down the middle:
the left half is the plain resize ("before"), the right half the workflow's output ("after").
Pages without a gallery image share one plain card with the site's name.
"""

from __future__ import annotations

import io
import logging
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Pillow loads only when a card is drawn: cached builds skip it
    from PIL import Image, ImageDraw, ImageFont

    Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

log = logging.getLogger("mkdocs.plugins.modelkb")

WIDTH, HEIGHT = 1200, 630
MARGIN = 48
TEXT_BAND = 230  # height of the question band above the before/after image
BACKGROUND = (24, 32, 48)
INK = (245, 247, 250)
MUTED = (160, 172, 190)
ACCENT = (255, 196, 0)
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


def wrap(text: str, face: Font, width: int, max_lines: int) -> list[str]:
    """``text`` broken into lines no wider than ``width``; the last line ends in '…' if cut."""
    words = " ".join(text.split()).split(" ")
    lines: list[str] = []
    current = ""
    for word in words:
        trial = f"{current} {word}".strip()
        if face.getlength(trial) <= width or not current:
            current = trial
            continue
        lines.append(current)
        current = word
    if current:
        lines.append(current)
    if len(lines) <= max_lines:
        return lines
    kept = lines[:max_lines]
    last = kept[-1]
    while last and face.getlength(last + " …") > width:
        last = last.rsplit(" ", 1)[0] if " " in last else last[:-1]
    kept[-1] = last + " …"
    return kept


def _cover(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` scaled and centre-cropped to fill ``size`` exactly."""
    from PIL import Image

    w, h = size
    scale = max(w / image.width, h / image.height)
    scaled = image.resize((max(w, round(image.width * scale)), max(h, round(image.height * scale))),
                          Image.Resampling.LANCZOS)
    left, top = (scaled.width - w) // 2, (scaled.height - h) // 2
    return scaled.crop((left, top, left + w, top + h))


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


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()


def _text_block(draw: ImageDraw.ImageDraw, title: str, site_name: str) -> None:
    draw.text((MARGIN, MARGIN - 14), site_name.upper(), font=font(24, bold=True), fill=ACCENT)
    face = font(40, bold=True)
    y = MARGIN + 26
    for line in wrap(title, face, WIDTH - 2 * MARGIN, 3):
        draw.text((MARGIN, y), line, font=face, fill=INK)
        y += 48


def plain_card(title: str, site_name: str, subtitle: str = "") -> bytes:
    """A 1200x630 PNG with the title (and an optional subtitle) on a plain background."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, HEIGHT - 16, WIDTH, HEIGHT), fill=ACCENT)
    draw.text((MARGIN, MARGIN), site_name.upper(), font=font(28, bold=True), fill=ACCENT)
    size = 64
    if len(wrap(title, font(size, bold=True), WIDTH - 2 * MARGIN, 99)) > 4:
        size = 50
    y = 130
    for line in wrap(title, font(size, bold=True), WIDTH - 2 * MARGIN, 6):
        draw.text((MARGIN, y), line, font=font(size, bold=True), fill=INK)
        y += int(size * 1.22)
    if subtitle:
        for line in wrap(subtitle, font(30), WIDTH - 2 * MARGIN, 3):
            draw.text((MARGIN, y + 20), line, font=font(30), fill=MUTED)
            y += 40
    return _png(image)


def answer_card(question: str, site_name: str, before: Path | None = None,
                after: Path | None = None) -> bytes:
    """A 1200x630 PNG: the question, then before (left half) and after (right half) images.

    Without both images the card is a plain one with the question.
    """
    from PIL import Image, ImageDraw

    if before is None or after is None:
        return plain_card(question, site_name)
    try:
        with Image.open(before) as b, Image.open(after) as a:
            before_img, after_img = b.convert("RGB"), a.convert("RGB")
    except OSError as exc:
        log.warning("card for %r: cannot read %s (%s); drawing a plain card", question[:40],
                    before, exc)
        return plain_card(question, site_name)
    area = (WIDTH, HEIGHT - TEXT_BAND)
    if before_img.size != after_img.size:
        before_img = before_img.resize(after_img.size, Image.Resampling.LANCZOS)
    before_fit, after_fit = _cover(before_img, area), _cover(after_img, area)
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    half = WIDTH // 2
    image.paste(before_fit.crop((0, 0, half, area[1])), (0, TEXT_BAND))
    image.paste(after_fit.crop((half, 0, WIDTH, area[1])), (half, TEXT_BAND))
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.rectangle((half - 2, TEXT_BAND, half + 2, HEIGHT), fill=(255, 255, 255, 255))
    _label(draw, (20, TEXT_BAND + 20), "BEFORE · resize only", anchor_right=False)
    _label(draw, (WIDTH - 20, TEXT_BAND + 20), "AFTER · model", anchor_right=True)
    image = Image.alpha_composite(image.convert("RGBA"), overlay)
    _text_block(ImageDraw.Draw(image), question, site_name)
    return _png(image)
