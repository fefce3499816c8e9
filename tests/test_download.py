"""Verified downloads against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from modelkb.errors import ModelkbError
from modelkb.models.weights import fetch, fetch_url, split_url

PAYLOAD = b"fake weights " * 5000


def _files(folder: Path) -> list[Path]:
    """The files left in a download cache, its lock files aside."""
    return [p for p in folder.rglob("*") if p.is_file() and ".locks" not in p.parts]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    root = tmp_path / "www"
    root.mkdir()
    (root / "model.pt").write_bytes(PAYLOAD)
    hits: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(Handler, directory=str(root))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_good_hash_downloads_once(server: tuple[str, list[str]], tmp_path: Path) -> None:
    base, hits = server
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    cache = tmp_path / "cache"
    first = fetch(f"{base}/model.pt", digest, cache, progress=False)
    assert first.read_bytes() == PAYLOAD
    assert hits == ["/model.pt"]
    second = fetch(f"{base}/model.pt", digest.upper(), cache, progress=False)
    assert second == first and hits == ["/model.pt"]  # served from the cache
    third = fetch_url(f"{base}/model.pt#sha256={digest}", cache)
    assert third == first and len(hits) == 1
    assert _files(cache) == [first]


def test_wrong_hash_leaves_nothing(server: tuple[str, list[str]], tmp_path: Path) -> None:
    base, hits = server
    cache = tmp_path / "cache"
    with pytest.raises(ModelkbError, match="SHA-256 is .* not the expected"):
        fetch(f"{base}/model.pt", "0" * 64, cache, progress=False)
    assert hits == ["/model.pt"]
    assert not _files(cache)


def test_missing_file_is_http_error(server: tuple[str, list[str]], tmp_path: Path) -> None:
    base, _ = server
    with pytest.raises(ModelkbError, match="HTTP 404"):
        fetch(f"{base}/nope.pt", "a" * 64, tmp_path / "cache", progress=False)
    assert not _files(tmp_path / "cache")


def test_closed_port_is_offline_message(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ModelkbError, match="offline or the host is unreachable"):
        fetch(f"http://127.0.0.1:{port}/model.pt", "a" * 64, tmp_path, timeout=5, progress=False)
    assert not _files(tmp_path)


def test_sha256_is_required() -> None:
    with pytest.raises(ModelkbError, match="#sha256="):
        split_url("https://example.org/model.pt")
    with pytest.raises(ModelkbError, match="64 hex digits"):
        fetch("https://example.org/model.pt", "abc")
    url, digest = split_url("https://example.org/m.pt#sha256=" + "AB" * 32)
    assert url == "https://example.org/m.pt" and digest == "ab" * 32


def test_resolve_weights_order(
    server: tuple[str, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from modelkb.models import weights
    from modelkb.pixels import registry

    base, _ = server
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(
        "modelkb.models.weights.download.default_cache_dir", lambda: tmp_path / "xdg" / "w"
    )
    explicit = tmp_path / "mine.pt"
    explicit.write_bytes(b"x")
    env_file = tmp_path / "env.pt"
    env_file.write_bytes(b"y")
    monkeypatch.setenv("MODELKB_WEIGHTS", str(env_file))
    got = weights.choose_weights(explicit).fetched()
    assert got.path == explicit and got.provenance == "user-supplied"
    got = weights.choose_weights(None).fetched()
    assert got.path == env_file and got.provenance == "user-supplied"
    got = weights.choose_weights(f"{base}/model.pt#sha256={digest}").fetched()
    assert got.path.read_bytes() == PAYLOAD and got.provenance.startswith("user-supplied")
    with pytest.raises(ModelkbError, match="#sha256="):
        weights.choose_weights(f"{base}/model.pt")
    monkeypatch.delenv("MODELKB_WEIGHTS")
    got = weights.choose_weights(None)  # the registry's default weights
    assert got.path == registry.WEIGHTS_DIR / "mssnet-small-modelkb.safetensors"
    assert got.provenance == "trained by this project on synthetic camera shake"
    no_default = replace(registry.get("mssnet"), default_weights={})
    monkeypatch.setitem(registry._REGISTRY, "mssnet", no_default)
    with pytest.raises(ModelkbError, match="--weights FILE"):
        weights.choose_weights(None)
