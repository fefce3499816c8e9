"""Peak memory and time of hostile weights cases (issue 24, items 9, 11, 13), real caps.

Each case runs in a fresh child process (so its peak RSS is its own) against the modelkb on
PYTHONPATH, old module layout or new; prints one line per case: outcome, seconds, peak MB.

    PYTHONPATH=$PWD/hooks .venv/bin/python benchmarks/bench_hostile_weights.py [BOMB.pt]

BOMB.pt: where to keep the 1 GiB-inflating checkpoint between runs (made when absent).
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

CHILD = r"""
import sys, time
try:
    from modelkb.models.weights import fetch, load_weights
except ImportError:
    from modelkb.models.download import fetch
    from modelkb.models.weights import load_weights
case, arg, cache = sys.argv[1:4]
start = time.perf_counter()
try:
    if case == "bomb":
        load_weights(arg)
    else:
        fetch(arg, None, cache, progress=False, timeout=20)
    outcome = "ACCEPTED"
except Exception as exc:
    outcome = f"{type(exc).__name__}: {str(exc)[:110]}"
import resource
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{time.perf_counter() - start:.2f}|{peak:.0f}|{outcome}")
"""


def bomb(path: Path, gib: int = 1) -> Path:
    """A torch.save checkpoint of ``gib`` GiB of zeros, every member re-packed as deflate."""
    import torch

    plain = root_file = path.with_suffix(".plain")
    torch.save({"w": torch.zeros((gib << 30) // 4)}, plain)
    with zipfile.ZipFile(root_file) as src, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            with src.open(info) as data, dst.open(info.filename, "w", force_zip64=True) as out:
                while block := data.read(16 << 20):
                    out.write(block)
    plain.unlink()
    return path


class Hostile(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if self.path == "/short":
            self.send_header("Content-Length", "100000")
        elif self.path == "/huge-length":
            self.send_header("Content-Length", str(10**12))
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            if self.path == "/endless":  # 2 GB, standing in for endless
                block = b"\0" * (1 << 20)
                for _ in range(2048):
                    self.wfile.write(block)
            else:
                self.wfile.write(b"x" * 5000)
        except OSError:
            pass

    def log_message(self, *a: object) -> None:
        pass


def run(case: str, arg: str, cache: str) -> None:
    out = subprocess.run([sys.executable, "-c", CHILD, case, arg, cache], capture_output=True,
                         text=True, check=False).stdout.strip()
    seconds, peak, outcome = (out.split("|", 2) + ["", "", ""])[:3]
    disk = sum(p.stat().st_size for p in Path(cache).rglob("*") if p.is_file()) \
        if Path(cache).exists() else 0
    print(f"{case:12s} {seconds:>6s} s  peak RSS {peak:>5s} MB  cache {disk / 1e6:.0f} MB  "
          f"{outcome}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "bomb.pt"
        if not path.is_file():  # made in a child: its 1 GiB must not count in the cases' peaks
            start = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--make-bomb", str(path)], check=True)
            print(f"made a {path.stat().st_size / 1e6:.1f} MB checkpoint inflating to 1 GiB "
                  f"({time.perf_counter() - start:.1f} s)")
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        run("bomb", str(path), str(root / "c"))
        for case in ("huge-length", "short", "endless"):
            run(case, f"{base}/{case}", str(root / case))
        server.shutdown()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--make-bomb"]:
        bomb(Path(sys.argv[2]))
    else:
        main()
