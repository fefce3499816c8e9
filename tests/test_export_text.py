"""The Markdown export reads well as plain text and stays inert in every reader.

An answer's export ("Copy as Markdown") is pasted into forums. It escapes only what could
start markup where it stands, joins YAML-folded lines, numbers ordered lists 1. 2. 3. and
fences code; hostile catalog text must still come out as text: each export is rendered with
CommonMark (markdown-it-py), bare Python-Markdown and Python-Markdown with the usual
extensions (fenced_code included), and every rendering must hold only the export's own
elements, only the source's links, and show exactly the source's text.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
import markdown
import pytest
from cmarkgfm.cmark import Options
from markdown_it import MarkdownIt
from test_sanitise import CODE_PAYLOADS, MARKUP_PAYLOADS

from modelkb.catalog import load_catalog
from modelkb.site.gallery_pages import GalleryView
from modelkb.site.publish import Publication, answer_markdown
from modelkb.site.render import Renderer, html_to_markdown, markdown_text, sanitise

ROOT = Path(__file__).resolve().parents[1]
BASE = "https://example.org/answers/q/"

READERS = {
    "commonmark": MarkdownIt("commonmark").render,
    # GitHub: cmark-gfm with its extensions (autolinks, strikethrough, tables, task lists);
    # raw HTML let through, so any that got into the export shows here
    "cmark-gfm": lambda text: cmarkgfm.github_flavored_markdown_to_html(
        text, options=Options.CMARK_OPT_UNSAFE),
    # markdown-it with linkify (bare URLs, hosts and name.tld words become links)
    "markdown-it+linkify": MarkdownIt("commonmark", {"linkify": True}).enable(
        ["linkify", "strikethrough", "table"]).render,
    "python-markdown": markdown.markdown,
    "python-markdown+ext": lambda text: markdown.markdown(
        text, extensions=["attr_list", "tables", "fenced_code", "def_list", "abbr",
                          "footnotes"]),
    # Material sites: admonitions, details, magiclink, snippets (with nothing to include)
    "python-markdown+material": lambda text: markdown.markdown(
        text, extensions=["admonition", "pymdownx.details", "pymdownx.magiclink",
                          "pymdownx.superfences", "pymdownx.highlight", "pymdownx.tilde",
                          "pymdownx.snippets",
                          "attr_list", "md_in_html"],
        extension_configs={"pymdownx.snippets": {"base_path": [str(ROOT / "no-such")],
                                                 "check_paths": False},
                           "pymdownx.highlight": {"use_pygments": False}}),
    # the generic blocks of pymdown-extensions (/// html | div, /// admonition, ...)
    "python-markdown+blocks": lambda text: markdown.markdown(
        text, extensions=["pymdownx.blocks.html", "pymdownx.blocks.admonition",
                          "pymdownx.blocks.details", "pymdownx.blocks.tab",
                          "pymdownx.magiclink"]),
}
# What an export may turn into: the elements its own markup makes, nothing else.
EXPORT_TAGS = {"p", "a", "em", "strong", "code", "pre", "ul", "ol", "li", "h1", "h2", "h3",
               "h4", "h5", "h6", "hr", "img", "br", "blockquote"}
EXPORT_ATTRIBUTES = {("a", "href"), ("img", "src"), ("img", "alt"), ("ol", "start"),
                     ("code", "class"), ("pre", "class"), ("pre", "lang")}

# Text that is markup somewhere: raw HTML and comments, autolinks, links and reference
# definitions with unsafe targets, emphasis tricks, entities, block starts at a line's
# start, fences longer than ours, attribute lists, definition lists, tables.
HOSTILE = [
    "<b onmouseover=\"alert('h1')\">x</b> and <!-- <img src=x onerror=alert('h2')> -->",
    "Autolinks: <https://evil.example/h3>, <javascript:alert('h4')>, <h5@evil.example>.",
    "[ref][r] and [r]: javascript:alert('h6')\n\n[r]: javascript:alert('h7')",
    "\\[x\\]\\(javascript:alert('h8')\\) and \\[y\\]: https://evil.example/h9",
    "\\<img src=x onerror=alert('h10')\\> &amp;lt;script&amp;gt; &amp;#60;b&amp;#62;",
    "Tricks: \\*not\\* \\_em\\_ \\*\\*a\\*\\* snake_case_name _x_ 2 \\* 3 \\* 4 a\\_b_",
    "a `` `code` `` span and ```` ``` ```` and a \\` tick",
    "```\n```` still code <b onmouseover=\"alert('h11')\">x</b>\n```",
    "````\n```\n<b onclick=\"alert('h12')\">y</b>\n```\n````",
    "```python\nprint('<b>h13</b>')  # a comment\n\n\nx = 1\n```",
    "- item\n\n    ```sh\n    modelkb restore in.jpg -o out.png\n    ```\n\n- next",
    "line one  \n# not a heading  \n> not a quote  \n- not a list  \n1. not a list  \n"
    "1986\\. a year  \n===  \n---  \n~~~  \n: not a definition  \n+ plus",
    "Braces {: onclick=\"alert('h14')\" } and {: .md-dialog }",
    "Wow!<a href=\"https://github.com/kky7/MSSNet\">x</a> and a trailing backslash \\\\",
    "a | b\n--|--\nc | d",
    "Folded   YAML\n   text with    runs of spaces",
    "1. one\n2. two\n3. three\n\n    1. nested\n    2. nested",
    "*[HTML]: Hyper Text <b onclick=alert('h15')>x</b>\n\nHTML here",
    "Footnote[^1].\n\n[^1]: javascript:alert('h16')",
    "&#106;avascript and &copy; and &#x3C;b&#x3E; and & alone; AT&T",
    "`<script>alert('h17')</script>` in code and ![alt <b>](javascript:alert('h18'))",
    # block syntax of extensions, as text at a line's start (issue 34)
    "\\!!! danger \"x\"\n\n    <b onclick=\"alert('h19')\">indented</b>",
    "??? note \"closed\"\n    body\n\n???+ note\n    open",
    "/// html | div\n<script>alert('h20')</script>\n///\n\n/// admonition | x\n    type: y\n///",
    "::: danger\ncontainer\n:::\n\n=== \"Tab\"\n    tabbed",
    "--8<-- \".env\"\n\n;--8<-- \"secret\"\n\n-8<- x",
    # words some reader links by itself
    "see https&#58;//evil.example/h21, (https://evil.example/h22) and https://evil.example/h23",
    "www.evil.example and mail h24@evil.example, weights.pt, model.py and xmpp:h25@evil.example",
    "https://evil.example/h26\n\nalone on its line above",
    "~~struck~~ and ~single~ tilde",
]


class Seen(HTMLParser):
    """Elements, attributes, links and text of rendered HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(tag, name, value or "") for name, value in attrs]
        if tag == "img":
            self.text.append(dict(attrs).get("alt") or "")

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def seen(html: str) -> Seen:
    parser = Seen()
    parser.feed(html)
    parser.close()
    return parser


def words(text: str, drop: list[str] = ()) -> str:
    """``text`` without whitespace (the readers lay out blocks differently) or the words of
    ``drop`` (a fence's language, which a reader without fences shows as the code's first)."""
    for word in drop:
        text = text.replace(word, "", 1)
    return "".join(text.split())


def export_of(text: str) -> tuple[str, str]:
    """(the sanitised HTML of catalog Markdown ``text``, its export)."""
    html = sanitise(Renderer().markdown_html(text))
    return html, html_to_markdown(html, BASE)


def problems(source_html: str, export: str) -> list[str]:
    """How each reader's rendering of ``export`` differs from what the source shows."""
    source = seen(source_html)
    links = {value for tag, name, value in source.attributes if name in ("href", "src")}
    languages = [value[len("language-"):] for tag, name, value in source.attributes
                 if name == "class" and value.startswith("language-")]
    found = []
    for reader, render in READERS.items():
        out = seen(render(export))
        found += [f"{reader}: <{t}>" for t in out.tags if t not in EXPORT_TAGS]
        for tag, name, value in out.attributes:
            if (tag, name) not in EXPORT_ATTRIBUTES:
                found.append(f"{reader}: <{tag} {name}={value!r}>")
            elif name in ("href", "src") and not (
                    value.startswith(("https://", "http://", "mailto:"))
                    and any(value == link or value == BASE + link or value.endswith(link)
                            for link in links)):
                found.append(f"{reader}: a link the source does not have: {value!r}")
            elif name == "class" and not re.fullmatch(r"language-[a-z0-9_+-]+|highlight",
                                                      value):
                found.append(f"{reader}: class {value!r}")
            elif name == "lang" and not re.fullmatch(r"[a-z0-9_+-]+", value):
                found.append(f"{reader}: class {value!r}")
        drop = languages if reader.startswith("python-markdown") else []
        if words("".join(out.text), drop) != words("".join(source.text)):
            found.append(f"{reader}: shows {words(''.join(out.text))!r}, "
                         f"not {words(''.join(source.text))!r}")
    return found


@pytest.mark.parametrize("text", [*HOSTILE, *CODE_PAYLOADS, *MARKUP_PAYLOADS])
def test_export_is_inert_and_shows_the_text_in_every_reader(text: str) -> None:
    source_html, export = export_of(text)
    assert not problems(source_html, export), (text, export, problems(source_html, export))


def test_only_what_would_be_markup_is_escaped() -> None:
    plain = ("Real-image super-resolution (2x) isn't 91.12% of 1.5 - it's \"fine\": "
             "a = b + c, x < y, AT&T, snake_case, e.g. #1 ~ |a| 3.14!")
    assert markdown_text(plain) == plain
    assert markdown_text("*a* `b` [c] _d_ <e> &amp; {: f}") == \
        "\\*a\\* \\`b\\` \\[c\\] \\_d\\_ &lt;e> &amp;amp; \\{: f}"
    assert markdown_text("# a", line_start=True) == "\\# a"
    assert markdown_text("1. a", line_start=True) == "1\\. a"
    assert markdown_text("- a", line_start=True) == "\\- a"
    assert markdown_text("a   b\n   c") == "a b c"


def test_ordered_lists_are_numbered_and_code_is_fenced() -> None:
    _, export = export_of("1. one\n2. two\n3. three\n\n```sh\nmodelkb restore in.jpg -o out.png\n"
                          "```\n\n- item\n\n        print(1)")
    assert re.search(r"^1\. +one\n2\. +two\n3\. +three$", export, re.M), export
    assert "```sh\nmodelkb restore in.jpg -o out.png\n```" in export, export
    assert "-   item\n\n    ```\n    print(1)\n    ```" in export, export
    html = READERS["commonmark"](export)
    assert '<code class="language-sh">modelkb restore in.jpg -o out.png' in html
    assert "<li>\n<p>item</p>\n<pre><code>print(1)" in html, html


def test_code_a_reader_without_fences_would_read_as_markup_is_indented() -> None:
    _, export = export_of("```\n# a comment\n<b onclick=\"x\">y</b>\n```")
    assert "```" not in export
    assert "    # a comment\n    <b onclick=\"x\">y</b>" in export, export


def seed_export() -> str:
    catalog = load_catalog(ROOT / "catalog.yml")
    pub = Publication(view=GalleryView(catalog, None), site_name="modelkb",
                      site_url="https://example.org/")
    return "".join(answer_markdown(pub, q) for q in catalog.published_questions())


def test_seed_export_reads_as_plain_text() -> None:
    export = seed_export()
    escapes = re.findall(r"\\[!-/:-@\[-`{-~]", export)
    references = re.findall(r"&#?\w+;", export)
    assert not escapes and not references, (escapes, references)
    for line in export.splitlines():
        body = re.sub(r"^ *(?:-|\d+\.) +", "", line)  # list markers are four columns wide
        assert "  " not in body.rstrip(), line  # YAML folding joined
    assert re.search(r"^1\. .*\n2\. .*\n3\. .*\n4\. ", export, re.M), export
    source = markdown.markdown(export)
    assert "<ol>" in source and "<h2>" in source
