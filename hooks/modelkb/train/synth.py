"""The degradation pipeline of :mod:`modelkb.train.degrade` on batches of torch tensors.

On a GPU the data workers only cut windows and draw parameters (cheap, numpy), and the
device does the expensive part for the whole batch at once: sRGB -> linear, camera-shake
convolution (one FFT per batch), Poisson-Gaussian sensor noise, 8-bit rounding and a JPEG
simulation, so the model does not wait for CPU-side blur synthesis (issue 18).

The JPEG step is baseline JPEG as libjpeg (Pillow) writes it at its defaults, minus the
lossless entropy coding: JFIF YCbCr, 4:2:0 chroma (2x2 mean), 8x8 orthonormal DCT, the
standard's Annex K tables scaled by the IJG quality formula, rounding to integers, and
decoding with triangular ("fancy") chroma upsampling. Its output is close to Pillow's, not
bit-exact (libjpeg's integer DCT rounds differently); ``tests/test_synth.py`` measures it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from modelkb.train.data import Spec

# JPEG standard (ITU-T T.81) Annex K, tables K.1 (luminance) and K.2 (chrominance).
LUMA_TABLE = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)
CHROMA_TABLE = (
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
)


def quant_table(base: tuple[int, ...], quality: int) -> np.ndarray:
    """An 8x8 quantisation table scaled for `quality` (1-100) as libjpeg does (baseline)."""
    quality = min(max(int(quality), 1), 100)
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    table = (np.asarray(base, dtype=np.int64) * scale + 50) // 100
    return np.clip(table, 1, 255).reshape(8, 8).astype(np.float32)


def _dct_matrix(device: torch.device) -> torch.Tensor:
    """The orthonormal 8-point DCT-II matrix."""
    k = torch.arange(8, dtype=torch.float64)
    m = torch.cos((2 * k[None, :] + 1) * k[:, None] * math.pi / 16) * math.sqrt(2 / 8)
    m[0] /= math.sqrt(2)
    return m.to(device=device, dtype=torch.float32)


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """The sRGB transfer function inverted, for tensors in [0, 1]."""
    x = x.clamp(0, 1)
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """The sRGB transfer function, for tensors in [0, 1]."""
    x = x.clamp(0, 1)
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp_min(1e-12) ** (1 / 2.4) - 0.055)


def blur(images: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Convolve each NxCxHxW image with its own odd-sized KxK kernel (N x K x K); borders
    reflected as in the numpy path, size kept. One FFT for the whole batch."""
    n, c, h, w = images.shape
    k = kernels.shape[-1]
    half = k // 2
    mode = "reflect" if min(h, w) > half else "replicate"
    padded = F.pad(images, (half, half, half, half), mode=mode)
    ph, pw = padded.shape[-2:]
    spectrum = torch.fft.rfft2(padded, s=(ph, pw))
    kernel_spectrum = torch.fft.rfft2(kernels, s=(ph, pw))[:, None]
    full = torch.fft.irfft2(spectrum * kernel_spectrum, s=(ph, pw))
    # circular convolution: output (y, x) of the 'valid' part lands at (y + k - 1, x + k - 1)
    return full[..., k - 1 : k - 1 + h, k - 1 : k - 1 + w]


def sensor_noise(linear: torch.Tensor, photons: torch.Tensor, read_noise: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Poisson-Gaussian noise per sample: shot noise at `photons` full scale plus read noise
    (`photons` <= 0: no shot noise for that sample)."""
    scale = photons.view(-1, 1, 1, 1)
    x = linear.clamp_min(0)
    safe = scale.clamp_min(1.0)
    shot = torch.where(scale > 0, torch.poisson(x * safe, generator=generator) / safe, x)
    read = torch.randn(linear.shape, generator=generator, device=linear.device)
    return (shot + read * read_noise.view(-1, 1, 1, 1)).clamp(0, 1)


def _to_blocks(plane: torch.Tensor) -> torch.Tensor:
    """N x H x W (multiples of 8) -> N x H/8 x W/8 x 8 x 8."""
    n, h, w = plane.shape
    return plane.reshape(n, h // 8, 8, w // 8, 8).permute(0, 1, 3, 2, 4)


def _from_blocks(blocks: torch.Tensor) -> torch.Tensor:
    n, bh, bw = blocks.shape[:3]
    return blocks.permute(0, 1, 3, 2, 4).reshape(n, bh * 8, bw * 8)


def _code_plane(plane: torch.Tensor, tables: torch.Tensor, dct: torch.Tensor) -> torch.Tensor:
    """Level-shift, DCT, quantise (per-sample table N x 8 x 8), dequantise, inverse DCT."""
    blocks = _to_blocks(plane - 128.0)
    coef = dct @ blocks @ dct.T
    q = tables[:, None, None]
    coef = torch.round(coef / q) * q
    return _from_blocks(dct.T @ coef @ dct) + 128.0


def jpeg(images: torch.Tensor, qualities: list[int]) -> torch.Tensor:
    """Baseline 4:2:0 JPEG encode+decode of N x 3 x H x W images in [0, 1] (see the module
    docstring), one quality per sample; returns 8-bit values as floats in [0, 1]."""
    n, _, h, w = images.shape
    device = images.device
    pad_h, pad_w = (-h) % 16, (-w) % 16
    x = F.pad(images, (0, pad_w, 0, pad_h), mode="replicate") * 255.0
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128.0
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128.0
    luma_q = torch.from_numpy(np.stack([quant_table(LUMA_TABLE, q) for q in qualities]))
    chroma_q = torch.from_numpy(np.stack([quant_table(CHROMA_TABLE, q) for q in qualities]))
    dct = _dct_matrix(device)
    y = _code_plane(y, luma_q.to(device), dct)
    chroma = F.avg_pool2d(torch.stack([cb, cr], 1), 2)
    coded = torch.stack([_code_plane(chroma[:, i], chroma_q.to(device), dct) for i in (0, 1)], 1)
    cb, cr = F.interpolate(coded, scale_factor=2, mode="bilinear", align_corners=False).unbind(1)
    r = y + 1.402 * (cr - 128.0)
    g = y - 0.344136 * (cb - 128.0) - 0.714136 * (cr - 128.0)
    b = y + 1.772 * (cb - 128.0)
    out = torch.stack([r, g, b], 1)[..., :h, :w]
    return torch.round(out.clamp(0, 255)) / 255.0


def finish(specs: list[Spec], crop: int, device: torch.device | str,
           generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(sharp, blurred) N x 3 x crop x crop tensors on `device` from the workers' specs:
    the centre crop of each window, and the same crop degraded on the device."""
    device = torch.device(device)
    windows = torch.from_numpy(np.stack([s.window for s in specs])).permute(0, 3, 1, 2)
    windows = windows.to(device, non_blocking=True).float()
    size = max(s.kernel.shape[0] for s in specs)
    kernels = np.zeros((len(specs), size, size), dtype=np.float32)
    for i, s in enumerate(specs):
        k = s.kernel.shape[0]
        off = (size - k) // 2
        kernels[i, off : off + k, off : off + k] = s.kernel
    linear = blur(srgb_to_linear(windows), torch.from_numpy(kernels).to(device))
    margin = (windows.shape[-1] - crop) // 2
    inner = slice(margin, margin + crop)
    sharp = windows[..., inner, inner]
    linear = linear[..., inner, inner]
    photons = torch.tensor([s.photons for s in specs], device=device)
    read = torch.tensor([s.read_noise for s in specs], device=device)
    sensor = photons > 0  # the light and clean regimes (photons 0) add noise to sRGB values
    noisy = sensor_noise(linear, photons, torch.where(sensor, read, torch.zeros_like(read)),
                         generator)
    display = linear_to_srgb(noisy)
    display_read = torch.where(sensor, torch.zeros_like(read), read)
    if bool((display_read > 0).any()):
        grain = torch.randn(display.shape, generator=generator, device=display.device)
        display = (display + grain * display_read.view(-1, 1, 1, 1)).clamp(0, 1)
    out = torch.round(display * 255) / 255
    coded = [i for i, s in enumerate(specs) if s.jpeg_quality is not None]
    if coded:
        index = torch.tensor(coded, device=device)
        out[index] = jpeg(out[index], [specs[i].jpeg_quality for i in coded])
    return sharp.contiguous(), out.contiguous()
