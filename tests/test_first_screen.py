"""What a visitor sees first on the shipped seed answer, in a real Chromium (Playwright):
the page's height, the first-screen before/after viewer (its frame and controls inside the
first 900 px, opened at 1:1 on the region the gallery recorded, its side-by-side panes in
step), and on a touch screen a vertical swipe that scrolls the page without moving the
divider. Builds the shipped project with its six gallery photos (computed on first use;
warm when the checkout has a filled ``.cache/modelkb``). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest
from test_browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    open_page,
    serve_site,
)
from test_site import SEED_SLUG

from conftest import ROOT, copy_project, mkdocs_build

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (install the "
                                 "'chromium' package or set $CHROMIUM); browser tests skipped")]

PAGE = f"answers/{SEED_SLUG}/"
MAX_DESKTOP_HEIGHT = 9_000  # px at 1400x900 (13,550 before the answer page led with its result)
MAX_PHONE_HEIGHT = 16_000  # px at 390x844 (about 20,000 before)
LEAD = "[data-mkb-viewer].mkb-viewer--lead"


@pytest.fixture(scope="module")
def seed_site(tmp_path_factory, shared_cache):
    """The shipped project built as is, served on 127.0.0.1."""
    warm = ROOT / ".cache" / "modelkb"
    if warm.is_dir():  # content-addressed entries: reused only where their keys match
        shutil.copytree(warm, shared_cache, dirs_exist_ok=True)
    build = mkdocs_build(copy_project(tmp_path_factory.mktemp("first") / "project",
                                      shared_cache))
    assert build.returncode == 0, build.output
    with serve_site(build.site) as base:
        yield base, build


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def focus_records(build) -> dict[str, dict]:
    """The recorded focus of each published gallery photo, by entry id."""
    return {p.parent.name: json.loads(p.read_text(encoding="utf-8"))["focus"]
            for p in (build.site / "gallery").glob("*/metrics.json")}


def viewers_ready(page) -> None:
    """Wait until modelkb.js has set up every viewer (the page's height depends on it)."""
    page.wait_for_function("""() => [...document.querySelectorAll('[data-mkb-viewer]')]
        .every(f => f.dataset.mkbReady && f.dataset.scale)""")


def lead_state(page) -> dict:
    return page.eval_on_selector(LEAD, """f => ({
        scale: Number(f.dataset.scale), zoom: Number(f.dataset.zoom), mode: f.dataset.mode,
        center: f.dataset.center.split(',').map(Number), focus: f.dataset.focus,
        src: f.querySelector('.mkb-viewer__layer--right img').getAttribute('src'),
        left: f.querySelector('.mkb-viewer__layer--left img').getAttribute('src'),
        pos: parseFloat(f.querySelector('.mkb-viewer__stage').style.getPropertyValue('--mkb-pos')),
        transforms: [...f.querySelectorAll('.mkb-viewer__canvas')].map(c => c.style.transform),
        panes: [...f.querySelectorAll('.mkb-viewer__layer')].map(l => {
            const b = l.getBoundingClientRect(); return {x: b.x, w: b.width, h: b.height}; }),
    })""")


def test_answer_page_leads_with_the_largest_change(seed_site, browser):
    base, build = seed_site
    ARTIFACTS.mkdir(exist_ok=True)
    context, page, watch = open_page(browser, base, PAGE, viewport=DESKTOP)
    try:
        viewers_ready(page)
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height <= MAX_DESKTOP_HEIGHT, f"the answer page is {height} px tall at 1400x900"

        # The first screen: the question, the answer, one viewer with its controls.
        h1 = page.locator("article h1").bounding_box()
        summary = page.locator("article h1 ~ p em").first.bounding_box()
        stage = page.locator(f"{LEAD} .mkb-viewer__stage").bounding_box()
        bar = page.locator(f"{LEAD} .mkb-viewer__bar").bounding_box()
        assert h1["y"] >= 0 and h1["y"] < summary["y"] < stage["y"], (h1, summary, stage)
        assert stage["width"] >= 500, stage
        # the controls sit right under the frame (never over the picture), on the first screen
        assert stage["x"] <= bar["x"] and bar["x"] + bar["width"] <= stage["x"] + stage["width"]
        assert stage["y"] + stage["height"] <= bar["y"] <= stage["y"] + stage["height"] + 12
        assert bar["y"] + bar["height"] <= DESKTOP["height"], (stage, bar)
        assert page.locator(LEAD).count() == 1
        assert page.locator(f"{LEAD} .mkb-viewer__btn[data-action=one]").is_visible()

        # Opened at 1:1, centred on the region recorded for the photo the model changed most,
        # the plain resize against the model's output, side by side.
        state = lead_state(page)
        records = focus_records(build)
        # never a photo the weights were trained on (the catalog's trained_on: building)
        import yaml
        data = yaml.safe_load((build.project / "catalog.yml").read_text(encoding="utf-8"))
        trained = {i for m in data["models"] for w in m.get("weights", [])
                   for i in w.get("trained_on", [])}
        assert trained == {"building"} and "building" in records
        lead_id = max((i for i in records if i not in trained), key=lambda i: records[i]["change"])
        assert f"gallery/{lead_id}/output.webp" in state["src"]
        assert state["left"].endswith(f"gallery/{lead_id}/baseline.webp")
        focus = records[lead_id]
        assert state["focus"] == f"{focus['x']},{focus['y']},{focus['width']},{focus['height']}"
        assert state["scale"] == pytest.approx(1), state
        assert state["center"] == pytest.approx([focus["x"] + focus["width"] / 2,
                                                 focus["y"] + focus["height"] / 2], abs=1)
        assert state["mode"] == "side"
        left, right = state["panes"]
        assert left["w"] == pytest.approx(right["w"]) and left["h"] == pytest.approx(right["h"])
        assert right["x"] + right["w"] <= left["x"] + 1  # the right layer is listed first
        assert len(set(state["transforms"])) == 1, state["transforms"]
        page.screenshot(path=str(ARTIFACTS / "first-screen-desktop.png"))

        # Side by side stays in step: zoom, pan (drag in the right pane), wipe and back.
        page.locator(f"{LEAD} button[data-action=in]").click()
        zoomed = lead_state(page)
        assert zoomed["scale"] == pytest.approx(1.5)
        assert len(set(zoomed["transforms"])) == 1
        x0 = stage["x"] + stage["width"] * 0.75
        y0 = stage["y"] + stage["height"] * 0.4
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x0 - 60, y0 - 30, steps=5)
        page.mouse.up()
        panned = lead_state(page)
        assert panned["center"] == pytest.approx([zoomed["center"][0] + 40,
                                                  zoomed["center"][1] + 20], abs=1.5)
        assert len(set(panned["transforms"])) == 1 and panned["transforms"] != zoomed["transforms"]
        page.locator(f"{LEAD} button[data-action=wipe]").click()
        wiped = lead_state(page)
        assert wiped["mode"] == "wipe" and wiped["center"] == panned["center"]
        assert wiped["panes"][0]["w"] == pytest.approx(stage["width"])
        page.locator(f"{LEAD} button[data-action=side]").click()
        assert lead_state(page)["mode"] == "side"

        # Each photo: a one-line result with the verdict, the table collapsed, a short label
        # with the weights' sha256 prefix; the stand-in explanation once.
        lines = page.locator("article .mkb-result__line").all_inner_texts()
        assert len(lines) == 7 and all("What the model did:" in t and " dB" in t
                                       for t in lines), lines
        details = page.locator("article details.mkb-more")
        assert details.count() == 6
        assert details.first.evaluate("d => !d.open")
        assert "What the model did" in details.first.text_content()  # in the closed block
        labels = page.locator("article .mkb-madeby").all_inner_texts()
        assert len(labels) == 7 and all("STAND-IN" in t.upper() and "sha256" in t
                                        for t in labels), labels
        text = page.locator("article").inner_text()
        assert text.count("own weights were not available") == 1
        page.screenshot(path=str(ARTIFACTS / "answer-seed-desktop.png"), full_page=True)
        assert not watch.errors, watch.errors
    finally:
        context.close()


def swipe(page, x: float, y: float, dx: float, dy: float, steps: int = 12) -> None:
    """A one-finger touch drag from (x, y) by (dx, dy), as touch events through Chromium's
    input pipeline (touch-action and scrolling apply as on a phone)."""
    session = page.context.new_cdp_session(page)

    def send(kind: str, points: list[dict]) -> None:
        session.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    send("touchStart", [{"x": x, "y": y}])
    for i in range(1, steps + 1):
        send("touchMove", [{"x": x + dx * i / steps, "y": y + dy * i / steps}])
        time.sleep(0.016)
    send("touchEnd", [])
    session.detach()
    time.sleep(0.3)  # the scroll's fling settles


def test_phone_vertical_swipe_scrolls_and_leaves_the_divider(seed_site, browser):
    base, _ = seed_site
    context, page, watch = open_page(browser, base, PAGE, viewport=PHONE,
                                     device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        viewers_ready(page)
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height <= MAX_PHONE_HEIGHT, f"the answer page is {height} px tall at 390x844"
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], widths
        page.screenshot(path=str(ARTIFACTS / "first-screen-phone.png"))
        page.locator(f"{LEAD} .mkb-viewer__stage").scroll_into_view_if_needed()
        page.evaluate("window.scrollBy(0, -80)")
        state = lead_state(page)
        # a phone opens the whole photo (Fit) with the region of the largest change outlined
        assert state["mode"] == "wipe" and state["zoom"] == pytest.approx(1), state
        assert page.locator(f"{LEAD} .mkb-viewer__focus").first.is_visible()
        handle = page.locator(f"{LEAD} .mkb-viewer__handle").bounding_box()
        x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2

        # A vertical swipe starting on the divider's handle scrolls the page, nothing else.
        before = page.evaluate("window.scrollY")
        swipe(page, x, y, 30, -250)
        after = lead_state(page)
        assert page.evaluate("window.scrollY") > before + 100
        assert after["pos"] == state["pos"], (state["pos"], after["pos"])
        assert after["transforms"] == state["transforms"]

        # A sideways drag on the handle moves the divider (the test can tell).
        page.locator(f"{LEAD} .mkb-viewer__stage").scroll_into_view_if_needed()
        handle = page.locator(f"{LEAD} .mkb-viewer__handle").bounding_box()
        x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
        swipe(page, x, y, -120, 0)
        assert lead_state(page)["pos"] < state["pos"] - 15
        # A tap on the outlined region shows it at 1:1.
        page.locator(f"{LEAD} .mkb-viewer__stage").scroll_into_view_if_needed()
        box = page.locator(f"{LEAD} .mkb-viewer__layer--right .mkb-viewer__focus").bounding_box()
        swipe(page, box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, 0, 0, steps=1)
        assert lead_state(page)["scale"] == pytest.approx(1)
        page.screenshot(path=str(ARTIFACTS / "viewer-phone.png"))
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(ARTIFACTS / "answer-seed-phone.png"), full_page=True)
        assert not watch.errors, watch.errors
    finally:
        context.close()


def test_pages_with_many_photos_explain_the_stand_in_weights_once(seed_site):
    """The answer and the gallery page show six stand-in pictures: each picture carries its
    short label, the paragraph explaining the stand-in weights appears once per page."""
    _, build = seed_site
    for page in (f"answers/{SEED_SLUG}", "gallery"):
        html = (build.site / page / "index.html").read_text(encoding="utf-8")
        assert html.count('class="mkb-standin"') == 1, page
        assert html.count('class="mkb-madeby') >= 6, page
