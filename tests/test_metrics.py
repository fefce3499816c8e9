"""Gallery metrics on cases with known answers (issue 5)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelkb.pixels.metrics import (
    MIN_SKIN_PIXELS,
    colour_fidelity,
    delta_e_map,
    image_metrics,
    psnr,
    skin_mask,
    ssim,
)


def _noise(size: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.2, 0.8, (size, size, 3)).astype(np.float32)


def test_identical_images() -> None:
    image = _noise()
    assert psnr(image, image) == math.inf
    assert ssim(image, image) == pytest.approx(1.0)
    assert float(delta_e_map(image, image).max()) == pytest.approx(0.0, abs=1e-9)
    result = image_metrics(image, image, image)
    assert result["reference"]["restored"] == {"psnr": None, "ssim": 1.0}
    assert result["colour"]["delta_e2000"] == {"mean": 0.0, "p95": 0.0}


def test_constant_offset_psnr() -> None:
    image = _noise()
    shifted = image + np.float32(0.1)  # MSE 0.01 -> PSNR 10*log10(1/0.01) = 20 dB
    assert psnr(shifted, image) == pytest.approx(20.0, abs=1e-3)
    shifted = image + np.float32(0.01)
    assert psnr(shifted, image) == pytest.approx(40.0, abs=1e-2)


def test_gain_is_restored_minus_input() -> None:
    reference = _noise()
    blurred = reference + np.float32(0.1)  # 20 dB
    restored = reference + np.float32(0.01)  # 40 dB
    ref = image_metrics(blurred, restored, reference)["reference"]
    assert ref["input"]["psnr"] == pytest.approx(20.0, abs=1e-3)
    assert ref["restored"]["psnr"] == pytest.approx(40.0, abs=1e-2)
    assert ref["gain"]["psnr"] == pytest.approx(20.0, abs=1e-2)
    assert ref["gain"]["ssim"] > 0


def test_no_reference() -> None:
    image = _noise()
    assert image_metrics(image, image, None)["reference"] is None


def test_size_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="differ in size"):
        psnr(_noise(32), _noise(64))


def test_skin_patch_detected_blue_patch_not() -> None:
    image = np.zeros((64, 64, 3), np.float32)
    image[:32] = (224 / 255, 172 / 255, 140 / 255)  # a light skin tone
    image[32:] = (40 / 255, 60 / 255, 200 / 255)  # blue
    mask = skin_mask(image)
    assert mask[:32].all() and not mask[32:].any()
    for tone in [(141, 85, 36), (198, 134, 66), (255, 219, 172)]:  # dark to light skin tones
        assert skin_mask(np.array([[tone]], np.float32) / 255)[0, 0], tone
    for other in [(0, 128, 0), (128, 128, 128), (255, 255, 255)]:  # green, grey, white
        assert not skin_mask(np.array([[other]], np.float32) / 255)[0, 0], other


def test_skin_colour_shift_measured() -> None:
    image = np.zeros((64, 64, 3), np.float32)
    image[:32] = (224 / 255, 172 / 255, 140 / 255)
    image[32:] = (40 / 255, 60 / 255, 200 / 255)
    after = image.copy()
    after[:32, :, 0] -= 0.1  # the skin loses red; the blue half is unchanged
    result = colour_fidelity(image, after)
    skin = result["skin"]
    assert skin["fraction"] == pytest.approx(0.5)
    assert skin["delta_e2000"]["mean"] > 3
    assert skin["delta_e2000"]["mean"] == pytest.approx(2 * result["delta_e2000"]["mean"],
                                                        rel=1e-3)


def test_too_few_skin_pixels_gives_none() -> None:
    image = np.zeros((64, 64, 3), np.float32)
    image[..., 2] = 0.8
    image[0, : MIN_SKIN_PIXELS - 1] = (224 / 255, 172 / 255, 140 / 255)
    result = colour_fidelity(image, image)
    assert result["skin"]["pixels"] == MIN_SKIN_PIXELS - 1
    assert result["skin"]["delta_e2000"] is None
