"""Catalog text as safe Markdown, link finding for grounding, and the three answer sections."""

from __future__ import annotations

import html
import json
import re
from typing import TYPE_CHECKING

from modelkb.catalog.links import SHORTCODE_RE, Link, find_links  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from modelkb.catalog import Catalog, Question

# Anchors of the three sections; published URLs depend on them, so they never change.
SECTION_ANCHORS = ("task", "workflow", "references")
SECTION_TITLES = {
    "task": "1. What you are trying to do",
    "workflow": "2. How the model works: input → model → output",
    "references": "3. Papers and tools",
}

_CODE_RE = re.compile(r"(^```.*?^```[ \t]*$|^~~~.*?^~~~[ \t]*$|(`+).+?\2)",
                      re.DOTALL | re.MULTILINE)
_PLAIN_ESCAPE_RE = re.compile(r"([\\`*_{}\[\]()#+\-.!|])")


def front_matter(title: str, description: str = "", *, hidden: bool = False) -> list[str]:
    """YAML front matter lines; MkDocs themes print titles as HTML, so they are escaped.

    ``hidden`` keeps the page out of the search index (drafts).
    """
    lines = ["---", f"title: {json.dumps(html.escape(' '.join(title.split())))}"]
    if description:
        text = " ".join(description.split())[:200]
        lines.append(f"description: {json.dumps(html.escape(text))}")
    if hidden:
        lines += ["search:", "  exclude: true"]
    return lines + ["---", ""]


def plain(text: str) -> str:
    """Plain catalog text (titles, names, captions) as Markdown that renders as that text."""
    text = " ".join(text.split())
    return html.escape(_PLAIN_ESCAPE_RE.sub(r"\\\1", text), quote=False)


def outside_code(text: str, transform) -> str:
    """Apply ``transform`` to the parts of Markdown ``text`` outside code spans and fences."""
    if "`" not in text and "~~~" not in text:
        return transform(text)  # the common case: no code at all
    out: list[str] = []
    pos = 0
    for m in _CODE_RE.finditer(text):
        out.append(transform(text[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(transform(text[pos:]))
    return "".join(out)


def safe_markdown(text: str) -> str:
    """Catalog Markdown with raw HTML and attribute lists neutralised (shown as text)."""
    return outside_code(text, _neutralise)


def _neutralise(fragment: str) -> str:
    fragment = fragment.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # '{' would open an attribute list ({: onclick=...}); '&' keeps entities from decoding
    # into markup. Blockquote '>' at line start becomes a literal '>' -- acceptable.
    return fragment.replace("{", "\\{").replace("}", "\\}")


def attr(text: str) -> str:
    """Text for an HTML attribute value (meta tags, alt text)."""
    return html.escape(" ".join(text.split()), quote=True)


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
    """Links as a Markdown ' · '-separated list."""
    return " · ".join(f"[{plain(label)}]({url})" for label, url in links)


def render_answer(q: Question, catalog: Catalog, workflow_md: str = "") -> str:
    """The Markdown of an answer page: question, then exactly the three anchored sections."""
    lines = front_matter(q.question, q.answer.summary, hidden=q.draft)
    if q.draft:
        lines += ['!!! warning "Draft"',
                  ("    This answer is a draft: it is not listed on the home page, in search or "
                  "in the exports until `draft: true` is removed."),
                  ""]
    lines += [f"# {plain(q.question)}", "", f"*{plain(q.answer.summary)}*", ""]
    task = catalog.tasks.get(q.task)
    lines += [_heading("task"), ""]
    if task:
        lines += [f"**Task:** [[{task.id}]]", ""]
    lines += [safe_markdown(q.answer.task).strip(), ""]
    lines += [_heading("workflow"), "", safe_markdown(q.answer.workflow).strip(), ""]
    if workflow_md:
        lines += [workflow_md.strip(), ""]
    lines += [_heading("references"), ""]
    for kind, ids in (("models", q.models), ("papers", q.papers), ("tools", q.tools)):
        for ref in ids:
            entry = getattr(catalog, kind)[ref]
            label = {"models": "Model", "papers": "Paper", "tools": "Tool"}[kind]
            links = render_links(reference_links(kind, entry))
            lines += [f"- **{label}: [[{ref}]]**" + (f" — {links}" if links else "")]
            note = q.answer.notes.get(ref, "").strip()
            if note:
                lines += ["", _indent(safe_markdown(note), 4), ""]
    return "\n".join(lines).rstrip() + "\n"


def _heading(anchor: str) -> str:
    return f"## {SECTION_TITLES[anchor]} {{#{anchor}}}"


def _indent(text: str, n: int) -> str:
    pad = " " * n
    return "\n".join(pad + line if line.strip() else "" for line in text.strip().splitlines())
