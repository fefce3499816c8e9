"""The "Link health" page: every outbound link of the catalog as ``modelkb links`` last found
it, broken ones first, each with the date it was checked and the catalog entries that use it.

The page is built from the results cached in the cache folder (``links.json``, see
:mod:`modelkb.linkcheck.results`); a build makes no request. Without results it says how to
produce them; links a run did not check (its time budget ran out, or their host timed out
repeatedly) are listed with the reason under "Not checked yet". Everything from the results
file (reasons, hints, a moved link's new address, which a server chose) is shown as plain
text; only addresses that pass the site's URL check become links.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

from modelkb.catalog import Catalog
from modelkb.catalog.markup import url_problem
from modelkb.linkcheck.collect import LinkUse, catalog_links
from modelkb.linkcheck.results import Result, load_results
from modelkb.site.gallery_pages import photo_title
from modelkb.site.render import link_markdown, plain
from modelkb.site.sections import ANSWERS, GALLERY_DIR, PAGE_KINDS, REFERENCE_URI

LINK_HEALTH_URI = f"{REFERENCE_URI.split('/')[0]}/link-health.md"
LINK_HEALTH_TITLE = "Link health"
NOT_CHECKED = "not checked"
HEADINGS = {"broken": "Broken", "moved": "Moved", "unverified": "Not verified",
            NOT_CHECKED: "Not checked yet", "ok": "Working"}
MARKS = {"broken": "✗", "moved": "↪", "unverified": "?", NOT_CHECKED: "·", "ok": "✓"}


def link_health_page(catalog: Catalog, cache_dir: Path) -> str:
    """The page's Markdown (``[[id]]`` shortcodes and ``/answers/...md`` links are resolved
    by the plugin, as on every page)."""
    by_url: dict[str, list[LinkUse]] = defaultdict(list)
    for use in catalog_links(catalog):
        by_url[use.url].append(use)
    # a damaged results file is told at info level: a cache never fails a --strict build
    results = {url: r for url, r in load_results(cache_dir, logging.INFO).items()
               if url in by_url}
    lines = [f"# {LINK_HEALTH_TITLE}", "",
             ("The catalog's links to other sites (papers, code, weights, photo sources and "
              "links in the text), as `modelkb links` last found them."), ""]
    if not by_url:
        return "\n".join([*lines, "*The catalog links to no other site.*", ""])
    if not results:
        lines += ['!!! note "Not checked yet"', "",
                  ("    No link check results are in this build's cache. Run `modelkb links` "
                   "in the site's folder (it checks every link and keeps the results, with "
                   "their dates, in the cache folder as `links.json`), then build the site "
                   "again."), ""]
    groups: dict[str, list[str]] = {status: [] for status in HEADINGS}  # worst first
    for url in by_url:
        result = results.get(url)
        groups[result.status if result else NOT_CHECKED].append(url)
    if results:
        dates = sorted(r.checked for r in results.values())
        counts = ", ".join(f"{len(urls)} {HEADINGS[s].lower()}" for s, urls in groups.items()
                           if urls)
        lines += [f"{len(by_url)} links: {plain(counts)}. Checked between "
                  f"{plain(_when(dates[0]))} and {plain(_when(dates[-1]))}; run "
                  "`modelkb links` and build again to refresh.", ""]
        if groups["broken"]:
            count = len(groups["broken"])
            lines += ['!!! failure "Broken links"', "",
                      (f"    {count} link did not work when last checked; it is listed first."
                       if count == 1 else f"    {count} links did not work when last "
                       "checked; they are listed first."), ""]
    for status, urls in groups.items():
        if not urls:
            continue
        lines += [f"## {HEADINGS[status]} ({len(urls)})", ""]
        lines += [_item(status, url, results.get(url), by_url[url], catalog) for url in urls]
        lines.append("")
    return "\n".join(lines)


def _item(status: str, url: str, result: Result | None, uses: list[LinkUse],
          catalog: Catalog) -> str:
    parts = [f"{MARKS[status]} **{plain(HEADINGS[status])}**: {link_markdown(url, url)}"]
    if result is not None:
        parts.append(plain(result.reason))
        if result.fix:
            new = (link_markdown(result.fix, result.fix)
                   if url_problem(result.fix, outside=True) is None else plain(result.fix))
            parts.append(f"now at {new}")
        elif result.status != "ok" and result.hint:
            parts.append(plain(result.hint))
        tried = "tried" if result.status == NOT_CHECKED else "checked"
        parts.append(f"{tried} {plain(_when(result.checked))}")
    owners = ", ".join(dict.fromkeys(_owner(use, catalog) for use in uses))
    return f"- {' · '.join(parts)} · in {owners}"


def _when(checked: str) -> str:
    """``2026-12-02T03:04:05Z`` as ``2026-12-02 03:04 UTC``."""
    return checked.replace("T", " ")[:16] + " UTC" if "T" in checked else checked


def _owner(use: LinkUse, catalog: Catalog) -> str:
    """The catalog entry that uses a link, as a link to its page, and the field."""
    where = plain(".".join(str(p) for p in use.path[2:] if not isinstance(p, int))
                  .replace("answer.", "answer "))
    if use.section in PAGE_KINDS and PAGE_KINDS[use.section].linked:
        return f"[[{use.key}]] ({where})"
    if use.section == "questions":
        question = catalog.questions[use.key].question
        short = question if len(question) <= 80 else question[:79].rsplit(" ", 1)[0] + "…"
        return f"the answer [{plain(short)}](/{ANSWERS.page_uri(use.key)}) ({where})"
    if use.section == "gallery":
        title = photo_title(catalog.gallery[use.key].caption)
        return (f"the gallery photo [{plain(title)}](../{GALLERY_DIR}/index.md#photo-{use.key})"
                f" ({where})")
    return f"{plain(use.section)} {plain(use.key)} ({where})"

