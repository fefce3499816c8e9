"""The impact report of a build: pages added, changed and removed, pictures computed (each
with its reasons), cards redrawn.

The plugin hands an :class:`Impact` every page's HTML as written (``on_post_page``), the
pages of the build (``on_nav``), the cards the build drew and the gallery's report; at the
end of the build :func:`finish_report` compares the pages' SHA-256 digests with those the
previous build of the same site URL recorded in ``<cache>/page-hashes.json`` (``mkdocs
serve`` sets its own site URL, which every page's canonical link shows, so serving and
building are compared each with its own kind), logs a short summary (one line: names when
few changed, counts when many) and writes the complete report to ``<cache>/last-build.json``,
both atomically. A ``mkdocs serve --dirty`` rebuild renders only the pages whose source
changed; the others keep their previous digests.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelkb.files import atomic_write, hash_bytes

log = logging.getLogger(__name__)

LAST_BUILD = "last-build.json"  # in the cache folder: the last build's complete report
PAGE_HASHES = "page-hashes.json"  # in the cache folder: {site URL: {page URL: SHA-256}}
SITES_KEPT = 4  # page digests are kept for this many site URLs (the latest used)
REPORT_VERSION = 1
FEW = 5  # up to this many changes are named in the log line; more are counted


@dataclass
class Impact:
    """What one build wrote, gathered while it runs."""

    urls: list[str] = field(default_factory=list)  # every page of the build
    pages: dict[str, str] = field(default_factory=dict)  # URL -> SHA-256 of its HTML
    cards_redrawn: list[str] = field(default_factory=list)  # site paths of drawn cards
    cards_total: int = 0

    def page(self, url: str, html: str) -> None:
        """Record one page's HTML as written."""
        self.pages[page_url(url)] = hash_bytes(html.encode("utf-8"))

    def cards(self, made: list[tuple[str, Path]], present_before: set[str]) -> None:
        """Record the cards of this build; those whose file was not there before were drawn."""
        self.cards_total = len(made)
        self.cards_redrawn = sorted(page_url(site_path) for site_path, file in made
                                    if file.name not in present_before)


def page_url(url: str) -> str:
    """A page's URL as the report shows it: from the site's root, e.g. '/answers/x/' (the
    home page's file URL './' and its page URL '' are both '/')."""
    return "/" + ("" if url in (".", "./") else url.lstrip("/"))


def card_files_present(folder: Path) -> set[str]:
    """Names of the card files already drawn into ``folder``."""
    try:
        return {p.name for p in folder.iterdir()}
    except OSError:
        return set()


def read_page_hashes(cache_dir: Path) -> dict[str, dict[str, str]]:
    """The page digests recorded by earlier builds, by site URL ({} when none or unreadable)."""
    try:
        data = json.loads((Path(cache_dir) / PAGE_HASHES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    sites = data.get("sites") if isinstance(data, dict) \
        and data.get("version") == REPORT_VERSION else None
    return {k: v for k, v in sites.items() if isinstance(v, dict)} \
        if isinstance(sites, dict) else {}


def _pictures(gallery: Any) -> dict[str, Any]:
    """The gallery part of the report, from a GalleryReport (or None: no gallery)."""
    computed, rendered, cached = [], [], []
    for entry_id, result in (gallery.results.items() if gallery else ()):
        item = {"id": entry_id, "input": result.record.input_file, "reasons": result.reasons,
                "seconds": round(result.seconds, 2)}
        if result.status == "computed":
            computed.append(item)
        elif result.rendered:
            rendered.append(item)
        else:
            cached.append(entry_id)
    failed = [{"id": f.entry, "path": f.path, "reason": f.reason}
              for f in (gallery.failures if gallery else ())]
    return {"computed": computed, "rendered": rendered, "cached": cached, "failed": failed}


def build_report(impact: Impact, old: dict[str, str] | None, gallery: Any,
                 command: str | None = None, site: str = ""
                 ) -> tuple[dict[str, Any], dict[str, str]]:
    """The complete report of a build compared with the page digests ``old`` of the previous
    build (None: none recorded), and this build's page digests."""
    before = old or {}
    hashes = {}
    for url in dict.fromkeys(page_url(u) for u in impact.urls):
        digest = impact.pages.get(url, before.get(url))  # not rendered (--dirty): as before
        if digest is not None:
            hashes[url] = digest
    hashes.update({u: d for u, d in impact.pages.items() if u not in hashes})
    pages = {"added": sorted(u for u in hashes if u not in before),
             "changed": sorted(u for u, d in hashes.items() if u in before and before[u] != d),
             "removed": sorted(u for u in before if u not in hashes)}
    pages["unchanged"] = len(hashes) - len(pages["added"]) - len(pages["changed"])
    pages["total"] = len(hashes)
    report = {"version": REPORT_VERSION,
              "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "command": command, "site_url": site, "first": old is None,
              "pages": pages, "pictures": _pictures(gallery),
              "cards": {"redrawn": impact.cards_redrawn, "total": impact.cards_total}}
    return report, dict(sorted(hashes.items()))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def pictures_text(items: list[dict[str, Any]], verb: str) -> str:
    """'1 picture computed: portrait (input photo changed)', or with many, counts by reason:
    '12 pictures computed (12 pixel code or library versions changed)'."""
    text = f"{_plural(len(items), 'picture')} {verb}"
    if not items:
        return text
    if len(items) <= FEW:
        return text + ": " + ", ".join(f"{p['id']} ({'; '.join(p['reasons'])})"
                                       for p in items)
    counts = Counter(reason for p in items for reason in p["reasons"])
    return text + " (" + ", ".join(f"{n} {reason}" for reason, n in counts.most_common()) + ")"


def summary(report: dict[str, Any], where: str) -> str:
    """The report in one log line; ``where`` names the report file."""
    pages, pictures, cards = report["pages"], report["pictures"], report["cards"]
    kinds = [(k, pages[k]) for k in ("changed", "added", "removed") if pages[k]]
    changes = sum(len(urls) for _, urls in kinds)
    failed = f", {len(pictures['failed'])} failed" if pictures["failed"] else ""
    total = pages["total"]
    if report["first"]:
        parts = [f"first build recorded: {_plural(total, 'page')}"]
    elif not changes and not pictures["computed"] and not pictures["rendered"] \
            and not cards["redrawn"]:
        return (f"impact: nothing changed ({_plural(total, 'page')}, "
                f"{_plural(len(pictures['cached']), 'picture')} cached{failed})")
    elif not kinds:
        parts = ["no page changed"]
    else:
        parts = [", ".join(
            (_plural(len(urls), "page") if i == 0 else str(len(urls))) + f" {kind}"
            + (f" ({', '.join(urls)})" if changes <= FEW else "")
            for i, (kind, urls) in enumerate(kinds))]
    text = pictures_text(pictures["computed"], "computed")
    if pictures["rendered"]:
        text += "; " + pictures_text(pictures["rendered"], "rendered again")
    parts.append(text + failed)
    if cards["redrawn"]:
        redrawn = cards["redrawn"]
        parts.append(_plural(len(redrawn), "card") + " redrawn"
                     + (f" ({', '.join(redrawn)})" if len(redrawn) <= FEW else ""))
    return "impact: " + "; ".join(parts) + f" (details: {where})"


def finish_report(impact: Impact, gallery: Any, cache_dir: Path,
                  display: Callable[[Path], str] = str, command: str | None = None,
                  site: str | None = None) -> dict[str, Any]:
    """Compare with the previous build of the site URL ``site``, log the summary line, write
    ``last-build.json`` and the page digests atomically (a cache that cannot be written gets
    an info line, not a failed build). ``display`` shows a path in messages."""
    path = Path(cache_dir) / LAST_BUILD
    sites = read_page_hashes(cache_dir)
    report, hashes = build_report(impact, sites.get(site or ""), gallery, command, site or "")
    log.info("%s", summary(report, display(path)))
    sites.pop(site or "", None)
    sites[site or ""] = hashes
    kept = dict(list(sites.items())[-SITES_KEPT:])
    try:
        atomic_write(Path(cache_dir) / PAGE_HASHES,
                     json.dumps({"version": REPORT_VERSION, "sites": kept}))
        atomic_write(path, json.dumps(report, indent=1))
    except OSError as exc:
        log.info("impact: cannot write %s (%s); the next build compares with an older one",
                 display(path), exc.strerror or exc)
    return report
