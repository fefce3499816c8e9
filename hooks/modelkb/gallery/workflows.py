"""Executable workflows: the catalog's steps (restore, resize) run on a decoded photo.

A restore step runs the network of its model's architecture (see :mod:`modelkb.registry`):
the weights are loaded into the architecture's network, of the variant recognised from them
(stand-in weights may be another variant of that architecture than the catalog's
``variant``; weights of another architecture are an error), and tiling pads each input to
the architecture's ``input_multiple``. torch is imported only inside :func:`run_restore`,
when a restore really has to run: the gallery computes cache keys (which need the weights'
SHA-256) without it, so a build whose gallery is fully cached never loads torch. Loaded
networks are kept in a :class:`ModelCache` (by weights SHA-256, architecture and device; the
two used last), so ``mkdocs serve`` reuses them across rebuilds without holding every
network it ever loaded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from modelkb import registry
from modelkb.catalog import ResizeStep, RestoreStep, Workflow
from modelkb.errors import ModelkbError
from modelkb.gallery.cache import canonical_json
from modelkb.limits import MAX_OUTPUT_PIXELS
from modelkb.models.weights import WeightsFile

if TYPE_CHECKING:  # numpy, Pillow and torch load only when a step runs: cached builds skip them
    import numpy as np
    import torch

    from modelkb.models.weights import LoadedWeights

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


def workflow_json(workflow: Workflow) -> str:
    """The canonical JSON of a workflow's steps (what determines its output)."""
    return canonical_json([asdict(step) for step in workflow.steps])


@dataclass(frozen=True)
class LoadedModel:
    """A network ready to run: its weights, its architecture and the device it is on."""

    weights: LoadedWeights
    architecture: registry.Architecture
    device: torch.device


ModelKey = tuple[str, str | None, str]  # (weights SHA-256, architecture, device)


class ModelCache:
    """Loaded networks by (weights SHA-256, architecture, device); holds at most ``size``,
    dropping the one used least recently. Thread-safe; a network loads once even when two
    threads ask for it together."""

    def __init__(self, size: int = 2):
        if size < 1:
            raise ValueError("a model cache holds at least one network")
        self.size = size
        self._held: OrderedDict[ModelKey, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._held)

    def keys(self) -> list[ModelKey]:
        """The keys held, least recently used first."""
        with self._lock:
            return list(self._held)

    def get(self, weights: WeightsFile, architecture: str | None = None,
            device: str = "auto") -> LoadedModel:
        """The network for these weights on this device, loaded on first use.

        ``architecture`` (the catalog model's) must be the architecture the weights are
        for; None accepts any registered one.
        """
        from modelkb.models.tiling import select_device

        torch_device = select_device(device)
        key = (weights.sha256, architecture, str(torch_device))
        with self._lock:
            found = self._held.get(key)
            if found is not None:
                self._held.move_to_end(key)
                return found
            loaded = _load(weights, architecture, torch_device)
            self._held[key] = loaded
            while len(self._held) > self.size:
                dropped, _ = self._held.popitem(last=False)
                log.debug("model cache: dropped the network of weights %s", dropped[0][:12])
            return loaded


def _load(weights: WeightsFile, architecture: str | None, device: torch.device
          ) -> LoadedModel:
    from modelkb.models.tiling import prepare_model
    from modelkb.models.weights import load_weights

    if architecture is not None:
        registry.get(architecture)  # an unknown one is an error before any file is read
    loaded = load_weights(weights, None)
    if loaded.sha256 != weights.sha256:
        raise ModelkbError(f"weights {weights.source} changed while the build was running")
    arch = registry.architecture_of_variant(loaded.variant)
    assert arch is not None  # load_weights recognised a registered variant
    if architecture is not None and arch.name != architecture:
        raise ModelkbError(
            f"weights {weights.source} are {arch.name} weights ({loaded.variant}), but the model "
            f"runs the {architecture} architecture: give it {architecture} weights")
    # channels_last: 1.8x faster than contiguous on the CPU, the same output to 5e-7
    # (BENCHMARKS.md, "Inference options"); the usual choice for convolutions on GPUs.
    prepare_model(loaded.model, device, channels_last=True)
    return LoadedModel(loaded, arch, device)


MODELS = ModelCache(2)  # the process's networks, kept across `mkdocs serve` rebuilds


def run_restore(rgb: np.ndarray, weights: WeightsFile, device: str = "auto",
                architecture: str | None = None, label: str = "the image",
                models: ModelCache | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Restore float RGB with the tiled network of ``architecture`` (None: whichever the
    weights are for); returns (rgb clipped to [0, 1], details). ``models`` holds the loaded
    networks (default :data:`MODELS`).

    GPU out-of-memory retries with smaller tiles, then the CPU; NaN/inf in the output (corrupt
    weights) is a ModelkbError naming ``label``.
    """
    import numpy as np

    from modelkb.models.tiling import check_finite, restore_with_fallback

    start = time.perf_counter()
    loaded = (models or MODELS).get(weights, architecture, device)
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


def check_output_size(workflow: Workflow, width: int, height: int, label: str = "the image",
                      max_pixels: int = MAX_OUTPUT_PIXELS) -> None:
    """Raise a ModelkbError, before any step runs, when a step would make too large an image."""
    for number, step in enumerate(workflow.steps, 1):
        if isinstance(step, ResizeStep):
            width, height = resized_size(width, height, step.scale)
            if width * height > max_pixels:
                raise ModelkbError(
                    f"workflow {workflow.id}, step {number} (resize x{step.scale:g}) would make "
                    f"{label} {width}x{height} = {width * height / 1e6:.0f} million pixels, more "
                    f"than the limit of {max_pixels / 1e6:g} million; use smaller scale "
                    "factors or a smaller photo")


def run_workflow(workflow: Workflow, rgb: np.ndarray,
                 weights: WeightsFile | Mapping[str, WeightsFile] | None = None,
                 device: str = "auto", architectures: Mapping[str, str | None] | None = None,
                 only_resize: bool = False, label: str = "the image",
                 model_lock: AbstractContextManager | None = None,
                 models: ModelCache | None = None) -> WorkflowResult:
    """Run the steps in order on float RGB; ``architectures`` gives each restore step's model
    its architecture (the catalog's, :func:`modelkb.catalog.schema.architecture_of`);
    ``only_resize`` skips restores (the baseline); ``label`` names the input in errors;
    ``model_lock`` is held around each model step (one network runs at a time while other
    threads decode, encode and measure); ``models`` holds the loaded networks."""
    check_output_size(workflow, rgb.shape[1], rgb.shape[0], label)
    steps: list[StepRecord] = []
    restored: np.ndarray | None = None
    image = rgb
    for step in workflow.steps:
        start = time.perf_counter()
        if isinstance(step, RestoreStep):
            if only_resize:
                continue
            chosen = weights.get(step.model) if isinstance(weights, Mapping) else weights
            if chosen is None:
                raise ModelkbError(f"workflow {workflow.id}: the restore step of {step.model} "
                                   "has no weights")
            architecture = (architectures or {}).get(step.model)
            with model_lock or nullcontext():
                start = time.perf_counter()  # time spent waiting for the model is not its time
                image, detail = run_restore(image, chosen, device, architecture, label, models)
            restored = image
            detail = {"model": step.model, **detail}
            steps.append(StepRecord("restore", time.perf_counter() - start, detail))
        elif isinstance(step, ResizeStep):
            image = resize_array(image, step.scale, step.filter)
            steps.append(StepRecord("resize", time.perf_counter() - start,
                                    {"scale": step.scale, "filter": step.filter}))
        else:  # pragma: no cover - the catalog schema allows no other step
            raise ModelkbError(f"workflow {workflow.id}: unknown step {step!r}")
    return WorkflowResult(image, restored, steps)


def total_scale(workflow: Workflow) -> float:
    """The product of the workflow's resize factors."""
    scale = 1.0
    for step in workflow.steps:
        if isinstance(step, ResizeStep):
            scale *= step.scale
    return scale
