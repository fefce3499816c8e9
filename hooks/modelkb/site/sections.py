"""The site's sections, written once: where each kind of catalog page lives and what it is
called, and the three anchored sections of an answer page.

Every module that names a section folder, an index title or an answer anchor reads it here.
Published URLs depend on these names, so they never change.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    """One kind of catalog page: ``<folder>/<key>.md`` for each entry, ``<folder>/index.md``
    listing them."""

    kind: str  # the Catalog attribute holding the entries ('questions', 'models', ...)
    folder: str  # the pages' folder, and the first part of their URLs
    title: str  # the index page's title
    label: str  # one entry, as in 'Model: ...'

    @property
    def index_uri(self) -> str:
        """Source path of the section's index page."""
        return f"{self.folder}/index.md"

    def page_uri(self, key: str) -> str:
        """Source path of one entry's page (an answer's slug, a model's id, ...)."""
        return f"{self.folder}/{key}.md"


ANSWERS = Section("questions", "answers", "Answers", "Answer")
MODELS = Section("models", "models", "Models", "Model")
PAPERS = Section("papers", "papers", "Papers", "Paper")
TOOLS = Section("tools", "tools", "Tools", "Tool")
TASKS = Section("tasks", "tasks", "Answers by task", "Task")
# kind -> section; the kinds are the Catalog's attributes (catalog.entry() returns them)
PAGE_SECTIONS: dict[str, Section] = {s.kind: s for s in (ANSWERS, MODELS, PAPERS, TOOLS, TASKS)}
BY_FOLDER: dict[str, Section] = {s.folder: s for s in PAGE_SECTIONS.values()}
GALLERY_DIR = "gallery"  # the gallery page (gallery/index.md) and its published images
REFERENCE_URI = "reference/catalog.md"

# Anchors of an answer page's three sections and their headings.
SECTION_ANCHORS = ("task", "workflow", "references")
SECTION_TITLES = {
    "task": "1. What you are trying to do",
    "workflow": "2. How the model works: input → model → output",
    "references": "3. Papers and tools",
}
