"""Image quality measures for the gallery, computed with scikit-image.

- **PSNR / SSIM** against the sharp reference, when the gallery entry has one: for the
  restored image (the output of the restore step, at the input's size) and for the input
  itself, so the gain the model brings shows. Images are float RGB in [0, 1] (data range 1);
  SSIM uses scikit-image's defaults (7x7 window) over the three channels.
- **Colour fidelity** as CIEDE2000 (``skimage.color.deltaE_ciede2000`` on CIELAB, D65)
  between the input and the restored image: mean and 95th percentile over the whole picture
  and over skin-tone pixels. Deblurring should sharpen, not recolour; ΔE00 below about 1 is
  invisible, 2-3 is noticeable side by side.
- **Skin-tone mask**: the classic YCbCr rule (Chai & Ngan 1999) on the *input*, with Cb and
  Cr in the 0-255 range of ITU-R BT.601 full-range YCbCr: ``77 <= Cb <= 127`` and
  ``133 <= Cr <= 173``. It is a broad chroma box: it also catches wood, sand and warm
  lighting, so the skin figures describe "skin-like colours". They are reported as None when
  fewer than :data:`MIN_SKIN_PIXELS` pixels (or :data:`MIN_SKIN_FRACTION` of the image) match.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

CB_RANGE = (77.0, 127.0)
CR_RANGE = (133.0, 173.0)
MIN_SKIN_PIXELS = 64
MIN_SKIN_FRACTION = 0.001


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in size: {a.shape} and {b.shape}")


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB of float RGB in [0, 1] against a reference (inf when identical)."""
    from skimage.metrics import peak_signal_noise_ratio

    _check_pair(image, reference)
    if np.array_equal(image, reference):
        return math.inf
    return float(peak_signal_noise_ratio(reference.astype(np.float64),
                                         image.astype(np.float64), data_range=1.0))


def ssim(image: np.ndarray, reference: np.ndarray) -> float:
    """SSIM of float RGB in [0, 1] against a reference (1 when identical)."""
    from skimage.metrics import structural_similarity

    _check_pair(image, reference)
    side = min(image.shape[:2])
    window = min(7, side if side % 2 else side - 1)
    return float(structural_similarity(reference.astype(np.float64), image.astype(np.float64),
                                       data_range=1.0, channel_axis=2, win_size=window))


def skin_mask(rgb: np.ndarray) -> np.ndarray:
    """Boolean HxW mask of skin-like pixels: BT.601 Cb in [77, 127] and Cr in [133, 173]."""
    scaled = np.clip(rgb.astype(np.float64), 0.0, 1.0) * 255.0
    r, g, b = scaled[..., 0], scaled[..., 1], scaled[..., 2]
    cb = 128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return ((cb >= CB_RANGE[0]) & (cb <= CB_RANGE[1])
            & (cr >= CR_RANGE[0]) & (cr <= CR_RANGE[1]))


def delta_e_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel CIEDE2000 difference between two float sRGB images in [0, 1]."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    _check_pair(a, b)
    # float32 throughout: 2.9x faster than float64 on a 1 MP photo, mean and 95th percentile
    # equal to 1e-6 ΔE00 (BENCHMARKS.md, "Gallery metrics in float32")
    lab_a = rgb2lab(np.clip(a.astype(np.float32), 0.0, 1.0))
    lab_b = rgb2lab(np.clip(b.astype(np.float32), 0.0, 1.0))
    return np.asarray(deltaE_ciede2000(lab_a, lab_b, channel_axis=-1))


def _stats(values: np.ndarray) -> dict[str, float]:
    return {"mean": round(float(values.mean()), 4),
            "p95": round(float(np.percentile(values, 95)), 4)}


def colour_fidelity(before: np.ndarray, after: np.ndarray) -> dict[str, Any]:
    """ΔE00 between ``before`` and ``after``: whole image and skin-tone pixels of ``before``."""
    diff = delta_e_map(before, after)
    mask = skin_mask(before)
    count = int(mask.sum())
    fraction = count / mask.size
    enough = count >= MIN_SKIN_PIXELS and fraction >= MIN_SKIN_FRACTION
    return {
        "delta_e2000": _stats(diff),
        "skin": {
            "fraction": round(fraction, 4),
            "pixels": count,
            "delta_e2000": _stats(diff[mask]) if enough else None,
            "rule": "YCbCr (BT.601 full range): 77<=Cb<=127 and 133<=Cr<=173, on the input",
        },
    }


def _finite(value: float) -> float | None:
    """A float for JSON: rounded, and None for infinity (identical images)."""
    return None if math.isinf(value) else round(value, 4)


def laplacian_variance(rgb: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of the BT.601 luma: fine detail (and noise)."""
    from scipy.ndimage import laplace

    luma = rgb[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return float(laplace(luma).var())


def sharpness(input_rgb: np.ndarray, restored: np.ndarray,
              reference: np.ndarray | None) -> dict[str, Any]:
    """Laplacian variance of input and restored image, relative to the reference's when
    there is one (1 = as much fine detail as the sharp photo). Noise raises it too, so a
    noisy input can score above 1; closer to 1 is closer to the reference."""
    base = laplacian_variance(reference) if reference is not None else None
    values = {"input": laplacian_variance(input_rgb), "restored": laplacian_variance(restored)}
    if base:
        values = {k: v / base for k, v in values.items()}
    return {"relative_to_reference": bool(base),
            **{k: round(v, 4) for k, v in values.items()}}


def image_metrics(input_rgb: np.ndarray, restored: np.ndarray,
                  reference: np.ndarray | None) -> dict[str, Any]:
    """All gallery metrics as a JSON-friendly dict (PSNR None means identical: infinite)."""
    result: dict[str, Any] = {"colour": colour_fidelity(input_rgb, restored), "reference": None,
                              "sharpness": sharpness(input_rgb, restored, reference)}
    if reference is not None:
        p_in, p_out = psnr(input_rgb, reference), psnr(restored, reference)
        s_in, s_out = ssim(input_rgb, reference), ssim(restored, reference)
        result["reference"] = {
            "input": {"psnr": _finite(p_in), "ssim": round(s_in, 4)},
            "restored": {"psnr": _finite(p_out), "ssim": round(s_out, 4)},
            "gain": {
                "psnr": None if math.isinf(p_in) or math.isinf(p_out) else round(p_out - p_in, 4),
                "ssim": round(s_out - s_in, 4),
            },
        }
    return result
