"""A built answer page in a real, headless Chromium (driven by Playwright over DevTools).

Checks what only a browser can: no console errors, no request leaving 127.0.0.1, every image
decoded, the before/after slider with keyboard and mouse, the copy buttons, the phone layout.
Screenshots go to test-artifacts/ (git-ignored). Skips only when no Chromium is installed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from test_publish import SITE_URL, publish_project
from test_site import SEED_SLUG

from conftest import ROOT, make_weights, mkdocs_build

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


def find_chromium() -> str | None:
    """A Chromium/Chrome executable: $CHROMIUM, else the usual names on PATH and in /usr/bin."""
    candidates = [os.environ.get("CHROMIUM", ""), "/usr/bin/chromium",
                  "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
    candidates += [shutil.which(n) or "" for n in ("chromium", "chromium-browser",
                                                   "google-chrome")]
    return next((c for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)),
                None)


CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (install the "
                                "'chromium' package or set $CHROMIUM); browser tests skipped")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The built site served by `python -m http.server` on 127.0.0.1 (a free port)."""
    folder = tmp_path_factory.mktemp("browser")
    project = publish_project(folder / "project", folder / "cache", make_weights(folder))
    build = mkdocs_build(project)
    assert build.returncode == 0, build.output
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                               "127.0.0.1", "--directory", str(build.site)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base, timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield base, build
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Watch:
    """Console errors, page errors and every requested URL of one page."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.failed: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("requestfailed", lambda r: self.failed.append(r.url))


def open_page(browser, base: str, path: str, **context_args):
    context = browser.new_context(**context_args)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base.rstrip("/"))
    page = context.new_page()
    watch = Watch(page)
    page.goto(base + path, wait_until="networkidle")
    return context, page, watch


def load_all_images(page) -> list[dict]:
    """Scroll every image into view (they load lazily), then report each one's state."""
    page.evaluate("""async () => {
        for (const img of document.images) { img.scrollIntoView(); }
        await Promise.all([...document.images].map(img => img.decode().catch(() => null)));
        window.scrollTo(0, 0);
    }""")
    return page.evaluate("""() => [...document.images].map(img => ({
        src: img.currentSrc || img.src, complete: img.complete, width: img.naturalWidth}))""")


def slider_pos(page) -> float:
    value = page.eval_on_selector(
        "[data-mkb-compare] .mkb-compare__frame",
        "f => getComputedStyle(f).getPropertyValue('--mkb-pos') || f.style.getPropertyValue("
        "'--mkb-pos')")
    return float(str(value).strip().rstrip("%"))


def clipboard(page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def test_answer_page_in_a_real_browser(served, browser):
    base, build = served
    path = f"answers/{SEED_SLUG}/"
    ARTIFACTS.mkdir(exist_ok=True)
    context, page, watch = open_page(browser, base, path,
                                     viewport={"width": 1280, "height": 900})
    try:
        images = load_all_images(page)
        assert images, "the answer page shows no image"
        broken = [i["src"] for i in images if not i["complete"] or i["width"] == 0]
        assert not broken, f"images that did not load: {broken}"
        assert any("gallery/portrait/" in i["src"] for i in images)

        # The slider, with the keyboard: focus the range input and press ArrowRight.
        page.locator("[data-mkb-compare] .mkb-compare__range").first.scroll_into_view_if_needed()
        start = slider_pos(page)
        page.focus("[data-mkb-compare] .mkb-compare__range")
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        assert slider_pos(page) > start

        # ...and with a mouse drag across the frame, from 20 % to 80 % of its width.
        frame = page.locator("[data-mkb-compare] .mkb-compare__frame").first
        box = frame.bounding_box()
        assert box and box["width"] > 50
        y = box["y"] + box["height"] * 0.4
        page.mouse.move(box["x"] + box["width"] * 0.2, y)
        page.mouse.down()
        assert abs(slider_pos(page) - 20) < 3
        page.mouse.move(box["x"] + box["width"] * 0.8, y, steps=8)
        page.mouse.up()
        assert abs(slider_pos(page) - 80) < 3

        # Copy-link buttons: one per section, each copying the absolute URL with the anchor.
        canonical = page.eval_on_selector('link[rel="canonical"]', "l => l.href")
        assert canonical == f"{SITE_URL}{path}"
        for anchor in ("task", "workflow", "references"):
            button = page.locator(f"h2#{anchor} button.mkb-copy--link")
            assert button.count() == 1 and button.is_visible()
            button.click()
            assert clipboard(page) == f"{canonical}#{anchor}"
            page.wait_for_function(
                f"document.querySelector('h2#{anchor} .mkb-copy').textContent.includes('copied')")

        # Copy as Markdown: the clipboard holds exactly the published export.
        page.locator("button.mkb-copy--markdown").click()
        page.wait_for_function(
            "document.querySelector('.mkb-copy--markdown').textContent.includes('copied')")
        export = (build.site / "answers" / f"{SEED_SLUG}.md").read_text(encoding="utf-8")
        assert clipboard(page) == export

        page.screenshot(path=str(ARTIFACTS / "answer-desktop.png"), full_page=True)
        assert not watch.errors, f"console errors: {watch.errors}"
        assert not watch.failed, f"failed requests: {watch.failed}"
        outside = [u for u in watch.requests
                   if not u.startswith("data:") and urlsplit(u).hostname != "127.0.0.1"]
        assert not outside, f"requests that leave 127.0.0.1: {outside}"
    finally:
        context.close()


def test_answer_page_at_phone_width(served, browser):
    base, _ = served
    context, page, watch = open_page(
        browser, base, f"answers/{SEED_SLUG}/", viewport={"width": 375, "height": 812},
        device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        images = load_all_images(page)
        assert all(i["complete"] and i["width"] > 0 for i in images)
        widths = page.evaluate("""() => ({doc: document.documentElement.scrollWidth,
            body: document.body.scrollWidth, view: window.innerWidth})""")
        assert widths["doc"] <= widths["view"] and widths["body"] <= widths["view"], widths
        assert page.locator("h2#workflow button.mkb-copy--link").is_visible()
        page.screenshot(path=str(ARTIFACTS / "answer-phone.png"), full_page=True)
        assert not watch.errors, f"console errors: {watch.errors}"
        outside = [u for u in watch.requests
                   if not u.startswith("data:") and urlsplit(u).hostname != "127.0.0.1"]
        assert not outside, outside
    finally:
        context.close()


def test_404_page_offers_the_way_back(served, browser):
    base, _ = served
    context = browser.new_context()
    page = context.new_page()
    watch = Watch(page)
    try:
        response = page.goto(base + "404.html", wait_until="networkidle")
        assert response is not None and response.ok
        hrefs = page.eval_on_selector_all(".mkb-404 a", "as => as.map(a => a.textContent)")
        assert "Home page" in hrefs and "All answers" in hrefs
        assert not watch.errors, watch.errors
    finally:
        context.close()
