"""Training throughput and agreement per precision and memory layout (issue 18, item 3).

Every mode starts from the same weights, gets the same batches and runs the recipe's own
``train_step``; the modes take turns step by step, so a busy shared machine slows them
alike and the ratios stay fair. Reported per mode: median seconds per step, steps per hour,
the mean loss over the run, its largest step-by-step gap to the fp32 loss, and (with
``--photos``) the held-out PSNR gain after the run at one shake length.

    .venv/bin/python benchmarks/bench_train.py --photos /work/photos [--steps 30] [--batch 4]
        [--crop 128] [--threads 1] [--modes fp32 channels_last bf16 bf16+channels_last
        bf16+channels_last+compile]
        [--device cpu|cuda] [--init FILE] [--data-only N]

``--data-only N`` times the batch maker alone (crops/s in this process, no model).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODES = ("fp32", "channels_last", "bf16", "bf16+channels_last", "bf16+channels_last+compile")
DEFAULT_MODES = MODES[:4]  # compiling takes minutes on the CPU: ask for it by name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, required=True,
                        help="output of `python -m modelkb.train.photos` (train/ and heldout/)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--modes", nargs="+", default=list(DEFAULT_MODES),
                        choices=MODES)
    parser.add_argument("--init", default=None, help="weights to start from (default: shipped)")
    parser.add_argument("--data-only", type=int, default=0, metavar="N",
                        help="time N batches of data synthesis alone and stop")
    parser.add_argument("--max-pixels", type=int, default=1_600_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    import torch

    from modelkb.models.weights import load_weights
    from modelkb.train.data import batch, open_source
    from modelkb.train.degrade import DegradeConfig
    from modelkb.train.recipe import TrainOptions, train_step

    torch.set_num_threads(args.threads)
    config = DegradeConfig(length=(3.0, 32.0), defocus_radius=(0.5, 4.0))
    source = open_source(args.photos / "train", config, args.max_pixels)
    print(f"# torch {torch.__version__}, {args.threads} thread(s), device {args.device}, "
          f"batch {args.batch} x {args.crop} px")
    if args.data_only:
        data_only(source, args)
        return 0

    start = load_weights(args.init).model.float()
    runs = {}
    for mode in args.modes:
        model = copy.deepcopy(start).to(args.device)
        channels_last = "channels_last" in mode
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999))
        opts = TrainOptions(data="", out="", channels_last=channels_last)
        stepper = torch.compile(model) if mode.endswith("compile") else model
        runs[mode] = {"model": model, "stepper": stepper, "optimizer": optimizer, "opts": opts,
                      "bf16": mode.startswith("bf16"), "seconds": [], "loss": []}
    for step in range(args.steps):
        sharp, blurred = (torch.from_numpy(a).to(args.device)
                          for a in batch(source, args.seed, step, args.batch, args.crop))
        for run in runs.values():
            if args.device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            loss, _grad_norm = train_step(run["stepper"], run["optimizer"], sharp, blurred,
                                          run["opts"], run["bf16"])
            if args.device == "cuda":
                torch.cuda.synchronize()
            run["seconds"].append(time.perf_counter() - t0)
            run["loss"].append(loss)
        print(f"step {step + 1}/{args.steps}: " + ", ".join(
            f"{m} {r['loss'][-1]:.4f} ({r['seconds'][-1]:.2f} s)" for m, r in runs.items()),
            flush=True)

    gains = held_out_gain(runs, args) if (args.photos / "heldout").is_dir() else {}
    base = runs.get("fp32") or next(iter(runs.values()))
    base_time = statistics.median(base["seconds"][1:] or base["seconds"])
    print()
    print("| mode | s/step (median) | steps/hour | speed vs first | mean loss | "
          "max step gap to first | held-out gain after |")
    print("|---|---|---|---|---|---|---|")
    for mode, run in runs.items():
        median = statistics.median(run["seconds"][1:] or run["seconds"])
        gap = max(abs(a - b) for a, b in zip(run["loss"], base["loss"], strict=True))
        gain = f"{gains[mode]:+.2f} dB" if mode in gains else "-"
        print(f"| {mode} | {median:.2f} | {3600 / median:.0f} | {base_time / median:.2f}x | "
              f"{np.mean(run['loss']):.4f} | {gap:.4f} | {gain} |")
    return 0


def data_only(source, args: argparse.Namespace) -> None:
    """Crops/s of the data alone, in this one process: the whole degradation on the CPU
    (what each DataLoader worker does with --synth cpu), and with --synth device the
    worker's share (windows and parameters) and the device's share (finish) apart."""
    import torch

    from modelkb.train.data import batch, batch_specs
    from modelkb.train.synth import finish

    n, size = args.data_only, args.batch
    t0 = time.perf_counter()
    for step in range(n):
        batch(source, args.seed, step, size, args.crop)
    cpu = time.perf_counter() - t0
    t0 = time.perf_counter()
    specs = [batch_specs(source, args.seed, step, size, args.crop) for step in range(n)]
    worker = time.perf_counter() - t0
    generator = torch.Generator(device=args.device).manual_seed(0)
    finish(specs[0], args.crop, args.device, generator)  # warm-up (CUDA context, FFT plans)
    if args.device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for item in specs:
        finish(item, args.crop, args.device, generator)
    if args.device == "cuda":
        torch.cuda.synchronize()
    device = time.perf_counter() - t0
    print("| data path | crops/s | s per batch |")
    print("|---|---|---|")
    print(f"| --synth cpu: whole degradation, one process | {n * size / cpu:.1f} | {cpu / n:.3f} |")
    print(f"| --synth device: worker share (windows, kernels), one process | "
          f"{n * size / worker:.1f} | {worker / n:.3f} |")
    print(f"| --synth device: device share (finish on {args.device}) | {n * size / device:.1f} "
          f"| {device / n:.3f} |")


def held_out_gain(runs: dict, args: argparse.Namespace) -> dict[str, float]:
    """Mean PSNR gain of each mode's model on the held-out photos (15 px shake, fixed seeds)."""
    from modelkb.train.data import validation_pairs
    from modelkb.train.degrade import DegradeConfig
    from modelkb.train.recipe import evaluate

    config = DegradeConfig(length=(15.0, 15.0), defocus_prob=0.0, photons=(1000.0, 1000.0),
                           read_noise=(0.002, 0.002), jpeg_prob=1.0, jpeg_quality=(85, 85))
    pairs = validation_pairs(args.photos / "heldout", seed=91, size=256, config=config,
                             max_pixels=args.max_pixels)
    return {mode: evaluate(run["model"], pairs, args.device)["mean"]["psnr_gain"]
            for mode, run in runs.items()}


if __name__ == "__main__":
    sys.exit(main())
