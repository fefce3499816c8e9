"""File helpers used everywhere: atomic writes, content hashes, inter-process locks.

Every file modelkb writes that someone may read while it is written (catalogs, snapshots,
pages, cards, weights, checkpoints) goes through :func:`atomic_write` or :func:`atomic_path`:
the data lands in a temporary file beside the target, is flushed to disk, and replaces the
target with ``os.replace``, so a reader (or a crash) sees the old file or the new one, never
half of one. A new file gets the mode ``open()`` would give it (0o666 less the process
umask, applied by the operating system when the temporary file is created; importing this
module changes nothing); a replaced file keeps its mode. Locks are :mod:`filelock` locks
(``fcntl``/``msvcrt`` underneath).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import filelock

NEW_FILE_MODE = 0o666  # before the umask, as open() and every other writer use


def hash_bytes(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def hash_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_file_cached(path: str | Path) -> str:
    """:func:`hash_file`, remembered per (path, inode, size, mtime) for the life of the
    process (at most 65,536 files), so unchanged files are hashed once, e.g. across
    ``mkdocs serve`` rebuilds."""
    stat = Path(path).stat()
    return _hash_by_identity(str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=65_536)
def _hash_by_identity(path: str, inode: int, size: int, mtime_ns: int) -> str:
    return hash_file(path)


def _create_beside(target: Path, mode: int) -> Path:
    """A new empty file beside ``target`` with a unique name, created with ``mode`` (the
    operating system takes the umask off it)."""
    while True:
        tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp


@contextlib.contextmanager
def atomic_path(path: str | Path, *, keep_mode: bool = True,
                mode: int = NEW_FILE_MODE) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    Write the file at the yielded path (``torch.save``, ``save_file``, ``Image.save``...).
    If the block raises, the temporary file is removed and ``path`` is untouched. A symlink
    at ``path`` is written through: its target is replaced, the link stays. The file gets
    ``mode`` less the umask, or with ``keep_mode`` the mode of the file it replaces.
    """
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_beside(target, mode)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if keep_mode and target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | Path, data: bytes | str, *, keep_mode: bool = True,
                 mode: int = NEW_FILE_MODE) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` atomically; returns ``path``."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path, keep_mode=keep_mode, mode=mode) as tmp:
        tmp.write_bytes(payload)
    return Path(path)


def write_if_changed(path: str | Path, data: bytes | str) -> bool:
    """Write ``data`` atomically unless the file already holds exactly it; True if written.

    An unchanged file keeps its modification time, so ``mkdocs serve --dirty`` skips it.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        if Path(path).read_bytes() == payload:
            return False
    except OSError:
        pass
    atomic_write(path, payload)
    return True


def escapes(root: str | Path, path: str | Path) -> str | None:
    """Why ``path``, which lies inside the folder ``root`` as written, leaves it with every
    symbolic link followed (None when it stays inside).

    Files of a project (the catalog, gallery photos, weights, the cache) come with pull
    requests, and git carries symbolic links: a link that leads out of the project would
    have a build read, publish or write whatever it points to.
    """
    try:
        real_root, real = Path(root).resolve(), Path(path).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        return f"cannot be read ({exc})"
    if real.is_relative_to(real_root):
        return None
    return ("leads out of the project folder through a symbolic link; modelkb reads and "
            "writes a project's files only inside it (replace the link with the file or "
            "folder itself, or give a place outside as an absolute path in the site's "
            "settings)")


def file_lock(path: str | Path, timeout: float = -1) -> filelock.BaseFileLock:
    """An inter-process lock on ``path`` (created if needed); ``timeout=0`` never waits."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(str(path), timeout=timeout)


def lock_for(path: str | Path, folder: str | Path, prefix: str = "") -> filelock.BaseFileLock:
    """A lock for the file ``path``, kept in ``folder`` and named after its real path (every
    symlink resolved, the file's and any folder's on the way), so every spelling of one
    file shares it."""
    real = os.path.realpath(path).encode("utf-8", "surrogateescape")
    return file_lock(Path(folder) / f"{prefix}{hash_bytes(real)[:24]}.lock")
