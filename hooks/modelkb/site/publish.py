"""Publishing: link-preview meta tags, preview cards, Markdown exports, catalog.json, 404 page.

Everything here runs at build time without network access and knows nothing of MkDocs:
each output is made from one :class:`Publication` (the site's name and address, its URLs,
the catalog and the gallery run), which the plugin builds from its config. URLs that leave
the site (meta tags, exports) are absolute, made from ``site_url``; without it the build
warns and those tags are left out rather than written with relative URLs that previews
cannot follow.
"""

from __future__ import annotations

import functools
import html
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from modelkb.catalog import Catalog, Question
from modelkb.errors import ModelkbError
from modelkb.files import atomic_write
from modelkb.site import cards, figures
from modelkb.site.answers import attr, reference_links, render_answer
from modelkb.site.gallery_pages import GALLERY_URI, GalleryView, photo_title
from modelkb.site.pages import CitedBy, answer_uri, default_renderer, summary_text
from modelkb.site.render import (
    Renderer,
    html_to_markdown,
    link_markdown,
    markdown_text,
    sanitise,
)
from modelkb.site.sections import ANSWERS, PAGE_KINDS, SECTION_ANCHORS, TASKS, PageKind
from modelkb.site.urls import Urls

log = logging.getLogger(__name__)

CARDS_DIR = "assets/modelkb/cards"
SITE_CARD = f"{CARDS_DIR}/site.png"
CATALOG_JSON = "catalog.json"
DESCRIPTION_LIMIT = 200


# -- what is published -----------------------------------------------------------------------

def base_url(site_url: str | None) -> str | None:
    """The site's absolute base URL ending in '/', or None when ``site_url`` is not set."""
    site_url = (site_url or "").strip()
    if not site_url:
        return None
    return site_url if site_url.endswith("/") else site_url + "/"


@dataclass
class Publication:
    """What every published output is made from: the site's name, description and address,
    its page URLs, the catalog with the gallery run (``view``), and the page renderer."""

    view: GalleryView  # the catalog, the gallery report and the entries each answer shows
    site_name: str = ""
    site_description: str = ""
    site_url: str | None = None
    urls: Urls = field(default_factory=Urls)
    renderer: Renderer | None = None
    _cards: tuple[Any, dict[str, Card]] | None = field(default=None, repr=False)

    @property
    def catalog(self) -> Catalog:
        return self.view.catalog

    @property
    def base(self) -> str | None:
        """The absolute base URL ending in '/', or None without ``site_url``."""
        return base_url(self.site_url)


class PageInfo(NamedTuple):
    """What the meta tags need of a built page."""

    src_uri: str
    url: str  # relative to the site root
    canonical_url: str | None
    title: str | None  # the title the page was given (front matter, heading, navigation)
    meta: Mapping[str, Any]
    is_homepage: bool


LOCAL_BUILD_ENV = "MODELKB_LOCAL_BUILD"  # "1": build a local copy with a loopback site_url
_LOOPBACK = ("localhost", "0.0.0.0", "::1", "::")


def is_local_build() -> bool:
    """Whether ``MODELKB_LOCAL_BUILD`` asks for a local copy (1, true or yes)."""
    import os

    return os.environ.get(LOCAL_BUILD_ENV, "").strip().lower() in ("1", "true", "yes")


def is_real_site_url(site_url: str | None) -> bool:
    """Whether ``site_url`` is set to an address others can reach (not a loopback one)."""
    url = (site_url or "").strip()
    host = (urlsplit(url).hostname or "").lower() if url else ""
    return bool(host) and host not in _LOOPBACK and not host.startswith("127.") \
        and not host.endswith(".localhost")


def is_publishing(site_url: str | None, command: str | None) -> bool:
    """Whether a build makes the site for publishing: ``mkdocs build`` (or ``gh-deploy``)
    with a real ``site_url`` and without ``MODELKB_LOCAL_BUILD``. Only such a build writes
    the record of published URLs; ``mkdocs serve``, local copies and builds for a loopback
    address compare with it and warn (modelkb.site.permalinks)."""
    return command != "serve" and not is_local_build() and is_real_site_url(site_url)


def check_site_url(site_url: str | None, command: str | None, config_name: str = "mkdocs.yml",
                   env: Sequence[str] = ()) -> None:
    """Refuse to build for publishing with a missing or loopback ``site_url``.

    Share links, canonical URLs, link-preview cards and exports are absolute URLs made from
    ``site_url``; built with ``http://127.0.0.1:8000/`` they would point at the reader's own
    machine. ``mkdocs serve`` (``command == "serve"``) is a local preview and is never
    refused; nor is a build with ``MODELKB_LOCAL_BUILD=1`` (a local copy, the test suite).
    The message names the site's configuration file (``config_name``) and, only where that
    file reads ``site_url`` from the environment (``!ENV``), the variables in ``env``.
    """
    import os

    if command == "serve" or os.environ.get(LOCAL_BUILD_ENV, "").strip().lower() in (
            "1", "true", "yes"):
        return
    url = (site_url or "").strip()
    host = (urlsplit(url).hostname or "").lower() if url else ""
    if url and host and host not in _LOOPBACK and not host.startswith("127.") \
            and not host.endswith(".localhost"):
        return
    what = (f"site_url is {url}, a loopback address" if url else "site_url is not set")
    if env:
        how = (f"Set the environment variable {env[0]} ({config_name} reads site_url from "
               f"it), e.g. {env[0]}=https://example.org/docs/ mkdocs build, or edit the "
               f"site_url line of {config_name}.")
    else:
        how = (f"Set site_url in {config_name} to the address the site is published at, "
               "e.g. site_url: https://example.org/docs/.")
    raise ModelkbError(
        f"{what}: the published pages' share links, canonical URLs and preview cards would "
        f"point nowhere. {how} For a local preview use mkdocs serve, or set "
        f"{LOCAL_BUILD_ENV}=1 to build a local copy anyway.")


def warn_without_site_url(site_url: str | None, config_name: str = "mkdocs.yml") -> None:
    """Warn (fails ``--strict``) when previews and exports cannot have absolute URLs."""
    if base_url(site_url) is None:
        log.warning("site_url is not set in %s: link previews (og:url, og:image, "
                    "twitter:image) are left out and exports use site-relative links; set "
                    "site_url to the address the site is published at", config_name)


def site_link(base: str | None, path: str) -> str:
    """``path`` (relative to the site root) as an absolute URL, or '/path' without site_url."""
    path = path.lstrip("/")
    return base + path if base else "/" + path


def export_path(slug: str) -> str:
    """Where an answer's Markdown export is published, relative to the site root."""
    return f"{ANSWERS.folder}/{slug}.md"


def card_path(slug: str) -> str:
    """Where an answer's preview card is published, relative to the site root."""
    return entry_card_path(ANSWERS.kind, slug)


def entry_card_path(kind: str, key: str) -> str:
    """Where the card of the entry of ``kind`` with ``key`` is published: answers' beside
    the site's card, the others' in a folder per kind (so none can take an answer's name)."""
    folder = PAGE_KINDS[kind].card_dir
    return f"{CARDS_DIR}/{folder}/{key}.png" if folder else f"{CARDS_DIR}/{key}.png"


GALLERY_CARD = f"{CARDS_DIR}/pages/gallery.png"


# -- cards -----------------------------------------------------------------------------------

class Card(NamedTuple):
    """One page's preview card: where it is published and what it shows."""

    path: str  # relative to the site root
    title: str
    kind: str  # what the page is, drawn beside the site's name ('' on answers' cards)
    photo: tuple[str, Any] | None = None  # (gallery entry id, EntryResult) before/after
    summary: str = ""  # a text card's lines under the title
    facts: tuple[str, ...] = ()  # a text card's bottom band


def first_result(pub: Publication, q: Question):
    """(entry id, result) of the first gallery image an answer shows that has before/after."""
    return _first_pair(pub, pub.view.entries_for(q))


def _first_pair(pub: Publication, ids):
    """(entry id, result) of the photo of ``ids`` that shows the model's effect best (the
    gallery view's showcase order: never one the weights were trained on while another
    exists; the rest in their order) whose result has before and after images."""
    report = pub.view.report
    if report is None:
        return None
    ids = list(ids)
    best = pub.view.showcase(ids)
    for entry_id in [*best, *(i for i in ids if i not in best)]:
        result = report.results.get(entry_id)
        if result and "baseline.webp" in result.files and "output.webp" in result.files:
            return entry_id, result
    return None


CARD_VERSION = 4  # bump to redraw every card when nothing cards.py imports changed but should


@functools.cache
def card_code_key() -> str:
    """SHA-256 of the code that draws cards (cards.py and what it imports) and Pillow's
    version: an edit there redraws the cards, an edit elsewhere draws none (once a process)."""
    from modelkb.sourcehash import code_digest

    return code_digest(("modelkb.site.cards",), ("pillow",), with_architectures=False)


def card_gain(result) -> str | None:
    """The measured gain a card shows: PSNR against the sharp original, input → restored."""
    metrics = result.record.metrics if result else None
    ref = metrics.reference if metrics else None
    if ref is None or ref.gain.psnr is None:
        return None
    gain = ref.gain.psnr
    text = (f"{gain:.1f} dB closer to the sharp photo" if gain >= 0
            else f"{-gain:.1f} dB further from the sharp photo")
    weights = result.record.weights
    return f"STAND-IN weights · {text}" if weights and weights.stand_in else text


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def page_cards(pub: Publication) -> dict[str, Card]:
    """Every page's card by source path: answers, models, papers, tools, tasks and the
    gallery; a page not listed shows the site's card. Worked out once per gallery run
    (the build asks for it on every page)."""
    report = pub.view.report
    if pub._cards is not None and pub._cards[0] is report:
        return pub._cards[1]
    catalog, view = pub.catalog, pub.view
    renderer = pub.renderer or default_renderer(catalog)
    cited = CitedBy(catalog)
    found: dict[str, Card] = {}
    for q in catalog.questions.values():
        found[answer_uri(q.slug)] = Card(card_path(q.slug), q.question, "",
                                         first_result(pub, q))
    for section in PAGE_KINDS.values():
        if section is ANSWERS:
            continue
        kind, label = section.kind, section.label
        for entry_id, entry in getattr(catalog, kind).items():
            photo = None
            if kind == "models":
                photo = _first_pair(pub, (i for i, _ in view.model_results(entry_id)))
            elif kind == "tasks":
                photo = _first_pair(pub, (i for slug in cited.by_task.get(entry_id, [])
                                          for i in view.entries_for(catalog.questions[slug])))
                photo = photo or _first_pair(pub, (
                    i for m in catalog.models.values() if m.task == entry_id
                    for i, _ in view.model_results(m.id)))
            if kind == "tasks":
                facts = (_plural(sum(m.task == entry_id for m in catalog.models.values()),
                                 "model"), _plural(len(cited.by_task.get(entry_id, [])), "answer"))
            else:
                facts = (label, f"cited by {_plural(len(cited.by_id.get(entry_id, [])), 'answer')}")
                if kind == "models" and entry.task in catalog.tasks:
                    facts = (label, catalog.tasks[entry.task].name, facts[1])
            summary = summary_text(renderer, entry.summary)
            found[section.page_uri(entry_id)] = Card(entry_card_path(kind, entry_id),
                                                     entry.title, label.lower(), photo,
                                                     clip(summary, 400), facts)
    if catalog.gallery:
        found[GALLERY_URI] = Card(GALLERY_CARD, "Gallery", "gallery",
                                  _first_pair(pub, catalog.gallery),
                                  "Every workflow result, computed when this site was built.",
                                  (_plural(len(catalog.gallery), "photo"),))
    pub._cards = (report, found)
    return found


def site_facts(catalog: Catalog) -> tuple[str, ...]:
    """What the site holds, for the bottom band of its own card."""
    return (_plural(len(catalog.published_questions()), "answer"),
            _plural(len(catalog.models), "model"), _plural(len(catalog.papers), "paper"),
            _plural(len(catalog.gallery), "photo"))


def card_files(pub: Publication, cache_dir: Path) -> list[tuple[str, Path]]:
    """The preview cards as (site path, file): one per page of :func:`page_cards` (with its
    photo before and after where it has one), and the site's card for every other page.

    Each card is drawn once and kept in ``cache_dir`` under a hash of what it shows, so a
    rebuild draws only the cards whose title, text or pictures changed.
    """
    site_name = pub.site_name
    facts = site_facts(pub.catalog)
    site = Card(SITE_CARD, site_name, "", _first_pair(pub, pub.catalog.gallery),
                pub.site_description, facts)
    made = []
    for card in [site, *page_cards(pub).values()]:
        result = card.photo[1] if card.photo else None
        before = result.files["baseline.webp"] if result else None
        after = result.files["output.webp"] if result else None
        gain = card_gain(result) if result else None
        subtitle = (f"{photo_title(pub.catalog.gallery[card.photo[0]].caption)}, where the "
                    "model changed it most" if card.photo and card.kind else "")
        if card is site and result is not None:  # the site's description over its photo
            card = card._replace(title=pub.site_description or site_name)
            subtitle = " · ".join(facts)
        if result is not None:
            identity = ("photo", card.title, card.kind, site_name, _picture_id(before),
                        _picture_id(after), gain, subtitle)
        else:
            identity = ("text", card.title, card.kind, site_name, card.summary, card.facts)
        path = _cached_card(cache_dir, identity,
                            lambda c=card, b=before, a=after, g=gain, s=subtitle: (
                                cards.answer_card(c.title, site_name, b, a, gain=g, kind=c.kind,
                                                  facts=c.facts, subtitle=s)
                                if b is not None else
                                cards.plain_card(c.title, site_name, c.summary, c.facts,
                                                 c.kind)))
        made.append((card.path, path))
    return made


def _picture_id(path: Path | None) -> str | None:
    """A gallery picture's identity for a card key: its content-addressed entry folder (the
    render key) and name, never the absolute path (which changes with the cache's place)."""
    return None if path is None else f"{path.parent.name}/{path.name}"


def _cached_card(cache_dir: Path, identity: tuple, draw: Callable[[], bytes]) -> Path:
    """The card file for ``identity``, drawn and written atomically only when missing (so
    an unchanged build reads the cache and writes nothing to it)."""
    import hashlib

    key = hashlib.sha256(json.dumps([CARD_VERSION, card_code_key(), *identity])
                         .encode("utf-8")).hexdigest()
    path = cache_dir / f"{key[:32]}.png"
    if not path.is_file():
        try:
            atomic_write(path, draw())
        except OSError as exc:
            raise ModelkbError(f"cannot write the link-preview card {path.name} in {cache_dir}: "
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


def _answer_for(uri: str, catalog: Catalog) -> Question | None:
    folder = f"{ANSWERS.folder}/"
    if not (uri.startswith(folder) and uri.endswith(".md")):
        return None
    q = catalog.questions.get(uri[len(folder):-len(".md")])
    return q if q is not None and answer_uri(q.slug) == uri else None


def head_tags(pub: Publication, page: PageInfo) -> str:
    """Open Graph and Twitter meta tags of one page, every value HTML-escaped."""
    catalog = pub.catalog
    base = pub.base
    site_name = pub.site_name
    q = _answer_for(page.src_uri, catalog)
    meta = page.meta or {}
    if q is not None:
        title, description = q.question, q.answer.summary
    else:
        title = html.unescape(str(meta.get("title") or page.title or site_name))
        if page.is_homepage:
            title = site_name
        description = html.unescape(str(meta.get("description") or "")) \
            or pub.site_description
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
        card = None if page.is_homepage else page_cards(pub).get(page.src_uri)
        if card is not None:
            image = site_link(base, card.path)
            alt = (f"{title} — before (plain resize, left half) and after (the model's output, "
                   f"right half): {catalog.gallery[card.photo[0]].caption}") if card.photo \
                else f"{site_name}: {title}"
        else:
            site_photo = _first_pair(pub, catalog.gallery)
            image = site_link(base, SITE_CARD)
            alt = (f"{site_name}: {title} — before (plain resize, left half) and after (the "
                   f"model's output, right half): {catalog.gallery[site_photo[0]].caption}"
                   if site_photo else f"{site_name}: {title}")
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
        export = pub.urls.relative(export_path(q.slug), pub.urls.page(answer_uri(q.slug)))
        lines.append(f'<meta name="mkb:markdown" content="{attr(export)}">')
    return "\n    ".join(lines)


# -- Markdown exports ------------------------------------------------------------------------

def answer_markdown(pub: Publication, q: Question) -> str:
    """An answer as forum-ready Markdown: the three sections, every link absolute.

    The answer page is rendered and sanitised as on the site, then written back as Markdown
    whose text is escaped: catalog text reaches the export as text, never as markup.
    """
    catalog, report = pub.catalog, pub.view.report
    renderer = pub.renderer or default_renderer(catalog)
    base = pub.base
    src = answer_uri(q.slug)
    here = pub.urls.page(src)
    pictures: list[str] = []
    for entry_id in pub.view.entries_for(q):
        result = report.results.get(entry_id) if report else None
        if not result or "output.webp" not in result.files:
            continue
        caption = catalog.gallery[entry_id].caption
        files = [("before: plain resize", "baseline.webp"), ("after: the workflow's output",
                                                              "output.webp")]
        images = " ".join(
            f'<img src="{attr(figures.asset_url(here, entry_id, name))}" '
            f'alt="{attr(caption)}, {label}">' for label, name in files if name in result.files)
        pictures.append(f"<p>{images}</p>")
    page_md = render_answer(q, catalog, renderer, "\n\n".join(pictures))
    page_html = sanitise(renderer.markdown_html(page_md, src))
    page = site_link(base, here)
    text = html_to_markdown(page_html, page)
    site_name = pub.site_name
    sections = " · ".join(link_markdown(f"{page}#{anchor}", anchor) for anchor in SECTION_ANCHORS)
    footer = (f"\n---\n\nFrom [{markdown_text(site_name)}](<{site_link(base, '')}>): "
              f"{link_markdown(page, 'the full answer')}, sections {sections}. Images were "
              "produced by running the workflow when the site was built.\n")
    return text.rstrip() + "\n" + footer


# -- catalog.json ----------------------------------------------------------------------------

def catalog_data(pub: Publication) -> dict[str, Any]:
    """Every model, paper, tool, task and published answer with its page and outside links."""
    catalog, base = pub.catalog, pub.base

    def url(src: str) -> str:
        return site_link(base, pub.urls.page(src))

    data: dict[str, Any] = {
        "site": {"name": pub.site_name, "url": site_link(base, ""),
                 "description": pub.site_description},
        "answers": [{
            "slug": q.slug, "question": " ".join(q.question.split()),
            "summary": " ".join(q.answer.summary.split()), "task": q.task,
            "url": url(answer_uri(q.slug)), "markdown": site_link(base, export_path(q.slug)),
            "card": site_link(base, card_path(q.slug)),
            "sections": {a: f"{url(answer_uri(q.slug))}#{a}" for a in SECTION_ANCHORS},
            "models": list(q.models), "papers": list(q.papers), "tools": list(q.tools),
        } for q in catalog.published_questions()],
    }
    # the entries with pages of their own, tasks first (the others name them)
    for section in sorted((k for k in PAGE_KINDS.values() if k is not ANSWERS),
                          key=lambda k: k is not TASKS):
        data[section.folder] = [_entry_data(section, entry, url(section.page_uri(key)))
                                for key, entry in getattr(catalog, section.kind).items()]
    return data


def _entry_data(section: PageKind, entry, url: str) -> dict[str, Any]:
    """An entry of catalog.json: its id and title, a model's task, its page and its links."""
    item: dict[str, Any] = {"id": entry.id, section.title_field: " ".join(entry.title.split())}
    if section.kind == "models":
        item["task"] = entry.task
    item["url"] = url
    if section is not TASKS:
        item["links"] = {label.lower(): target
                         for label, target in reference_links(section.kind, entry)}
    return item


def write_exports(pub: Publication, site_dir: Path) -> list[Path]:
    """Write each published answer's Markdown and catalog.json into the built site."""
    written: list[Path] = []
    for q in pub.catalog.published_questions():
        path = site_dir / export_path(q.slug)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(answer_markdown(pub, q), encoding="utf-8")
        written.append(path)
    path = site_dir / CATALOG_JSON
    path.write_text(json.dumps(catalog_data(pub), indent=2, ensure_ascii=False)
                    + "\n", encoding="utf-8")
    written.append(path)
    return written


# -- 404 -------------------------------------------------------------------------------------

def not_found_html(output: str, pub: Publication) -> str:
    """Material's 404 page with links to the home page, the answers and search."""
    base = pub.base
    root = (urlsplit(base).path or "/") if base else "/"
    answers = root + pub.urls.page(ANSWERS.index_uri)
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
