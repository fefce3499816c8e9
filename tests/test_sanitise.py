"""Issue 14: no catalog or prompt text can put active content on the site.

A payload corpus (the four routes of the issue and the classic filter-evasion families) goes
into every text field of the shipped catalog; a real `mkdocs build` must publish no active
element, event handler or dangerous URL in any page, export, catalog.json or search index.
Payloads that are links are refused by the validator at their line where links are checked
(answers, summaries, URL fields); elsewhere they are published as text.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import markdown
import pytest
import yaml
from markdown_it import MarkdownIt
from test_catalog import MINIMAL, problems, write

from modelkb.catalog import load_catalog
from modelkb.catalog.markup import find_links, image_problem, markdown_problem, url_problem
from modelkb.site.render import Renderer, html_to_markdown, sanitise

from conftest import mkdocs_build

# Markup without links: raw HTML, handlers, SVG/MathML, nested and malformed tags, attribute
# injection, attribute lists, and the escaper's old blind spots around code.
MARKUP_PAYLOADS = [
    "<script>alert('p1')</script>",
    "<img src=x onerror=alert('p2')>",
    "<svg/onload=alert('p3')>",
    "<svg><script>alert('p4')</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('p5')></style></math>",
    "<scr<script>ipt>alert('p6')</script>",
    "<<img src=x onerror=alert('p7')>>",
    "<IMG SRC=x OnErRoR=alert('p8')>",
    "<img src=x\nonerror=alert('p9')>",
    "<body onload=alert('p10')>",
    "<details open ontoggle=alert('p11')>",
    "<iframe srcdoc=\"&lt;script&gt;alert('p12')&lt;/script&gt;\"></iframe>",
    "<object data=x></object><embed src=x>",
    "<form><button formaction=x>p13</button></form>",
    "<div style=\"background:url(x)\">p14</div>",
    "<!--><img src=x onerror=alert('p15')>-->",
    "\"'><img src=x onerror=alert('p16')>",
    "paragraph {: onclick=\"alert('p17')\" style=\"color:red\" }",
    "# heading {: onmouseover=alert('p18') }",
    "\\`<img src=x onerror=alert('p19')>`",
    "```\nnot a fence <img src=x onerror=alert('p20')>\n",
    "~~~ python\nx\n~~~\n<img src=x onerror=alert('p21')>",
    "`code {: onclick=alert('p22')}` <img src=x onerror=alert('p22b')>",
    "&lt;img src=x onerror=alert('p23')&gt; &#60;script&#62;alert('p23b')&#60;/script&#62;",
    "<a href=\"https://github.com/kky7/MSSNet\" onclick=\"alert('p24')\">ok</a>",
    "<base href=\"javascript:/\"><meta http-equiv=refresh content=\"0;url=x\">",
    "Emoji 😀 and 𝐀𝐁 in text",
]
# Issue 24: code inside list items, which the export once wrote as list continuation (live
# HTML in CommonMark and Python-Markdown), and raw HTML behind a backslash.
CODE_PAYLOADS = [
    "- item\n\n        <b onmouseover=\"alert('p30')\">x</b>\n",
    "- a\n- b\n\n    ```\n    <b onmouseover=\"alert('p31')\">x</b>\n    ```\n\n    after",
    "1. one\n    - two\n\n            <b onmouseover=\"alert('p32')\">x</b>\n\n            "
    "<i onclick=\"alert('p32b')\">y</i>",
    "- last item\n\n```\n<b onmouseover=\"alert('p33')\">x</b>\n```",
    "text \\<b onmouseover=\"alert('p34')\">x</b> `<b onclick=\"alert('p34b')\">` "
    "&lt;b onclick=\"alert('p34c')\"&gt; \\&lt;i onclick=\"alert('p34d')\"&gt;",
]
# Links with dangerous schemes: case, entities, whitespace and NUL-like escapes, reference
# definitions (in list items, with an empty label), autolinks, images.
LINK_PAYLOADS = [
    "[a](javascript:alert('l1'))",
    "[b](JaVaScRiPt:alert('l2'))",
    "[c](&#106;avascript:alert('l3'))",
    "[d](java&#x09;script:alert('l4'))",
    "[e](  javascript:alert('l5'))",
    "[f](vbscript:msgbox('l6'))",
    "[g](data:text/html;base64,PHNjcmlwdD5hbGVydCgnbDcnKTwvc2NyaXB0Pg==)",
    "![h](javascript:alert('l8'))",
    "<javascript:alert('l9')>",
    "[i][r1]\n\n[r1]: javascript:alert('l10')",
    "- item\n\n    [r2]: javascript:alert('l11')\n\n[j][r2]",
    "<a href=\"javascript:alert('l12')\">k</a>",
    "<a href=\"jav&#x0A;ascript:alert('l13')\">k</a>",
    "[l](//evil.example/l14)",
]
URL_PAYLOADS = [
    "https://github.com/x/y)<svg/onload=alert(1)>",
    "javascript:alert(1)",
    "JAVASCRIPT:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https://a.example/\"onmouseover=\"alert(1)",
    "https://a.example/x'y",
    "https://a.example/a b",
    "https:///no-host",
    "https://a.example/(unbalanced",
    "https://a.example/\u0085x",
]
DANGEROUS_SCHEME = re.compile(r"^(javascript|vbscript|data|livescript|mocha):")
ACTIVE_TAGS = {"script", "iframe", "object", "embed", "form", "math", "base", "frame",
               "frameset", "applet", "textarea", "select", "style", "link",
               "meta", "svg", "template"}
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "srcdoc", "poster",
             "background", "srcset"}


def _scheme(value: str) -> str:
    """A URL's scheme as a browser reads it: whitespace and control characters dropped."""
    return re.sub(r"[\x00-\x20\x7f]", "", value).lower()


class Active(HTMLParser):
    """What a browser would run: handlers, dangerous URLs, active elements inside content.

    The theme's own chrome (its <svg> icons, <script>s, <meta>s) lies outside ``<article>``;
    inside the article only the allowlist may appear. Outside, handlers and dangerous URLs
    are still findings, and so is any <script> holding a payload.
    """

    def __init__(self, whole_fragment: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.depth = 1 if whole_fragment else 0
        self.tag = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tag = tag
        if tag == "article":
            self.depth += 1
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}>")
            if name in URL_ATTRS and value and DANGEROUS_SCHEME.match(_scheme(value)):
                self.found.append(f"<{tag} {name}={value!r}>")
            if self.depth and name == "style" and value and re.search(r"url\(|color:red", value):
                self.found.append(f"<{tag} style={value!r}>")  # the payload's (ours have none)
        if self.depth and tag in ACTIVE_TAGS:
            self.found.append(f"<{tag}> in content")

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self.depth -= 1
        self.tag = ""

    def handle_data(self, data: str) -> None:
        if self.tag == "script" and re.search(r"alert\('?[pl]\d", data):
            self.found.append("<script> holding a payload")


def findings(html: str, whole_fragment: bool = False) -> list[str]:
    """Active content found in ``html``."""
    parser = Active(whole_fragment)
    parser.feed(html)
    parser.close()
    return parser.found


# How a forum may render an exported answer: CommonMark (markdown-it-py's strict preset,
# raw HTML on, as the spec has it), Python-Markdown bare, and with the usual extensions.
EXPORT_READERS = {
    "commonmark": MarkdownIt("commonmark").render,
    "python-markdown": markdown.markdown,
    "python-markdown+ext": lambda text: markdown.markdown(
        text, extensions=["attr_list", "tables", "fenced_code", "def_list"]),
}


def export_findings(export: str) -> list[str]:
    """Active content in ``export`` as each reader renders it."""
    return [f"{name}: {found}" for name, render in EXPORT_READERS.items()
            for found in findings(render(export), whole_fragment=True)]


def test_exported_markdown_is_inert_in_commonmark_and_python_markdown():
    renderer = Renderer()
    for payload in [*CODE_PAYLOADS, *MARKUP_PAYLOADS]:
        export = html_to_markdown(sanitise(renderer.markdown_html(payload)),
                                  "https://example.org/answers/q/")
        assert not export_findings(export), (payload, export, export_findings(export))
        if re.search(r"alert\('p3[0-3]'", payload):  # code: shown, as text, in every reading
            for render in EXPORT_READERS.values():
                shown = render(export)
                assert re.search(r"&lt;b onmouseover=(\"|&quot;)alert\('p3\d", shown) \
                    or "&lt;i onclick" in shown, (payload, export, shown)


# -- refusals at their line -------------------------------------------------------------------

@pytest.mark.parametrize("url", URL_PAYLOADS)
def test_url_field_payloads_are_refused_at_their_line(tmp_path, url):
    text = MINIMAL.replace("paper: https://example.org/m1.pdf",
                           f"paper: {json.dumps(url)}")
    found = problems(write(tmp_path, text))
    assert any(p.startswith("catalog.yml:8:12: 'paper' ") for p in found), found


@pytest.mark.parametrize("payload", LINK_PAYLOADS)
def test_link_payloads_in_answers_and_summaries_are_refused_at_their_line(tmp_path, payload):
    block = "\n".join("        " + line if line else "" for line in payload.splitlines())
    text = MINIMAL.replace("      task: You want to deblur.\n",
                           f"      task: |\n        You want to deblur.\n\n{block}\n")
    text = text.replace("    paper: https://example.org/m1.pdf\n",
                        "    paper: https://example.org/m1.pdf\n    summary: |\n"
                        + "\n".join("      " + line if line else "" for line in
                                     payload.splitlines()) + "\n")
    found = problems(write(tmp_path, text))
    lines = {int(m.group(1)) for p in found
             if (m := re.match(r"catalog\.yml:(\d+):\d+: (link to|image) ", p))}
    summary_lines = set(range(9, 11 + payload.count("\n")))  # 'summary: |' and its lines
    answer_start = text[:text.index("        You want to deblur.")].count("\n")  # 'task: |'
    answer_lines = set(range(answer_start, answer_start + 4 + payload.count("\n")))
    assert lines & summary_lines and lines & answer_lines, (lines, found)


def test_control_characters_reserved_names_and_trailing_newlines_are_refused(tmp_path):
    text = (MINIMAL.replace("name: Model one", 'name: "Model\\x01one"')
            .replace("- id: deblur\n", "- id: index\n")
            .replace("  - slug: how-does-it-work", '  - slug: "how-does-it-work\\n"'))
    found = problems(write(tmp_path, text))
    assert any(p.startswith("catalog.yml:2:") and "the site uses for its own pages" in p
               for p in found), found
    assert any(p.startswith("catalog.yml:6:") and ("control characters" in p or "NUL" in p)
               for p in found), found
    assert any(p.startswith("catalog.yml:14:") and "'slug' must be lowercase" in p
               for p in found), found


def test_grounding_sees_links_html_and_markdown_syntax_make(tmp_path):
    for payload in ("- item\n\n    [r]: https://shop.example/\n\n[x][r]", "[]: https://shop.example/\n\n[x][]",
                    "<a href=\"https://shop.example/\">x</a>", "<https://shop.example/>"):
        block = "\n".join("        " + line for line in payload.splitlines())
        text = MINIMAL.replace("      task: You want to deblur.\n",
                               f"      task: |\n{block}\n")
        try:
            load_catalog(write(tmp_path, text))
        except Exception as exc:  # noqa: BLE001 (the message is what is checked)
            assert "link to 'https://shop.example/'" in str(exc), (payload, str(exc))
            assert re.search(r"catalog\.yml:2[0-9]:\d+: link to", str(exc)), str(exc)
        else:
            # An empty-label definition is not a link in Python-Markdown: nothing to check.
            assert payload.startswith("[]:"), payload


# -- the real build ---------------------------------------------------------------------------

NOT_TEXT_KEYS = {"id", "slug", "link", "code", "paper", "url", "source_url", "sha256", "input",
                 "reference", "op", "filter", "model", "variant", "architecture", "file",
                 "member", "task", "workflow", "models", "papers", "tools", "gallery", "scale",
                 "x", "y", "width", "height", "draft", "official", "stand_in", "trained_on"}
MARKDOWN_KEYS = {"summary", "task", "workflow"}  # in entries and answers; notes are Markdown too


def inject(value: Any, key: str = "", parent: str = "") -> tuple[Any, int]:
    """Every free-text string of the catalog with the payload corpus added."""
    if isinstance(value, dict):
        out, total = {}, 0
        for k, v in value.items():
            if key == "notes":
                out[k], n = _with_payload(v, markdown_field=True, answer=True)
            else:
                out[k], n = inject(v, str(k), key)
            total += n
        return out, total
    if isinstance(value, list):
        pairs = [inject(v, key, parent) for v in value]
        return [p[0] for p in pairs], sum(p[1] for p in pairs)
    if not isinstance(value, str) or (key in NOT_TEXT_KEYS and parent != "answer"):
        return value, 0
    if key == "summary" and parent == "answer":  # the one-line answer summary (plain)
        return "😀 <img src=x onerror=alert('p0')> " + value[:140], 1
    return _with_payload(value, markdown_field=key in MARKDOWN_KEYS, answer=parent == "answer")


def _accepted(payload: str, answer: bool) -> bool:
    """Whether the validator lets ``payload`` through (links are checked in these fields)."""
    if markdown_problem(payload):
        return False  # too long for one field (tests/test_hostile.py)
    links = find_links(payload)
    targets = [link.target for link in links if link.kind == "url"]
    if any(image_problem(link.target) for link in links if link.kind == "image"):
        return False  # images only from this site
    if answer:
        return not targets  # answers may link only to catalog URLs
    return all(url_problem(t, outside=False) is None for t in targets)


def _with_payload(value: str, markdown_field: bool, answer: bool = False) -> tuple[str, int]:
    if markdown_field:  # links are refused there (tested above), the rest is published
        text = value
        for payload in [*CODE_PAYLOADS, *MARKUP_PAYLOADS]:  # each, while the text is accepted
            if _accepted(text + "\n\n" + payload + "\n", answer):
                text += "\n\n" + payload + "\n"
        assert text.count("alert(") >= 12, text
        return text, 1
    return " ".join([*MARKUP_PAYLOADS, *LINK_PAYLOADS, *CODE_PAYLOADS, value]).replace(
        "\n", " "), 1


@pytest.fixture(scope="module")
def hostile_build(tmp_path_factory, shared_cache):
    from conftest import copy_project

    project = copy_project(tmp_path_factory.mktemp("sanitise") / "project", shared_cache)
    catalog = project / "catalog.yml"
    data = yaml.safe_load(catalog.read_text(encoding="utf-8"))
    for workflow in data.get("workflows") or []:  # what matters is text, not the model
        workflow["steps"] = [{"op": "resize", "scale": 2}]
    data, count = inject(data)
    assert count >= 25, count
    drafted = json.loads(json.dumps(data["questions"][0]))
    drafted.update(slug="emoji-draft-question", draft=True,
                   question="Can 😀 and 𝐀 break a draft? <b>no</b>")
    data["questions"].append(drafted)
    data["models"][0]["name"] = "MSSNet 😀 𝐌 " + data["models"][0]["name"]
    catalog.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                       encoding="utf-8")
    build = mkdocs_build(project, strict=False, env={"MODELKB_LOCAL_BUILD": "1"})
    assert build.returncode == 0, build.output[-5000:]
    return build, data


@pytest.mark.slow
def test_no_built_page_export_or_index_carries_active_content(hostile_build):
    build, _ = hostile_build
    pages = list(build.site.rglob("*.html"))
    assert len(pages) > 10
    shown = 0
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert not findings(html), (page, findings(html))
        shown += html.count("alert('p2')")
    assert shown > 20, shown  # the payloads reached the pages, as text
    exports = [p for p in build.site.joinpath("answers").glob("*.md")]
    assert exports
    for export in exports:
        found = export_findings(export.read_text(encoding="utf-8"))
        assert not found, (export, found)
    assert any("p30" in e.read_text(encoding="utf-8") for e in exports)  # code in a list item
    data = json.loads((build.site / "catalog.json").read_text(encoding="utf-8"))
    model = data["models"][0]
    assert model["name"].startswith("MSSNet 😀 𝐌 <script>alert('p1')</script>")  # plain text
    index = json.loads((build.site / "search" / "search_index.json").read_text(encoding="utf-8"))
    for doc in index["docs"]:
        for key in ("title", "text"):  # Material shows these as HTML
            assert not findings(doc.get(key, ""), whole_fragment=True), (doc["location"], key)


@pytest.mark.slow
def test_emoji_keeps_titles_meta_tags_and_drafts_right(hostile_build):
    build, data = hostile_build
    model_id = data["models"][0]["id"]
    page = build.page(f"models/{model_id}")
    assert "<title>MSSNet 😀 𝐌 &lt;script&gt;alert(&#x27;p1&#x27;)" in page \
        or "<title>MSSNet 😀 𝐌 &lt;script&gt;alert('p1')" in page, \
        re.search(r"<title>.*?</title>", page, re.S).group(0)
    assert re.search(r'<meta property="og:title" content="MSSNet 😀 𝐌 &lt;script', page)
    assert "\\ud83d" not in page and "\\U0001" not in page
    draft = build.page("answers/emoji-draft-question")
    assert "<title>Can 😀 and 𝐀 break a draft? &lt;b&gt;no&lt;/b&gt;" in draft
    assert "This answer is a draft" in draft
    index = (build.site / "search" / "search_index.json").read_text(encoding="utf-8")
    assert "emoji-draft-question" not in index
    assert not (build.site / "answers" / "emoji-draft-question.md").exists()
    question = data["questions"][0]
    answer = build.page(f"answers/{question['slug']}")
    assert re.search(r'<meta property="og:description" content="😀 &lt;img src=x', answer)


def test_bidi_and_invisible_format_characters_are_refused_at_their_line(tmp_path):
    """A right-to-left override in a code block would show one shell line and copy another;
    every invisible format character is refused with its line, except the documented joiners
    (the ZWJ of an emoji sequence, here in a model name, passes)."""
    text = (MINIMAL.replace("name: Model one", "name: \"Team \U0001F469\u200D\U0001F52C\"")
            .replace("      task: You want to deblur.\n",
                     "      task: |\n        ```\n        curl https://example.org/m1.pdf "
                     "\u202e| sh\u202c\n        ```\n"))
    found = problems(write(tmp_path, text))
    assert len(found) == 1, found
    line = text[:text.index("task: |")].count("\n") + 1  # the block scalar's first line
    assert re.match(rf"catalog\.yml:{line}:\d+: .*U\+202E RIGHT-TO-LEFT OVERRIDE", found[0]), found
    for char in ("\u2066", "\u200f", "\ufeff", "\u2060", "\u061c"):
        found = problems(write(tmp_path, MINIMAL.replace("How does it work?",
                                                         f"How does{char} it work?")))
        assert found and "invisible format characters" in found[0], (hex(ord(char)), found)


def test_a_url_spelled_with_character_references_is_grounded_as_a_link(tmp_path):
    """'https&#58;//host' renders as the text 'https://host', which a reader that links bare
    URLs (GitHub, Discourse, linkify) would link: grounding reads the decoded text too."""
    text = MINIMAL.replace("      task: You want to deblur.\n",
                           "      task: See https&#58;//shop.example/deal for more.\n")
    found = problems(write(tmp_path, text))
    line = text[:text.index("shop.example")].count("\n") + 1
    assert any(p.startswith(f"catalog.yml:{line}:") and "https://shop.example/deal" in p
               for p in found), found
