"""Loaded networks, kept between pictures: weights file -> network on a device.

Reading a weights file (:mod:`modelkb.models.weights`) stays outside the pixel package:
the pictures' cache key holds the weights' SHA-256, and loading is strict (every key name
and shape checked), so the code that reads files does not decide pixels. The network, its
preparation for a device and what it computes are the pixel package's
(:mod:`modelkb.pixels.registry`, :mod:`modelkb.pixels.tiling`, the registered modules).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelkb.errors import ModelkbError
from modelkb.models.weights import WeightsFile
from modelkb.pixels import registry

if TYPE_CHECKING:  # torch loads only when a network is
    import torch

    from modelkb.models.weights import LoadedWeights

log = logging.getLogger(__name__)


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
        from modelkb.pixels.tiling import select_device

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
    from modelkb.models.weights import load_weights
    from modelkb.pixels.tiling import prepare_model

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
