"""Model, task, home and gallery pages lead with the result, and each has its own card.

Built-HTML checks on the shared publishing build (conftest's ``published_build``: the shipped
project with one small gallery photo on the seed answer), plus the summary's wording on
records made here, and the text card's pixels.
"""

from __future__ import annotations

import html
import io
import json
import re
import shlex
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_browser import browser, served  # noqa: F401  (fixtures of the browser test)
from test_publish import head, site_file
from test_site import SEED_SLUG, Links, article

from modelkb.catalog import load_catalog
from modelkb.cli import build_parser
from modelkb.gallery.records import GalleryRecord
from modelkb.pixels.runrecord import (
    ColourScores,
    Metrics,
    ReferenceScores,
    Score,
    Sharpness,
    Size,
    SkinScores,
    Stats,
)
from modelkb.site import cards, figures
from modelkb.site.gallery_pages import (
    RUN_COMMAND,
    RUN_MANY_COMMAND,
    RUN_OPTIONS,
    RUN_WEIGHTS_COMMAND,
    ResultsSummary,
)

MODEL = "deblur-mssnet-realblurj"


@pytest.fixture(scope="module")
def site(published_build):
    return published_build  # built once per session (conftest); read-only


class Tags(HTMLParser):
    """Every start tag of a fragment with its attributes, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, {k: v or "" for k, v in attrs}))


def images(fragment: str) -> list[dict[str, str]]:
    parser = Tags()
    parser.feed(fragment)
    return [attrs for tag, attrs in parser.found if tag == "img"]


def text(fragment: str) -> str:
    """What a reader sees of an HTML fragment: tags dropped, entities decoded, one line."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def between(body: str, start_id: str, end_id: str | None) -> str:
    """The part of a page from the heading with ``start_id`` to the one with ``end_id``."""
    start = body.index(f'id="{start_id}"')
    return body[start:body.index(f'id="{end_id}"', start)] if end_id else body[start:]


def records(build) -> dict[str, GalleryRecord]:
    catalog = load_catalog(build.project / "catalog.yml")
    return {i: GalleryRecord.from_dict(json.loads(
        (build.site / "gallery" / i / "metrics.json").read_text(encoding="utf-8")))
        for i in catalog.gallery}


# -- the model page --------------------------------------------------------------------------

def test_model_page_shows_each_photo_before_and_after_from_the_built_site(site):
    body = article(site.page(f"models/{MODEL}"))
    results = between(body, "results-on-the-gallery", "run-it-on-your-photo")
    strip = re.search(r'<nav class="mkb-pairs".*?</nav>', results, re.S)
    assert strip, "the model page has no before/after strip"
    found = images(strip.group(0))
    ids = list(records(site))
    expected = [(i, role) for i in ids for role in ("thumb-input", "thumb-output")]
    assert len(found) == len(expected)
    here = site.site / "models" / MODEL
    for img, (entry_id, role) in zip(found, expected, strict=True):
        target = (here / img["src"]).resolve()
        assert target == (site.site / "gallery" / entry_id / f"{role}.webp").resolve()
        with Image.open(target) as picture:
            assert picture.size == (int(img["width"]), int(img["height"]))
    assert text(strip.group(0)).count("before") == len(ids)
    assert text(strip.group(0)).count("after") == len(ids)
    hrefs = re.findall(r'href="([^"]+)"', strip.group(0))
    assert hrefs == [f"../../gallery/#photo-{i}" for i in ids]
    gallery = site.page("gallery")
    assert all(f'id="photo-{i}"' in gallery for i in ids)


def test_model_page_summary_matches_the_gallery_records(site):
    results = text(between(article(site.page(f"models/{MODEL}")), "results-on-the-gallery",
                           "at-a-glance"))
    found = records(site)
    for record in found.values():
        ref, sharp = record.metrics.reference, record.metrics.sharpness
        assert f"{ref.input.psnr:.2f} → {ref.restored.psnr:.2f} dB ({ref.gain.psnr:+.2f})" \
            in results
        assert f"{sharp.input:.2f} → {sharp.restored:.2f}" in results
        finding = figures.skill_verdict(record).split(":")[0].split(" (")[0].rstrip(".")
        assert finding in results
        used = record.weights  # which weights made the pictures, named shortly
        assert f"{used.name} (sha256 {used.sha256[:12]})" in results
        assert ("stand-in" in results) == used.stand_in
    if len(found) == 1:
        (record,) = found.values()
        gain = record.metrics.reference.gain.psnr
        assert (f"On the one photo with a sharp original the output is {abs(gain):.2f} dB "
                f"{'closer to' if gain >= 0 else 'further from'} it than the input.") in results


def test_model_page_run_commands_are_accepted_by_modelkb_restore(site):
    body = article(site.page(f"models/{MODEL}"))
    run = between(body, "run-it-on-your-photo", "weights")
    codes = [text(c) for c in re.findall(r"<code[^>]*>(.*?)</code>", run, re.S)]
    commands = [c for c in codes if c.startswith("modelkb ") and "--help" not in c]
    assert RUN_COMMAND in commands and RUN_WEIGHTS_COMMAND in commands
    assert RUN_MANY_COMMAND in commands
    assert all(option in codes for option in RUN_OPTIONS)
    parser = build_parser()
    for command in commands + [f"{RUN_COMMAND} {option}" for option in RUN_OPTIONS]:
        args = parser.parse_args(shlex.split(command)[1:])
        assert args.command == "restore" and args.inputs and args.output
    with pytest.raises(SystemExit):  # the parser does refuse a wrong command
        parser.parse_args(["restore", "in.jpg"])
    # the bare command runs the shipped stand-in, and the page says so
    assert "mssnet-small weights (the stand-in), which come with modelkb" in text(run)


def test_model_page_weights_table_links_only_to_the_catalogs_urls(site):
    catalog = load_catalog(site.project / "catalog.yml")
    model = catalog.models[MODEL]
    weights = between(article(site.page(f"models/{MODEL}")), "weights", "cited-by")
    parser = Links()
    parser.feed(weights)
    outside = [h for h in parser.hrefs if re.match(r"^[a-z]+:", h)]
    assert model.code in outside  # the authors' checkpoint: from their code repository
    assert set(outside) <= catalog.urls()
    table = re.search(r"<table>.*?</table>", weights, re.S).group(0)
    rows = re.findall(r"<tr>.*?</tr>", table, re.S)[1:]
    used = {r.weights.sha256 for r in records(site).values()}
    assert len(rows) == len(model.weights) + len(
        used - {w.sha256 for w in model.weights if w.sha256})
    for w in model.weights:
        row = next(r for r in rows if html.escape(w.name, quote=True) in r or w.name in text(r))
        if w.sha256:
            assert w.sha256[:12] in row
    for sha in used:  # the weights this build ran are marked in the table
        row = next(r for r in rows if sha[:12] in r)
        assert text(row).endswith("yes")


# -- task pages ------------------------------------------------------------------------------

def test_task_page_lists_the_answer_whose_workflow_runs_its_model(site):
    """Image deblurring: the seed answer's task is super-resolution, but its workflow runs the
    deblurring model, so the deblurring page lists it (it said "None yet")."""
    catalog = load_catalog(site.project / "catalog.yml")
    assert catalog.questions[SEED_SLUG].task != catalog.models[MODEL].task
    body = article(site.page(f"tasks/{catalog.models[MODEL].task}"))
    answers = between(body, "answers", None)
    parser = Links()
    parser.feed(answers)
    assert f"../../answers/{SEED_SLUG}/" in parser.hrefs
    assert f"../../models/{MODEL}/" in parser.hrefs
    assert "None yet" not in text(answers) and "its workflow runs" in text(answers)
    index = article(site.page("tasks"))
    assert index.count(f'href="../answers/{SEED_SLUG}/"') == 2  # under both tasks
    # after its answers, the pictures its model made, before and after
    pictures = between(body, "what-its-models-did", None)
    found = images(re.search(r'<nav class="mkb-pairs".*?</nav>', pictures, re.S).group(0))
    assert len(found) == 2 * len(records(site))
    here = site.site / "tasks" / catalog.models[MODEL].task
    assert all((here / img["src"]).resolve().is_file() for img in found)


# -- the home page ---------------------------------------------------------------------------

def test_home_hero_shows_one_photo_before_and_after_and_what_the_site_holds(site):
    body = article(site.page(""))
    hero = re.search(r'<div class="mkb-hero">.*?</div>', body, re.S)
    assert hero and body.index(hero.group(0)) < body.index('id="what-the-models-did"')
    pair = images(hero.group(0))
    assert len(pair) == 2
    pixels = []
    for img in pair:
        target = site.site / img["src"]
        assert target.is_file()
        with Image.open(target) as picture:  # a crop at its real pixels, shown zoomed
            shown = int(img["width"]), int(img["height"])
            assert shown[0] % picture.width == 0 and shown[1] % picture.height == 0
            assert shown[0] // picture.width == shown[1] // picture.height
            pixels.append(np.asarray(picture.convert("RGB"), dtype=np.float32))
    assert pixels[0].shape == pixels[1].shape and np.abs(pixels[0] - pixels[1]).mean() > 0.5
    captions = text(hero.group(0))
    assert "Before" in captions and "After" in captions
    assert "baseline" in pair[0]["src"] and "output" in pair[1]["src"]
    catalog = load_catalog(site.project / "catalog.yml")
    holds = text(re.search(r'<p class="mkb-hero__counts">.*?</p>', body, re.S).group(0))
    n_answers = len(catalog.published_questions())
    assert (f"{n_answers} answer{'s' if n_answers != 1 else ''}, {len(catalog.models)} model"
            in holds)
    assert f"{len(catalog.papers)} papers" in holds
    assert f"{len(catalog.gallery)} gallery photo" in holds


def test_home_thumbnails_are_before_after_pairs(site):
    body = article(site.page(""))
    strip = re.search(r'<nav class="mkb-pairs".*?</nav>', body, re.S).group(0)
    found = images(strip)
    assert [Path(i["src"]).name for i in found[:2]] == ["thumb-input.webp", "thumb-output.webp"]
    assert all((site.site / i["src"]).is_file() for i in found)
    assert f'href="answers/{SEED_SLUG}/#photo-' in strip


# -- cards -----------------------------------------------------------------------------------

def _lower_half_ink(card: np.ndarray) -> float:
    """Share of the card's lower half (above the accent line) that is not background."""
    lower = card[cards.HEIGHT // 2:cards.HEIGHT - 16]
    return float((np.abs(lower - np.array(cards.BACKGROUND)).sum(-1) > 30).mean())


def test_every_model_task_paper_and_gallery_page_has_its_own_card(site):
    catalog = load_catalog(site.project / "catalog.yml")
    generic = (site.site / "assets/modelkb/cards/site.png").read_bytes()
    pictured = {f"models/{m}/" for m in catalog.models} | {
        f"tasks/{t}/" for t in catalog.tasks} | {"gallery/"}
    pages = sorted(pictured | {f"papers/{p}/" for p in catalog.papers})
    with Image.open(site.site / "gallery/portrait/baseline.webp") as b, \
            Image.open(site.site / "gallery/portrait/output.webp") as a:
        b_img, a_img = b.convert("RGB"), a.convert("RGB")
    half = cards.WIDTH // 2
    area = (half, cards.HEIGHT - cards.TEXT_BAND)
    x, y, w, h = cards.card_region(b_img, a_img)
    before = np.asarray(b_img.crop((x, y, x + w, y + h)).resize(area), dtype=np.float32)
    after = np.asarray(a_img.crop((x, y, x + w, y + h)).resize(area), dtype=np.float32)
    rows, band, cols = (slice(cards.TEXT_BAND + 90, cards.HEIGHT - 80),
                        slice(90, area[1] - 80), slice(20, half - 20))
    seen = set()
    for url in pages:
        meta = head(site.page(url)).meta
        card_file = site_file(site, meta["og:image"][0])
        data = card_file.read_bytes()
        assert data != generic, url
        seen.add(card_file)
        with Image.open(card_file) as png:
            assert png.size == (cards.WIDTH, cards.HEIGHT)
            card = np.asarray(png.convert("RGB"), dtype=np.float32)
        assert _lower_half_ink(card) > 0.2, url
        if url in pictured:  # the photo before (left) and after (right), as on answer cards
            left, right = card[rows, 20:half - 20], card[rows, half + 20:cards.WIDTH - 20]
            assert np.abs(left - before[band, cols]).mean() < 8, url
            assert np.abs(right - after[band, cols]).mean() < 8, url
            assert "before" in meta["og:image:alt"][0] and "after" in meta["og:image:alt"][0]
    assert len(seen) == len(pages)  # one card per page


def test_a_text_card_fills_its_lower_half():
    """A page without a picture: the facts band (or the site's name) fills the bottom even
    for a one-word title without summary (the lower half was empty)."""
    for data in (cards.plain_card("x", "site"),
                 cards.plain_card("A paper", "site", "", ("Paper", "cited by 1 answer"), "paper")):
        with Image.open(io.BytesIO(data)) as png:
            card = np.asarray(png.convert("RGB"), dtype=np.float32)
        assert _lower_half_ink(card) > 0.25


# -- the summary's wording -------------------------------------------------------------------

def _record(entry_id: str, gain: float, detail: tuple[float, float]) -> GalleryRecord:
    zero = Stats(0.0, 0.0)
    return GalleryRecord(
        id=entry_id, key="k", workflow="w", input=Size(8, 8), output=Size(16, 16), steps=[],
        seconds=0.0, device="cpu",
        metrics=Metrics(colour=ColourScores(zero, SkinScores(0.0, 0, None, "r")),
                        reference=ReferenceScores(Score(20.0, 0.5), Score(20.0 + gain, 0.6),
                                                  Score(gain, 0.1)),
                        sharpness=Sharpness(True, *detail)))


def test_summary_says_when_the_gain_is_mostly_noise_removal():
    summary = ResultsSummary.of([("a", _record("a", 1.0, (0.2, 0.1))),
                                 ("b", _record("b", 3.0, (0.5, 0.2))),
                                 ("c", _record("c", 8.0, (40.0, 1.2)))])
    lines = " ".join(summary.markdown())
    # the typical photo (the median), not a mean one very noisy photo pulls up to 4 dB
    assert "the typical output is 3.00 dB closer to it than the input" in lines
    assert "from +1.00 dB on one to +8.00 dB on another" in lines
    assert "average" not in lines and "mean" not in lines
    assert "it rose on 0 of 3 photos and fell on 3" in lines
    assert "The gain is mostly noise removal, not sharper edges" in lines
    assert "mostly noise removal on 2; noise removal on 1" in lines


def test_summary_says_sharper_only_when_fine_detail_rose():
    summary = ResultsSummary.of([("a", _record("a", 1.0, (0.2, 0.5))),
                                 ("b", _record("b", 2.0, (0.3, 0.6)))])
    lines = " ".join(summary.markdown())
    assert "The gain comes from sharper edges" in lines and "noise removal" not in lines
    assert "it rose on 2 of 2 photos and fell on 0" in lines


def test_cards_are_drawn_once_and_redrawn_only_when_what_they_show_changes(tmp_path):
    """Cards are kept by content: a second run writes nothing; a changed paper summary
    redraws that paper's card only."""
    from dataclasses import replace

    from modelkb.site import publish
    from modelkb.site.gallery_pages import GalleryView

    catalog = load_catalog(Path(__file__).resolve().parents[1] / "catalog.yml")
    folder = tmp_path / "cards"

    def run(cat):
        pub = publish.Publication(GalleryView(cat, None), site_name="s", site_description="d")
        return dict(publish.card_files(pub, folder))

    first = run(catalog)
    assert len(set(first.values())) == len(first)  # every page's card is its own file
    stamps = {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert run(catalog) == first
    assert {p: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps  # nothing redrawn
    paper_id = next(iter(catalog.papers))
    catalog.papers[paper_id] = replace(catalog.papers[paper_id], summary="Another summary.")
    changed = run(catalog)
    path = publish.entry_card_path("papers", paper_id)
    assert changed[path] != first[path]
    assert {k: v for k, v in changed.items() if k != path} == \
        {k: v for k, v in first.items() if k != path}


# -- in a browser ----------------------------------------------------------------------------

@pytest.mark.slow
def test_pages_show_their_pictures_on_the_first_screen(request):
    """Home: the hero pair; model page: its before/after strip, within the first screen at
    1400x900 and starting on it at 390x844; every picture decodes. Screenshots of the home,
    model and task pages at both sizes go to test-artifacts/pages-*.png."""
    from test_browser import ARTIFACTS, CHROMIUM, DESKTOP, PHONE, load_all_images, open_page

    if CHROMIUM is None:
        pytest.skip("no Chromium installed")
    base, _ = request.getfixturevalue("served")
    chromium = request.getfixturevalue("browser")
    ARTIFACTS.mkdir(exist_ok=True)
    pages = (("home", "", ".mkb-hero img"), ("model", f"models/{MODEL}/", ".mkb-pairs img"),
             ("task", "tasks/image-deblurring/", ".mkb-pairs img"))
    for name, path, selector in pages:
        for size in (DESKTOP, PHONE):
            context, page, watch = open_page(chromium, base, path, viewport=size)
            try:
                shown = load_all_images(page)
                assert shown and all(i["complete"] and i["width"] > 0 for i in shown), shown
                box = page.locator(selector).first.bounding_box()
                if name != "task":
                    assert box["y"] < size["height"], (name, size, box)
                    if size is DESKTOP:
                        assert box["y"] + box["height"] <= size["height"], (name, box)
                page.screenshot(path=str(ARTIFACTS / f"pages-{name}-{size['width']}x"
                                                     f"{size['height']}.png"))
                assert not watch.errors, watch.errors
            finally:
                context.close()


def test_model_page_states_its_facts_at_a_glance(site):
    """Input/output, the variant in words, the shipped weights' size (counted from the file,
    checked here by torch), licence and sha256, and an install line before `modelkb
    restore`."""
    from safetensors.torch import load_file

    from modelkb.site.gallery_pages import INSTALL_COMMAND

    body = text(between(article(site.page(f"models/{MODEL}")), "at-a-glance",
                        "run-it-on-your-photo"))
    shipped = (Path(__file__).resolve().parents[1] / "hooks" / "modelkb" / "weights"
               / "mssnet-small-modelkb.safetensors")
    count = sum(t.numel() for t in load_file(str(shipped)).values() if t.is_floating_point())
    assert f"{count / 1e6:.2f} million numbers" in body
    assert f"{shipped.stat().st_size / 1e6:.1f} MB fp16 safetensors" in body
    assert "scale 1x" in body and "RGB photo" in body and "licence MIT" in body
    assert INSTALL_COMMAND in body and "torch==2.13.0" in INSTALL_COMMAND
