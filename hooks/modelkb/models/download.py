"""Verified downloads of weights: fetched once into the user cache, checked by SHA-256.

A URL is accepted as a weights source only with its SHA-256, written as a URL fragment:
``https://host/path/model.pt#sha256=<64 hex digits>`` (see :func:`split_url`). The file is
streamed to a temporary file beside its final place, hashed while it streams, and moved
into place with ``os.replace`` only when the hash matches; on any failure nothing is left.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit

from modelkb.errors import ModelkbError
from modelkb.files import atomic_path, hash_file

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
CHUNK = 1 << 16


def default_cache_dir() -> Path:
    """The per-user cache folder for downloaded weights (platformdirs, app 'modelkb')."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("modelkb")) / "weights"


def is_url(text: str | os.PathLike[str]) -> bool:
    """True for http(s) URLs (the only remote sources accepted)."""
    return isinstance(text, str) and text.lower().startswith(("http://", "https://"))


def split_url(url: str) -> tuple[str, str]:
    """Split 'URL#sha256=HEX' into (URL, hex); a URL without a valid sha256 is an error."""
    base, _, fragment = url.partition("#")
    match = re.fullmatch(r"sha256=([0-9a-fA-F]+)", fragment.strip())
    if not match or not _HEX64.match(match.group(1)):
        raise ModelkbError(
            f"weights URL {base} has no SHA-256: append '#sha256=<64 hex digits>' "
            "(the digest of the file you trust, e.g. from `sha256sum`)"
        )
    return base, match.group(1).lower()


def cache_path(url: str, sha256: str, cache_dir: str | Path | None = None) -> Path:
    """Where a verified download of `url` lives: CACHE/<sha256[:16]>/<file name>."""
    name = Path(unquote(urlsplit(url).path)).name or "weights"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return Path(cache_dir or default_cache_dir()) / sha256[:16] / name


def fetch(
    url: str,
    sha256: str,
    cache_dir: str | Path | None = None,
    timeout: float = 30.0,
    progress: bool = True,
) -> Path:
    """Download `url` once into the cache, verify its SHA-256, return the cached path."""
    if not _HEX64.match(sha256 or ""):
        raise ModelkbError(
            f"a SHA-256 of 64 hex digits is required to download {url}, got {sha256!r}"
        )
    sha256 = sha256.lower()
    if not is_url(url):
        raise ModelkbError(f"{url}: only http:// and https:// URLs can be downloaded")
    target = cache_path(url, sha256, cache_dir)
    if target.is_file():
        if hash_file(target) == sha256:
            return target
        target.unlink()  # corrupted or tampered cache entry: fetch again
    digest = hashlib.sha256()
    try:
        with atomic_path(target) as tmp:
            request = urllib.request.Request(url, headers={"User-Agent": "modelkb"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                total = int(response.headers.get("Content-Length") or 0) or None
                from tqdm import tqdm

                with tmp.open("wb") as out, tqdm(
                    total=total, unit="B", unit_scale=True, unit_divisor=1024,
                    desc=f"downloading {target.name}", disable=not progress, leave=False,
                ) as bar:
                    while chunk := response.read(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
            got = digest.hexdigest()
            if got != sha256:  # raised inside: the temporary file is removed, nothing kept
                raise ModelkbError(
                    f"downloaded {url} but its SHA-256 is {got}, not the expected {sha256}; "
                    "the file was discarded (wrong URL, changed file, or a tampered download)"
                )
    except urllib.error.HTTPError as exc:
        raise ModelkbError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelkbError(
            f"cannot download {url}: {reason}; this machine looks offline or the host is "
            f"unreachable. Download the file elsewhere, check its SHA-256, and pass its "
            f"local path instead"
        ) from None
    return target


def fetch_url(url_with_hash: str, cache_dir: str | Path | None = None) -> Path:
    """Fetch a 'URL#sha256=HEX' weights source (see :func:`split_url`)."""
    url, sha256 = split_url(url_with_hash)
    return fetch(url, sha256, cache_dir)
