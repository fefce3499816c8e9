"""Shared fixtures: real MkDocs builds of a project copied into a temporary folder."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Material for MkDocs prints a multi-line end-of-life banner whenever `mkdocs` runs; every
# MkDocs the tests start (directly or through a helper) inherits this and stays quiet.
os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")


@dataclass
class Build:
    """The outcome of one `mkdocs build`: exit code, output and the site folder."""

    returncode: int
    output: str
    site: Path
    project: Path

    def page(self, url_path: str) -> str:
        """The HTML of a built page, e.g. page('answers/x/')."""
        return (self.site / url_path / "index.html").read_text(encoding="utf-8")


def run_cli_process(*args: str, cwd: Path | None = None, env: dict | None = None
                    ) -> subprocess.CompletedProcess:
    """Run `modelkb ARGS` in a process of its own: for what only a fresh interpreter shows
    (architectures registered by installed distributions found at start-up)."""
    return subprocess.run([sys.executable, "-m", "modelkb.cli", *args], cwd=cwd,
                          capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=600)


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None
            ) -> subprocess.CompletedProcess:
    """Run `modelkb ARGS` as a user would, in this process (``modelkb.cli.main``, the entry
    point the installed command calls): the working folder, the environment, stdout and
    stderr as a subprocess would have them, without paying Python's and torch's start-up
    for each call (tests that need a process of its own, for signals or resource limits,
    start one)."""
    import contextlib
    import io

    from modelkb.cli import main
    from modelkb.gallery import single
    from modelkb.site import publish

    # what a fresh process would work out again: the code keys (another test may have
    # pointed the source hash elsewhere or registered an architecture meanwhile)
    for cached in (single.code_key, single.render_code_key, publish.card_code_key):
        cached.cache_clear()
    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.update(env or {})
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors and --help
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["modelkb", *args], code, out.getvalue(),
                                       err.getvalue())


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One gallery cache for the whole test session: the shipped gallery is computed once."""
    return tmp_path_factory.mktemp("gallery-cache")


def copy_project(dest: Path, cache: Path) -> Path:
    """Copy the shipped project into ``dest``, its gallery cache pointed at ``cache``."""
    dest.mkdir(parents=True)
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "    cache: .cache/modelkb\n" in config
    config = config.replace("    cache: .cache/modelkb\n", f"    cache: {cache}\n")
    (dest / "mkdocs.yml").write_text(config, encoding="utf-8")
    shutil.copy(ROOT / "catalog.yml", dest / "catalog.yml")
    shutil.copytree(ROOT / "docs", dest / "docs")
    shutil.copytree(ROOT / "gallery_src", dest / "gallery_src")
    (dest / "hooks").mkdir()
    shutil.copy(ROOT / "hooks" / "modelkb_hooks.py", dest / "hooks" / "modelkb_hooks.py")
    return dest


@pytest.fixture
def project(tmp_path: Path, shared_cache: Path) -> Path:
    """A copy of the shipped project (config, docs, catalog, gallery) in a temp folder."""
    return copy_project(tmp_path / "project", shared_cache)


# ``env`` of a build for publishing: a real site_url and not a local copy, so the build
# writes the record of published URLs (local builds compare with it and warn)
PUBLISHING = {"MODELKB_LOCAL_BUILD": "0", "SITE_URL": "https://kb.example/"}


def mkdocs_build(project: Path, *, strict: bool = True, env: dict | None = None) -> Build:
    """Run a real `mkdocs build` of ``project`` and return what it produced."""
    site = project / "site"
    cmd = [sys.executable, "-m", "mkdocs", "build", "-d", str(site)]
    if strict:
        cmd.append("--strict")
    proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1",
                               # a local copy: site_url may be the loopback default
                               "MODELKB_LOCAL_BUILD": "1", **(env or {})})
    return Build(proc.returncode, proc.stdout + proc.stderr, site, project)


TINY_GALLERY_YAML = """
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


def make_weights(folder: Path) -> Path:
    """Random mssnet-small weights (seeded): a gallery that runs fast and downloads nothing."""
    import torch

    from modelkb.pixels.mssnet import build

    torch.manual_seed(0)
    path = folder / "random-small.pt"
    torch.save({"model_state_dict": build("mssnet-small").state_dict(), "all_step": 0}, path)
    return path


def use_tiny_gallery(project: Path, weights: Path) -> Path:
    """Swap the shipped gallery for one 64x48 photo shown by the seed answer, on ``weights``."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    sharp = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    sharp[:, :, 0] = 200  # warm tones, so some pixels count as skin
    Image.fromarray(sharp).save(project / "gallery_src" / "portrait_sharp.png")
    Image.fromarray(sharp).resize((32, 24)).resize((64, 48)).save(
        project / "gallery_src" / "portrait.png")
    text = (project / "catalog.yml").read_text(encoding="utf-8")
    text = re.sub(r"^(workflows|gallery):\n(?:[ #].*\n|\n)*", "", text, flags=re.M)
    # the shipped weights name the gallery photos they were trained on: gone with the gallery
    text = re.sub(r"^ +(?:# .*\n +)?trained_on: .*\n", "", text, flags=re.M)
    head, questions = text.split("\nquestions:\n", 1)
    questions = re.sub(r"^    (gallery|workflow): .*\n", "", questions, flags=re.M)
    papers = '    papers: ["2401.00261", "2502.03656", "2502.16025"]\n'
    assert papers in questions
    questions = questions.replace(papers, papers + "    workflow: deblur-then-2x\n")
    text = head + TINY_GALLERY_YAML + "\nquestions:\n" + questions
    (project / "catalog.yml").write_text(text, encoding="utf-8")
    cfg = project / "mkdocs.yml"
    cfg.write_text(cfg.read_text().replace("    device: auto",
                                           f"    device: cpu\n    weights: {weights}"))
    return project


RESTORE_2X = {"id": "deblur-then-2x", "name": "Deblur, then 2x",
              "steps": [{"op": "restore", "model": "deblur-mssnet-realblurj"},
                        {"op": "resize", "scale": 2, "filter": "lanczos"}]}

# A catalog reduced to what a gallery needs: one task, one model, the restore-then-2x workflow.
GALLERY_CATALOG_HEAD = """\
tasks:
  - id: image-deblurring
    name: Image deblurring
models:
  - id: deblur-mssnet-realblurj
    name: Deblur-MSSNet-RealBlurJ
    task: image-deblurring
    architecture: mssnet
    variant: mssnet
workflows:
  - id: deblur-then-2x
    name: Deblur, then 2x
    steps:
      - {op: restore, model: deblur-mssnet-realblurj}
      - {op: resize, scale: 2, filter: lanczos}
gallery:
"""


def gallery_catalog_yaml(entries: dict[str, str], caption: str = "photo {id}") -> str:
    """GALLERY_CATALOG_HEAD plus one restore-then-2x entry per {id: input file}."""
    lines = [GALLERY_CATALOG_HEAD]
    for entry_id, input_file in entries.items():
        lines.append(f"  - id: {entry_id}\n    input: {input_file}\n"
                     f"    workflow: deblur-then-2x\n    caption: {caption.format(id=entry_id)}\n"
                     f"    source: generated\n    licence: CC0\n")
    return "".join(lines)


def gallery_catalog(tmp: Path, entries: dict[str, dict], workflow: str = "deblur-then-2x"):
    """An in-memory Catalog with the restore and resize-only workflows and these entries."""
    from modelkb.catalog import Catalog, GalleryEntry, Model, Workflow, validate_entry

    catalog = Catalog(path=tmp / "catalog.yml")
    catalog.models["deblur-mssnet-realblurj"] = validate_entry(Model, {
        "id": "deblur-mssnet-realblurj", "name": "Deblur-MSSNet-RealBlurJ",
        "task": "image-deblurring", "architecture": "mssnet", "variant": "mssnet"})
    catalog.workflows["deblur-then-2x"] = validate_entry(Workflow, RESTORE_2X)
    catalog.workflows["just-2x"] = validate_entry(Workflow,
        {"id": "just-2x", "name": "2x", "steps": [{"op": "resize", "scale": 2}]})
    for entry_id, extra in entries.items():
        data = {"id": entry_id, "input": f"{entry_id}.png", "workflow": workflow,
                "caption": "c", "source": "s", "licence": "CC0", **extra}
        catalog.gallery[entry_id] = validate_entry(GalleryEntry, data)
    return catalog


@pytest.fixture(scope="session")
def published_template(tmp_path_factory) -> Path:
    """The shipped project with one tiny gallery entry on the seed answer and random weights
    (``test_publish.publish_project``), with its own cache. Read-only: copy it
    (``test_publish.fresh``) before changing or building it."""
    from test_publish import publish_project

    folder = tmp_path_factory.mktemp("publish")
    return publish_project(folder / "project", folder / "cache", make_weights(folder))


@pytest.fixture(scope="session")
def published_build(published_template: Path) -> Build:
    """``published_template`` built once per session, shared by the publishing, gallery-UI and
    browser tests. Read-only: a test that rebuilds works on a copy."""
    build = mkdocs_build(published_template)
    assert build.returncode == 0, build.output
    return build

