"""Real MkDocs builds of the shipped project: answer pages, entry pages, grounding, escaping."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from modelkb.catalog import load_catalog

from conftest import ROOT, copy_project, mkdocs_build

SEED_SLUG = "real-image-super-resolution-everyday-noise"


class Links(HTMLParser):
    """Collects hrefs and ids of one HTML fragment."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if attrs.get("id"):
            self.ids.append(attrs["id"])


class Markup(HTMLParser):
    """Collects what a browser would execute: on* attributes, script bodies, image sources."""

    def __init__(self) -> None:
        super().__init__()
        self.handlers: list[tuple[str, str]] = []
        self.scripts: list[str] = []
        self.img_srcs: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.handlers += [(tag, k) for k, _ in attrs if k.startswith("on")]
        self._in_script = tag == "script"
        if tag == "img":
            self.img_srcs.append(dict(attrs).get("src") or "")

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)

    def handle_endtag(self, tag):
        self._in_script = False


def article(html: str) -> str:
    """The page's main content (what the catalog produced), without the theme's chrome."""
    start = html.index('<article class="md-content__inner md-typeset">')
    return html[start:html.index("</article>", start)]


@pytest.fixture(scope="module")
def seed_build(tmp_path_factory, shared_cache):
    build = mkdocs_build(copy_project(tmp_path_factory.mktemp("seed") / "project", shared_cache))
    assert build.returncode == 0, build.output
    return build


@pytest.mark.slow
def test_strict_build_has_no_warnings(seed_build):
    assert "WARNING" not in seed_build.output, seed_build.output


@pytest.mark.slow
def test_answer_page_has_the_three_anchored_sections_in_order(seed_build):
    html = article(seed_build.page(f"answers/{SEED_SLUG}"))
    parser = Links()
    parser.feed(html)
    headings = re.findall(r'<h2 id="([^"]+)">([^<]+)', html)
    assert [h[0] for h in headings] == ["task", "workflow", "references"]
    assert headings[0][1].startswith("1. What you are trying to do")
    assert headings[1][1].startswith("2. How the model works")
    assert headings[2][1].startswith("3. Papers and tools")


@pytest.mark.slow
def test_section_three_links_every_recommended_model_and_paper(seed_build):
    catalog = load_catalog(ROOT / "catalog.yml")
    q = catalog.questions[SEED_SLUG]
    refs = article(seed_build.page(f"answers/{SEED_SLUG}")).split('id="references"', 1)[1]
    parser = Links()
    parser.feed(refs)
    for model_id in q.models:
        model = catalog.models[model_id]
        assert f"../../models/{model_id}/" in parser.hrefs
        assert model.paper in parser.hrefs and model.code in parser.hrefs
    for paper_id in q.papers:
        assert f"../../papers/{paper_id}/" in parser.hrefs
        assert catalog.papers[paper_id].link in parser.hrefs
    assert "https://github.com/kky7/MSSNet" in parser.hrefs
    assert "Not directly relevant because" in refs


@pytest.mark.slow
def test_answer_links_nothing_outside_the_catalog(seed_build):
    catalog = load_catalog(ROOT / "catalog.yml")
    parser = Links()
    parser.feed(article(seed_build.page(f"answers/{SEED_SLUG}")))
    outside = [h for h in parser.hrefs if re.match(r"^[a-z]+:", h)]
    assert outside, "section 3 should have outside links"
    assert set(outside) <= catalog.urls()


@pytest.mark.slow
def test_model_and_paper_pages_list_the_citing_answer(seed_build):
    for path in ("models/deblur-mssnet-realblurj", "papers/2502.03656", "papers/2401.00261"):
        parser = Links()
        parser.feed(article(seed_build.page(path)))
        assert f"../../answers/{SEED_SLUG}/" in parser.hrefs, path


@pytest.mark.slow
def test_home_and_task_index_list_the_answer(seed_build):
    assert f'href="answers/{SEED_SLUG}/"' in article(seed_build.page(""))
    tasks = article(seed_build.page("tasks"))
    assert "Real-image super-resolution" in tasks and f"../answers/{SEED_SLUG}/" in tasks


@pytest.mark.slow
def test_catalog_reference_is_generated_from_the_schema(seed_build):
    from modelkb.catalog import SECTIONS

    html = article(seed_build.page("reference/catalog"))
    for section, model in SECTIONS.items():
        assert f"<code>{section}</code>" in html
        for field_name in (f.name for f in dataclasses.fields(model)):
            assert f"<code>{field_name}</code>" in html
    # the type column is readable: no Python internals
    for internal in ("Annotated", "AfterValidator", "0x", "typing", "NoneType"):
        assert internal not in html, internal
    assert '<span class="mkb-ref__type">list of ids</span>' in html
    assert '<span class="mkb-ref__type">URL</span>' in html


@pytest.mark.slow
def test_generated_pages_are_not_written_into_docs(seed_build):
    docs = seed_build.project / "docs"
    for folder in ("answers", "models", "papers", "tools", "tasks", "gallery", "reference"):
        assert not (docs / folder).exists(), folder
        assert (seed_build.site / folder).is_dir(), folder


def _edit_catalog(project: Path, old: str, new: str) -> None:
    path = project / "catalog.yml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_build_fails_listing_every_catalog_problem_with_its_line(project):
    _edit_catalog(project, "    variant: mssnet\n", "    variant: mssnet\n    colour: red\n")
    _edit_catalog(project, "code: https://github.com/kky7/MSSNet", "code: javascript:alert(1)")
    _edit_catalog(project, "models: [deblur-mssnet-realblurj]", "models: [ghost-model]")
    build = mkdocs_build(project)
    assert build.returncode == 1
    assert "Traceback" not in build.output
    lines = build.output
    assert re.search(r"catalog\.yml:\d+:\d+: unknown key 'colour'", lines)
    assert re.search(r"catalog\.yml:\d+:\d+: 'code' must be an absolute http", lines)
    assert re.search(r"catalog\.yml:\d+:\d+: unknown model 'ghost-model'", lines)
    assert not (project / "site" / "index.html").exists()


def test_answer_linking_an_outside_url_fails_with_its_line(project):
    text = (project / "catalog.yml").read_text(encoding="utf-8")
    line = text.splitlines().index("        1. **Input**: the casual snapshot (RGB, 8-bit, "
                                   "JPEG-compressed, noisy, possibly") + 1
    _edit_catalog(project, "1. **Input**: the casual snapshot",
                  "1. **Input**: [a shop](https://example.com/buy) the casual snapshot")
    build = mkdocs_build(project)
    assert build.returncode == 1
    assert f"catalog.yml:{line}:" in build.output
    assert "link to 'https://example.com/buy', which the catalog does not list" in build.output


@pytest.mark.slow
def test_html_in_catalog_text_is_shown_as_text(project):
    _edit_catalog(project, "name: Deblur-MSSNet-RealBlurJ",
                  'name: "<script>alert(1)</script>MSSNet {: onclick=x}"')
    _edit_catalog(project, "question: >-\n      I doubled",
                  "question: >-\n      <img src=x onerror=alert(2)> I doubled")
    _edit_catalog(project, "task: |\n        You took",
                  'task: |\n        <b onclick="alert(3)">bold</b> {: onclick="alert(4)"} You took')
    build = mkdocs_build(project)
    assert build.returncode == 0, build.output
    for html_file in build.site.rglob("*.html"):
        markup = Markup()
        markup.feed(html_file.read_text(encoding="utf-8"))
        assert not markup.handlers, (html_file, markup.handlers)
        assert not [s for s in markup.scripts if "alert" in s], html_file
        assert "x" not in markup.img_srcs, html_file
    page = article(build.page(f"answers/{SEED_SLUG}"))
    assert "&lt;img src=x onerror=alert(2)&gt; I doubled" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;MSSNet" in page


def test_unknown_setting_stops_the_build_with_a_clear_message(project):
    cfg = project / "mkdocs.yml"
    cfg.write_text(cfg.read_text().replace("    device: auto", "    device: auto\n    devise: gpu"))
    build = mkdocs_build(project)
    assert build.returncode == 1
    assert "unknown setting 'extra.modelkb.devise'" in build.output
    assert "Traceback" not in build.output


@pytest.mark.slow
def test_shortcode_to_unknown_id_in_docs_fails_strict_build(project):
    (project / "docs" / "about.md").write_text("# About\n\nSee [[no-such-model]].\n")
    build = mkdocs_build(project)
    assert build.returncode == 1
    assert "docs/about.md: [[no-such-model]] names no model" in build.output


@pytest.mark.slow
def test_draft_answer_has_banner_and_stays_out_of_home_and_search(project):
    _edit_catalog(project, "    task: real-image-super-resolution\n    models",
                  "    task: real-image-super-resolution\n    draft: true\n    models")
    build = mkdocs_build(project)
    assert build.returncode == 0, build.output
    page = article(build.page(f"answers/{SEED_SLUG}"))
    assert "admonition warning" in page and "This answer is a draft" in page
    assert SEED_SLUG not in article(build.page(""))
    assert "Drafts" in article(build.page("answers"))
    search = (build.site / "search" / "search_index.json").read_text(encoding="utf-8")
    assert f"answers/{SEED_SLUG}/" not in search
    cfg = project / "mkdocs.yml"
    cfg.write_text(cfg.read_text().replace("    device: auto",
                                           "    device: auto\n    drafts: error"))
    failed = mkdocs_build(project)
    assert failed.returncode == 1 and f"draft answers present: {SEED_SLUG}" in failed.output


@pytest.mark.slow
def test_dirty_rebuild_renders_only_the_edited_answer(project):
    first = mkdocs_build(project)
    assert first.returncode == 0, first.output
    answer = first.site / "answers" / SEED_SLUG / "index.html"
    paper = first.site / "papers" / "2502.16025" / "index.html"
    before = {p: p.stat().st_mtime_ns for p in (answer, paper)}
    _edit_catalog(project, "It shares only the idea", "It shares just the idea")
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--dirty", "-d",
                           str(first.site)], cwd=project, capture_output=True, text=True,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1",
                               "MODELKB_LOCAL_BUILD": "1"}, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert answer.stat().st_mtime_ns > before[answer]
    assert "It shares just the idea" in answer.read_text(encoding="utf-8")
    assert paper.stat().st_mtime_ns == before[paper]


def test_page_urls_and_links_are_the_ones_mkdocs_writes(tmp_path):
    """Generated links between pages use MkDocs' own URL of each page, so they point at the
    files MkDocs writes with use_directory_urls true (folders) and false (.html files)."""
    from mkdocs.structure.files import File

    from modelkb.site.pages import make_resolver
    from modelkb.site.urls import Urls

    catalog = load_catalog(ROOT / "catalog.yml")
    model = next(iter(catalog.models))
    for dirs in (True, False):
        urls = Urls(dirs)
        for uri in ("index.md", "answers/index.md", f"answers/{SEED_SLUG}.md",
                    f"models/{model}.md", "reference/catalog.md"):
            dest = File(uri, str(tmp_path), str(tmp_path / "site"), dirs).dest_uri
            assert urls.page(uri) in (dest, dest.removesuffix("index.html"),
                                      "./" if dest == "index.html" else dest)
        url, _title = make_resolver(catalog, urls)(model, f"answers/{SEED_SLUG}.md")
        expected = f"../../models/{model}/" if dirs else f"../models/{model}.html"
        assert url == expected
        assert urls.link("answers/index.md", "index.md") == (
            "answers/" if dirs else "answers/index.html")


def test_check_without_arguments_reads_the_catalog_the_site_names(tmp_path):
    """`modelkb check` finds the catalog through the site's settings, as the build does."""
    from conftest import run_cli

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cat.yml").write_text("questions: []\nbogus: []\n", encoding="utf-8")
    (tmp_path / "mkdocs.yml").write_text("site_name: x\nextra:\n  modelkb:\n"
                                         "    catalog: data/cat.yml\n", encoding="utf-8")
    bad = run_cli("check", cwd=tmp_path)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "data/cat.yml:2:1:" in bad.stdout and "data/cat.yml: 1 problem" in bad.stdout
    (tmp_path / "data" / "cat.yml").write_text("questions: []\n", encoding="utf-8")
    good = run_cli("check", cwd=tmp_path)
    assert good.returncode == 0 and good.stdout.startswith("data/cat.yml: ok"), good.stdout


def test_only_the_adapter_imports_mkdocs():
    """MkDocs stays at the edge: the catalog, the gallery, the pages, figures and exports
    import none of it (lazy imports included), so another site generator needs only a new
    adapter."""
    import ast

    package = ROOT / "hooks" / "modelkb"
    adapter = {"site/plugin.py", "site/config.py", "site/urls.py", "site/permalinks.py"}
    found = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "mkdocs" or n.startswith("mkdocs.") for n in names):
                found.add(path.relative_to(package).as_posix())
    assert found == adapter
