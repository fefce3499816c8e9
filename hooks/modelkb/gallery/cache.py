"""Content-addressed result cache: one folder per key, written atomically, shared safely.

Layout of a cache folder (kept outside docs/)::

    <cache>/<key>/...            a complete entry (immutable once in place)
    <cache>/<key>/manifest.json  the entry's files, sizes and SHA-256 digests, written last
    <cache>/.tmp-<key16>-<pid>-<n> an entry being written (ignored; cleaned when orphaned)
    <cache>/.locks/<key16>       lock (filelock) held while that entry is written
    <cache>/.lock                lock held while the cache is pruned

An entry is written into a temporary folder inside the cache folder, every file fsynced, then
moved into place with ``os.rename`` (atomic on one file system), so a reader sees either no
entry or a complete one; a process killed mid-write leaves only a ``.tmp-`` folder, which
lookups ignore and the next writer of that key (or a prune) removes. Writers lock the key
they write, not the cache: two builds sharing a cache never compute the same entry twice
(the second waits, then finds it there), while different entries are written in parallel,
by threads of one build or by several processes.

Every read verifies the entry against its manifest (each file's size and SHA-256, and no
file more or less), then with the cache's ``check`` (its records against their schema): an
entry changed on disk (a flipped byte, an edited ``metrics.json``), whose manifest is
unreadable, or whose record is not one the code writes, is reported with a warning and
computed again. Reading never writes, so an unchanged build works on a read-only cache.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import filelock

from modelkb.errors import ModelkbError
from modelkb.files import file_lock, hash_bytes, hash_file, hash_file_cached  # noqa: F401

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
TMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"
LOCK_NAME = ".lock"
KEY_LOCKS = ".locks"
OLD_MANIFEST = "was written by an older modelkb (no SHA-256 digests)"
_counter = itertools.count()
# Out of room: no space, over quota, or over the process's file size limit (RLIMIT_FSIZE).
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class CacheFullError(ModelkbError):
    """The cache's file system ran out of room while an entry was written (nothing was kept)."""


def disk_full_error(root: Path, exc: OSError) -> CacheFullError:
    """The message for a write that failed for lack of room under the cache folder ``root``."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return CacheFullError(
        f"no space left on device while writing the gallery cache at {root} ({reason}); "
        "nothing half-written was kept: free space there or set the cache setting "
        "(extra.modelkb.cache in mkdocs.yml) to a folder on a disk with room")


def canonical_json(value: object) -> str:
    """JSON with sorted keys and no spaces: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def make_key(**parts: object) -> str:
    """A cache key: SHA-256 of the canonical JSON of the named parts."""
    return hash_bytes(canonical_json(parts).encode("ascii"))


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems refuse to open folders
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_tree(root: Path) -> None:
    for folder, _dirs, names in os.walk(root):
        for name in names:
            with (Path(folder) / name).open("rb+") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(Path(folder))


def _short(key: str) -> str:
    """The first 16 hex digits of a key: names its lock and temporary folders."""
    return key[:16]


class Cache:
    """A folder of immutable entries addressed by key (a hex digest)."""

    def __init__(self, root: str | Path, check: Callable[[Path], str | None] | None = None):
        self.root = Path(root)
        self.check = check  # what else is wrong with a verified entry folder (its records)

    def path(self, key: str) -> Path:
        """Where the entry for ``key`` lives (whether or not it exists)."""
        if not key or "/" in key or key.startswith("."):
            raise ValueError(f"invalid cache key {key!r}")
        return self.root / key

    def get(self, key: str, *, warn: bool = True) -> Path | None:
        """The complete, verified entry folder for ``key``, or None (missing, incomplete or
        changed since it was written: then a warning names it, unless ``warn`` is False)."""
        folder = self.path(key)
        if not folder.is_dir():
            return None
        problem = self.verify(folder)
        if problem is None:
            return folder
        if warn:  # an entry of an older modelkb is expected, not a fault
            report = log.info if problem == OLD_MANIFEST else log.warning
            report("gallery cache: entry %s/%s %s; computing it again",
                   self.root.name, _short(key), problem)
        return None

    def verify(self, folder: Path) -> str | None:
        """What is wrong with the entry in ``folder`` (None when its files match its manifest)."""
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return "is incomplete (no manifest)"
        except (OSError, ValueError) as exc:
            return f"has an unreadable manifest ({type(exc).__name__})"
        files = manifest.get("files") if isinstance(manifest, dict) else None
        if isinstance(files, dict) and files and all(isinstance(v, int) for v in files.values()):
            return OLD_MANIFEST
        if not isinstance(files, dict) or not all(
                isinstance(v, dict) and isinstance(v.get("size"), int)
                and isinstance(v.get("sha256"), str) for v in files.values()):
            return "has a damaged manifest"
        try:
            present = {str(p.relative_to(folder)) for p in folder.rglob("*")
                       if not p.is_dir() and p.name != MANIFEST}
        except OSError as exc:
            return f"cannot be listed ({exc.strerror or exc})"
        if present != set(files):
            odd = sorted(present ^ set(files))
            return f"does not hold the files its manifest lists ({', '.join(odd[:3])})"
        for name, expected in files.items():
            path = folder / name
            try:
                if path.is_symlink() or not path.is_file() \
                        or path.stat().st_size != expected["size"]:
                    return f"has a changed file {name} (size)"
                if hash_file_cached(path) != expected["sha256"]:
                    return f"has a changed file {name} (SHA-256 mismatch)"
            except OSError as exc:
                return f"has an unreadable file {name} ({exc.strerror or exc})"
        return self.check(folder) if self.check is not None else None

    def keys(self) -> list[str]:
        """Keys of the entries present (temporary folders excluded)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and not p.name.startswith("."))

    @contextlib.contextmanager
    def lock(self, key: str | None = None, *, wait: bool = True) -> Iterator[bool]:
        """Hold the exclusive lock of one entry (``key``) or of the whole cache (prune).

        Blocks while another thread or process holds it; with ``wait=False`` yields False
        at once instead (and holds nothing).
        """
        if key is None:
            file = self.root / LOCK_NAME
        else:
            file = self.root / KEY_LOCKS / _short(self.path(key).name)
        lock = file_lock(file, timeout=-1 if wait else 0)
        try:
            lock.acquire()
        except filelock.Timeout:
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    def clean_temporary(self, key: str | None = None) -> int:
        """Remove leftovers of interrupted writes (of ``key`` only, whose lock the caller
        holds; or of every key nobody is writing now). Returns the count."""
        if not self.root.is_dir():
            return 0
        removed = 0
        prefixes = (f"{TMP_PREFIX}{_short(key)}-", f"{TRASH_PREFIX}{_short(key)}-") if key \
            else (TMP_PREFIX, TRASH_PREFIX)
        for path in self.root.iterdir():
            if not path.name.startswith(prefixes):
                continue
            if key is None:  # skip folders a live writer holds the key lock for
                short = path.name.split("-")[1]
                with self.lock(short, wait=False) as free:
                    if not free:
                        continue
                    shutil.rmtree(path, ignore_errors=True)
            else:
                shutil.rmtree(path, ignore_errors=True)
            removed += 1
        if removed:
            log.debug("cache %s: removed %d leftover temporary folder(s)", self.root, removed)
        return removed

    def put(self, key: str, write: Callable[[Path], None]) -> Path:
        """Create the entry for ``key`` by calling ``write(folder)``; returns the entry folder.

        ``write`` fills an empty temporary folder; if it raises, nothing enters the cache. If
        another process created the entry meanwhile, that entry is kept and returned. A disk
        that fills up (ENOSPC, EDQUOT, EFBIG) raises :class:`CacheFullError`.
        """
        final = self.path(key)
        with self.lock(key):
            existing = self.get(key, warn=False)
            if existing is not None:
                return existing
            self.clean_temporary(key)
            tmp = self.root / f"{TMP_PREFIX}{_short(key)}-{os.getpid()}-{next(_counter)}"
            try:
                tmp.mkdir()
                write(tmp)
                files = {
                    str(p.relative_to(tmp)): {"size": p.stat().st_size,
                                              "sha256": hash_file_cached(p)}
                    for p in sorted(tmp.rglob("*")) if p.is_file()
                }
                (tmp / MANIFEST).write_text(canonical_json({"key": key, "files": files}),
                                            encoding="utf-8")
                _fsync_tree(tmp)
                if final.exists():  # an incomplete entry (e.g. copied by hand): replace it
                    trash = self.root / f"{TRASH_PREFIX}{_short(key)}-{os.getpid()}"
                    os.rename(final, trash)
                    shutil.rmtree(trash, ignore_errors=True)
                os.rename(tmp, final)
                _fsync_dir(self.root)
            except OSError as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                if exc.errno in DISK_FULL_ERRNOS:
                    raise disk_full_error(self.root, exc) from None
                raise
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return final

    def prune(self, keep_keys: Iterable[str]) -> list[str]:
        """Delete every entry whose key is not in ``keep_keys``; returns the deleted keys."""
        keep = set(keep_keys)
        deleted: list[str] = []
        if not self.root.is_dir():
            return deleted
        with self.lock():
            self.clean_temporary()
            for key in self.keys():
                if key in keep:
                    continue
                trash = self.root / f"{TRASH_PREFIX}{_short(key)}-{os.getpid()}"
                os.rename(self.root / key, trash)
                shutil.rmtree(trash, ignore_errors=True)
                deleted.append(key)
        return deleted
