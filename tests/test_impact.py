"""Impact reports and `modelkb plan` (issue 28): which pages a build changed, which pictures
it computed and why, and a plan that predicts it."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modelkb.catalog import Workflow, validate_entry
from modelkb.catalog.schema import Crop
from modelkb.gallery.forecast import plan_gallery
from modelkb.gallery.runner import run_gallery
from modelkb.site.impact import summary

from conftest import (
    copy_project,
    gallery_catalog,
    make_weights,
    mkdocs_build,
    run_cli,
    use_tiny_gallery,
)


def _photo(path: Path, seed: int, size: tuple[int, int] = (40, 32)) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)).save(path)
    return path


def _planned(plan) -> dict[str, tuple[str, list[str]]]:
    return {e.id: (e.action, e.reasons) for e in plan.entries}


def _done(report) -> dict[str, tuple[str, list[str]]]:
    return {i: ("compute" if r.status == "computed" else "render" if r.rendered else "cached",
                r.reasons) for i, r in report.results.items()}


def test_each_reason_is_predicted_by_the_plan_and_given_by_the_run(tmp_path: Path) -> None:
    """Resize-only workflows (no model): every reason a picture can be redone for, first
    predicted by plan_gallery, then reported by run_gallery, and the two agree."""
    gallery, cache = tmp_path / "gallery_src", tmp_path / "cache"
    gallery.mkdir()
    _photo(gallery / "a.png", 0)
    _photo(gallery / "b.png", 1)
    _photo(gallery / "a_ref.png", 2)
    catalog = gallery_catalog(tmp_path, {"a": {}, "b": {}}, workflow="just-2x")
    catalog.workflows["just-3x"] = validate_entry(Workflow, {
        "id": "just-3x", "name": "3x", "steps": [{"op": "resize", "scale": 3}]})

    def step(expected: dict[str, tuple[str, list[str]]]) -> None:
        plan = plan_gallery(catalog, gallery, cache, device="cpu")
        assert _planned(plan) == expected
        report = run_gallery(catalog, gallery, cache, device="cpu")
        assert not report.failures
        assert _done(report) == expected

    step({"a": ("compute", ["new entry"]), "b": ("compute", ["new entry"])})
    step({"a": ("cached", []), "b": ("cached", [])})
    _photo(gallery / "a.png", 3)  # a new photo under the same name
    step({"a": ("compute", ["input photo changed"]), "b": ("cached", [])})
    catalog.gallery["a"] = replace(catalog.gallery["a"], reference="a_ref.png")
    step({"a": ("compute", ["reference changed"]), "b": ("cached", [])})
    catalog.gallery["b"] = replace(catalog.gallery["b"], workflow="just-3x")
    step({"a": ("cached", []), "b": ("compute", ["workflow changed"])})
    crop = validate_entry(Crop, {"x": 1, "y": 1, "width": 8, "height": 8})
    catalog.gallery["b"] = replace(catalog.gallery["b"], crops=[crop])
    step({"a": ("cached", []), "b": ("render", ["settings changed (crops)"])})
    shutil.rmtree(cache / "results")  # pruned by hand: same parts, nothing cached
    step({"a": ("compute", ["not in the cache (pruned, damaged or deleted)"]),
          "b": ("compute", ["not in the cache (pruned, damaged or deleted)"])})


def test_many_changes_are_counted_not_named() -> None:
    pages = [f"/answers/a{i}/" for i in range(8)]
    report = {"first": False,
              "pages": {"added": [], "changed": pages, "removed": ["/old/"], "total": 30},
              "pictures": {"computed": [{"id": f"p{i}", "reasons": ["weights changed"]}
                                        for i in range(7)],
                           "rendered": [], "cached": [], "failed": []},
              "cards": {"redrawn": [], "total": 3}}
    line = summary(report, "cache/last-build.json")
    assert line == ("impact: 8 pages changed, 1 removed; 7 pictures computed (7 weights "
                    "changed) (details: cache/last-build.json)")


def _impact_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "impact:" in line]


def _plan_json(project: Path) -> dict:
    proc = run_cli("plan", "--json", cwd=project)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_build_reports_an_answer_edit_and_a_photo_change_as_planned(tmp_path: Path) -> None:
    project = use_tiny_gallery(copy_project(tmp_path / "project", tmp_path / "cache"),
                               make_weights(tmp_path))
    last_build = tmp_path / "cache" / "last-build.json"

    # Nothing recorded yet: the plan computes the photo as a new entry, time unknown.
    plan = run_cli("plan", cwd=project)
    assert plan.returncode == 0, plan.stderr
    assert "1 picture to compute" in plan.stdout and "estimated unknown" in plan.stdout
    assert "portrait (portrait.png): compute: new entry" in plan.stdout
    first = mkdocs_build(project)
    assert first.returncode == 0, first.output
    (line,) = _impact_lines(first.output)
    assert "first build recorded" in line and "1 picture computed: portrait (new entry)" in line

    # Nothing changed: one line.
    again = mkdocs_build(project)
    assert again.returncode == 0, again.output
    pages = json.loads(last_build.read_text())["pages"]["total"]
    assert _impact_lines(again.output) == [
        f"INFO    -  modelkb: impact: nothing changed ({pages} pages, 1 picture cached)"]

    # One answer's text: that page, and no picture.
    catalog = project / "catalog.yml"
    text = catalog.read_text(encoding="utf-8")
    assert text.count("Two things are worth separating:") == 1
    catalog.write_text(text.replace("Two things are worth separating:",
                                    "Two things are worth keeping apart:"), encoding="utf-8")
    edited = mkdocs_build(project)
    assert edited.returncode == 0, edited.output
    answer = "/answers/real-image-super-resolution-everyday-noise/"
    report = json.loads(last_build.read_text())
    assert {k: report["pages"][k] for k in ("added", "changed", "removed")} == {
        "added": [], "changed": [answer], "removed": []}
    assert report["pictures"]["computed"] == [] and report["pictures"]["rendered"] == []
    assert report["pictures"]["cached"] == ["portrait"]
    (line,) = _impact_lines(edited.output)
    assert f"impact: 1 page changed ({answer}); 0 pictures computed (details: " in line
    assert "keeping apart" in (project / "site" / answer.strip("/") / "index.html").read_text()

    # A new photo: the plan names it and why, with a time from the first build's timings;
    # the build then reports exactly that.
    sharp = np.asarray(Image.open(project / "gallery_src" / "portrait.png"))
    Image.fromarray(255 - sharp).save(project / "gallery_src" / "portrait.png")
    planned = _plan_json(project)
    assert [(e["id"], e["action"], e["reasons"]) for e in planned["entries"]] == [
        ("portrait", "compute", ["input photo changed"])]
    assert planned["seconds"] is not None and planned["seconds"] > 0
    text_plan = run_cli("plan", cwd=project).stdout
    assert re.search(r"estimated \d+ s on cpu \(\d+ cores\)", text_plan), text_plan
    rebuilt = mkdocs_build(project)
    assert rebuilt.returncode == 0, rebuilt.output
    report = json.loads(last_build.read_text())
    assert [(p["id"], "compute", p["reasons"]) for p in report["pictures"]["computed"]] == [
        (e["id"], e["action"], e["reasons"]) for e in planned["entries"]]
    assert answer in report["pages"]["changed"] and "/gallery/" in report["pages"]["changed"]
    (line,) = _impact_lines(rebuilt.output)
    assert "1 picture computed: portrait (input photo changed)" in line
    # every card showing the photo is redrawn (the answer's, the model's, the site's, ...)
    cards = report["cards"]["redrawn"]
    assert "/assets/modelkb/cards/real-image-super-resolution-everyday-noise.png" in cards
    assert f"{len(cards)} card{'s' if len(cards) != 1 else ''} redrawn" in line
    assert "nothing to compute" in run_cli("plan", cwd=project).stdout


def test_pages_a_dirty_rebuild_skips_keep_their_digests() -> None:
    """`mkdocs serve --dirty` renders only changed pages: the others (the home page's file
    URL is './', its page URL '') are neither removed nor changed."""
    from modelkb.site.impact import Impact, build_report

    old = {"/": "h0", "/answers/a/": "a0", "/answers/b/": "b0", "/gone/": "g0"}
    impact = Impact(urls=["./", "answers/a/", "answers/b/", "answers/new/"])
    impact.page("answers/a/", "<p>edited</p>")
    impact.page("answers/new/", "<p>new</p>")
    report, hashes = build_report(impact, old, None)
    assert {k: report["pages"][k] for k in ("added", "changed", "removed", "unchanged")} == {
        "added": ["/answers/new/"], "changed": ["/answers/a/"], "removed": ["/gone/"],
        "unchanged": 2}
    assert hashes["/"] == "h0" and hashes["/answers/b/"] == "b0"


def _package_copy(tmp_path: Path) -> Path:
    """A copy of the modelkb package's source (without the shipped weights files)."""
    from modelkb import sourcehash

    package, copy = sourcehash._package_root(), tmp_path / "source" / "modelkb"
    shutil.copytree(package, copy, ignore=lambda folder, names: [
        n for n in names if n == "__pycache__" or (n == "weights" and Path(folder) == package)])
    return copy


def test_only_the_pixel_and_render_code_make_the_plan_redo_pictures(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """`modelkb plan` after edits to a copy of the source: code outside the pixel package
    (errors.py, the catalog, the site, the gallery's runner) changes no key; the network
    code recomputes every picture, the render code re-renders without recomputing.

    The keys hash the copy (``sourcehash._package_root`` points there) while the code that
    runs is this checkout's: what is tested is which files the keys read."""
    from modelkb import cli, sourcehash
    from modelkb.gallery import single

    project = use_tiny_gallery(copy_project(tmp_path / "project", tmp_path / "cache"),
                               make_weights(tmp_path))
    config = str(project / "mkdocs.yml")
    assert cli.main(["gallery", "--config", config]) == 0
    copy = _package_copy(tmp_path)
    monkeypatch.setattr(sourcehash, "_package_root", lambda: copy)

    def plan() -> str:
        single.code_key.cache_clear()
        single.render_code_key.cache_clear()
        capsys.readouterr()
        assert cli.main(["plan", "--config", config]) == 0
        return capsys.readouterr().out

    def edit(module: str) -> None:
        path = copy / module
        path.write_text(path.read_text(encoding="utf-8")
                        + "\n\n# an edit\ndef _edited() -> int:\n    return 1\n",
                        encoding="utf-8")

    assert "plan: nothing to compute (1 picture cached)" in plan()
    for module in ("errors.py", "catalog/markup.py", "catalog/schema.py", "site/pages.py",
                   "gallery/runner.py", "gallery/single.py", "gallery/forecast.py",
                   "gallery/history.py", "gallery/cache.py", "models/weights/download.py"):
        edit(module)
        assert "plan: nothing to compute (1 picture cached)" in plan(), module

    edit("gallery/webimages.py")  # how published files are made: render again
    text = plan()
    assert "plan: 0 pictures to compute, 1 to render again" in text, text
    assert "portrait (portrait.png): render again: render code or library versions " \
        "changed" in text, text

    edit("pixels/mssnet.py")  # the network: compute again
    text = plan()
    assert "plan: 1 picture to compute, 0 to render again" in text, text
    assert "portrait (portrait.png): compute: pixel code or library versions changed" in text


def test_one_cost_model_measured_then_the_registrations_cost() -> None:
    """A restore step costs its measured seconds per megapixel; a variant not measured on
    the device costs a measured one's scaled by the registrations' per-variant costs; with
    nothing measured there, the estimate is unknown."""
    from modelkb.gallery.forecast import restore_rate, variant_cost

    assert (variant_cost("mssnet", "mssnet-small"), variant_cost("mssnet", "mssnet"),
            variant_cost(None, "mssnet-large"), variant_cost(None, "unknown")) == \
        (1.0, 3.5, 7.0, 1.0)
    measured = {"decode, metrics, encode": {"seconds_per_megapixel": 0.5, "samples": 9},
                "mssnet/mssnet-small": {"seconds_per_megapixel": 10.0, "load_seconds": 0.4,
                                        "samples": 3}}
    assert restore_rate(measured, "mssnet", "mssnet-small") == (10.0, 0.4)
    assert restore_rate(measured, "mssnet", "mssnet") == pytest.approx((35.0, 1.4))
    assert restore_rate({"decode, metrics, encode": {"seconds_per_megapixel": 0.5}},
                        "mssnet", "mssnet") is None
