"""Models are real (issue 16): each catalog model runs its own weights, pictures say which."""

from __future__ import annotations

import http.server
import io
import json
import logging
import re
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modelkb import sourcehash
from modelkb.catalog import Catalog, GalleryEntry, Model, Workflow, validate_entry
from modelkb.errors import ModelkbError
from modelkb.files import hash_bytes
from modelkb.gallery import single
from modelkb.gallery.runner import run_gallery
from modelkb.gallery.single import WeightsChoice

from conftest import copy_project, mkdocs_build, run_cli, use_tiny_gallery


def _weights(folder: Path, seed: int) -> Path:
    import torch

    from modelkb.models.weights import save_safetensors
    from modelkb.pixels.mssnet import build

    torch.manual_seed(seed)
    return save_safetensors(build("mssnet-small"), folder / f"w{seed}.safetensors",
                            dtype=torch.float32)


def _two_model_catalog(tmp: Path) -> Catalog:
    catalog = Catalog(path=tmp / "catalog.yml")
    for mid in ("model-a", "model-b"):
        catalog.models[mid] = validate_entry(Model, {
            "id": mid, "name": mid.upper(), "task": "image-deblurring",
            "architecture": "mssnet", "variant": "mssnet-small"})
        catalog.workflows[f"wf-{mid}"] = validate_entry(Workflow, {
            "id": f"wf-{mid}", "name": mid, "steps": [{"op": "restore", "model": mid}]})
        catalog.gallery[mid] = validate_entry(GalleryEntry, {
            "id": mid, "input": "photo.png", "workflow": f"wf-{mid}", "caption": f"by {mid}",
            "source": "generated", "licence": "CC0"})
    rng = np.random.default_rng(1)
    Image.fromarray((rng.random((48, 64, 3)) * 255).astype(np.uint8)).save(tmp / "photo.png")
    return catalog


def test_two_models_run_their_own_weights(tmp_path: Path) -> None:
    """Two models on one photo: different weights, different pixels, different labels."""
    catalog = _two_model_catalog(tmp_path)
    wa, wb = _weights(tmp_path, 1), _weights(tmp_path, 2)
    choice = WeightsChoice(models={"model-a": str(wa), "model-b": str(wb)})
    report = run_gallery(catalog, tmp_path, tmp_path / "cache", device="cpu", weights=choice)
    assert not report.failures, report.failures
    a, b = report.results["model-a"], report.results["model-b"]
    pixels = [np.asarray(Image.open(r.files["output.png"])) for r in (a, b)]
    assert np.abs(pixels[0].astype(int) - pixels[1].astype(int)).max() > 0
    assert a.record.weights.sha256 == hash_bytes(wa.read_bytes())
    assert b.record.weights.sha256 == hash_bytes(wb.read_bytes())
    assert a.record.weights.model == "model-a" and b.record.weights.model == "model-b"
    assert a.record.steps[0].weights_sha256 != b.record.steps[0].weights_sha256
    # the per-entry record names its own entry even though the photo is shared
    assert (a.record.id, b.record.id) == ("model-a", "model-b")


def test_missing_weights_give_a_placeholder_reason(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELKB_WEIGHTS", raising=False)
    catalog = _two_model_catalog(tmp_path)
    wa = _weights(tmp_path, 1)
    report = run_gallery(catalog, tmp_path, tmp_path / "cache", device="cpu",
                         weights=WeightsChoice(models={"model-a": str(wa)}))
    assert "model-a" in report.results
    (failure,) = report.failures
    assert failure.entry == "model-b"
    assert "no weights available for model model-b" in failure.reason
    assert "MODELKB_WEIGHTS_MODEL_B" in failure.reason


def test_environment_variable_per_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELKB_WEIGHTS", raising=False)
    catalog = _two_model_catalog(tmp_path)
    monkeypatch.setenv("MODELKB_WEIGHTS_MODEL_A", str(_weights(tmp_path, 1)))
    monkeypatch.setenv("MODELKB_WEIGHTS_MODEL_B", str(_weights(tmp_path, 2)))
    report = run_gallery(catalog, tmp_path, tmp_path / "cache", device="cpu")
    assert not report.failures
    assert report.results["model-a"].record.weights.sha256 != \
        report.results["model-b"].record.weights.sha256


def test_editing_pixel_code_changes_the_key(tmp_path: Path) -> None:
    import shutil

    package = Path(single.__file__).resolve().parent.parent
    copy = tmp_path / "modelkb"
    # Leave out caches and the shipped weights files (modelkb/weights), not the weights
    # package (modelkb/models/weights).
    shutil.copytree(package, copy, ignore=lambda folder, names: [
        n for n in names if n == "__pycache__" or (n == "weights" and Path(folder) == package)])
    same = sourcehash.code_digest(single.PIXEL_SEEDS, root=copy)
    assert same == sourcehash.code_digest(single.PIXEL_SEEDS, root=package)
    tiling = copy / "pixels" / "tiling.py"
    tiling.write_text(tiling.read_text(encoding="utf-8").replace(
        "DEFAULT_OVERLAP = 64", "DEFAULT_OVERLAP = 48"), encoding="utf-8")
    assert sourcehash.code_digest(single.PIXEL_SEEDS, root=copy) != same


def test_workflow_with_a_model_that_cannot_run_is_refused(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yml"
    catalog.write_text("""\
tasks:
  - {id: t, name: T}
models:
  - {id: m, name: M, task: t}
workflows:
  - id: w
    name: W
    steps:
      - {op: restore, model: m}
""", encoding="utf-8")
    result = run_cli("check", str(catalog))
    assert result.returncode == 1
    assert re.search(r"catalog.yml:9:\d+: model 'm' cannot run in a workflow: it names no "
                     r"architecture", result.stdout), result.stdout


@pytest.mark.slow
def test_stand_in_is_labelled_on_the_seed_answer(tmp_path: Path, shared_cache: Path) -> None:
    """Without settings, the shipped stand-in weights run and every label says so."""
    project = use_tiny_gallery(copy_project(tmp_path / "p", shared_cache),
                               tmp_path / "unused.pt")
    config = project / "mkdocs.yml"
    config.write_text(re.sub(r"\n    weights: .*", "", config.read_text(encoding="utf-8")),
                      encoding="utf-8")
    build = mkdocs_build(project, strict=False, env={"MODELKB_WEIGHTS": ""})
    assert build.returncode == 0, build.output
    page = build.page("answers/" + next(p.stem for p in (build.site / "answers").glob("*.md")))
    assert "mkb-madeby--standin" in page
    assert "stand-in weights for Deblur-MSSNet-RealBlurJ" in page
    assert "modelkb mssnet-small" in page
    card = json.loads((build.site / "catalog.json").read_text(encoding="utf-8"))
    assert card["models"][0]["id"] == "deblur-mssnet-realblurj"
    model_page = build.page("models/deblur-mssnet-realblurj")
    assert "Used by this build" in model_page and "stand-in" in model_page
    assert "Authors&#39; RealBlur-J checkpoint" in model_page or \
        "Authors' RealBlur-J checkpoint" in model_page


@pytest.mark.slow
def test_gallery_command_then_build_with_env_cache(tmp_path: Path, shared_cache: Path) -> None:
    """`modelkb gallery` reads mkdocs.yml with MkDocs' loader: !ENV means the same folder."""
    project = use_tiny_gallery(copy_project(tmp_path / "p", shared_cache),
                               _weights(tmp_path, 3))
    config = project / "mkdocs.yml"
    text = config.read_text(encoding="utf-8")
    text = re.sub(r"\n    cache: .*", "\n    cache: !ENV [MODELKB_TEST_CACHE, .cache/wrong]",
                  text)
    config.write_text(text, encoding="utf-8")
    env = {"MODELKB_TEST_CACHE": str(tmp_path / "env-cache")}
    first = run_cli("gallery", cwd=project, env=env)
    assert first.returncode == 0, first.stderr
    assert "1 computed" in first.stdout + first.stderr
    assert (tmp_path / "env-cache" / "results").is_dir()
    build = mkdocs_build(project, env=env)
    assert build.returncode == 0, build.output
    assert "gallery: 0 computed, 1 cached" in build.output


# -- downloads that behave like Google Drive ---------------------------------------------------

def _zip_with(member: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("README.txt", "checkpoints")
        zf.writestr(member, data)
    return buf.getvalue()


@pytest.fixture
def drive(tmp_path: Path):
    """A local server: /uc?id=X answers a confirmation page, its form gives the zip."""
    payload = b"weights-bytes-" * 1000
    archive = _zip_with("MSSNet/RealBlur_J/model_03000E.pt", payload)
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            hits.append(self.path)
            if self.path.startswith("/uc?"):
                body = (b'<html><body><p>Google Drive can\'t scan this file for viruses.</p>'
                        b'<form id="download-form" action="/download" method="get">'
                        b'<input type="hidden" name="id" value="abc">'
                        b'<input type="hidden" name="confirm" value="t">'
                        b'<input type="hidden" name="uuid" value="1234">'
                        b'<input type="submit" value="Download anyway"></form></body></html>')
                kind = "text/html; charset=utf-8"
            elif self.path.startswith("/download?") and "confirm=t" in self.path:
                body, kind = archive, "application/zip"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/uc?id=abc", payload, hits
    finally:
        server.shutdown()


def test_drive_confirmation_and_archive_member(tmp_path: Path, drive) -> None:
    from modelkb.models.weights import fetch

    url, payload, hits = drive
    member = "MSSNet/RealBlur_J/model_03000E.pt"
    path = fetch(url, hash_bytes(payload), tmp_path / "dl", progress=False, member=member)
    assert path.read_bytes() == payload
    assert hits[0].startswith("/uc?") and hits[1].startswith("/download?")
    hits.clear()  # a second call verifies the cached file and downloads nothing
    assert fetch(url, hash_bytes(payload), tmp_path / "dl", member=member) == path
    assert hits == []


def test_drive_wrong_checksum_is_refused(tmp_path: Path, drive) -> None:
    from modelkb.models.weights import fetch

    url, _payload, _hits = drive
    with pytest.raises(ModelkbError, match="SHA-256 is .* not the expected"):
        fetch(url, "0" * 64, tmp_path / "dl", progress=False,
              member="MSSNet/RealBlur_J/model_03000E.pt")
    leftovers = [p for p in (tmp_path / "dl").rglob("*")
                 if p.is_file() and ".locks" not in p.parts]
    assert leftovers == []


def test_first_download_records_the_checksum(tmp_path: Path, drive,
                                             caplog: pytest.LogCaptureFixture) -> None:
    from modelkb.models.weights import fetch, recorded_sha256

    url, payload, _hits = drive
    member = "MSSNet/RealBlur_J/model_03000E.pt"
    with caplog.at_level(logging.WARNING, logger="modelkb"):
        path = fetch(url, None, tmp_path / "dl", progress=False, member=member)
    assert path.read_bytes() == payload
    assert recorded_sha256(url, member, tmp_path / "dl") == hash_bytes(payload)
    assert f"sha256: {hash_bytes(payload)}" in caplog.text and "RECORDED" in caplog.text


def test_missing_member_is_named(tmp_path: Path, drive) -> None:
    from modelkb.models.weights import fetch

    url, _payload, _hits = drive
    with pytest.raises(ModelkbError, match="no member 'RealBlur_J/model_03000E.pt'.*similar"):
        fetch(url, None, tmp_path / "dl", progress=False, member="RealBlur_J/model_03000E.pt")


def test_cpu_side_in_worker_processes_gives_the_same_gallery(tmp_path: Path) -> None:
    """Metrics, web images and crops made in worker processes equal those made in-process."""
    catalog = _two_model_catalog(tmp_path)
    w = _weights(tmp_path, 1)
    choice = WeightsChoice(models={"model-a": str(w), "model-b": str(w)})
    here = run_gallery(catalog, tmp_path, tmp_path / "c0", device="cpu", weights=choice,
                       cpu_workers=0)
    there = run_gallery(catalog, tmp_path, tmp_path / "c2", device="cpu", weights=choice,
                        cpu_workers=2)
    assert not here.failures and not there.failures
    for entry_id in ("model-a", "model-b"):
        a, b = here.results[entry_id], there.results[entry_id]
        assert a.files.keys() == b.files.keys()
        for name in a.files:
            if name != "metrics.json":
                assert a.files[name].read_bytes() == b.files[name].read_bytes(), name
        assert a.record.metrics == b.record.metrics
        assert set(a.record.timings) >= {"decode", "model", "metrics", "encode"}
    assert "computed in" in there.summary() and "model" in there.summary()


def test_catalog_url_entry_downloads_only_when_allowed(tmp_path: Path, drive,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A catalog weights entry behind a URL: refused offline, fetched with download_weights,
    then found in the cache without a download."""
    from modelkb.models.weights import resolve_model_weights

    monkeypatch.delenv("MODELKB_WEIGHTS", raising=False)
    url, payload, hits = drive
    member = "MSSNet/RealBlur_J/model_03000E.pt"
    model = validate_entry(Model, {
        "id": "official", "name": "Official", "task": "t", "architecture": "mssnet",
        "variant": "mssnet", "weights": [{
            "name": "Authors' checkpoint", "url": url, "member": member,
            "sha256": hash_bytes(payload), "provenance": "the authors", "official": True}]})
    with pytest.raises(ModelkbError, match="download_weights: true"):
        resolve_model_weights(model, cache_dir=tmp_path / "dl")
    assert hits == []
    chosen = resolve_model_weights(model, cache_dir=tmp_path / "dl", allow_download=True)
    assert chosen.path.read_bytes() == payload and not chosen.stand_in
    assert chosen.label().startswith("Authors' checkpoint (the authors; sha256 ")
    hits.clear()
    again = resolve_model_weights(model, cache_dir=tmp_path / "dl")
    assert again.path == chosen.path and hits == []
