"""`modelkb links` against real HTTP servers on 127.0.0.1, and the site's Link health page.

Each test writes a small catalog whose tools link to a threaded ``http.server`` started by
the test (the catalog accepts http:// links, loopback ones included), runs `modelkb links`
as a user would, and checks what it prints (``catalog.yml:LINE:COL: URL: reason (hint)``),
its exit status, the requests the server saw and the results file it keeps.
"""

from __future__ import annotations

import http.server
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelkb.linkcheck.collect import arxiv_id_problem, arxiv_problem

from conftest import copy_project, make_weights, mkdocs_build, run_cli, use_tiny_gallery

SLOW_SECONDS = 3.0


class Site:
    """A small web site with one behaviour per path; it records every request."""

    def __init__(self) -> None:
        self.hits: list[tuple[str, str]] = []  # (method, path)
        self.lock = threading.Lock()
        self.base = ""

    def count(self, path: str, method: str | None = None) -> int:
        with self.lock:
            return sum(p == path and (method is None or m == method) for m, p in self.hits)

    def answer(self, method: str, path: str) -> tuple[int, dict[str, str]]:
        with self.lock:
            self.hits.append((method, path))
            seen = sum(p == path for _, p in self.hits)
        if path in ("/ok", "/new") or path.startswith("/ok/"):
            return 200, {}
        if path == "/old":
            return 301, {"Location": "/new"}
        if path == "/gone":
            return 404, {}
        if path == "/flaky":  # fails once, then works
            return (500, {}) if seen == 1 else (200, {})
        if path == "/limited":  # asks to wait a second, once
            return (429, {"Retry-After": "1"}) if seen == 1 else (200, {})
        if path == "/busy":  # asks for an hour: not waited for
            return 429, {"Retry-After": "3600"}
        if path == "/loop-a":
            return 302, {"Location": "/loop-b"}
        if path == "/loop-b":
            return 302, {"Location": f"{self.base}/loop-a"}
        if path == "/nohead":
            return (405, {"Allow": "GET"}) if method == "HEAD" else (200, {})
        if path.startswith("/hop/"):  # a chain of redirects that never ends, nor loops
            return 302, {"Location": f"/hop/{int(path[5:]) + 1}"}
        if path == "/drophead" and method == "HEAD":
            return 0, {}  # the connection is closed without an answer
        if path == "/drophead":
            return 200, {}
        if path == "/slow":
            time.sleep(SLOW_SECONDS)
            return 200, {}
        return 404, {}


@pytest.fixture
def site() -> Iterator[Site]:
    state = Site()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _reply(self, method: str) -> None:
            status, headers = state.answer(method, self.path)
            if not status:
                self.close_connection = True
                return
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            if method == "GET":
                self.wfile.write(b"ok")

        def do_GET(self) -> None:  # noqa: N802
            self._reply("GET")

        def do_HEAD(self) -> None:  # noqa: N802
            self._reply("HEAD")

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def write_catalog(folder: Path, links: list[str], summary: str = "") -> Path:
    """A catalog of one tool per link; the first tool's summary is ``summary`` (Markdown)."""
    lines = ["tools:"]
    for i, url in enumerate(links):
        lines += [f"  - id: tool-{i}", f"    name: Tool {i}", f"    link: {url}"]
        if i == 0 and summary:
            lines.append(f"    summary: {summary}")
    path = folder / "catalog.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def where(catalog: Path, needle: str, nth: int = 0) -> str:
    """``catalog.yml:LINE:COL`` of the nth occurrence of ``needle`` in the catalog's text."""
    found = [(n, line.index(needle) + 1)
             for n, line in enumerate(catalog.read_text(encoding="utf-8").splitlines(), 1)
             if needle in line]
    line, col = found[nth]
    return f"catalog.yml:{line}:{col}"


def links(folder: Path, *args: str):
    """`modelkb links catalog.yml --cache cache ARGS` in ``folder``, timed."""
    start = time.monotonic()
    proc = run_cli("links", "catalog.yml", "--cache", "cache", *args, cwd=folder)
    proc.elapsed = time.monotonic() - start  # type: ignore[attr-defined]
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


def test_each_link_is_reported_with_its_line(site: Site, tmp_path: Path) -> None:
    b = site.base
    catalog = write_catalog(
        tmp_path,
        [f"{b}/ok", f"{b}/old", f"{b}/gone", f"{b}/flaky", f"{b}/loop-a", f"{b}/nohead",
         f"{b}/limited", f"{b}/busy"],
        summary=f"See [the notes]({b}/gone) first.")
    proc = links(tmp_path)
    out = proc.stdout.splitlines()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    # Broken: the 404, where the summary's text holds it and where the URL field does.
    in_text, in_field = where(catalog, f"{b}/gone", 0), where(catalog, f"{b}/gone", 1)
    assert in_text.startswith("catalog.yml:5:") and in_field == "catalog.yml:11:11"
    for at in (in_text, in_field):
        assert (f"{at}: {b}/gone: 404 Not Found (the page is gone: find where it moved, or "
                "remove the link; checked ") in proc.stdout, (at, out)
    # A redirect loop is broken; a permanent move is reported with the new address.
    assert any(line.startswith(f"{where(catalog, f'{b}/loop-a')}: {b}/loop-a: redirect loop "
                               f"({b}/loop-b redirects back to {b}/loop-a")
               for line in out), out
    assert (f"{where(catalog, f'{b}/old')}: {b}/old: 301 Moved Permanently "
            f"(moved to {b}/new: link the new address)") in out
    # Rate limited for an hour: not waited for, not verified, not an error.
    assert any(line.startswith(f"{where(catalog, f'{b}/busy')}: {b}/busy: 429 Too Many "
                               "Requests (the server limits requests and asks to wait 3600 s")
               for line in out), out
    assert site.count("/busy") == 1
    # Retried: the 500 once, then the answer; the 429 after its Retry-After second.
    assert site.count("/flaky") == 2 and f"{b}/flaky" not in proc.stdout
    assert site.count("/limited") == 2 and f"{b}/limited" not in proc.stdout
    # HEAD refused: the same URL with GET.
    assert site.count("/nohead", "HEAD") == 1 and site.count("/nohead", "GET") == 1
    assert f"{b}/nohead" not in proc.stdout and f"{b}/ok" not in proc.stdout
    assert out[-1] == ("catalog.yml: 8 links (8 checked now, 0 from results younger than "
                       "--max-age): 4 ok, 1 unverified, 1 moved, 2 broken")
    assert len(out) == 6, out


def test_endless_redirects_stop_and_a_dropped_head_is_asked_with_get(site: Site,
                                                                     tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path, [f"{site.base}/hop/0", f"{site.base}/drophead"])
    proc = links(tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0].startswith(
        f"{where(catalog, f'{site.base}/hop/0')}: {site.base}/hop/0: more than 10 redirects "
        "(link the final address; checked 20")
    assert site.count("/hop/10") == 1 and site.count("/hop/11") == 0
    assert site.count("/drophead", "HEAD") == 1 and site.count("/drophead", "GET") == 1
    assert f"{site.base}/drophead" not in proc.stdout


def test_a_slow_answer_times_out(site: Site, tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path, [f"{site.base}/ok", f"{site.base}/slow"])
    proc = links(tmp_path, "--timeout", "0.5", "--retries", "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (f"{where(catalog, f'{site.base}/slow')}: {site.base}/slow: no answer within 0.5 s "
            "(the server is too slow or stuck; try again later, or raise --timeout") \
        in proc.stdout
    assert site.count("/slow") == 2  # tried again once
    assert proc.elapsed < 2 * SLOW_SECONDS + 5, proc.elapsed


def test_results_are_reused_within_max_age(site: Site, tmp_path: Path) -> None:
    b = site.base
    write_catalog(tmp_path, [f"{b}/ok", f"{b}/gone", f"{b}/old"])
    first = links(tmp_path)
    assert first.returncode == 1
    requests = len(site.hits)
    assert requests >= 3
    saved = json.loads((tmp_path / "cache" / "links.json").read_text(encoding="utf-8"))
    assert set(saved["results"]) == {f"{b}/ok", f"{b}/gone", f"{b}/old"}
    assert saved["results"][f"{b}/old"]["fix"] == f"{b}/new"
    assert all(r["checked"].endswith("Z") for r in saved["results"].values())

    second = links(tmp_path, "--max-age", "7d")
    assert len(site.hits) == requests, site.hits[requests:]  # not one request
    assert second.returncode == 1
    assert second.stdout.splitlines()[:-1] == first.stdout.splitlines()[:-1]
    assert "(0 checked now, 3 from results younger than --max-age)" in second.stdout

    report = links(tmp_path, "--json")
    assert len(site.hits) == requests
    data = json.loads(report.stdout)
    assert report.returncode == data["exit_status"] == 1
    assert [(f["status"], f["subject"]) for f in data["findings"]] == [
        ("broken", f"{b}/gone"), ("moved", f"{b}/old")]
    assert data["findings"][1]["fix"] == f"{b}/new"

    links(tmp_path, "--max-age", "0")
    assert len(site.hits) > requests  # everything asked again


def test_an_unreadable_results_file_is_checked_again(site: Site, tmp_path: Path) -> None:
    write_catalog(tmp_path, [f"{site.base}/ok"])
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "links.json").write_text('{"format": 1, "results": {"x": [',
                                                   encoding="utf-8")
    proc = links(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [
        "cache/links.json is not a link results file (Expecting value: line 1 column 33 "
        "(char 32)); treated as missing: every link is checked again",
        "catalog.yml: 1 link (1 checked now, 0 from results younger than --max-age): 1 ok, "
        "0 broken"]
    saved = json.loads((tmp_path / "cache" / "links.json").read_text(encoding="utf-8"))
    assert saved["results"][f"{site.base}/ok"]["status"] == "ok"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose connections never complete: a listening socket that accepts nothing,
    its queue already full, so the system drops new connection requests (as a network that
    loses packets does)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.2)
    try:
        yield port
    finally:
        for sock in [*fillers, server]:
            sock.close()


@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_no_network_ends_promptly_with_one_line(kind: str, tmp_path: Path,
                                                request: pytest.FixtureRequest) -> None:
    ports = [_closed_port(), _closed_port()]
    reason = "connection refused"
    if kind == "silent":
        ports[0] = request.getfixturevalue("silent_port")
        reason = "(no connection within 0.5 s|connection refused)"
    write_catalog(tmp_path, [f"http://127.0.0.1:{ports[0]}/a", f"http://127.0.0.1:{ports[0]}/b",
                             f"http://127.0.0.1:{ports[0]}/c", f"http://127.0.0.1:{ports[1]}/d"])
    proc = links(tmp_path, "--timeout", "0.5")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr == ""
    out = proc.stdout.splitlines()
    assert len(out) == 1, out
    assert re.fullmatch(
        r"catalog\.yml: no network: none of the 2 hosts could be reached \(127\.0\.0\.1:"
        rf"\d+: {reason}\); 4 links not checked, cached results kept; run again when online",
        out[0]), out
    assert proc.elapsed < 15, proc.elapsed
    assert not (tmp_path / "cache" / "links.json").exists()  # nothing learnt, nothing written


def test_arxiv_links_are_checked_for_form_offline(site: Site, tmp_path: Path) -> None:
    """A malformed arXiv link is reported without a request (it never reaches the network;
    the other link is the local server's)."""
    catalog = tmp_path / "catalog.yml"
    catalog.write_text(
        "papers:\n"
        '  - id: "2401.00261"\n'
        "    title: Good\n"
        "    link: https://arxiv.org/abs/2401.0026\n"
        '  - id: "2413.00001"\n'
        "    title: No thirteenth month\n"
        f"    link: {site.base}/ok/paper.pdf\n", encoding="utf-8")
    proc = links(tmp_path, "--timeout", "1", "--retries", "0")
    out = proc.stdout.splitlines()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert out[0] == ("catalog.yml:4:11: https://arxiv.org/abs/2401.0026: arXiv identifier "
                      "'2401.0026' ids of 2401 have 5 digits after the dot, not 4 (copy the "
                      "identifier from the paper's arXiv page)")
    assert out[1].startswith("catalog.yml:5:9: 2413.00001: paper id month 13 does not exist")


@pytest.mark.parametrize("ident", ["2401.00261", "2401.00261v2", "0704.0001", "1412.9999",
                                   "hep-th/9901001", "math.GT/0309136v3", "cs/0703001"])
def test_well_formed_arxiv_ids(ident: str) -> None:
    assert arxiv_id_problem(ident) is None
    assert arxiv_problem(f"http://arxiv.org/pdf/{ident}.pdf") is None


@pytest.mark.parametrize("ident", ["2401.0026", "1412.00001", "0703.0001", "2400.00001",
                                   "2401.00261v0", "hep-th/0801001", "hep-th/99010011",
                                   "paper-7"])
def test_malformed_arxiv_ids(ident: str) -> None:
    assert arxiv_id_problem(ident)
    assert arxiv_problem(f"https://arxiv.org/abs/{ident}")


def test_other_arxiv_pages_are_not_ids() -> None:
    assert arxiv_problem("https://arxiv.org/list/cs.CV/recent") is None
    assert arxiv_problem("https://example.org/abs/nonsense") is None


def test_a_catalog_with_problems_is_reported_first(tmp_path: Path) -> None:
    (tmp_path / "catalog.yml").write_text("tools:\n  - id: t\n    name: T\n    link: ftp://x/\n",
                                          encoding="utf-8")
    proc = links(tmp_path)
    assert proc.returncode == 1
    assert proc.stdout.startswith("catalog.yml:4:11: 'link' must be an absolute http:// or "
                                  "https:// link")
    assert "fix the catalog first" in proc.stdout.splitlines()[-1]


@pytest.mark.slow
def test_link_health_page_shows_the_last_results(site: Site, tmp_path: Path) -> None:
    """A build without results says how to get them; after `modelkb links`, the page lists
    each link with its status, date and entry, broken first, and stays inert whatever the
    results file says."""
    b = site.base
    project = use_tiny_gallery(copy_project(tmp_path / "project", tmp_path / "cache"),
                               make_weights(tmp_path))
    catalog = project / "catalog.yml"
    text = catalog.read_text(encoding="utf-8")
    urls = list(dict.fromkeys(re.findall(r"https?://[^\s)\"'>]+", text)))
    assert "https://github.com/kky7/MSSNet" in urls and len(urls) >= 4
    local = {u: f"{b}/ok/{i}" for i, u in enumerate(urls)}  # no request leaves the machine
    local["https://github.com/kky7/MSSNet"] = f"{b}/gone"
    local["http://arxiv.org/pdf/2401.00261v2.pdf"] = f"{b}/old"
    for old, new in local.items():
        text = text.replace(old, new)
    catalog.write_text(text, encoding="utf-8")

    before = mkdocs_build(project)
    assert before.returncode == 0, before.output
    page = before.page("reference/link-health")
    assert "Not checked yet" in page and "<code>modelkb links</code>" in page
    assert not site.hits  # a build makes no request

    proc = run_cli("links", cwd=project)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{where(catalog, f'{b}/gone')}: {b}/gone: 404 Not Found" in proc.stdout
    results = project.parent / "cache" / "links.json"
    data = json.loads(results.read_text(encoding="utf-8"))
    # A results file edited by hand (or by a hostile server's answers) stays text.
    data["results"][f"{b}/ok/0"].update(status="moved", reason="<script>alert(1)</script>",
                                        fix="javascript:alert(1)")
    results.write_text(json.dumps(data), encoding="utf-8")

    after = mkdocs_build(project)
    assert after.returncode == 0, after.output
    page = after.page("reference/link-health")
    assert "Not checked yet" not in page
    broken, moved = page.index(">Broken (1)<"), page.index(">Moved (2)<")
    working = page.index(">Working (")
    assert broken < page.index(f'href="{b}/gone"') < moved < page.index(f'href="{b}/new"') \
        < working
    gone_item = page[page.index(f'href="{b}/gone"'):page.index("</li>", broken)]
    assert "404 Not Found" in gone_item and "checked 20" in gone_item
    assert 'href="../../models/deblur-mssnet-realblurj/"' in gone_item
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="javascript:' not in page
    assert 'href="../link-health/"' in after.page("reference/catalog")  # in the navigation
