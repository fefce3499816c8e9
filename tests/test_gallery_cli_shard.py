"""`modelkb gallery --shard I/N`: shares that partition the gallery and fill one cache."""

from __future__ import annotations

from modelkb.commands.gallery import in_shard, parse_shard

from conftest import run_cli


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
    (tmp_path / "mkdocs.yml").write_text("site_name: x\n")
    both = run_cli("gallery", "--shard", "1/2", "--prune", cwd=tmp_path)
    assert both.returncode == 1 and "--prune needs the whole gallery" in both.stderr
