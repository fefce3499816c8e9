"""Publishing: link-preview meta tags, preview cards, Markdown exports, catalog.json, 404 page.

Everything here runs at build time without network access. URLs that leave the site (meta
tags, exports) are absolute, made from ``site_url``; without it the build warns and those
tags are left out rather than written with relative URLs that previews cannot follow.
"""

from __future__ import annotations

import html
import json
import logging
import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

from modelkb.catalog import Catalog, Question
from modelkb.files import atomic_write
from modelkb.site import cards, figures
from modelkb.site.answers import (
    SECTION_ANCHORS,
    attr,
    reference_links,
    render_answer,
)
from modelkb.site.pages import answer_uri, default_renderer, entry_uri
from modelkb.site.render import (
    Renderer,
    html_to_markdown,
    link_markdown,
    markdown_text,
    page_url,
    sanitise,
)

log = logging.getLogger(__name__)

CARDS_DIR = "assets/modelkb/cards"
SITE_CARD = f"{CARDS_DIR}/site.png"
CATALOG_JSON = "catalog.json"
DESCRIPTION_LIMIT = 200
EntriesFor = Callable[[Question], list[str]]



# -- URLs ------------------------------------------------------------------------------------

def base_url(config) -> str | None:
    """The site's absolute base URL ending in '/', or None when ``site_url`` is not set."""
    site_url = (config.get("site_url") or "").strip()
    if not site_url:
        return None
    return site_url if site_url.endswith("/") else site_url + "/"


LOCAL_BUILD_ENV = "MODELKB_LOCAL_BUILD"  # "1": build a local copy with a loopback site_url
SITE_URL_ENV = "SITE_URL"  # read by mkdocs.yml: site_url: !ENV [SITE_URL, ...]
_LOOPBACK = ("localhost", "0.0.0.0", "::1", "::")


def check_site_url(config, command: str | None) -> None:
    """Refuse to build for publishing with a missing or loopback ``site_url``.

    Share links, canonical URLs, link-preview cards and exports are absolute URLs made from
    ``site_url``; built with ``http://127.0.0.1:8000/`` they would point at the reader's own
    machine. ``mkdocs serve`` (``command == "serve"``) is a local preview and is never
    refused; nor is a build with ``MODELKB_LOCAL_BUILD=1`` (a local copy, the test suite).
    """
    import os

    if command == "serve" or os.environ.get(LOCAL_BUILD_ENV, "").strip().lower() in (
            "1", "true", "yes"):
        return
    url = (config.get("site_url") or "").strip()
    host = (urlsplit(url).hostname or "").lower() if url else ""
    if url and host and host not in _LOOPBACK and not host.startswith("127.") \
            and not host.endswith(".localhost"):
        return
    what = (f"site_url is {url}, a loopback address" if url else "site_url is not set")
    raise PluginError(
        f"{what}: the published pages' share links, canonical URLs and preview cards would "
        "point nowhere. Set the site_url setting in mkdocs.yml to the address the site is "
        f"published at, or the environment variable {SITE_URL_ENV} (mkdocs.yml reads it: "
        f"site_url: !ENV [{SITE_URL_ENV}, ...]), e.g. {SITE_URL_ENV}=https://example.org/docs/ "
        f"mkdocs build. For a local preview use mkdocs serve, or set {LOCAL_BUILD_ENV}=1 to "
        "build a local copy anyway.")


def warn_without_site_url(config) -> None:
    """Warn (fails ``--strict``) when previews and exports cannot have absolute URLs."""
    if base_url(config) is None:
        log.warning("site_url is not set in mkdocs.yml: link previews (og:url, og:image, "
                    "twitter:image) are left out and exports use site-relative links; set "
                    "site_url to the address the site is published at")


def site_link(base: str | None, path: str) -> str:
    """``path`` (relative to the site root) as an absolute URL, or '/path' without site_url."""
    path = path.lstrip("/")
    return base + path if base else "/" + path


def export_path(slug: str) -> str:
    """Where an answer's Markdown export is published, relative to the site root."""
    return f"answers/{slug}.md"


def card_path(slug: str) -> str:
    """Where an answer's preview card is published, relative to the site root."""
    return f"{CARDS_DIR}/{slug}.png"


# -- cards -----------------------------------------------------------------------------------

def first_result(report, q: Question, entries_for: EntriesFor):
    """(entry id, result) of the first gallery image an answer shows that has before/after."""
    if report is None:
        return None
    for entry_id in entries_for(q):
        result = report.results.get(entry_id)
        if result and "baseline.webp" in result.files and "output.webp" in result.files:
            return entry_id, result
    return None


CARD_VERSION = 2  # bump when cards.py draws differently


def card_gain(result) -> str | None:
    """The measured gain a card shows: PSNR against the sharp original, input → restored."""
    metrics = result.record.metrics if result else None
    ref = metrics.reference if metrics else None
    if ref is None or ref.gain.psnr is None:
        return None
    return f"{ref.gain.psnr:+.1f} dB closer to the sharp original"


def card_files(config, catalog: Catalog, report, entries_for: EntriesFor,
               cache_dir: Path) -> list[File]:
    """The preview cards as generated files: one per answer, one plain card for other pages.

    Each card is drawn once and kept in ``cache_dir`` under a hash of what it shows, so a
    rebuild draws only the cards whose question or pictures changed.
    """
    site_name = config.get("site_name") or ""
    description = config.get("site_description") or ""
    made = [File.generated(config, SITE_CARD, abs_src_path=str(_cached_card(
        cache_dir, ("plain", site_name, description),
        lambda: cards.plain_card(site_name, site_name, description))))]
    for q in catalog.questions.values():
        found = first_result(report, q, entries_for)
        before = found[1].files["baseline.webp"] if found else None
        after = found[1].files["output.webp"] if found else None
        gain = card_gain(found[1]) if found else None
        path = _cached_card(cache_dir, ("answer", q.question, site_name, _picture_id(before),
                                        _picture_id(after), gain),
                            lambda q=q, b=before, a=after, g=gain: cards.answer_card(
                                q.question, site_name, b, a, gain=g))
        made.append(File.generated(config, card_path(q.slug), abs_src_path=str(path)))
    return made


def _picture_id(path: Path | None) -> str | None:
    """A gallery picture's identity for a card key: its content-addressed entry folder (the
    render key) and name, never the absolute path (which changes with the cache's place)."""
    return None if path is None else f"{path.parent.name}/{path.name}"


def _cached_card(cache_dir: Path, identity: tuple, draw: Callable[[], bytes]) -> Path:
    """The card file for ``identity``, drawn and written atomically only when missing (so
    an unchanged build reads the cache and writes nothing to it)."""
    import hashlib

    key = hashlib.sha256(json.dumps([CARD_VERSION, *identity]).encode("utf-8")).hexdigest()
    path = cache_dir / f"{key[:32]}.png"
    if not path.is_file():
        try:
            atomic_write(path, draw())
        except OSError as exc:
            raise PluginError(f"cannot write the link-preview card {path.name} in {cache_dir}: "
                              f"{exc.strerror or exc}; make the modelkb cache folder writable "
                              "(an unchanged site needs no writes)") from None
    return path


# -- meta tags -------------------------------------------------------------------------------

def clip(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """Plain ``text`` on one line, cut at a word to at most ``limit`` characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def _answer_for(page, catalog: Catalog) -> Question | None:
    uri = page.file.src_uri
    if not (uri.startswith("answers/") and uri.endswith(".md")):
        return None
    q = catalog.questions.get(uri[len("answers/"):-len(".md")])
    return q if q is not None and answer_uri(q.slug) == uri else None


def head_tags(page, config, catalog: Catalog, report, entries_for: EntriesFor) -> str:
    """Open Graph and Twitter meta tags of one page, every value HTML-escaped."""
    base = base_url(config)
    site_name = config.get("site_name") or ""
    q = _answer_for(page, catalog)
    meta = page.meta or {}
    if q is not None:
        title, description = q.question, q.answer.summary
    else:
        title = html.unescape(str(meta.get("title") or page.title or site_name))
        if page.is_homepage:
            title = site_name
        description = html.unescape(str(meta.get("description") or "")) \
            or (config.get("site_description") or "")
    description = clip(description)
    tags: list[tuple[str, str, str]] = [
        ("property", "og:type", "article" if q is not None else "website"),
        ("property", "og:site_name", site_name),
        ("property", "og:title", title),
        ("property", "og:description", description),
        ("name", "twitter:card", "summary_large_image"),
        ("name", "twitter:title", title),
        ("name", "twitter:description", description),
    ]
    if base is not None:
        url = page.canonical_url or site_link(base, page.url)
        if q is not None:
            image = site_link(base, card_path(q.slug))
            found = first_result(report, q, entries_for)
            alt = (f"{title} — before (plain resize, left half) and after (the model's output, "
                   f"right half): {catalog.gallery[found[0]].caption}") if found else title
        else:
            image, alt = site_link(base, SITE_CARD), f"{site_name}: {title}"
        alt = clip(alt, 420)
        tags += [
            ("property", "og:url", url),
            ("property", "og:image", image),
            ("property", "og:image:type", "image/png"),
            ("property", "og:image:width", str(cards.WIDTH)),
            ("property", "og:image:height", str(cards.HEIGHT)),
            ("property", "og:image:alt", alt),
            ("name", "twitter:image", image),
            ("name", "twitter:image:alt", alt),
        ]
    lines = [f'<meta {key}="{name}" content="{attr(value)}">' for key, name, value in tags]
    if q is not None and not q.draft:
        page_dir = figures.page_url_dir(answer_uri(q.slug), config.get("use_directory_urls", True))
        export = posixpath.relpath(export_path(q.slug), page_dir or ".")
        lines.append(f'<meta name="mkb:markdown" content="{attr(export)}">')
    return "\n    ".join(lines)


def add_head_tags(output: str, tags: str) -> str:
    """``output`` with ``tags`` inserted at the end of its <head>."""
    index = output.find("</head>")
    if index < 0:
        return output
    return output[:index] + "\n    " + tags + "\n  " + output[index:]


# -- Markdown exports ------------------------------------------------------------------------

def answer_markdown(q: Question, catalog: Catalog, config, report,
                    entries_for: EntriesFor, renderer: Renderer | None = None) -> str:
    """An answer as forum-ready Markdown: the three sections, every link absolute.

    The answer page is rendered and sanitised as on the site, then written back as Markdown
    whose text is escaped: catalog text reaches the export as text, never as markup.
    """
    renderer = renderer or default_renderer(catalog)
    base = base_url(config)
    dirs = config.get("use_directory_urls", True)
    src = answer_uri(q.slug)
    page_dir = figures.page_url_dir(src, dirs)
    pictures: list[str] = []
    for entry_id in entries_for(q):
        result = report.results.get(entry_id) if report else None
        if not result or "output.webp" not in result.files:
            continue
        caption = catalog.gallery[entry_id].caption
        files = [("before: plain resize", "baseline.webp"), ("after: the workflow's output",
                                                              "output.webp")]
        images = " ".join(
            f'<img src="{attr(figures.asset_url(page_dir, entry_id, name))}" '
            f'alt="{attr(caption)}, {label}">' for label, name in files if name in result.files)
        pictures.append(f"<p>{images}</p>")
    page_md = render_answer(q, catalog, renderer, "\n\n".join(pictures))
    page_html = sanitise(renderer.markdown_html(page_md, src))
    page = site_link(base, page_url(src, dirs))
    text = html_to_markdown(page_html, page)
    site_name = config.get("site_name") or ""
    sections = " · ".join(link_markdown(f"{page}#{anchor}", anchor) for anchor in SECTION_ANCHORS)
    footer = (f"\n---\n\nFrom [{markdown_text(site_name)}](<{site_link(base, '')}>): "
              f"{link_markdown(page, 'the full answer')}, sections {sections}. Images were "
              "produced by running the workflow when the site was built.\n")
    return text.rstrip() + "\n" + footer


# -- catalog.json ----------------------------------------------------------------------------

def catalog_data(catalog: Catalog, config) -> dict[str, Any]:
    """Every model, paper, tool, task and published answer with its page and outside links."""
    base = base_url(config)
    dirs = config.get("use_directory_urls", True)

    def url(src: str) -> str:
        return site_link(base, page_url(src, dirs))

    def links(kind: str, entry) -> dict[str, str]:
        return {label.lower(): target for label, target in reference_links(kind, entry)}

    data: dict[str, Any] = {
        "site": {"name": config.get("site_name") or "", "url": site_link(base, ""),
                 "description": config.get("site_description") or ""},
        "answers": [{
            "slug": q.slug, "question": " ".join(q.question.split()),
            "summary": " ".join(q.answer.summary.split()), "task": q.task,
            "url": url(answer_uri(q.slug)), "markdown": site_link(base, export_path(q.slug)),
            "card": site_link(base, card_path(q.slug)),
            "sections": {a: f"{url(answer_uri(q.slug))}#{a}" for a in SECTION_ANCHORS},
            "models": list(q.models), "papers": list(q.papers), "tools": list(q.tools),
        } for q in catalog.published_questions()],
        "tasks": [{"id": t.id, "name": t.name, "url": url(entry_uri("tasks", t.id))}
                  for t in catalog.tasks.values()],
        "models": [{"id": m.id, "name": m.name, "task": m.task,
                    "url": url(entry_uri("models", m.id)), "links": links("models", m)}
                   for m in catalog.models.values()],
        "papers": [{"id": p.id, "title": " ".join(p.title.split()),
                    "url": url(entry_uri("papers", p.id)), "links": links("papers", p)}
                   for p in catalog.papers.values()],
        "tools": [{"id": t.id, "name": t.name, "url": url(entry_uri("tools", t.id)),
                   "links": links("tools", t)} for t in catalog.tools.values()],
    }
    return data


def write_exports(config, catalog: Catalog, report, entries_for: EntriesFor,
                  renderer: Renderer | None = None) -> list[Path]:
    """Write each published answer's Markdown and catalog.json into the built site."""
    site_dir = Path(config["site_dir"])
    written: list[Path] = []
    for q in catalog.published_questions():
        path = site_dir / export_path(q.slug)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(answer_markdown(q, catalog, config, report, entries_for, renderer),
                        encoding="utf-8")
        written.append(path)
    path = site_dir / CATALOG_JSON
    path.write_text(json.dumps(catalog_data(catalog, config), indent=2, ensure_ascii=False)
                    + "\n", encoding="utf-8")
    written.append(path)
    return written


# -- 404 -------------------------------------------------------------------------------------

def not_found_html(output: str, config) -> str:
    """Material's 404 page with links to the home page, the answers and search."""
    base = base_url(config)
    root = (urlsplit(base).path or "/") if base else "/"
    dirs = config.get("use_directory_urls", True)
    answers = root + page_url("answers/index.md", dirs)
    help_html = (
        '<p class="mkb-404">This page does not exist (any more). Answers keep their '
        'addresses and section anchors, so the link may have a typo.</p>\n'
        '<ul class="mkb-404">'
        f'<li><a href="{attr(root)}">Home page</a></li>'
        f'<li><a href="{attr(answers)}">All answers</a></li>'
        f'<li><a href="{attr(root)}?q=">Search the site</a> (or press <kbd>/</kbd>)</li>'
        f'<li><a href="{attr(root + CATALOG_JSON)}">catalog.json</a>: every answer, model '
        'and paper with its address</li></ul>')
    marker = "<h1>404 - Not found</h1>"
    if marker in output:
        return output.replace(marker, marker + "\n" + help_html, 1)
    index = output.find("</article>")
    if index < 0:
        log.debug("404 page: no place found for the help links")
        return output
    return output[:index] + help_html + output[index:]
