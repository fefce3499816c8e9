"""Realistic, seeded blur synthesis: camera shake, defocus, sensor noise, JPEG, saturation.

Everything here is numpy/scipy/Pillow only (no torch), so the gallery can degrade inputs
without loading the network. Every random choice comes from a ``numpy.random.Generator``
built from a seed, so the same seed always gives the same kernel, noise and JPEG bytes.

Pipeline of :func:`degrade` (see docs/degradations.md):

1. sRGB -> linear light (exposure happens in linear light);
2. convolve with a camera-shake kernel (random walk with inertia, rasterised with
   antialiasing), optionally convolved with a defocus disk;
3. Poisson-Gaussian sensor noise in linear light (shot noise + read noise), clip to [0, 1]
   (a saturated sensor);
4. linear -> sRGB, quantise to 8 bits, optional JPEG at a random quality.

Colour-saturation jitter is a photometric augmentation of the *scene*, so it must change
the sharp target and the blurred input alike: :func:`degrade_pair` applies it to both.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image
from scipy.signal import fftconvolve, lfilter

__all__ = [
    "DegradeConfig",
    "add_sensor_noise",
    "blur",
    "defocus_kernel",
    "degrade",
    "degrade_pair",
    "jitter_saturation",
    "jpeg",
    "linear_to_srgb",
    "motion_kernel",
    "sample_kernel",
    "srgb_to_linear",
]


@dataclass(frozen=True)
class DegradeConfig:
    """Ranges the random degradation parameters are drawn from (uniformly unless noted)."""

    length: tuple[float, float] = (4.0, 17.0)  # camera-shake path length, pixels
    # a share `short_prob` of shakes is drawn from `short_length` instead (so the network also
    # learns to leave nearly sharp photos alone and does not over-sharpen 2-6 px shakes)
    short_prob: float = 0.0
    short_length: tuple[float, float] = (2.0, 6.0)
    curvature: tuple[float, float] = (0.0, 0.35)  # std of the turning rate, radians/pixel
    inertia: tuple[float, float] = (0.6, 0.95)  # AR(1) memory of the turning rate
    speed_jitter: tuple[float, float] = (0.0, 0.5)  # relative variation of the hand's speed
    defocus_prob: float = 0.3
    defocus_radius: tuple[float, float] = (0.5, 2.0)  # disk radius, pixels
    photons: tuple[float, float] = (300.0, 3000.0)  # full-well electrons, log-uniform
    read_noise: tuple[float, float] = (0.0, 0.006)  # Gaussian std in linear [0, 1] units
    jpeg_prob: float = 0.6
    jpeg_quality: tuple[int, int] = (60, 95)
    # Noise regimes: a share `clean_prob` of samples gets no noise and no JPEG (blur only), a
    # share `light_prob` light noise (no shot noise; Gaussian noise of std drawn from
    # `light_read_noise` on the sRGB values, 0.01 = 1% of full scale; JPEG at
    # `light_jpeg_quality` with probability `jpeg_prob`); the rest the ranges above.
    clean_prob: float = 0.0
    light_prob: float = 0.0
    light_read_noise: tuple[float, float] = (0.0, 0.01)
    light_jpeg_quality: tuple[int, int] = (85, 95)
    saturation: tuple[float, float] = (0.8, 1.2)  # colour saturation factor (degrade_pair)
    extras: dict[str, Any] = field(default_factory=dict)


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A Generator from a seed (or the Generator itself)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """The sRGB electro-optical transfer function, for arrays in [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Inverse of :func:`srgb_to_linear`, for arrays in [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(
        x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1.0 / 2.4) - 0.055
    ).astype(np.float32)


def _splat(points: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """Rasterise weighted sub-pixel points onto a size x size grid with bilinear splatting."""
    kernel = np.zeros((size, size), dtype=np.float64)
    x, y = points[:, 0], points[:, 1]
    x0 = np.floor(x).astype(int)
    y0 = np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    for dx, dy, w in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        xi, yi = x0 + dx, y0 + dy
        ok = (xi >= 0) & (xi < size) & (yi >= 0) & (yi < size)
        np.add.at(kernel, (yi[ok], xi[ok]), (w * weights)[ok])
    return kernel


def motion_kernel(
    rng: int | np.random.Generator | None,
    length: float = 9.0,
    curvature: float = 0.3,
    inertia: float = 0.8,
    speed_jitter: float = 0.2,
    steps: int | None = None,
) -> np.ndarray:
    """A camera-shake kernel: a random walk with inertia of arc length `length` pixels.

    The heading turns by an AR(1) process (memory `inertia`, stationary std `curvature`
    radians per pixel), so paths range from straight lines to curls and hooks; the hand's
    speed varies too (`speed_jitter`), which makes the exposure along the path uneven, as in
    real shake. The path is sampled at 8 points per pixel and splatted bilinearly
    (antialiased); the result is odd-sized, centred on its centre of mass, and sums to 1.
    """
    gen = _rng(rng)
    length = max(float(length), 0.0)
    n = int(steps or max(8, math.ceil(length)))  # control steps, about one per pixel
    # turning rate with inertia; heading is its running sum
    innovations = gen.normal(0.0, curvature, n) * math.sqrt(max(1.0 - inertia**2, 1e-6))
    omega = lfilter([1.0], [1.0, -inertia], innovations)
    heading = gen.uniform(0.0, 2.0 * math.pi) + np.cumsum(omega)
    speed = np.exp(lfilter([1.0], [1.0, -0.7], gen.normal(0.0, speed_jitter * 0.7, n)))
    step = np.stack([np.cos(heading), np.sin(heading)], axis=1) * speed[:, None]
    ctrl = np.concatenate([np.zeros((1, 2)), np.cumsum(step, axis=0)], axis=0)
    arc = float(np.sum(np.linalg.norm(step, axis=1)))
    ctrl *= length / max(arc, 1e-9)
    # sub-pixel sampling: 8 points per control segment, linearly interpolated
    sub = 8
    t = np.arange(n * sub + 1) / sub
    path = np.stack([np.interp(t, np.arange(n + 1), ctrl[:, i]) for i in range(2)], axis=1)
    # time spent per sample ~ 1/speed: a slower hand exposes a point longer
    seg_speed = np.repeat(speed, sub)
    dwell = np.concatenate([[1.0 / seg_speed[0]], 1.0 / seg_speed])
    dwell /= dwell.sum()
    centre = (path * dwell[:, None]).sum(axis=0)
    path -= centre
    radius = float(np.abs(path).max()) if len(path) else 0.0
    half = math.ceil(radius) + 1
    size = 2 * half + 1
    kernel = _splat(path + half, dwell, size)
    kernel /= kernel.sum()
    return kernel.astype(np.float32)


def defocus_kernel(radius: float, supersample: int = 8) -> np.ndarray:
    """An antialiased disk (out-of-focus blur) of `radius` pixels that sums to 1."""
    radius = max(float(radius), 0.25)
    half = math.ceil(radius)
    size = 2 * half + 1
    fine = (np.arange(size * supersample) + 0.5) / supersample - half - 0.5
    yy, xx = np.meshgrid(fine, fine, indexing="ij")
    inside = (xx**2 + yy**2 <= radius**2).astype(np.float64)
    kernel = inside.reshape(size, supersample, size, supersample).mean(axis=(1, 3))
    kernel /= kernel.sum()
    return kernel.astype(np.float32)


def sample_kernel(
    rng: int | np.random.Generator | None, config: DegradeConfig | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Draw a blur kernel (shake, maybe convolved with defocus) and its parameters."""
    gen = _rng(rng)
    cfg = config or DegradeConfig()
    span = cfg.length
    if cfg.short_prob > 0 and gen.random() < cfg.short_prob:  # no draw otherwise: old streams
        span = cfg.short_length
    params: dict[str, Any] = {
        "length": float(gen.uniform(*span)),
        "curvature": float(gen.uniform(*cfg.curvature)),
        "inertia": float(gen.uniform(*cfg.inertia)),
        "speed_jitter": float(gen.uniform(*cfg.speed_jitter)),
    }
    kernel = motion_kernel(
        gen, params["length"], params["curvature"], params["inertia"], params["speed_jitter"]
    )
    params["defocus_radius"] = 0.0
    if gen.random() < cfg.defocus_prob:
        params["defocus_radius"] = float(gen.uniform(*cfg.defocus_radius))
        disk = defocus_kernel(params["defocus_radius"])
        kernel = fftconvolve(kernel, disk, mode="full").clip(0, None)
        kernel = (kernel / kernel.sum()).astype(np.float32)
    params["kernel_size"] = int(kernel.shape[0])
    return kernel, params


def blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve an HxWxC float image with a 2-D kernel; borders are reflected, size kept."""
    kh, kw = kernel.shape
    ph, pw = kh // 2, kw // 2
    mode = "reflect" if min(image.shape[:2]) > max(ph, pw) else "edge"
    padded = np.pad(image, ((ph, ph), (pw, pw), (0, 0)), mode=mode)
    out = fftconvolve(padded, kernel[:, :, None], mode="valid", axes=(0, 1))
    return out.astype(np.float32)


def add_sensor_noise(
    linear: np.ndarray,
    rng: int | np.random.Generator | None,
    photons: float = 1000.0,
    read_noise: float = 0.002,
) -> np.ndarray:
    """Poisson-Gaussian noise: shot noise with `photons` at full scale plus read noise
    (`photons` <= 0: no shot noise)."""
    gen = _rng(rng)
    x = np.clip(linear, 0.0, None).astype(np.float64)
    shot = gen.poisson(x * photons) / photons if photons > 0 else x
    noisy = shot + gen.normal(0.0, read_noise, x.shape)
    return np.clip(noisy, 0.0, 1.0).astype(np.float32)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip an HxWx3 float image in [0, 1] through JPEG at `quality`."""
    u8 = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def jitter_saturation(image: np.ndarray, factor: float) -> np.ndarray:
    """Scale colour saturation by `factor` around the Rec. 601 luma (1.0 = unchanged)."""
    luma = image @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(luma[..., None] + factor * (image - luma[..., None]), 0.0, 1.0).astype(
        np.float32
    )


def _as_float(image: np.ndarray) -> np.ndarray:
    """An HxWx3 float32 array in [0, 1] from uint8 or float input (grey is replicated)."""
    arr = np.asarray(image)
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    arr = arr.astype(np.float32)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return arr


def draw_noise(gen: np.random.Generator, cfg: DegradeConfig) -> dict[str, Any]:
    """The sensor's parameters: the regime (clean, light or heavy), full-well electrons
    (log-uniform; 0 for no shot noise) and read noise."""
    regime = "heavy"
    if cfg.clean_prob > 0 or cfg.light_prob > 0:  # no draw otherwise: old streams unchanged
        u = float(gen.random())
        if u < cfg.clean_prob:
            regime = "clean"
        elif u < cfg.clean_prob + cfg.light_prob:
            regime = "light"
    if regime == "clean":
        return {"regime": regime, "photons": 0.0, "read_noise": 0.0}
    if regime == "light":
        return {"regime": regime, "photons": 0.0,
                "read_noise": float(gen.uniform(*cfg.light_read_noise))}
    lo, hi = math.log(cfg.photons[0]), math.log(cfg.photons[1])
    photons = float(math.exp(gen.uniform(lo, hi)))
    return {"regime": regime, "photons": photons,
            "read_noise": float(gen.uniform(*cfg.read_noise))}


def draw_jpeg(gen: np.random.Generator, cfg: DegradeConfig, regime: str = "heavy") -> int | None:
    """A JPEG quality, or None (no JPEG) with probability 1 - ``jpeg_prob``; never for
    the clean regime."""
    if regime == "clean":
        return None
    lo, hi = cfg.light_jpeg_quality if regime == "light" else cfg.jpeg_quality
    if gen.random() < cfg.jpeg_prob:
        return int(gen.integers(lo, hi + 1))
    return None


def degrade(
    sharp: np.ndarray,
    seed: int | np.random.Generator | None,
    config: DegradeConfig | None = None,
    kernel: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Blur, noise and compress a sharp HxWx3 image; returns (blurred float32, params)."""
    gen = _rng(seed)
    cfg = config or DegradeConfig()
    x = _as_float(sharp)
    if kernel is None:
        kernel, params = sample_kernel(gen, cfg)
    else:
        params = {"kernel_size": int(kernel.shape[0]), "given_kernel": True}
    linear = blur(srgb_to_linear(x), kernel)
    params.update(draw_noise(gen, cfg))
    if params["photons"] > 0:  # a sensor: shot and read noise in linear light
        linear = add_sensor_noise(linear, gen, params["photons"], params["read_noise"])
        display = linear_to_srgb(linear)
    else:  # light and clean regimes: no shot noise; read noise on the display values
        display = linear_to_srgb(np.clip(linear, 0.0, 1.0))
        if params["read_noise"] > 0:
            display = np.clip(display + gen.normal(0.0, params["read_noise"], display.shape),
                              0.0, 1.0)
    out = np.round(display * 255.0) / 255.0
    params["jpeg_quality"] = draw_jpeg(gen, cfg, params["regime"])
    if params["jpeg_quality"] is not None:
        out = jpeg(out, params["jpeg_quality"])
    params["kernel"] = kernel
    return out.astype(np.float32), params


def degrade_pair(
    sharp: np.ndarray,
    seed: int | np.random.Generator | None,
    config: DegradeConfig | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Saturation-jitter a sharp image, then degrade it: (sharp target, blurred, params)."""
    gen = _rng(seed)
    cfg = config or DegradeConfig()
    factor = float(gen.uniform(*cfg.saturation))
    target = jitter_saturation(_as_float(sharp), factor)
    blurred, params = degrade(target, gen, cfg)
    params["saturation"] = factor
    return target, blurred, params


def describe(params: dict[str, Any]) -> str:
    """A one-line human summary of degradation parameters (the kernel array left out)."""
    shown = {k: v for k, v in params.items() if k != "kernel"}
    return ", ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()
    )


def config_dict(config: DegradeConfig) -> dict[str, Any]:
    """A JSON-friendly dict of a config (for checkpoints and model cards)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}
