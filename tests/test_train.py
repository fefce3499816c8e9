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


def _steps(out: Path) -> list[dict]:
    """The per-step records of a run's log (the session events left out)."""
    return [r for r in _log(out) if "event" not in r]


def test_train_writes_checkpoint_and_resumes(tmp_path: Path) -> None:
    data = _photos(tmp_path / "sharp")
    held = _photos(tmp_path / "held", count=1, size=48)
    out = tmp_path / "ckpt"
    args = [str(data), "--out", str(out), "--save-every", "1", *COMMON]
    assert main(["train", *args, "--steps", "2", "--val", str(held), "--val-every", "2",
                 "--val-size", "32"]) == 0
    ckpt = torch.load(out / "latest.pt", map_location="cpu", weights_only=False)
    assert ckpt["all_step"] == 2
    assert {"model_state_dict", "optimizer_state_dict", "warm_from", "warmup"} <= set(ckpt)
    first = _steps(out)
    assert [r["step"] for r in first] == [1, 2]
    assert all(math.isfinite(r["loss"]) for r in first)
    assert "val" in first[-1] and math.isfinite(first[-1]["val"]["output_psnr"])

    export = tmp_path / "w.safetensors"
    assert main(["train", *args, "--steps", "3", "--resume", "--export", str(export)]) == 0
    ckpt = torch.load(out / "latest.pt", map_location="cpu", weights_only=False)
    assert ckpt["all_step"] == 3
    records = _steps(out)
    assert [r["step"] for r in records] == [1, 2, 3]
    assert [r["event"] for r in _log(out) if "event" in r] == ["start", "stop", "resume", "stop"]
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
    # the long run: constant after its warm-up, which follows wherever the optimiser began
    assert lr_factor(5000, 20000, 300, 2e-4, schedule="constant") == 1.0
    assert lr_factor(4000, 20000, 100, 2e-4, schedule="constant", warm_from=4000) == 0.01
    assert lr_factor(4099, 20000, 100, 2e-4, schedule="constant", warm_from=4000) == 1.0
    # its side branch: a linear cool-down to 1e-6 over the last 200 steps
    branch = {"schedule": "constant", "cooldown": 200}
    assert lr_factor(1799, 2000, 300, 2e-4, **branch) == 1.0
    assert lr_factor(1899, 2000, 300, 2e-4, **branch) == pytest.approx(0.5, abs=0.01)
    assert lr_factor(1999, 2000, 300, 2e-4, **branch) == pytest.approx(1e-6 / 2e-4)
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


def test_long_run_options_resume_exactly(tmp_path: Path) -> None:
    """The issue-32 run: constant rate, clipping, a curriculum phase and short shakes; a run
    stopped by its time limit and resumed equals the uninterrupted run, and a time limit of
    zero saves the full state without taking a step."""
    data = _photos(tmp_path / "sharp", count=2, size=48)
    recipe = ["--schedule", "constant", "--clip-grad", "0.05", "--noise-mix", "0.8", "0.2",
              "--phase", "2", "0.5", "0.3", "--short-shakes", "0.5", "2", "6",
              "--blur-length", "4", "12", "--steps", "100"]
    straight, split = tmp_path / "a", tmp_path / "b"
    assert main(["train", str(data), "--out", str(straight), "--stop-after", "4", *recipe,
                 *COMMON]) == 0
    assert main(["train", str(data), "--out", str(split), "--stop-after", "2", *recipe,
                 *COMMON]) == 0
    assert main(["train", str(data), "--out", str(split), "--resume", "--minutes", "0",
                 *recipe, *COMMON]) == 0
    stops = [r for r in _log(split) if r.get("event") == "stop"]
    assert [(r["step"], r["why"]) for r in stops] == [(2, "end"), (2, "time")]
    assert main(["train", str(data), "--out", str(split), "--resume", "--stop-after", "4",
                 *recipe, *COMMON]) == 0
    a = torch.load(straight / "latest.pt", weights_only=True)
    b = torch.load(split / "latest.pt", weights_only=True)
    assert a["all_step"] == b["all_step"] == 4
    for key in a["model_state_dict"]:
        torch.testing.assert_close(a["model_state_dict"][key], b["model_state_dict"][key],
                                   rtol=1e-4, atol=1e-5)
    steps = _steps(straight)
    assert all(r["lr"] <= 2e-4 and math.isfinite(r["grad_norm"]) for r in steps)
    assert any(r["grad_norm"] > 0.05 for r in steps)  # clipping had something to clip


def test_init_continues_the_stream_at_its_step(tmp_path: Path) -> None:
    """A machine without the run's state continues from the committed weights at their step,
    with a fresh Adam and a warm-up that starts there (the log says so)."""
    data = _photos(tmp_path / "sharp", count=2, size=40)
    first = tmp_path / "first"
    weights = tmp_path / "run.safetensors"
    assert main(["train", str(data), "--out", str(first), "--steps", "3", "--export",
                 str(weights), *COMMON]) == 0
    out = tmp_path / "next"
    assert main(["train", str(data), "--out", str(out), "--resume", "--init", str(weights),
                 "--start-step", "3", "--steps", "5", "--schedule", "constant",
                 *COMMON, "--warmup", "4"]) == 0
    log = _log(out)
    assert log[0]["event"] == "init" and log[0]["step"] == 3 and "warm-up" in log[0]["note"]
    assert [(r["step"], r["lr"]) for r in _steps(out)] == [(4, 0.25 * 2e-4), (5, 0.5 * 2e-4)]


def test_sigterm_saves_the_full_state(tmp_path: Path) -> None:
    """SIGTERM ends the run at the end of the current step with everything saved."""
    import os
    import signal
    import subprocess
    import sys
    import time

    data = _photos(tmp_path / "sharp", count=1, size=40)
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelkb.cli", "train", str(data), "--out", str(out),
         "--steps", "100000", "--save-every", "1000", *COMMON],
        stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "log.jsonl").exists() or len(_steps(out)) < 1:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    stop = _log(out)[-1]
    assert stop["event"] == "stop" and stop["why"] == "signal"
    saved = torch.load(out / "latest.pt", weights_only=True)
    assert saved["all_step"] == stop["step"] == _steps(out)[-1]["step"]
    assert "exp_avg_sq" in str(saved["optimizer_state_dict"]["state"][0].keys())


def test_curriculum_and_short_shakes() -> None:
    """The phase of a step picks its noise mix; short shakes are drawn at their share, and a
    config without them draws exactly the old stream."""
    from modelkb.train.data import SyntheticSource
    from modelkb.train.degrade import DegradeConfig, sample_kernel

    source = SyntheticSource.__new__(SyntheticSource)
    early, late = DegradeConfig(clean_prob=0.8), DegradeConfig(clean_prob=0.5)
    source.config, source.phases = early, [(0, early), (12000, late)]
    assert source.config_at(11999) is early and source.config_at(12000) is late
    short = DegradeConfig(length=(20.0, 26.0), short_prob=0.15, short_length=(2.0, 6.0))
    lengths = [sample_kernel(i, short)[1]["length"] for i in range(400)]
    share = sum(x < 6 for x in lengths) / len(lengths)
    assert 0.08 < share < 0.22 and all(x < 6 or x >= 20 for x in lengths)
    # without short shakes the length is still the stream's first draw (old runs unchanged)
    plain = sample_kernel(5, DegradeConfig(length=(20.0, 26.0)))[1]["length"]
    assert plain == np.random.default_rng(5).uniform(20.0, 26.0)


def test_timed_run_cools_down_and_exports_as_it_saves(tmp_path: Path) -> None:
    """A lent GPU's timed run: the rate falls linearly over its last minutes, and every save
    also writes the fp16 weights (with their step), so a cut-off run still hands them over."""
    from safetensors import safe_open

    data = _photos(tmp_path / "sharp", count=1, size=40)
    out, export = tmp_path / "run", tmp_path / "w.safetensors"
    assert main(["train", str(data), "--out", str(out), "--steps", "100000", "--schedule",
                 "constant", "--minutes", "0.15", "--cooldown-minutes", "0.15",
                 "--save-every", "3", "--export", str(export), *COMMON]) == 0
    rates = [r["lr"] for r in _steps(out)]
    assert len(rates) >= 4 and rates == sorted(rates, reverse=True)
    assert rates[-1] < 0.5 * 2e-4
    with safe_open(str(export), "pt") as fh:
        assert int(fh.metadata()["all_step"]) == len(rates)
