"""Property tests (hypothesis) for the parts that read hostile text (issue 8).

- The catalog loader: arbitrary bytes, text and YAML-ish structures only ever raise
  CatalogError (a message with file and line), never another exception.
- Catalog text rendered with the site's Markdown extensions: no raw HTML other than what
  Markdown syntax makes, no event handlers, and every link in the HTML is one the grounding
  check (find_links) saw, so an unlisted or javascript: link cannot slip past it.

The prompt importer's property (parse_prompt raises only ModelkbError) is in
tests/test_importer.py::test_parse_prompt_raises_only_modelkb_errors.
"""

from __future__ import annotations

import re
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import markdown
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelkb.catalog import CatalogError, load_catalog
from modelkb.site.answers import find_links, plain, safe_markdown

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
WORKDIR = Path(tempfile.mkdtemp(prefix="modelkb-fuzz-"))
KEYS = ["tasks", "models", "papers", "tools", "workflows", "gallery", "questions", "id", "name",
        "summary", "task", "link", "slug", "question", "answer", "models", "steps", "op",
        "input", "notes", "title", "<<", "x"]


def _load(data: bytes) -> None:
    path = WORKDIR / "catalog.yml"
    path.write_bytes(data)
    try:
        load_catalog(path)
    except CatalogError as exc:
        assert "catalog.yml" in str(exc)


@FUZZ
@given(st.binary(max_size=2000))
def test_catalog_loader_bytes_raise_only_catalog_errors(data: bytes) -> None:
    _load(data)


YAML_TOKENS = ["tasks:", "models:", "questions:", "\n", "  ", "- ", "id: ", "name: ", "&a ",
               "*a", "<<: ", "!!python/object:os.system ", "[", "]", "{", "}", ",", ": ", "'",
               '"', "|", ">-", "#", "x", "1", "null", "~", "\t", "---", "...", "%YAML 1.1",
               "\ufeff", "\x00", "é", "2401.00261", "https://a.b/c", "javascript:x", "? "]


@FUZZ
@given(st.lists(st.sampled_from(YAML_TOKENS), max_size=80).map("".join) | st.text(max_size=500))
def test_catalog_loader_text_raises_only_catalog_errors(text: str) -> None:
    _load(text.encode("utf-8", "surrogatepass"))


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=30), st.sampled_from(["x", "a-b", "2401.00261",
                                                           "https://a.example/b", "../x.png"]))
structures = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=5),
    max_leaves=40)


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS), structures, max_size=7))
def test_catalog_loader_structures_raise_only_catalog_errors(data: dict) -> None:
    _load(yaml.safe_dump(data, allow_unicode=True).encode("utf-8", "surrogatepass"))


# -- Markdown rendering of catalog text -------------------------------------------------------

MARKDOWN = markdown.Markdown(extensions=["attr_list", "admonition", "tables", "toc"])
ALLOWED_TAGS = {"p", "a", "em", "strong", "code", "pre", "h1", "h2", "h3", "h4", "h5", "h6",
                "ul", "ol", "li", "blockquote", "hr", "br", "table", "thead", "tbody", "tr",
                "th", "td", "div", "img"}
MD_TOKENS = ["<", ">", "</", "script", "iframe", "img", "svg", " onclick=", " onerror=",
             "alert(1)", "{:", "{: #x .y onclick='a' }", "}", "[", "]", "(", ")", "](", "![",
             "javascript:", "data:text/html,", "https://a.example/b", "<https://a.example/c>",
             "`", "```", "\n", "\n\n", "    ", "&", "&lt;", "&#60;", "&#x3C;", "#", "!!! note",
             "|", "---", "*", "_", "\\", '"', "'", "=", " ", "x", "[r]: ", "<!--", "-->",
             "[[mssnet]]", "\ufeff", "\u200b"]
md_text = st.lists(st.sampled_from(MD_TOKENS), max_size=60).map("".join) | st.text(max_size=300)


class Tags(HTMLParser):
    """Tags, attributes and link targets of rendered HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.handlers: list[str] = []
        self.targets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append(f"{tag} {name}")
            if name in ("href", "src") and value is not None:
                self.targets.append(value)

    handle_startendtag = handle_starttag


def _render(text: str) -> Tags:
    MARKDOWN.reset()
    parser = Tags()
    parser.feed(MARKDOWN.convert(text))
    return parser


def _seen_by_grounding(target: str, source: str) -> bool:
    if target.startswith("#"):  # a heading anchor of the page itself (toc)
        return True
    if not re.match(r"^\s*([a-zA-Z][a-zA-Z0-9+.-]*:|//|\\\\)", target):
        return True  # relative, e.g. '&gt;' from '[r]: >': cannot leave the site or run code
    links = {link.target for link in find_links(source)}
    return target in links or any(target in link or link in target for link in links)


@FUZZ
@given(md_text)
def test_plain_text_renders_without_markup(text: str) -> None:
    parser = _render(plain(text))
    assert parser.tags <= {"p", "br"}, (text, parser.tags)
    assert not parser.handlers and not parser.targets


@FUZZ
@given(md_text)
def test_safe_markdown_renders_only_markdown_markup(text: str) -> None:
    parser = _render(safe_markdown(text))
    assert parser.tags <= ALLOWED_TAGS, (text, parser.tags - ALLOWED_TAGS)
    assert not parser.handlers, (text, parser.handlers)
    for target in parser.targets:
        assert _seen_by_grounding(target, text), (text, target)
