"""Device-side degradation (modelkb.train.synth) against the numpy/Pillow pipeline, and the
fine-detail loss terms and training options of issue 18."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modelkb.cli import main
from modelkb.pixels.metrics import laplacian_variance, psnr
from modelkb.train import degrade as numpy_path
from modelkb.train import synth
from modelkb.train.data import Spec, batch_specs, open_source
from modelkb.train.recipe import detail_loss

ROOT = Path(__file__).resolve().parents[1]


def _photo(size: int = 128) -> np.ndarray:
    """A real photo crop (gallery reference), float32 HxWx3."""
    with Image.open(ROOT / "gallery_src" / "astronaut_sharp.png") as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32)[:size, :size] / 255.0


def _nchw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]


def _hwc(tensor: torch.Tensor) -> np.ndarray:
    return tensor[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize(("length", "shape"), [(5.0, (48, 64)), (20.0, (64, 80)),
                                               (30.0, (20, 24))])
def test_blur_equals_the_numpy_blur(length: float, shape: tuple[int, int]) -> None:
    """Same kernel, same borders: the batch FFT gives numpy's convolution to float precision,
    including a kernel wider than the image (edge padding)."""
    image = np.random.default_rng(1).random((*shape, 3)).astype(np.float32)
    kernel, _ = numpy_path.sample_kernel(4, numpy_path.DegradeConfig(length=(length, length)))
    expected = numpy_path.blur(image, kernel)
    got = _hwc(synth.blur(_nchw(image), torch.from_numpy(kernel)[None]))
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-5


def test_quantisation_tables_are_pillows() -> None:
    """The scaled Annex K tables equal the ones Pillow (libjpeg) writes into its files."""
    image = Image.fromarray((np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8))
    for quality in (10, 50, 60, 85, 95, 100):
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        with Image.open(io.BytesIO(buffer.getvalue())) as written:
            luma, chroma = (np.asarray(written.quantization[i]) for i in (0, 1))
        assert np.array_equal(luma, synth.quant_table(synth.LUMA_TABLE, quality).ravel())
        assert np.array_equal(chroma, synth.quant_table(synth.CHROMA_TABLE, quality).ravel())


@pytest.mark.parametrize("quality", [60, 85, 95])
def test_jpeg_simulation_is_close_to_pillow(quality: int) -> None:
    """The simulation loses what Pillow's JPEG loses (PSNR to the original within 0.5 dB) and
    lands near Pillow's own decoded pixels (over 40 dB apart from rounding)."""
    photo = np.round(_photo() * 255) / 255
    pillow = numpy_path.jpeg(photo, quality)
    simulated = _hwc(synth.jpeg(_nchw(photo), [quality]))
    assert np.array_equal(simulated, np.round(simulated * 255) / 255)  # 8-bit values
    assert abs(psnr(simulated, photo) - psnr(pillow, photo)) < 0.5
    assert psnr(simulated, pillow) > 40.0
    assert psnr(simulated, photo) < 60.0  # it really compresses


def test_finish_matches_the_numpy_pipeline() -> None:
    """Without noise and JPEG the device path gives the numpy path's pixels (up to 8-bit
    rounding); with noise, the same amount of noise."""
    window = _photo(96)
    kernel, _ = numpy_path.sample_kernel(9, numpy_path.DegradeConfig(length=(12.0, 12.0)))
    crop, margin = 64, 16
    inner = slice(margin, margin + crop)
    clean = Spec(window, kernel, photons=1e9, read_noise=0.0, jpeg_quality=None)
    sharp, blurred = synth.finish([clean], crop, "cpu")
    assert np.array_equal(_hwc(sharp), window[inner, inner])
    cfg = numpy_path.DegradeConfig(photons=(1e9, 1e9), read_noise=(0.0, 0.0), jpeg_prob=0.0)
    expected, _ = numpy_path.degrade(window, 0, cfg, kernel=kernel)
    assert np.abs(_hwc(blurred) - expected[inner, inner]).max() <= 1.01 / 255

    noisy = Spec(window, kernel, photons=300.0, read_noise=0.004, jpeg_quality=None)
    generator = torch.Generator().manual_seed(0)
    _, device_noisy = synth.finish([noisy], crop, "cpu", generator)
    cfg = numpy_path.DegradeConfig(photons=(300.0, 300.0), read_noise=(0.004, 0.004),
                                   jpeg_prob=0.0)
    numpy_noisy, _ = numpy_path.degrade(window, 0, cfg, kernel=kernel)
    device_std = float((_hwc(device_noisy) - expected[inner, inner]).std())
    numpy_std = float((numpy_noisy - expected)[inner, inner].std())
    assert numpy_std > 0.01
    assert device_std == pytest.approx(numpy_std, rel=0.15)


def test_specs_follow_the_configured_distributions(tmp_path: Path) -> None:
    """Workers' specs draw kernels, noise and JPEG from the DegradeConfig, deterministically
    per (seed, step); finished batches have the crop's shape and differ from the sharp one."""
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(np.round(_photo(128) * 255).astype(np.uint8)).save(folder / "a.png")
    cfg = numpy_path.DegradeConfig(length=(8.0, 8.0), photons=(500.0, 600.0), jpeg_prob=1.0,
                                   jpeg_quality=(70, 72))
    source = open_source(folder, cfg)
    specs = [s for step in range(6) for s in batch_specs(source, 1, step, 2, 32)]
    again = batch_specs(source, 1, 0, 2, 32)
    assert all(np.array_equal(a.window, b.window) for a, b in zip(specs[:2], again, strict=True))
    assert all(500.0 <= s.photons <= 600.0 and 70 <= (s.jpeg_quality or 0) <= 72 for s in specs)
    assert all(s.kernel.shape[0] % 2 == 1 and abs(s.kernel.sum() - 1) < 1e-4 for s in specs)
    sharp, blurred = synth.finish(specs[:4], 32, "cpu", torch.Generator().manual_seed(1))
    assert sharp.shape == blurred.shape == (4, 3, 32, 32)
    for i in range(4):
        assert laplacian_variance(_hwc(blurred[i : i + 1])) != laplacian_variance(
            _hwc(sharp[i : i + 1]))


def test_detail_loss_rewards_fine_detail() -> None:
    """Zero for the target itself; the energy term grows as the output loses detail, and
    the edge term is an L1 between Laplacians."""
    sharp = _nchw(_photo(64))
    assert detail_loss(sharp, sharp, 1.0, 1.0).item() == pytest.approx(0.0, abs=1e-6)
    assert detail_loss(sharp + 0.3, sharp, 0.0, 0.0).item() == 0.0
    soft = torch.nn.functional.avg_pool2d(sharp, 3, stride=1, padding=1,
                                          count_include_pad=False)
    softer = torch.nn.functional.avg_pool2d(soft, 3, stride=1, padding=1,
                                            count_include_pad=False)
    assert 0 < detail_loss(soft, sharp, 0.0, 1.0) < detail_loss(softer, sharp, 0.0, 1.0)
    assert 0 < detail_loss(soft, sharp, 1.0, 0.0) < detail_loss(softer, sharp, 1.0, 0.0)


def test_train_with_device_synthesis_and_detail_terms(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`modelkb train --synth device` (on the CPU here) with the detail terms and a worker
    trains, logs finite losses and stores the options in its checkpoint; bad weights are a
    one-line error."""
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(np.round(_photo(96) * 255).astype(np.uint8)).save(folder / "a.png")
    out = tmp_path / "ckpt"
    common = [str(folder), "--out", str(out), "--batch", "2", "--crop", "32", "--warmup", "1",
              "--threads", "1", "--quiet", "--blur-length", "3", "8"]
    assert main(["train", *common, "--steps", "2", "--synth", "device", "--workers", "1",
                 "--edge-weight", "1", "--detail-weight", "0.1"]) == 0
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    records = [r for r in records if "event" not in r]  # the session's start and stop lines
    assert [r["step"] for r in records] == [1, 2]
    assert all(math.isfinite(r["loss"]) for r in records)
    ckpt = torch.load(out / "latest.pt", map_location="cpu", weights_only=False)
    assert ckpt["options"]["synth"] == "device"
    assert ckpt["options"]["detail_weight"] == 0.1
    capsys.readouterr()
    assert main(["train", *common, "--steps", "1", "--detail-weight", "-1"]) == 1
    err = capsys.readouterr().err.strip()
    assert "--detail-weight" in err and "\n" not in err


def test_finish_light_regime_matches_the_numpy_pipeline() -> None:
    """The light regime (photons 0: no shot noise, read noise on the sRGB values) has the
    same amount of noise on the device as in numpy, and the clean one none."""
    window = _photo(96)
    kernel, _ = numpy_path.sample_kernel(9, numpy_path.DegradeConfig(length=(8.0, 8.0)))
    crop, margin = 64, 16
    inner = slice(margin, margin + crop)
    cfg = numpy_path.DegradeConfig(clean_prob=1.0)
    expected, _ = numpy_path.degrade(window, 0, cfg, kernel=kernel)
    _, clean = synth.finish([Spec(window, kernel, 0.0, 0.0, None)], crop, "cpu")
    assert np.abs(_hwc(clean) - expected[inner, inner]).max() <= 1.01 / 255
    light = Spec(window, kernel, photons=0.0, read_noise=0.01, jpeg_quality=None)
    _, device_light = synth.finish([light], crop, "cpu", torch.Generator().manual_seed(0))
    device_std = float((_hwc(device_light) - expected[inner, inner]).std())
    cfg = numpy_path.DegradeConfig(light_prob=1.0, light_read_noise=(0.01, 0.01), jpeg_prob=0.0)
    numpy_light, _ = numpy_path.degrade(window, 0, cfg, kernel=kernel)
    numpy_std = float((numpy_light - expected)[inner, inner].std())
    assert 0.008 < numpy_std < 0.012 and abs(device_std - numpy_std) < 0.15 * numpy_std
