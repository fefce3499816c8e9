"""benchmarks/bench_mssnet.py options: one row per mode, failures as rows, a chosen default."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_mssnet.py"
MODES = ["fp32", "channels_last", "cudnn.benchmark", "compile", "tiles fp32",
         "tiles fp32 batched"]

pytestmark = pytest.mark.slow  # real benchmark runs, tiny inputs, minutes on a loaded CPU


def test_options_reports_every_mode_and_survives_a_failing_one(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_mssnet", BENCH)
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_mssnet", bench)  # dataclasses look it up
    spec.loader.exec_module(bench)

    def no_compiler(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("no C++ compiler in this test")

    monkeypatch.setattr(torch, "compile", no_compiler)  # compiling for real takes minutes
    # One thread: tiny convolutions on a shared machine spend their time in OpenMP barriers.
    monkeypatch.setattr(bench, "select_device", lambda _name: torch.device("cpu"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        bench.main(["--device", "cpu", "options", "--size", "64x48", "--tile", "64", "--batch",
                    "2", "--repeats", "1", "--peak-size", "64", "--modes", *MODES])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    rows = {cells[1]: cells for line in out.splitlines() if line.startswith("| mssnet-small |")
            for cells in [[c.strip() for c in line.strip("|").split("|")]]}
    assert list(rows) == MODES
    status, diff, rate = -1, -3, 3  # columns: status last, max abs diff third from last
    assert rows["fp32"][status] == "ok" and float(rows["fp32"][diff]) == 0.0
    assert float(rows["channels_last"][diff]) < 1e-4  # same numbers, other memory layout
    assert float(rows["tiles fp32 batched"][diff]) < 1e-4  # a batch does not mix its tiles
    assert rows["cudnn.benchmark"][status] == "skipped: CUDA only"
    assert rows["compile"][status].startswith("RuntimeError: no C++ compiler")
    assert rows["compile"][rate] == "—"
    assert "**Best default for this device (mssnet-small, 64x48): " in out
    assert "compile" not in out.split("**Best default", 1)[1].split("\n", 1)[0]
