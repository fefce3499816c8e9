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
    degrade: dict[str, Any] = field(default_factory=dict)
    max_pixels: int | None = None
    init: str | None = None  # start from these weights (fresh optimiser and warm-up)
    channels_last: bool = True
    synth: str = "auto"  # blur synthesis: "cpu" (workers), "device", "auto" (device on CUDA)
    compile: bool = False  # run the training steps through torch.compile
    precision: str = "auto"  # "fp32", "bf16" (autocast) or "auto": bf16 on CUDA, fp32 on CPU
    edge_weight: float = 0.0  # x L1 between Laplacians of final output and target
    detail_weight: float = 0.0  # x |log| ratio of their Laplacian energies, per crop


def lr_factor(step: int, total: int, warmup: int, base_lr: float, min_lr: float = MIN_LR) -> float:
    """Multiplier of the base lr at `step`: linear warm-up, then cosine down to `min_lr`."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(total - warmup, 1)
    progress = min(max(step - warmup, 0) / span, 1.0)
    floor = min_lr / base_lr
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
               blurred: torch.Tensor, opts: TrainOptions, bf16: bool) -> float:
    """One optimiser step on one batch (forward under bf16 autocast when `bf16`; the loss and
    the weights stay fp32); returns the loss. The caller steps the lr schedule."""
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
        return float(loss.item())
    loss.backward()
    optimizer.step()
    return float(loss.item())


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

    out_dir = Path(opts.out)
    latest = out_dir / "latest.pt"
    resume_path: Path | None = None
    if opts.resume:
        resume_path = latest if opts.resume == "auto" else Path(opts.resume)

    degrade_cfg = DegradeConfig(**{k: tuple(v) if isinstance(v, list) else v
                                   for k, v in opts.degrade.items()})
    source = open_source(Path(opts.data), degrade_cfg, opts.max_pixels)
    val_pairs = validation_pairs(Path(opts.val), size=opts.val_size) if opts.val else []

    torch.manual_seed(opts.seed)
    torch.use_deterministic_algorithms(device == "cpu", warn_only=True)
    model = build_model(opts.variant).to(device)
    if opts.init and resume_path is None:
        from modelkb.models.weights import load_weights

        loaded = load_weights(opts.init, opts.variant)
        model.load_state_dict({k: v.float() for k, v in loaded.model.state_dict().items()})
    if opts.channels_last:
        model = model.to(memory_format=torch.channels_last)
    bf16 = use_bf16(opts.precision, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=opts.lr, betas=BETAS, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, opts.steps, opts.warmup, opts.lr)
    )
    step = 0
    if resume_path is not None:
        ckpt = load_checkpoint(resume_path)
        model.load_state_dict(ckpt["model_state_dict"])
        if "optimizer_state_dict" in ckpt:
            optimizer.load_state_dict(ckpt["optimizer_state_dict"])
        if "scheduler_state_dict" in ckpt:
            scheduler.load_state_dict(ckpt["scheduler_state_dict"])
        step = int(ckpt.get("all_step", 0))

    def checkpoint() -> dict[str, Any]:
        return {
            "model_state_dict": model.state_dict(),
            "all_step": step,
            "optimizer_state_dict": optimizer.state_dict(),
            "scheduler_state_dict": scheduler.state_dict(),
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
    end = min(opts.steps, opts.stop_after) if opts.stop_after else opts.steps
    from modelkb.train.loader import iter_batches

    on_device = use_device_synthesis(opts.synth, device, source)
    batches = iter_batches(source, opts.seed, opts.batch, opts.crop, step, end, opts.workers,
                           specs=on_device)
    if on_device:
        from modelkb.train.synth import finish

        noise = torch.Generator(device=device)
    while step < end:
        t0 = time.perf_counter()
        made = next(batches)
        if on_device:
            noise.manual_seed(opts.seed * 1_000_003 + step)
            sharp, blurred = finish(made, opts.crop, device, noise)
        else:
            sharp = torch.from_numpy(made[0]).to(device)
            blurred = torch.from_numpy(made[1]).to(device)
        loss_value = train_step(stepper, optimizer, sharp, blurred, opts, bf16)
        if not math.isfinite(loss_value):
            raise ModelkbError(f"step {step}: loss is {loss_value}; try a lower --lr")
        scheduler.step()
        step += 1
        rate = opts.batch / max(time.perf_counter() - t0, 1e-9)
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.4f}", img_s=f"{rate:.1f}")
        record: dict[str, Any] = {"step": step, "loss": loss_value,
                                  "lr": optimizer.param_groups[0]["lr"], "img_s": rate}
        if val_pairs and opts.val_every and (step % opts.val_every == 0 or step == opts.steps):
            metrics = evaluate(model, val_pairs, device)
            record["val"] = metrics["mean"]
            bar.write(
                f"step {step}: held-out PSNR {metrics['mean']['input_psnr']:.2f} -> "
                f"{metrics['mean']['output_psnr']:.2f} dB, SSIM "
                f"{metrics['mean']['input_ssim']:.4f} -> {metrics['mean']['output_ssim']:.4f}"
            )
        _log(out_dir, record)
        if step % max(opts.save_every, 1) == 0 or step == end:
            save_atomic(checkpoint(), latest)
    bar.close()
    if step == opts.steps and not latest.exists():
        save_atomic(checkpoint(), latest)
    return {"step": step, "loss": loss_value, "metrics": metrics,
            "seconds": time.perf_counter() - started, "checkpoint": str(latest)}
