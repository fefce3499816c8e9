"""Catalog Markdown: the one set of extensions it is read with, its limits, and its links.

Catalog text is read with :data:`MARKDOWN_EXTENSIONS` and nothing else, whatever the site's
``markdown_extensions`` say: grounding (:func:`find_links`), ``modelkb check``, the build's
renderer (``modelkb.site.render``) and the exports all use :func:`markdown_converter`, so a
link or a file the grounding never saw cannot appear on a page.

Links are found in the rendered HTML, not with regexes: each field is converted once, and
every ``href`` of the HTML, raw HTML included, is a link, every ``src`` an image, and so is
any ``<scheme:...>``. ``[[id]]`` shortcodes are found by an inline pattern, so those in code
are not. Bare URLs, which the site does not link, are reported too: an answer may not name a
URL the catalog does not list. :func:`url_problem` is the one URL check of the catalog's URL
fields and of every link the site builds; :func:`image_problem` the one for images.

Python-Markdown is recursive in the nesting of lists and quotes and slower than linear on
some inputs, so a field is parsed only within :data:`MAX_MARKDOWN_CHARS` characters and
:data:`MAX_MARKDOWN_DEPTH` levels (:func:`markdown_problem`).
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as etree
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

SHORTCODE_PATTERN = r"\[\[([a-z0-9][a-z0-9._-]*)\]\]"
_BARE_URL_RE = re.compile(r"(?<![\w(<])[a-zA-Z][a-zA-Z0-9+.-]*://[^\s)<>\]]+")
_AUTOLINK_RE = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]*:[^\s>]*)>")
_SCHEME_RE = re.compile(r"\s*([a-zA-Z][a-zA-Z0-9+.-]*):")
# The Python-Markdown extensions catalog text is read with, everywhere (docs/security.md).
# Not the site's own list: pymdownx.snippets would publish local files, magiclink and the
# like would make links the grounding never saw, toc and footnotes would add ids.
MARKDOWN_EXTENSIONS = ("admonition", "attr_list", "def_list", "fenced_code", "tables")
MAX_MARKDOWN_CHARS = 4_000  # one Markdown field (a summary, an answer section, a note)
MAX_MARKDOWN_DEPTH = 16  # nested lists and quotes in one field
# Python-Markdown scans from each '[' to its ']' (and from each '(' to its ')'), to the end of
# the text when there is none: the sum of those distances bounds its link parsing.
MAX_BRACKET_SCAN = 40_000
MARKDOWN_HINT = "shorten the text, close its brackets, or nest fewer lists and quotes"
_CONTAINER_RE = re.compile(r"[ \t]*(?:>|[-*+](?=[ \t]|$)|\d{1,9}[.)](?=[ \t]|$))")
_URL_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f-\x9f\"'<>\\`]")


@dataclass(frozen=True)
class Link:
    """A link found in catalog Markdown: an outside target or a ``[[id]]`` shortcode."""

    kind: str  # "url" (a link), "image" (a src) or "shortcode"
    target: str


def markdown_problem(text: str) -> str | None:
    """Why ``text`` may not be read as catalog Markdown (too long, nested too deep), or None.

    The depth is counted on each line before parsing: list markers and '>' at its start, and
    its indentation in steps of four columns when a marker follows it. Python-Markdown
    recurses once per level, so thousands of levels end in a RecursionError otherwise.
    """
    if len(text) > MAX_MARKDOWN_CHARS:
        return (f"is {len(text):,} characters long, more than the {MAX_MARKDOWN_CHARS:,} a "
                "Markdown field may hold")
    scan = _bracket_scan(text)
    if scan > MAX_BRACKET_SCAN:
        return (f"has so many unclosed or nested '[' and '(' that reading its Markdown would "
                f"scan {scan:,} characters, more than the {MAX_BRACKET_SCAN:,} allowed")
    for number, line in enumerate(text.split("\n"), 1):
        depth, pos = 0, 0
        while (m := _CONTAINER_RE.match(line, pos)) and m.end() > pos:
            indent = len(m.group(0)) - len(m.group(0).lstrip(" \t"))
            depth += 1 + line.count("\t", pos, pos + indent) + indent // 4
            pos = m.end()
        if depth > MAX_MARKDOWN_DEPTH:
            return (f"nests Markdown lists or quotes {depth} levels deep on its line {number}, "
                    f"more than the {MAX_MARKDOWN_DEPTH} allowed")
    return None


def _bracket_scan(text: str) -> int:
    """How far Python-Markdown's link patterns scan ``text``, at most: for each '[' and '('
    the distance to its closing mark, or to the end of the text when it has none."""
    total = 0
    for open_, close in ("[]", "()"):
        stack: list[int] = []
        for i, ch in enumerate(text):
            if ch == open_:
                stack.append(i)
            elif ch == close and stack:
                total += i - stack.pop()
        total += sum(len(text) - i for i in stack)
    return total


def image_problem(url: str) -> str | None:
    """Why ``url`` may not be the source of an image in catalog text, or None when it may.

    Images come from this site only: a relative path, so that no outside server learns who
    reads a page (tracking pixels) and no outside picture is shown as the site's.
    """
    if _SCHEME_RE.match(url) or url.lstrip().startswith(("//", "\\")):
        return "is not on this site: images must be given by a relative path"
    return url_problem(url, outside=False)


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
        self.images: list[str] = []
        self.text: list[str] = []  # the text, character references decoded

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("href", "action", "formaction", "xlink:href"):
                self.found.append(value.strip())
            elif name in ("src", "poster", "data", "background", "srcset"):
                self.images.append(value.strip())

    handle_startendtag = handle_starttag


def markdown_converter(extra: list | None = None):
    """A Python-Markdown converter with :data:`MARKDOWN_EXTENSIONS` and ``extra`` (ours)."""
    import markdown

    return markdown.Markdown(extensions=[*MARKDOWN_EXTENSIONS, *(extra or [])])


def shortcode_extension(resolve: Callable[[str], tuple[str, str] | None],
                        on_unknown: Callable[[str], None]) -> Any:
    """The one ``[[id]]`` implementation, a Python-Markdown extension: each shortcode outside
    code becomes the link ``resolve(id)`` gives as (href, the link's text as HTML), or stays
    as written when it gives None (``on_unknown(id)`` is told). The grounding reads catalog
    text with it to collect the ids; the site's renderer (catalog text) and MkDocs (the
    site's own pages) to link them."""
    return _shortcode_extension_class()(resolve, on_unknown)


@functools.cache
def _shortcode_extension_class() -> type:
    """The extension's class, made on first use (Python-Markdown is imported only then)."""
    from markdown.extensions import Extension
    from markdown.inlinepatterns import InlineProcessor
    from markdown.util import AtomicString

    class ShortcodeProcessor(InlineProcessor):
        def __init__(self, extension: Any, md: Any) -> None:
            super().__init__(SHORTCODE_PATTERN, md)
            self.extension = extension

        def handleMatch(self, m: re.Match, data: str) -> tuple[Any, int, int]:  # noqa: N802
            found = self.extension.resolve(m.group(1))
            if found is None:
                self.extension.on_unknown(m.group(1))
                return AtomicString(m.group(0)), m.start(0), m.end(0)
            href, text_html = found
            el = etree.Element("a", {"href": href})
            el.text = AtomicString(self.md.htmlStash.store(text_html))  # kept as written
            return el, m.start(0), m.end(0)

    class ShortcodeExtension(Extension):
        def __init__(self, resolve: Callable[[str], tuple[str, str] | None],
                     on_unknown: Callable[[str], None]) -> None:
            super().__init__()
            self.resolve = resolve
            self.on_unknown = on_unknown

        def extendMarkdown(self, md: Any) -> None:  # noqa: N802
            # After backslash escapes (180) and code spans (190), before links (160, 170).
            md.inlinePatterns.register(ShortcodeProcessor(self, md), "modelkb_shortcode", 175)

    return ShortcodeExtension


@functools.cache
def _converter() -> tuple[Any, list[str]]:
    """The grounding's converter (made once per process), with the shortcode extension
    recording the ids in the list returned with it."""
    seen: list[str] = []
    return markdown_converter([shortcode_extension(lambda entry_id: None, seen.append)]), seen


def find_links(text: str) -> list[Link]:
    """Every link target ``text`` can produce: hrefs and srcs of its HTML, bare URLs, shortcodes.

    Raises ValueError (with :func:`markdown_problem`'s reason) for text that may not be read.
    """
    problem = markdown_problem(text)
    if problem:
        raise ValueError(problem)
    md, seen = _converter()
    seen.clear()
    targets = _Targets()
    md.reset()
    try:
        targets.feed(md.convert(text))
    except RecursionError:  # a nesting the line count does not see
        raise ValueError("nests its Markdown too deeply to be read") from None
    targets.close()
    found: list[Link] = [Link("shortcode", s) for s in dict.fromkeys(seen)]
    # bare URLs of the source and of the rendered text, where references are decoded (so
    # 'https&#58;//host' counts: a reader that links bare URLs would link it)
    shown = " ".join(targets.text)
    urls = [*targets.found, *(m.group(1) for m in _AUTOLINK_RE.finditer(text)),
            *(m.group(0).rstrip(".,;:!?\"'") for source in (text, shown)
              for m in _BARE_URL_RE.finditer(source))]
    found += [Link("url", u) for u in dict.fromkeys(urls)]
    found += [Link("image", u) for u in dict.fromkeys(targets.images)]
    return found
