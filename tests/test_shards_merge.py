"""Three shards, three cache folders, one merge (`modelkb gallery --merge`), then a build that
computes nothing; a corrupt or foreign shard entry refuses the merge, which copies nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modelkb.gallery.cache import Cache

from conftest import ROOT, gallery_catalog_yaml, mkdocs_build
from conftest import run_cli_process as run_cli  # shards meet the merge in a fresh process

pytestmark = pytest.mark.slow

IDS = [f"photo-{n}" for n in range(6)]


def _site(root: Path) -> Path:
    """A small site: six generated photos of mixed sizes (16 to 56 px), random mssnet-small
    weights, the shipped hook file; its cache at .cache/modelkb."""
    import torch

    from modelkb.models.weights import save_safetensors
    from modelkb.pixels.mssnet import build

    (root / "docs").mkdir(parents=True)
    (root / "docs" / "index.md").write_text("# Shards\n", encoding="utf-8")
    (root / "hooks").mkdir()
    shutil.copy(ROOT / "hooks" / "modelkb_hooks.py", root / "hooks" / "modelkb_hooks.py")
    (root / "gallery_src").mkdir()
    rng = np.random.default_rng(0)
    for n, entry_id in enumerate(IDS):
        size = (16 + 8 * n, 56 - 6 * n, 3)
        Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8)).save(
            root / "gallery_src" / f"{entry_id}.png")
    (root / "catalog.yml").write_text(gallery_catalog_yaml({e: f"{e}.png" for e in IDS}),
                                      encoding="utf-8")
    torch.manual_seed(0)
    weights = save_safetensors(build("mssnet-small"), root / "w.safetensors",
                               dtype=torch.float32)
    (root / "mkdocs.yml").write_text(textwrap.dedent(f"""\
        site_name: shards
        site_url: http://127.0.0.1:8000/
        theme:
          name: material
        hooks:
          - hooks/modelkb_hooks.py
        extra:
          modelkb:
            cache: .cache/modelkb
            device: cpu
            gallery_failures: error
            weights: {weights}
        """), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def sharded(tmp_path_factory) -> Path:
    """The site, and its gallery run as three shards, at the same time, by three processes,
    each into its own cache folder shard-1, shard-2, shard-3 (none into the site's cache)."""
    root = _site(tmp_path_factory.mktemp("shards") / "site")
    procs = [subprocess.Popen([sys.executable, "-m", "modelkb.cli", "gallery", "--shard",
                               f"{i}/3", "--cache", f"shard-{i}", "--workers", "1"],
                              cwd=root, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
             for i in (1, 2, 3)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    counts = []
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out
        counts.append(int(out.split("gallery: ")[-1].split(" computed")[0]))
    assert all(counts) and sum(counts) == len(IDS)
    assert not (root / ".cache").exists()
    return root


def _fresh(sharded: Path, dest: Path) -> Path:
    """A copy of the sharded site (its shard folders with it) to change or merge into."""
    shutil.copytree(sharded, dest, ignore=shutil.ignore_patterns(".cache", "site"))
    return dest


def _entries(cache: Path) -> list[str]:
    return sorted(f"{level}/{key}" for level in ("results", "renders")
                  for key in Cache(cache / level).keys())


def test_three_shards_merged_build_computes_nothing(sharded: Path, tmp_path: Path) -> None:
    root = _fresh(sharded, tmp_path / "site")
    merged = run_cli("gallery", "--merge", "shard-1", "shard-2", "shard-3", cwd=root)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert "merge: 12 entries copied, 0 already present" in merged.stdout
    cache = root / ".cache" / "modelkb"
    assert len(_entries(cache)) == 12  # a results and a renders entry per photo
    again = run_cli("gallery", "--merge", "shard-1", "shard-2", "shard-3", cwd=root)
    assert again.returncode == 0 and "merge: 0 entries copied, 12 already present" \
        in again.stdout
    build = mkdocs_build(root)
    assert build.returncode == 0, build.output
    assert "gallery: 0 computed, 6 cached" in build.output
    assert " computed in " not in build.output  # no entry ran its workflow
    for entry_id in IDS:  # the pictures the shards computed are the ones published
        published = build.site / "gallery" / entry_id / "output.png"
        shard_copies = list(root.glob("shard-*/results/*/output.png"))
        assert published.read_bytes() in [p.read_bytes() for p in shard_copies]
        size = Image.open(root / "gallery_src" / f"{entry_id}.png").size
        assert Image.open(published).size == (2 * size[0], 2 * size[1])
    assert len(list(build.site.glob("gallery/*/output.png"))) == len(IDS)


def test_export_copies_only_the_shares_entries(sharded: Path, tmp_path: Path) -> None:
    """A shard that starts from a full cache (restored from an earlier run) computes nothing
    and exports exactly its share: what the Pages workflow's shard jobs upload."""
    root = _fresh(sharded, tmp_path / "site")
    assert run_cli("gallery", "--merge", "shard-1", "shard-2", "shard-3",
                   cwd=root).returncode == 0
    for i in (1, 2, 3):
        shard = run_cli("gallery", "--shard", f"{i}/3", "--export", f"out-{i}", cwd=root)
        assert shard.returncode == 0, shard.stderr
        assert "gallery: 0 computed" in shard.stdout
        assert _entries(root / f"out-{i}") == _entries(root / f"shard-{i}")
    merged = run_cli("gallery", "--merge", "out-1", "out-2", "out-3", "--cache", "again",
                     cwd=root)
    assert merged.returncode == 0 and "merge: 12 entries copied" in merged.stdout


def test_a_missing_shard_is_named(sharded: Path, tmp_path: Path) -> None:
    root = _fresh(sharded, tmp_path / "site")
    partial = run_cli("gallery", "--merge", "shard-1", "shard-3", cwd=root)
    assert partial.returncode == 1
    assert "gallery entries missing" in partial.stdout
    assert "missing from the merged cache (a build would compute them): merge every " \
           "shard's folder" in partial.stderr
    missing = run_cli("gallery", "--merge", "shard-2", "shard-9", cwd=root)
    assert missing.returncode == 1 and "shard-9: no such folder" in missing.stderr


@pytest.mark.parametrize("damage", ["flipped byte", "extra file", "foreign entry",
                                    "renamed folder"])
def test_a_corrupt_or_foreign_entry_refuses_the_merge(sharded: Path, tmp_path: Path,
                                                      damage: str) -> None:
    root = _fresh(sharded, tmp_path / "site")
    renders = root / "shard-2" / "renders"
    entry = sorted(p for p in renders.iterdir() if not p.name.startswith("."))[0]
    if damage == "flipped byte":
        target = sorted(p for p in entry.iterdir() if p.suffix == ".webp")[0]
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
        expected = f"shard-2/renders/{entry.name}: the entry has a changed file " \
                   f"{target.name} (SHA-256 mismatch)"
    elif damage == "extra file":
        (entry / "note.txt").write_text("x", encoding="utf-8")
        expected = f"shard-2/renders/{entry.name}: the entry does not hold the files its " \
                   "manifest lists (note.txt)"
    elif damage == "foreign entry":  # intact, but made from something else
        key = "f" * 64
        Cache(renders).put(key, lambda folder: (folder / "x.webp").write_bytes(b"x"))
        expected = f"shard-2/renders/{key}: not an entry of this site's gallery"
    else:
        key = "0" * 64
        entry.rename(renders / key)
        expected = f"shard-2/renders/{key}: the entry has a manifest written for another key"
    merged = run_cli("gallery", "--merge", "shard-1", "shard-2", "shard-3", cwd=root)
    assert merged.returncode == 1, merged.stdout
    assert expected in merged.stderr
    assert "nothing was merged" in merged.stderr
    assert "Traceback" not in merged.stderr and len(merged.stderr.strip().splitlines()) == 1
    # nothing half-merged: not even the intact entries of shard-1, checked before shard-2
    assert _entries(root / ".cache" / "modelkb") == []
