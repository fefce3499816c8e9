"""The shipped default weights load and sharpen a held-out degraded crop."""

from __future__ import annotations

import numpy as np
import pytest

from modelkb.models.weights import SHIPPED_PROVENANCE, default_weights, load_weights
from modelkb.train.degrade import DegradeConfig, degrade
from modelkb.train.recipe import psnr_ssim, restore_8bit
from modelkb.train.skimage_photos import PHOTOS, load


def test_shipped_weights_sharpen_held_out_crop(monkeypatch: pytest.MonkeyPatch) -> None:
    variant, shipped = default_weights()  # the registry's first default weights
    assert variant == "mssnet-small" and shipped.parent.name == "weights"
    assert shipped.is_file(), "hooks/modelkb/weights/ must ship the default weights"
    assert shipped.stat().st_size < 35 * 2**20
    monkeypatch.delenv("MODELKB_WEIGHTS", raising=False)
    loaded = load_weights(None)
    assert loaded.variant == "mssnet-small" and loaded.provenance == SHIPPED_PROVENANCE
    assert PHOTOS["astronaut"][0] == "heldout"  # never trained on
    sharp = load("astronaut")[96:224, 160:288].astype(np.float32) / 255.0  # face and suit
    config = DegradeConfig(length=(7.0, 7.0), jpeg_prob=0.0)
    blurred, _ = degrade(sharp, np.random.default_rng(5), config)
    restored = restore_8bit(loaded.model.float(), blurred)
    before, _ = psnr_ssim(sharp, blurred)
    after, _ = psnr_ssim(sharp, restored)
    assert after > before, f"restored {after:.2f} dB is not above the input's {before:.2f} dB"
