"""Choosing a weights file (the order is the package docstring's), without importing torch.

:func:`resolve_model_weights` picks the weights of a catalog model, :func:`choose_weights`
those of ``modelkb restore`` (no model: the given file or URL, ``$MODELKB_WEIGHTS``, then the
registry's default weights). Both return a :class:`WeightsFile`. A URL given by the user is
downloaded only by :meth:`WeightsFile.local_path`, when a network actually has to run, so a
fully cached build never downloads anything.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from modelkb.errors import ModelkbError
from modelkb.pixels import registry

if TYPE_CHECKING:
    from modelkb.catalog import Model, WeightsEntry

SHIPPED_DIR = registry.WEIGHTS_DIR  # weights files shipped with modelkb
SHIPPED_PROVENANCE = "trained by this project on synthetic camera shake"
USER_PROVENANCE = "user-supplied"
WEIGHTS_ENV = "MODELKB_WEIGHTS"


@dataclass(frozen=True)
class WeightsFile:
    """A chosen weights file: where it is, its digest, and what captions say about it.

    ``path`` is None only for a user's URL not downloaded yet: :meth:`local_path` fetches it.
    """

    source: str  # the path or URL as given (the key of a loaded network)
    sha256: str
    provenance: str
    path: Path | None
    origin: str  # where the choice came from, for messages: "--weights", "catalog", ...
    name: str = "user-supplied weights"
    licence: str | None = None
    stand_in: bool = False
    model_id: str = ""  # the catalog model it was chosen for ("" for modelkb restore)
    model_name: str = ""

    def label(self) -> str:
        """One line for captions: whose weights, which file (first 12 hex digits)."""
        text = f"{self.name} ({self.provenance}; sha256 {self.sha256[:12]})"
        if self.stand_in:
            return f"stand-in weights for {self.model_name}: {text}"
        return text

    def local_path(self) -> Path:
        """The file on disk; a URL is downloaded (and verified) the first time."""
        if self.path is not None:
            return self.path
        from modelkb.models.weights.download import fetch_url

        return fetch_url(self.source)

    def fetched(self) -> WeightsFile:
        """This choice with its file on disk (a URL downloaded and verified)."""
        return self if self.path is not None else replace(self, path=self.local_path())


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered per (path, inode, size, mtime) for the process."""
    from modelkb.files import hash_file_cached

    return hash_file_cached(path)


def default_weights(variant: str | None = None) -> tuple[str, Path] | None:
    """(variant, file) of the registry's default weights for ``variant`` (any variant's
    first when None), or None when there are none."""
    for arch in registry.architectures().values():
        for name, rel in arch.default_weights.items():
            if variant is None or name == variant:
                return name, registry.shipped_weights(str(registry.PACKAGE_DIR / rel))
    return None


def env_name(model_id: str) -> str:
    """The environment variable that gives a model's weights: MODELKB_WEIGHTS_<ID>."""
    return f"{WEIGHTS_ENV}_" + re.sub(r"[^A-Z0-9]", "_", model_id.upper())


def _given(given: str, origin: str, base: Path | None = None) -> WeightsFile:
    """A file or 'URL#sha256=HEX' named by the user (a setting, a variable, --weights)."""
    from modelkb.models.weights.download import is_url, split_url

    if is_url(given):
        url, digest = split_url(given)
        return WeightsFile(given, digest, f"{USER_PROVENANCE} ({url})", None, origin)
    path = Path(given).expanduser()
    if base is not None and not path.is_absolute():
        from modelkb.files import escapes

        problem = escapes(base, base / path)
        if problem:
            raise ModelkbError(f"weights file {given} ({origin}): {problem}")
        path = base / path
    if not path.is_file():
        raise ModelkbError(f"weights file {path} ({origin}) does not exist; check the path")
    return WeightsFile(str(path), file_sha256(path), USER_PROVENANCE, path, origin)


def choose_weights(given: str | os.PathLike[str] | None = None, origin: str = "--weights",
                   variant: str | None = None) -> WeightsFile:
    """The weights of ``modelkb restore``: ``given``, else $MODELKB_WEIGHTS, else the
    registry's default weights (of ``variant`` when given)."""
    if given is not None and str(given) != "":
        return _given(os.fspath(given), origin)
    env = os.environ.get(WEIGHTS_ENV, "").strip()
    if env:
        return _given(env, f"${WEIGHTS_ENV}")
    found = default_weights(variant)
    if found is not None and found[1].is_file():
        return WeightsFile(str(found[1]), file_sha256(found[1]), SHIPPED_PROVENANCE, found[1],
                           "default weights", f"modelkb {found[0]}")
    raise ModelkbError(
        "no MSSNet weights given: pass --weights FILE (or set extra.modelkb.weights in "
        "mkdocs.yml) with an MSSNet checkpoint -- the released model_*.pt, a state_dict .pt, "
        f"a .safetensors file, or a URL ending in #sha256=HEX -- or set ${WEIGHTS_ENV}; the "
        "default weights shipped with modelkb are missing from this install")


def _entry_file(entry: WeightsEntry, model: Model, cache_dir: Path | None,
                allow_download: bool) -> WeightsFile | None:
    """A catalog weights entry as a file if it can be had now (shipped, cached, or
    downloaded when allowed), else None."""
    found = dict(name=entry.name, licence=entry.licence, stand_in=entry.stand_in,
                 model_id=model.id, model_name=model.name)
    if entry.file:
        path = registry.shipped_weights(entry.file)
        if not path.is_file():
            return None
        digest = file_sha256(path)
        if entry.sha256 and digest != entry.sha256:
            raise ModelkbError(
                f"shipped weights {entry.file} have SHA-256 {digest[:12]}…, but the catalog "
                f"says {entry.sha256[:12]}…: reinstall modelkb or correct the catalog")
        return WeightsFile(str(path), digest, entry.provenance, path, "catalog", **found)
    if entry.url:
        from modelkb.models.weights.download import cache_path, fetch, recorded_sha256

        digest = entry.sha256 or recorded_sha256(entry.url, entry.member, cache_dir)
        if digest:  # already downloaded (and verified) once
            cached = cache_path(entry.url, digest, cache_dir, entry.member)
            if cached.is_file() and file_sha256(cached) == digest:
                return WeightsFile(entry.url, digest, entry.provenance, cached, "catalog",
                                   **found)
        if allow_download:
            path = fetch(entry.url, entry.sha256, cache_dir, member=entry.member)
            return WeightsFile(entry.url, file_sha256(path), entry.provenance, path, "catalog",
                               **found)
    return None


def resolve_model_weights(model: Model, overrides: dict[str, str] | None = None,
                          site_weights: str | None = None, *, base: Path | None = None,
                          cache_dir: Path | None = None,
                          allow_download: bool = False) -> WeightsFile:
    """The weights ``model`` runs with, in the package docstring's order."""
    user = [((overrides or {}).get(model.id), f"setting models.{model.id}", base),
            (os.environ.get(env_name(model.id), "").strip(), f"${env_name(model.id)}", None),
            (site_weights, "setting weights", base),
            (os.environ.get(WEIGHTS_ENV, "").strip(), f"${WEIGHTS_ENV}", None)]
    for given, origin, folder in user:
        if given:
            chosen = _given(str(given), origin, None if "://" in str(given) else folder)
            return replace(chosen, model_id=model.id, model_name=model.name)
    own = [w for w in model.weights if not w.stand_in]
    stand_ins = [w for w in model.weights if w.stand_in]
    for entry in own + stand_ins:
        found = _entry_file(entry, model, cache_dir, allow_download)
        if found is not None:
            return found
    wanted = own[0].name if own else "weights"
    raise ModelkbError(
        f"no weights available for model {model.id} ({wanted} missing): give a file or "
        f"'URL#sha256=HEX' with the setting models: {{{model.id}: ...}} or the environment "
        f"variable {env_name(model.id)}"
        + (", or set download_weights: true so the build fetches the catalog's URL"
           if any(w.url for w in own) else ""))
