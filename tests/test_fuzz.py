"""Property tests (hypothesis) for the parts that read hostile text (issue 8).

- The catalog loader: arbitrary bytes, text and YAML-ish structures only ever raise
  CatalogError (a message with file and line), never another exception.
- Catalog text rendered by modelkb.site.render.Renderer (the catalog's fixed extensions):
  only allowlisted tags and classes, no event handlers, styles or ids, only http(s), mailto
  and relative URLs, images only relative; the HTML block embedding it in a page comes
  through the page's own Markdown pass (the extensions MkDocs really uses for this site,
  read from mkdocs.yml) unchanged in kind; and every outside link in the HTML is one the
  grounding check (find_links) saw, so an unlisted or javascript: link cannot slip past it
  (issue 14). Text the catalog refuses (too long, nested too deep) is an error, never a
  traceback (issue 24).

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
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from modelkb.catalog import CatalogError, load_catalog
from modelkb.catalog.markup import markdown_problem
from modelkb.site.answers import find_links, plain
from modelkb.site.render import ALLOWED_CLASSES, ALLOWED_TAGS, Renderer, html_block

from conftest import ROOT

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

def _site_extensions() -> tuple[list, dict]:
    """The Markdown extensions MkDocs uses for this site's pages (its builtins included)."""
    import os

    from mkdocs.config import load_config

    before = os.environ.get("MODELKB_LOCAL_BUILD")
    os.environ["MODELKB_LOCAL_BUILD"] = "1"
    try:
        config = load_config(str(ROOT / "mkdocs.yml"))
    finally:  # other tests read the variable: leave it as it was
        if before is None:
            os.environ.pop("MODELKB_LOCAL_BUILD")
        else:
            os.environ["MODELKB_LOCAL_BUILD"] = before
    return list(config["markdown_extensions"]), dict(config["mdx_configs"])


EXTENSIONS, CONFIGS = _site_extensions()
assert "fenced_code" in EXTENSIONS or "pymdownx.superfences" in EXTENSIONS, EXTENSIONS
MARKDOWN = markdown.Markdown(extensions=EXTENSIONS, extension_configs=CONFIGS)
RENDERER = Renderer(lambda entry_id, page: ("../x/", "X <b>"))
MD_TOKENS = ["<", ">", "</", "script", "iframe", "img", "svg", " onclick=", " onerror=",
             "alert(1)", "{:", "{: #x .y onclick='a' }", "}", "[", "]", "(", ")", "](", "![",
             "javascript:", "data:text/html,", "https://a.example/b", "<https://a.example/c>",
             "`", "```", "\n", "\n\n", "    ", "&", "&lt;", "&#60;", "&#x3C;", "#", "!!! note",
             "|", "---", "*", "_", "\\", '"', "'", "=", " ", "x", "[r]: ", "<!--", "-->",
             "[[mssnet]]", "\ufeff", "\u200b", "~~~", "~~~ python", "```js", "\\`", "{#x}",
             "JaVaScRiPt:", "java&#x09;script:", "&#106;avascript:", "vbscript:", "//evil.example",
             "<svg/onload=alert(1)>", "<math>", "style=", "<a href=", "- ", "    [r]: ",
             "[]: ", "[r][]", "<!-->", "\x00", "\t"]
md_text = st.lists(st.sampled_from(MD_TOKENS), max_size=60).map("".join) | st.text(max_size=300)


class Tags(HTMLParser):
    """Tags, attributes and link targets of rendered HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.handlers: list[str] = []
        self.targets: list[str] = []
        self.images: list[str] = []
        self.ids_and_classes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.handlers.append(f"{tag} {name}")
            if name in ("href", "src") and value is not None:
                self.targets.append(value)
            if name == "src" and value is not None:
                self.images.append(value)
            if name in ("id", "width", "height"):
                self.ids_and_classes.append(f"{tag} {name}={value}")
            if name == "class" and value is not None:
                self.ids_and_classes += [f"{tag} .{c}" for c in value.split()
                                         if c not in ALLOWED_CLASSES
                                         and not (tag == "code" and c.startswith("language-"))]

    handle_startendtag = handle_starttag


def _render(text: str) -> Tags:
    MARKDOWN.reset()
    parser = Tags()
    parser.feed(MARKDOWN.convert(text))
    return parser


def _seen_by_grounding(target: str, source: str) -> bool:
    if not re.match(r"^\s*([a-zA-Z][a-zA-Z0-9+.-]*:|//|\\\\)", target):
        return True  # relative: cannot leave the site or run code
    return target in {link.target for link in find_links(source)}


def _check_safe(parser: Tags, text: str) -> None:
    assert parser.tags <= ALLOWED_TAGS, (text, parser.tags - ALLOWED_TAGS)
    assert not parser.handlers, (text, parser.handlers)
    for target in parser.targets:
        assert re.match(r"(https?://[^/]|mailto:|[^:/]*($|[/?#])|/[^/])", target), (text, target)


@FUZZ
@given(md_text)
def test_plain_text_renders_without_markup(text: str) -> None:
    parser = _render(plain(text))
    assert parser.tags <= {"p", "br"}, (text, parser.tags)
    assert not parser.handlers and not parser.targets


@FUZZ
@given(md_text)
def test_rendered_catalog_markdown_is_sanitised(text: str) -> None:
    assume(markdown_problem(text) is None)  # refused by the catalog (tests/test_hostile.py)
    rendered = RENDERER.markdown_to_html(text, "answers/q.md")
    parser = Tags()
    parser.feed(rendered)
    _check_safe(parser, text)
    assert not parser.ids_and_classes, (text, parser.ids_and_classes)
    for src in parser.images:  # images from this site only
        assert not re.match(r"\s*([a-zA-Z][a-zA-Z0-9+.-]*:|//)", src), (text, src)
    for target in parser.targets:
        if target != "../../x/":  # the [[id]] link
            assert _seen_by_grounding(target, text), (text, target)


@FUZZ
@given(md_text)
def test_html_block_stays_safe_through_the_page_markdown(text: str) -> None:
    assume(markdown_problem(text) is None)
    page = "# Title\n\n" + html_block(RENDERER.markdown_to_html(text, "answers/q.md")) + "\nend\n"
    parser = _render(page)
    _check_safe(parser, text)
