"""Which weights to use and where they come from, decided without importing torch.

One order everywhere (`modelkb restore`, `modelkb gallery`, the site build): an explicit
path or URL (``--weights`` or ``extra.modelkb.weights``), then ``$MODELKB_WEIGHTS``, then the
weights shipped with modelkb. A URL must pin its content as ``URL#sha256=HEX``; it is fetched
only when a model actually has to run, so a fully cached build never downloads anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from modelkb.errors import ModelkbError

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "weights"
SHIPPED_WEIGHTS = SHIPPED_DIR / "mssnet-small-modelkb.safetensors"
SHIPPED_PROVENANCE = "trained by this project on synthetic camera shake"
USER_PROVENANCE = "user-supplied"
WEIGHTS_ENV = "MODELKB_WEIGHTS"

_hashes: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class WeightsSource:
    """Chosen weights: the path or URL as given, their sha256, provenance and local file.

    ``path`` is None for a URL not downloaded yet; :meth:`local_path` fetches it.
    """

    source: str
    sha256: str
    provenance: str
    path: Path | None

    def local_path(self) -> Path:
        """The weights file on disk, downloading (and verifying) a URL the first time."""
        if self.path is not None:
            return self.path
        from modelkb.models.download import fetch_url

        return fetch_url(self.source)

    def __fspath__(self) -> str:
        return str(self.local_path())


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered per (path, size, mtime) for the life of the process."""
    from modelkb.files import hash_file

    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hashes:
        _hashes[key] = hash_file(path)
    return _hashes[key]


def _from(given: str | os.PathLike[str], origin: str) -> WeightsSource:
    from modelkb.models.download import is_url, split_url

    if isinstance(given, WeightsSource):
        return given
    if isinstance(given, str) and is_url(given):
        base, digest = split_url(given)
        return WeightsSource(given, digest, f"{USER_PROVENANCE} ({base})", None)
    path = Path(given).expanduser()
    if not path.is_file():
        raise ModelkbError(f"weights file {path} ({origin}) does not exist; check the path")
    return WeightsSource(str(path), file_sha256(path), USER_PROVENANCE, path)


def choose_weights(given: str | os.PathLike[str] | None = None,
                   origin: str = "--weights") -> WeightsSource:
    """Pick the weights: ``given``, else $MODELKB_WEIGHTS, else the shipped file."""
    if given is not None and str(given) != "":
        return _from(given, origin)
    env = os.environ.get(WEIGHTS_ENV, "").strip()
    if env:
        return _from(env, f"${WEIGHTS_ENV}")
    if SHIPPED_WEIGHTS.is_file():
        return WeightsSource(str(SHIPPED_WEIGHTS), file_sha256(SHIPPED_WEIGHTS),
                             SHIPPED_PROVENANCE, SHIPPED_WEIGHTS)
    raise ModelkbError(
        "no MSSNet weights given: pass --weights FILE (or set extra.modelkb.weights in "
        "mkdocs.yml) with an MSSNet checkpoint -- the released model_*.pt, a state_dict .pt, "
        f"a .safetensors file, or a URL ending in #sha256=HEX -- or set ${WEIGHTS_ENV}; the "
        f"shipped default {SHIPPED_WEIGHTS.name} is missing from this install")
