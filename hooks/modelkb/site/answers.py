"""An answer as a Markdown page: its three sections (anchors and headings in
:mod:`modelkb.site.sections`) and outside links.

Catalog text never enters the page as Markdown: Markdown fields become sanitised HTML blocks
(:mod:`modelkb.site.render`) and plain fields are encoded by :func:`plain`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelkb.catalog.markup import Link, find_links  # noqa: F401 (re-exported)
from modelkb.site.render import attr, link_markdown, plain  # noqa: F401 (re-exported)
from modelkb.site.sections import ANSWERS, PAGE_KINDS, SECTION_TITLES

if TYPE_CHECKING:
    from modelkb.catalog import Catalog, Question
    from modelkb.site.render import Renderer


def front_matter(title: str, description: str = "", *, hidden: bool = False) -> list[str]:
    """YAML front matter lines for a page of fixed text (catalog pages set page.meta instead).

    ``hidden`` keeps the page out of the search index (drafts).
    """
    lines = ["---", f"title: {json.dumps(attr(title), ensure_ascii=False)}"]
    if description:
        lines.append(f"description: {json.dumps(attr(description[:200]), ensure_ascii=False)}")
    if hidden:
        lines += ["search:", "  exclude: true"]
    return lines + ["---", ""]


def reference_links(kind: str, entry) -> list[tuple[str, str]]:
    """The outside links of a catalog entry, as (label, url)."""
    links: list[tuple[str, str]] = []
    if kind == "models":
        if entry.paper:
            links.append(("Paper", entry.paper))
        if entry.code:
            links.append((_code_label(entry.code), entry.code))
    elif kind == "papers":
        links.append((_paper_label(entry.link), entry.link))
        if entry.code:
            links.append((_code_label(entry.code), entry.code))
    elif kind == "tools":
        links.append((_code_label(entry.link), entry.link))
    return links


def _code_label(url: str) -> str:
    return "GitHub" if "github.com/" in url else "Code"


def _paper_label(url: str) -> str:
    return "arXiv" if "arxiv.org/" in url else "Paper"


def render_links(links: list[tuple[str, str]]) -> str:
    """Links as a Markdown ' · '-separated list (each URL checked by link_markdown)."""
    return " · ".join(link_markdown(url, label) for label, url in links)


@dataclass(frozen=True)
class AnswerPictures:
    """An answer's gallery pictures as Markdown: ``lead``, the before/after of its first
    screen (under the question and the answer), and ``section``, section 2's photos."""

    lead: str = ""
    section: str = ""


def render_answer(q: Question, catalog: Catalog, renderer: Renderer,
                  workflow_md: str | AnswerPictures = "") -> str:
    """The Markdown of an answer page: question, answer, the lead picture if any, then
    exactly the three anchored sections (``workflow_md``'s section in the second).

    The page's title, description and search exclusion are page metadata, not front matter.
    """
    pictures = (workflow_md if isinstance(workflow_md, AnswerPictures)
                else AnswerPictures(section=workflow_md))
    uri = ANSWERS.page_uri(q.slug)
    lines: list[str] = []
    if q.draft:
        lines += ['!!! warning "Draft"',
                  ("    This answer is a draft: it is not listed on the home page, in search or "
                  "in the exports until `draft: true` is removed."),
                  ""]
    lines += [f"# {plain(q.question)}", ""]
    if not q.draft:  # the row publish.js fills with "Copy as Markdown", reserved at its height
        lines += ['<p class="mkb-export" data-mkb-export></p>', ""]
    lines += [f"*{plain(q.answer.summary)}*", ""]
    if pictures.lead:
        lines += [pictures.lead.strip(), ""]
    task = catalog.tasks.get(q.task)
    lines += [_heading("task"), ""]
    if task:
        lines += [f"**Task:** [[{task.id}]]", ""]
    lines += [renderer.block(q.answer.task, uri), ""]
    lines += [_heading("workflow"), "", renderer.block(q.answer.workflow, uri), ""]
    if pictures.section:
        lines += [pictures.section.strip(), ""]
    lines += [_heading("references"), ""]
    for kind, ids in (("models", q.models), ("papers", q.papers), ("tools", q.tools)):
        for ref in ids:
            entry = getattr(catalog, kind)[ref]
            label = PAGE_KINDS[kind].label
            links = render_links(reference_links(kind, entry))
            lines += [f"- **{label}: [[{ref}]]**" + (f" — {links}" if links else ""), ""]
            note = q.answer.notes.get(ref, "").strip()
            if note:
                lines += [renderer.block(note, uri, "mkb-text mkb-note"), ""]
    return "\n".join(lines).rstrip() + "\n"


def _heading(anchor: str) -> str:
    return f"## {SECTION_TITLES[anchor]} {{#{anchor}}}"
