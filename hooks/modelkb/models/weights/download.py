"""Verified, bounded downloads of weights: fetched once into the user cache, checked by SHA-256.

A URL given by a user is accepted only with its SHA-256, written as a URL fragment:
``https://host/path/model.pt#sha256=<64 hex digits>``; for a zip archive add the member:
``#sha256=<hex>&member=RealBlur_J/model.pt`` (the digest is then the member's). Catalog
weights entries carry ``url``, ``member`` and ``sha256`` as fields; an entry without its
SHA-256 is downloaded once and the digest is recorded (with a loud warning saying what to
add to the catalog), so later builds verify against it.

Every hop is checked before it is requested: the URL itself, each redirect (at most
:data:`MAX_HOPS`, no loop) and the form of Google Drive's "confirm this large download" page
(followed once) must be http:// or https:// with a host. The body is bounded: a
Content-Length over the cap (:mod:`modelkb.models.weights.sizes`) is refused before reading,
the bytes are counted and the download stops at the cap, and a body shorter than its
Content-Length is an error. A zip member's declared size, encryption and compression method
are checked before it is inflated.

Each download is staged in its own temporary folder inside the cache and moved into place
only when complete and verified, under a lock file named after the real path of its target
(so threads and processes fetching the same file download it once); on any failure nothing
is left but the lock. A disk that fills up (ENOSPC, EDQUOT, or EFBIG past a file size
limit) is one error naming the file, the cache folder and the fix; the partial download is
removed and no digest is recorded. Uses httpx, redirects followed by hand under modelkb's one policy
(:mod:`modelkb.http_client`), so each hop is checked.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit

from modelkb.errors import ModelkbError
from modelkb.files import atomic_write, hash_file, lock_for
from modelkb.http_client import Redirects, Refused, client, is_redirect, location, url_problem
from modelkb.models.weights.sizes import archive_cap, check_members, megabytes, weights_cap

log = logging.getLogger(__name__)

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
CHUNK = 1 << 16
MAX_HOPS = 5
RECORDED = "recorded-sha256.json"
LOCKS = ".locks"
# Out of room: no space, over quota, or over the process's file size limit (RLIMIT_FSIZE).
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def default_cache_dir() -> Path:
    """The per-user cache folder for downloaded weights (platformdirs, app 'modelkb')."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("modelkb")) / "weights"


def is_url(text: str | os.PathLike[str]) -> bool:
    """True for text that names an http(s) URL (the only remote sources accepted)."""
    return isinstance(text, str) and text.lower().startswith(("http://", "https://"))


def check_url(url: str, context: str = "") -> str:
    """``url`` when it is an http(s) URL with a host, else a one-line ModelkbError."""
    where = f" ({context})" if context else ""
    shown = _UNSAFE.sub("?", url)[:200]
    if _UNSAFE.search(url):
        raise ModelkbError(f"weights URL {shown!r}{where} contains a space or control "
                           "character: percent-encode it (a space is %20)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port raises on a bad one
    except ValueError as exc:
        raise ModelkbError(f"weights URL {shown!r}{where} is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ModelkbError(f"weights URL {shown!r}{where}: only http:// and https:// URLs "
                           "with a host can be downloaded")
    problem = url_problem(url)  # what httpx would fail on mid-request (host name, length)
    if problem is not None:
        raise ModelkbError(f"weights URL {shown!r}{where} is not a valid URL ({problem})")
    return url


def split_url_parts(url: str) -> tuple[str, str, str | None]:
    """'URL#sha256=HEX[&member=PATH]' -> (URL, hex, member); a missing sha256 is an error."""
    base, _, fragment = url.partition("#")
    check_url(base)
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


def _body(response, url: str, out_path: Path, cap: int, progress: bool) -> None:
    """Stream a 200 response into ``out_path``, bounded by ``cap`` and its Content-Length."""
    length = (response.headers.get("Content-Length") or "").strip()
    declared = int(length) if re.fullmatch(r"[0-9]{1,20}", length) else None
    if declared is not None and declared > cap:
        raise ModelkbError(f"{url}: refused, it declares {megabytes(declared)}, more than the "
                           f"cap of {megabytes(cap)} for weights downloads")
    from tqdm import tqdm

    count = 0
    with out_path.open("wb") as out, tqdm(
        total=declared, unit="B", unit_scale=True, unit_divisor=1024,
        desc=f"downloading {Path(urlsplit(url).path).name or 'weights'}",
        disable=not progress, leave=False,
    ) as bar:
        for chunk in response.iter_bytes(CHUNK):
            count += len(chunk)
            if count > cap:
                raise ModelkbError(f"{url}: stopped after {megabytes(cap)}, the cap for "
                                   "weights downloads; the server sent more (is it the file?)")
            out.write(chunk)
            bar.update(len(chunk))
    encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
    if declared is not None and count != declared and not encoded:
        raise ModelkbError(f"{url}: the download ended after {count:,} of the {declared:,} "
                           "bytes it declared; try again (nothing was kept)")


def _page(response, limit: int = 1 << 20) -> bytes:
    """At most ``limit`` bytes of a response's body (a confirmation page)."""
    page = b""
    for chunk in response.iter_bytes(CHUNK):
        page += chunk
        if len(page) >= limit:
            break
    return page[:limit]


def _download(url: str, out_path: Path, cap: int, timeout: float, progress: bool) -> None:
    """GET ``url`` into ``out_path`` with httpx: redirects (modelkb's one policy,
    :mod:`modelkb.http_client`) and one confirmation page followed, each hop checked first."""
    import httpx

    current, confirmed = url, False
    redirects = Redirects(url, MAX_HOPS)
    headers = {"User-Agent": "modelkb", "Accept-Encoding": "identity"}
    with client(timeout=timeout, headers=headers) as session:
        while True:
            check_url(current, f"reached from {url}" if current != url else "")
            try:
                response = session.send(session.build_request("GET", current), stream=True)
            except httpx.RemoteProtocolError as exc:
                raise ModelkbError(f"cannot download {url}: the server's answer is not valid "
                                   f"HTTP ({_reason(exc)})") from None
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise ModelkbError(
                    f"cannot download {url}: {_reason(exc)}; this machine looks offline or the "
                    "host is unreachable. Download the file elsewhere, check its SHA-256, and "
                    "pass its local path instead") from None
            try:
                if is_redirect(response.status_code, location(response)):
                    current = _next_hop(redirects, current, location(response), url)
                    continue
                if response.status_code >= 400:
                    raise ModelkbError(f"cannot download {url}: HTTP {response.status_code} "
                                       f"{response.reason_phrase}")
                if response.headers.get("Content-Type", "").startswith("text/html"):
                    parser = _ConfirmPage()
                    parser.feed(_page(response).decode("utf-8", "replace"))
                    try:
                        target = parser.next_url(current)
                    except ValueError as exc:  # urljoin on a broken address
                        raise ModelkbError(f"{url}: its confirmation page links to a URL that "
                                           f"is not valid ({exc})") from None
                    if confirmed or target is None:
                        raise ModelkbError(
                            f"{url} answered with a web page, not a file (is the link shared "
                            "publicly, and is it the direct download link?)")
                    log.info("following the download confirmation of %s", urlsplit(url).netloc)
                    current, confirmed = target, True
                    continue
                _body(response, url, out_path, cap, progress)
                return
            except httpx.HTTPError as exc:
                raise ModelkbError(f"cannot download {url}: the connection broke off "
                                   f"({_reason(exc)}); try again (nothing was kept)") from None
            finally:
                response.close()


def _next_hop(redirects: Redirects, current: str, location: str | None, url: str) -> str:
    """Where a redirect leads, under the one redirect policy; a one-line error otherwise."""
    try:
        return redirects.follow(current, location or "")
    except Refused as refused:
        if refused.why == "invalid":
            raise ModelkbError(f"weights URL {url} redirects to {refused.target[:200]!r}, "
                               f"which is not a valid URL ({refused.detail})") from None
        if refused.why == "loop":
            raise ModelkbError(f"cannot download {url}: a redirect loop ({current} redirects "
                               f"back to {refused.target})") from None
        if refused.why == "too-many":
            raise ModelkbError(f"cannot download {url}: more than {MAX_HOPS} redirects"
                               ) from None
        check_url(refused.target, f"reached from {url}")  # says why it is not downloaded
        raise ModelkbError(f"cannot download {url}: it redirects to {refused.target}, "
                           "which is not an http(s) address") from None


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def _extract(archive: Path, member: str, out_path: Path, url: str) -> None:
    """Copy one member of a zip archive to ``out_path``, its declared size, encryption and
    method checked before inflating and the inflated bytes counted."""
    cap = weights_cap()
    what = f"{url} ({member})"
    try:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            if member not in names:
                close = [n for n in names if n.endswith(Path(member).name)][:3]
                raise ModelkbError(
                    f"{url}: the archive has no member {member!r}"
                    + (f" (similar: {', '.join(close)})" if close else ""))
            info = zf.getinfo(member)
            check_members([info], what, cap)
            count = 0
            with zf.open(info) as src, out_path.open("wb") as dst:
                while chunk := src.read(CHUNK):
                    count += len(chunk)
                    if count > min(cap, info.file_size):
                        raise ModelkbError(f"{what}: inflates past its declared size")
                    dst.write(chunk)
    except zipfile.BadZipFile as exc:
        raise ModelkbError(f"{what}: not a readable zip archive ({_reason(exc)})") from None
    except (zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise ModelkbError(f"{what}: damaged or unreadable member ({_reason(exc)}); "
                           "download the archive again or check the URL") from None


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


def _lock(folder: Path, key: Path):
    """A lock file for ``key`` (in the cache ``folder``) named after the real path of ``key``,
    so two spellings of one cache (a symlink, a relative path) share it."""
    return lock_for(key, folder.resolve() / LOCKS)


def fetch(url: str, sha256: str | None, cache_dir: str | Path | None = None,
          timeout: float = 60.0, progress: bool = True, member: str | None = None) -> Path:
    """Download ``url`` (or one ``member`` of the zip it is) once, verify, return the file.

    ``sha256`` None: the first download records the digest (loudly); later calls verify.
    """
    check_url(url)
    folder = Path(cache_dir or default_cache_dir())
    if sha256 is not None and not _HEX64.match(sha256):
        raise ModelkbError(
            f"a SHA-256 of 64 hex digits is required to download {url}, got {sha256!r}")
    try:
        return _fetch_locked(url, sha256, folder, timeout, progress, member)
    except OSError as exc:
        if exc.errno not in DISK_FULL_ERRNOS:
            raise
        what = f"{url}{f' ({member})' if member else ''}"
        raise ModelkbError(
            f"no space left on device while downloading {what} into {folder} "
            f"({os.strerror(exc.errno)}): nothing was kept; free space there, or keep "
            "downloaded weights on a disk with room (they go to the user cache folder, "
            "$XDG_CACHE_HOME/modelkb/weights on Linux)") from None


def _fetch_locked(url: str, sha256: str | None, folder: Path, timeout: float, progress: bool,
                  member: str | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    first = hashlib.sha256(f"{url}#{member or ''}".encode()).hexdigest()[:16]
    key = cache_path(url, sha256, folder, member) if sha256 else folder / f"first-{first}"
    with _lock(folder, key):
        expected = (sha256 or recorded_sha256(url, member, folder) or "").lower()
        if expected:
            target = cache_path(url, expected, folder, member)
            if target.is_file():
                if hash_file(target) == expected:
                    return target
                target.unlink()  # corrupted or tampered cache entry: fetch again
        staging = Path(tempfile.mkdtemp(prefix=".download-", dir=folder))
        try:
            return _fetch_into(url, expected, folder, staging, timeout, progress, member)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _fetch_into(url: str, expected: str, folder: Path, staging: Path, timeout: float,
                progress: bool, member: str | None) -> Path:
    raw = staging / "download"
    _download(url, raw, archive_cap() if member else weights_cap(), timeout, progress)
    payload = raw
    if member:
        payload = staging / "member"
        _extract(raw, member, payload, url)
    got = hash_file(payload)
    if expected and got != expected:
        raise ModelkbError(
            f"downloaded {url}{f' ({member})' if member else ''} but its SHA-256 is {got}, "
            f"not the expected {expected}; the file was discarded (wrong URL, changed file, "
            "or a tampered download)")
    target = cache_path(url, got, folder, member)
    target.parent.mkdir(parents=True, exist_ok=True)  # before the record: it may not fit
    if not expected:
        with _lock(folder, folder / RECORDED):
            recorded = _recorded(folder)
            recorded[f"{url}#{member or ''}"] = got
            atomic_write(folder / RECORDED, json.dumps(recorded, indent=2))
        log.warning("RECORDED the SHA-256 of %s%s on first download: %s. Add "
                    "'sha256: %s' to its weights entry in the catalog so every later "
                    "download is verified against it", url,
                    f" ({member})" if member else "", got, got)
    os.replace(payload, target)  # same file system: the staging folder is in the cache
    return target


def fetch_url(url_with_hash: str, cache_dir: str | Path | None = None) -> Path:
    """Fetch a 'URL#sha256=HEX[&member=PATH]' weights source (see :func:`split_url_parts`)."""
    url, sha256, member = split_url_parts(url_with_hash)
    return fetch(url, sha256, cache_dir, member=member)
