"""Verified downloads of weights: fetched once into the user cache, checked by SHA-256.

A URL given by a user is accepted only with its SHA-256, written as a URL fragment:
``https://host/path/model.pt#sha256=<64 hex digits>``; for a zip archive add the member:
``#sha256=<hex>&member=RealBlur_J/model.pt`` (the digest is then the member's). Catalog
weights entries carry ``url``, ``member`` and ``sha256`` as fields; an entry without its
SHA-256 is downloaded once and the digest is recorded (with a loud warning saying what to
add to the catalog), so later builds verify against it.

Large files on Google Drive answer the first request with an HTML page asking to confirm
the download; the form (or link) on that page is followed once. The file is streamed to a
temporary file beside its final place and moved there only when complete and verified; on
any failure nothing is left.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import urllib.error
import urllib.request
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit

from modelkb.errors import ModelkbError
from modelkb.files import atomic_path, atomic_write, hash_file

log = logging.getLogger(__name__)

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
CHUNK = 1 << 16
RECORDED = "recorded-sha256.json"


def default_cache_dir() -> Path:
    """The per-user cache folder for downloaded weights (platformdirs, app 'modelkb')."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("modelkb")) / "weights"


def is_url(text: str | os.PathLike[str]) -> bool:
    """True for http(s) URLs (the only remote sources accepted)."""
    return isinstance(text, str) and text.lower().startswith(("http://", "https://"))


def split_url_parts(url: str) -> tuple[str, str, str | None]:
    """'URL#sha256=HEX[&member=PATH]' -> (URL, hex, member); a missing sha256 is an error."""
    base, _, fragment = url.partition("#")
    parts = dict(parse_qsl(fragment.strip(), keep_blank_values=True))
    digest = parts.get("sha256", "")
    if not _HEX64.match(digest):
        raise ModelkbError(
            f"weights URL {base} has no SHA-256: append '#sha256=<64 hex digits>' "
            "(the digest of the file you trust, e.g. from `sha256sum`)"
        )
    return base, digest.lower(), parts.get("member") or None


def split_url(url: str) -> tuple[str, str]:
    """Split 'URL#sha256=HEX' into (URL, hex); a URL without a valid sha256 is an error."""
    base, digest, _member = split_url_parts(url)
    return base, digest


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text) or "weights"


def cache_path(url: str, sha256: str, cache_dir: str | Path | None = None,
               member: str | None = None) -> Path:
    """Where a verified download of `url` lives: CACHE/<sha256[:16]>/<file name>."""
    name = Path(member).name if member else Path(unquote(urlsplit(url).path)).name
    return Path(cache_dir or default_cache_dir()) / sha256[:16] / _safe_name(name)


class _ConfirmPage(HTMLParser):
    """The download form or link on a 'confirm this large download' page."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.link: str | None = None
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action, self._in_form = a.get("action", ""), True
        elif tag == "input" and self._in_form and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "a" and self.link is None and "confirm=" in a.get("href", ""):
            self.link = a["href"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False

    def next_url(self, page_url: str) -> str | None:
        """The URL that confirms the download, or None when the page has none."""
        if self.action:
            query = urlencode(self.fields)
            return urljoin(page_url, self.action) + (f"?{query}" if query else "")
        return urljoin(page_url, self.link) if self.link else None


def _stream(url: str, out_path: Path, timeout: float, progress: bool,
            allow_confirm: bool = True) -> None:
    """GET ``url`` into ``out_path``, following one download-confirmation page."""
    request = urllib.request.Request(url, headers={"User-Agent": "modelkb"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        kind = response.headers.get("Content-Type", "")
        if kind.startswith("text/html"):
            page = response.read(1 << 20).decode("utf-8", "replace")
            parser = _ConfirmPage()
            parser.feed(page)
            target = parser.next_url(response.geturl())
            if not allow_confirm or target is None:
                raise ModelkbError(
                    f"{url} answered with a web page, not a file (is the link shared "
                    "publicly, and is it the direct download link?)")
            log.info("following the download confirmation of %s", urlsplit(url).netloc)
            _stream(target, out_path, timeout, progress, allow_confirm=False)
            return
        total = int(response.headers.get("Content-Length") or 0) or None
        from tqdm import tqdm

        with out_path.open("wb") as out, tqdm(
            total=total, unit="B", unit_scale=True, unit_divisor=1024,
            desc=f"downloading {Path(urlsplit(url).path).name or 'weights'}",
            disable=not progress, leave=False,
        ) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))


def _extract(archive: Path, member: str, out_path: Path, url: str) -> None:
    """Copy one member of a zip archive to ``out_path`` (a clear error when absent)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            if member not in names:
                close = [n for n in names if n.endswith(Path(member).name)][:3]
                raise ModelkbError(
                    f"{url}: the archive has no member {member!r}"
                    + (f" (similar: {', '.join(close)})" if close else ""))
            with zf.open(member) as src, out_path.open("wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
    except zipfile.BadZipFile:
        raise ModelkbError(f"{url}: not a zip archive, but a member ({member}) was "
                           "asked for") from None


def _recorded(cache_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((cache_dir / RECORDED).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def recorded_sha256(url: str, member: str | None, cache_dir: str | Path | None = None
                    ) -> str | None:
    """The SHA-256 recorded by an earlier first download of (url, member), if any."""
    return _recorded(Path(cache_dir or default_cache_dir())).get(f"{url}#{member or ''}")


def fetch(url: str, sha256: str | None, cache_dir: str | Path | None = None,
          timeout: float = 60.0, progress: bool = True, member: str | None = None) -> Path:
    """Download ``url`` (or one ``member`` of the zip it is) once, verify, return the file.

    ``sha256`` None: the first download records the digest (loudly); later calls verify.
    """
    if not is_url(url):
        raise ModelkbError(f"{url}: only http:// and https:// URLs can be downloaded")
    folder = Path(cache_dir or default_cache_dir())
    if sha256 is None:
        sha256 = recorded_sha256(url, member, folder)
    elif not _HEX64.match(sha256):
        raise ModelkbError(
            f"a SHA-256 of 64 hex digits is required to download {url}, got {sha256!r}")
    if sha256:
        sha256 = sha256.lower()
        target = cache_path(url, sha256, folder, member)
        if target.is_file():
            if hash_file(target) == sha256:
                return target
            target.unlink()  # corrupted or tampered cache entry: fetch again
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".download-{os.getpid()}"
    staging.mkdir(exist_ok=True)
    try:
        raw = staging / "download"
        try:
            _stream(url, raw, timeout, progress)
        except urllib.error.HTTPError as exc:
            raise ModelkbError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ModelkbError(
                f"cannot download {url}: {reason}; this machine looks offline or the host is "
                "unreachable. Download the file elsewhere, check its SHA-256, and pass its "
                "local path instead") from None
        payload = raw
        if member:
            payload = staging / "member"
            _extract(raw, member, payload, url)
        got = hash_file(payload)
        if sha256 and got != sha256:
            raise ModelkbError(
                f"downloaded {url}{f' ({member})' if member else ''} but its SHA-256 is {got}, "
                f"not the expected {sha256}; the file was discarded (wrong URL, changed file, "
                "or a tampered download)")
        if not sha256:
            sha256 = got
            recorded = _recorded(folder)
            recorded[f"{url}#{member or ''}"] = got
            atomic_write(folder / RECORDED, json.dumps(recorded, indent=2))
            log.warning("RECORDED the SHA-256 of %s%s on first download: %s. Add "
                        "'sha256: %s' to its weights entry in the catalog so every later "
                        "download is verified against it", url,
                        f" ({member})" if member else "", got, got)
        target = cache_path(url, sha256, folder, member)
        with atomic_path(target) as tmp:
            shutil.copyfile(payload, tmp)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def fetch_url(url_with_hash: str, cache_dir: str | Path | None = None) -> Path:
    """Fetch a 'URL#sha256=HEX[&member=PATH]' weights source (see :func:`split_url_parts`)."""
    url, sha256, member = split_url_parts(url_with_hash)
    return fetch(url, sha256, cache_dir, member=member)


__all__ = ["cache_path", "default_cache_dir", "fetch", "fetch_url", "is_url",
           "recorded_sha256", "split_url", "split_url_parts"]
