"""Links in catalog Markdown, for grounding: found in the rendered HTML, not with regexes.

Catalog text is converted with Python-Markdown (with and without fenced code, so that text
either reading calls a link is seen), and every ``href`` and ``src`` of the resulting HTML,
raw HTML included, is a link, and so is any ``<scheme:...>``. ``[[id]]`` shortcodes are
found by an inline pattern, so those in code are not. Bare URLs, which the site does not
link, are reported too: an answer may not name a URL the catalog does not list.
:func:`url_problem` is the one URL check of the catalog's URL fields and of every link the
site builds.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as etree
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

SHORTCODE_PATTERN = r"\[\[([a-z0-9][a-z0-9._-]*)\]\]"
SHORTCODE_RE = re.compile(r"(?<!\\)" + SHORTCODE_PATTERN)
_BARE_URL_RE = re.compile(r"(?<![\w(<])[a-zA-Z][a-zA-Z0-9+.-]*://[^\s)<>\]]+")
_AUTOLINK_RE = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]*:[^\s>]*)>")
_SCHEME_RE = re.compile(r"\s*([a-zA-Z][a-zA-Z0-9+.-]*):")
# Extensions whose syntax can make links: the site's own set is a subset of these readings.
_READINGS = (("attr_list", "admonition", "tables", "toc", "fenced_code", "footnotes",
              "def_list", "abbr"),
             ("attr_list", "admonition", "tables", "toc", "footnotes", "def_list", "abbr"))
_URL_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f-\x9f\"'<>\\`]")


@dataclass(frozen=True)
class Link:
    """A link found in catalog Markdown: an outside target or a ``[[id]]`` shortcode."""

    kind: str  # "url" or "shortcode"
    target: str


def url_problem(url: str, *, outside: bool = True) -> str | None:
    """Why ``url`` may not be published as a link, or None when it may.

    ``outside``: it must be an absolute http(s) URL with a host (catalog URL fields);
    otherwise relative URLs and mailto: are allowed too (links the site builds itself).
    """
    if not url:
        return "is empty"
    scheme = _SCHEME_RE.match(url)
    allowed = ("http", "https") if outside else ("http", "https", "mailto")
    if (scheme and scheme.group(1).lower() not in allowed) or (outside and not scheme):
        return ("must be an absolute http:// or https:// link" if outside
                else "must be an http://, https:// or mailto: link, or relative")
    if not scheme and ":" in re.split(r"[/?#]", url, maxsplit=1)[0]:
        return "has a ':' before its first '/', '?' or '#' (it could read as a scheme)"
    if _URL_FORBIDDEN.search(url):
        return "must not contain spaces, control characters, quotes, '<', '>' or backslashes"
    for open_, close in ("()", "[]", "{}"):
        depth = 0
        for ch in url:
            depth += (ch == open_) - (ch == close)
            if depth < 0:
                break
        if depth != 0:
            return f"has unbalanced '{open_}' and '{close}'"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as exc:
        return f"cannot be parsed ({exc})"
    if outside or parts.scheme:
        allowed = ("http", "https") if outside else ("http", "https", "mailto")
        if parts.scheme not in allowed:
            return "must be an absolute http:// or https:// link"
        if parts.scheme in ("http", "https") and not parts.hostname:
            return "must name a host, as in https://example.org/page"
    elif url.startswith("//"):
        return "must not start with '//'"
    return None


class _Targets(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src", "action", "formaction", "xlink:href", "poster",
                        "data", "background", "srcset") and value is not None:
                self.found.append(value.strip())

    handle_startendtag = handle_starttag


@functools.cache
def _converters() -> tuple[list[Any], list[str]]:
    """One Markdown converter per reading (made once per process), with a pattern that
    records shortcodes in the list returned with them."""
    import markdown
    from markdown.extensions import Extension
    from markdown.inlinepatterns import InlineProcessor

    seen: list[str] = []

    class Shortcode(InlineProcessor):
        def handleMatch(self, m, data):  # noqa: N802
            seen.append(m.group(1))
            el = etree.Element("span")
            el.text = m.group(0)
            return el, m.start(0), m.end(0)

    class Shortcodes(Extension):
        def extendMarkdown(self, md):  # noqa: N802
            md.inlinePatterns.register(Shortcode(SHORTCODE_PATTERN), "modelkb_shortcode", 175)

    return [markdown.Markdown(extensions=[*names, Shortcodes()]) for names in _READINGS], seen


def find_links(text: str) -> list[Link]:
    """Every link target ``text`` can produce: hrefs and srcs of its HTML, bare URLs, shortcodes."""
    converters, seen = _converters()
    seen.clear()
    targets = _Targets()
    for md in converters:
        md.reset()
        targets.feed(md.convert(text))
    targets.close()
    found: list[Link] = [Link("shortcode", s) for s in dict.fromkeys(seen)]
    urls = [*targets.found, *(m.group(1) for m in _AUTOLINK_RE.finditer(text)),
            *(m.group(0).rstrip(".,;:!?\"'") for m in _BARE_URL_RE.finditer(text))]
    found += [Link("url", u) for u in dict.fromkeys(urls)]
    return found
