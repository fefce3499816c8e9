"""The training benchmarks that the GPU session script runs, on tiny inputs on the CPU, so a
slip cannot waste a lent GPU: bench_train (modes and --data-only), gallery_sharpness and
blend_weights."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "hooks" / "modelkb" / "weights" / "mssnet-small-modelkb.safetensors"

pytestmark = pytest.mark.slow  # real benchmark runs, tiny inputs, minutes on a loaded CPU


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _photos(folder: Path) -> Path:
    with Image.open(ROOT / "gallery_src" / "chelsea_sharp.png") as im:
        photo = im.convert("RGB")
    for role, boxes in (("train", [(0, 0, 96, 96), (150, 60, 246, 156)]),
                        ("heldout", [(300, 100, 396, 196)])):
        (folder / role).mkdir(parents=True)
        for i, box in enumerate(boxes):
            photo.crop(box).save(folder / role / f"p{i}.png")
    return folder


def test_bench_train_rows_and_data_paths(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load("bench_train")
    photos = _photos(tmp_path / "photos")
    assert bench.main(["--photos", str(photos), "--steps", "2", "--batch", "1", "--crop", "32",
                       "--modes", "fp32", "channels_last", "--max-pixels", "20000"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(("| fp32 ", "| channels_last "))]
    assert len(rows) == 2
    cells = [c.strip() for c in rows[1].strip("|").split("|")]
    assert float(cells[4]) > 0 and float(cells[5]) < 0.01  # same losses as fp32, step by step
    assert cells[6].endswith(" dB")  # held-out gain measured
    assert bench.main(["--photos", str(photos), "--data-only", "2", "--batch", "2", "--crop",
                       "32"]) == 0
    out = capsys.readouterr().out
    assert out.count("| --synth ") == 3


def test_gallery_sharpness_and_blend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    for suffix in ("_blurred.jpg", "_sharp.png"):
        with Image.open(ROOT / "gallery_src" / f"chelsea{suffix}") as im:
            im.crop((150, 80, 246, 176)).save(gallery / f"cat{suffix}")
    blended = tmp_path / "blend.safetensors"
    assert _load("blend_weights").main([str(SHIPPED), str(SHIPPED), "--alpha", "0.25",
                                        "--out", str(blended)]) == 0
    report = tmp_path / "sharpness.json"
    code = _load("gallery_sharpness").main(
        ["--gallery", str(gallery), "--threads", "1", "--weights", str(SHIPPED), str(blended),
         "--json", str(report), "--strips", str(tmp_path / "strips")])
    rows = json.loads(report.read_text())
    assert [r["photo"] for r in rows] == ["cat", "cat"]
    # blending a file with itself changes nothing beyond fp16 rounding
    assert rows[1]["restored"] == pytest.approx(rows[0]["restored"], rel=0.02)
    assert code == (0 if all(r["closer"] for r in rows) else 1)
    with Image.open(tmp_path / "strips" / "cat.png") as strip:
        assert strip.size == (2 * 96 * 4, 2 * 96)  # input, two outputs, reference
    assert np.isfinite([r["psnr_gain"] for r in rows]).all()
