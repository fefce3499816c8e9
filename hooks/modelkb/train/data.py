"""Training and validation data: paired lists (GoPro/RealBlur layout) or sharp folders.

Samples are drawn with a ``numpy.random.Generator`` seeded from ``(seed, step)``, so a run
is reproducible and a resumed run sees exactly the batches the uninterrupted run would have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from modelkb.errors import ModelkbError
from modelkb.pixels.imaging import quantize, read_image
from modelkb.train.degrade import (
    DegradeConfig,
    degrade,
    degrade_pair,
    draw_jpeg,
    draw_noise,
    jitter_saturation,
    sample_kernel,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


@dataclass
class Spec:
    """What a data worker hands the device for one sample (:mod:`modelkb.train.synth`): the
    sharp window (HxWx3 float32 in [0, 1], saturation applied; the crop plus a margin on each
    side), its odd-sized blur kernel and the capture's parameters."""

    window: np.ndarray
    kernel: np.ndarray
    photons: float
    read_noise: float
    jpeg_quality: int | None


def load_rgb(path: Path) -> np.ndarray:
    """An image file as an HxWx3 uint8 array (grey replicated, alpha dropped), read by
    :func:`modelkb.pixels.imaging.read_image` like gallery and restore inputs (same formats,
    limits, EXIF orientation and messages)."""
    return quantize(read_image(path).rgb, 8)


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside `folder`, sorted by name."""
    if not folder.is_dir():
        raise ModelkbError(f"{folder}: not a folder of images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ModelkbError(f"{folder}: no images found (looked for {', '.join(IMAGE_SUFFIXES)})")
    return files


def read_pair_list(list_file: Path) -> list[tuple[Path, Path]]:
    """Parse a text file of 'sharp blurred' path pairs, relative to the list file."""
    if not list_file.is_file():
        raise ModelkbError(f"{list_file}: no such pair list")
    pairs: list[tuple[Path, Path]] = []
    base = list_file.parent
    for number, line in enumerate(list_file.read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split()
        if len(parts) != 2:
            raise ModelkbError(
                f"{list_file}:{number}: expected 'SHARP BLURRED' (two paths), got {text!r}"
            )
        pairs.append((base / parts[0], base / parts[1]))
    if not pairs:
        raise ModelkbError(f"{list_file}: no pairs listed")
    return pairs


def augment(
    arrays: list[np.ndarray], rng: np.random.Generator
) -> list[np.ndarray]:
    """Apply one random flip/rot90 (of the 8 dihedral transforms) to every array alike."""
    k = int(rng.integers(4))
    flip = bool(rng.integers(2))
    out = []
    for a in arrays:
        b = np.rot90(a, k, axes=(0, 1))
        if flip:
            b = b[:, ::-1]
        out.append(np.ascontiguousarray(b))
    return out


def _crop_at(image: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    """A size x size crop, reflect-padding images that are too small."""
    h, w = image.shape[:2]
    if h < size or w < size:
        ph, pw = max(0, size - h), max(0, size - w)
        image = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect")
    return image[top : top + size, left : left + size]


def _fit(image: np.ndarray, max_pixels: int | None) -> np.ndarray:
    """Downscale (Lanczos) so the image holds at most `max_pixels` pixels; None keeps it."""
    h, w = image.shape[:2]
    if not max_pixels or h * w <= max_pixels:
        return image
    scale = math.sqrt(max_pixels / (h * w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


class SyntheticSource:
    """Sharp photos degraded on the fly with :mod:`modelkb.train.degrade`."""

    def __init__(
        self, folder: Path, config: DegradeConfig | None = None, max_pixels: int | None = None
    ) -> None:
        self.files = list_images(folder)
        self.images = [_fit(load_rgb(p), max_pixels) for p in self.files]
        self.config = config or DegradeConfig()
        # a curriculum: (first step, config) in step order; the config of a batch is that of
        # the last phase begun at its step, so a resumed run replays the same stream
        self.phases: list[tuple[int, DegradeConfig]] = [(0, self.config)]
        areas = np.array([im.shape[0] * im.shape[1] for im in self.images], dtype=np.float64)
        self.weights = areas / areas.sum()  # bigger photos hold more distinct crops

    def config_at(self, step: int) -> DegradeConfig:
        """The degradation config of the curriculum phase that `step` belongs to."""
        current = self.phases[0][1]
        for first, config in self.phases:
            if first <= step:
                current = config
        return current

    def _window(self, rng: np.random.Generator, crop: int,
                config: DegradeConfig) -> tuple[np.ndarray, int]:
        """A random augmented uint8 window: the crop plus a margin on each side, and the
        margin (degradation sees real neighbours up to the longest shake's reach)."""
        image = self.images[int(rng.choice(len(self.images), p=self.weights))]
        margin = 16 * max(1, math.ceil(config.length[1] / 24))
        size = crop + 2 * margin
        h, w = image.shape[:2]
        top = int(rng.integers(0, max(h - size, 0) + 1))
        left = int(rng.integers(0, max(w - size, 0) + 1))
        window = _crop_at(image, top, left, size)
        (window,) = augment([window], rng)
        return window, margin

    def sample(self, rng: np.random.Generator, crop: int,
               config: DegradeConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
        """One (sharp, blurred) float32 crop pair of size crop x crop (degraded with
        `config`, default the source's)."""
        config = config or self.config
        window, margin = self._window(rng, crop, config)
        sharp, blurred, _ = degrade_pair(window, rng, config)
        inner = slice(margin, margin + crop)
        return sharp[inner, inner], blurred[inner, inner]

    def spec(self, rng: np.random.Generator, crop: int,
             config: DegradeConfig | None = None) -> Spec:
        """What :func:`modelkb.train.synth.finish` needs to make one pair on the device: the
        saturation-jittered window (crop plus margins), its kernel and capture parameters,
        drawn from the same distributions as :meth:`sample`."""
        config = config or self.config
        window, _margin = self._window(rng, crop, config)
        factor = float(rng.uniform(*config.saturation))
        window = jitter_saturation(window.astype(np.float32) / 255.0, factor)
        kernel, _params = sample_kernel(rng, config)
        noise = draw_noise(rng, config)
        return Spec(window, kernel, noise["photons"], noise["read_noise"],
                    draw_jpeg(rng, config, noise["regime"]))


class PairedSource:
    """Real (sharp, blurred) pairs from a list file; images are read when sampled."""

    def __init__(self, list_file: Path, saturation: tuple[float, float] = (0.8, 1.2)) -> None:
        self.pairs = read_pair_list(list_file)
        self.saturation = saturation

    def sample(self, rng: np.random.Generator, crop: int,
               config: DegradeConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
        """One (sharp, blurred) float32 crop pair of size crop x crop (real pairs are
        already degraded: `config` is unused)."""
        sharp_path, blurred_path = self.pairs[int(rng.integers(len(self.pairs)))]
        sharp, blurred = load_rgb(sharp_path), load_rgb(blurred_path)
        if sharp.shape != blurred.shape:
            raise ModelkbError(
                f"{blurred_path}: size {blurred.shape[1]}x{blurred.shape[0]} differs from "
                f"its sharp image {sharp_path} ({sharp.shape[1]}x{sharp.shape[0]})"
            )
        h, w = sharp.shape[:2]
        top = int(rng.integers(0, max(h - crop, 0) + 1))
        left = int(rng.integers(0, max(w - crop, 0) + 1))
        sharp, blurred = (_crop_at(a, top, left, crop) for a in (sharp, blurred))
        sharp, blurred = augment([sharp, blurred], rng)
        factor = float(rng.uniform(*self.saturation))
        sharp = jitter_saturation(sharp.astype(np.float32) / 255.0, factor)
        blurred = jitter_saturation(blurred.astype(np.float32) / 255.0, factor)
        return sharp, blurred


def open_source(
    path: Path, config: DegradeConfig | None = None, max_pixels: int | None = None
) -> SyntheticSource | PairedSource:
    """A folder of sharp photos -> synthetic pairs; a text file -> listed real pairs."""
    if path.is_dir():
        return SyntheticSource(path, config, max_pixels)
    if path.is_file():
        return PairedSource(path)
    raise ModelkbError(f"{path}: no such folder of sharp photos or pair list")


def batch(
    source: SyntheticSource | PairedSource, seed: int, step: int, size: int, crop: int
) -> tuple[np.ndarray, np.ndarray]:
    """The deterministic batch for `step`: arrays (N, 3, crop, crop) sharp and blurred."""
    rng = np.random.default_rng([seed, step])
    config = source.config_at(step) if isinstance(source, SyntheticSource) else None
    pairs = [source.sample(rng, crop, config) for _ in range(size)]
    sharp = np.stack([p[0] for p in pairs]).transpose(0, 3, 1, 2)
    blurred = np.stack([p[1] for p in pairs]).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(sharp), np.ascontiguousarray(blurred)


def batch_specs(source: SyntheticSource, seed: int, step: int, size: int,
                crop: int) -> list[Spec]:
    """The device-side twin of :func:`batch`: specs for :func:`modelkb.train.synth.finish`."""
    rng = np.random.default_rng([seed, step])
    return [source.spec(rng, crop, source.config_at(step)) for _ in range(size)]


@dataclass
class ValidationPair:
    """A held-out (sharp, blurred) pair of float32 HxWx3 arrays and its name."""

    name: str
    sharp: np.ndarray
    blurred: np.ndarray


def centre_crop(image: np.ndarray, size: int | None) -> np.ndarray:
    """A centred crop at most size x size, trimmed to a multiple of 16."""
    h, w = image.shape[:2]
    th, tw = (min(h, size), min(w, size)) if size else (h, w)
    th, tw = th - th % 16, tw - tw % 16
    top, left = (h - th) // 2, (w - tw) // 2
    return image[top : top + th, left : left + tw]


def validation_pairs(
    path: Path, seed: int = 1234, size: int | None = 256, config: DegradeConfig | None = None,
    max_pixels: int | None = None,
) -> list[ValidationPair]:
    """Held-out pairs: a folder of sharp photos (degraded with fixed seeds; each scaled to at
    most `max_pixels` first, as training photos are) or a pair list."""
    out: list[ValidationPair] = []
    if path.is_dir():
        for index, file in enumerate(list_images(path)):
            sharp = centre_crop(_fit(load_rgb(file), max_pixels), size).astype(np.float32) / 255.0
            blurred, _ = degrade(sharp, np.random.default_rng([seed, index]), config)
            out.append(ValidationPair(file.stem, sharp, blurred))
    elif path.is_file():
        for sharp_path, blurred_path in read_pair_list(path):
            sharp = centre_crop(load_rgb(sharp_path), size).astype(np.float32) / 255.0
            blurred = centre_crop(load_rgb(blurred_path), size).astype(np.float32) / 255.0
            out.append(ValidationPair(sharp_path.stem, sharp, blurred))
    else:
        raise ModelkbError(f"{path}: no such folder of held-out photos or pair list")
    return out
