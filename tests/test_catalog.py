"""Loading and validating catalog.yml: every problem at once, each with its line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelkb.catalog import CatalogError, load_catalog
from modelkb.site.answers import find_links, plain
from modelkb.site.render import Renderer

from conftest import ROOT, run_cli

MINIMAL = """\
tasks:
  - id: deblur
    name: Deblurring
models:
  - id: m1
    name: Model one
    task: deblur
    paper: https://example.org/m1.pdf
papers:
  - id: "2401.00001"
    title: A paper
    link: https://arxiv.org/abs/2401.00001
questions:
  - slug: how-does-it-work
    question: How does it work?
    task: deblur
    models: [m1]
    papers: ["2401.00001"]
    answer:
      summary: One line.
      task: You want to deblur.
      workflow: |
        Input, then [[m1]], then output.
        See [the paper](https://example.org/m1.pdf).
      notes:
        m1: The model.
        "2401.00001": Background.
"""


def write(tmp_path: Path, text: str | bytes, name: str = "catalog.yml") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    return [str(p) for p in info.value.problems]


def test_minimal_catalog_loads_with_entries_in_order(tmp_path):
    cat = load_catalog(write(tmp_path, MINIMAL))
    assert list(cat.models) == ["m1"]
    assert cat.questions["how-does-it-work"].papers == ["2401.00001"]
    assert "https://example.org/m1.pdf" in cat.urls()


def test_shipped_catalog_is_valid_and_holds_the_seed_prompt():
    cat = load_catalog(ROOT / "catalog.yml")
    q = next(iter(cat.questions.values()))
    assert q.question == ("I doubled the size of a casual snapshot and skin tones looked "
                          "natural. How do real-image super-resolution models learn to handle "
                          "everyday noise?")
    model = cat.models[q.models[0]]
    assert model.name == "Deblur-MSSNet-RealBlurJ"
    assert model.paper == "https://cg.postech.ac.kr/Research/MSSNet/MSSNet.pdf"
    assert model.code == "https://github.com/kky7/MSSNet"
    assert [cat.papers[p].link for p in q.papers] == [
        "http://arxiv.org/pdf/2401.00261v2.pdf", "http://arxiv.org/pdf/2502.03656v1.pdf",
        "http://arxiv.org/pdf/2502.16025v1.pdf"]
    assert cat.papers["2502.03656"].summary.endswith("set the stage for future advancements.")


def test_every_problem_is_reported_with_line_and_column(tmp_path):
    text = MINIMAL.replace("    paper: https://example.org/m1.pdf",
                           "    paper: javascript:alert(1)\n    colour: red")
    text = text.replace("  - id: \"2401.00001\"", "  - id: Bad ID")
    text = text.replace("slug: how-does-it-work", "slug: How_Does")
    text = text.replace("models: [m1]", "models: [m1, ghost]")
    found = problems(write(tmp_path, text))
    joined = "\n".join(found)
    assert re.search(r"^catalog\.yml:8:12: 'paper' must be an absolute http", joined, re.M)
    assert re.search(r"^catalog\.yml:9:5: unknown key 'colour' \(known keys here: id, name",
                     joined, re.M)
    assert re.search(r"^catalog\.yml:11:9: 'id' must be", joined, re.M)
    assert re.search(r"^catalog\.yml:15:11: 'slug' must be lowercase", joined, re.M)
    assert re.search(r"^catalog\.yml:18:18: unknown model 'ghost'", joined, re.M)
    assert len(found) >= 5


def test_missing_and_duplicate_ids(tmp_path):
    text = MINIMAL.replace("  - id: m1\n    name: Model one", "  - name: Model one")
    text += "  - slug: how-does-it-work\n    question: Again?\n    task: deblur\n" \
            "    answer: {summary: s, task: t, workflow: w}\n"
    joined = "\n".join(problems(write(tmp_path, text)))
    assert "catalog.yml:5:5: missing required key 'id'" in joined
    assert "duplicate slug 'how-does-it-work' in questions" in joined


def test_outside_link_in_an_answer_is_an_error_at_its_line(tmp_path):
    text = MINIMAL.replace("See [the paper](https://example.org/m1.pdf).",
                           "See [the paper](https://example.org/m1.pdf).\n"
                           "        Buy [it](https://shop.example.com/) or <javascript:alert(1)>")
    joined = "\n".join(problems(write(tmp_path, text)))
    assert "catalog.yml:25:18: link to 'https://shop.example.com/'" in joined
    assert "link to 'javascript:alert(1)'" in joined


def test_every_cited_entry_needs_a_note_unless_draft(tmp_path):
    text = MINIMAL.replace("        m1: The model.\n", "")
    assert any("section 3 has no note for 'm1'" in p for p in problems(write(tmp_path, text)))
    drafted = text.replace("    task: deblur\n    models", "    task: deblur\n    draft: true\n"
                           "    models")
    assert load_catalog(write(tmp_path, drafted)).questions["how-does-it-work"].draft


@pytest.mark.parametrize("text,expected", [
    ("a: &x [1]\nb: *x\n", "YAML aliases (*name) are not supported"),
    ("models: []\nmodels: []\n", "duplicate key 'models'"),
    ("models: [\n", "YAML syntax error"),
    ("- just\n- a list\n", "the catalog must be a mapping"),
    ("modles: []\n", "unknown section 'modles'"),
])
def test_malformed_yaml_is_explained(tmp_path, text, expected):
    assert any(expected in p for p in problems(write(tmp_path, text)))


def test_alias_bomb_is_refused_quickly(tmp_path):
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [{','.join(['*a' + str(i - 1)] * 9)}]")
    found = problems(write(tmp_path, "\n".join(lines) + "\n"))
    assert "aliases" in found[0]


def test_non_utf8_file_names_the_line(tmp_path):
    found = problems(write(tmp_path, b"tasks:\n  - id: x\n    name: caf\xe9\n"))
    assert found == ["catalog.yml:3:14: byte 0xe9 is not valid UTF-8 (save the file as UTF-8)"]


def test_oversized_catalog_is_refused(tmp_path):
    from modelkb.catalog.yamlsrc import MAX_BYTES

    found = problems(write(tmp_path, "# " + "x" * MAX_BYTES + "\n"))
    assert "more than the" in found[0]


def test_check_command_exit_codes_and_messages(tmp_path):
    good = run_cli("check", str(write(tmp_path, MINIMAL)))
    assert good.returncode == 0 and "ok (1 questions" in good.stdout
    bad = run_cli("check", str(write(tmp_path, MINIMAL.replace("task: deblur\n    paper",
                                                               "task: nope\n    paper"), "b.yml")))
    assert bad.returncode == 1
    assert "b.yml:7:11: unknown task 'nope' (known: deblur)" in bad.stdout
    assert "Traceback" not in bad.stdout + bad.stderr
    missing = run_cli("check", str(tmp_path / "nope.yml"))
    assert missing.returncode == 1 and "file not found" in missing.stdout


def test_find_links_sees_every_kind_of_link():
    text = ("[a](https://a.example/x) <https://b.example/> https://c.example/y. "
            "[[m1]] ![i](data:image/png;base64,xx)\n[ref]: https://d.example/z\n")
    targets = {(link.kind, link.target) for link in find_links(text)}
    assert targets >= {("url", "https://a.example/x"), ("url", "https://b.example/"),
                       ("url", "https://c.example/y"), ("shortcode", "m1"),
                       ("image", "data:image/png;base64,xx"), ("url", "https://d.example/z")}


def test_escaping_helpers():
    # plain text: every mark a character reference, so Markdown and HTML see no syntax
    assert plain("<b>[[x]]</b> *a*") == \
        "&#60;b&#62;&#91;&#91;x&#93;&#93;&#60;&#47;b&#62; &#42;a&#42;"
    # Markdown: rendered, then sanitised (issue 14 replaced the escaper that showed HTML as text)
    html = Renderer().markdown_to_html("<i>x</i> `<kept>` {: onclick=y}")
    assert html == "<p><i>x</i> <code>&lt;kept&gt;</code> {: onclick=y}</p>"
