"""MSSNet's released training recipe: six outputs, multi-scale L1 + 0.1 FFT-L1, Adam, cosine.

Two optional terms on the final output reward fine detail (issue 18: an L1 loss alone regresses
to a smooth mean, so the outputs had less Laplacian detail than their blurred inputs):
``edge_weight`` x L1 between the Laplacians of output and target (the "edge loss" of MPRNet,
Zamir et al. 2021, who use 0.05), and ``detail_weight`` x |log| of the ratio of the Laplacian's
energy in output and target, per crop (matches the amount of fine detail, wherever it lies).

torch is imported inside functions so that ``import modelkb.train.recipe`` stays cheap.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelkb.errors import ModelkbError
from modelkb.train.data import SyntheticSource, ValidationPair, open_source, validation_pairs
from modelkb.train.degrade import DegradeConfig, config_dict

if TYPE_CHECKING:
    import torch
    from torch import nn

FFT_WEIGHT = 0.1
DETAIL_EPS = 1e-4  # energy floor of the detail term (flat crops: sky, walls)
MIN_LR = 1e-6
BETAS = (0.9, 0.999)


@dataclass
class TrainOptions:
    """Everything one training run depends on (stored in every checkpoint)."""

    data: str
    out: str
    variant: str = "mssnet-small"
    steps: int = 1000
    batch: int = 4
    crop: int = 128
    lr: float = 2e-4
    warmup: int = 100
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    workers: int = 0  # DataLoader worker processes making batches (0: the main process)
    save_every: int = 100
    resume: str | None = None
    val: str | None = None
    val_every: int = 0
    val_size: int = 256
    stop_after: int | None = None  # stop (and save) at this step, schedule still for `steps`
    minutes: float | None = None  # stop (and save) after this many minutes of wall time
    cooldown_minutes: float = 0.0  # with `minutes`: linear cool-down over the last M minutes
    save_minutes: float | None = None  # also save when this many minutes passed since the last
    export: str | None = None  # at every save, also write the weights as fp16 safetensors here
    schedule: str = "cosine"  # "cosine" down to MIN_LR at `steps`, or "constant" after warm-up
    cooldown: int = 0  # constant schedule: linear cool-down to MIN_LR over the last N steps
    clip_grad: float = 0.0  # clip the gradient's global norm to this (0: no clipping)
    # curriculum: phases [{"from": STEP, <degrade field>: value, ...}, ...] overriding
    # `degrade` from step STEP on (the batch of a step is a function of seed, step and phase)
    phases: list[dict[str, Any]] = field(default_factory=list)
    start_step: int = 0  # with `init` and no checkpoint: the step the run continues at
    degrade: dict[str, Any] = field(default_factory=dict)
    max_pixels: int | None = None
    init: str | None = None  # start from these weights (fresh optimiser and warm-up)
    channels_last: bool = True
    synth: str = "auto"  # blur synthesis: "cpu" (workers), "device", "auto" (device on CUDA)
    compile: bool = False  # run the training steps through torch.compile
    precision: str = "auto"  # "fp32", "bf16" (autocast) or "auto": bf16 on CUDA, fp32 on CPU
    edge_weight: float = 0.0  # x L1 between Laplacians of final output and target
    detail_weight: float = 0.0  # x |log| ratio of their Laplacian energies, per crop


SCHEDULES = ("cosine", "constant")


def lr_factor(step: int, total: int, warmup: int, base_lr: float, min_lr: float = MIN_LR,
              schedule: str = "cosine", cooldown: int = 0, warm_from: int = 0) -> float:
    """Multiplier of the base lr at `step`: linear warm-up over the `warmup` steps after
    `warm_from` (where the optimiser started fresh), then cosine down to `min_lr` at `total`,
    or constant with an optional linear cool-down to `min_lr` over the last `cooldown` steps."""
    if warmup > 0 and warm_from <= step < warm_from + warmup:
        return (step - warm_from + 1) / warmup
    floor = min_lr / base_lr
    if schedule == "constant":
        if cooldown > 0 and step >= total - cooldown:
            progress = min((step - (total - cooldown) + 1) / cooldown, 1.0)
            return 1.0 + (floor - 1.0) * progress
        return 1.0
    span = max(total - warm_from - warmup, 1)
    progress = min(max(step - warm_from - warmup, 0) / span, 1.0)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def multiscale_targets(sharp: torch.Tensor) -> list[torch.Tensor]:
    """Targets for the six outputs: x0.5 (bilinear, align_corners=True) then five full-size."""
    import torch.nn.functional as F

    half = F.interpolate(sharp, scale_factor=0.5, mode="bilinear", align_corners=True)
    return [half] + [sharp] * 5


def recipe_loss(outputs: list[torch.Tensor], sharp: torch.Tensor) -> torch.Tensor:
    """Sum over outputs of L1 + 0.1 x L1 between 2-D FFTs (real and imaginary parts)."""
    import torch
    import torch.nn.functional as F

    total = sharp.new_zeros(())
    for out, target in zip(outputs, multiscale_targets(sharp), strict=True):
        out = out.float()
        total = total + F.l1_loss(out, target)
        diff = torch.view_as_real(torch.fft.fft2(out)) - torch.view_as_real(torch.fft.fft2(target))
        total = total + FFT_WEIGHT * diff.abs().mean()
    return total


def laplacian(x: torch.Tensor) -> torch.Tensor:
    """4-neighbour Laplacian of each channel (valid region: 2 pixels smaller)."""
    return (x[..., 1:-1, :-2] + x[..., 1:-1, 2:] + x[..., :-2, 1:-1] + x[..., 2:, 1:-1]
            - 4.0 * x[..., 1:-1, 1:-1])


def detail_loss(output: torch.Tensor, sharp: torch.Tensor, edge_weight: float,
                detail_weight: float) -> torch.Tensor:
    """The optional fine-detail terms (module docstring) on the final full-size output."""
    import torch

    total = sharp.new_zeros(())
    if edge_weight == 0 and detail_weight == 0:
        return total
    lap_out, lap_ref = laplacian(output.float()), laplacian(sharp)
    if edge_weight:
        total = total + edge_weight * (lap_out - lap_ref).abs().mean()
    if detail_weight:
        energy_out = lap_out.pow(2).mean(dim=(1, 2, 3)) + DETAIL_EPS
        energy_ref = lap_ref.pow(2).mean(dim=(1, 2, 3)) + DETAIL_EPS
        total = total + detail_weight * torch.log(energy_out / energy_ref).abs().mean()
    return total


PRECISIONS = ("auto", "fp32", "bf16")


def use_bf16(precision: str, device: str) -> bool:
    """Whether a training step runs its forward pass under bf16 autocast."""
    if precision not in PRECISIONS:
        raise ModelkbError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return device == "cuda"
    return precision == "bf16"


def use_device_synthesis(synth: str, device: str, source: object) -> bool:
    """Whether batches are degraded on the device (:mod:`modelkb.train.synth`): "device", or
    "auto" on CUDA; only synthetic sources can (paired data is already degraded)."""
    if synth not in ("auto", "cpu", "device"):
        raise ModelkbError(f"--synth {synth!r}: choose auto, cpu or device")
    wanted = synth == "device" or (synth == "auto" and device == "cuda")
    return wanted and isinstance(source, SyntheticSource)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, sharp: torch.Tensor,
               blurred: torch.Tensor, opts: TrainOptions, bf16: bool) -> tuple[float, float]:
    """One optimiser step on one batch (forward under bf16 autocast when `bf16`; the loss and
    the weights stay fp32); returns the loss and the gradient's global norm (before
    clipping to ``opts.clip_grad``). The caller sets the learning rate."""
    import torch

    if opts.channels_last:
        blurred = blurred.contiguous(memory_format=torch.channels_last)
    optimizer.zero_grad(set_to_none=True)
    device_type = blurred.device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
        outputs = model(blurred)
    loss = recipe_loss(outputs, sharp) + detail_loss(
        outputs[-1], sharp, opts.edge_weight, opts.detail_weight)
    if not torch.isfinite(loss):
        return float(loss.item()), float("nan")
    loss.backward()
    params = [p for p in model.parameters() if p.grad is not None]
    if opts.clip_grad > 0:
        norm = torch.nn.utils.clip_grad_norm_(params, opts.clip_grad)
    else:
        norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
    optimizer.step()
    return float(loss.item()), float(norm)


def build_model(variant: str) -> nn.Module:
    """A freshly initialised MSSNet of `variant` (a user error for unknown names): the
    recipe's six-output loss is MSSNet's."""
    from modelkb.pixels import registry

    return registry.get("mssnet").build(variant)


def save_atomic(obj: Any, path: Path) -> None:
    """torch.save, atomically (see modelkb.files.atomic_path)."""
    import torch

    from modelkb.files import atomic_path

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A training checkpoint as saved by :func:`train` (a user error if unreadable)."""
    import torch

    if not path.is_file():
        raise ModelkbError(f"{path}: no such checkpoint to resume from")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        raise ModelkbError(f"{path}: not a readable checkpoint ({exc})") from None
    if not isinstance(ckpt, dict) or "model_state_dict" not in ckpt:
        raise ModelkbError(f"{path}: not an MSSNet checkpoint (no model_state_dict)")
    return ckpt


def restore_8bit(model: nn.Module, blurred: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Run the network on one HxWx3 float image as the site does (models.tiling, whole
    image), clamped and rounded as written to an 8-bit PNG."""
    from modelkb.pixels.tiling import restore_array

    y = restore_array(model, blurred, device=device, tile=0)
    return np.round(np.clip(y, 0.0, 1.0) * 255.0) / 255.0


def psnr_ssim(reference: np.ndarray, image: np.ndarray) -> tuple[float, float]:
    """PSNR (dB) and SSIM of `image` against `reference` (modelkb.pixels.metrics)."""
    from modelkb.pixels.metrics import psnr, ssim

    return psnr(image, reference), ssim(image, reference)


def evaluate(
    model: nn.Module, pairs: list[ValidationPair], device: str = "cpu"
) -> dict[str, Any]:
    """Mean PSNR/SSIM of the blurred inputs and of the restored outputs, plus per image."""
    was_training = model.training
    model.eval()
    rows = []
    for pair in pairs:
        restored = restore_8bit(model, pair.blurred, device)
        in_psnr, in_ssim = psnr_ssim(pair.sharp, pair.blurred)
        out_psnr, out_ssim = psnr_ssim(pair.sharp, restored)
        rows.append(
            {"name": pair.name, "input_psnr": in_psnr, "input_ssim": in_ssim,
             "output_psnr": out_psnr, "output_ssim": out_ssim}
        )
    model.train(was_training)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "name"}
    mean["psnr_gain"] = mean["output_psnr"] - mean["input_psnr"]
    return {"mean": mean, "images": rows}


def _log(out_dir: Path, record: dict[str, Any]) -> None:
    """Append one JSON line to OUT/log.jsonl."""
    with open(out_dir / "log.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def train(opts: TrainOptions, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) the recipe; returns a summary with the final step, loss and metrics."""
    import torch

    threads = torch.get_num_threads()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    try:
        return _train(opts, progress)
    finally:
        torch.set_num_threads(threads)


def _degrade_config(base: dict[str, Any], overrides: dict[str, Any] | None = None
                    ) -> DegradeConfig:
    """A DegradeConfig from JSON-style fields (lists become tuples); a user error names a
    field DegradeConfig does not have."""
    fields = {**base, **(overrides or {})}
    fields.pop("from", None)
    try:
        return DegradeConfig(**{k: tuple(v) if isinstance(v, list) else v
                                for k, v in fields.items()})
    except TypeError as exc:
        raise ModelkbError(f"degradation settings: {exc}") from None


def _stop_signals() -> tuple[list[int], Any]:
    """Make SIGTERM and SIGINT set a flag instead of killing the run (the loop saves and
    stops at the end of the step); returns the flag list and a function that restores the
    previous handlers. Only the main thread may install handlers: elsewhere nothing changes."""
    import signal
    import threading

    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        return caught, lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda number, _frame: caught.append(number))

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return caught, restore


def _train(opts: TrainOptions, progress: bool) -> dict[str, Any]:
    """The body of :func:`train` (threads already set)."""
    import torch
    from tqdm import tqdm

    device = opts.device
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelkbError("--device cuda: no CUDA device is available; use --device cpu")
    for name in ("steps", "batch", "crop"):
        if getattr(opts, name) <= 0:
            raise ModelkbError(f"--{name} must be positive, got {getattr(opts, name)}")
    if opts.crop % 16:
        raise ModelkbError(f"--crop must be a multiple of 16 (MSSNet's rule), got {opts.crop}")
    if opts.schedule not in SCHEDULES:
        raise ModelkbError(f"--schedule {opts.schedule!r}: choose one of {', '.join(SCHEDULES)}")

    out_dir = Path(opts.out)
    latest = out_dir / "latest.pt"
    resume_path: Path | None = None
    if opts.resume:
        resume_path = latest if opts.resume == "auto" else Path(opts.resume)
        if opts.resume == "auto" and not latest.exists() and opts.init:
            resume_path = None  # a new machine: continue from the committed weights

    degrade_cfg = _degrade_config(opts.degrade)
    source = open_source(Path(opts.data), degrade_cfg, opts.max_pixels)
    if isinstance(source, SyntheticSource) and opts.phases:
        source.phases = [(0, degrade_cfg)] + sorted(
            ((int(ph["from"]), _degrade_config(opts.degrade, ph)) for ph in opts.phases),
            key=lambda item: item[0])
    val_pairs = validation_pairs(Path(opts.val), size=opts.val_size) if opts.val else []

    torch.manual_seed(opts.seed)
    torch.use_deterministic_algorithms(device == "cpu", warn_only=True)
    model = build_model(opts.variant).to(device)
    step = 0
    if opts.init and resume_path is None:
        from modelkb.models.weights import load_weights

        loaded = load_weights(opts.init, opts.variant)
        model.load_state_dict({k: v.float() for k, v in loaded.model.state_dict().items()})
        step = max(opts.start_step, 0)
    if opts.channels_last:
        model = model.to(memory_format=torch.channels_last)
    bf16 = use_bf16(opts.precision, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=opts.lr, betas=BETAS, weight_decay=0.0)
    warm_from = step  # where this optimiser's moments start (a warm-up follows)
    warmup = opts.warmup
    event = "init" if opts.init and resume_path is None else "start"
    if resume_path is not None:
        ckpt = load_checkpoint(resume_path)
        model.load_state_dict(ckpt["model_state_dict"])
        step = int(ckpt.get("all_step", 0))
        warm_from = step
        if "optimizer_state_dict" in ckpt:
            optimizer.load_state_dict(ckpt["optimizer_state_dict"])
            # full state: no new warm-up; the one the optimiser began with stays as it was
            warm_from = int(ckpt.get("warm_from", 0))
            warmup = int(ckpt.get("warmup", opts.warmup))
        event = "resume"

    def set_lr(at: int) -> float:
        lr = opts.lr * lr_factor(at, opts.steps, warmup, opts.lr, MIN_LR, opts.schedule,
                                 opts.cooldown, warm_from)
        if deadline is not None and opts.cooldown_minutes > 0:  # a timed cool-down
            left = (deadline - time.perf_counter()) / (opts.cooldown_minutes * 60)
            lr = min(lr, max(MIN_LR, opts.lr * min(max(left, 0.0), 1.0)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def save() -> None:
        save_atomic(checkpoint(), latest)
        if opts.export:
            from modelkb.models.weights import save_safetensors

            save_safetensors(model.state_dict(), Path(opts.export), metadata={
                "variant": opts.variant, "all_step": str(step),
                "recipe": json.dumps(asdict(opts))})

    def checkpoint() -> dict[str, Any]:
        return {
            "model_state_dict": model.state_dict(),
            "all_step": step,
            "warm_from": warm_from,
            "warmup": warmup,
            "optimizer_state_dict": optimizer.state_dict(),
            "variant": opts.variant,
            "options": asdict(opts),
            "degrade_config": config_dict(degrade_cfg),
        }

    out_dir.mkdir(parents=True, exist_ok=True)
    model.train()
    # the compiled wrapper shares its parameters with `model`, which is what gets saved
    stepper = torch.compile(model) if opts.compile else model
    loss_value = float("nan")
    metrics: dict[str, Any] | None = None
    bar = tqdm(total=opts.steps, initial=step, disable=not progress, unit="step",
               dynamic_ncols=True)
    started = time.perf_counter()
    deadline = started + opts.minutes * 60 if opts.minutes is not None else None
    end = min(opts.steps, opts.stop_after) if opts.stop_after else opts.steps
    _log(out_dir, {"event": event, "step": step, "warm_from": warm_from,
                   "time": time.time(), "threads": _threads(),
                   "note": ("fresh Adam from the weights in --init: warm-up of "
                            f"{warmup} steps" if event == "init" else
                            "full state (weights, Adam moments, step)" if event == "resume"
                            else "new run")})
    from modelkb.train.loader import iter_batches

    on_device = use_device_synthesis(opts.synth, device, source)
    batches = iter_batches(source, opts.seed, opts.batch, opts.crop, step, end, opts.workers,
                           specs=on_device)
    if on_device:
        from modelkb.train.synth import finish

        noise = torch.Generator(device=device)
    caught, restore_signals = _stop_signals()
    stopped = "end"
    saved_at, saved_time = -1, time.perf_counter()
    try:
        while step < end:
            if caught or (deadline is not None and time.perf_counter() >= deadline):
                stopped = "signal" if caught else "time"
                break
            t0 = time.perf_counter()
            made = next(batches)
            if on_device:
                noise.manual_seed(opts.seed * 1_000_003 + step)
                sharp, blurred = finish(made, opts.crop, device, noise)
            else:
                sharp = torch.from_numpy(made[0]).to(device)
                blurred = torch.from_numpy(made[1]).to(device)
            lr = set_lr(step)
            loss_value, grad_norm = train_step(stepper, optimizer, sharp, blurred, opts, bf16)
            if not math.isfinite(loss_value):
                raise ModelkbError(f"step {step}: loss is {loss_value}; try a lower --lr")
            step += 1
            seconds = max(time.perf_counter() - t0, 1e-9)
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.4f}", img_s=f"{opts.batch / seconds:.1f}")
            record: dict[str, Any] = {"step": step, "loss": loss_value, "lr": lr,
                                      "img_s": opts.batch / seconds, "grad_norm": grad_norm}
            if (val_pairs and opts.val_every
                    and (step % opts.val_every == 0 or step == opts.steps)):
                metrics = evaluate(model, val_pairs, device)
                record["val"] = metrics["mean"]
                bar.write(
                    f"step {step}: held-out PSNR {metrics['mean']['input_psnr']:.2f} -> "
                    f"{metrics['mean']['output_psnr']:.2f} dB, SSIM "
                    f"{metrics['mean']['input_ssim']:.4f} -> "
                    f"{metrics['mean']['output_ssim']:.4f}"
                )
            _log(out_dir, record)
            timely = (opts.save_minutes is not None
                      and time.perf_counter() - saved_time >= opts.save_minutes * 60)
            if step % max(opts.save_every, 1) == 0 or step == end or timely:
                save()
                saved_at, saved_time = step, time.perf_counter()
        if saved_at != step and (step > 0 or not latest.exists()):
            save()
    finally:
        restore_signals()
        bar.close()
    elapsed = time.perf_counter() - started
    _log(out_dir, {"event": "stop", "step": step, "why": stopped, "time": time.time(),
                   "seconds": elapsed})
    return {"step": step, "loss": loss_value, "metrics": metrics, "seconds": elapsed,
            "checkpoint": str(latest), "stopped": stopped}


def _threads() -> int:
    """torch's intra-op thread count (logged with each session of a run)."""
    import torch

    return int(torch.get_num_threads())
