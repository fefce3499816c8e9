"""`modelkb gallery --shard I/N`: shares that partition the gallery and fill one cache."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modelkb.commands.gallery import in_shard, parse_shard

from conftest import gallery_catalog_yaml, run_cli


def test_shards_partition_the_entries_stably():
    ids = [f"photo-{i}" for i in range(50)]
    shares = [[e for e in ids if in_shard(e, (i, 3))] for i in (1, 2, 3)]
    assert sorted(sum(shares, [])) == sorted(ids)
    assert all(shares)  # each of the three gets some
    grown = ids + ["photo-new"]
    assert [e for e in grown if in_shard(e, (1, 3)) and e != "photo-new"] == shares[0]
    assert parse_shard("2/4") == (2, 4)


def test_bad_shard_and_prune_with_shard_are_refused(tmp_path):
    bad = run_cli("gallery", "--shard", "5/4", cwd=tmp_path)
    assert bad.returncode == 2 and "I must be between 1 and N" in bad.stderr
    for value in ("0", "x", "-1", "65"):
        bad = run_cli("gallery", "--workers", value, cwd=tmp_path)
        assert bad.returncode == 2 and "give a whole number from 1 to 64" in bad.stderr, value
    (tmp_path / "mkdocs.yml").write_text("site_name: x\n")
    both = run_cli("gallery", "--shard", "1/2", "--prune", cwd=tmp_path)
    assert both.returncode == 1 and "--prune needs the whole gallery" in both.stderr


@pytest.mark.slow
def test_shards_in_parallel_fill_one_cache_for_the_build(tmp_path: Path) -> None:
    """Two shares run at the same time by two processes into one cache; then the whole
    gallery finds every entry there and computes nothing."""
    import torch

    from modelkb.models.mssnet import build
    from modelkb.models.weights import save_safetensors

    torch.manual_seed(0)
    weights = save_safetensors(build("mssnet-small"), tmp_path / "w.safetensors",
                               dtype=torch.float32)
    gallery = tmp_path / "gallery_src"
    gallery.mkdir()
    rng = np.random.default_rng(0)
    ids = [f"photo-{i}" for i in range(6)]
    for entry_id in ids:
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(
            gallery / f"{entry_id}.png")
    (tmp_path / "catalog.yml").write_text(
        gallery_catalog_yaml({e: f"{e}.png" for e in ids}), encoding="utf-8")
    (tmp_path / "mkdocs.yml").write_text(textwrap.dedent(f"""\
        site_name: shards
        extra:
          modelkb:
            cache: {tmp_path / 'cache'}
            weights: {weights}
        """), encoding="utf-8")
    share = {i: sum(in_shard(e, (i, 2)) for e in ids) for i in (1, 2)}
    assert share[1] and share[2]
    procs = [subprocess.Popen([sys.executable, "-m", "modelkb.cli", "gallery", "--shard",
                               f"{i}/2", "--device", "cpu"], cwd=tmp_path, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for i in (1, 2)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for i, (proc, out) in enumerate(zip(procs, outputs, strict=True), start=1):
        assert proc.returncode == 0, out
        assert f"gallery: {share[i]} computed, 0 cached" in out
    whole = run_cli("gallery", "--device", "cpu", "--workers", "3", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    assert "gallery: 0 computed, 6 cached" in whole.stdout + whole.stderr
    assert not [p for p in (tmp_path / "cache" / "results").iterdir()
                if p.name.startswith((".tmp-", ".trash-"))]
    # the command loads the catalog as the build does (one Project): through its snapshot
    assert len(list((tmp_path / "cache" / "catalog").glob("*.json"))) == 1
