"""The gallery inside real site builds: nodes, slider, crops, metrics, cache, faults."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from test_site import SEED_SLUG, Markup, article

from conftest import make_weights, mkdocs_build, use_tiny_gallery


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    return make_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture
def gallery_project(project, weights_file, shared_cache):
    """The shipped project with the tiny gallery, and its own (empty) cache."""
    use_tiny_gallery(project, weights_file)
    cfg = project / "mkdocs.yml"
    cfg.write_text(cfg.read_text().replace(f"    cache: {shared_cache}\n", "    cache: .cache\n"))
    return project


def test_answer_shows_workflow_slider_crops_and_metrics(gallery_project):
    build = mkdocs_build(gallery_project)
    assert build.returncode == 0, build.output
    assert "gallery: 1 computed, 0 cached" in build.output
    page = article(build.page(f"answers/{SEED_SLUG}"))
    workflow = page.split('id="workflow"', 1)[1].split('id="references"', 1)[0]
    nodes = re.findall(r'class="mkb-node mkb-node--(\w+)"', workflow)
    assert nodes == ["io", "model", "step", "io"]
    assert "variant mssnet-small · cpu ·" in workflow
    assert "Resize 2× (Lanczos)" in workflow
    assert "data-mkb-viewer" in workflow and 'data-view="output"' in workflow
    assert "crop-1-output.webp" in workflow and "crop-auto-output.webp" in workflow
    assert "sharp original (PSNR)" in workflow and "CIEDE2000" in workflow
    assert "sha256" in workflow
    markup = Markup()
    markup.feed(build.page(f"answers/{SEED_SLUG}"))
    assert not [s for s in markup.scripts if "alert" in s]
    for src in markup.img_srcs:
        if "gallery/" in src:
            target = (build.site / "answers" / SEED_SLUG / src).resolve()
            assert target.is_file(), src
    with Image.open(build.site / "gallery" / "portrait" / "output.png") as out:
        assert out.size == (128, 96)
    assert not list((gallery_project / "docs").rglob("*.webp"))
    assert "portrait" in article(build.page("gallery"))
    css = build.site / "assets" / "modelkb" / "modelkb.css"
    assert css.is_file() and "modelkb.js" in build.page(f"answers/{SEED_SLUG}")


@pytest.mark.slow
def test_second_build_computes_nothing_and_new_weights_recompute(gallery_project, weights_file):
    first = mkdocs_build(gallery_project)
    assert "gallery: 1 computed, 0 cached" in first.output
    second = mkdocs_build(gallery_project)
    assert second.returncode == 0 and "gallery: 0 computed, 1 cached" in second.output
    import torch

    other = weights_file.parent / "other.pt"
    state = torch.load(weights_file, weights_only=True)
    state["model_state_dict"]["tail3_3.weight"] *= 0.5
    torch.save(state, other)
    cfg = gallery_project / "mkdocs.yml"
    cfg.write_text(cfg.read_text().replace(str(weights_file), str(other)))
    third = mkdocs_build(gallery_project)
    assert "gallery: 1 computed, 0 cached" in third.output


def test_corrupt_input_fails_strict_build_and_shows_placeholder_otherwise(gallery_project):
    path = gallery_project / "gallery_src" / "portrait.png"
    path.write_bytes(path.read_bytes()[:60])
    strict = mkdocs_build(gallery_project)
    assert strict.returncode == 1
    assert "gallery_src/portrait.png" in strict.output
    assert "Traceback" not in strict.output
    lenient = mkdocs_build(gallery_project, strict=False)
    assert lenient.returncode == 0
    assert "WARNING" in lenient.output and "portrait.png" in lenient.output
    page = article(lenient.page(f"answers/{SEED_SLUG}"))
    assert "mkb-placeholder" in page and "Image unavailable" in page
