"""The impact report of a build: pages added, changed and removed, pictures computed (each
with its reasons), cards redrawn.

The plugin hands an :class:`Impact` every page's HTML as written (``on_post_page``), the
pages of the build (``on_nav``), the cards the build drew and the gallery's report; at the
end of the build :func:`finish_report` compares the pages' SHA-256 digests with those the
previous build recorded in ``<cache>/last-build.json``, logs a short summary (one line:
names when few changed, counts when many) and writes the complete report back to that file
atomically. A ``mkdocs serve --dirty`` rebuild renders only the pages whose source changed;
the others keep their previous digests.
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

LAST_BUILD = "last-build.json"  # in the cache folder
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
    """A page's URL as the report shows it: from the site's root, e.g. '/answers/x/'."""
    return "/" + url.lstrip("/")


def card_files_present(folder: Path) -> set[str]:
    """Names of the card files already drawn into ``folder``."""
    try:
        return {p.name for p in folder.iterdir()}
    except OSError:
        return set()


def read_last_build(cache_dir: Path) -> dict[str, Any] | None:
    """The previous build's report, or None (no build recorded, or unreadable)."""
    try:
        data = json.loads((Path(cache_dir) / LAST_BUILD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(data, dict) and data.get("version") == REPORT_VERSION \
        and isinstance(data.get("page_hashes"), dict)
    return data if ok else None


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


def build_report(impact: Impact, previous: dict[str, Any] | None, gallery: Any,
                 command: str | None = None) -> dict[str, Any]:
    """The complete report of a build, compared with ``previous`` (a read_last_build)."""
    old: dict[str, str] = dict(previous["page_hashes"]) if previous else {}
    hashes = {}
    for url in dict.fromkeys(page_url(u) for u in impact.urls):
        digest = impact.pages.get(url, old.get(url))  # not rendered (--dirty): as before
        if digest is not None:
            hashes[url] = digest
    hashes.update({u: d for u, d in impact.pages.items() if u not in hashes})
    pages = {"added": sorted(u for u in hashes if u not in old),
             "changed": sorted(u for u, d in hashes.items() if u in old and old[u] != d),
             "removed": sorted(u for u in old if u not in hashes)}
    pages["unchanged"] = len(hashes) - len(pages["added"]) - len(pages["changed"])
    return {"version": REPORT_VERSION,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": command, "first": previous is None,
            "pages": pages, "pictures": _pictures(gallery),
            "cards": {"redrawn": impact.cards_redrawn, "total": impact.cards_total},
            "page_hashes": dict(sorted(hashes.items()))}


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
    total = len(report["page_hashes"])
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
                  display: Callable[[Path], str] = str,
                  command: str | None = None) -> dict[str, Any]:
    """Compare with the previous build, log the summary line, write ``last-build.json``
    atomically (a cache that cannot be written gets an info line, not a failed build).
    ``display`` shows a path in messages (e.g. relative to the project)."""
    path = Path(cache_dir) / LAST_BUILD
    report = build_report(impact, read_last_build(cache_dir), gallery, command)
    log.info("%s", summary(report, display(path)))
    try:
        atomic_write(path, json.dumps(report, indent=1))
    except OSError as exc:
        log.info("impact: cannot write %s (%s); the next build compares with an older one",
                 display(path), exc.strerror or exc)
    return report
