"""Published URLs keep working: a renamed answer's old URL redirects, a removed page needs a
`retired:` entry, section and per-photo anchors stay (modelkb.site.permalinks).

The builds are real `mkdocs build`s of the shipped project copied into a temporary folder
with the shipped record of published URLs (as a fresh clone has it), its gallery left out
so that each build takes seconds; the built sites are served by `python -m http.server` on
127.0.0.1 and fetched over HTTP.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, free_port, serve_site
from test_site import SEED_SLUG

from conftest import PUBLISHING, ROOT, copy_project, mkdocs_build

RECORD = "published-urls.txt"
NEW_SLUG = "everyday-noise-in-real-super-resolution"


def no_gallery_project(tmp_path: Path, cache: Path, name: str = "project") -> Path:
    """The shipped project with the shipped record, without workflows and gallery."""
    project = copy_project(tmp_path / name, cache)
    shutil.copy(ROOT / RECORD, project / RECORD)
    cat = project / "catalog.yml"
    text = cat.read_text(encoding="utf-8")
    text = re.sub(r"^(workflows|gallery):\n(?:[ #].*\n|\n)*", "", text, flags=re.M)
    # the shipped weights name the gallery photos they were trained on: gone with the gallery
    text = re.sub(r"^ +(?:# .*\n +)?trained_on: .*\n", "", text, flags=re.M)
    text = re.sub(r"^    (gallery|workflow): .*\n", "", text, flags=re.M)
    cat.write_text(text, encoding="utf-8")
    return project


def edit(project: Path, old: str, new: str) -> None:
    cat = project / "catalog.yml"
    text = cat.read_text(encoding="utf-8")
    assert old in text
    cat.write_text(text.replace(old, new), encoding="utf-8")


class Served:
    """A built site served by `python -m http.server` on 127.0.0.1."""

    def __init__(self, site: Path):
        self._stack = contextlib.ExitStack()
        self.base = self._stack.enter_context(serve_site(site))

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(urljoin(self.base, path.lstrip("/")), timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, b""

    def close(self) -> None:
        self._stack.close()


class Head(HTMLParser):
    """The meta refresh, canonical link, scripts and element ids of a page."""

    def __init__(self, html: str):
        super().__init__()
        self.refresh = self.canonical = self.robots = None
        self.scripts: list[str] = []
        self.ids: set[str] = set()
        self._script = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self._script = tag == "script"
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "refresh":
            self.refresh = a.get("content")
        if tag == "meta" and a.get("name") == "robots":
            self.robots = a.get("content")
        if tag == "link" and a.get("rel") == "canonical":
            self.canonical = a.get("href")

    def handle_data(self, data):
        if self._script:
            self.scripts.append(data)


@pytest.fixture(scope="module")
def renamed(tmp_path_factory):
    """The shipped project with its answer's slug renamed, built twice (the rename, then an
    unchanged rebuild), and served."""
    tmp = tmp_path_factory.mktemp("renamed")
    project = no_gallery_project(tmp, tmp / "cache")
    edit(project, f"  - slug: {SEED_SLUG}\n", f"  - slug: {NEW_SLUG}\n")
    first = mkdocs_build(project, env=PUBLISHING)  # writes the record; the local copy doesn't
    assert first.returncode == 0, first.output
    record = project / RECORD
    written = record.read_bytes(), record.stat().st_mtime_ns
    again = mkdocs_build(project)
    assert again.returncode == 0, again.output
    assert (record.read_bytes(), record.stat().st_mtime_ns) == written  # nothing changed
    server = Served(again.site)
    yield again, server
    server.close()


def test_a_renamed_answer_serves_its_old_url_as_a_redirect_to_the_new_one(renamed):
    build, server = renamed
    status, body = server.get(f"/answers/{SEED_SLUG}/")
    assert status == 200
    head = Head(body.decode("utf-8"))
    assert head.refresh == f"0; url=../{NEW_SLUG}/"
    assert head.canonical == f"http://127.0.0.1:8000/answers/{NEW_SLUG}/"
    assert head.robots == "noindex"
    assert any(f'location.replace("../{NEW_SLUG}/" + location.search + location.hash)' in s
               for s in head.scripts)
    # a forum unfurling the old link shows the new page: its title, description and card
    old = body.decode("utf-8")
    new_head = build.page(f"answers/{NEW_SLUG}")
    title = re.search(r"<title>(.*?)</title>", old, re.S).group(1)
    assert title.startswith("I doubled the size of a casual snapshot"), title
    for tag in ("og:title", "og:description", "og:image", "twitter:card"):
        found = re.search(rf'<meta (?:property|name)="{tag}" content="([^"]*)"', old)
        expected = re.search(rf'<meta (?:property|name)="{tag}" content="([^"]*)"', new_head)
        assert found and expected, tag
        assert html.unescape(found.group(1)) == html.unescape(expected.group(1)), tag
    target = urljoin(server.base + f"answers/{SEED_SLUG}/", head.refresh.split("url=", 1)[1])
    assert target == server.base + f"answers/{NEW_SLUG}/"
    status, page = server.get(target)
    assert status == 200 and "How do" in page.decode("utf-8")
    # the old Markdown export and card are the new ones (a tool fetching them gets the answer)
    old_md, new_md = server.get(f"/answers/{SEED_SLUG}.md"), server.get(f"/answers/{NEW_SLUG}.md")
    assert old_md[0] == new_md[0] == 200 and old_md[1] == new_md[1]
    assert f"answers/{NEW_SLUG}/" in new_md[1].decode("utf-8")
    cards = "/assets/modelkb/cards/{}.png"
    old_card, new_card = server.get(cards.format(SEED_SLUG)), server.get(cards.format(NEW_SLUG))
    assert old_card[0] == 200 and old_card[1] == new_card[1] and old_card[1][:4] == b"\x89PNG"
    sitemap = (build.site / "sitemap.xml").read_text(encoding="utf-8")
    assert f"answers/{NEW_SLUG}/" in sitemap and f"answers/{SEED_SLUG}/" not in sitemap
    # the record keeps the old URLs, now tied to the answer's new slug, and adds the new
    # ones; nothing else changes (so the shipped record is up to date with the catalog)
    lines = (build.project / RECORD).read_text(encoding="utf-8").splitlines()
    assert any(re.fullmatch(rf"/answers/{SEED_SLUG}/\tanswer\t{NEW_SLUG}\t[0-9a-f]{{12}}", x)
               for x in lines)
    data = [x for x in lines if not x.startswith("#")]
    assert data == sorted(data)
    expected = set()
    for line in (ROOT / RECORD).read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        url, kind, key, fp = line.split("\t")
        if key == SEED_SLUG:
            expected |= {f"{url}\t{kind}\t{NEW_SLUG}\t{fp}",
                         f"{url.replace(SEED_SLUG, NEW_SLUG)}\t{kind}\t{NEW_SLUG}\t{fp}"}
        else:
            expected.add(line)
    assert set(data) == expected, f"{RECORD} is behind catalog.yml: build, then commit it"


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed")
def test_a_browser_following_the_old_url_lands_on_the_new_section(renamed):
    from playwright.sync_api import sync_playwright

    _build, server = renamed
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = chromium.new_page()
            page.goto(server.base + f"answers/{SEED_SLUG}/#workflow")
            page.wait_for_url(f"**/answers/{NEW_SLUG}/#workflow", timeout=10_000)
            assert page.locator("#workflow").count() == 1
        finally:
            chromium.close()


def test_a_renamed_task_keeps_its_page_and_its_card(tmp_path):
    """An entry's preview card is a published URL too (forums keep previews): renaming a
    task's id redirects its page and serves its new card at the old card's URL."""
    project = no_gallery_project(tmp_path, tmp_path / "cache")
    cat = project / "catalog.yml"
    text = cat.read_text(encoding="utf-8")
    assert "id: image-deblurring\n" in text
    cat.write_text(text.replace("image-deblurring", "deblurring"), encoding="utf-8")
    build = mkdocs_build(project, env=PUBLISHING)
    assert build.returncode == 0, build.output
    head = Head((build.site / "tasks/image-deblurring/index.html").read_text(encoding="utf-8"))
    assert head.refresh == "0; url=../deblurring/"
    cards = build.site / "assets/modelkb/cards/tasks"
    old = (cards / "image-deblurring.png").read_bytes()
    new = (cards / "deblurring.png").read_bytes()
    assert old == new and old[:4] == b"\x89PNG"
    site_card = (build.site / "assets/modelkb/cards/site.png").read_bytes()
    assert new != site_card  # the task's own card, not the site's
    lines = (project / RECORD).read_text(encoding="utf-8").splitlines()
    assert any(re.fullmatch(r"/assets/modelkb/cards/tasks/image-deblurring\.png\ttask-card\t"
                            r"deblurring\t[0-9a-f]{12}", x) for x in lines)


def test_mkdocs_serve_serves_the_redirects_and_never_writes_the_record(tmp_path, shared_cache):
    """A preview keeps old URLs working too, but the names typed while editing a slug never
    become published URLs: `mkdocs serve` leaves the record alone."""
    project = no_gallery_project(tmp_path, shared_cache)
    edit(project, f"  - slug: {SEED_SLUG}\n", f"  - slug: {NEW_SLUG}\n")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mkdocs", "serve", "--no-livereload", "-a", f"127.0.0.1:{port}"],
        cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    try:
        page = b""
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/answers/{SEED_SLUG}/",
                                            timeout=5) as response:
                    page = response.read()
                break
            except OSError:
                assert server.poll() is None, "mkdocs serve stopped"
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert Head(page.decode("utf-8")).refresh == f"0; url=../{NEW_SLUG}/"
    assert (project / RECORD).read_bytes() == (ROOT / RECORD).read_bytes()


def test_removing_a_model_needs_a_retired_entry(tmp_path, shared_cache):
    project = no_gallery_project(tmp_path, shared_cache)
    extra = ("  - id: old-deblurrer\n    name: Old Deblurrer\n    task: image-deblurring\n"
             "    summary: A model the catalog once listed.\n")
    edit(project, "\npapers:\n", "\n" + extra + "\npapers:\n")
    first = mkdocs_build(project, env=PUBLISHING)
    assert first.returncode == 0, first.output
    record = project / RECORD
    recorded = record.read_bytes()
    assert b"/models/old-deblurrer/\tmodel\told-deblurrer\t" in recorded

    edit(project, extra, "")
    failed = mkdocs_build(project)
    assert failed.returncode == 1
    assert ("catalog.yml: /models/old-deblurrer/ (and /assets/modelkb/cards/models/"
            "old-deblurrer.png) was published") in failed.output  # its card too
    assert "'previous: [old-deblurrer]'" in failed.output
    assert "list it under 'retired:' in catalog.yml (- url: /models/old-deblurrer/" \
        in failed.output
    assert "Traceback" not in failed.output
    assert record.read_bytes() == recorded  # a failed build leaves the record as it was

    text = (project / "catalog.yml").read_text(encoding="utf-8")
    line = text.count("\n") + 4  # of the first retired entry's redirect
    (project / "catalog.yml").write_text(
        text + "\nretired:\n  - url: /models/old-deblurrer/\n    redirect: /models/nowhere/\n"
        "  - url: /models/deblur-mssnet-realblurj/\n", encoding="utf-8")
    wrong = mkdocs_build(project)
    assert wrong.returncode == 1
    assert (f"catalog.yml:{line}:15: the retired URL /models/old-deblurrer/ redirects to "
            "/models/nowhere/, which is not a page of this site") in wrong.output
    assert (f"catalog.yml:{line + 1}:10: the retired URL /models/deblur-mssnet-realblurj/ is "
            "a page of this build (remove this retired entry") in wrong.output

    (project / "catalog.yml").write_text(
        text + "\nretired:\n  - url: /models/old-deblurrer/\n"
        "    note: Its authors withdrew it.\n", encoding="utf-8")
    build = mkdocs_build(project)
    assert build.returncode == 0, build.output
    server = Served(build.site)
    try:
        status, body = server.get("/models/old-deblurrer/")
    finally:
        server.close()
    html = body.decode("utf-8")
    assert status == 200 and "Page removed" in html and "Its authors withdrew it." in html
    assert Head(html).robots == "noindex"
    assert "old-deblurrer" not in (build.site / "sitemap.xml").read_text(encoding="utf-8")
    search = (build.site / "search" / "search_index.json").read_text(encoding="utf-8")
    assert "old-deblurrer" not in search
    assert record.read_bytes() == recorded  # the URL stays recorded; nothing new


def test_a_changed_question_with_a_new_slug_needs_previous(tmp_path, shared_cache):
    """A rename is recognised by the unchanged question; when both change, the build names
    the URL and the fix, and ``previous:`` ties the old URL to the answer."""
    project = no_gallery_project(tmp_path, shared_cache)
    edit(project, f"  - slug: {SEED_SLUG}\n", f"  - slug: {NEW_SLUG}\n")
    edit(project, "I doubled the size", "I enlarged")
    failed = mkdocs_build(project)
    assert failed.returncode == 1
    assert (f"catalog.yml: /answers/{SEED_SLUG}/ (and /answers/{SEED_SLUG}.md, "
            f"/assets/modelkb/cards/{SEED_SLUG}.png) was published") in failed.output
    assert f"add 'previous: [{SEED_SLUG}]' to the answer it became" in failed.output
    edit(project, f"  - slug: {NEW_SLUG}\n",
         f"  - slug: {NEW_SLUG}\n    previous: [{SEED_SLUG}]\n")
    build = mkdocs_build(project)
    assert build.returncode == 0, build.output
    head = Head(build.page(f"answers/{SEED_SLUG}"))
    assert head.refresh == f"0; url=../{NEW_SLUG}/"


def test_retired_and_previous_entries_are_checked_with_their_lines(tmp_path):
    from modelkb.catalog import CatalogError, load_catalog

    cat = tmp_path / "catalog.yml"
    cat.write_text(
        "tasks:\n"
        "  - id: t\n    name: T\n    previous: [t]\n"  # line 4: its own id
        "retired:\n"
        "  - url: answers/x/\n"  # line 6: no leading '/'
        "  - url: /a/\n    redirect: /a/\n"  # line 8: to itself
        "  - url: /b/\n    redirect: /c/\n    note: gone\n"  # line 11: both
        "  - url: /d/../e/\n"  # line 12
        "  - url: /\n", encoding="utf-8")  # line 13: the home page
    with pytest.raises(CatalogError) as exc:
        load_catalog(cat)
    text = str(exc.value)
    assert "catalog.yml:4:16: previous id 't' is the id of an entry in tasks" in text
    assert "catalog.yml:6:10: 'url' must be a URL of this site" in text
    assert "catalog.yml:8:15: a retired URL cannot redirect to itself" in text
    assert "catalog.yml:11:11: 'note' is shown only on a page that says" in text
    assert "catalog.yml:12:10: 'url' must be a URL of this site" in text
    assert "catalog.yml:13:10: the home page cannot be retired" in text
    assert "https://" not in text and text.startswith("6 problems")


def test_section_and_photo_anchors_are_stable(published_build):
    """Forum links point at an answer's sections and at single photos: their ids are part
    of the published URLs."""
    answer = Head(published_build.page(f"answers/{SEED_SLUG}"))
    assert {"task", "workflow", "references", "photo-portrait"} <= answer.ids
    assert "photo-portrait" in Head(published_build.page("gallery")).ids


def test_every_page_kind_is_recorded_with_its_pages_and_cards() -> None:
    """Each kind of the page-kinds table (modelkb.catalog.kinds) reaches published-urls.txt:
    its entries' pages and preview cards, as a build generates them (pages.build_pages,
    publish.page_cards) and records them (permalinks.current_urls). A kind added to the
    table alone is recorded; the test catalog must hold an entry of every kind."""
    from mkdocs.structure.files import File, Files

    from modelkb.catalog import Tool, load_catalog, validate_entry
    from modelkb.catalog.kinds import ANSWERS, PAGE_KINDS
    from modelkb.site import publish
    from modelkb.site.gallery_pages import GalleryView
    from modelkb.site.pages import build_pages
    from modelkb.site.permalinks import EXPORT, current_urls
    from modelkb.site.urls import Urls

    catalog = load_catalog(ROOT / "catalog.yml")
    catalog.tools["pillow"] = validate_entry(Tool, {
        "id": "pillow", "name": "Pillow", "link": "https://python-pillow.org/"})
    missing = [k.kind for k in PAGE_KINDS.values() if not getattr(catalog, k.kind)]
    assert not missing, f"add an entry of each kind to this test's catalog: {missing}"
    urls = Urls()
    pub = publish.Publication(GalleryView(catalog, None, urls), urls=urls)
    paths = [*build_pages(catalog), *(c.path for c in publish.page_cards(pub).values())]
    files = Files([File(p, "/docs", "/site", True) for p in paths])
    recorded = current_urls(catalog, files, urls).values()
    by_kind: dict[str, set[str]] = {}
    for published in recorded:
        by_kind.setdefault(published.kind, set()).add(published.key)
    for kind in PAGE_KINDS.values():
        keys = set(getattr(catalog, kind.kind))
        if kind is ANSWERS:
            keys = {q.slug for q in catalog.published_questions()}
        assert by_kind.get(kind.record) == keys, kind
        assert by_kind.get(kind.card) == keys, kind
        assert f"/{kind.folder}/" in {p.url for p in recorded}, kind  # its index page
    assert by_kind[EXPORT] == by_kind[ANSWERS.record]
    assert all(p.fingerprint != "-" for p in recorded if p.kind != "page")
