"""A built answer page in a real, headless Chromium (driven by Playwright over DevTools).

Checks what only a browser can: no console errors, no request leaving 127.0.0.1, every image
decoded and sized, the comparison viewer (width, divider, views, zoom and pan with mouse and
keyboard, the view without JavaScript), the copy buttons, the phone layout, the page's
weight. Screenshots go to test-artifacts/ (git-ignored). Skips only when no Chromium is
installed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from test_publish import SITE_URL
from test_site import SEED_SLUG

from conftest import ROOT

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
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (install the "
                                 "'chromium' package or set $CHROMIUM); browser tests skipped")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_site(site: Path) -> Iterator[str]:
    """A built site served by `python -m http.server` on 127.0.0.1: its base URL, once it
    answers."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                               "127.0.0.1", "--directory", str(site)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base, timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def served(published_build):
    """The built site (conftest's, shared) served on 127.0.0.1."""
    with serve_site(published_build.site) as base:
        yield base, published_build


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
        const shown = [...document.images].filter(img => img.getClientRects().length
                                                   && !img.closest('details:not([open])'));
        for (const img of shown) {
            img.scrollIntoView();
            await new Promise(r => requestAnimationFrame(r));
        }
        await Promise.all(shown.map(img => Promise.race([
            img.decode().catch(() => null), new Promise(r => setTimeout(r, 5000))])));
        window.scrollTo(0, 0);
    }""")
    # Hidden images (the side-by-side views the viewer replaces, the crops of a closed
    # block) are never fetched.
    return page.evaluate("""() => [...document.images].filter(img => img.getClientRects().length
            && !img.closest('details:not([open])'))
        .map(img => ({src: img.currentSrc || img.src, complete: img.complete,
                      width: img.naturalWidth}))""")


VIEWER = "[data-mkb-viewer]:not(.mkb-viewer--lead)"  # a photo's viewer in section 2 (a wipe)
STAGE = f"{VIEWER} .mkb-viewer__stage"
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
PAGE_BUDGET = 1_200_000  # bytes: the answer page with everything it loads


def slider_pos(page) -> float:
    value = page.eval_on_selector(STAGE, "f => f.style.getPropertyValue('--mkb-pos')")
    return float(str(value).strip().rstrip("%"))


def zoom(page) -> float:
    return float(page.eval_on_selector(VIEWER, "f => f.dataset.zoom"))


def unsized_images(page) -> list[str]:
    """Images without width and height attributes (they make the page jump as they load)."""
    return page.evaluate("""() => [...document.images]
        .filter(i => !i.getAttribute('width') || !i.getAttribute('height'))
        .map(i => i.getAttribute('src'))""")


def loaded_bytes(page) -> int:
    """Bytes the page and everything it loaded took (the server sends them uncompressed)."""
    return page.evaluate("""() => performance.getEntriesByType('navigation')
        .concat(performance.getEntriesByType('resource'))
        .reduce((n, e) => n + (e.transferSize || e.encodedBodySize || 0), 0)""")


def clipboard(page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def test_answer_page_in_a_real_browser(served, browser):
    base, build = served
    path = f"answers/{SEED_SLUG}/"
    ARTIFACTS.mkdir(exist_ok=True)
    context, page, watch = open_page(browser, base, path, viewport=DESKTOP)
    try:
        images = load_all_images(page)
        assert images, "the answer page shows no image"
        broken = [i["src"] for i in images if not i["complete"] or i["width"] == 0]
        assert not broken, f"images that did not load: {broken}"
        assert any("gallery/portrait/" in i["src"] for i in images)
        assert not [i for i in images if "crop-" in i["src"]]  # collapsed: not fetched
        weight = loaded_bytes(page)
        assert 0 < weight < PAGE_BUDGET, f"the answer page loads {weight} bytes"
        page.eval_on_selector_all("details.mkb-more", "ds => ds.forEach(d => d.open = true)")
        images = load_all_images(page)
        broken = [i["src"] for i in images if not i["complete"] or i["width"] == 0]
        assert not broken and any("crop-auto-output" in i["src"] for i in images), broken
        page.eval_on_selector_all("details.mkb-more", "ds => ds.forEach(d => d.open = false)")
        assert not unsized_images(page), unsized_images(page)

        # The viewer spans the article (Material's figures would cap it at 480 px).
        widths = page.evaluate("""() => ({
            stage: document.querySelector('.mkb-viewer__stage').getBoundingClientRect().width,
            article: document.querySelector('article.md-typeset').getBoundingClientRect().width,
        })""")
        article = widths["article"]
        assert widths["stage"] >= 0.9 * article, widths

        # Without JavaScript's help nothing is hidden: the side-by-side views are replaced.
        assert page.locator(f"{VIEWER} .mkb-viewer__views").first.is_hidden()
        page.locator(STAGE).first.scroll_into_view_if_needed()

        # The divider, from the keyboard: focus the handle, press ArrowRight and End.
        handle = page.locator(f"{VIEWER} .mkb-viewer__handle").first
        assert handle.get_attribute("role") == "slider"
        start = slider_pos(page)
        handle.focus()
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        assert slider_pos(page) == pytest.approx(start + 10)
        assert handle.get_attribute("aria-valuenow") == str(round(start + 10))
        page.keyboard.press("Home")
        assert slider_pos(page) == 0

        # ...and with a mouse drag across the frame, from 20 % to 80 % of its width.
        stage = page.locator(STAGE).first
        box = stage.bounding_box()
        assert box and box["width"] > 50
        y = box["y"] + box["height"] * 0.4
        page.mouse.move(box["x"] + box["width"] * 0.2, y)
        page.mouse.down()
        assert abs(slider_pos(page) - 20) < 3
        page.mouse.move(box["x"] + box["width"] * 0.8, y, steps=8)
        page.mouse.up()
        assert abs(slider_pos(page) - 80) < 3

        # Views: the right side shows the sharp original, then the heat map with its legend.
        right = page.locator(f"{VIEWER} .mkb-viewer__layer--right img").first
        assert right.get_attribute("src").endswith("output.webp")
        page.select_option(f"{VIEWER} select[data-side=right]", "reference")
        assert right.get_attribute("src").endswith("reference.webp")
        assert page.locator(f"{VIEWER} .mkb-viewer__tag--right").first.inner_text() \
            == "Sharp original"
        assert page.locator(f"{VIEWER} .mkb-legend").first.is_hidden()
        page.select_option(f"{VIEWER} select[data-side=left]", "diff")
        left = page.locator(f"{VIEWER} .mkb-viewer__layer--left img").first
        assert left.get_attribute("src").endswith("diff.webp")
        assert page.locator(f"{VIEWER} .mkb-legend").first.is_visible()
        page.wait_for_function("""() => [...document.querySelectorAll(
            '.mkb-viewer__layer img')].every(i => i.complete && i.naturalWidth > 0)""")
        page.select_option(f"{VIEWER} select[data-side=left]", "baseline")
        page.select_option(f"{VIEWER} select[data-side=right]", "output")

        # Zoom: keyboard (+, 0), the 1:1 button, Ctrl + wheel, double-click; pan by dragging.
        assert zoom(page) == pytest.approx(1)
        stage.focus()
        page.keyboard.press("+")
        assert zoom(page) == pytest.approx(1.5)
        page.keyboard.press("0")
        assert zoom(page) == pytest.approx(1)
        page.locator(f"{VIEWER} button[data-action=one]").first.click()
        one = zoom(page)
        full_width = int(page.eval_on_selector(VIEWER, "f => f.dataset.fullWidth"))
        assert one == pytest.approx(max(1, full_width / box["width"]), rel=0.02)
        page.locator(f"{VIEWER} button[data-action=fit]").first.click()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.keyboard.down("Control")
        page.mouse.wheel(0, -400)
        page.keyboard.up("Control")
        page.wait_for_function(f"Number(document.querySelector('{VIEWER}')"
                               ".dataset.zoom) > 1.5")
        transforms = page.eval_on_selector_all(
            f"{VIEWER} .mkb-viewer__canvas", "cs => cs.map(c => c.style.transform)")
        assert len(set(transforms)) == 1, f"the two views are not in step: {transforms}"
        before_pan = transforms[0]
        page.mouse.move(box["x"] + box["width"] * 0.3, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, y + 20, steps=5)
        page.mouse.up()
        after_pan = page.eval_on_selector_all(
            f"{VIEWER} .mkb-viewer__canvas", "cs => cs.map(c => c.style.transform)")
        assert after_pan[0] != before_pan and after_pan[0] == after_pan[1]
        page.keyboard.press("0")
        page.mouse.dblclick(box["x"] + box["width"] / 2, y)
        assert zoom(page) == pytest.approx(one, rel=0.02)
        page.keyboard.press("0")

        # Side by side: two panes of one size, the same region in each, zoomed together.
        page.locator(f"{VIEWER} button[data-action=side]").first.click()
        assert page.eval_on_selector(VIEWER, "f => f.dataset.mode") == "side"
        assert page.locator(f"{VIEWER} .mkb-viewer__divider").first.is_hidden()
        panes = page.eval_on_selector_all(f"{VIEWER} .mkb-viewer__layer", """ls => ls.map(l => {
            const b = l.getBoundingClientRect(); return [b.x, b.width, b.height]; })""")
        assert panes[0][1] == pytest.approx(panes[1][1]) and panes[0][0] > panes[1][0]
        assert panes[0][1] < box["width"] / 2
        stage.focus()
        page.keyboard.press("+")
        sides = page.eval_on_selector_all(
            f"{VIEWER} .mkb-viewer__canvas", "cs => cs.map(c => c.style.transform)")
        assert len(set(sides)) == 1 and zoom(page) == pytest.approx(1.5)
        page.locator(f"{VIEWER} button[data-action=wipe]").first.click()
        page.keyboard.press("0")

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

        # The menu shows where this page belongs.
        assert page.locator(".md-nav__item--active > .md-nav__link",
                            has_text="Answers").count() >= 1

        page.screenshot(path=str(ARTIFACTS / "answer-desktop.png"), full_page=True)
        page.locator(VIEWER).first.screenshot(path=str(ARTIFACTS / "viewer-desktop.png"))
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
        browser, base, f"answers/{SEED_SLUG}/", viewport=PHONE,
        device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        images = load_all_images(page)
        assert all(i["complete"] and i["width"] > 0 for i in images)
        assert not unsized_images(page)
        widths = page.evaluate("""() => ({doc: document.documentElement.scrollWidth,
            body: document.body.scrollWidth, view: window.innerWidth})""")
        assert widths["doc"] <= widths["view"] and widths["body"] <= widths["view"], widths
        stage = page.locator(STAGE).first.bounding_box()
        assert stage and stage["x"] >= 0 and stage["x"] + stage["width"] <= PHONE["width"]
        assert stage["width"] >= PHONE["width"] * 0.85
        assert page.locator("h2#workflow button.mkb-copy--link").is_visible()

        # The viewer on a phone: its controls under the picture, every one at least 44 px
        # square, both views named in full, the zoom shown; the lead opens at Fit with the
        # region of the largest change outlined (not at 1:1 on a sliver of the photo).
        bar = page.locator(f"{VIEWER} .mkb-viewer__bar").first.bounding_box()
        assert bar["y"] >= stage["y"] + stage["height"] - 1, (bar, stage)
        controls = page.eval_on_selector_all(
            f"{VIEWER} .mkb-viewer__bar :is(button, select, a)", """els => els.map(e => {
                const b = e.getBoundingClientRect(); return [e.textContent.trim().slice(0, 20),
                                                             b.width, b.height]; })""")
        small = [c for c in controls if c[1] < 44 or c[2] < 44]
        assert controls and not small, small
        picks = page.eval_on_selector_all(f"{VIEWER} select", "ss => ss.map(s => s.offsetWidth)")
        assert min(picks) >= 140, picks  # "Model + resize" and "Sharp original" in full
        assert page.locator(f"{VIEWER} .mkb-viewer__readout").first.is_visible()
        lead = page.locator(".mkb-viewer--lead").first
        if lead.get_attribute("data-focus"):
            assert float(lead.get_attribute("data-zoom")) == pytest.approx(1)
            assert lead.locator(".mkb-viewer__focus").first.is_visible()
        page.screenshot(path=str(ARTIFACTS / "answer-phone.png"), full_page=True)
        assert not watch.errors, f"console errors: {watch.errors}"
        outside = [u for u in watch.requests
                   if not u.startswith("data:") and urlsplit(u).hostname != "127.0.0.1"]
        assert not outside, outside
    finally:
        context.close()


def test_viewer_without_javascript_shows_the_views_side_by_side(served, browser):
    base, _ = served
    context, page, _ = open_page(browser, base, f"answers/{SEED_SLUG}/", viewport=DESKTOP,
                                 java_script_enabled=False)
    try:
        views = page.locator(f"{VIEWER} .mkb-viewer__view")
        assert views.count() >= 4  # resize only, model + resize, input, sharp original, diff
        labels = [views.nth(i).locator("figcaption strong").inner_text()
                  for i in range(views.count())]
        assert labels[:2] == ["Resize only", "Model + resize"]
        assert "Sharp original" in labels
        boxes = [views.nth(i).bounding_box() for i in range(2)]
        assert boxes[0]["y"] == pytest.approx(boxes[1]["y"]) and boxes[1]["x"] > boxes[0]["x"]
        caption = page.locator(f"{VIEWER} .mkb-viewer__caption").first.inner_text()
        assert "drag" not in caption.lower() and "side by side" in caption
        assert page.locator(STAGE).count() == 0
        page.locator(VIEWER).first.scroll_into_view_if_needed()
        page.locator(VIEWER).first.screenshot(path=str(ARTIFACTS / "viewer-nojs.png"))
    finally:
        context.close()


def test_home_page_shows_each_answers_photos(served, browser):
    base, _ = served
    context, page, watch = open_page(browser, base, "", viewport=DESKTOP)
    try:
        strip = page.locator(".mkb-pairs a")
        assert strip.count() >= 1
        href = strip.first.get_attribute("href")
        assert href.startswith(f"answers/{SEED_SLUG}/#photo-")
        assert not unsized_images(page)
        menu = page.locator(".md-sidebar--primary .md-nav__item").all_inner_texts()
        assert not [m for m in menu if m.strip() == "Tools"], menu
        page.screenshot(path=str(ARTIFACTS / "home-desktop.png"), full_page=True)
        strip.first.click()
        page.wait_for_url(f"**/answers/{SEED_SLUG}/#photo-*")
        assert not watch.errors, watch.errors
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


SHARED = "[data-mkb-viewer][data-share]:not(.mkb-viewer--lead)"
STATE = """f => ({left: f.dataset.left, right: f.dataset.right, mode: f.dataset.mode,
                  scale: f.dataset.scale, center: f.dataset.center})"""


def test_a_shared_view_opens_exactly_where_it_was(served, browser):
    """'Link to this view' holds the photo's anchor, views, layout, zoom and centre; opening
    it restores them in that viewer and scrolls there. Side by side, + zooms about the
    centre of the view (it drifted to the left pane's edge)."""
    base, _build = served
    path = f"answers/{SEED_SLUG}/"
    context, page, watch = open_page(browser, base, path, viewport=DESKTOP)
    try:
        viewer = page.locator(SHARED).first
        viewer.scroll_into_view_if_needed()
        viewer.locator("button[data-action=side]").click()
        full = page.eval_on_selector(SHARED, "f => [f.dataset.fullWidth, f.dataset.fullHeight]")
        centre = f"{round(int(full[0]) / 2)},{round(int(full[1]) / 2)}"
        viewer.locator(".mkb-viewer__stage").focus()
        for _ in range(3):
            page.keyboard.press("+")
            assert page.eval_on_selector(SHARED, "f => f.dataset.center") == centre
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowDown")
        page.select_option(f"{SHARED} select[data-side=left]", "input")
        page.select_option(f"{SHARED} select[data-side=right]", "reference")
        state = page.eval_on_selector(SHARED, STATE)
        assert state["mode"] == "side" and state["center"] != centre
        link = viewer.locator("a.mkb-viewer__share")
        href = link.get_attribute("href")
        share = page.eval_on_selector(SHARED, "f => f.dataset.share")
        assert href.startswith(f"{SITE_URL}{path}#{share}?view=input,reference&mode=side&z=")
        link.click()
        assert clipboard(page) == href
    finally:
        context.close()

    context, page, watch = open_page(browser, base, path + "#" + href.split("#", 1)[1],
                                     viewport=DESKTOP)
    try:
        page.wait_for_function(f"document.querySelector('{SHARED}').dataset.mode === 'side'")
        assert page.eval_on_selector(SHARED, STATE) == state, href
        box = page.evaluate(f"""() => {{
            const b = document.querySelector('{SHARED} .mkb-viewer__stage')
                .getBoundingClientRect();
            return [b.top, b.bottom]; }}""")
        assert 0 <= box[0] and box[1] <= DESKTOP["height"], box  # scrolled to the photo
        lead = page.eval_on_selector(".mkb-viewer--lead", STATE)
        assert lead["left"] == "baseline"  # only the viewer after the anchor follows the link
        assert not watch.errors, watch.errors
    finally:
        context.close()


def test_the_answer_page_does_not_shift_as_it_loads(served, browser):
    """Nothing a script adds (the "Copy as Markdown" row, the viewer) moves what is already
    shown: the layout shift score stays at most 0.02, and the lead picture loads first."""
    base, _ = served
    for viewport in (DESKTOP, PHONE):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        page.add_init_script("""window.__shifts = 0;
            new PerformanceObserver(list => list.getEntries().forEach(e => {
                if (!e.hadRecentInput) window.__shifts += e.value; }))
                .observe({type: 'layout-shift', buffered: true});""")
        try:
            page.goto(base + f"answers/{SEED_SLUG}/", wait_until="networkidle")
            page.wait_for_timeout(300)
            assert page.locator("p.mkb-export button.mkb-copy--markdown").count() == 1
            assert page.evaluate("window.__shifts") <= 0.02, (viewport, page.evaluate(
                "window.__shifts"))
            lead = page.eval_on_selector_all(".mkb-viewer--lead .mkb-viewer__layer img",
                                             "is => is.map(i => [i.loading, i.fetchPriority])")
            assert lead and all(x == ["eager", "high"] for x in lead), lead
        finally:
            context.close()


AXE = ROOT / ".test-tools" / "node_modules" / "axe-core" / "axe.min.js"
AXE_PAGES = ["", f"answers/{SEED_SLUG}/", "answers/", "models/deblur-mssnet-realblurj/",
             "papers/2401.00261/", "tasks/image-deblurring/", "gallery/"]


@pytest.mark.skipif(not AXE.is_file(), reason="axe-core not installed: run npm install "
                    "--prefix .test-tools axe-core@4.14.1 (.ci/run does)")
def test_no_serious_accessibility_violation_on_any_page_type(served, browser):
    """axe-core (injected into the built pages) finds no serious or critical violation on
    any page type, at desktop and phone sizes."""
    base, _ = served
    axe = AXE.read_text(encoding="utf-8")
    found = []
    for viewport in (DESKTOP, PHONE):
        context = browser.new_context(viewport=viewport)
        try:
            for path in AXE_PAGES:
                page = context.new_page()
                page.goto(base + path, wait_until="networkidle")
                page.add_script_tag(content=axe)
                violations = page.evaluate("""async () => (await axe.run(document,
                    {resultTypes: ['violations']})).violations
                    .filter(v => v.impact === 'serious' || v.impact === 'critical')
                    .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))""")
                found += [f"{viewport['width']}px /{path}: {v}" for v in violations]
                page.close()
        finally:
            context.close()
    assert not found, "\n".join(found)
