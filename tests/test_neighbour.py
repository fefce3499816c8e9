"""modelkb as a plugin in someone else's Material site (issue 35): the record of published URLs
holds the URLs MkDocs really publishes (a blog post's from its date and slug), accepts the
moves mkdocs-redirects declares, is written only by publishing builds, and no page of the
site shares a URL with a page modelkb generates.

Each build is a real `mkdocs build --strict` of a small neighbour site in a temporary folder:
Material with its `blog` and `search` plugins, `mkdocs-redirects`, and `plugins: [modelkb]`
with a tiny catalog (no gallery, so a build takes seconds).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_catalog import MINIMAL

from conftest import PUBLISHING as PUBLISH
from conftest import mkdocs_build

pytest.importorskip("material")
pytest.importorskip("mkdocs_redirects")

RECORD = "published-urls.txt"
POST_URL = "/blog/2026/11/20/hello-from-the-vision-team/"
REDIRECTS = """\
  - redirects:
      redirect_maps:
        guide/usage.md: guide/using.md
"""

CONFIG = """\
site_name: Vision team
site_url: !ENV [SITE_URL, "http://127.0.0.1:8000/"]
theme:
  name: material
plugins:
  - search
  - blog
{redirects}  - modelkb:
      cache: {cache}
"""

POST = """\
---
date: 2026-11-20
slug: {slug}
---

# Hello from the vision team

Our first post.
"""


def neighbour(tmp_path: Path) -> Path:
    """A small Material site with a blog post, a guide page and a tiny catalog."""
    site = tmp_path / "site-src"
    docs = site / "docs"
    (docs / "guide").mkdir(parents=True)
    (docs / "blog" / "posts").mkdir(parents=True)
    (docs / "index.md").write_text("# Vision team\n\nWelcome.\n", encoding="utf-8")
    (docs / "guide" / "usage.md").write_text("# Usage\n\nHow to use it.\n", encoding="utf-8")
    (docs / "blog" / "index.md").write_text("# Blog\n", encoding="utf-8")
    (docs / "blog" / "posts" / "hello.md").write_text(
        POST.format(slug="hello-from-the-vision-team"), encoding="utf-8")
    (site / "catalog.yml").write_text(MINIMAL, encoding="utf-8")
    configure(site, tmp_path / "cache")
    return site


def configure(site: Path, cache: Path, redirects: str = "") -> None:
    (site / "mkdocs.yml").write_text(CONFIG.format(cache=cache, redirects=redirects),
                                     encoding="utf-8")


def recorded(site: Path) -> dict[str, list[str]]:
    """The record's lines by URL."""
    lines = (site / RECORD).read_text(encoding="utf-8").splitlines()
    return {ln.split("\t")[0]: ln.split("\t")[1:] for ln in lines
            if ln.strip() and not ln.startswith("#")}


def test_blog_posts_are_recorded_at_their_published_url_and_redirect_maps_count(tmp_path):
    site = neighbour(tmp_path)
    first = mkdocs_build(site, env=PUBLISH)
    assert first.returncode == 0, first.output
    record = recorded(site)
    assert record[POST_URL] == ["page", "blog/posts/hello.md", "-"]
    assert "/blog/posts/hello/" not in record  # the source path is not a URL of the site
    assert not any(url.startswith("/blog/archive/") for url in record)  # the blog's own pages
    assert {"/", "/guide/usage/", "/answers/how-does-it-work/", "/models/m1/"} <= set(record)
    assert (first.site / POST_URL.strip("/") / "index.html").is_file()

    # the post's file renamed (its URL unchanged); a guide moved with mkdocs-redirects
    posts = site / "docs" / "blog" / "posts"
    (posts / "hello.md").rename(posts / "hello-world.md")
    guide = site / "docs" / "guide"
    (guide / "usage.md").rename(guide / "using.md")
    configure(site, tmp_path / "cache", REDIRECTS)
    second = mkdocs_build(site, env=PUBLISH)
    assert second.returncode == 0, second.output
    record = recorded(site)
    assert record[POST_URL] == ["page", "blog/posts/hello-world.md", "-"]
    assert "/guide/usage/" in record and "/guide/using/" in record  # kept, with the new one
    moved = (second.site / "guide" / "usage" / "index.html").read_text(encoding="utf-8")
    assert "using/" in moved  # mkdocs-redirects' page, not modelkb's
    assert "retired" not in second.output

    # the post's URL changed (a new slug): its old URL is caught and leads to the new one
    (posts / "hello-world.md").write_text(POST.format(slug="hello-again"), encoding="utf-8")
    third = mkdocs_build(site, env=PUBLISH)
    assert third.returncode == 0, third.output
    old = (third.site / POST_URL.strip("/") / "index.html").read_text(encoding="utf-8")
    assert 'content="0; url=../hello-again/"' in old, old
    assert "/blog/2026/11/20/hello-again/" in recorded(site)


def test_only_a_publishing_build_writes_the_record(tmp_path):
    site = neighbour(tmp_path)
    scratch = site / "docs" / "scratch.md"
    scratch.write_text("# Scratch\n", encoding="utf-8")
    local = mkdocs_build(site)  # MODELKB_LOCAL_BUILD=1, a loopback site_url
    assert local.returncode == 0, local.output
    assert not (site / RECORD).exists()
    scratch.unlink()
    published = mkdocs_build(site, env=PUBLISH)
    assert published.returncode == 0, published.output
    before = (site / RECORD).read_bytes()
    assert b"/scratch/" not in before and b"/guide/usage/" in before
    # a local build that would break a published URL warns, and records nothing
    (site / "docs" / "guide" / "usage.md").unlink()
    (site / "docs" / "draft.md").write_text("# Draft\n", encoding="utf-8")
    warned = mkdocs_build(site, strict=False)
    assert warned.returncode == 0, warned.output
    assert "/guide/usage/ was published" in warned.output and "WARNING" in warned.output
    assert (site / RECORD).read_bytes() == before


def test_a_page_of_the_site_at_a_generated_url_fails_naming_both(tmp_path):
    site = neighbour(tmp_path)
    (site / "docs" / "models.md").write_text("# Our models\n", encoding="utf-8")
    build = mkdocs_build(site)
    assert build.returncode != 0, build.output
    assert ("docs/models.md and modelkb's generated models/index.md are both published at "
            "/models/") in build.output, build.output
