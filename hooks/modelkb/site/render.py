"""Catalog text to safe output: Markdown rendered with a fixed set of extensions, sanitised.

Catalog text is untrusted (it comes from prompts and pull requests). Every piece of it that
reaches a page goes through :class:`Renderer`: Markdown fields are converted with the
catalog's own extensions (``catalog.links.MARKDOWN_EXTENSIONS``, the set grounding and
``modelkb check`` read with; never the site's ``markdown_extensions``), ``[[id]]`` becomes a
link to the entry's page, and the HTML is cleaned by ``nh3`` against allowlists (tags,
attributes, classes, URL schemes; images from this site only). Plain fields (names, titles,
captions) are encoded by :func:`plain` so that neither Markdown nor HTML finds syntax in
them. Every link the site builds from catalog data goes through :func:`link_html` or
:func:`link_markdown`, which check the URL with :func:`safe_href`. Outputs that are not HTML
(the Markdown exports) are made from the sanitised HTML by :func:`html_to_markdown`, whose
text and code are inert in CommonMark and in Python-Markdown.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as etree
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import markdown
import nh3
from markdown.extensions import Extension
from markdown.inlinepatterns import InlineProcessor
from markdown.util import AtomicString

from modelkb.catalog.links import (
    SHORTCODE_PATTERN,
    image_problem,
    markdown_converter,
    markdown_problem,
    url_problem,
)

ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div",
    "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "s", "samp", "small", "span",
    "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
    "ul"})
# Only class on every tag (values from ALLOWED_CLASSES), plus each tag's own needs. No ids
# (they could move the page's anchors), no width or height (an image could cover the page).
ALLOWED_ATTRIBUTES = {
    "*": {"class"},
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "abbr": {"title"},
    "ol": {"start"},
    "td": {"align"},
    "th": {"align"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
DROPPED_WITH_CONTENT = frozenset({"script", "style", "template", "noscript", "textarea",
                                  "title", "xmp", "iframe", "noembed", "noframes"})
# Classes catalog text may carry: what the admonition extension writes for Material's own
# admonition types, and fenced code's language. No theme or plugin classes (glightbox,
# md-dialog, ...): those give page script and style to text.
ALLOWED_CLASSES = frozenset({
    "admonition", "admonition-title", "note", "abstract", "summary", "tldr", "info", "todo",
    "tip", "hint", "important", "success", "check", "done", "question", "help", "faq",
    "warning", "caution", "attention", "failure", "fail", "missing", "danger", "error", "bug",
    "example", "quote", "cite"})
_LANGUAGE_CLASS_RE = re.compile(r"language-[a-z0-9][a-z0-9_+-]{0,31}")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# -- URLs and links ---------------------------------------------------------------------------

def safe_href(url: str, *, outside: bool = False) -> str:
    """``url`` if it may be published as a link target; raises ValueError otherwise."""
    problem = url_problem(url, outside=outside)
    if problem:
        raise ValueError(f"unsafe link target {url!r}: {problem}")
    return url


def link_html(url: str, label: str, *, css_class: str = "") -> str:
    """An HTML link to ``url`` (checked) showing the plain text ``label``."""
    cls = f' class="{html.escape(css_class)}"' if css_class else ""
    return (f'<a href="{html.escape(safe_href(url), quote=True)}"{cls}>'
            f"{html.escape(' '.join(label.split()), quote=False)}</a>")


def link_markdown(url: str, label: str) -> str:
    """A Markdown link to ``url`` (checked, in angle brackets) showing the plain ``label``."""
    return f"[{plain(label)}](<{safe_href(url)}>)"


def plain(text: str) -> str:
    """Plain text as inline Markdown that renders as exactly that text, with no markup.

    Every character other than letters, digits and spaces becomes an HTML character
    reference, which Markdown passes through untouched and a browser shows as the character.
    """
    text = " ".join(_CONTROL_RE.sub("", text).split())
    return "".join(ch if ch.isalnum() or ch == " " else f"&#{ord(ch)};" for ch in text)


def code_span(text: str) -> str:
    """Plain text shown as inline code in a Markdown page (never inside backticks: use this)."""
    return f"<code>{plain(text)}</code>"


def attr(text: str) -> str:
    """Plain text for an HTML attribute value or element content (meta tags, alt text)."""
    return html.escape(" ".join(_CONTROL_RE.sub("", text).split()), quote=True)


# -- sanitising -------------------------------------------------------------------------------

def _attribute(tag: str, name: str, value: str) -> str | None:
    """An allowed attribute's value as kept (None drops it): classes and URLs checked."""
    if name == "class":
        kept = [c for c in value.split() if c in ALLOWED_CLASSES or
                (tag == "code" and _LANGUAGE_CLASS_RE.fullmatch(c))]
        return " ".join(kept) or None
    if name == "src":
        return value if not image_problem(value.strip()) else None
    if name == "href":
        return value if not url_problem(value.strip(), outside=False) else None
    return value


def sanitise(fragment: str) -> str:
    """HTML ``fragment`` reduced to the allowlists: no scripts, handlers, styles, bad URLs,
    ids, outside images or classes other than ALLOWED_CLASSES."""
    return nh3.clean(
        _CONTROL_RE.sub("", fragment), tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_attribute, url_schemes=set(URL_SCHEMES), strip_comments=True,
        link_rel="noopener nofollow")


# -- Markdown ---------------------------------------------------------------------------------

Resolver = Callable[[str, str], "tuple[str, str] | None"]


class _ShortcodeProcessor(InlineProcessor):
    """``[[id]]`` -> a link to the entry's page, its title as text (never Markdown)."""

    def __init__(self, renderer: Renderer) -> None:
        super().__init__(SHORTCODE_PATTERN)
        self.renderer = renderer

    def handleMatch(self, m: re.Match, data: str) -> tuple[Any, int, int]:  # noqa: N802
        found = self.renderer.resolve(m.group(1), self.renderer.page_uri)
        if found is None:
            self.renderer.unknown.append((self.renderer.page_uri, m.group(1)))
            return AtomicString(m.group(0)), m.start(0), m.end(0)
        href, title = found
        el = etree.Element("a", {"href": safe_href(href)})
        el.text = AtomicString(" ".join(title.split()))
        return el, m.start(0), m.end(0)


class _ShortcodeExtension(Extension):
    def __init__(self, renderer: Renderer) -> None:
        super().__init__()
        self.renderer = renderer

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802
        # After backslash escapes (180) and code spans (190), before links (160, 170).
        md.inlinePatterns.register(_ShortcodeProcessor(self.renderer), "modelkb_shortcode", 175)


class Renderer:
    """Catalog Markdown to sanitised HTML, with the catalog's fixed Markdown extensions."""

    def __init__(self, resolve: Resolver | None = None) -> None:
        self.resolve: Resolver = resolve or (lambda entry_id, page: None)
        self.page_uri = ""
        self.unknown: list[tuple[str, str]] = []
        self._md = markdown_converter([_ShortcodeExtension(self)])

    def markdown_html(self, text: str, page_uri: str = "") -> str:
        """Markdown ``text`` as HTML, not sanitised (for our own page structure only)."""
        self.page_uri = page_uri
        self._md.reset()
        try:
            return self._md.convert(_CONTROL_RE.sub("", text))
        finally:
            self.page_uri = ""

    def markdown_to_html(self, text: str, page_uri: str = "") -> str:
        """Catalog Markdown ``text`` as sanitised HTML, ``[[id]]`` linked from ``page_uri``.

        Text the catalog's checks refuse (too long, nested too deep) is never parsed: a
        validated catalog holds none, and anything else gets an error, not a traceback.
        """
        problem = markdown_problem(text)
        if problem:
            raise ValueError(f"catalog text {problem}")
        return sanitise(self.markdown_html(text, page_uri))

    def inline(self, text: str, page_uri: str = "") -> str:
        """Catalog Markdown as sanitised inline HTML (one paragraph's content, no blocks)."""
        rendered = self.markdown_to_html(" ".join(text.split()), page_uri)
        inner = re.sub(r"</?(?:p|div|h[1-6]|ul|ol|li|blockquote|pre|table|thead|tbody|tr|"
                       r"th|td|hr|dl|dt|dd|details|summary|figure|figcaption|caption)\b[^>]*>",
                       " ", rendered)
        return sanitise(" ".join(inner.split()))

    def block(self, text: str, page_uri: str = "", css_class: str = "mkb-text") -> str:
        """Catalog Markdown as a raw HTML block for a generated Markdown page."""
        return html_block(self.markdown_to_html(text, page_uri), css_class)


def html_block(fragment: str, css_class: str = "mkb-text") -> str:
    """Sanitised ``fragment`` wrapped in a <div> on lines of its own: Markdown leaves it alone."""
    # '[' and ']' as references: no shortcode or link syntax is found in it by later passes.
    body = fragment.strip().replace("[", "&#91;").replace("]", "&#93;")
    return f'\n<div class="{html.escape(css_class)}">\n{body}\n</div>\n'


# -- HTML to Markdown, for the exports --------------------------------------------------------

# Punctuation both CommonMark and Python-Markdown read as escaped after a backslash; the
# rest of ASCII punctuation that can make markup is written as a character reference, which
# both decode to the character as text (Python-Markdown has no '\<', '\&' or '\|' escape).
_MD_BACKSLASHED = re.compile(r"([\\`*_{}\[\]()#+\-.!>])")
_MD_REFERENCES = {"<": "&lt;", "&": "&amp;", "|": "&#124;", "~": "&#126;", '"': "&quot;",
                  "'": "&#39;", ":": "&#58;", "=": "&#61;"}
_MD_REFERENCE_RE = re.compile("[" + re.escape("".join(_MD_REFERENCES)) + "]")


def markdown_text(text: str) -> str:
    """Plain text as Markdown that CommonMark and Python-Markdown both show as that text."""
    text = _MD_BACKSLASHED.sub(r"\\\1", text)
    return _MD_REFERENCE_RE.sub(lambda m: _MD_REFERENCES[m.group(0)], text)


class _ToMarkdown(HTMLParser):
    """Sanitised HTML as Markdown: text escaped, links made absolute, markup of ours only.

    Code blocks are indented code, never fenced: Python-Markdown reads fences only at the top
    level and only with its fenced_code extension, and without them a fence's content would
    be live Markdown and HTML. Each block gets a blank line before it and four columns more
    than the list item holding it (list markers are four columns wide, so CommonMark and
    Python-Markdown agree on the item's content column); a block right after a list is
    parted from it by an empty HTML comment, or Python-Markdown would continue the list.
    """

    BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "pre",
              "blockquote", "table", "tr", "hr", "dl", "dt", "dd", "figure", "details"}

    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.out: list[str] = []
        self.lists: list[str] = []
        self.links: list[str | None] = []
        self.pre: list[str] | None = None
        self.code: list[str] | None = None
        self.after_list = False  # the last block written was a list that has ended

    def _url(self, value: str | None) -> str | None:
        if not value or url_problem(value.strip(), outside=False):
            return None
        absolute = urljoin(self.base, value.strip())
        return absolute if not url_problem(absolute, outside=False) else None

    def _newline(self, blank: bool = True) -> None:
        self.out.append("\n\n" if blank else "\n")

    def _indent(self) -> str:
        """The content column of the innermost list item, as spaces."""
        return "    " * len(self.lists)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "pre":
            self.pre = []
            self._newline()
            if self.after_list and not self.lists:
                self.out.append("<!-- -->")
                self._newline()
            return
        if tag in self.BLOCKS or tag in ("td", "th"):
            self.after_list = False
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._newline()
            self.out.append("#" * int(tag[1]) + " ")
        elif tag in ("ul", "ol"):
            self.lists.append(tag)
            self._newline(blank=len(self.lists) == 1)
        elif tag == "li":
            self._newline(blank=False)
            depth = max(len(self.lists) - 1, 0)
            self.out.append("    " * depth + ("1.  " if self.lists[-1:] == ["ol"] else "-   "))
        elif tag == "code" and self.pre is None:
            self.code = []
        elif tag in ("em", "i"):
            self.out.append("*")
        elif tag in ("strong", "b"):
            self.out.append("**")
        elif tag == "br":
            self.out.append("  \n" + self._indent())
        elif tag == "hr":
            self._newline()
            self.out.append("---")
            self._newline()
        elif tag == "a":
            url = self._url(a.get("href"))
            self.links.append(url)
            if url:
                self.out.append("[")
        elif tag == "img":
            url = self._url(a.get("src"))
            if url:
                self.out.append(f"![{markdown_text(a.get('alt') or '')}](<{url}>)")
        elif tag == "blockquote":
            self._newline()
            self.out.append("> ")
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag == "p" and self.lists:
            last = "".join(self.out[-1:])
            if last.endswith("\n"):  # after a code block: the item goes on, indented
                self.out.append(self._indent())
            elif not last.endswith(("-   ", ".  ", " ")):
                self.out.append(" ")
        elif tag in self.BLOCKS:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            url = self.links.pop() if self.links else None
            if url:
                self.out.append(f"](<{url}>)")
        elif tag == "pre" and self.pre is not None:
            indent = self._indent() + "    "
            lines = "".join(self.pre).strip("\n").split("\n")
            self.out.append("\n".join(indent + line for line in lines))
            self.pre = None
            self._newline()
        elif tag == "code" and self.code is not None:
            code = " ".join("".join(self.code).split())
            ticks = "`" * (max((len(r) for r in re.findall("`+", code)), default=0) + 1)
            self.out.append(f"{ticks} {code} {ticks}" if code else "")
            self.code = None
        elif tag in ("em", "i"):
            self.out.append("*")
        elif tag in ("strong", "b"):
            self.out.append("**")
        elif tag in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            self._newline(blank=not self.lists)
            self.after_list = not self.lists
        elif tag in self.BLOCKS and tag != "li" and not (tag == "p" and self.lists):
            self._newline()

    def handle_data(self, data: str) -> None:
        if not data.strip() and self.pre is None and self.code is None and \
                (not self.out or self.out[-1].endswith(("\n", "-   ", ".  ", " "))):
            return  # layout whitespace between tags
        if self.pre is not None:
            self.pre.append(data)
        elif self.code is not None:
            self.code.append(data)
        else:
            if data.strip():
                self.after_list = False
            self.out.append(markdown_text(" ".join(data.split(" ")).replace("\n", " ")))

    def text(self) -> str:
        joined = "".join(self.out)
        joined = re.sub(r"[ \t]+\n", lambda m: "  \n" if m.group(0).startswith("  ") else "\n",
                        joined)
        return re.sub(r"\n{3,}", "\n\n", joined).strip() + "\n"


def html_to_markdown(fragment: str, base: str) -> str:
    """Sanitised HTML as Markdown for export; relative links resolved against ``base``."""
    parser = _ToMarkdown(base)
    parser.feed(fragment)
    parser.close()
    return parser.text()


def plain_text(fragment: str) -> str:
    """The text of an HTML fragment, tags dropped and references decoded (cards, meta tags)."""
    parts: list[str] = []
    parser = HTMLParser(convert_charrefs=True)
    parser.handle_data = parts.append  # type: ignore[method-assign]
    parser.feed(fragment)
    parser.close()
    return " ".join("".join(parts).split())
