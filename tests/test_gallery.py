"""Build-time gallery: result cache, workflows, faulty inputs, lazy torch (issue 5)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modelkb.catalog import Catalog
from modelkb.gallery.cache import Cache, hash_bytes, make_key
from modelkb.gallery.runner import prune_cache, publish_list, run_gallery
from modelkb.gallery.webimages import auto_crop

from conftest import gallery_catalog, gallery_catalog_yaml, run_cli

WORKFLOW = {"id": "deblur-then-2x", "name": "Deblur, then 2x",
            "steps": [{"op": "restore", "model": "deblur-mssnet-realblurj"},
                      {"op": "resize", "scale": 2, "filter": "lanczos"}]}


def _photo(size: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.stack([0.8 * xx + 0.1, 0.5 * yy + 0.2, 0.3 + 0.2 * xx * yy], axis=2)
    base[size // 4 : size // 2, size // 4 : size // 2] = (0.85, 0.6, 0.5)  # a skin-like patch
    return np.clip(base + rng.normal(0, 0.03, base.shape), 0, 1)


def _save(path: Path, rgb: np.ndarray) -> Path:
    Image.fromarray((rgb * 255).round().astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random-initialised mssnet-small weights in a temp .safetensors file."""
    import torch

    from modelkb.models.weights import save_safetensors
    from modelkb.pixels.mssnet import build

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "small.safetensors"
    return save_safetensors(build("mssnet-small"), path, dtype=torch.float32)


def _catalog(tmp: Path, entries: dict[str, dict]) -> Catalog:
    return gallery_catalog(tmp, entries)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Catalog, Path, Path]:
    """A catalog with one 64-px entry with a reference and crop; (catalog, gallery, cache)."""
    gallery = tmp_path / "gallery_src"
    gallery.mkdir()
    sharp = _photo(64)
    _save(gallery / "photo_sharp.png", sharp)
    _save(gallery / "photo.png", np.clip(sharp + 0.02, 0, 1))
    catalog = _catalog(tmp_path, {"photo": {"reference": "photo_sharp.png",
                                            "crops": [{"x": 8, "y": 8, "width": 16,
                                                       "height": 16, "label": "corner"}]}})
    return catalog, gallery, tmp_path / "cache"


@pytest.mark.slow
def test_cache_hit_and_weights_change(setup, weights: Path, tmp_path: Path,
                                      caplog: pytest.LogCaptureFixture) -> None:
    catalog, gallery, cache = setup
    caplog.set_level(logging.INFO, logger="modelkb")
    first = run_gallery(catalog, gallery, cache, device="cpu", weights=str(weights))
    assert not first.failures, first.failures
    assert (first.computed, first.cached) == (1, 0)
    assert "gallery: photo computed in" in caplog.text
    result = first.results["photo"]
    for name in ("output.png", "output.webp", "baseline.webp", "input.webp", "thumb-input.webp",
                 "thumb-output.webp", "metrics.json", "crop-1-input.webp",
                 "crop-1-baseline.webp", "crop-1-output.webp", "crop-auto-output.webp"):
        assert result.files[name].is_file(), name
    with Image.open(result.files["output.png"]) as out:
        assert out.size == (128, 128)
    info = json.loads(result.files["metrics.json"].read_text())
    assert info["device"] == "cpu" and info["variant"] == "mssnet-small"
    assert len(info["weights"]["sha256"]) == 64 and info["weights"]["provenance"]
    assert info["input"] == {"width": 64, "height": 64}
    assert [s["op"] for s in info["steps"]] == ["restore", "resize"]
    ref = info["metrics"]["reference"]
    assert ref["input"]["psnr"] is not None and "ssim" in ref["restored"]
    assert info["metrics"]["colour"]["skin"]["fraction"] > 0
    assert info["crops"][-1]["auto"] is True
    pairs = publish_list(first)
    assert ("gallery/photo/output.png", result.files["output.png"]) in pairs

    caplog.clear()
    second = run_gallery(catalog, gallery, cache, device="cpu", weights=str(weights))
    assert (second.computed, second.cached) == (0, 1)
    assert "gallery: 0 computed, 1 cached" in caplog.text
    assert second.results["photo"].files == result.files

    # Other weights (another sha256): recomputed.
    import torch

    from modelkb.models.weights import save_safetensors
    from modelkb.pixels.mssnet import build

    other = tmp_path / "other.safetensors"

    torch.manual_seed(1)
    save_safetensors(build("mssnet-small"), other, dtype=torch.float32)
    third = run_gallery(catalog, gallery, cache, device="cpu", weights=str(other))
    assert (third.computed, third.cached) == (1, 0)
    assert third.results["photo"].keys[0] != result.keys[0]

    deleted = prune_cache(cache, third)
    assert result.keys[0] in deleted and result.keys[1] in deleted
    assert third.results["photo"].files["output.png"].is_file()


def test_crop_change_rerenders_without_recompute(setup, weights: Path) -> None:
    catalog, gallery, cache = setup
    run_gallery(catalog, gallery, cache, device="cpu", weights=str(weights))
    entry = catalog.gallery["photo"]
    catalog.gallery["photo"] = dataclasses.replace(entry, crops=[])
    report = run_gallery(catalog, gallery, cache, device="cpu", weights=str(weights))
    assert report.cached == 1
    assert "crop-1-output.webp" not in report.results["photo"].files
    assert "crop-auto-output.webp" in report.results["photo"].files


def test_killed_temp_folder_is_ignored_and_cleaned(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    key = make_key(a=1)
    leftover = cache.root / f".tmp-{key[:16]}-99999-0"
    leftover.mkdir(parents=True)
    (leftover / "output.png").write_bytes(b"half")
    assert cache.get(key) is None and cache.keys() == []
    folder = cache.put(key, lambda d: (d / "x.txt").write_text("done"))
    assert (folder / "x.txt").read_text() == "done"
    assert not leftover.exists()
    assert cache.get(key) == folder


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")

    def broken(folder: Path) -> None:
        (folder / "out.png").write_bytes(b"partial")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cache.put("k1", broken)
    assert cache.get("k1") is None
    assert [p.name for p in cache.root.iterdir()] == [".locks"]  # only lock files


def test_incomplete_entry_is_replaced(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    (cache.root / "k2").mkdir(parents=True)  # no manifest: e.g. copied by hand, half done
    assert cache.get("k2") is None
    folder = cache.put("k2", lambda d: (d / "y").write_text("ok"))
    assert cache.get("k2") == folder and (folder / "y").read_text() == "ok"


def test_two_processes_share_one_cache(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import time
        from modelkb.gallery.cache import Cache
        def write(d):
            time.sleep(0.5)
            (d / "v").write_text("x")
        print(Cache({str(tmp_path / 'c')!r}).put("shared", write))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert outs[0][0] == outs[1][0]
    assert Cache(tmp_path / "c").keys() == ["shared"]


def test_different_keys_are_written_in_parallel(tmp_path: Path) -> None:
    """Each writer locks its own key: B's write runs while A's is still going."""
    cache = Cache(tmp_path / "c")
    b_started = threading.Event()

    def write_a(folder: Path) -> None:
        assert b_started.wait(timeout=30), "the write of key b waited for the write of key a"
        (folder / "a").write_text("a")

    def write_b(folder: Path) -> None:
        b_started.set()
        (folder / "b").write_text("b")

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(cache.put, "a" * 64, write_a)
        time.sleep(0.2)  # let a's write begin and hold its lock
        second = pool.submit(cache.put, "b" * 64, write_b)
        assert (first.result(timeout=60) / "a").read_text() == "a"
        assert (second.result(timeout=60) / "b").read_text() == "b"


def test_same_key_from_threads_is_written_once(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    calls: list[int] = []

    def write(folder: Path) -> None:
        calls.append(1)
        time.sleep(0.3)
        (folder / "v").write_text("x")

    with ThreadPoolExecutor(4) as pool:
        folders = list(pool.map(lambda _: cache.put("k" * 64, write), range(4)))
    assert len(calls) == 1 and len(set(folders)) == 1
    assert cache.keys() == ["k" * 64]


def test_cleaning_spares_a_live_writer(tmp_path: Path) -> None:
    """A prune-time clean removes orphaned temporary folders, not one still being written."""
    cache = Cache(tmp_path / "c")
    writing, release = threading.Event(), threading.Event()
    orphan = cache.root / f".tmp-{'d' * 16}-99999-0"
    orphan.mkdir(parents=True)

    def slow(folder: Path) -> None:
        (folder / "v").write_text("x")
        writing.set()
        assert release.wait(timeout=30)

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(cache.put, "e" * 64, slow)
        assert writing.wait(timeout=30)
        assert cache.clean_temporary() == 1  # the orphan only
        assert not orphan.exists()
        assert [p.name for p in cache.root.iterdir() if p.name.startswith(".tmp-")]
        release.set()
        assert (future.result(timeout=60) / "v").read_text() == "x"


@pytest.mark.slow
def test_threads_give_the_same_gallery(tmp_path: Path, weights: Path) -> None:
    """Four entries on 3 threads: the same files, byte for byte, as one after another."""
    gallery = tmp_path / "gallery_src"
    gallery.mkdir()
    entries = {}
    for i in range(4):
        _save(gallery / f"p{i}.png", _photo(48, seed=i))
        entries[f"p{i}"] = {"input": f"p{i}.png"}
    catalog = _catalog(tmp_path, entries)
    reports = {n: run_gallery(catalog, gallery, tmp_path / f"cache-{n}", device="cpu",
                              weights=str(weights), workers=n) for n in (1, 3)}
    for report in reports.values():
        assert not report.failures and report.computed == 4
        assert list(report.results) == ["p0", "p1", "p2", "p3"]  # catalog order
    for entry_id in entries:
        one, three = (reports[n].results[entry_id] for n in (1, 3))
        assert one.keys == three.keys
        assert sorted(one.files) == sorted(three.files)
        for name, path in one.files.items():
            if name == "metrics.json":  # holds step times: compare everything but those
                assert _untimed(json.loads(path.read_text())) == _untimed(
                    json.loads(three.files[name].read_text()))
            else:
                assert path.read_bytes() == three.files[name].read_bytes(), (entry_id, name)


def _untimed(value: object) -> object:
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items()
                if "seconds" not in k and k != "timings"}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


@pytest.mark.parametrize("kind", ["zero", "truncated", "text", "missing"])
def test_faulty_inputs_reported_by_name(tmp_path: Path, weights: Path, kind: str) -> None:
    gallery = tmp_path / "g"
    gallery.mkdir()
    _save(gallery / "good.png", _photo(64))
    bad = gallery / "bad.png"
    if kind == "zero":
        bad.write_bytes(b"")
    elif kind == "truncated":
        data = (gallery / "good.png").read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    elif kind == "text":
        bad.write_text("this is not an image\n")
    catalog = _catalog(tmp_path, {"good": {"workflow": "just-2x"},
                                  "bad": {"workflow": "just-2x"}})
    report = run_gallery(catalog, gallery, tmp_path / "cache", device="cpu",
                         weights=str(weights))
    assert list(report.results) == ["good"]
    assert len(report.failures) == 1
    failure = report.failures[0]
    assert failure.entry == "bad" and failure.path.endswith("bad.png")
    expected = {"zero": "empty", "missing": "not found"}.get(kind, "cannot read")
    assert expected in failure.reason
    assert not any(p.name.startswith(".tmp") for p in (tmp_path / "cache" / "results").iterdir())


def test_reference_of_other_size_fails(tmp_path: Path, weights: Path) -> None:
    gallery = tmp_path / "g"
    gallery.mkdir()
    _save(gallery / "a.png", _photo(64))
    _save(gallery / "a_ref.png", _photo(32))
    catalog = _catalog(tmp_path, {"a": {"reference": "a_ref.png"}})
    report = run_gallery(catalog, gallery, tmp_path / "cache", device="cpu",
                         weights=str(weights))
    assert report.failures and "must match" in report.failures[0].reason


def test_missing_weights_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gallery = tmp_path / "g"
    gallery.mkdir()
    _save(gallery / "a.png", _photo(64))
    catalog = _catalog(tmp_path, {"a": {}})
    report = run_gallery(catalog, gallery, tmp_path / "cache", weights=str(tmp_path / "no.pt"))
    assert report.failures and "does not exist" in report.failures[0].reason


def test_auto_crop_finds_the_change() -> None:
    before = np.zeros((96, 96, 3), np.float32)
    after = before.copy()
    after[60:80, 10:30] = 1.0
    x, y, w, h = auto_crop(before, after)
    assert w == h == 24
    assert x <= 10 and x + w >= 30 and y <= 60 and y + h >= 80


def _project(tmp_path: Path, weights: Path) -> Path:
    gallery = tmp_path / "gallery_src"
    gallery.mkdir()
    _save(gallery / "photo.png", _photo(64))
    _save(gallery / "broken.png", _photo(64))
    (tmp_path / "catalog.yml").write_text(
        gallery_catalog_yaml({"photo": "photo.png"}, caption="A test photo"))
    (tmp_path / "mkdocs.yml").write_text(textwrap.dedent(f"""
        site_name: t
        markdown_extensions:
          - pymdownx.emoji:
              emoji_index: !!python/name:material.extensions.emoji.twemoji
        extra:
          modelkb:
            catalog: catalog.yml
            gallery: gallery_src
            cache: .cache/modelkb
            weights: {weights}
    """))
    return tmp_path


@pytest.mark.slow
def test_cached_run_does_not_import_torch(tmp_path: Path, weights: Path) -> None:
    project = _project(tmp_path, weights)
    first = run_cli("gallery", "--config", str(project / "mkdocs.yml"), "--device", "cpu")
    assert first.returncode == 0, first.stderr
    assert "1 computed, 0 cached" in first.stdout + first.stderr
    script = textwrap.dedent(f"""
        import sys
        from modelkb.commands.gallery import main_config
        report = main_config({str(project / 'mkdocs.yml')!r}, device="cpu")
        assert (report.computed, report.cached) == (0, 1), report.summary()
        assert "torch" not in sys.modules, "torch was imported"
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env={**os.environ}, check=False)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr


def test_command_reports_failed_inputs(tmp_path: Path, weights: Path) -> None:
    project = _project(tmp_path, weights)
    (project / "gallery_src" / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    proc = run_cli("gallery", "--config", str(project / "mkdocs.yml"), "--device", "cpu")
    assert proc.returncode == 1
    assert "photo" in proc.stderr and "photo.png" in proc.stderr


@pytest.mark.slow
def test_command_prune_and_config_errors(tmp_path: Path, weights: Path) -> None:
    project = _project(tmp_path, weights)
    stale = project / ".cache" / "modelkb" / "results" / "stale"
    stale.mkdir(parents=True)
    proc = run_cli("gallery", "--config", str(project / "mkdocs.yml"), "--device", "cpu",
                   "--prune")
    assert proc.returncode == 0, proc.stderr
    assert not stale.exists()
    missing = run_cli("gallery", "--config", str(tmp_path / "nope.yml"))
    assert missing.returncode == 1 and "nope.yml" in missing.stderr


def test_weights_choice_without_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelkb.models.weights import choose_weights

    env_file = tmp_path / "env.safetensors"
    env_file.write_bytes(b"abc")
    monkeypatch.setenv("MODELKB_WEIGHTS", str(env_file))
    ref = choose_weights(None)
    assert ref.path == env_file and ref.sha256 == hash_bytes(b"abc")
    url = "https://example.org/w.safetensors#sha256=" + "ab" * 32
    ref = choose_weights(url)
    assert ref.sha256 == "ab" * 32 and ref.path is None and "example.org" in ref.provenance
