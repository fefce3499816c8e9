"""Generated text reads well: summaries cut at sentence ends, the reference renders its code,
names its types in plain words, shows a YAML example per part that the catalog's own
validation accepts, and is readable on a phone."""

from __future__ import annotations

import re
from dataclasses import fields
from html.parser import HTMLParser

import markdown
import pytest
import yaml
from test_browser import ARTIFACTS, CHROMIUM, browser, served  # noqa: F401 (fixtures)

from modelkb.catalog import SECTIONS, load_catalog, validate_entry
from modelkb.site.pages import (
    REFERENCE_EXAMPLES,
    _first_sentence,
    catalog_reference,
    reference_parts,
)


def test_summaries_are_cut_at_sentence_ends_not_abbreviations() -> None:
    text = ("Vision encoders matter for many tasks (e.g. segmentation, detection, etc.) and "
            "for multimodal models. Currently, ViTs dominate.")
    assert _first_sentence(text) == ("Vision encoders matter for many tasks (e.g. "
                                     "segmentation, detection, etc.) and for multimodal "
                                     "models.")
    long = "word " * 80
    cut = _first_sentence(long)
    assert cut.endswith("…") and len(cut) <= 200 and not cut.endswith(" …")
    assert _first_sentence("It is 2.5 times faster than the baseline on average. Next.") == \
        "It is 2.5 times faster than the baseline on average."


def reference_html() -> str:
    """The reference page as the site renders it (the site's Markdown extensions)."""
    return markdown.markdown(catalog_reference(), extensions=["attr_list", "admonition",
                                                               "tables", "toc"])


class Text(HTMLParser):
    """The text of an HTML page, and the text of each element of a class."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.types: list[str] = []
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self._in_type = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if a.get("href"):
            self.hrefs.append(a["href"])
        if self._in_type:
            self._in_type += 1
        elif a.get("class") == "mkb-ref__type":
            self._in_type = 1
            self.types.append("")

    def handle_endtag(self, tag):
        if self._in_type:
            self._in_type -= 1

    def handle_data(self, data):
        self.text.append(data)
        if self._in_type:
            self.types[-1] += data


def parsed_reference() -> Text:
    parser = Text()
    parser.feed(reference_html())
    parser.close()
    return parser


def test_catalog_reference_renders_code_and_keeps_angle_brackets_as_text() -> None:
    page = reference_html()
    assert "`" not in re.sub(r"<pre.*?</pre>", "", page, flags=re.S)  # no raw backticks
    assert "<code>tasks</code>" in page
    assert "/models/&lt;id&gt;/" in page  # '<id>' is text, not a tag
    for section, model in SECTIONS.items():
        for f in fields(model):
            assert f"<dt><code>{f.name}</code>" in page, (section, f.name)


def test_catalog_reference_names_types_in_plain_words() -> None:
    parsed = parsed_reference()
    text = "".join(parsed.text)
    assert "\\" not in text  # no stray backslash (was `restore\|resize`)
    assert "restore|resize" in text or "op: restore" in text
    assert parsed.types
    for type_name in parsed.types:
        assert not re.search(r"[\[\]|]|None|Literal|[a-z][A-Z]", type_name), type_name
    for expected in ("list of weights entries", "list of ids", "list of steps",
                     "list of crops", "mapping of id to Markdown", "URL", "true or false",
                     "one of lanczos, bicubic, bilinear, nearest"):
        assert expected in parsed.types, (expected, sorted(set(parsed.types)))
    for href in parsed.hrefs:  # the type links and the contents line lead to headings
        assert href.startswith("#") and href[1:] in parsed.ids, href


def test_every_part_has_an_example_the_catalog_validation_accepts(tmp_path) -> None:
    parts = dict(reference_parts())
    assert set(REFERENCE_EXAMPLES) == set(parts)
    page = reference_html()
    assert page.count('<pre class="mkb-ref__example">') == len(parts)
    # The sections' examples together are a catalog: loaded as `modelkb check` loads one.
    catalog = "".join(REFERENCE_EXAMPLES[name] for name in SECTIONS)
    (tmp_path / "catalog.yml").write_text(catalog, encoding="utf-8")
    loaded = load_catalog(tmp_path / "catalog.yml")
    for name in SECTIONS:
        assert getattr(loaded, name), name
    # Each nested part's example: its entries validate as that entry type.
    for name, model in parts.items():
        if name in SECTIONS:
            continue
        data = yaml.safe_load(REFERENCE_EXAMPLES[name])
        (value,) = data.values()
        for item in value if isinstance(value, list) else [value]:
            validate_entry(model, item)
    for name, example in REFERENCE_EXAMPLES.items():
        assert max(len(line) for line in example.splitlines()) <= 42, name  # fits a phone


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed")
@pytest.mark.parametrize("size", [(390, 844), (1400, 900)])
def test_reference_page_fits_the_screen_and_keeps_keys_whole(served, browser, size):  # noqa: F811
    base, _build = served
    width, height = size
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(base + "reference/catalog/", wait_until="networkidle")
    try:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"reference-{width}x{height}.png"))
        for anchor in ("models", "step-op-resize-in-workflows"):
            page.evaluate(f"document.getElementById('{anchor}').scrollIntoView()")
            page.wait_for_timeout(400)  # the header's title swap
            page.screenshot(path=str(ARTIFACTS / f"reference-{anchor}-{width}x{height}.png"))
        found = page.evaluate("""() => {
            const wide = [...document.querySelectorAll('article *')]
                .filter(el => el.getClientRects().length)
                .filter(el => el.getBoundingClientRect().right > innerWidth + 0.5
                              || el.getBoundingClientRect().left < -0.5)
                .map(el => el.tagName + '.' + el.className);
            const keys = [...document.querySelectorAll('.mkb-ref__key dt code')];
            const size = el => parseFloat(getComputedStyle(el).fontSize);
            const broken = keys.filter(el => el.getClientRects().length !== 1
                || el.getBoundingClientRect().height > 2 * size(el))
                .map(el => el.textContent);
            return {wide, broken, keys: keys.length,
                    scroll: document.documentElement.scrollWidth};
        }""")
        assert found["keys"] > 40
        assert found["scroll"] <= width, found
        assert not found["wide"], found["wide"][:10]
        assert not found["broken"], found["broken"]
    finally:
        context.close()
