"""`modelkb train`: MSSNet's released recipe on paired data or on-the-fly synthetic blur."""

from __future__ import annotations

import argparse
import math

from modelkb.errors import ModelkbError
from modelkb.pixels import registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of `modelkb train`."""
    parser.add_argument(
        "data",
        help="a folder of sharp photos (blurred on the fly) or a text file of "
        "'SHARP BLURRED' path pairs relative to it (GoPro/RealBlur layout)",
    )
    parser.add_argument("--out", required=True, metavar="CHECKPOINT_DIR",
                        help="folder for latest.pt and log.jsonl")
    parser.add_argument("--variant", default="mssnet-small",
                        choices=tuple(registry.get("mssnet").variants))
    parser.add_argument("--steps", type=int, default=1000, help="total optimiser steps")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--crop", type=int, default=128, help="square crop, multiple of 16")
    parser.add_argument("--lr", type=float, default=2e-4, help="peak learning rate (Adam)")
    parser.add_argument("--warmup", type=int, default=100, help="linear warm-up steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="cuda trains under bf16 autocast")
    parser.add_argument("--workers", type=int, default=0, metavar="N",
                        help="worker processes making training batches (0: the main process); "
                        "on a GPU use most CPU cores so the model never waits")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (leave cores to other work)")
    parser.add_argument("--save-every", type=int, default=100, metavar="N",
                        help="write CHECKPOINT_DIR/latest.pt atomically every N steps")
    parser.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CHECKPOINT",
                        help="continue from a checkpoint (default: CHECKPOINT_DIR/latest.pt)")
    parser.add_argument("--val", default=None, metavar="HELD_OUT",
                        help="held-out sharp photos (folder; degraded with fixed seeds) "
                        "or a pair list")
    parser.add_argument("--val-every", type=int, default=0, metavar="N",
                        help="report held-out PSNR/SSIM every N steps (0: never)")
    parser.add_argument("--val-size", type=int, default=256,
                        help="centre-crop held-out images to at most this size")
    parser.add_argument("--blur-length", type=float, nargs=2, default=None, metavar=("MIN", "MAX"),
                        help="camera-shake path length range in pixels for synthetic blur")
    parser.add_argument("--init", default=None, metavar="WEIGHTS",
                        help="start from these weights (e.g. the shipped file) with a fresh "
                        "optimiser and warm-up, so training adds up across runs")
    parser.add_argument("--max-pixels", type=int, default=None, metavar="N",
                        help="downscale training photos to at most N pixels when loaded "
                        "(e.g. 1600000: shake lengths then match 1-2 MP photos)")
    parser.add_argument("--defocus-radius", type=float, nargs=2, default=None,
                        metavar=("MIN", "MAX"), help="defocus disk radius range in pixels")
    parser.add_argument("--noise-mix", type=float, nargs=2, default=None,
                        metavar=("CLEAN", "LIGHT"),
                        help="shares of samples with no noise and no JPEG (blur only) and with "
                             "light noise (Gaussian noise up to 1%% of full scale on the sRGB "
                             "values, JPEG 85-95); the rest get the heavy sensor mix (default "
                             "0 0: all heavy)")
    parser.add_argument("--phase", type=float, nargs=3, action="append", default=None,
                        metavar=("FROM_STEP", "CLEAN", "LIGHT"),
                        help="a curriculum phase: from FROM_STEP on, use this noise mix "
                             "(repeatable; before the first phase, --noise-mix holds)")
    parser.add_argument("--short-shakes", type=float, nargs=3, default=None,
                        metavar=("SHARE", "MIN", "MAX"),
                        help="draw a SHARE of shake lengths from MIN-MAX pixels instead of "
                             "--blur-length (e.g. 0.15 2 6: short shakes are not over-sharpened)")
    parser.add_argument("--schedule", choices=["cosine", "constant"], default="cosine",
                        help="after the warm-up: cosine down to 1e-6 at --steps, or constant "
                             "(a run that goes on across sessions)")
    parser.add_argument("--cooldown", type=int, default=0, metavar="N",
                        help="constant schedule: decay linearly to 1e-6 over the last N of "
                             "--steps (a side branch to evaluate; the main run keeps its rate)")
    parser.add_argument("--clip-grad", type=float, default=0.0, metavar="NORM",
                        help="clip the gradient's global norm (0: off); the log records "
                             "the norm before clipping")
    parser.add_argument("--start-step", type=int, default=0, metavar="STEP",
                        help="with --init and no checkpoint to resume: the step the run "
                             "continues at (its data stream and curriculum position)")
    parser.add_argument("--minutes", type=float, default=None, metavar="M",
                        help="stop cleanly (saving the full state) after M minutes; SIGTERM "
                             "and Ctrl-C do the same at the end of the current step")
    parser.add_argument("--cooldown-minutes", type=float, default=0.0, metavar="M",
                        help="with --minutes: decay the rate linearly to 1e-6 over the last M "
                             "minutes (a timed run on a lent GPU)")
    parser.add_argument("--save-minutes", type=float, default=None, metavar="M",
                        help="also save whenever M minutes passed since the last save")
    parser.add_argument("--stop-after", type=int, default=None, metavar="STEP",
                        help="stop (and save) at STEP; the lr schedule still spans --steps")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                        help="forward pass under bf16 autocast, or fp32 (default auto: bf16 on "
                             "CUDA, fp32 on the CPU; benchmarks/bench_train.py measures both)")
    parser.add_argument("--synth", choices=["auto", "cpu", "device"], default="auto",
                        help="where blur, noise and JPEG are made: cpu (in the data workers) or "
                             "device (workers cut windows, the device degrades whole batches; "
                             "default auto: device on CUDA)")
    parser.add_argument("--compile", action="store_true",
                        help="run the training steps through torch.compile (GPU; "
                             "benchmarks/bench_train.py measures it)")
    parser.add_argument("--edge-weight", type=float, default=0.0, metavar="W",
                        help="add W x L1 between the Laplacians of output and sharp crop "
                             "(MPRNet uses 0.05; default 0)")
    parser.add_argument("--detail-weight", type=float, default=0.0, metavar="W",
                        help="add W x |log| of the ratio of their Laplacian energies per crop, "
                             "so outputs keep as much fine detail as the sharp photo (default 0)")
    parser.add_argument("--export", default=None, metavar="SAFETENSORS",
                        help="write the weights as fp16 safetensors here at every save "
                             "(with the step and the recipe in its metadata)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Train, print a one-line summary, optionally export fp16 safetensors."""
    from modelkb.train.recipe import TrainOptions, train

    degrade: dict[str, object] = {}
    if args.blur_length is not None:
        lo, hi = args.blur_length
        if not 0 <= lo <= hi:
            raise ModelkbError(f"--blur-length: need 0 <= MIN <= MAX, got {lo} {hi}")
        degrade["length"] = [lo, hi]
    if args.defocus_radius is not None:
        lo, hi = args.defocus_radius
        if not 0 < lo <= hi:
            raise ModelkbError(f"--defocus-radius: need 0 < MIN <= MAX, got {lo} {hi}")
        degrade["defocus_radius"] = [lo, hi]
    if args.noise_mix is not None:
        clean, light = args.noise_mix
        if not (0 <= clean and 0 <= light and clean + light <= 1):
            raise ModelkbError(f"--noise-mix: need shares >= 0 that sum to at most 1, "
                               f"got {clean} {light}")
        degrade["clean_prob"] = clean
        degrade["light_prob"] = light
    if args.short_shakes is not None:
        share, lo, hi = args.short_shakes
        if not (0 <= share <= 1 and 0 <= lo <= hi):
            raise ModelkbError(f"--short-shakes: need 0 <= SHARE <= 1 and 0 <= MIN <= MAX, "
                               f"got {share} {lo} {hi}")
        degrade["short_prob"] = share
        degrade["short_length"] = [lo, hi]
    phases = []
    for first, clean, light in args.phase or []:
        if not (first >= 0 and 0 <= clean and 0 <= light and clean + light <= 1):
            raise ModelkbError(f"--phase {first:g} {clean} {light}: need FROM_STEP >= 0 and "
                               "shares >= 0 that sum to at most 1")
        phases.append({"from": int(first), "clean_prob": clean, "light_prob": light})
    if args.minutes is not None and not (args.minutes >= 0 and math.isfinite(args.minutes)):
        raise ModelkbError(f"--minutes: need a finite number >= 0, got {args.minutes}")
    for flag in ("edge_weight", "detail_weight", "clip_grad"):
        value = getattr(args, flag)
        if not (value >= 0 and math.isfinite(value)):
            raise ModelkbError(f"--{flag.replace('_', '-')}: need a finite weight >= 0, "
                               f"got {value}")
    opts = TrainOptions(
        data=args.data, out=args.out, variant=args.variant, steps=args.steps, batch=args.batch,
        crop=args.crop, lr=args.lr, warmup=args.warmup, seed=args.seed, device=args.device,
        threads=args.threads, save_every=args.save_every, resume=args.resume, val=args.val,
        val_every=args.val_every, val_size=args.val_size, degrade=degrade,
        stop_after=args.stop_after, init=args.init, max_pixels=args.max_pixels,
        workers=args.workers, edge_weight=args.edge_weight, detail_weight=args.detail_weight,
        precision=args.precision, synth=args.synth,
        compile=args.compile, phases=phases, schedule=args.schedule, cooldown=args.cooldown,
        clip_grad=args.clip_grad, start_step=args.start_step, minutes=args.minutes,
        cooldown_minutes=args.cooldown_minutes, save_minutes=args.save_minutes,
        export=args.export,
    )
    summary = train(opts, progress=not args.quiet)
    line = f"trained {opts.variant} to step {summary['step']}"
    if summary["loss"] == summary["loss"]:  # NaN when resumed at the last step (no step run)
        line += f", loss {summary['loss']:.4f}"
    if summary["metrics"]:
        m = summary["metrics"]["mean"]
        line += (f"; held-out PSNR {m['input_psnr']:.2f} -> {m['output_psnr']:.2f} dB, "
                 f"SSIM {m['input_ssim']:.4f} -> {m['output_ssim']:.4f}")
    if summary["stopped"] != "end":
        line += f" (stopped early: {summary['stopped']}; resume with --resume)"
    print(line + f"; checkpoint {summary['checkpoint']}")
    if args.export:  # written with every save, the last one included
        print(f"exported fp16 weights to {args.export}")
    return 0
