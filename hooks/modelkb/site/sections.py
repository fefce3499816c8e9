"""The site's sections, written once: the kinds of catalog pages (the table is
:mod:`modelkb.catalog.kinds`, re-exported here), the gallery and reference pages, and the
three anchored sections of an answer page.

Every module that names a section folder, an index title or an answer anchor reads it here.
Published URLs depend on these names, so they never change.
"""

from __future__ import annotations

from modelkb.catalog.kinds import ANSWERS, BY_FOLDER, PAGE_KINDS, TASKS, PageKind

__all__ = ["ANSWERS", "BY_FOLDER", "GALLERY_DIR", "PAGE_KINDS", "REFERENCE_URI", "SECTION_ANCHORS",
           "SECTION_TITLES", "TASKS", "PageKind"]

GALLERY_DIR = "gallery"  # the gallery page (gallery/index.md) and its published images
REFERENCE_URI = "reference/catalog.md"

# Anchors of an answer page's three sections and their headings.
SECTION_ANCHORS = ("task", "workflow", "references")
SECTION_TITLES = {
    "task": "1. What you are trying to do",
    "workflow": "2. How the model works: input → model → output",
    "references": "3. Papers and tools",
}
