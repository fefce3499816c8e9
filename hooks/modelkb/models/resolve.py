"""Which weights run a catalog model, decided per model without importing torch.

Order, for the model a restore step names (first that is available wins):

1. the setting ``models: {<model id>: PATH-or-URL}`` (``extra.modelkb.models`` for the hook
   file), then the environment variable ``MODELKB_WEIGHTS_<MODEL_ID>`` (id upper-cased,
   other characters as ``_``);
2. the site-wide override: the ``weights`` setting, then ``$MODELKB_WEIGHTS``;
3. the model's own catalog weights entries (not ``stand_in``): a file shipped with modelkb,
   or a download that is already in the weights cache or that the build may fetch
   (``download_weights: true``);
4. its stand-in entries, labelled **stand-in** wherever their pictures are shown.

A URL is written ``URL#sha256=HEX`` and, for a zip archive, ``&member=PATH/IN/ZIP``. When
nothing is available the entry becomes a failure placeholder whose message says which
weights are missing and how to provide them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from modelkb.catalog import Model
from modelkb.errors import ModelkbError
from modelkb.models.source import (
    SHIPPED_DIR,
    USER_PROVENANCE,
    WEIGHTS_ENV,
    WeightsSource,
    choose_weights,
    file_sha256,
)


@dataclass(frozen=True)
class ResolvedWeights:
    """The weights a model runs with, and everything a caption must say about them."""

    model_id: str
    model_name: str
    source: WeightsSource
    name: str
    provenance: str
    licence: str | None
    stand_in: bool
    origin: str  # where the choice came from, for messages

    @property
    def sha256(self) -> str:
        """SHA-256 of the weights file."""
        return self.source.sha256

    def label(self) -> str:
        """One line for captions: whose weights, which file (first 12 hex digits)."""
        text = f"{self.name} ({self.provenance}; sha256 {self.sha256[:12]})"
        if self.stand_in:
            return f"stand-in weights for {self.model_name}: {text}"
        return text


def env_name(model_id: str) -> str:
    """The environment variable that gives a model's weights: MODELKB_WEIGHTS_<ID>."""
    return f"{WEIGHTS_ENV}_" + re.sub(r"[^A-Z0-9]", "_", model_id.upper())


def _user(model: Model, given: str, origin: str, base: Path | None) -> ResolvedWeights:
    if "://" not in given and base is not None and not Path(given).expanduser().is_absolute():
        given = str(base / given)
    source = choose_weights(given, origin)
    return ResolvedWeights(model.id, model.name, source, "user-supplied weights",
                           source.provenance, None, False, origin)


def _catalog_source(entry, cache_dir: Path | None, allow_download: bool) -> WeightsSource | None:
    """The entry as a WeightsSource if it can be had now, else None."""
    if entry.file:
        path = SHIPPED_DIR / entry.file
        if not path.is_file():
            return None
        digest = file_sha256(path)
        if entry.sha256 and digest != entry.sha256:
            raise ModelkbError(
                f"shipped weights {entry.file} have SHA-256 {digest[:12]}…, but the catalog "
                f"says {entry.sha256[:12]}…: reinstall modelkb or correct the catalog")
        return WeightsSource(str(path), digest, entry.provenance, path)
    if entry.url:
        from modelkb.models.download import cache_path, recorded_sha256

        digest = entry.sha256 or recorded_sha256(entry.url, entry.member, cache_dir)
        if digest:  # already downloaded (and verified) once
            cached = cache_path(entry.url, digest, cache_dir, entry.member)
            if cached.is_file() and file_sha256(cached) == digest:
                return WeightsSource(entry.url, digest, entry.provenance, cached)
        if allow_download:
            from modelkb.models.download import fetch

            path = fetch(entry.url, entry.sha256, cache_dir, member=entry.member)
            return WeightsSource(entry.url, file_sha256(path), entry.provenance, path)
    return None


def resolve_model_weights(model: Model, overrides: dict[str, str] | None = None,
                          site_weights: str | None = None, *, base: Path | None = None,
                          cache_dir: Path | None = None,
                          allow_download: bool = False) -> ResolvedWeights:
    """The weights ``model`` runs with (see the module docstring for the order)."""
    given = (overrides or {}).get(model.id)
    if given:
        return _user(model, str(given), f"setting models.{model.id}", base)
    env = os.environ.get(env_name(model.id), "").strip()
    if env:
        return _user(model, env, f"${env_name(model.id)}", None)
    if site_weights:
        return _user(model, site_weights, "setting weights", base)
    env = os.environ.get(WEIGHTS_ENV, "").strip()
    if env:
        return _user(model, env, f"${WEIGHTS_ENV}", None)
    own = [w for w in model.weights if not w.stand_in]
    stand_ins = [w for w in model.weights if w.stand_in]
    for entry in own + stand_ins:
        source = _catalog_source(entry, cache_dir, allow_download)
        if source is not None:
            return ResolvedWeights(model.id, model.name, source, entry.name, entry.provenance,
                                   entry.licence, entry.stand_in, "catalog")
    wanted = own[0].name if own else "weights"
    raise ModelkbError(
        f"no weights available for model {model.id} ({wanted} missing): give a file or "
        f"'URL#sha256=HEX' with the setting models: {{{model.id}: ...}} or the environment "
        f"variable {env_name(model.id)}"
        + (", or set download_weights: true so the build fetches the catalog's URL"
           if any(w.url for w in own) else ""))


__all__ = ["USER_PROVENANCE", "ResolvedWeights", "env_name", "resolve_model_weights"]
