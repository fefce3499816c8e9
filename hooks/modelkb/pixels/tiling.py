"""Running a registered network (MSSNet) on real photos: any size, bounded memory, devices.

Sizes that are not multiples of the architecture's ``input_multiple`` (16 for MSSNet; see
:mod:`modelkb.pixels.registry`) are reflect-padded and cropped back. Large images are cut
into overlapping tiles whose outputs are blended with raised-cosine weights over the overlap
(weights of two neighbouring tiles sum to one), so memory depends on the tile size, not on
the photo. Tiling changes the result slightly near tile seams because the network sees less
context there; BENCHMARKS.md gives the measured difference.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from modelkb.pixels.imaging import picture_from_pil, to_pil
from modelkb.pixels.registry import architecture_of_network, check_device
from modelkb.pixels.usererror import ModelkbError

log = logging.getLogger(__name__)

TILE_MULTIPLE = 16  # tile sides (the --tile option) are multiples of this
DEFAULT_TILE = 512
DEFAULT_OVERLAP = 64
# Whole-image inference up to this many pixels when no tile size is given (about 1.2 MP).
AUTO_WHOLE_PIXELS = 1280 * 960


def select_device(name: str = "auto") -> torch.device:
    """'auto' (cuda, then mps, then cpu), 'cuda' or 'cpu'; cpu uses every core."""
    check_device(name)
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelkbError("--device cuda was asked but no CUDA GPU is available; use cpu or auto")
    mps = getattr(torch.backends, "mps", None)
    mps_ok = mps is not None and mps.is_available()
    if name == "mps" and not mps_ok:
        raise ModelkbError("--device mps was asked but MPS is not available; use cpu or auto")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if mps_ok else "cpu"
    if name == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    return torch.device(name)


def prepare_model(
    model: torch.nn.Module, device: torch.device, channels_last: bool = False
) -> torch.nn.Module:
    """The model in eval mode on ``device`` (optionally in channels_last memory format)."""
    model = model.eval().to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def input_multiple(model: torch.nn.Module) -> int:
    """The size rule of ``model``'s registered architecture (1 for an unregistered one)."""
    arch = architecture_of_network(model)
    return arch.input_multiple if arch is not None else 1


def _reflect_pad(x: torch.Tensor, bottom: int, right: int) -> torch.Tensor:
    """Reflect-pad bottom/right, repeating the reflection when the image is smaller than the pad."""
    while bottom > 0 or right > 0:
        b = min(bottom, x.shape[-2] - 1)
        r = min(right, x.shape[-1] - 1)
        if (b == 0 and bottom > 0) or (r == 0 and right > 0):  # 1-pixel side: replicate
            return F.pad(x, (0, right, 0, bottom), mode="replicate")
        x = F.pad(x, (0, r, 0, b), mode="reflect")
        bottom, right = bottom - b, right - r
    return x


def run_padded(
    model: torch.nn.Module, x: torch.Tensor, device: torch.device, bf16: bool = False,
    channels_last: bool = False, multiple: int | None = None,
) -> torch.Tensor:
    """Restore a 1x3xHxW tensor of any size, on CPU: padded to a multiple of ``multiple``
    (default: the model's architecture's ``input_multiple``), cropped back."""
    h, w = x.shape[-2:]
    multiple = multiple or input_multiple(model)
    padded = _reflect_pad(x, -h % multiple, -w % multiple).to(device)
    if channels_last:  # 1.8x faster on the CPU too (BENCHMARKS.md, inference options)
        padded = padded.contiguous(memory_format=torch.channels_last)
    autocast = (
        torch.autocast(device_type=device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    )
    with torch.inference_mode(), autocast:
        restore = getattr(model, "restore", model)
        out = restore(padded)
    return out[..., :h, :w].float().cpu()


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile start offsets along one axis: stride tile - overlap, the last one flush with the end."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    count = math.ceil((length - tile) / stride) + 1
    starts = [min(i * stride, length - tile) for i in range(count)]
    return sorted(set(starts))


def _ramp(size: int, overlap: int, fade_start: bool, fade_end: bool) -> np.ndarray:
    """1-D blending weights: raised cosine over ``overlap`` pixels at inner edges, 1 elsewhere."""
    weights = np.ones(size, dtype=np.float32)
    n = min(overlap, size // 2)
    if n > 0:
        rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n, dtype=np.float32) + 0.5) / n)
        if fade_start:
            weights[:n] = rise
        if fade_end:
            weights[size - n :] = rise[::-1]
    return weights


def check_tiling(tile: int | None, overlap: int) -> None:
    """Raise a ModelkbError for an unusable tile size or overlap."""
    if tile is None or tile == 0:
        return
    if tile < 64 or tile % TILE_MULTIPLE:
        raise ModelkbError(f"tile size {tile} must be 0 (whole image) or a multiple of 16, >= 64")
    if overlap < 0 or overlap * 2 >= tile:
        raise ModelkbError(f"tile overlap {overlap} must be >= 0 and less than half the tile")


def restore_array(
    model: torch.nn.Module,
    rgb: np.ndarray,
    device: torch.device | str = "cpu",
    tile: int | None = None,
    overlap: int = DEFAULT_OVERLAP,
    bf16: bool = False,
    channels_last: bool = False,
    progress: Callable[[int, int], None] | None = None,
    multiple: int | None = None,
) -> np.ndarray:
    """Restore float32 HxWx3 RGB in [0, 1]; returns float32 HxWx3, unclamped.

    ``tile`` None picks whole-image inference up to about 1.2 MP and 512-pixel tiles above;
    0 forces the whole image; another value is the tile side in pixels (multiple of 16).
    ``multiple``: the network's size rule (default: its registered architecture's).
    """
    if isinstance(device, str):
        device = select_device(device)
    multiple = multiple or input_multiple(model)
    height, width = rgb.shape[:2]
    if tile is None:
        tile = 0 if height * width <= AUTO_WHOLE_PIXELS else DEFAULT_TILE
    check_tiling(tile, overlap)

    def run(crop: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))[None]
        return run_padded(model, x, device, bf16, channels_last,
                          multiple)[0].numpy().transpose(1, 2, 0)

    if tile == 0 or (height <= tile and width <= tile):
        if progress:
            progress(1, 1)
        return np.ascontiguousarray(run(rgb))

    out = np.zeros((height, width, 3), dtype=np.float32)
    total = np.zeros((height, width, 1), dtype=np.float32)
    ys, xs = _starts(height, tile, overlap), _starts(width, tile, overlap)
    done, count = 0, len(ys) * len(xs)
    for y in ys:
        th = min(tile, height - y)
        wy = _ramp(th, overlap, y > 0, y + th < height)
        for x in xs:
            tw = min(tile, width - x)
            wx = _ramp(tw, overlap, x > 0, x + tw < width)
            weight = (wy[:, None] * wx[None, :])[..., None]
            out[y : y + th, x : x + tw] += run(rgb[y : y + th, x : x + tw]) * weight
            total[y : y + th, x : x + tw] += weight
            done += 1
            if progress:
                progress(done, count)
    out /= total
    return out


def restore_image(
    model: torch.nn.Module,
    image: Image.Image,
    device: torch.device | str = "auto",
    tile: int | None = None,
    overlap: int = DEFAULT_OVERLAP,
    bf16: bool = False,
    channels_last: bool = False,
) -> Image.Image:
    """Restore a PIL image; returns an upright 8-bit PIL image (gray stays gray, alpha kept)."""
    picture = picture_from_pil(image)
    rgb = restore_array(
        model, picture.rgb, device=device, tile=tile, overlap=overlap, bf16=bf16,
        channels_last=channels_last,
    )
    return to_pil(rgb, picture.alpha, picture.grayscale)


# -- faults: GPU out of memory, non-finite outputs ---------------------------------------------

OOM_MIN_TILE = 128  # below this tile side a GPU that is still out of memory gives way to the CPU
RestoreFn = Callable[..., np.ndarray]


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a CUDA out-of-memory error (the dedicated class or a RuntimeError saying so)."""
    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _free_gpu(device: torch.device) -> None:
    if device.type == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _tile_side(tile: int | None, height: int, width: int, multiple: int) -> int:
    """The tile side restore_array would use (a whole image counts as one padded tile)."""
    if tile is None:
        tile = 0 if height * width <= AUTO_WHOLE_PIXELS else DEFAULT_TILE
    return tile or -(-max(height, width) // multiple) * multiple


def restore_with_fallback(
    model: torch.nn.Module,
    rgb: np.ndarray,
    device: torch.device | str = "cpu",
    tile: int | None = None,
    overlap: int = DEFAULT_OVERLAP,
    min_tile: int = OOM_MIN_TILE,
    restore: RestoreFn = restore_array,
    multiple: int | None = None,
    **options: object,
) -> tuple[np.ndarray, dict[str, object]]:
    """restore_array that survives GPU out-of-memory: halve the tile down to ``min_tile``,
    then run on the CPU with a warning; returns (rgb, {'device', 'tile'} actually used).

    ``restore`` is the seam through which tests inject out-of-memory errors (no GPU in CI).
    """
    if isinstance(device, str):
        device = select_device(device)
    multiple = multiple or input_multiple(model)
    height, width = rgb.shape[:2]
    current, current_overlap = tile, overlap
    while True:
        try:
            out = restore(model, rgb, device=device, tile=current, overlap=current_overlap,
                          multiple=multiple, **options)
            return out, {"device": str(device), "tile": current}
        except Exception as exc:
            if device.type == "cpu" or not is_out_of_memory(exc):
                raise
            _free_gpu(device)
            side = _tile_side(current, height, width, multiple)
            smaller = (side // 2) // TILE_MULTIPLE * TILE_MULTIPLE
            if smaller >= min_tile:
                log.warning("out of GPU memory with %d-pixel tiles; retrying with %d", side,
                            smaller)
                current, current_overlap = smaller, min(overlap, smaller // 4)
                continue
            break
    log.warning("out of GPU memory even with %d-pixel tiles; restoring on the CPU instead "
                "(slower): use a smaller tile size or free the GPU", min_tile)
    cpu = torch.device("cpu")
    options.pop("bf16", None)
    model.to(cpu)
    try:
        out = restore(model, rgb, device=cpu, tile=tile, overlap=overlap, multiple=multiple,
                      **options)
    finally:
        try:
            model.to(device)  # the caller keeps this network for the next image
        except Exception as exc:  # noqa: BLE001 - stay on the CPU if the GPU cannot take it
            log.warning("the network stays on the CPU: moving it back to %s failed (%s)",
                        device, exc)
    return out, {"device": "cpu", "tile": tile, "fallback": f"{device} out of memory"}


def check_finite(rgb: np.ndarray, name: str) -> None:
    """Raise a ModelkbError when the model's output holds NaN or infinite values."""
    if not np.isfinite(rgb).all():
        bad = int(rgb.size - np.isfinite(rgb).sum())
        raise ModelkbError(
            f"the model produced NaN/inf values for {name} ({bad} of {rgb.size} values) — the "
            "weights may be corrupt: check the weights file's SHA-256 against its source or "
            "use the shipped weights")
