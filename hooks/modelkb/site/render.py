"""Catalog text to safe output: Markdown rendered with a fixed set of extensions, sanitised.

Catalog text is untrusted (it comes from prompts and pull requests). Every piece of it that
reaches a page goes through :class:`Renderer`: Markdown fields are converted with the
catalog's own extensions (``catalog.markup.MARKDOWN_EXTENSIONS``, the set grounding and
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
from collections.abc import Callable
from html.parser import HTMLParser
from urllib.parse import urljoin

import markdown
import nh3

from modelkb.catalog.markup import (
    image_problem,
    markdown_converter,
    markdown_problem,
    shortcode_extension,
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


def shortcode_link(href: str, title: str) -> tuple[str, str]:
    """What ``[[id]]`` becomes (see ``catalog.markup.shortcode_extension``): the checked link
    to the entry's page and its title as HTML text (:func:`plain`)."""
    return safe_href(href), plain(title)


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


class Renderer:
    """Catalog Markdown to sanitised HTML, with the catalog's fixed Markdown extensions."""

    def __init__(self, resolve: Resolver | None = None) -> None:
        self.resolve: Resolver = resolve or (lambda entry_id, page: None)
        self.page_uri = ""
        self.unknown: list[tuple[str, str]] = []
        self._md = markdown_converter([shortcode_extension(
            self._shortcode, lambda entry_id: self.unknown.append((self.page_uri, entry_id)))])

    def _shortcode(self, entry_id: str) -> tuple[str, str] | None:
        """``[[id]]`` in text read for ``page_uri``: (checked link, title as HTML) or None."""
        found = self.resolve(entry_id, self.page_uri)
        return shortcode_link(*found) if found is not None else None

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

_ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_ENTITY_RE = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
_WHITESPACE_RE = re.compile(r"[ \t\n\r\f\v]+")
_ORDERED_RE = re.compile(r"[0-9]{1,9}[.)](?=\s|$)")
# Python-Markdown has no backslash escape for these (nor for '<' and '&'): where one needs
# escaping it is written as a character reference, which both readers show as the character.
_REFERENCE = {"=": "&#61;", "~": "&#126;", ":": "&#58;"}
# Text some reader makes a link by itself: GitHub's extended autolinks (a scheme, www., an
# e-mail address), markdown-it's linkify (also name.tld with a known TLD: weights.pt),
# pymdownx.magiclink, Discourse's onebox of a URL alone on its line. An export shows such a
# word as inline code, which none of them links.
_WORD_CHARS = r"[^\s`<>()\[\]{}\"'*]"
_AUTOLINK_TEXT_RE = re.compile(
    rf"{_WORD_CHARS}*(?:[a-zA-Z][a-zA-Z0-9+.-]*:/|www\.|[\w.+-]@[\w-]|"
    rf"\b(?:mailto|xmpp|tel):|[a-zA-Z0-9-]\.[a-zA-Z]{{2,}}\b){_WORD_CHARS}*")
_TRAILING_PUNCTUATION = ".,;:!?_~"
# Python-Markdown's backslash escapes (CommonMark has them for all ASCII punctuation): any
# other character that must not start markup is written as a character reference.
_PY_MARKDOWN_ESCAPES = frozenset("\\`*_{}[]()>#+-.!")


def _autolink_words(text: str) -> list[tuple[int, int]]:
    """(start, end) of each word of ``text`` that a reader would make a link by itself."""
    spans = []
    for m in _AUTOLINK_TEXT_RE.finditer(text):
        end = m.end()
        while end > m.start() and text[end - 1] in _TRAILING_PUNCTUATION:
            end -= 1
        if end > m.start():
            spans.append((m.start(), end))
    return spans


def markdown_text(text: str, *, line_start: bool = False) -> str:
    """Plain text as Markdown that CommonMark and Python-Markdown both show as that text.

    Only what could start markup where it stands is escaped, so the text reads as written:
    backticks, '*', '[' and ']' everywhere; '_' at a word's edge; '{' with a '}' after it
    (Python-Markdown's attribute lists); '<' before anything but a space (HTML, autolinks,
    comments); '&' that spells a character reference; '\\' before punctuation or at the end
    (the next thing written may be markup). ``line_start``: the text begins a line, where
    '#', '>', list markers ('-', '+', '1.', '1)'), setext underlines, '~~~' fences and ':'
    (definition lists) are read too. Whitespace runs (YAML folding) become one space.
    """
    text = _WHITESPACE_RE.sub(" ", _CONTROL_RE.sub("", text))
    out: list[str] = []
    n = len(text)
    words = dict(_autolink_words(text))
    i = -1
    while i + 1 < n:
        i += 1
        ch = text[i]
        after = text[i + 1] if i + 1 < n else ""
        if i in words:  # a URL, host or address: code, which no reader links
            out.append(_code_span(text[i:words[i]]))
            i = words[i] - 1
        elif ch in "`*[]":
            out.append("\\" + ch)
        elif ch == "\\":
            out.append("\\\\" if not after or after in _ASCII_PUNCTUATION else ch)
        elif ch == "_":
            inside = i > 0 and text[i - 1].isalnum() and after.isalnum()
            out.append(ch if inside else "\\_")
        elif ch == "{":
            out.append("\\{" if "}" in text[i:] else ch)
        elif ch == "<":
            out.append(ch if after.isspace() else "&lt;")
        elif ch == "&":
            out.append("&amp;" if _ENTITY_RE.match(text, i) else ch)
        elif ch == "~" and not ((i == 0 or text[i - 1] == " ") and after in ("", " ")):
            out.append(_REFERENCE["~"])  # may open or close GitHub's strikethrough
        else:
            out.append(ch)
    if line_start:
        return _line_start(text, out)
    return "".join(out)


def _line_start(text: str, out: list[str]) -> str:
    """``out`` (``text`` escaped) with what would start a block at a line's start escaped."""
    lead = len(text) - len(text.lstrip(" "))
    del out[:lead]
    text = text[lead:]
    first = text[:1]
    if not out or len(out[0]) > 1 and out[0].startswith("`"):
        return "".join(out)  # a code span: no block starts with one
    if len(text) >= 3 and first in _ASCII_PUNCTUATION and text[:3] == first * 3 \
            or text.startswith(("--8<", "-8<")):
        # a run of three opens a block in some extension: admonitions (!!!), details (???),
        # blocks (///), containers (:::), tabs (===), snippets (--8<--) and fences (~~~)
        out[0] = "\\" + first if first in _PY_MARKDOWN_ESCAPES else f"&#{ord(first)};"
    elif first in ("#", ">"):
        out[0] = "\\" + first
    elif first in ("-", "+") and (text[1:2] in ("", " ") or set(text.strip()) == {first}):
        out[0] = "\\" + first
    elif first == "=" and set(text.strip()) == {"="}:
        out[0] = _REFERENCE["="]
    elif first == ":" and text[1:2] in ("", " "):
        out[0] = _REFERENCE[first]
    elif (m := _ORDERED_RE.match(text)) is not None:
        out[m.end() - 1] = "\\" + text[m.end() - 1]
    return "".join(out)


def _destination(url: str) -> str:
    """A link destination in angle brackets: nothing in it can end it early."""
    return "<" + re.sub(r"[\s<>\\]", lambda m: f"%{ord(m.group(0)):02X}", url) + ">"


def _code_span(code: str) -> str:
    """Inline code: a backtick run longer than any in the code (padded where it touches one)."""
    code = " ".join(code.split())
    if not code:
        return ""
    ticks = "`" * (max((len(r) for r in re.findall("`+", code)), default=0) + 1)
    pad = " " if code.startswith("`") or code.endswith("`") else ""
    return f"{ticks}{pad}{code}{pad}{ticks}"


# How a reader without fences (Python-Markdown bare, and Python-Markdown with extensions inside
# a list item, where fenced_code never looks) reads a fenced block: as a paragraph. A fence is
# written only where that paragraph is exactly one code span holding the code, as text.
_FALLBACK_READERS = ((), ("admonition", "attr_list", "def_list", "tables", "abbr", "footnotes"))


def _fence_is_inert(fenced: str, content: str) -> bool:
    """True when every fallback reader shows ``fenced`` as inline code of ``content``."""
    expected = "<p><code>" + html.escape(content.strip(), quote=False) + "</code></p>"
    return all(markdown.markdown(fenced, extensions=list(extensions)) == expected
               for extensions in _FALLBACK_READERS)


class _ToMarkdown(HTMLParser):
    """Sanitised HTML as Markdown: text escaped, links made absolute, markup of ours only.

    List markers are four columns wide (``-   ``, ``1.  ``) so CommonMark and Python-Markdown
    agree on where an item's content starts; ordered items are numbered 1. 2. 3. Code blocks
    are fenced (with a run of backticks longer than any in the code, and the language) where
    that is inert for every reader, including those that do not read fences (see
    :func:`_fence_is_inert`); other code (blank lines in it, lines that Python-Markdown would
    read as blocks or HTML) is indented four columns past the list item that holds it. An
    indented block right after a list is parted from it by an empty HTML comment, or
    Python-Markdown would continue the list.
    """

    BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "pre",
              "blockquote", "table", "tr", "hr", "dl", "dt", "dd", "figure", "details"}

    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.out: list[str] = []
        self.lists: list[list] = []  # [tag, the next item's number]
        self.links: list[str | None] = []
        self.pre: list[str] | None = None
        self.language = ""
        self.code: list[str] | None = None
        self.heading = False
        self.line_start = True  # the next text begins a line (block syntax is read there)
        self.after_list = False  # the last block written was a list that has ended

    def _url(self, value: str | None) -> str | None:
        if not value or url_problem(value.strip(), outside=False):
            return None
        absolute = urljoin(self.base, value.strip())
        return absolute if not url_problem(absolute, outside=False) else None

    def _mark(self, markup: str) -> None:
        """Our own inline markup (emphasis, link brackets, code)."""
        if markup:
            self.out.append(markup)
            self.line_start = False

    def _newline(self, blank: bool = True) -> None:
        self.out.append("\n\n" if blank else "\n")
        self.line_start = True

    def _indent(self) -> str:
        """The content column of the innermost list item, as spaces."""
        return "    " * len(self.lists)

    def _bang(self) -> None:
        """A '!' right before a link's '[' would make it an image: escape it."""
        last = self.out[-1] if self.out else ""
        if last.endswith("!") and not last.endswith("\\!"):
            self.out[-1] = last[:-1] + "\\!"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if self.pre is not None:
            if tag == "code":
                classes = (a.get("class") or "").split()
                self.language = next((c[len("language-"):] for c in classes
                                      if _LANGUAGE_CLASS_RE.fullmatch(c)), "")
            return
        if tag == "pre":
            self.pre, self.language = [], ""
            return
        if tag in self.BLOCKS or tag in ("td", "th"):
            self.after_list = False
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._newline()
            self._mark("#" * int(tag[1]) + " ")
            self.heading = True
        elif tag in ("ul", "ol"):
            start = a.get("start") or "1"
            self.lists.append([tag, int(start) if start.isdigit() else 1])
            self._newline(blank=len(self.lists) == 1)
        elif tag == "li":
            self._newline(blank=False)
            depth = max(len(self.lists) - 1, 0)
            marker = "-   "
            if self.lists and self.lists[-1][0] == "ol":
                marker = f"{self.lists[-1][1]}.".ljust(3) + " "
                self.lists[-1][1] += 1
            self.out.append("    " * depth + marker)
            self.line_start = True
        elif tag == "code":
            self.code = []
        elif tag in ("em", "i"):
            self._mark("*")
        elif tag in ("strong", "b"):
            self._mark("**")
        elif tag == "br":
            self.out.append("  \n" + self._indent())
            self.line_start = True
        elif tag == "hr":
            self._newline()
            self._mark("---")
            self._newline()
        elif tag == "a":
            url = self._url(a.get("href"))
            self.links.append(url)
            if url:
                self._bang()
                self._mark("[")
        elif tag == "img":
            url, alt = self._url(a.get("src")), a.get("alt") or ""
            if url:
                self._bang()
                self._mark(f"![{markdown_text(alt)}]({_destination(url)})")
            elif alt.strip():  # no picture to show: its text, as a browser would
                self.handle_data(alt)
        elif tag == "blockquote":
            self._newline()
            self.out.append("> ")
            self.line_start = True
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag == "p" and self.lists:
            last = "".join(self.out[-1:])
            if last.endswith("\n"):  # after a code block: the item goes on, indented
                self.out.append(self._indent())
                self.line_start = True
            elif not last.endswith(" "):
                self.out.append(" ")
        elif tag in self.BLOCKS:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre" and self.pre is not None:
            self._code_block("".join(self.pre))
            self.pre = None
        elif self.pre is not None:
            return
        elif tag == "a":
            url = self.links.pop() if self.links else None
            if url:
                self._mark(f"]({_destination(url)})")
        elif tag == "code" and self.code is not None:
            code, self.code = "".join(self.code), None
            self._mark(_code_span(code))
        elif tag in ("em", "i"):
            self._mark("*")
        elif tag in ("strong", "b"):
            self._mark("**")
        elif tag in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            self._newline(blank=not self.lists)
            self.after_list = not self.lists
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            last = self.out[-1] if self.out else ""
            if last.endswith("#") and not last.endswith("\\#"):  # not a closing sequence
                self.out[-1] = last[:-1] + "\\#"
            self.heading = False
            self._newline()
        elif tag in self.BLOCKS and tag != "li" and not (tag == "p" and self.lists):
            self._newline()

    def _code_block(self, code: str) -> None:
        """A code block: fenced where inert for every reader, else indented."""
        lines = [line.rstrip() for line in code.strip("\n").split("\n")]
        content = "\n".join(lines)
        indent = self._indent()
        fence = "`" * max(3, max((len(r) for r in re.findall("`+", content)), default=0) + 1)
        fenced = f"{fence}{self.language}\n{content}\n{fence}"
        self._newline()
        if content.strip() and _fence_is_inert(fenced, f"{self.language}\n{content}"):
            block = fenced.split("\n")
        else:
            if self.after_list and not self.lists:
                self.out.append("<!-- -->")
                self._newline()
            block = ["    " + line if line else "" for line in lines]
        self.out.append("\n".join(indent + line if line else "" for line in block))
        self._newline()

    def handle_data(self, data: str) -> None:
        if self.pre is not None:
            self.pre.append(data)
            return
        if self.code is not None:
            self.code.append(data)
            return
        if not data.strip() and (not self.out or self.line_start or
                                 self.out[-1].endswith(("\n", " "))):
            return  # layout whitespace between tags
        if self.line_start or not self.out or self.out[-1].endswith(" "):
            data = data.lstrip()
        if data.strip():
            self.after_list = False
        self.out.append(markdown_text(data, line_start=self.line_start and not self.heading))
        self.line_start = False

    def text(self) -> str:
        joined = "".join(self.out)
        joined = re.sub(r"[ \t]+\n", lambda m: "  \n" if m.group(0).startswith("  ") else "\n",
                        joined)
        # Strip newlines only at the start: a first block may be indented code.
        return re.sub(r"\n{3,}", "\n\n", joined).lstrip("\n").rstrip() + "\n"


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
