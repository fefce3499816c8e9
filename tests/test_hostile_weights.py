"""Hostile weights files, entries and downloads (issue 24, items 6, 7, 9, 11, 13, 16).

Real HTTP servers on 127.0.0.1, real zip archives and checkpoints, the real CLI entry point.
Caps are lowered with ``sizes._cap`` where a case would otherwise stream hundreds of MB.
"""

from __future__ import annotations

import errno
import hashlib
import http.server
import io
import os
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modelkb.cli import main
from modelkb.errors import ModelkbError
from modelkb.models.weights import fetch, load_weights, recorded_sha256, sizes
from modelkb.pixels import registry

Route = Callable[[http.server.BaseHTTPRequestHandler], None]


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, Route], list[str]]]:
    """An HTTP server on 127.0.0.1 whose paths the test fills in: path -> handler."""
    routes: dict[str, Route] = {}
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            hits.append(self.path)
            route = routes.get(self.path.split("?")[0])
            if route is None:
                self.send_error(404)
                return
            route(self)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", routes, hits
    finally:
        httpd.shutdown()
        httpd.server_close()


def body(data: bytes, length: int | None = None, kind: str = "application/octet-stream",
         delay: float = 0.0) -> Route:
    """A 200 answer with ``data``, declaring ``length`` (default: its true length)."""
    def route(h: http.server.BaseHTTPRequestHandler) -> None:
        time.sleep(delay)
        h.send_response(200)
        h.send_header("Content-Type", kind)
        h.send_header("Content-Length", str(len(data) if length is None else length))
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(data)
        h.close_connection = True
    return route


def redirect(location: str) -> Route:
    def route(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return route


def endless(chunk_mb: int) -> Route:
    """A body with no Content-Length that goes on for ``chunk_mb`` MB (a test must end)."""
    def route(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Connection", "close")
        h.end_headers()
        block = b"\0" * (1 << 20)
        try:
            for _ in range(chunk_mb):
                h.wfile.write(block)
        except OSError:
            pass  # the client stopped reading: what a bounded download does
        h.close_connection = True
    return route


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and ".locks" not in p.parts]


@pytest.fixture
def small_cap(monkeypatch: pytest.MonkeyPatch) -> int:
    """Weights cap lowered to 1 MB (archives: 4 MB), so bounded cases stay quick."""
    monkeypatch.setattr(sizes, "_cap", [1 << 20])
    return 1 << 20


def zip_bytes(member: str, data: bytes, method: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=method) as zf:
        zf.writestr(member, data)
    return out.getvalue()


def patch_headers(archive: bytes, *, flag: int | None = None, method: int | None = None
                  ) -> bytes:
    """Set the flag bits and/or method of the (one) member in both of its headers."""
    raw = bytearray(archive)
    local, central = 0, raw.index(b"PK\x01\x02")
    for offset, (f, m) in ((local, (6, 8)), (central, (8, 10))):
        if flag is not None:
            raw[offset + f:offset + f + 2] = flag.to_bytes(2, "little")
        if method is not None:
            raw[offset + m:offset + m + 2] = method.to_bytes(2, "little")
    return bytes(raw)


# 6. Catalog `file:` is confined to the shipped weights folder.

CATALOG = """\
tasks:
  - id: deblur
    name: Deblurring
models:
  - id: m
    name: M
    task: deblur
    architecture: mssnet
    variant: mssnet-small
    weights:
      - name: ok
        file: mssnet-small-modelkb.safetensors
        provenance: shipped
      - name: hostile
        file: {file}
        provenance: someone
"""


@pytest.mark.parametrize("name", ["/etc/passwd", "../../../../../../etc/passwd",
                                  "../errors.py"])
def test_catalog_weights_file_outside_folder_is_refused(
        name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = tmp_path / "catalog.yml"
    catalog.write_text(CATALOG.format(file=f"'{name}'"), encoding="utf-8")
    assert main(["check", str(catalog)]) == 1
    err = "".join(capsys.readouterr())
    assert "catalog.yml:15:" in err, err  # located at the hostile entry's 'file:' line
    assert "outside modelkb's shipped weights folder" in err and "Traceback" not in err


def test_symlink_out_of_weights_folder_is_refused(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "inside.safetensors").write_bytes(b"w")
    (folder / "out.safetensors").symlink_to("/etc/passwd")
    monkeypatch.setattr(registry, "WEIGHTS_DIR", folder)
    assert registry.shipped_weights("inside.safetensors").name == "inside.safetensors"
    for name in ("out.safetensors", "/etc/passwd", "../weights/../../x", "."):
        with pytest.raises(ModelkbError, match="outside modelkb's weights folder"):
            registry.shipped_weights(name)


def test_resolution_refuses_a_file_entry_outside_the_folder() -> None:
    from modelkb.catalog import Model, validate_entry
    from modelkb.models.weights import resolve_model_weights

    model = validate_entry(Model, {
        "id": "m", "name": "M", "task": "t", "architecture": "mssnet", "variant": "mssnet",
        "weights": [{"name": "x", "file": "/etc/passwd", "provenance": "p"}]})
    with pytest.raises(ModelkbError, match="outside modelkb's weights folder"):
        resolve_model_weights(model)


# 7. Every hop is checked: redirects and the confirmation form.

def test_confirmation_form_to_a_local_file_is_refused(server, tmp_path: Path) -> None:
    base, routes, _hits = server
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"private key material")
    page = (f'<html><form action="file://{secret}"><input name="confirm" value="t">'
            "</form></html>").encode()
    routes["/uc"] = body(page, kind="text/html; charset=utf-8")
    with pytest.raises(ModelkbError, match="only http:// and https://"):
        fetch(f"{base}/uc", sha(b"private key material"), tmp_path / "dl", progress=False)
    assert cache_files(tmp_path / "dl") == []


@pytest.mark.parametrize("target", ["ftp://127.0.0.1:9/w.pt", "file:///etc/passwd",
                                    "http://[::1/w.pt", "http://127.0.0.1:99999/w.pt",
                                    "http://xn--a.example/w.pt", "javascript:alert(1)"])
def test_redirect_to_another_scheme_is_refused(server, tmp_path: Path, target: str) -> None:
    base, routes, hits = server
    routes["/w.pt"] = redirect(target)
    with pytest.raises(ModelkbError, match="only http:// and https://|not a valid URL"):
        fetch(f"{base}/w.pt", "a" * 64, tmp_path / "dl", progress=False, timeout=5)
    assert hits == ["/w.pt"] and cache_files(tmp_path / "dl") == []


def test_http_redirects_on_127_0_0_1_are_followed(server, tmp_path: Path) -> None:
    base, routes, hits = server
    routes["/a"] = redirect("/b")
    routes["/b"] = redirect(f"{base}/w.pt")
    routes["/w.pt"] = body(b"weights")
    path = fetch(f"{base}/a", sha(b"weights"), tmp_path / "dl", progress=False)
    assert path.read_bytes() == b"weights" and hits == ["/a", "/b", "/w.pt"]


def test_a_redirect_loop_is_stopped_at_the_first_address_seen_twice(server,
                                                                     tmp_path: Path) -> None:
    """Downloads follow the one redirect policy the link checker follows
    (modelkb.http_client): a loop ends before its first repeated request."""
    base, routes, hits = server
    routes["/a"] = redirect("/b#part")
    routes["/b"] = redirect(f"{base}/a")
    with pytest.raises(ModelkbError, match="redirect loop"):
        fetch(f"{base}/a", "a" * 64, tmp_path / "dl", progress=False, timeout=5)
    assert hits == ["/a", "/b"] and cache_files(tmp_path / "dl") == []


# 9. A .pt whose tensors inflate hugely is refused by declared sizes before loading.

def _deflated_checkpoint(path: Path, numel: int) -> Path:
    """A torch.save checkpoint of zeros with every member re-packed as deflate."""
    plain = io.BytesIO()
    torch.save({"w": torch.zeros(numel)}, plain)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    return path


def test_inflating_checkpoint_is_refused_before_loading(tmp_path: Path, small_cap: int) -> None:
    bomb = _deflated_checkpoint(tmp_path / "bomb.pt", 4 << 20)  # 16 MB of float32 zeros
    assert bomb.stat().st_size < small_cap // 10
    with pytest.raises(ModelkbError, match=r"bomb\.pt: refused.*more than the cap of 1 MB"):
        load_weights(bomb)


def test_the_cap_comes_from_the_largest_registered_variant() -> None:
    # four times mssnet-large in float32 (28.2 million numbers): 451 MB
    assert 440e6 < sizes.weights_cap() < 460e6
    assert sizes.archive_cap() == 4 * sizes.weights_cap()


# 11. Downloads are bounded.

def test_content_length_over_the_cap_is_refused_unread(server, tmp_path: Path,
                                                       small_cap: int) -> None:
    base, routes, _hits = server
    routes["/w.pt"] = body(b"x" * 1000, length=10**12)
    with pytest.raises(ModelkbError, match="declares 1,000,000 MB, more than the cap of 1 MB"):
        fetch(f"{base}/w.pt", "a" * 64, tmp_path / "dl", progress=False)
    assert cache_files(tmp_path / "dl") == []


def test_endless_body_stops_at_the_cap(server, tmp_path: Path, small_cap: int) -> None:
    base, routes, _hits = server
    routes["/w.pt"] = endless(64)
    with pytest.raises(ModelkbError, match="stopped after 1 MB, the cap"):
        fetch(f"{base}/w.pt", None, tmp_path / "dl", progress=False)
    assert cache_files(tmp_path / "dl") == []
    assert recorded_sha256(f"{base}/w.pt", None, tmp_path / "dl") is None


def test_zip_member_over_the_cap_is_refused_before_inflating(server, tmp_path: Path,
                                                             small_cap: int) -> None:
    base, routes, _hits = server
    data = b"\0" * (8 << 20)
    routes["/a.zip"] = body(zip_bytes("w.pt", data, zipfile.ZIP_DEFLATED))
    with pytest.raises(ModelkbError, match=r"\(w\.pt\): refused, its members declare 8 MB"):
        fetch(f"{base}/a.zip", sha(data), tmp_path / "dl", progress=False, member="w.pt")
    assert cache_files(tmp_path / "dl") == []


# 13. A body shorter than its Content-Length is an error, never recorded.

def test_truncated_first_download_is_not_recorded(server, tmp_path: Path) -> None:
    base, routes, _hits = server
    routes["/w.pt"] = body(b"half a file", length=100_000)
    with pytest.raises(ModelkbError, match="nothing was kept"):
        fetch(f"{base}/w.pt", None, tmp_path / "dl", progress=False, timeout=10)
    assert recorded_sha256(f"{base}/w.pt", None, tmp_path / "dl") is None
    assert cache_files(tmp_path / "dl") == []


# Threads and processes: one download per file, each in its own staging folder.

def test_threads_fetching_one_file_download_it_once(server, tmp_path: Path) -> None:
    base, routes, hits = server
    routes["/w.pt"] = body(b"weights", delay=0.3)
    got: list[Path] = []
    threads = [threading.Thread(target=lambda: got.append(
        fetch(f"{base}/w.pt", sha(b"weights"), tmp_path / "dl", progress=False)))
        for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and len(set(got)) == 1 and hits == ["/w.pt"]
    assert not list((tmp_path / "dl").glob(".download-*"))


# 16. `modelkb restore --weights` (and $MODELKB_WEIGHTS): one-line errors, exit 1.

@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(path)
    return path


def _archives() -> dict[str, bytes]:
    data = bytes(range(256)) * 64
    deflated = bytearray(zip_bytes("w.pt", data, zipfile.ZIP_DEFLATED))
    start = 30 + len("w.pt")  # the compressed data follows the local header
    deflated[start:start + 16] = b"\xff" * 16
    return {
        "encrypted": patch_headers(zip_bytes("w.pt", data), flag=0x1),
        "method": patch_headers(zip_bytes("w.pt", data), method=99),
        "damaged": bytes(deflated),
    }


@pytest.mark.parametrize("case", ["space", "ipv6", "encrypted", "method", "damaged", "env"])
def test_restore_weights_errors_are_one_line(case: str, server, photo: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    base, routes, _hits = server
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MODELKB_WEIGHTS", raising=False)
    digest = "#sha256=" + "a" * 64
    archives = _archives()
    for name, data in archives.items():
        routes[f"/{name}.zip"] = body(data)
    urls = {
        "space": f"{base}/my weights.pt{digest}",
        "ipv6": f"http://[::1/w.pt{digest}",
        "env": f"http://[::1/w.pt{digest}",
        **{name: f"{base}/{name}.zip{digest}&member=w.pt" for name in archives},
    }
    args = ["restore", str(photo), "-o", str(tmp_path / "out.png")]
    if case == "env":
        monkeypatch.setenv("MODELKB_WEIGHTS", urls[case])
    else:
        args += ["--weights", urls[case]]
    assert main(args) == 1
    err = capsys.readouterr().err.split("\r")[-1]  # after the download's progress bar
    assert err.startswith("modelkb restore: error: ") and len(err.strip().splitlines()) == 1
    expected = {"space": "space or control character", "ipv6": "not a valid URL",
                "env": "not a valid URL", "encrypted": "is encrypted",
                "method": "compression method 99", "damaged": "damaged or unreadable member"}
    assert expected[case] in err, err
    assert not (tmp_path / "out.png").exists()


def test_real_cap_refuses_a_declared_gibibyte(tmp_path: Path) -> None:
    """The real cap (451 MB) against a checkpoint whose member declares 1 GiB: refused from
    the zip directory alone, before torch reads a byte of it."""
    plain = io.BytesIO()
    torch.save({"w": torch.zeros(4)}, plain)
    raw = bytearray(plain.getvalue())
    central = raw.index(b"PK\x01\x02")
    raw[central + 24:central + 28] = (1 << 30).to_bytes(4, "little")  # uncompressed size
    bomb = tmp_path / "bomb.pt"
    bomb.write_bytes(bytes(raw))
    with pytest.raises(ModelkbError, match="declare 1,074 MB or more .* cap of 451 MB"):
        load_weights(bomb)


# Issue 34, family 14: a full disk during a download is one clear error, nothing kept.

FSIZE_DOWNLOAD = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))
from modelkb.cli import main
from modelkb.errors import ModelkbError
from modelkb.models.weights import fetch
if sys.argv[1] == "first":  # an entry without its SHA-256: the first download records it
    try:
        fetch(sys.argv[2], None, sys.argv[3], progress=False)
    except ModelkbError as exc:
        print("ERROR", exc)
    sys.exit(0)
sys.exit(main(sys.argv[2:]))
"""


def _no_room_message(text: str, url: str, folder: Path) -> None:
    assert f"no space left on device while downloading {url} into {folder}" in text, text
    assert "nothing was kept" in text and "free space" in text, text
    assert "Traceback" not in text


@pytest.mark.parametrize("case", ["restore", "first"])
def test_full_disk_during_a_download_file_size_limit(case: str, server, photo: Path,
                                                     tmp_path: Path) -> None:
    """A write past the process's file size limit (EFBIG, as ENOSPC on a full disk): one
    line naming the file, the folder and the fix; the partial download removed, no digest
    recorded, no output written."""
    base, routes, _hits = server
    data = os.urandom(1 << 20)  # 1 MiB, four times the limit
    routes["/w.pt"] = body(data)
    url = f"{base}/w.pt"
    folder = tmp_path / "xdg" / "modelkb" / "weights"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    env.pop("MODELKB_WEIGHTS", None)
    if case == "first":
        args = ["first", url, str(folder)]
    else:
        args = ["cli", "restore", str(photo), "-o", str(tmp_path / "out.png"),
                "--weights", f"{url}#sha256={sha(data)}"]
    proc = subprocess.run([sys.executable, "-c", FSIZE_DOWNLOAD, *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    if case == "first":
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("ERROR "), proc.stdout + proc.stderr
        _no_room_message(proc.stdout, url, folder)
        assert recorded_sha256(url, None, folder) is None
    else:
        assert proc.returncode == 1, proc.stdout + proc.stderr
        err = proc.stderr.strip().splitlines()[-1].split("\r")[-1]  # after the progress bar
        assert err.startswith("modelkb restore: error: "), proc.stderr
        assert proc.stderr.count("error") == 1, proc.stderr
        _no_room_message(err, url, folder)
        assert not (tmp_path / "out.png").exists()
    assert os.strerror(errno.EFBIG) in proc.stdout + proc.stderr
    assert cache_files(folder) == []  # the partial download is gone


def test_full_disk_during_a_download_tmpfs(server, tmp_path: Path) -> None:
    """The same on a real full file system: a 512 KiB tmpfs (ENOSPC); skipped where
    mounting is not allowed (the file size limit test covers the same code)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip()}); "
                    "test_full_disk_during_a_download_file_size_limit covers the same code")
    try:
        base, routes, _hits = server
        data = os.urandom(1 << 20)
        routes["/w.pt"] = body(data)
        folder = mount / "weights"
        start = time.monotonic()
        with pytest.raises(ModelkbError) as info:
            fetch(f"{base}/w.pt", None, folder, progress=False)
        _no_room_message(str(info.value), f"{base}/w.pt", folder)
        assert os.strerror(errno.ENOSPC) in str(info.value)
        assert cache_files(folder) == [] and recorded_sha256(f"{base}/w.pt", None, folder) is None
        assert time.monotonic() - start < 2
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_content_length_of_other_digits_is_one_line(server, tmp_path: Path) -> None:
    """'\u00b2' is a digit to Python, not to HTTP: an answer that is not valid HTTP."""
    base, routes, _hits = server

    def route(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", "\u00b2")
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(b"ab")
        h.close_connection = True
    routes["/w.pt"] = route
    with pytest.raises(ModelkbError, match="the server's answer is not valid HTTP"):
        fetch(f"{base}/w.pt", sha(b"ab"), tmp_path / "dl", progress=False)
    assert cache_files(tmp_path / "dl") == []
