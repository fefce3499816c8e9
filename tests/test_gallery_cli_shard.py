"""`modelkb gallery --shard I/N`: shares balanced by estimated cost that partition the
gallery and fill one cache."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modelkb.commands.gallery import parse_shard
from modelkb.gallery.shards import WORK_COST, assign, entry_cost, shard_entries
from modelkb.pixels import registry

from conftest import gallery_catalog, gallery_catalog_yaml, run_cli


def test_shares_are_balanced_by_cost_not_by_count():
    """One photo as costly as ten small ones: it gets a share alone, and the two shares
    cost the same (a split by count would put 6 and 5 entries, 150 against 50)."""
    costs = {"big": 100.0, **{f"small-{i}": 10.0 for i in range(10)}}
    shares = assign(costs, 2)
    assert shares == [["big"], [f"small-{i}" for i in range(10)]]
    loads = [sum(costs[e] for e in share) for share in shares]
    assert loads == [100.0, 100.0]


def test_shares_partition_the_entries_and_are_the_same_in_any_order():
    rng = random.Random(0)
    costs = {f"photo-{i}": float(rng.choice([5, 10, 20, 40, 80])) for i in range(50)}
    shares = assign(costs, 3)
    assert sorted(sum(shares, [])) == sorted(costs)
    assert all(shares)
    ids = list(costs)
    assert all(share == sorted(share, key=ids.index) for share in shares)  # catalog order
    shuffled = dict(rng.sample(sorted(costs.items()), len(costs)))  # another machine's order
    assert [set(s) for s in assign(shuffled, 3)] == [set(s) for s in shares]
    loads = [sum(costs[e] for e in share) for share in shares]
    assert max(loads) - min(loads) <= max(costs.values())  # LPT's bound
    assert assign(costs, 1) == [ids]
    assert parse_shard("2/4") == (2, 4)


def test_cost_follows_pixels_and_the_models_variant(tmp_path: Path):
    """An entry costs its photo's pixels times its model's factor (read from the header);
    a missing photo costs only the fixed part."""
    for name, size in (("small", (40, 30)), ("large", (160, 120))):
        Image.new("RGB", size).save(tmp_path / f"{name}.png")
    catalog = gallery_catalog(tmp_path, {"small": {}, "large": {}, "gone": {}})
    small, large, gone = (entry_cost(catalog, catalog.gallery[e], tmp_path)
                          for e in ("small", "large", "gone"))
    assert gone < small < large
    assert (large - gone) == pytest.approx(16 * (small - gone))  # 16x the pixels
    # the catalog's model is variant mssnet; the restore sees the input's pixels (the 2x
    # resize comes after it); the variant's cost is its registration's, the cost model's
    # fallback (shards never read measured timings: every machine deals the same shares)
    assert registry.get("mssnet").cost["mssnet"] == 3.5
    assert small - gone == pytest.approx(40 * 30 * (3.5 + WORK_COST))
    assert shard_entries(catalog, tmp_path, (1, 2)) == ["large"]
    assert shard_entries(catalog, tmp_path, (2, 2)) == ["small", "gone"]


def test_bad_shard_and_prune_with_shard_are_refused(tmp_path):
    bad = run_cli("gallery", "--shard", "5/4", cwd=tmp_path)
    assert bad.returncode == 2 and "I must be between 1 and N" in bad.stderr
    for value in ("0", "x", "-1", "65"):
        bad = run_cli("gallery", "--workers", value, cwd=tmp_path)
        assert bad.returncode == 2 and "give a whole number from 1 to 64" in bad.stderr, value
    (tmp_path / "mkdocs.yml").write_text("site_name: x\n")
    both = run_cli("gallery", "--shard", "1/2", "--prune", cwd=tmp_path)
    assert both.returncode == 1 and "--prune needs the whole gallery" in both.stderr
    merge = run_cli("gallery", "--merge", "shard-1", "--shard", "1/2", cwd=tmp_path)
    assert merge.returncode == 1 and "--merge runs nothing: give it only --config, --cache " \
        "and --weights" in merge.stderr


@pytest.mark.slow
def test_shards_in_parallel_fill_one_cache_for_the_build(tmp_path: Path) -> None:
    """Two shares run at the same time by two processes into one cache; then the whole
    gallery finds every entry there and computes nothing."""
    import torch

    from modelkb.models.weights import save_safetensors
    from modelkb.pixels.mssnet import build

    torch.manual_seed(0)
    weights = save_safetensors(build("mssnet-small"), tmp_path / "w.safetensors",
                               dtype=torch.float32)
    gallery = tmp_path / "gallery_src"
    gallery.mkdir()
    rng = np.random.default_rng(0)
    ids = [f"photo-{i}" for i in range(6)]
    for n, entry_id in enumerate(ids):
        Image.fromarray(rng.integers(0, 256, (16 + 8 * n, 48, 3), dtype=np.uint8)).save(
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
    catalog = gallery_catalog(gallery, {e: {} for e in ids})
    share = {i: len(shard_entries(catalog, gallery, (i, 2))) for i in (1, 2)}
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


def test_pages_workflow_fills_the_gallery_in_shard_jobs_then_merges() -> None:
    """pages.yml: N shard jobs, each one share uploaded; the build job merges them before a
    build that fails if it computed a picture."""
    import yaml

    from conftest import ROOT

    data = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text())
    jobs = data["jobs"]
    count = int(data["env"]["SHARDS"])
    assert jobs["shard"]["strategy"]["matrix"]["shard"] == list(range(1, count + 1))
    steps = jobs["shard"]["steps"]
    run = next(s for s in steps if "modelkb gallery" in s.get("run", ""))
    assert run["run"] == 'modelkb gallery --shard "$SHARD/$SHARDS" --export shard-out'
    assert run["env"]["SHARD"] == "${{ matrix.shard }}"
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "shard-out"
    assert upload["with"]["name"] == "gallery-shard-${{ matrix.shard }}"
    restore = next(s for s in steps if s.get("uses", "").startswith("actions/cache/restore@"))
    assert restore["with"]["path"] == ".cache/modelkb"  # read only: the build job saves

    build = jobs["build"]
    assert build["needs"] == "shard"
    runs = [s.get("run", "") for s in build["steps"]]
    names = [s.get("uses", "").split("@")[0] for s in build["steps"]]
    download = build["steps"][names.index("actions/download-artifact")]
    assert download["with"] == {"pattern": "gallery-shard-*", "path": "shards"}
    merge_at = runs.index("modelkb gallery --merge shards/*")
    build_at = next(i for i, r in enumerate(runs) if "mkdocs build --strict" in r)
    assert names.index("actions/download-artifact") < merge_at < build_at
    step = build["steps"][build_at]
    assert step["shell"] == "bash"  # pipefail: the build's own failure is not lost in tee
    assert 'grep -q "gallery: 0 computed," build.log' in step["run"] and "exit 1" in step["run"]
