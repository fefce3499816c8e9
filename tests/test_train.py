"""`modelkb train` end to end on tiny data: checkpoint, resume, paired lists, errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modelkb.cli import main
from modelkb.train.recipe import lr_factor, multiscale_targets, recipe_loss

COMMON = ["--variant", "mssnet-small", "--batch", "2", "--crop", "32", "--warmup", "1",
          "--threads", "1", "--quiet", "--seed", "3"]


def _photos(folder: Path, count: int = 3, size: int = 56) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        yy, xx = np.mgrid[0:size, 0:size]
        stripes = ((xx + i * 3) // 4 % 2) * 120 + yy * 2
        image = np.stack([stripes, stripes[::-1], np.full_like(stripes, 60 * i)], axis=2)
        image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(folder / f"photo{i}.png")
    return folder


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_train_writes_checkpoint_and_resumes(tmp_path: Path) -> None:
    data = _photos(tmp_path / "sharp")
    held = _photos(tmp_path / "held", count=1, size=48)
    out = tmp_path / "ckpt"
    args = [str(data), "--out", str(out), "--save-every", "1", *COMMON]
    assert main(["train", *args, "--steps", "2", "--val", str(held), "--val-every", "2",
                 "--val-size", "32"]) == 0
    ckpt = torch.load(out / "latest.pt", map_location="cpu", weights_only=False)
    assert ckpt["all_step"] == 2
    assert {"model_state_dict", "optimizer_state_dict", "scheduler_state_dict"} <= set(ckpt)
    first = _log(out)
    assert [r["step"] for r in first] == [1, 2]
    assert all(math.isfinite(r["loss"]) for r in first)
    assert "val" in first[-1] and math.isfinite(first[-1]["val"]["output_psnr"])

    export = tmp_path / "w.safetensors"
    assert main(["train", *args, "--steps", "3", "--resume", "--export", str(export)]) == 0
    ckpt = torch.load(out / "latest.pt", map_location="cpu", weights_only=False)
    assert ckpt["all_step"] == 3
    records = _log(out)
    assert [r["step"] for r in records] == [1, 2, 3]
    assert math.isfinite(records[-1]["loss"])
    assert not list(out.glob("*.tmp"))

    from modelkb.models.weights import load_weights

    loaded = load_weights(export)
    assert loaded.variant == "mssnet-small"


def test_resume_matches_uninterrupted_run(tmp_path: Path) -> None:
    data = _photos(tmp_path / "sharp", count=2, size=40)
    straight, split = tmp_path / "a", tmp_path / "b"
    assert main(["train", str(data), "--out", str(straight), "--steps", "2", *COMMON]) == 0
    assert main(["train", str(data), "--out", str(split), "--steps", "2", "--stop-after", "1",
                 *COMMON]) == 0
    assert torch.load(split / "latest.pt", weights_only=False)["all_step"] == 1
    assert main(["train", str(data), "--out", str(split), "--steps", "2", "--resume",
                 *COMMON]) == 0
    a = torch.load(straight / "latest.pt", weights_only=False)["model_state_dict"]
    b = torch.load(split / "latest.pt", weights_only=False)["model_state_dict"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)


def test_paired_list(tmp_path: Path) -> None:
    sharp = _photos(tmp_path / "gt", count=2, size=40)
    blurred = tmp_path / "blur"
    blurred.mkdir()
    for path in sharp.iterdir():
        with Image.open(path) as im:
            im.resize((20, 20)).resize((40, 40)).save(blurred / path.name)
    listing = tmp_path / "train.txt"
    listing.write_text("".join(f"gt/{p.name} blur/{p.name}\n" for p in sorted(sharp.iterdir())))
    out = tmp_path / "ckpt"
    assert main(["train", str(listing), "--out", str(out), "--steps", "1", *COMMON]) == 0
    assert (out / "latest.pt").is_file()


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(tmp_path / "missing"), "--out", str(tmp_path / "o"),
                 "--steps", "1", *COMMON]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("modelkb train: error:") and "\n" not in err
    bad = tmp_path / "pairs.txt"
    bad.write_text("only-one-path.png\n")
    assert main(["train", str(bad), "--out", str(tmp_path / "o"), "--steps", "1", *COMMON]) == 1
    assert "pairs.txt:1" in capsys.readouterr().err
    data = _photos(tmp_path / "sharp", count=1, size=40)
    assert main(["train", str(data), "--out", str(tmp_path / "o"), "--steps", "1",
                 *COMMON[:4], "--crop", "40"]) == 1
    assert "multiple of 16" in capsys.readouterr().err


def test_schedule_and_loss() -> None:
    assert lr_factor(0, 100, 10, 2e-4) == pytest.approx(0.1)
    assert lr_factor(10, 100, 10, 2e-4) == pytest.approx(1.0)
    assert lr_factor(100, 100, 10, 2e-4) == pytest.approx(1e-6 / 2e-4)
    sharp = torch.rand(1, 3, 32, 32)
    targets = multiscale_targets(sharp)
    assert targets[0].shape[-1] == 16 and all(t is sharp for t in targets[1:])
    assert recipe_loss(targets, sharp).item() == pytest.approx(0.0, abs=1e-6)
    noisy = [t + 0.1 for t in targets]
    assert recipe_loss(noisy, sharp).item() > 0.6  # six L1 terms of 0.1 plus the FFT DC term


def test_worker_processes_make_the_same_batches(tmp_path: Path) -> None:
    """Batches made by DataLoader workers arrive in step order, equal to the main process's."""
    from modelkb.train.data import open_source
    from modelkb.train.loader import iter_batches

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray((rng.random((96, 128, 3)) * 255).astype(np.uint8)).save(
            folder / f"p{i}.png")
    source = open_source(folder)
    alone = list(iter_batches(source, 3, 2, 32, 5, 11))
    shared = list(iter_batches(source, 3, 2, 32, 5, 11, workers=2))
    assert len(alone) == len(shared) == 6
    for (a_sharp, a_blur), (b_sharp, b_blur) in zip(alone, shared, strict=True):
        assert np.array_equal(a_sharp, b_sharp) and np.array_equal(a_blur, b_blur)
    assert not np.array_equal(alone[0][1], alone[1][1])  # distinct steps, distinct batches
