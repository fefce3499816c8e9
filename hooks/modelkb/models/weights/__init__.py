"""Weights: which file a network runs with, where it comes from, and loading it.

The one resolution order, for a catalog model (first that is available wins):

1. the setting ``models: {<model id>: PATH-or-URL}``, then the environment variable
   ``MODELKB_WEIGHTS_<MODEL_ID>`` (id upper-cased, other characters as ``_``);
2. the site-wide override: the setting ``weights``, then ``$MODELKB_WEIGHTS``;
3. the model's own catalog weights entries (not ``stand_in``): a file shipped with modelkb
   (``file:``, confined to its weights folder), or a download that is already in the
   weights cache or that the build may fetch (``download_weights: true``);
4. its stand-in catalog entries, labelled **stand-in** wherever their pictures are shown
   (the shipped catalog's stand-in is the registry's default weights file).

``modelkb restore`` has no model: its order is ``--weights``, ``$MODELKB_WEIGHTS``, then the
registry's default weights (:attr:`modelkb.pixels.registry.Architecture.default_weights`).
A catalog model never falls back to them silently: it names them as a stand-in entry.

A URL is written ``URL#sha256=HEX`` and, for a zip archive, ``&member=PATH/IN/ZIP``; a
user's URL is downloaded only when a network has to run. When
nothing is available the gallery entry becomes a failure placeholder whose message says which
weights are missing and how to provide them.

Modules: :mod:`.resolve` (the order; :class:`WeightsFile`, the one chosen-file type; no torch),
:mod:`.download` (verified, bounded downloads), :mod:`.sizes` (the caps), :mod:`.load`
(loading and saving; imports torch, so its names are imported here only when used).
"""

from __future__ import annotations

from typing import Any

from modelkb.models.weights.download import (
    cache_path,
    default_cache_dir,
    fetch,
    fetch_url,
    is_url,
    recorded_sha256,
    split_url,
    split_url_parts,
)
from modelkb.models.weights.resolve import (
    SHIPPED_DIR,
    SHIPPED_PROVENANCE,
    USER_PROVENANCE,
    WEIGHTS_ENV,
    WeightsFile,
    choose_weights,
    default_weights,
    env_name,
    file_sha256,
    resolve_model_weights,
)

_LOAD = ("LoadedWeights", "check_state_dict", "infer_variant", "load_weights",
         "save_checkpoint", "save_safetensors", "weights_format")


def __getattr__(name: str) -> Any:
    """The torch side (:mod:`.load`) is imported on first use of one of its names."""
    if name in _LOAD:
        from modelkb.models.weights import load

        return getattr(load, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SHIPPED_DIR", "SHIPPED_PROVENANCE", "USER_PROVENANCE", "WEIGHTS_ENV", "WeightsFile",
    "cache_path", "choose_weights", "default_cache_dir", "default_weights", "env_name", "fetch",
    "fetch_url", "file_sha256", "is_url", "recorded_sha256", "resolve_model_weights",
    "split_url", "split_url_parts", *_LOAD]
