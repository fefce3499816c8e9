"""Files a pull request or another machine hands over (issue 34). The record of published
URLs: its lines are parsed strictly, it is never read or written through a link, and what a
build writes for a recorded URL stays inside the site folder and never replaces a file of the
build. Symbolic links that lead out of the project (the catalog, the gallery folder, a
weights file named in the settings) are refused before anything is read through them.

Real `mkdocs build`s of the shipped project without its gallery (seconds each), as in
tests/test_permalinks.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_permalinks import RECORD, edit, no_gallery_project
from test_site import SEED_SLUG

from conftest import mkdocs_build

FP = "dfc03c389fde"  # the seed answer's fingerprint in the shipped record


def _add_line(project: Path, line: str) -> int:
    """Append ``line`` to the project's record; returns its line number."""
    record = project / RECORD
    text = record.read_text(encoding="utf-8")
    record.write_text(text + line + "\n", encoding="utf-8")
    return text.count("\n") + 1


@pytest.mark.parametrize(("line", "why"), [
    (f"/../escaped.md\texport\t{SEED_SLUG}\t{FP}", "'..' segment"),
    (f"/answers/../../escaped.md\texport\t{SEED_SLUG}\t{FP}", "'..' segment"),
    (f"/index.html\texport\t{SEED_SLUG}\t{FP}", "an export's URL ends in '.md'"),
    (f"/sitemap.xml\tcard\t{SEED_SLUG}\t{FP}", "a card's URL is a '.png' under"),
    (f"/search/search_index.json\tanswer\t{SEED_SLUG}\t{FP}", "a page's URL ends in"),
    (f"//evil.example/x/\tanswer\t{SEED_SLUG}\t{FP}", "empty, '.' or '..' segment"),
    (f"/a\\b/\tanswer\t{SEED_SLUG}\t{FP}", "backslash"),
    ("/" + "d/" * 40 + f"\tanswer\t{SEED_SLUG}\t{FP}", "folders deep"),
    ("/" + "x" * 300 + f"/\tanswer\t{SEED_SLUG}\t{FP}", "longer than 200 bytes"),
])
def test_a_record_line_outside_its_shape_is_refused_at_its_line(tmp_path, shared_cache,
                                                                line, why):
    project = no_gallery_project(tmp_path, shared_cache)
    number = _add_line(project, line)
    build = mkdocs_build(project)
    assert build.returncode == 1
    assert f"{RECORD}:{number}: " in build.output and why in build.output, build.output
    assert "Traceback" not in build.output
    assert not (tmp_path / "escaped.md").exists() and not (project / "escaped.md").exists()
    assert not build.site.exists() or not (build.site / "index.html").exists()


def test_a_record_line_that_collides_with_the_build_is_refused(tmp_path, shared_cache):
    """A recorded answer URL under the home page's file (a file where a folder is needed)
    and one at a file the build writes itself: named with their lines, nothing replaced."""
    project = no_gallery_project(tmp_path, shared_cache)
    under_file = _add_line(project, f"/index.html/x/\tanswer\t{SEED_SLUG}\t{FP}")
    own_file = _add_line(project, f"/answers/{SEED_SLUG}/index.html\tanswer\t{SEED_SLUG}\t{FP}")
    build = mkdocs_build(project)
    assert build.returncode == 1, build.output
    assert (f"{RECORD}:{under_file}: /index.html/x/ would be written at index.html/x/index.html"
            ", where this build writes the file index.html") in build.output
    assert (f"{RECORD}:{own_file}: /answers/{SEED_SLUG}/index.html would be written at "
            f"answers/{SEED_SLUG}/index.html, where this build writes a file of its own"
            ) in build.output
    assert "Traceback" not in build.output


@pytest.mark.parametrize("dangling", [True, False])
def test_a_symlinked_record_is_neither_read_nor_written_through(tmp_path, shared_cache,
                                                                dangling):
    project = no_gallery_project(tmp_path, shared_cache)
    outside = tmp_path / "outside.txt"
    if not dangling:
        outside.write_bytes((project / RECORD).read_bytes())
        outside.chmod(0o755)
    (project / RECORD).unlink()
    (project / RECORD).symlink_to(outside)
    build = mkdocs_build(project)
    assert build.returncode == 1
    assert f"{RECORD}: " in build.output and "symbolic link" in build.output, build.output
    assert "Traceback" not in build.output
    assert outside.exists() is not dangling  # a dangling link creates nothing
    if not dangling:
        assert outside.stat().st_mode & 0o777 == 0o755


def test_an_answer_made_a_draft_again_fails_like_a_removal(tmp_path, shared_cache):
    """Its Markdown export was published; a draft has none, so the build names it and the
    fixes, and passes once it is retired (the page stays, marked as a draft)."""
    project = no_gallery_project(tmp_path, shared_cache)
    edit(project, f"  - slug: {SEED_SLUG}\n", f"  - slug: {SEED_SLUG}\n    draft: true\n")
    failed = mkdocs_build(project)
    assert failed.returncode == 1, failed.output
    assert (f"/answers/{SEED_SLUG}.md was published ({RECORD} lists it as answer "
            f"'{SEED_SLUG}'), but that answer is a draft now") in failed.output
    cat = project / "catalog.yml"
    cat.write_text(cat.read_text(encoding="utf-8") + (
        f"\nretired:\n  - url: /answers/{SEED_SLUG}.md\n    note: Back to a draft.\n"),
        encoding="utf-8")
    build = mkdocs_build(project)
    assert build.returncode == 0, build.output
    note = (build.site / "answers" / f"{SEED_SLUG}.md").read_text(encoding="utf-8")
    assert "has been removed" in note and "Back to a draft." in note


@pytest.mark.parametrize("what", ["catalog.yml", "gallery_src"])
def test_a_link_out_of_the_project_is_refused_before_reading(tmp_path, shared_cache, what):
    """A catalog or gallery folder that is a link to somewhere else is refused by name; no
    key of the file it points to is echoed, no photo from there is published."""
    project = no_gallery_project(tmp_path, shared_cache)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / what
    (project / what).rename(target)
    if what == "catalog.yml":
        target.write_text("secret_key_abc123: 1\n", encoding="utf-8")
    (project / what).symlink_to(target)
    build = mkdocs_build(project)
    assert build.returncode == 1, build.output
    assert f"{what}: leads out of the project folder through a symbolic link" in build.output
    assert "secret_key_abc123" not in build.output and "Traceback" not in build.output
    assert not (build.site / "gallery").exists()
