"""modelkb in someone else's MkDocs site (issue 35, parts 5 to 8): live reload of the catalog
under `mkdocs serve`, the generated pages and an explicit nav, the writer pages opt-in, and
settings and commands that say what they mean."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from modelkb.errors import ModelkbError
from modelkb.site import publish
from modelkb.site.config import parse_settings, site_url_env

from conftest import mkdocs_build, run_cli

CATALOG = """\
tasks:
  - id: image-deblurring
    name: Image deblurring
    summary: Removing blur from a photo.
models:
  - id: tiny-deblur
    name: Tiny Deblur
    task: image-deblurring
    summary: A model named in a test.
papers: []
tools: []
questions:
  - slug: why-blur
    question: Why is my photo blurred?
    task: image-deblurring
    models: [tiny-deblur]
    answer:
      summary: It moved.
      task: You want a sharp photo.
      workflow: The model removes blur.
      notes:
        tiny-deblur: It removes blur.
"""


def neighbour(root: Path, *, nav: str | None = "  - Home: index.md\n  - Guide: guide.md\n",
              settings: str = "", site_url: str = "site_url: https://example.org/vision/\n"
              ) -> Path:
    """An ordinary Material site (hand-written pages, search) with ``plugins: [modelkb]``
    and a catalog of one task, one model and one answer; no ``watch:``."""
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "index.md").write_text("# Vision team\n\nHello.\n", encoding="utf-8")
    (root / "docs" / "guide.md").write_text("# Guide\n\nUse it.\n", encoding="utf-8")
    (root / "catalog.yml").write_text(CATALOG, encoding="utf-8")
    plugin = "  - modelkb:\n      cache: .cache/modelkb\n" + textwrap.indent(settings, "      ")
    (root / "mkdocs.yml").write_text(
        "site_name: Vision team\n" + site_url + "theme:\n  name: material\n"
        + (f"nav:\n{nav}" if nav is not None else "")
        + "plugins:\n  - search\n" + plugin, encoding="utf-8")
    return root


def search_titles(site: Path) -> set[str]:
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    return {doc["title"] for doc in index["docs"]}


# -- 6. navigation ------------------------------------------------------------------------

def test_an_explicit_nav_builds_quietly_and_the_pages_are_built(tmp_path):
    build = mkdocs_build(neighbour(tmp_path / "site"))
    assert build.returncode == 0, build.output
    assert "not included in the" not in build.output  # MkDocs lists none of the pages
    assert (build.site / "answers" / "why-blur" / "index.html").is_file()
    assert (build.site / "models" / "tiny-deblur" / "index.html").is_file()
    home = build.page("")
    assert 'href="guide/"' in home and 'href="models/"' not in home  # the nav as written


def test_the_placeholder_puts_the_sections_in_the_nav(tmp_path):
    site = neighbour(tmp_path / "site", nav="  - Home: index.md\n  - Knowledge base: modelkb\n"
                                         "  - Guide: guide.md\n")
    build = mkdocs_build(site)
    assert build.returncode == 0, build.output
    assert "not included in the" not in build.output
    home = build.page("")
    assert "Knowledge base" in home
    for href in ("answers/", "tasks/", "models/"):
        assert f'href="{href}"' in home, href
    # empty sections (no tools, no papers, no gallery) and the unpublished writer pages
    for href in ("tools/", "papers/", "gallery/", "reference/catalog/"):
        assert f'href="{href}"' not in home, href


# -- 7. writer pages ------------------------------------------------------------------------

def test_writer_pages_are_published_only_when_enabled(tmp_path):
    # a nav naming them does not fail a site that never enabled them: the entries are dropped
    nav = "  - Home: index.md\n  - Guide: guide.md\n  - Reference: reference/catalog.md\n"
    # a build for publishing (a real site_url), so the record is written
    off = mkdocs_build(neighbour(tmp_path / "off", nav=nav), env={"MODELKB_LOCAL_BUILD": "0"})
    assert off.returncode == 0, off.output
    assert not (off.site / "reference").exists()
    assert not {"Catalog reference", "Link health"} & search_titles(off.site)
    record = (off.project / "published-urls.txt").read_text(encoding="utf-8")
    assert "/reference/" not in record

    on = mkdocs_build(neighbour(tmp_path / "on", nav=nav, settings="writer_pages: true\n"))
    assert on.returncode == 0, on.output
    assert (on.site / "reference" / "catalog" / "index.html").is_file()
    assert (on.site / "reference" / "link-health" / "index.html").is_file()
    assert {"Catalog reference", "Link health"} <= search_titles(on.site)


# -- 8. settings -----------------------------------------------------------------------------

def test_an_unknown_plugin_setting_is_an_error_without_strict(tmp_path):
    build = mkdocs_build(neighbour(tmp_path / "site", settings="galery: photos\n"),
                         strict=False)
    assert build.returncode == 1, build.output
    assert "unknown setting 'galery' (did you mean 'gallery'?" in build.output
    assert "Traceback" not in build.output


def test_an_unknown_extra_setting_says_what_was_meant():
    with pytest.raises(ModelkbError, match=r"unknown setting 'extra.modelkb.galery' "
                                           r"\(did you mean 'gallery'\?"):
        parse_settings({"galery": "x"})
    with pytest.raises(ModelkbError) as caught:
        parse_settings({"zzz": 1})
    assert "did you mean" not in str(caught.value)


def test_the_site_url_message_fits_the_site(tmp_path):
    plain = mkdocs_build(neighbour(tmp_path / "plain", site_url=""),
                         env={"MODELKB_LOCAL_BUILD": ""})
    assert plain.returncode == 1
    assert "site_url is not set" in plain.output
    assert "Set site_url in mkdocs.yml" in plain.output
    assert "SITE_URL" not in plain.output and "environment variable" not in plain.output

    env_file = tmp_path / "env.yml"
    env_file.write_text('site_name: x\nsite_url: !ENV [DOCS_URL, "http://127.0.0.1:8000/"]\n',
                        encoding="utf-8")
    assert site_url_env(env_file) == ["DOCS_URL"]
    with pytest.raises(ModelkbError) as caught:
        os.environ.pop("MODELKB_LOCAL_BUILD", None)  # a build for publishing
        publish.check_site_url("http://127.0.0.1:8000/", "build", "env.yml",
                               site_url_env(env_file))
    assert "environment variable DOCS_URL (env.yml reads site_url from it)" \
        in str(caught.value)
    env_file.write_text("site_url: !ENV SITE_ADDRESS\n", encoding="utf-8")
    assert site_url_env(env_file) == ["SITE_ADDRESS"]
    env_file.write_text("site_url: https://example.org/\n", encoding="utf-8")
    assert site_url_env(env_file) == []


def test_commands_outside_a_site_say_where_they_looked(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for command in ("check", "links", "plan", "gallery"):
        proc = run_cli(command, cwd=empty)
        assert proc.returncode == 1, (command, proc.stdout, proc.stderr)
        assert "looked for mkdocs.yml" in proc.stderr and str(empty) in proc.stderr, command
        assert "Traceback" not in proc.stderr
    missing = run_cli("check", "--config", str(empty / "site.yml"), cwd=empty)
    assert missing.returncode == 1 and f"looked for site.yml in {empty}" in missing.stderr


SEED = next((Path(__file__).parent / "data" / "seeds").glob("000_*.txt"))


def test_import_takes_config_like_every_command_and_still_catalog(tmp_path):
    site = neighbour(tmp_path / "site", settings="catalog: kb/catalog.yml\n")
    (site / "kb").mkdir()
    (site / "catalog.yml").rename(site / "kb" / "catalog.yml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    prompt = SEED
    by_config = run_cli("import", str(prompt), "--config", str(site / "mkdocs.yml"),
                        "--dry-run", cwd=elsewhere)
    assert by_config.returncode == 0, by_config.stderr
    assert "kb/catalog.yml: dry run, nothing written" in by_config.stdout
    by_catalog = run_cli("import", str(prompt), "--catalog", str(site / "kb" / "catalog.yml"),
                         "--dry-run", cwd=elsewhere)
    assert by_catalog.returncode == 0, by_catalog.stderr
    assert by_catalog.stdout == by_config.stdout
    here = run_cli("import", str(prompt), "--dry-run", cwd=site)  # the catalog mkdocs.yml names
    assert here.returncode == 0 and "kb/catalog.yml: dry run" in here.stdout


# -- 5. mkdocs serve --------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode("utf-8")
    except OSError:
        return None


def test_mkdocs_serve_rebuilds_when_the_catalog_changes(tmp_path):
    """No ``watch:`` in mkdocs.yml: the plugin's on_serve watches the catalog."""
    site = neighbour(tmp_path / "site", site_url="")
    assert "watch" not in (site / "mkdocs.yml").read_text(encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}/models/tiny-deblur/"
    server = subprocess.Popen(
        [sys.executable, "-m", "mkdocs", "serve", "-a", f"127.0.0.1:{port}"],
        cwd=site, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    try:
        page = None
        for _ in range(240):
            page = fetch(url)
            if page is not None:
                break
            assert server.poll() is None, "mkdocs serve stopped"
            time.sleep(0.25)
        assert page is not None and "Tiny Deblur" in page
        time.sleep(0.5)  # the watches are set once the first build is served
        catalog = site / "catalog.yml"
        catalog.write_text(catalog.read_text(encoding="utf-8").replace(
            "name: Tiny Deblur", "name: Renamed Deblurrer"), encoding="utf-8")
        edited = time.monotonic()
        while time.monotonic() - edited < 5:
            page = fetch(url) or ""
            if "Renamed Deblurrer" in page:
                break
            time.sleep(0.1)
        assert "Renamed Deblurrer" in page, "the edit was not served within 5 s"
    finally:
        server.terminate()
        server.wait(timeout=30)
