"""The generated pages in a site's navigation (MkDocs' ``nav:`` as written in mkdocs.yml).

A site without ``nav:`` gets MkDocs' automatic navigation, generated sections included. A
site with one keeps it as written, with two additions:

- the placeholder ``- modelkb`` (or ``- Some title: modelkb`` for a section of its own) is
  replaced by the generated sections' index pages: Answers, Answers by task, Models,
  Papers, Tools, Gallery, and the writer pages where they are published; sections with
  nothing in them are left out by the plugin's ``on_nav``;
- every generated page is "not in nav" (as if listed under ``not_in_nav``), so a nav that
  lists only the indexes, or none of them, builds without MkDocs' "not included in the
  nav" message; the pages are still built, linked from their indexes and searchable.

Entries naming a writer page while the ``writer_pages`` setting is off are dropped (the
page is not published).
"""

from __future__ import annotations

from typing import Any

from modelkb.site.gallery_pages import GALLERY_URI
from modelkb.site.link_health import LINK_HEALTH_TITLE, LINK_HEALTH_URI
from modelkb.site.sections import BY_FOLDER, GALLERY_DIR, REFERENCE_URI

PLACEHOLDER = "modelkb"
REFERENCE_TITLE = "Catalog reference"
WRITER_PAGES = (REFERENCE_URI, LINK_HEALTH_URI)
_SECTION_ORDER = ("answers", "tasks", "models", "papers", "tools")


def section_items(writer_pages: bool) -> list[dict[str, str]]:
    """The nav entries the placeholder stands for, in the order the shipped site lists them."""
    items = [{BY_FOLDER[f].title: BY_FOLDER[f].index_uri} for f in _SECTION_ORDER]
    items.append({"Gallery": GALLERY_URI})
    if writer_pages:
        items += [{REFERENCE_TITLE: REFERENCE_URI}, {LINK_HEALTH_TITLE: LINK_HEALTH_URI}]
    return items


def expand(nav: list[Any], writer_pages: bool) -> tuple[list[Any], list[str]]:
    """``nav`` with its placeholders replaced and, without writer pages, their entries
    dropped; also the writer pages dropped (for a message)."""
    dropped: list[str] = []

    def walk(items: list[Any]) -> list[Any]:
        out: list[Any] = []
        for item in items:
            if item == PLACEHOLDER:
                out.extend(section_items(writer_pages))
            elif isinstance(item, str):
                if writer_pages or item not in WRITER_PAGES:
                    out.append(item)
                else:
                    dropped.append(item)
            elif isinstance(item, dict) and len(item) == 1:
                ((title, value),) = item.items()
                if value == PLACEHOLDER:
                    out.append({title: section_items(writer_pages)})
                elif isinstance(value, list):
                    out.append({title: walk(value)})
                elif isinstance(value, str) and not writer_pages and value in WRITER_PAGES:
                    dropped.append(value)
                else:
                    out.append(item)
            else:
                out.append(item)
        return out

    return walk(list(nav)), dropped


def not_in_nav_patterns() -> list[str]:
    """``not_in_nav`` lines (gitignore style, from the docs folder) for every generated page."""
    return [f"/{folder}/*.md" for folder in [*BY_FOLDER, GALLERY_DIR]] + [
        f"/{uri}" for uri in WRITER_PAGES]


def drop_pages(items: list[Any], uris: set[str]) -> list[Any]:
    """Nav items (MkDocs' structure) without the pages whose source is in ``uris``, and
    without sections left empty by that."""
    out = []
    for item in items:
        children = getattr(item, "children", None)
        if getattr(item, "is_section", False) and children is not None:
            kept = drop_pages(children, uris)
            if not kept and children:
                continue
            item.children = kept
        elif getattr(getattr(item, "file", None), "src_uri", None) in uris:
            continue
        out.append(item)
    return out
