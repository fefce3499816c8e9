"""Weights download timing: a 50 MB file from a local http.server on 127.0.0.1.

Prints the seconds for the first (verified) download, a cached re-fetch, and a cached
re-resolve of a catalog weights entry, each the best of ``--repeat`` runs, plus the peak
Python heap of the first download (tracemalloc). Run it against any checkout:

    PYTHONPATH=$PWD/hooks .venv/bin/python benchmarks/bench_download.py
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import os
import tempfile
import threading
import time
import tracemalloc
from functools import partial
from pathlib import Path


def _api():
    try:  # the weights package
        from modelkb.models.weights import fetch, resolve_model_weights
    except ImportError:  # the older modules
        from modelkb.models.download import fetch
        from modelkb.models.resolve import resolve_model_weights
    return fetch, resolve_model_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    fetch, resolve_model_weights = _api()
    from modelkb.catalog import Model, validate_entry

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "www").mkdir()
        payload = os.urandom(args.mb << 20)
        (root / "www" / "w.pt").write_bytes(payload)
        digest = hashlib.sha256(payload).hexdigest()

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), partial(Quiet, directory=str(root / "www")))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}/w.pt"
        first = []
        for i in range(args.repeat):
            cache = root / f"c{i}"
            tracemalloc.start()
            start = time.perf_counter()
            fetch(url, digest, cache, progress=False)
            first.append(time.perf_counter() - start)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        again = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            fetch(url, digest, root / "c0", progress=False)
            again.append(time.perf_counter() - start)
        model = validate_entry(Model, {
            "id": "m", "name": "M", "task": "t", "architecture": "mssnet", "variant": "mssnet",
            "weights": [{"name": "w", "url": url, "sha256": digest, "provenance": "p"}]})
        resolved = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            resolve_model_weights(model, cache_dir=root / "c0")
            resolved.append(time.perf_counter() - start)
        server.shutdown()
        print(f"{args.mb} MB first download: {min(first):.3f} s (peak Python heap "
              f"{peak / 2**20:.1f} MiB); cached re-fetch: {min(again):.3f} s; cached "
              f"re-resolve: {min(resolved) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
