"""Edit-to-reload benchmark: `mkdocs serve --livereload --dirty`, modelkb against plain MkDocs.

For each project a fresh `mkdocs serve --livereload --dirty` is started, the seed answer page
is opened in headless Chromium (Playwright), an edit is saved, and the clock runs from just
before the write until the page that MkDocs' livereload script reloaded shows the edit. The
benchmark never reloads or navigates the page itself: the new document must be a reload
(Navigation Timing type "reload") and show the marker.

- modelkb: a marker word added to the answer's note on the recommended model, in catalog.yml;
- plain MkDocs: the same marker at the same place in the same page, written as static Markdown
  by bench_build's static twin (no hooks).

Both projects run alternately in one process, one server at a time, so the ratio compares like
with like on a shared, noisy machine. The server's log gives the parts of each delay: the file
watcher's detection (MkDocs polls every 0.5 s), MkDocs' own "Documentation built in" figure,
and the browser's reload. Pages re-rendered are index.html files in the served folder whose
modification time changed with the edit.

    python benchmarks/bench_serve.py [--repeats 5] [--keep]

Needs Chromium (/usr/bin/chromium, or $CHROMIUM) and the playwright package; no network.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench_build import ROOT, copy_project, machine, static_twin, timed_build

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage",
                 # Nothing but the local server resolves: a page cannot reach the network.
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]

# The start of the answer's note on its recommended model: one line in catalog.yml and in the
# static page, so the marker goes to the same place of the same page in both projects.
ANCHOR = "The recommended model, and the workflow's learned step."

_SHOWN = "m => document.body !== null && document.body.innerText.includes(m)"
_NAVIGATION = ("() => { const n = performance.getEntriesByType('navigation')[0];"
               " return [n.type, performance.timeOrigin + n.domContentLoadedEventEnd]; }")


def seed_slug() -> str:
    """The first question's slug in the shipped catalog (the seed answer)."""
    import yaml

    data = yaml.safe_load((ROOT / "catalog.yml").read_text(encoding="utf-8"))
    return data["questions"][0]["slug"]


def find_chromium() -> str:
    """$CHROMIUM or /usr/bin/chromium; the benchmark never downloads a browser."""
    for candidate in (os.environ.get("CHROMIUM", ""), "/usr/bin/chromium",
                      shutil.which("chromium") or ""):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit("no Chromium found: install the 'chromium' package or set $CHROMIUM")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    """`mkdocs serve --livereload --dirty` in its own process group; log lines timestamped.

    TMPDIR points into ``tmp`` so the served folder (MkDocs' mkdtemp) can be inspected, and
    is removed with the benchmark's folder even if the server has to be killed.
    """

    def __init__(self, project: Path, port: int, tmp: Path) -> None:
        self.tmp = tmp
        tmp.mkdir(parents=True)
        self.lines: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONUNBUFFERED": "1",
               "TMPDIR": str(tmp)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mkdocs", "serve", "--livereload", "--dirty",
             "-a", f"127.0.0.1:{port}"],
            cwd=project, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append((time.perf_counter(), line.rstrip("\n")))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, needle: str, start: int = 0, timeout: float = 300) -> tuple[float, str]:
        """The first log line from index ``start`` on containing ``needle``: (time, line)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for t, line in self.lines[start:]:
                    if needle in line:
                        return t, line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise RuntimeError(f"mkdocs serve: no {needle!r} in its log:\n" + self.log())
                self._cond.wait(min(left, 0.5))

    def snapshot(self) -> list[str]:
        with self._cond:
            return [line for _, line in self.lines]

    def log(self, start: int = 0) -> str:
        with self._cond:
            return "\n".join(line for _, line in self.lines[start:])[-4000:]

    def site_dir(self) -> Path:
        """The folder MkDocs serves (its mkdtemp under our TMPDIR)."""
        found = [p for p in self.tmp.glob("mkdocs_*") if p.is_dir()]
        if len(found) != 1:
            raise RuntimeError(f"expected one served folder in {self.tmp}, found {found}")
        return found[0]

    def stop(self) -> None:
        """Ctrl-C to the process group (MkDocs shuts down cleanly), then SIGKILL if stuck."""
        for sig, wait in ((signal.SIGINT, 15), (signal.SIGKILL, 15)):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        self._reader.join(timeout=5)


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                response.read()
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def html_mtimes(site: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in site.rglob("index.html")}


@dataclass
class Trial:
    """One save-to-reload measurement (seconds from the save)."""

    total: float  # the reloaded page shows the marker (Python clock, polled every 20 ms)
    dom_ready: float  # DOMContentLoaded of the reloaded document (browser's own clock)
    detected: float  # the server logs "Detected file changes"
    building: float  # from "Building documentation..." to "Reloading browsers" in the log
    reloading: float  # the server logs "Reloading browsers" (new epoch visible)
    built: float | None  # MkDocs' "Documentation built in X seconds"
    rerendered: int  # index.html files rewritten by the rebuild


def _reported_build_seconds(serve: Serve, start: int) -> float | None:
    """MkDocs' "Documentation built in X seconds" for the rebuild after log line ``start``.

    MkDocs' CLI drops a build message identical to an earlier one (its DuplicateFilter), so
    when the rebuild's line is missing it repeated the only earlier one, the first build's.
    """
    needle = "Documentation built in"
    lines = serve.snapshot()
    end = next(i for i in range(start, len(lines)) if "Reloading browsers" in lines[i])
    found = [line for line in lines[start:end] if needle in line] or \
        [line for line in lines[:start] if needle in line][-1:]
    try:
        return float(found[0].split(needle, 1)[1].split()[0])
    except (IndexError, ValueError):
        return None


def trial(browser, project: Path, source: Path, url_path: str, tmp: Path,
          timeout: float) -> Trial:
    """Serve ``project``, open the page, save a marker into ``source``, time the reload."""
    original = source.read_text(encoding="utf-8")
    if original.count(ANCHOR) != 1:
        raise SystemExit(f"{source}: the anchor {ANCHOR!r} must occur exactly once")
    marker = "zq" + uuid.uuid4().hex[:12]
    port = free_port()
    serve = Serve(project, port, tmp)
    page = None
    try:
        serve.wait_for("Serving on")
        url = f"http://127.0.0.1:{port}{url_path}"
        wait_http(url)
        page = browser.new_page()
        page.goto(url, wait_until="load")  # livereload's script starts polling on load
        if page.evaluate(_NAVIGATION)[0] != "navigate" or page.evaluate(_SHOWN, marker):
            raise RuntimeError("the page before the edit is not a fresh navigation without "
                               "the marker")
        site = serve.site_dir()
        before = html_mtimes(site)
        navigations: list[str] = []
        page.on("framenavigated",
                lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
        start = len(serve.lines)
        time.sleep(0.5)  # a quiet moment: the poll request is in flight, nothing rebuilding

        edited = original.replace(ANCHOR, f"{ANCHOR} {marker}.", 1)
        wall = time.time()
        saved = time.perf_counter()
        source.write_text(edited, encoding="utf-8")
        page.wait_for_function(_SHOWN, arg=marker, polling=20, timeout=timeout * 1000)
        shown = time.perf_counter()

        kind, dom_ready_ms = page.evaluate(_NAVIGATION)
        if kind != "reload" or not navigations:
            raise RuntimeError(f"the marker appeared without a livereload reload ({kind}, "
                               f"{len(navigations)} navigations)")
        detected, _ = serve.wait_for("Detected file changes", start, timeout=10)
        if detected < saved:
            raise RuntimeError("the server rebuilt before the edit was saved")
        building, _ = serve.wait_for("Building documentation", start, timeout=10)
        reloading, _ = serve.wait_for("Reloading browsers", start, timeout=10)
        built = _reported_build_seconds(serve, start)
        after = html_mtimes(site)
        rerendered = sum(1 for p, m in after.items() if before.get(p) != m)
        return Trial(total=shown - saved, dom_ready=dom_ready_ms / 1000 - wall,
                     detected=detected - saved, building=reloading - building,
                     reloading=reloading - saved, built=built, rerendered=rerendered)
    except Exception as exc:
        raise SystemExit(f"{project.name}: {exc}\n--- mkdocs serve log ---\n{serve.log()}") \
            from exc
    finally:
        if page is not None:
            page.close()
        serve.stop()
        source.write_text(original, encoding="utf-8")
        shutil.rmtree(tmp, ignore_errors=True)


class LoadSampler:
    """The 1-minute load average, sampled every 2 s while the benchmark runs."""

    def __init__(self) -> None:
        self.samples: list[float] = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(2):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])


def _median(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{statistics.median(known):.2f}" if known else "n/a"


def _row(name: str, trials: list[Trial]) -> str:
    totals = [t.total for t in trials]
    return (f"| {name} | {statistics.median(totals):.2f} | {min(totals):.2f} | "
            f"{_median([t.detected for t in trials])} | {_median([t.built for t in trials])} | "
            f"{_median([t.total - t.detected for t in trials])} | "
            f"{statistics.median(t.rerendered for t in trials):.0f} |")


def run(repeats: int, keep: bool, timeout: float) -> None:
    """Alternate modelkb and plain trials ``repeats`` times; print the Markdown table."""
    from importlib.metadata import version

    from playwright.sync_api import sync_playwright

    slug = seed_slug()
    url_path = f"/answers/{slug}/"
    tmp = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    load = LoadSampler()
    try:
        project = copy_project(tmp / "modelkb", cache=tmp / "cache")
        first, *_ = timed_build(project)  # computes the gallery once; serve starts warm
        twin = static_twin(project, tmp / "plain")
        shutil.rmtree(project / "site", ignore_errors=True)
        shutil.rmtree(twin / "site", ignore_errors=True)
        sources = {"modelkb": (project, project / "catalog.yml"),
                   "plain": (twin, twin / "docs" / "answers" / f"{slug}.md")}
        results: dict[str, list[Trial]] = {name: [] for name in sources}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=find_chromium(), headless=True,
                                         args=CHROMIUM_ARGS)
            try:
                for i in range(repeats):
                    for name, (folder, source) in sources.items():
                        t = trial(browser, folder, source, url_path, tmp / f"serve-{name}-{i}",
                                  timeout)
                        results[name].append(t)
                        print(f"# {name} {i + 1}/{repeats}: shown {t.total:.2f} s after the "
                              f"save (DOMContentLoaded {t.dom_ready:.2f}); detected "
                              f"{t.detected:.2f}, builder {t.building:.2f} (MkDocs says "
                              f"{t.built}), reload signalled {t.reloading:.2f}; "
                              f"{t.rerendered} pages re-rendered", file=sys.stderr, flush=True)
                chromium = browser.version
            finally:
                browser.close()
    finally:
        load.stop()
        if keep:
            print(f"# kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    ours = statistics.median(t.total for t in results["modelkb"])
    plain = statistics.median(t.total for t in results["plain"])
    ours_d = statistics.median(t.total - t.detected for t in results["modelkb"])
    plain_d = statistics.median(t.total - t.detected for t in results["plain"])
    print(f"Machine: {machine()}; MkDocs {version('mkdocs')}, Material "
          f"{version('mkdocs-material')}, Chromium {chromium} ({platform.system()}); "
          f"{repeats} alternating edits each; first (cold) build {first:.1f} s; "
          f"load average (1 min) {min(load.samples):.2f} to {max(load.samples):.2f} "
          f"during the run\n")
    print("| `mkdocs serve --livereload --dirty` | median save to reload s | min s | "
          "watcher detected s | MkDocs rebuild s | detected to reload s | "
          "pages re-rendered |")
    print("|---|---|---|---|---|---|---|")
    print(_row("modelkb, note edited in catalog.yml", results["modelkb"]))
    print(_row("plain MkDocs, same page edited as static Markdown", results["plain"]))
    print(f"\nRatio (median modelkb / median plain): **{ours / plain:.2f}**; from the "
          f"watcher's detection on (its 0.5 s polling phase left out): {ours_d / plain_d:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="edits per project (default 5)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary projects and print their folder")
    parser.add_argument("--timeout", type=float, default=120,
                        help="seconds to wait for one reload (default 120)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    run(args.repeats, args.keep, args.timeout)


if __name__ == "__main__":
    main()
