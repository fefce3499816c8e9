"""Loading and saving weights (imports torch): released .pt, bare state_dict, .safetensors.

Loading never executes code from the file (weights-only unpickling, safetensors), checks
every tensor, and refuses a PyTorch zip checkpoint whose members are encrypted, use an
unknown compression method, or declare more bytes than the cap of
:mod:`modelkb.models.weights.sizes` before anything is inflated. The network is built and
recognised through :mod:`modelkb.pixels.registry`.
"""

from __future__ import annotations

import logging
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from modelkb.errors import ModelkbError
from modelkb.models.weights.resolve import (
    USER_PROVENANCE,
    WeightsFile,
    choose_weights,
    file_sha256,
)
from modelkb.models.weights.sizes import check_members, weights_cap
from modelkb.pixels import registry

log = logging.getLogger(__name__)


@dataclass
class LoadedWeights:
    """A network with its weights loaded, and where they came from."""

    model: torch.nn.Module
    variant: str
    sha256: str
    path: Path
    provenance: str = USER_PROVENANCE


def _one_line(exc: BaseException, limit: int = 160) -> str:
    """An exception's message as one short line (torch's can run to pages)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit - 1] + "…"


def weights_format(path: Path) -> str:
    """'safetensors', 'zip' (torch.save) or 'pickle' (legacy torch.save), from the bytes."""
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
            size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise ModelkbError(f"cannot read the weights file {path.name}: {exc.strerror or exc}"
                           ) from None
    if len(head) >= 9 and head[8:9] == b"{":
        header_len = int.from_bytes(head[:8], "little")
        if 0 < header_len <= size - 8:
            return "safetensors"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:  # legacy torch.save
        return "pickle"
    what = "empty" if size == 0 else f"{size:,} bytes that are not a weights file"
    raise ModelkbError(
        f"{path.name}: not MSSNet weights ({what}; expected a .safetensors file or a PyTorch "
        "checkpoint): download or copy the weights file again")


def _load_raw(path: Path) -> object:
    """The weights file's content, never executing code from it."""
    kind = weights_format(path)
    if kind == "safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:  # noqa: BLE001 - any parse failure is a damaged file
            raise ModelkbError(f"{path.name}: cannot read it as safetensors ({_one_line(exc)}); is "
                               "the file complete?") from None
    if kind == "zip":
        _check_zip(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ModelkbError(
            f"refused to load {path.name}: it contains Python objects or code that a weights-only "
            "load does not allow, and loading it could run code; use a checkpoint holding only "
            "tensors (or convert it to .safetensors from a trusted source)") from None
    except Exception as exc:  # noqa: BLE001 - torch raises anything on a damaged file
        raise ModelkbError(f"{path.name}: cannot read it as a PyTorch checkpoint "
                           f"({_one_line(exc)}); is the file complete?") from None


def _check_zip(path: Path) -> None:
    """A zip checkpoint's members checked by their declared sizes before torch inflates them."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelkbError(f"{path.name}: cannot read it as a PyTorch checkpoint "
                           f"({_one_line(exc)}); is the file complete?") from None
    check_members(infos, path.name, weights_cap())


def _check_tensor(path: Path, key: str, value: torch.Tensor) -> None:
    """Only dense, real floating-point tensors with data are weights."""
    problem = None
    if value.layout != torch.strided:
        problem = f"is a {str(value.layout).removeprefix('torch.')} tensor, not a dense one"
    elif value.device.type == "meta" or value.is_meta:
        problem = "is a 'meta' tensor without data"
    elif value.is_quantized:
        problem = "is a quantized tensor"
    elif not value.is_floating_point():
        problem = f"holds {str(value.dtype).removeprefix('torch.')} numbers, not floating point"
    if problem:
        raise ModelkbError(f"{path.name}: tensor {key!r} {problem}; MSSNet weights are float32, "
                           "float16 or bfloat16 tensors: use an unmodified checkpoint")


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The raw state_dict of a weights file, every tensor checked; never executes code."""
    data = _load_raw(path)
    if isinstance(data, dict) and isinstance(data.get("model_state_dict"), dict):
        data = data["model_state_dict"]
    elif isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not data \
            or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                       for k, v in data.items()):
        raise ModelkbError(
            f"{path.name} holds no state_dict: expected a dict of named tensors or a dict with "
            "'model_state_dict' (the released MSSNet format)"
        )
    for key, value in data.items():
        _check_tensor(path, key, value)
    if all(k.startswith("module.") for k in data):
        data = {k[len("module.") :]: v for k, v in data.items()}
    return data


def infer_variant(state_dict: dict[str, torch.Tensor]) -> str | None:
    """The registered variant whose key names and shapes the state_dict has, or None."""
    found = registry.recognise(state_dict)
    return found[1] if found is not None else None


def _list(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def check_state_dict(model: torch.nn.Module, state_dict: dict[str, torch.Tensor],
                     name: str) -> None:
    """Raise a ModelkbError naming missing, unexpected and mis-shaped keys, if any."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k} {tuple(state_dict[k].shape)} instead of {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    if not (missing or unexpected or mismatched):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys ({_list(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys ({_list(unexpected)})")
    if mismatched:
        parts.append(f"{len(mismatched)} shape mismatches ({_list(mismatched, 3)})")
    variant = getattr(model, "variant", None) or "custom"
    raise ModelkbError(
        f"weights in {name} do not fit {variant}: " + "; ".join(parts)
        + "; use the MSSNet checkpoint of this variant (or pass the matching --variant)"
    )


def load_weights(weights: str | os.PathLike[str] | WeightsFile | None,
                 variant: str | None = None) -> LoadedWeights:
    """Load weights strictly into a new network in eval mode; infer the variant if None.

    ``weights``: a chosen :class:`WeightsFile`, or a path or 'URL#sha256=HEX' (None: the
    default order of :func:`choose_weights`); a URL is downloaded and verified first.
    """
    resolved = weights if isinstance(weights, WeightsFile) else choose_weights(weights)
    path = resolved.local_path()
    if variant is not None:
        registry.check_variant(variant)
    state_dict = _read_state_dict(path)
    found = infer_variant(state_dict)
    if variant is None:
        if found is None:
            raise ModelkbError(
                f"cannot tell which variant {path.name} holds (its key names or shapes "
                f"match none of {', '.join(registry.variant_names())}); is it an MSSNet "
                "checkpoint?"
            )
        variant = found
    elif found is not None and found != variant:
        raise ModelkbError(
            f"weights in {path.name} are for {found}, not {variant}: "
            f"pass --variant {found} or the weights of {variant}"
        )
    arch = registry.architecture_of_variant(variant)
    assert arch is not None  # check_variant or recognise found it
    model = arch.build(variant)
    check_state_dict(model, state_dict, path.name)
    model.load_state_dict(state_dict, strict=True)
    model.eval()
    digest = file_sha256(path)  # the bytes loaded (memoised per path, size and mtime)
    log.info("loaded %s weights from %s (sha256 %s)", variant, path, digest[:12])
    return LoadedWeights(model, variant, digest, path, resolved.provenance)


def save_checkpoint(model: torch.nn.Module, path: str | Path, all_step: int = 0) -> Path:
    """Save in the released format: {'model_state_dict': ..., 'all_step': ...}, atomically."""
    from modelkb.files import atomic_path

    with atomic_path(path) as tmp:
        torch.save({"model_state_dict": model.state_dict(), "all_step": int(all_step)}, tmp)
    return Path(path)


def save_safetensors(weights: torch.nn.Module | dict[str, torch.Tensor], path: str | Path,
                     dtype: torch.dtype = torch.float16,
                     metadata: dict[str, str] | None = None) -> Path:
    """Save a network or state_dict as .safetensors (fp16 by default; shared tensors copied,
    integer tensors kept), atomically; ``metadata`` adds to the variant it records."""
    from safetensors.torch import save_file

    from modelkb.files import atomic_path

    state = weights.state_dict() if isinstance(weights, torch.nn.Module) else weights
    tensors = {k: (v.detach().to(dtype) if v.is_floating_point() else v.detach())
               .clone().contiguous() for k, v in state.items()}
    variant = (getattr(weights, "variant", None) if isinstance(weights, torch.nn.Module)
               else infer_variant(state))
    meta = {"variant": variant or "custom", **(metadata or {})}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return Path(path)
