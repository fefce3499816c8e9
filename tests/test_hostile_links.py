"""`modelkb links` against hostile servers, slow hosts and damaged results (issue 34,
families 9 and 10, and item 7 for ``<cache>/links.json``).

Real HTTP servers on 127.0.0.1 write their answers as raw bytes, so a header can hold what
no well-behaved server sends (digits that are not ASCII, addresses httpx cannot parse). The
command runs in-process (``modelkb.cli.main``) except where a signal must reach it.
"""

from __future__ import annotations

import html
import http.server
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_links import where, write_catalog

from modelkb.catalog import load_catalog
from modelkb.cli import main
from modelkb.site.link_health import link_health_page

Answer = tuple[int, list[tuple[str, str]]]


class Server:
    """A web server on 127.0.0.1: path -> (status, headers) or a callable; raw bytes out."""

    def __init__(self) -> None:
        self.routes: dict[str, Answer | Callable[[], Answer]] = {}
        self.hits: list[str] = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # ends every hanging answer
        self.base = ""
        self.host = ""

    def count(self, path: str) -> int:
        with self.lock:
            return sum(p == path for p in self.hits)


def hang(server: Server, seconds: float = 30.0) -> Callable[[], Answer]:
    """An answer that comes after ``seconds`` (or when the test ends)."""
    def route() -> Answer:
        server.release.wait(seconds)
        return 200, []
    return route


def _serve() -> Iterator[Server]:
    state = Server()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _reply(self) -> None:
            with state.lock:
                state.hits.append(self.path)
            route = state.routes.get(self.path, (200, []))
            status, headers = route() if callable(route) else route
            try:
                out = [f"HTTP/1.1 {status} X\r\n".encode()]
                out += [f"{k}: {v}\r\n".encode("utf-8", "surrogateescape") for k, v in headers]
                out.append(b"Content-Length: 0\r\nConnection: close\r\n\r\n")
                self.wfile.write(b"".join(out))
            except OSError:
                pass  # the client gave up: what a bounded check does
            self.close_connection = True

        do_GET = do_HEAD = _reply  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.host = f"127.0.0.1:{httpd.server_address[1]}"
    state.base = f"http://{state.host}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    yield from _serve()


@pytest.fixture
def other() -> Iterator[Server]:
    """A second host."""
    yield from _serve()


def run_links(folder: Path, *args: str) -> tuple[int, float]:
    """`modelkb links catalog.yml --cache cache ARGS` in-process: (status, seconds)."""
    start, here = time.monotonic(), Path.cwd()
    os.chdir(folder)
    try:
        status = main(["links", "catalog.yml", "--cache", "cache", *args])
    finally:
        os.chdir(here)
    return status, time.monotonic() - start


def saved(folder: Path) -> dict[str, dict]:
    return json.loads((folder / "cache" / "links.json").read_text(encoding="utf-8"))["results"]


# -- family 9: a server's answer never ends the run ---------------------------------------

HOSTILE: dict[str, tuple[Answer, str]] = {
    # Retry-After: only ASCII digits or an HTTP date count
    "retry-superscript": ((429, [("Retry-After", "\u00b2")]), "429 Too Many Requests"),
    "retry-arabic": ((429, [("Retry-After", "\u0661")]), "429 Too Many Requests"),
    "retry-huge": ((429, [("Retry-After", "9" * 5000)]), "429 Too Many Requests"),
    "retry-far-date": ((503, [("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT")]),
                       "503 Service Unavailable"),
    "retry-year-zero": ((503, [("Retry-After", "Mon, 01 Jan 0000 00:00:00 GMT")]),
                        "503 Service Unavailable"),
    # redirects to addresses that cannot be requested
    "port-too-big": ((302, [("Location", "http://127.0.0.1:99999/")]), "not a valid URL"),
    "port-negative": ((302, [("Location", "http://127.0.0.1:-1/")]), "not a valid URL"),
    "javascript": ((302, [("Location", "javascript:alert(1)")]), "non-web address"),
    "data": ((302, [("Location", "data:text/html,<script>alert(1)</script>")]),
             "non-web address"),
    "broken-ipv6": ((302, [("Location", "http://[::1/x")]), "not a valid URL"),
    "escape": ((302, [("Location", "http://127.0.0.1/\x1b[31m")]), "not a valid URL"),
    "idna": ((302, [("Location", "http://xn--a.example/")]), "not a valid URL"),
    "idna-symbol": ((302, [("Location", "http://\u2488.example/")]), "not a valid URL"),
    "too-long": ((302, [("Location", "http://127.0.0.1/" + "a" * 70000)]), "not a valid URL"),
    "status-799": ((799, []), "799"),
}


def test_hostile_answers_become_their_links_results(server: Server, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    """Each hostile answer is its own link's result, with a reason; the run goes on, the
    other links are checked and every result is kept."""
    for name, (answer, _reason) in HOSTILE.items():
        server.routes[f"/{name}"] = answer
    urls = [f"{server.base}/ok", *(f"{server.base}/{name}" for name in HOSTILE)]
    write_catalog(tmp_path, urls)
    status, elapsed = run_links(tmp_path, "--retries", "0")
    out = capsys.readouterr().out
    assert status == 1, out
    assert "Traceback" not in out
    lines = {line.split(": ", 2)[1]: line for line in out.splitlines()[:-1]}
    for name, (_answer, reason) in HOSTILE.items():
        line = lines[f"{server.base}/{name}"]
        assert reason in line, line
        assert len(line) < 800, line  # a server's text is clipped
        assert "inf s" not in line
    assert f"{server.base}/ok" not in lines
    assert "asks to wait" not in lines[f"{server.base}/retry-superscript"]
    assert "asks to wait" not in lines[f"{server.base}/retry-arabic"]
    results = saved(tmp_path)
    assert results[f"{server.base}/ok"]["status"] == "ok"
    assert set(results) == set(urls) - {f"{server.base}/{n}" for n in HOSTILE
                                        if n.startswith("retry-") and HOSTILE[n][0][0] == 429}
    assert elapsed < 5, elapsed


def test_a_non_ascii_retry_after_is_not_waited_for(server: Server, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """'\u0663' (Arabic-Indic 3) is not a number of seconds to HTTP: the retry waits the
    backoff, not three seconds; a huge number is capped, not waited for."""
    server.routes["/a"] = (503, [("Retry-After", "\u0663")])
    server.routes["/b"] = (503, [("Retry-After", "1" + "0" * 400)])
    write_catalog(tmp_path, [f"{server.base}/a", f"{server.base}/b"])
    status, elapsed = run_links(tmp_path, "--retries", "1")
    out = capsys.readouterr().out
    assert status == 1, out
    assert server.count("/a") == 2 and server.count("/b") == 1  # /b: too long to wait
    assert elapsed < 2, elapsed


# -- family 10: a time budget and a host given up on -------------------------------------

def test_the_budget_ends_the_run_and_names_what_was_not_checked(
        server: Server, other: Server, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    server.routes["/hang"] = hang(server)
    urls = [f"{server.base}/hang", f"{other.base}/ok/1", f"{other.base}/ok/2"]
    catalog = write_catalog(tmp_path, urls)
    status, elapsed = run_links(tmp_path, "--budget", "1", "--timeout", "20")
    out = capsys.readouterr().out
    assert elapsed < 2, elapsed
    assert status == 3, out
    lines = out.splitlines()
    hanging = f"{server.base}/hang"
    assert lines[0].startswith(f"{where(catalog, hanging)}: {hanging}: not checked: the time "
                               "budget of 1 s ran out (run again: "), lines
    assert "1 not checked" in lines[-1] and "2 ok" in lines[-1]
    assert "the time budget of 1 s ran out" in lines[-1]
    results = saved(tmp_path)
    assert results[f"{other.base}/ok/1"]["status"] == "ok"
    assert results[f"{server.base}/hang"]["status"] == "not checked"
    page = html.unescape(link_health_page(load_catalog(catalog), tmp_path / "cache"))
    assert "the time budget of 1 s ran out" in page

    # the next run asks again what was not checked, and only that
    server.release.set()
    hits = len(other.hits)
    status, _ = run_links(tmp_path, "--json")
    report = json.loads(capsys.readouterr().out)
    assert status == report["exit_status"] == 0
    assert len(other.hits) == hits and server.count("/hang") == 2
    assert saved(tmp_path)[f"{server.base}/hang"]["status"] == "ok"


def test_a_host_that_times_out_twice_is_given_up(server: Server, other: Server,
                                                 tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(4):
        server.routes[f"/slow/{i}"] = hang(server)
    urls = [*(f"{server.base}/slow/{i}" for i in range(4)), f"{other.base}/ok"]
    catalog = write_catalog(tmp_path, urls)
    status, elapsed = run_links(tmp_path, "--timeout", "0.3", "--per-host", "1",
                                   "--json")
    report = json.loads(capsys.readouterr().out)
    assert status == report["exit_status"] == 1
    assert elapsed < 2.5, elapsed
    assert len(server.hits) == 2  # two time-outs, then no request to that host
    asked = {f"{server.base}{path}" for path in server.hits}
    by_url = {link["url"]: link for link in report["links"]}
    for url in urls[:4]:
        link = by_url[url]
        if url in asked:
            assert (link["status"], link["reason"]) == ("broken", "no answer within 0.3 s")
        else:
            assert (link["status"], link["reason"]) == (
                "not checked", f"not checked: host {server.host} timed out twice")
    assert by_url[f"{other.base}/ok"]["status"] == "ok"
    assert report["counts"]["not checked"] == 4 - len(asked) >= 2
    page = html.unescape(link_health_page(load_catalog(catalog), tmp_path / "cache"))
    assert f"host {server.host} timed out twice" in page


INTERRUPT = """
import sys
from modelkb.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_keeps_what_it_checked(sig: int, server: Server, other: Server,
                                                  tmp_path: Path) -> None:
    server.routes["/hang"] = hang(server, 90)
    urls = [f"{server.base}/hang", *(f"{other.base}/ok/{i}" for i in range(3))]
    write_catalog(tmp_path, urls)
    proc = subprocess.Popen(
        [sys.executable, "-c", INTERRUPT, "links", "catalog.yml", "--cache", "cache",
         "--timeout", "60"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        deadline = time.monotonic() + 60
        while (len(other.hits) < 3 or not server.hits) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the quick links' results are in
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err
    assert "interrupted: 3 of 4 links checked; their results are kept" in out, out
    results = saved(tmp_path)
    assert sorted(results) == sorted(urls[1:])
    assert all(r["status"] == "ok" for r in results.values())


# -- item 7: the results file is a cache ---------------------------------------------------

DAMAGED = {
    "nan": '{"format": 1, "results": {"URL": {"status": "ok", "reason": "x", "checked": '
           '"2026-01-01T00:00:00Z", "hint": "", "code": NaN}}}',
    "infinity": '{"format": 1, "results": {"URL": {"status": "ok", "reason": "x", '
                '"checked": "2026-01-01T00:00:00Z", "hint": "", "code": Infinity}}}',
    "list": "[1, 2, 3]",
    "results-list": '{"format": 1, "results": [1]}',
    "record-shape": '{"format": 1, "results": {"URL": {"status": ["ok"]}}}',
    "deep": "[" * 100_000 + "]" * 100_000,
    "huge-number": '{"format": 1, "results": {"URL": {"code": ' + "9" * 5000 + "}}}",
    "not-utf8": b'{"format": 1, "results": {"\xff": {}}}',
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_results_file_is_treated_as_missing(case: str, server: Server,
                                                      tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    url = f"{server.base}/ok"
    write_catalog(tmp_path, [url])
    (tmp_path / "cache").mkdir()
    text = DAMAGED[case]
    data = text if isinstance(text, bytes) else text.replace("URL", url).encode()
    (tmp_path / "cache" / "links.json").write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="modelkb"):
        status, elapsed = run_links(tmp_path, "--max-age", "100w")
    out = capsys.readouterr().out
    assert status == 0, out
    assert server.count("/ok") == 1  # checked again: nothing was taken from the file
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "links.json" in warnings[0].getMessage()
    assert "checked again" in warnings[0].getMessage()
    assert saved(tmp_path)[url]["status"] == "ok"
    assert elapsed < 2, elapsed
