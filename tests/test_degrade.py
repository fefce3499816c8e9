"""Blur synthesis: kernels, reproducibility, and that each degradation really happens."""

from __future__ import annotations

import numpy as np
import pytest

from modelkb.train.degrade import (
    DegradeConfig,
    add_sensor_noise,
    defocus_kernel,
    degrade,
    degrade_pair,
    jpeg,
    motion_kernel,
    sample_kernel,
)


def _photo(seed: int = 0, size: int = 64) -> np.ndarray:
    """A synthetic 'photo' with edges and texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.stack([xx, yy, (xx + yy) / 2], axis=2)
    checks = ((np.floor(xx * 8) + np.floor(yy * 8)) % 2)[..., None] * 0.4
    return np.clip(base * 0.5 + checks + rng.normal(0, 0.05, (size, size, 3)), 0, 1).astype(
        np.float32
    )


def _high_freq_energy(image: np.ndarray) -> float:
    grey = image.mean(axis=2)
    spec = np.abs(np.fft.fftshift(np.fft.fft2(grey - grey.mean()))) ** 2
    h, w = grey.shape
    yy, xx = np.mgrid[0:h, 0:w]
    far = np.hypot(yy - h / 2, xx - w / 2) > min(h, w) / 4
    return float(spec[far].sum())


@pytest.mark.parametrize("seed", range(8))
def test_kernels_sum_to_one_and_are_odd(seed: int) -> None:
    kernel, params = sample_kernel(seed)
    assert kernel.ndim == 2 and kernel.shape[0] == kernel.shape[1] and kernel.shape[0] % 2 == 1
    assert abs(float(kernel.sum()) - 1.0) < 1e-5
    assert kernel.min() >= 0
    assert params["kernel_size"] == kernel.shape[0]


def test_motion_kernel_extent_follows_length() -> None:
    short = motion_kernel(1, length=3, curvature=0.0)
    long = motion_kernel(1, length=21, curvature=0.0)
    assert long.shape[0] > short.shape[0] >= 3
    assert (long > 1e-4).sum() > (short > 1e-4).sum()
    assert abs(float(defocus_kernel(2.5).sum()) - 1.0) < 1e-5


def test_same_seed_same_output_different_seed_differs() -> None:
    photo = _photo()
    a, pa = degrade(photo, 7)
    b, pb = degrade(photo, 7)
    c, _ = degrade(photo, 8)
    assert np.array_equal(a, b)
    assert np.array_equal(pa["kernel"], pb["kernel"])
    assert not np.array_equal(a, c)
    s1, b1, _ = degrade_pair(photo, 3)
    s2, b2, _ = degrade_pair(photo, 3)
    assert np.array_equal(s1, s2) and np.array_equal(b1, b2)


def test_blur_lowers_high_frequency_energy() -> None:
    photo = _photo(size=96)
    quiet = DegradeConfig(length=(9.0, 9.0), photons=(1e6, 1e6), read_noise=(0.0, 0.0),
                          jpeg_prob=0.0)
    blurred, params = degrade(photo, 0, quiet)
    assert blurred.shape == photo.shape and blurred.dtype == np.float32
    assert 0.0 <= blurred.min() and blurred.max() <= 1.0
    assert _high_freq_energy(blurred) < 0.5 * _high_freq_energy(photo)
    assert params["jpeg_quality"] is None


def test_noise_and_jpeg_are_applied() -> None:
    flat = np.full((32, 32, 3), 0.5, np.float32)
    noisy = add_sensor_noise(flat, 0, photons=100.0, read_noise=0.01)
    assert noisy.std() > 0.02  # shot noise ~ sqrt(0.5/100) ~ 0.07
    photo = _photo()
    assert np.abs(jpeg(photo, 30) - photo).mean() > 0.005
    always = DegradeConfig(jpeg_prob=1.0, jpeg_quality=(50, 50))
    _, params = degrade(photo, 0, always)
    assert params["jpeg_quality"] == 50
    assert params["photons"] > 0 and params["read_noise"] >= 0


def test_degrade_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, modelkb.train.degrade; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_noise_regimes_blur_only_light_and_heavy() -> None:
    """The clean regime adds no noise and no JPEG (the blur alone), the light one Gaussian
    noise of the given std on the sRGB values, the heavy one sensor noise; with no shares
    set every sample is heavy and the random stream is the one of earlier versions."""
    flat = np.full((64, 64, 3), 0.5, np.float32)
    point = np.ones((1, 1), np.float32)  # no blur: only the noise differs from the input
    clean, params = degrade(flat, 1, DegradeConfig(clean_prob=1.0, jpeg_prob=1.0), point)
    assert params["regime"] == "clean" and params["jpeg_quality"] is None
    assert np.abs(clean - flat).max() <= 1 / 255
    light_cfg = DegradeConfig(light_prob=1.0, light_read_noise=(0.01, 0.01), jpeg_prob=0.0)
    light, params = degrade(flat, 1, light_cfg, point)
    assert params["regime"] == "light" and params["photons"] == 0
    assert 0.008 < light.std() < 0.012  # 1% of full scale on the display values
    heavy, params = degrade(flat, 1, DegradeConfig(jpeg_prob=0.0), point)
    assert params["regime"] == "heavy" and heavy.std() > light.std()
    old = degrade(_photo(), 5, DegradeConfig())[0]
    assert np.array_equal(old, degrade(_photo(), 5, DegradeConfig(clean_prob=0.0))[0])


def test_noise_mix_option_is_checked(tmp_path) -> None:
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "modelkb.cli", "train", str(tmp_path), "--out",
                          str(tmp_path / "out"), "--noise-mix", "0.7", "0.5"],
                         capture_output=True, text=True)
    assert run.returncode == 1
    assert "--noise-mix: need shares >= 0 that sum to at most 1, got 0.7 0.5" in run.stderr
    assert "Traceback" not in run.stderr
