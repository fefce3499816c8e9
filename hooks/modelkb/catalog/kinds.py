"""The kinds of catalog entries that have pages of their own, written once.

Each row says where a kind's pages live and what they are called: pages, sections, the
record of published URLs (``published-urls.txt``), preview cards, ``catalog.json``, the
``[[id]]`` shortcodes and the names the site reserves all read :data:`PAGE_KINDS`, so a kind
added here is published, recorded and linked everywhere. Published URLs depend on these
names: they never change.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageKind:
    """One kind of catalog page: ``<folder>/<key>.md`` for each entry (its key is its
    ``id``, an answer's its ``slug``), ``<folder>/index.md`` listing them."""

    kind: str  # the catalog section and Catalog attribute holding the entries ('models')
    folder: str  # the pages' folder, and the first part of their URLs ('models')
    label: str  # one entry, as in 'Model: ...' (a card shows it in lower case)
    title: str  # the index page's title
    title_field: str  # the field an entry's title is (Entry.title; catalog.json's key)
    record: str  # its pages' kind in published-urls.txt ('model')
    card: str  # its preview cards' kind in published-urls.txt ('model-card')
    card_dir: str  # its cards' folder under the cards folder ('' for beside the site's)
    linked: bool = True  # ``[[id]]`` names its entries (answers are linked by their pages)

    @property
    def index_uri(self) -> str:
        """Source path of the section's index page."""
        return f"{self.folder}/index.md"

    def page_uri(self, key: str) -> str:
        """Source path of one entry's page (an answer's slug, a model's id, ...)."""
        return f"{self.folder}/{key}.md"


ANSWERS = PageKind("questions", "answers", "Answer", "Answers", "question", "answer", "card",
                   "", linked=False)
MODELS = PageKind("models", "models", "Model", "Models", "name", "model", "model-card",
                  "models")
PAPERS = PageKind("papers", "papers", "Paper", "Papers", "title", "paper", "paper-card",
                  "papers")
TOOLS = PageKind("tools", "tools", "Tool", "Tools", "name", "tool", "tool-card", "tools")
TASKS = PageKind("tasks", "tasks", "Task", "Answers by task", "name", "task", "task-card",
                 "tasks")
# kind -> its row, in the order the site lists them (pages, cards, the search index)
PAGE_KINDS: dict[str, PageKind] = {k.kind: k for k in (ANSWERS, MODELS, PAPERS, TOOLS, TASKS)}
BY_FOLDER: dict[str, PageKind] = {k.folder: k for k in PAGE_KINDS.values()}
# the kinds whose entries ``[[id]]`` names, in the order an id is looked up
LINKED: tuple[PageKind, ...] = tuple(k for k in PAGE_KINDS.values() if k.linked)
