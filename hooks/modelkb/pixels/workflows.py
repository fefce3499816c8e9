"""Executable workflows: the catalog's steps (restore, resize) run on a decoded photo.

A restore step runs the network of its model's architecture (see
:mod:`modelkb.pixels.registry`), loaded by the caller's network cache
(:class:`modelkb.models.networks.ModelCache`: weights files are read outside the pixel
package), and tiling pads each input to the architecture's ``input_multiple``. torch is
imported only inside :func:`run_restore`, when a restore really has to run: the gallery
computes cache keys without it, so a build whose gallery is fully cached never loads torch.
Steps are told apart by their ``op`` (the catalog's step classes are not imported here:
the pixel package imports nothing of modelkb outside itself but :mod:`modelkb.limits`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from modelkb.limits import MAX_OUTPUT_PIXELS
from modelkb.pixels.usererror import ModelkbError

if TYPE_CHECKING:  # numpy, Pillow and torch load only when a step runs: cached builds skip them
    import numpy as np


class Step(Protocol):
    """A workflow step as the catalog defines it (``RestoreStep``, ``ResizeStep``)."""

    op: str


class Steps(Protocol):
    """A workflow as the catalog defines it: an id and its steps in order."""

    id: str
    steps: Sequence[Any]


class WeightsFile(Protocol):
    """A chosen weights file (:class:`modelkb.models.weights.WeightsFile`): what a picture's
    record says about it."""

    sha256: str
    provenance: str
    name: str
    licence: str | None
    stand_in: bool
    model_id: str
    model_name: str


class LoadedModel(Protocol):
    """A network ready to run (:class:`modelkb.models.networks.LoadedModel`): the network
    and its variant (``weights``), its registration (``architecture``), its torch device."""

    weights: Any
    architecture: Any
    device: Any


class Networks(Protocol):
    """Where restore steps get their loaded networks
    (:class:`modelkb.models.networks.ModelCache`)."""

    def get(self, weights: WeightsFile, architecture: str | None = None,
            device: str = "auto") -> LoadedModel: ...


log = logging.getLogger(__name__)


@dataclass
class StepRecord:
    """What one step did: its description, time and (for restore) device and weights."""

    op: str
    seconds: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class WorkflowResult:
    """A workflow's output (float RGB in [0, 1]) and what each step did."""

    output: np.ndarray
    restored: np.ndarray | None  # the output of the last restore step, at the input's size
    steps: list[StepRecord]

    def summary(self) -> dict[str, Any]:
        """JSON-friendly record of the steps (times, device, variant, weights)."""
        return {"steps": [{"op": s.op, "seconds": round(s.seconds, 4), **s.detail}
                          for s in self.steps],
                "seconds": round(sum(s.seconds for s in self.steps), 4)}


def run_restore(rgb: np.ndarray, weights: WeightsFile, device: str = "auto",
                architecture: str | None = None, label: str = "the image", *,
                models: Networks) -> tuple[np.ndarray, dict[str, Any]]:
    """Restore float RGB with the tiled network of ``architecture`` (None: whichever the
    weights are for); returns (rgb clipped to [0, 1], details). ``models`` holds the loaded
    networks (e.g. :data:`modelkb.models.networks.MODELS`).

    GPU out-of-memory retries with smaller tiles, then the CPU; NaN/inf in the output (corrupt
    weights) is a ModelkbError naming ``label``.
    """
    import numpy as np

    from modelkb.pixels.tiling import check_finite, restore_with_fallback

    start = time.perf_counter()
    loaded = models.get(weights, architecture, device)
    load_seconds = time.perf_counter() - start
    rgb, used = restore_with_fallback(loaded.weights.model, rgb, device=loaded.device,
                                      channels_last=True,
                                      multiple=loaded.architecture.input_multiple)
    check_finite(rgb, label)
    detail = {"device": used["device"], "variant": loaded.weights.variant,
              "weights_sha256": weights.sha256, "weights_provenance": weights.provenance,
              "load_seconds": round(load_seconds, 4)}  # 0 when the network was already loaded
    if "fallback" in used:
        detail["fallback"] = used["fallback"]
    if loaded.device.type == "cuda":
        import torch

        detail["device_name"] = torch.cuda.get_device_name(loaded.device)
    return np.clip(rgb, 0.0, 1.0).astype(np.float32), detail


def resize_array(rgb: np.ndarray, scale: float, filter_name: str = "lanczos") -> np.ndarray:
    """Resize float RGB in [0, 1] by ``scale`` with a Pillow filter (per channel, in float)."""
    import numpy as np
    from PIL import Image

    height, width = rgb.shape[:2]
    size = resized_size(width, height, scale)
    resample = Image.Resampling[filter_name.upper()]
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(rgb[..., c], dtype=np.float32),
                                         mode="F").resize(size, resample))
              for c in range(rgb.shape[2])]
    return np.clip(np.stack(planes, axis=2), 0.0, 1.0).astype(np.float32)


def resized_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """The (width, height) a resize step by ``scale`` produces."""
    return max(1, round(width * scale)), max(1, round(height * scale))


def check_output_size(workflow: Steps, width: int, height: int, label: str = "the image",
                      max_pixels: int = MAX_OUTPUT_PIXELS) -> None:
    """Raise a ModelkbError, before any step runs, when a step would make too large an image."""
    for number, step in enumerate(workflow.steps, 1):
        if step.op == "resize":
            width, height = resized_size(width, height, step.scale)
            if width * height > max_pixels:
                raise ModelkbError(
                    f"workflow {workflow.id}, step {number} (resize x{step.scale:g}) would make "
                    f"{label} {width}x{height} = {width * height / 1e6:.0f} million pixels, more "
                    f"than the limit of {max_pixels / 1e6:g} million; use smaller scale "
                    "factors or a smaller photo")


def run_workflow(workflow: Steps, rgb: np.ndarray,
                 weights: WeightsFile | Mapping[str, WeightsFile] | None = None,
                 device: str = "auto", architectures: Mapping[str, str | None] | None = None,
                 only_resize: bool = False, label: str = "the image",
                 model_lock: AbstractContextManager | None = None,
                 models: Networks | None = None) -> WorkflowResult:
    """Run the steps in order on float RGB; ``architectures`` gives each restore step's model
    its architecture (the catalog's, :func:`modelkb.catalog.schema.architecture_of`);
    ``only_resize`` skips restores (the baseline); ``label`` names the input in errors;
    ``model_lock`` is held around each model step (one network runs at a time while other
    threads decode, encode and measure); ``models`` holds the loaded networks (needed when a
    restore step runs)."""
    check_output_size(workflow, rgb.shape[1], rgb.shape[0], label)
    steps: list[StepRecord] = []
    restored: np.ndarray | None = None
    image = rgb
    for step in workflow.steps:
        start = time.perf_counter()
        if step.op == "restore":
            if only_resize:
                continue
            chosen = weights.get(step.model) if isinstance(weights, Mapping) else weights
            if models is None:
                raise ValueError("run_workflow: a restore step needs models (a ModelCache)")
            if chosen is None:
                raise ModelkbError(f"workflow {workflow.id}: the restore step of {step.model} "
                                   "has no weights")
            architecture = (architectures or {}).get(step.model)
            with model_lock or nullcontext():
                start = time.perf_counter()  # time spent waiting for the model is not its time
                image, detail = run_restore(image, chosen, device, architecture, label,
                                            models=models)
            restored = image
            detail = {"model": step.model, **detail}
            steps.append(StepRecord("restore", time.perf_counter() - start, detail))
        elif step.op == "resize":
            image = resize_array(image, step.scale, step.filter)
            steps.append(StepRecord("resize", time.perf_counter() - start,
                                    {"scale": step.scale, "filter": step.filter}))
        else:  # pragma: no cover - the catalog schema allows no other step
            raise ModelkbError(f"workflow {workflow.id}: unknown step {step!r}")
    return WorkflowResult(image, restored, steps)


def total_scale(workflow: Steps) -> float:
    """The product of the workflow's resize factors."""
    scale = 1.0
    for step in workflow.steps:
        if step.op == "resize":
            scale *= step.scale
    return scale
