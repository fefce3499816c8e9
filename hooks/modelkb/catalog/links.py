"""Links in catalog Markdown, for grounding: outside targets and ``[[id]]`` shortcodes."""

from __future__ import annotations

import re
from dataclasses import dataclass

SHORTCODE_RE = re.compile(r"(?<!\\)\[\[([a-z0-9][a-z0-9._-]*)\]\]")
_INLINE_LINK_RE = re.compile(r"\]\(\s*<?([^)\s>]*)")
_REF_DEF_RE = re.compile(r"^[ ]{0,3}\[[^\]]+\]:\s*<?([^\s>]+)", re.MULTILINE)
_AUTOLINK_RE = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]*:[^\s>]*)>")
_BARE_URL_RE = re.compile(r"(?<![\w(<])[a-zA-Z][a-zA-Z0-9+.-]*://[^\s)<>\]]+")


@dataclass(frozen=True)
class Link:
    """A link found in catalog Markdown: an outside target or a ``[[id]]`` shortcode."""

    kind: str  # "url" or "shortcode"
    target: str


def find_links(text: str) -> list[Link]:
    """Every link target in ``text``: inline, reference, autolinks, bare URLs, shortcodes."""
    found: list[Link] = [Link("shortcode", m.group(1)) for m in SHORTCODE_RE.finditer(text)]
    seen: set[str] = set()
    for regex in (_INLINE_LINK_RE, _REF_DEF_RE, _AUTOLINK_RE, _BARE_URL_RE):
        for m in regex.finditer(text):
            target = m.group(1) if regex.groups else m.group(0)
            target = target.rstrip(".,;:!?\"'")
            if target not in seen:
                seen.add(target)
                found.append(Link("url", target))
    return found
