"""Publishing on real builds: preview tags, cards, Markdown exports, catalog.json, 404, sitemap."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import markdown
import numpy as np
import pytest
from PIL import Image
from test_site import SEED_SLUG, Links

from modelkb.catalog import load_catalog
from modelkb.site import cards
from modelkb.site.answers import reference_links
from modelkb.site.sections import SECTION_ANCHORS

from conftest import copy_project, mkdocs_build, use_tiny_gallery

SITE_URL = "http://127.0.0.1:8000/"
SCRIPT = "<script>alert(1)</script>"


def publish_project(dest: Path, cache: Path, weights: Path) -> Path:
    """The shipped project with one tiny gallery entry on the seed answer, random weights.

    The seed answer's summary carries a ``<script>`` to prove preview tags are inert.
    """
    use_tiny_gallery(copy_project(dest, cache), weights)
    text = (dest / "catalog.yml").read_text(encoding="utf-8")
    text = text.replace("You enlarged a real, noisy", f"You {SCRIPT} enlarged a real, noisy", 1)
    (dest / "catalog.yml").write_text(text, encoding="utf-8")
    return dest


@pytest.fixture(scope="module")
def template(published_template: Path) -> Path:
    return published_template  # shared by the session (conftest); copy it with fresh()


def fresh(template: Path, dest: Path) -> Path:
    """A copy of the template project (same gallery cache: nothing is recomputed)."""
    shutil.copytree(template, dest, ignore=shutil.ignore_patterns("site"))
    return dest


@pytest.fixture(scope="module")
def seed(published_build):
    return published_build  # the template built once per session (conftest)


class Head(HTMLParser):
    """Meta tags (property= or name=) and <link rel=canonical> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, list[str]] = {}
        self.canonical: list[str] = []
        self.loads: list[tuple[str, str]] = []  # (tag, url) the browser fetches
        self.scripts: list[str] = []
        self._script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self._script = tag == "script"
        if tag == "meta" and a.get("content") is not None:
            key = a.get("property") or a.get("name")
            if key:
                self.meta.setdefault(key, []).append(a["content"])
        if tag == "link" and a.get("rel") == "canonical":
            self.canonical.append(a.get("href") or "")
        if tag == "script" and a.get("src"):
            self.loads.append((tag, a["src"]))
        if tag == "link" and a.get("href") and a.get("rel") not in ("canonical", "alternate"):
            self.loads.append((tag, a["href"]))
        if tag in ("img", "source", "iframe", "video", "audio") and a.get("src"):
            self.loads.append((tag, a["src"]))

    def handle_data(self, data):
        if self._script:
            self.scripts.append(data)

    def handle_endtag(self, tag):
        self._script = False


def head(html: str) -> Head:
    parser = Head()
    parser.feed(html)
    return parser


def site_file(build, url: str) -> Path:
    """The built file an absolute URL of the site points at (a folder means its index.html)."""
    assert url.startswith(SITE_URL), url
    path = urlsplit(url).path.removeprefix("/")
    target = build.site / path
    return target / "index.html" if path == "" or path.endswith("/") else target


def test_answer_page_carries_every_preview_tag_with_absolute_urls(seed):
    html = seed.page(f"answers/{SEED_SLUG}")
    tags = head(html)
    one = {k: v[0] for k, v in tags.meta.items()}
    assert all(len(v) == 1 for k, v in tags.meta.items() if k.startswith(("og:", "twitter:")))
    catalog = load_catalog(seed.project / "catalog.yml")
    q = catalog.questions[SEED_SLUG]
    assert one["og:title"] == " ".join(q.question.split())
    summary = " ".join(q.answer.summary.split())
    assert len(one["og:description"]) <= 200
    assert one["og:description"].rstrip("…") in summary and summary.startswith(
        one["og:description"][:150])
    assert one["og:type"] == "article" and one["og:site_name"] == "modelkb"
    page_url = f"{SITE_URL}answers/{SEED_SLUG}/"
    assert tags.canonical == [page_url] and one["og:url"] == page_url
    assert one["og:image"] == f"{SITE_URL}assets/modelkb/cards/{SEED_SLUG}.png"
    assert one["og:image:width"] == "1200" and one["og:image:height"] == "630"
    assert one["og:image:alt"]
    assert one["twitter:card"] == "summary_large_image"
    assert one["twitter:image"] == one["og:image"]
    assert re.search(r'<meta name="twitter:card" content="summary_large_image">', html)
    with Image.open(site_file(seed, one["og:image"])) as card:
        assert card.size == (1200, 630) and card.format == "PNG"


def test_pages_outside_the_catalog_get_the_site_card(seed):
    """The home page and the guides share the site's card; catalog pages have their own
    (tests/test_entry_pages.py)."""
    for url_path in ("", "architecture", "answers"):
        tags = head(seed.page(url_path)).meta
        assert tags["og:type"] == ["website"]
        assert tags["og:image"] == [f"{SITE_URL}assets/modelkb/cards/site.png"]
        assert tags["og:url"][0].startswith(SITE_URL)
        assert tags["og:description"][0]
    with Image.open(seed.site / "assets/modelkb/cards/site.png") as card:
        assert card.size == (1200, 630)
    assert head(seed.page("")).meta["og:title"] == ["modelkb"]


def test_card_shows_one_region_before_left_and_after_right(seed):
    """Both halves show the same region of the photo (issue 17): before = plain resize on the
    left, after = the model on the right; the card stays small."""
    tags = head(seed.page(f"answers/{SEED_SLUG}")).meta
    card_file = site_file(seed, tags["og:image"][0])
    assert card_file.stat().st_size <= 200_000
    with Image.open(card_file) as png:
        assert png.size == (1200, 630)
        card = np.asarray(png.convert("RGB"), dtype=np.float32)
    half = cards.WIDTH // 2
    area = (half, cards.HEIGHT - cards.TEXT_BAND)
    with Image.open(seed.site / "gallery/portrait/baseline.webp") as b, \
            Image.open(seed.site / "gallery/portrait/output.webp") as a:
        b_img, a_img = b.convert("RGB"), a.convert("RGB")
    x, y, w, h = cards.card_region(b_img, a_img)
    before = np.asarray(b_img.crop((x, y, x + w, y + h)).resize(area), dtype=np.float32)
    after = np.asarray(a_img.crop((x, y, x + w, y + h)).resize(area), dtype=np.float32)
    rows = slice(cards.TEXT_BAND + 90, cards.HEIGHT - 80)  # below the labels, above the badge
    band = slice(90, area[1] - 80)
    shown_left, shown_right = card[rows, 20:half - 20], card[rows, half + 20:cards.WIDTH - 20]
    cols = slice(20, half - 20)

    def dist(p, q):
        return float(np.abs(p - q).mean())

    assert dist(shown_left, before[band, cols]) < dist(shown_left, after[band, cols])
    assert dist(shown_right, after[band, cols]) < dist(shown_right, before[band, cols])
    assert dist(shown_left, before[band, cols]) < 8
    assert dist(shown_right, after[band, cols]) < 8
    assert "before" in tags["og:image:alt"][0] and "after" in tags["og:image:alt"][0]


def test_catalog_text_is_inert_in_meta_tags(seed):
    html = seed.page(f"answers/{SEED_SLUG}")
    headpart = html[:html.index("</head>")]
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in headpart
    tags = head(html)
    assert SCRIPT in tags.meta["og:description"][0]  # the text itself, decoded by the parser
    assert not [s for s in tags.scripts if "alert" in s]


def _export_links(text: str) -> list[str]:
    parser = _Refs()
    parser.feed(markdown.markdown(text))
    return parser.refs


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("href", "src"):
            if a.get(key):
                self.refs.append(a[key])


def _outside_urls(project: Path) -> set[str]:
    catalog = load_catalog(project / "catalog.yml")
    urls: set[str] = set()
    for kind in ("models", "papers", "tools"):
        for entry in getattr(catalog, kind).values():
            urls.update(url for _, url in reference_links(kind, entry))
    return urls


def test_markdown_export_links_are_absolute_and_resolve(seed):
    build = seed
    text = (build.site / "answers" / f"{SEED_SLUG}.md").read_text(encoding="utf-8")
    assert not text.startswith("---") and "{#" not in text and "[[" not in text
    html = markdown.markdown(text)
    for anchor in SECTION_ANCHORS:
        assert f"{SITE_URL}answers/{SEED_SLUG}/#{anchor}" in text
    assert html.count("<h2>") == 3
    refs = _export_links(text)
    outside = _outside_urls(build.project)
    assert refs
    ids = Links()
    ids.feed(build.page(f"answers/{SEED_SLUG}"))
    for ref in refs:
        assert re.match(r"https?://", ref), ref
        if ref.startswith(SITE_URL):
            target = site_file(build, ref.split("#")[0])
            assert target.is_file(), ref
            if "#" in ref and ref.split("#")[0].endswith(f"/answers/{SEED_SLUG}/"):
                assert ref.split("#")[1] in ids.ids
        else:
            assert ref in outside, ref
    assert f"{SITE_URL}gallery/portrait/output.webp" in refs
    assert f"{SITE_URL}gallery/portrait/baseline.webp" in refs
    assert SCRIPT not in html


def test_answer_page_points_at_its_export_for_the_copy_button(seed):
    tags = head(seed.page(f"answers/{SEED_SLUG}")).meta
    assert tags["mkb:markdown"] == [f"../{SEED_SLUG}.md"]
    assert "assets/modelkb/publish.js" in seed.page(f"answers/{SEED_SLUG}")
    assert (seed.site / "assets/modelkb/publish.js").is_file()


def test_catalog_json_lists_the_seed_answer_model_and_papers(seed):
    data = json.loads((seed.site / "catalog.json").read_text(encoding="utf-8"))
    answer = next(a for a in data["answers"] if a["slug"] == SEED_SLUG)
    assert answer["url"] == f"{SITE_URL}answers/{SEED_SLUG}/"
    assert answer["markdown"] == f"{SITE_URL}answers/{SEED_SLUG}.md"
    assert answer["papers"] == ["2401.00261", "2502.03656", "2502.16025"]
    assert {m["id"] for m in data["models"]} >= {"deblur-mssnet-realblurj"}
    model = next(m for m in data["models"] if m["id"] == "deblur-mssnet-realblurj")
    assert model["links"]["github"] == "https://github.com/kky7/MSSNet"
    assert {p["id"] for p in data["papers"]} >= {"2401.00261", "2502.03656", "2502.16025"}
    for item in [*data["answers"], *data["models"], *data["papers"], *data["tools"],
                 *data["tasks"]]:
        assert site_file(seed, item["url"]).is_file(), item["url"]
    assert site_file(seed, answer["markdown"]).is_file()
    assert site_file(seed, answer["card"]).is_file()


def test_drafts_are_not_exported(tmp_path, template):
    project = fresh(template, tmp_path / "project")
    cat = project / "catalog.yml"
    cat.write_text(cat.read_text().replace(
        "    task: real-image-super-resolution\n    models",
        "    task: real-image-super-resolution\n    draft: true\n    models")
        # its export was published: back to a draft, it is retired (issue 34)
        + f"\nretired:\n  - url: /answers/{SEED_SLUG}.md\n    note: A draft again.\n")
    cfg = project / "mkdocs.yml"
    cfg.write_text(cfg.read_text().replace("    device: auto", "    device: auto\n"
                                           "    drafts: show"))
    build = mkdocs_build(project)
    assert build.returncode == 0, build.output
    kept = (build.site / "answers" / f"{SEED_SLUG}.md").read_text(encoding="utf-8")
    assert kept.startswith("# Page removed") and "A draft again." in kept  # no export
    data = json.loads((build.site / "catalog.json").read_text(encoding="utf-8"))
    assert data["answers"] == []
    assert "mkb:markdown" not in build.page(f"answers/{SEED_SLUG}")


def test_sitemap_lists_generated_pages(seed):
    sitemap = (seed.site / "sitemap.xml").read_text(encoding="utf-8")
    for path in (f"answers/{SEED_SLUG}/", "answers/", "models/deblur-mssnet-realblurj/",
                 "papers/2401.00261/", "tasks/real-image-super-resolution/",
                 "reference/catalog/"):
        assert f"<loc>{SITE_URL}{path}</loc>" in sitemap


def test_404_page_links_home_answers_and_search(seed):
    html = (seed.site / "404.html").read_text(encoding="utf-8")
    links = Links()
    links.feed(html)
    assert "/" in links.hrefs and "/answers/" in links.hrefs and "/?q=" in links.hrefs
    assert "404" in html


_URL_IN_CSS_RE = re.compile(r"""(?:@import\s+(?:url\()?|url\()\s*['"]?(https?:)?//""")
_IMPORT_SCRIPTS_RE = re.compile(r"""importScripts\(\s*['"]https?://""")


def test_no_third_party_requests_in_built_files(seed):
    build = seed
    host = urlsplit(SITE_URL).netloc
    pages = list(build.site.rglob("*.html"))
    assert len(pages) > 10
    for page in pages:
        tags = head(page.read_text(encoding="utf-8"))
        for tag, url in tags.loads:
            if re.match(r"(https?:)?//", url):
                assert urlsplit(url).netloc == host, f"{page}: <{tag}> loads {url}"
        for key, values in tags.meta.items():
            for value in values:
                if value.startswith("http"):
                    assert urlsplit(value).netloc == host, (page, key, value)
    for asset in [*build.site.rglob("*.css"), *build.site.rglob("*.js")]:
        text = asset.read_text(encoding="utf-8", errors="replace")
        assert not _URL_IN_CSS_RE.search(text), asset
        assert not _IMPORT_SCRIPTS_RE.search(text), asset


def test_section_anchors_do_not_change_with_the_answer_text(tmp_path, template, seed):
    project = fresh(template, tmp_path / "project")
    cat = project / "catalog.yml"
    text = cat.read_text(encoding="utf-8")
    text = text.replace("You took an everyday photo", "Entirely new wording: you took a photo")
    text = text.replace("A CNAPS-style workflow", "Another workflow description")
    cat.write_text(text, encoding="utf-8")
    build = mkdocs_build(project)
    assert build.returncode == 0, build.output
    before, after = Links(), Links()
    before.feed(seed.page(f"answers/{SEED_SLUG}"))
    after.feed(build.page(f"answers/{SEED_SLUG}"))
    for anchor in ("task", "workflow", "references"):
        assert anchor in before.ids and anchor in after.ids
    assert SECTION_ANCHORS == ("task", "workflow", "references")
    assert "Entirely new wording" in build.page(f"answers/{SEED_SLUG}")


@pytest.mark.slow
def test_without_site_url_the_build_warns_instead_of_writing_relative_urls(tmp_path, template):
    project = fresh(template, tmp_path / "project")
    cfg = project / "mkdocs.yml"
    cfg.write_text(re.sub(r"(?m)^site_url:.*\n", "", cfg.read_text()))
    strict = mkdocs_build(project)
    assert strict.returncode == 1 and "site_url is not set" in strict.output
    lenient = mkdocs_build(project, strict=False)
    assert lenient.returncode == 0
    tags = head(lenient.page(f"answers/{SEED_SLUG}")).meta
    assert "og:title" in tags and "og:url" not in tags and "og:image" not in tags
    assert not [v for vals in tags.values() for v in vals if v.startswith("/")]


def test_a_site_with_its_own_main_html_keeps_the_tags_by_including_the_partial(
        tmp_path, template):
    """The tags come through the theme's extrahead block (modelkb's main.html). A site whose
    custom_dir has its own main.html is warned that it drops them (which fails --strict),
    and gets them back by including the partial."""
    project = fresh(template, tmp_path / "project")
    cfg = project / "mkdocs.yml"
    cfg.write_text(cfg.read_text().replace("  name: material\n",
                                           "  name: material\n  custom_dir: overrides\n"))
    (project / "overrides").mkdir()
    own = project / "overrides" / "main.html"
    own.write_text('{% extends "base.html" %}\n'
                   '{% block extrahead %}<meta name="own" content="yes">{% endblock %}\n')
    strict = mkdocs_build(project)
    assert strict.returncode == 1 and "lose their link-preview meta tags" in strict.output
    lenient = mkdocs_build(project, strict=False)
    assert lenient.returncode == 0, lenient.output
    tags = head(lenient.page(f"answers/{SEED_SLUG}")).meta
    assert tags["own"] == ["yes"] and "og:title" not in tags
    own.write_text('{% extends "base.html" %}\n'
                   '{% block extrahead %}<meta name="own" content="yes">'
                   '{% include "partials/modelkb_head.html" %}{% endblock %}\n')
    build = mkdocs_build(project)
    assert build.returncode == 0, build.output
    page = build.page(f"answers/{SEED_SLUG}")
    tags = head(page).meta
    assert tags["own"] == ["yes"] and tags["og:url"] == [f"{SITE_URL}answers/{SEED_SLUG}/"]
    assert page.index('property="og:title"') < page.index("</head>")
