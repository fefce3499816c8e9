"""The gallery inside real site builds: nodes, slider, crops, metrics, cache, faults."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image
from test_site import SEED_SLUG, Markup, article

from conftest import mkdocs_build

GALLERY_YAML = """
workflows:
  - id: deblur-then-2x
    name: MSSNet, then 2x Lanczos
    steps:
      - op: restore
        model: deblur-mssnet-realblurj
      - op: resize
        scale: 2
        filter: lanczos

gallery:
  - id: portrait
    input: portrait.png
    reference: portrait_sharp.png
    workflow: deblur-then-2x
    caption: A portrait <script>alert(1)</script>
    source: Made by the test
    licence: CC0
    crops:
      - {x: 8, y: 8, width: 24, height: 24, label: Centre}
"""


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    import torch

    from modelkb.models.mssnet import build

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "random-small.pt"
    torch.save({"model_state_dict": build("mssnet-small").state_dict(), "all_step": 0}, path)
    return path


@pytest.fixture
def gallery_project(project, weights_file, shared_cache):
    """The shipped project plus one tiny gallery entry, with its own (empty) cache."""
    rng = np.random.default_rng(0)
    sharp = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    sharp[:, :, 0] = 200  # warm tones, so some pixels count as skin
    Image.fromarray(sharp).save(project / "gallery_src" / "portrait_sharp.png")
    blurred = Image.fromarray(sharp).resize((32, 24)).resize((64, 48))
    blurred.save(project / "gallery_src" / "portrait.png")
    text = (project / "catalog.yml").read_text(encoding="utf-8")
    # Replace the shipped workflows and gallery (top-level sections) with this tiny one.
    text = re.sub(r"^(workflows|gallery):\n(?:[ #].*\n|\n)*", "", text, flags=re.M)
    text = text.replace("\nquestions:\n", GALLERY_YAML + "\nquestions:\n")
    papers = '    papers: ["2401.00261", "2502.03656", "2502.16025"]\n'
    text = text.replace(papers + "    workflow: deblur-then-2x\n", papers)
    text = text.replace(papers, papers + "    workflow: deblur-then-2x\n")
    text = re.sub(r"^    gallery: \[.*\]\n", "", text, flags=re.M)
    (project / "catalog.yml").write_text(text, encoding="utf-8")
    cfg = project / "mkdocs.yml"
    config = cfg.read_text().replace(f"    cache: {shared_cache}\n", "    cache: .cache\n")
    cfg.write_text(config.replace("    device: auto",
                                  f"    device: cpu\n    weights: {weights_file}"))
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
    assert "data-mkb-compare" in workflow and 'type="range"' in workflow
    assert "crop-1-output.png" in workflow and "crop-auto-output.png" in workflow
    assert "PSNR vs sharp reference" in workflow and "CIEDE2000" in workflow
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
